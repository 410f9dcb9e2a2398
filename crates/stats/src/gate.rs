//! The relative benchmark gate: did the head get slower than the base?
//!
//! Each input value is one trial's measure where lower is better (a
//! trial's P99 latency, a run time). A regression is reported only when
//! **both** hold:
//!
//! 1. the one-sided test "head > base" is significant: `p < alpha`;
//! 2. the estimated relative effect exceeds the practical threshold:
//!    `effect > practical` (0.05 = the head is more than 5% slower).
//!
//! Significance alone flags differences too small to matter once there are
//! many trials; size alone flags noise when there are few.
//!
//! | test | p-value | effect | interval |
//! | --- | --- | --- | --- |
//! | [`GateTest::WelchLog`] | Welch t on `ln` values, head > base | ratio of geometric means − 1 | `exp` of the Welch t interval of the difference of log means, − 1 |
//! | [`GateTest::MannWhitney`] | Mann–Whitney U, head > base (SciPy's `auto` method) | `exp(HL) − 1`, HL the Hodges–Lehmann shift of `ln head` vs `ln base` (about the median pairwise ratio head/base − 1) | percentile bootstrap of the same, seeded by [`GateConfig::seed`] |
//!
//! Both effects are ratios, so every value must be positive. When every
//! trial on each side gave one same value (quantized timings), there is no
//! noise to test against: the p-value is 0 if the head is larger and 1
//! otherwise, and the interval is the effect itself. No verdict holds NaN.
//!
//! With the harness in `tests/it/harness.rs` (P99 of 2,000 requests per
//! trial, 5% run-to-run noise), 20 trials per side keep false alarms under
//! 1% and catch a +10% P99 regression more than 95% of the time; see
//! [`RECOMMENDED_TRIALS`].

use std::fmt;

use crate::Alternative;
use crate::bootstrap::{Bootstrap, BootstrapMethod, bootstrap_two};
use crate::error::{Error, Result, check_len, check_unit};
use crate::hodges_lehmann::{hodges_lehmann, hodges_lehmann_into};
use crate::mann_whitney::{Method, mann_whitney_u};
use crate::welch::{logs, welch_t};

/// Trials per side that `bench ab` should run by default: the smallest
/// count with which the statistical harness meets its targets (≤ 1% false
/// alarms, ≥ 80% detection of +10%, ≥ 90% of +20%) for both tests.
pub const RECOMMENDED_TRIALS: usize = 20;

/// The test behind a verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GateTest {
    /// Welch's t-test on log values; effect = ratio of geometric means − 1.
    WelchLog,
    /// Mann–Whitney U; effect from the Hodges–Lehmann shift of the logs.
    MannWhitney,
}

impl GateTest {
    /// A short name for reports: "Welch t on log values", "Mann-Whitney U".
    pub fn name(self) -> &'static str {
        match self {
            GateTest::WelchLog => "Welch t on log values",
            GateTest::MannWhitney => "Mann-Whitney U",
        }
    }
}

/// Gate settings. The default: `alpha` 0.01, `practical` 0.05, Welch t on
/// logs, 95% intervals, 2,000 bootstrap resamples, seed 0.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GateConfig {
    /// Significance level of the one-sided test, strictly between 0 and 1.
    pub alpha: f64,
    /// The relative slowdown that matters (0.05 = 5%); at least 0.
    pub practical: f64,
    pub test: GateTest,
    /// Level of the reported interval, strictly between 0 and 1. It is
    /// reported, not used in the decision.
    pub confidence: f64,
    /// Bootstrap resamples for the Mann–Whitney effect's interval.
    pub bootstrap_resamples: usize,
    /// Seed of that bootstrap: a verdict is a pure function of its inputs.
    pub seed: u64,
}

impl Default for GateConfig {
    fn default() -> Self {
        GateConfig {
            alpha: 0.01,
            practical: 0.05,
            test: GateTest::WelchLog,
            confidence: 0.95,
            bootstrap_resamples: 2000,
            seed: 0,
        }
    }
}

/// The gate's decision and the numbers behind it.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    pub regressed: bool,
    pub test: GateTest,
    /// One-sided p-value of "head > base".
    pub p_value: f64,
    /// Relative change of head vs base: 0.12 = head 12% slower.
    pub effect: f64,
    /// Interval of `effect` at level `confidence`.
    pub ci: (f64, f64),
    pub confidence: f64,
    pub n_base: usize,
    pub n_head: usize,
    /// One line for people, e.g. "no regression: +3.1% (95% CI
    /// −1.2%..+7.5%), Welch t on log values, p=0.04 ≥ α=0.01".
    pub reason: String,
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.reason)
    }
}

