//! The Mann–Whitney U test, with the semantics of SciPy's
//! `scipy.stats.mannwhitneyu(x, y, use_continuity=True, alternative, method)`
//! (SciPy 1.7 to at least 1.17).
//!
//! * `U` is the statistic of `x`: the number of pairs with `x_i > y_j`,
//!   plus one half for each tie (`R_x − n_x(n_x+1)/2` with midranks).
//! * [`Method::Auto`] follows `scipy.stats._mannwhitneyu._mwu_choose_method`:
//!   **exact when there are no ties and at least one sample has at most 8
//!   values; asymptotic otherwise.** One addition: when the exact
//!   distribution would exceed [`EXACT_MAX_COUNTS`] (only possible with a
//!   sample of more than four million values), `Auto` uses the
//!   asymptotic method instead of taking minutes.
//! * Exact: the null distribution of `U` without ties, computed by
//!   counting (the Gaussian binomial coefficient, below), not enumeration.
//!   As in SciPy, no tie correction is made, and a half-integer `U` (from
//!   ties) is truncated to an integer before the tail is read.
//! * Asymptotic: the normal approximation with the tie-corrected variance
//!   `n_x n_y / 12 · ((N+1) − Σ(t³−t) / (N(N−1)))` and a continuity
//!   correction of 0.5 always subtracted from `U − n_x n_y/2` (SciPy's
//!   `_get_mwu_z`), so `z` and p match SciPy to rounding.
//! * `Greater` reads the upper tail of `U_x`; `Less` the upper tail of
//!   `U_y = n_x n_y − U_x`; `TwoSided` doubles the upper tail of
//!   `max(U_x, U_y)`. p-values are clipped to [0, 1].
//!
//! When every value in both samples is equal, the variance is zero: SciPy's
//! formula gives z = −∞ and p = 1 (with continuity), and so does this.

use crate::Alternative;
use crate::dist::norm_sf;
use crate::error::{Error, Result, check_len, check_values};

/// How a p-value is computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Method {
    /// SciPy's rule: exact without ties when either sample has ≤ 8 values.
    Auto,
    /// The exact null distribution of U (ties are not corrected for).
    Exact,
    /// The normal approximation with tie and continuity corrections.
    Asymptotic,
}

/// The method a result was actually computed with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MethodUsed {
    Exact,
    Asymptotic,
}

/// The result of [`mann_whitney_u`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MannWhitney {
    /// The U statistic of `x` (SciPy's `statistic`); `U_y = n_x·n_y − u`.
    pub u: f64,
    pub p_value: f64,
    pub method: MethodUsed,
}

/// Limit of [`Method::Exact`]'s memory: it holds the lower half of U's
/// distribution, `n_x·n_y/2 + 1` counts.
pub const EXACT_MAX_COUNTS: u128 = 1 << 24;

/// Limit of [`Method::Exact`]'s work: the counts above, updated once per
/// value of the smaller sample.
pub const EXACT_MAX_WORK: u128 = 1 << 31;

/// The Mann–Whitney U test of `x` against `y`; see the module docs.
///
/// Errors on an empty sample or NaN (±∞ are ranked like any value), and
/// for [`Method::Exact`] on samples whose distribution exceeds
/// [`EXACT_MAX_COUNTS`] or [`EXACT_MAX_WORK`].
pub fn mann_whitney_u(x: &[f64], y: &[f64], alternative: Alternative, method: Method) -> Result<MannWhitney> {
    check_len("x", x, 1)?;
    check_len("y", y, 1)?;
    check_values("x", x, true)?;
    check_values("y", y, true)?;
    let (n1, n2) = (x.len(), y.len());
    let ranked = rank(x, y);
    let u1 = ranked.rank_sum_x - (n1 as f64) * (n1 as f64 + 1.0) / 2.0;
    let nn = (n1 as f64) * (n2 as f64);
    let u2 = nn - u1;
    let (u, factor) = match alternative {
        Alternative::Greater => (u1, 1.0),
        Alternative::Less => (u2, 1.0),
        Alternative::TwoSided => (u1.max(u2), 2.0),
    };
    let used = match method {
        Method::Exact => MethodUsed::Exact,
        Method::Asymptotic => MethodUsed::Asymptotic,
        Method::Auto => {
            let small = n1 <= 8 || n2 <= 8;
            if small && !ranked.ties && exact_limits(n1, n2).is_ok() {
                MethodUsed::Exact
            } else {
                MethodUsed::Asymptotic
            }
        }
    };
    let p = match used {
        MethodUsed::Exact => {
            exact_limits(n1, n2)?;
            // SciPy casts U to int64 (truncation); U ≥ 0 here.
            exact_sf(u.floor() as u64, n1, n2)
        }
        MethodUsed::Asymptotic => {
            let mu = nn / 2.0;
            let n = (n1 + n2) as f64;
            let s = (nn / 12.0 * ((n + 1.0) - ranked.tie_term / (n * (n - 1.0)))).sqrt();
            let z = (u - mu - 0.5) / s;
            norm_sf(z)
        }
    };
    let p_value = (p * factor).clamp(0.0, 1.0);
    Ok(MannWhitney { u: u1, p_value, method: used })
}

struct Ranked {
    rank_sum_x: f64,
    /// Σ (t³ − t) over groups of tied values.
    tie_term: f64,
    ties: bool,
}

