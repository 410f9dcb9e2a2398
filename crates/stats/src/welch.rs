//! Welch's unequal-variance t-test, as
//! `scipy.stats.ttest_ind(x, y, equal_var=False, alternative)`.
//!
//! `t = (mean_x − mean_y) / sqrt(s_x²/n_x + s_y²/n_y)` with sample variances
//! (ddof = 1) and the Welch–Satterthwaite degrees of freedom
//! `df = (v_x + v_y)² / (v_x²/(n_x−1) + v_y²/(n_y−1))`, `v = s²/n`. The
//! p-value reads Student's t with `df` (not rounded): `Less` is P(T ≤ t),
//! `Greater` P(T ≥ t), `TwoSided` 2·P(T ≥ |t|).
//!
//! Where SciPy returns NaN or an infinite t, this returns an error: fewer
//! than two values in a sample ([`Error::TooFew`]), or both samples
//! constant ([`Error::ZeroVariance`]: t would be 0/0 or ±∞). One constant
//! sample is fine.

use crate::Alternative;
use crate::describe::{mean_unchecked, variance_unchecked};
use crate::dist::{t_cdf, t_ppf, t_sf};
use crate::error::{Error, Result, check_len, check_unit, check_values, finite};

/// The result of [`welch_t`] and [`welch_t_log`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WelchT {
    pub t: f64,
    /// Welch–Satterthwaite degrees of freedom.
    pub df: f64,
    pub p_value: f64,
    /// `mean_x − mean_y` (of the logs for [`welch_t_log`]).
    pub estimate: f64,
    /// The standard error of `estimate`.
    pub standard_error: f64,
}

impl WelchT {
    /// The two-sided confidence interval of `mean_x − mean_y` at level
    /// `confidence` (SciPy's `TtestResult.confidence_interval` for a
    /// two-sided test): `estimate ± t_{df, (1+c)/2} · standard_error`.
    pub fn confidence_interval(&self, confidence: f64) -> Result<(f64, f64)> {
        check_unit("confidence", confidence, true)?;
        let half = t_ppf(0.5 + confidence / 2.0, self.df)? * self.standard_error;
        Ok((self.estimate - half, self.estimate + half))
    }
}

/// Welch's t-test of `x` against `y`. Needs two finite values per sample.
pub fn welch_t(x: &[f64], y: &[f64], alternative: Alternative) -> Result<WelchT> {
    check_len("x", x, 2)?;
    check_len("y", y, 2)?;
    check_values("x", x, false)?;
    check_values("y", y, false)?;
    welch_unchecked(x, y, alternative)
}

/// Welch's t-test on `ln(x)` and `ln(y)`: a test of the ratio of geometric
/// means, suited to latencies whose noise is multiplicative. Every value
/// must be finite and positive.
pub fn welch_t_log(x: &[f64], y: &[f64], alternative: Alternative) -> Result<WelchT> {
    let lx = logs("x", x)?;
    let ly = logs("y", y)?;
    welch_t(&lx, &ly, alternative)
}

/// The natural logs of a sample of finite positive values.
pub(crate) fn logs(what: &'static str, values: &[f64]) -> Result<Vec<f64>> {
    check_values(what, values, false)?;
    values
        .iter()
        .enumerate()
        .map(
            |(index, &value)| if value > 0.0 { Ok(value.ln()) } else { Err(Error::NotPositive { what, index, value }) },
        )
        .collect()
}

fn welch_unchecked(x: &[f64], y: &[f64], alternative: Alternative) -> Result<WelchT> {
    let (n1, n2) = (x.len() as f64, y.len() as f64);
    let (m1, m2) = (mean_unchecked(x), mean_unchecked(y));
    let vn1 = variance_unchecked(x, m1) / n1;
    let vn2 = variance_unchecked(y, m2) / n2;
    if vn1 + vn2 == 0.0 {
        return Err(Error::ZeroVariance);
    }
    let df = finite("degrees of freedom", (vn1 + vn2).powi(2) / (vn1 * vn1 / (n1 - 1.0) + vn2 * vn2 / (n2 - 1.0)))?;
    let standard_error = finite("standard error", (vn1 + vn2).sqrt())?;
    let estimate = finite("difference of means", m1 - m2)?;
    let t = finite("t statistic", estimate / standard_error)?;
    let p_value = match alternative {
        Alternative::Less => t_cdf(t, df)?,
        Alternative::Greater => t_sf(t, df)?,
        Alternative::TwoSided => (2.0 * t_sf(t.abs(), df)?).min(1.0),
    };
    Ok(WelchT { t, df, p_value, estimate, standard_error })
}
