//! Hodges–Lehmann location estimators.
//!
//! **Sign convention:** the two-sample shift is the median of all pairwise
//! differences `y_j − x_i`, so it is positive when `y` tends to be larger
//! than `x` (with `x` the base and `y` the head of a comparison: positive
//! means the head got slower). The median of an even count is the mean of
//! the two middle values, as `numpy.median(numpy.subtract.outer(y, x))`.

use crate::describe::quantile_select_unchecked;
use crate::error::{Error, Result, check_len, check_values, finite};

/// The largest number of pairwise differences or Walsh averages held in
/// memory (each is an f64).
pub const MAX_PAIRS: u128 = 1 << 25;

/// The two-sample Hodges–Lehmann shift: median of `y_j − x_i` over all
/// pairs. Both samples non-empty and finite; a shift that overflows is
/// [`Error::NonFiniteResult`].
pub fn hodges_lehmann(x: &[f64], y: &[f64]) -> Result<f64> {
    check_len("x", x, 1)?;
    check_len("y", y, 1)?;
    check_values("x", x, false)?;
    check_values("y", y, false)?;
    check_pairs(x.len() as u128 * y.len() as u128)?;
    let mut diffs = Vec::with_capacity(x.len() * y.len());
    // Differences of values near ±f64::MAX overflow.
    finite("the Hodges-Lehmann shift", hodges_lehmann_into(x, y, &mut diffs))
}

/// The one-sample Hodges–Lehmann estimator: the median of the Walsh
/// averages `(x_i + x_j) / 2` over `i ≤ j` (the pseudo-median).
pub fn hodges_lehmann_one(x: &[f64]) -> Result<f64> {
    check_len("x", x, 1)?;
    check_values("x", x, false)?;
    let n = x.len() as u128;
    check_pairs(n * (n + 1) / 2)?;
    let mut walsh = Vec::with_capacity(x.len() * (x.len() + 1) / 2);
    for (i, &a) in x.iter().enumerate() {
        // Halving first cannot overflow where a + b would.
        walsh.extend(x[i..].iter().map(|&b| a / 2.0 + b / 2.0));
    }
    finite("the Hodges-Lehmann estimate", quantile_select_unchecked(&mut walsh, 0.5))
}

/// The shift of finite, non-empty samples, reusing `diffs` as scratch.
pub(crate) fn hodges_lehmann_into(x: &[f64], y: &[f64], diffs: &mut Vec<f64>) -> f64 {
    diffs.clear();
    for &b in y {
        diffs.extend(x.iter().map(|&a| b - a));
    }
    quantile_select_unchecked(diffs, 0.5)
}

fn check_pairs(pairs: u128) -> Result<()> {
    if pairs > MAX_PAIRS {
        return Err(Error::TooLarge { what: "the Hodges-Lehmann pair count", size: pairs, limit: MAX_PAIRS });
    }
    Ok(())
}
