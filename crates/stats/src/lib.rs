//! `stats` is the statistics core of shipway's benchmark gate: quantiles,
//! the Mann–Whitney U and Welch t tests (matching SciPy to 1e-9, checked
//! against fixtures SciPy generated), Hodges–Lehmann estimators, the exact
//! binomial test, seeded bootstrap intervals, and [`gate()`], the relative
//! regression verdict that `shipway bench` prints.
//!
//! It must never do I/O: no files, processes, network, threads,
//! environment or clock, and no entropy. Randomness comes from a seed the
//! caller passes, so every result is a pure function of its arguments.
//! Bad input (empty samples, NaN, out-of-range parameters) is an
//! [`Error`], never a panic.

mod binomial;
mod bootstrap;
pub mod boundary;
pub mod criterion;
mod describe;
mod dist;
mod error;
pub mod formats;
pub mod gate;
mod hodges_lehmann;
mod mann_whitney;
mod welch;

pub use binomial::{OneSided, binomial_test};
pub use bootstrap::{Bootstrap, BootstrapMethod, Interval, bootstrap_one, bootstrap_two};
pub use describe::{mean, median, quantile, quantile_select, variance};
pub use error::{Error, Result};
pub use gate::{GateConfig, GateTest, RECOMMENDED_TRIALS, Verdict, gate};
pub use hodges_lehmann::{MAX_PAIRS, hodges_lehmann, hodges_lehmann_one};
pub use mann_whitney::{EXACT_MAX_COUNTS, EXACT_MAX_WORK, MannWhitney, Method, MethodUsed, mann_whitney_u};
pub use welch::{WelchT, welch_t, welch_t_log};

/// The alternative hypothesis of a test of `x` against `y`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Alternative {
    /// The distributions differ.
    TwoSided,
    /// `x` tends to be smaller than `y`.
    Less,
    /// `x` tends to be larger than `y`.
    Greater,
}