/// Compares head trials with base trials; see the module docs.
///
/// Errors: fewer than two trials on a side, a value that is not finite
/// and positive, or a setting out of range.
pub fn gate(base: &[f64], head: &[f64], config: &GateConfig) -> Result<Verdict> {
    check_unit("alpha", config.alpha, true)?;
    check_unit("confidence", config.confidence, true)?;
    if !(config.practical >= 0.0 && config.practical.is_finite()) {
        return Err(Error::OutOfRange {
            name: "practical",
            value: config.practical,
            expected: "must be a finite number ≥ 0",
        });
    }
    if config.test == GateTest::MannWhitney && config.bootstrap_resamples == 0 {
        return Err(Error::OutOfRange { name: "bootstrap_resamples", value: 0.0, expected: "must be at least 1" });
    }
    check_len("base trials", base, 2)?;
    check_len("head trials", head, 2)?;
    let lb = logs("base trials", base)?;
    let lh = logs("head trials", head)?;
    let constant = is_constant(&lb) && is_constant(&lh);
    let (p_value, effect, ci) = if constant {
        let diff = lh[0] - lb[0];
        let effect = diff.exp() - 1.0;
        (if diff > 0.0 { 0.0 } else { 1.0 }, effect, (effect, effect))
    } else {
        match config.test {
            GateTest::WelchLog => welch_log(&lb, &lh, config.confidence)?,
            GateTest::MannWhitney => mann_whitney(&lb, &lh, base, head, config)?,
        }
    };
    let significant = p_value < config.alpha;
    let large = effect > config.practical;
    let regressed = significant && large;
    let reason = reason(config, regressed, p_value, effect, ci, constant);
    Ok(Verdict {
        regressed,
        test: config.test,
        p_value,
        effect,
        ci,
        confidence: config.confidence,
        n_base: base.len(),
        n_head: head.len(),
        reason,
    })
}

fn is_constant(values: &[f64]) -> bool {
    values.iter().all(|&v| v == values[0])
}

/// One side may be constant here, not both, so the variance is positive.
fn welch_log(lb: &[f64], lh: &[f64], confidence: f64) -> Result<(f64, f64, (f64, f64))> {
    let test = welch_t(lh, lb, Alternative::Greater)?;
    let (lo, hi) = test.confidence_interval(confidence)?;
    Ok((test.p_value, test.estimate.exp() - 1.0, (lo.exp() - 1.0, hi.exp() - 1.0)))
}

fn mann_whitney(
    lb: &[f64],
    lh: &[f64],
    base: &[f64],
    head: &[f64],
    config: &GateConfig,
) -> Result<(f64, f64, (f64, f64))> {
    // Ranks are the same on either scale; test the values as given.
    let test = mann_whitney_u(head, base, Alternative::Greater, Method::Auto)?;
    let shift = hodges_lehmann(lb, lh)?;
    let mut scratch = Vec::with_capacity(lb.len() * lh.len());
    let bootstrap = Bootstrap {
        resamples: config.bootstrap_resamples,
        confidence: config.confidence,
        method: BootstrapMethod::Percentile,
        seed: config.seed,
    };
    let interval = bootstrap_two(lb, lh, |b, h| hodges_lehmann_into(b, h, &mut scratch), &bootstrap)?;
    Ok((test.p_value, shift.exp() - 1.0, (interval.lo.exp() - 1.0, interval.hi.exp() - 1.0)))
}

fn reason(config: &GateConfig, regressed: bool, p: f64, effect: f64, ci: (f64, f64), constant: bool) -> String {
    let head = if regressed { "regression" } else { "no regression" };
    let level = percent_plain(config.confidence);
    let mut line = format!(
        "{head}: {} ({level}% CI {}..{}), {}, p={}",
        percent(effect),
        percent(ci.0),
        percent(ci.1),
        config.test.name(),
        p_value(p)
    );
    let alpha = config.alpha;
    let tolerance = percent(config.practical);
    if p < alpha {
        line += &format!(" < α={alpha}");
        if effect > config.practical {
            line += &format!(", above the {tolerance} tolerance");
        } else {
            line += &format!(", but within the {tolerance} tolerance");
        }
    } else {
        line += &format!(" ≥ α={alpha}");
    }
    if constant {
        line += " (every trial gave the same value on each side)";
    }
    line
}

/// "+3.1%", "−1.2%" (with a minus sign, not a hyphen), "+0.0%".
fn percent(x: f64) -> String {
    let text = format!("{:.1}%", (x * 100.0).abs());
    if x < 0.0 && text != "0.0%" { format!("\u{2212}{text}") } else { format!("+{text}") }
}

/// 0.95 → "95", 0.999 → "99.9".
fn percent_plain(x: f64) -> String {
    let text = format!("{:.1}", x * 100.0);
    text.strip_suffix(".0").map(str::to_owned).unwrap_or(text)
}

fn p_value(p: f64) -> String {
    if p == 0.0 {
        "0".to_owned()
    } else if p >= 0.01 {
        format!("{p:.2}")
    } else if p >= 1e-4 {
        format!("{p:.4}")
    } else {
        format!("{p:.1e}")
    }
}