/// Midranks of the pooled sample; the sum of `x`'s ranks and the tie term.
fn rank(x: &[f64], y: &[f64]) -> Ranked {
    let mut pooled: Vec<(f64, bool)> = x.iter().map(|&v| (v, true)).chain(y.iter().map(|&v| (v, false))).collect();
    pooled.sort_unstable_by(|a, b| a.0.total_cmp(&b.0));
    let mut rank_sum_x = 0.0;
    let mut tie_term = 0.0;
    let mut ties = false;
    let mut start = 0;
    while start < pooled.len() {
        // `==` (not total order) so that −0.0 and +0.0 tie, as in numpy.
        let end = start + pooled[start..].iter().take_while(|p| p.0 == pooled[start].0).count();
        let t = (end - start) as f64;
        let midrank = (start + 1 + end) as f64 / 2.0;
        let in_x = pooled[start..end].iter().filter(|p| p.1).count();
        rank_sum_x += midrank * in_x as f64;
        if end - start > 1 {
            ties = true;
            tie_term += t * t * t - t;
        }
        start = end;
    }
    Ranked { rank_sum_x, tie_term, ties }
}

/// Refuses exact distributions beyond [`EXACT_MAX_COUNTS`] or
/// [`EXACT_MAX_WORK`].
fn exact_limits(n1: usize, n2: usize) -> Result<()> {
    let m = n1.min(n2) as u128;
    let n = n1.max(n2) as u128;
    let counts = m * n / 2 + 1;
    let what = "the exact Mann-Whitney distribution";
    if counts > EXACT_MAX_COUNTS {
        return Err(Error::TooLarge { what, size: counts, limit: EXACT_MAX_COUNTS });
    }
    if m * counts > EXACT_MAX_WORK {
        return Err(Error::TooLarge { what, size: m * counts, limit: EXACT_MAX_WORK });
    }
    Ok(())
}

/// P(U ≥ u) under the null hypothesis, for sizes `n1`, `n2` (no ties).
///
/// The number of arrangements of `m` x's and `n` y's with U = u is the
/// coefficient of q^u in the Gaussian binomial [m+n choose m]_q =
/// Π_{i=1..m} (1 − q^{n+i}) / (1 − q^i). The product is built one factor
/// at a time, truncated at the largest u needed; each partial product is
/// itself a Gaussian binomial, so every intermediate count is a
/// non-negative integer bounded by C(m+n, m). Counts are exact (u128) when
/// C(m+n, m) fits, and probabilities in f64 otherwise.
///
/// By symmetry (U and mn − U have the same law), only the lower half of
/// the distribution is built: P(U ≥ u) = P(U ≤ mn − u) in the upper half,
/// and 1 − P(U ≤ u − 1) in the lower half.
fn exact_sf(u: u64, n1: usize, n2: usize) -> f64 {
    let m = n1.min(n2);
    let n = n1.max(n2);
    let total = (m as u64) * (n as u64);
    if u == 0 {
        return 1.0;
    }
    if u > total {
        return 0.0;
    }
    let (k, upper) = if 2 * u > total { (total - u, true) } else { (u - 1, false) };
    let k = k as usize;
    match binomial_u128(m + n, m) {
        Some(all) => {
            let le: u128 = gaussian_binomial_u128(m, n, k).iter().sum();
            let count = if upper { le } else { all - le };
            // Both convert with one rounding each; the quotient is within a few ulps.
            count as f64 / all as f64
        }
        None => {
            let le: f64 = gaussian_binomial_f64(m, n, k).iter().sum();
            if upper { le } else { 1.0 - le }
        }
    }
}

/// The coefficients of q^0..=q^k of [m+n choose m]_q.
fn gaussian_binomial_u128(m: usize, n: usize, k: usize) -> Vec<u128> {
    let mut c = vec![0u128; k + 1];
    c[0] = 1;
    for i in 1..=m {
        // Divide by (1 − q^i): a running sum with stride i.
        for u in i..=k {
            c[u] += c[u - i];
        }
        // Multiply by (1 − q^{n+i}); descending so c[u − n − i] is still
        // the quotient's coefficient. The difference is never negative.
        for u in (n + i..=k).rev() {
            c[u] -= c[u - n - i];
        }
    }
    c
}

/// As [`gaussian_binomial_u128`], scaled by 1 / C(m+n, m) step by step so
/// that the coefficients are probabilities and cannot overflow.
fn gaussian_binomial_f64(m: usize, n: usize, k: usize) -> Vec<f64> {
    let mut c = vec![0.0f64; k + 1];
    c[0] = 1.0;
    for i in 1..=m {
        for u in i..=k {
            c[u] += c[u - i];
        }
        for u in (n + i..=k).rev() {
            c[u] -= c[u - n - i];
        }
        // The full polynomial now sums to C(n+i, i) / C(n+i−1, i−1) = (n+i)/i.
        let scale = i as f64 / (n + i) as f64;
        for v in &mut c {
            *v *= scale;
        }
    }
    c
}

/// C(n, k) if it fits in a u128.
fn binomial_u128(n: usize, k: usize) -> Option<u128> {
    let k = k.min(n - k);
    let mut c: u128 = 1;
    for i in 1..=k as u128 {
        // c·(n−k+i) is divisible by i because c·(n−k+i)/i = C(n−k+i, i).
        c = c.checked_mul(n as u128 - k as u128 + i)? / i;
    }
    Some(c)
}
