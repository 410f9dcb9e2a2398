//! Descriptive statistics: mean, sample variance, median and quantiles.
//!
//! Quantiles use numpy's default (`method="linear"`, Hyndman–Fan type 7):
//! the value at virtual index `h = q·(n−1)` of the sorted sample, linearly
//! interpolated between the order statistics `floor(h)` and `floor(h)+1`.

use crate::error::{Error, Result, check_len, check_unit, check_values};

/// Arithmetic mean. Errors on an empty sample or a non-finite value.
pub fn mean(values: &[f64]) -> Result<f64> {
    check_len("values", values, 1)?;
    check_values("values", values, false)?;
    Ok(mean_unchecked(values))
}

/// Sample variance with Bessel's correction (numpy `var(ddof=1)`), computed
/// in two passes around the mean. Needs at least two values.
pub fn variance(values: &[f64]) -> Result<f64> {
    check_len("values", values, 2)?;
    check_values("values", values, false)?;
    Ok(variance_unchecked(values, mean_unchecked(values)))
}

/// Median (numpy `median`: the mean of the two middle values for an even
/// count). The input need not be sorted; its values must be finite.
pub fn median(values: &[f64]) -> Result<f64> {
    let mut copy = values.to_vec();
    quantile_select(&mut copy, 0.5)
}

/// The `q` quantile of a sample sorted ascending, with numpy's default
/// linear interpolation (`numpy.quantile(x, q)`).
///
/// The slice is checked (O(n)) to be sorted and finite (numpy would
/// interpolate ±∞ into NaN); `q` must be in [0, 1].
pub fn quantile(sorted: &[f64], q: f64) -> Result<f64> {
    check_len("sorted", sorted, 1)?;
    check_unit("q", q, false)?;
    check_values("sorted", sorted, false)?;
    if let Some(index) = sorted.windows(2).position(|w| w[1] < w[0]) {
        return Err(Error::NotSorted { what: "sorted", index: index + 1 });
    }
    let (lo, gamma) = virtual_index(sorted.len(), q);
    let hi = (lo + 1).min(sorted.len() - 1);
    Ok(lerp(sorted[lo], sorted[hi], gamma))
}

/// The `q` quantile (same definition as [`quantile`]) of an unsorted
/// sample in expected O(n), by selection. The slice is reordered; its
/// values must be finite.
pub fn quantile_select(values: &mut [f64], q: f64) -> Result<f64> {
    check_len("values", values, 1)?;
    check_unit("q", q, false)?;
    check_values("values", values, false)?;
    Ok(quantile_select_unchecked(values, q))
}

pub(crate) fn mean_unchecked(values: &[f64]) -> f64 {
    values.iter().sum::<f64>() / values.len() as f64
}

pub(crate) fn variance_unchecked(values: &[f64], mean: f64) -> f64 {
    let ss: f64 = values.iter().map(|v| (v - mean) * (v - mean)).sum();
    ss / (values.len() - 1) as f64
}

/// `values` non-empty and finite; `q` in [0, 1].
pub(crate) fn quantile_select_unchecked(values: &mut [f64], q: f64) -> f64 {
    let n = values.len();
    let (lo, gamma) = virtual_index(n, q);
    let (_, &mut a, right) = values.select_nth_unstable_by(lo, f64::total_cmp);
    // The next order statistic is the smallest value right of the pivot.
    let b = right.iter().copied().min_by(f64::total_cmp).unwrap_or(a);
    lerp(a, b, gamma)
}

pub(crate) fn sort(values: &mut [f64]) {
    values.sort_unstable_by(f64::total_cmp);
}

/// The order statistic below the virtual index `q·(n−1)` and the fraction
/// towards the next one.
fn virtual_index(n: usize, q: f64) -> (usize, f64) {
    let h = q * (n - 1) as f64;
    let lo = (h.floor() as usize).min(n - 1);
    (lo, h - lo as f64)
}

/// numpy's `_lerp`: interpolates from the nearer end so that the result is
/// monotone in `t` and exact at both ends.
fn lerp(a: f64, b: f64, t: f64) -> f64 {
    if t == 0.0 || a == b {
        return a;
    }
    let diff = b - a;
    if t >= 0.5 { b - diff * (1.0 - t) } else { a + diff * t }
}
