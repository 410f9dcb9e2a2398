//! Thin, panic-free wrappers over statrs's special functions: the normal
//! and Student t distributions and the regularized incomplete beta.

use statrs::distribution::{ContinuousCDF, StudentsT};
use statrs::function::{beta, erf, gamma};

use crate::error::{Error, Result};

/// P(Z > z) for a standard normal Z (scipy `ndtr(-z)`).
///
/// Through the incomplete gamma function (erfc(x) = Q(1/2, x²)) rather
/// than statrs's `erfc`, whose interval constants in statrs 0.19 carry
/// only ten digits (about 1e-10 relative error); `gamma_ur`/`gamma_lr` are
/// good to about 1e-15 here.
pub(crate) fn norm_sf(z: f64) -> f64 {
    if z.is_nan() {
        return f64::NAN;
    }
    if z.is_infinite() {
        return if z > 0.0 { 0.0 } else { 1.0 };
    }
    let a = z * z / 2.0;
    if a == 0.0 {
        return 0.5;
    }
    if z >= 0.0 {
        0.5 * gamma::checked_gamma_ur(0.5, a).unwrap_or(0.0)
    } else {
        0.5 + 0.5 * gamma::checked_gamma_lr(0.5, a).unwrap_or(1.0)
    }
}

/// The standard normal quantile; `p` in (0, 1).
pub(crate) fn norm_ppf(p: f64) -> f64 {
    -std::f64::consts::SQRT_2 * erf::erfc_inv(2.0 * p)
}

fn students_t(df: f64) -> Result<StudentsT> {
    if df.is_nan() || df <= 0.0 {
        return Err(Error::NonFiniteResult { what: "degrees of freedom", value: df });
    }
    StudentsT::new(0.0, 1.0, df).map_err(|_| Error::NonFiniteResult { what: "degrees of freedom", value: df })
}

/// P(T ≤ t) for Student's t with `df` degrees of freedom.
pub(crate) fn t_cdf(t: f64, df: f64) -> Result<f64> {
    if t.is_nan() {
        return Err(Error::NonFiniteResult { what: "t statistic", value: t });
    }
    Ok(students_t(df)?.cdf(t))
}

/// P(T > t) for Student's t with `df` degrees of freedom.
pub(crate) fn t_sf(t: f64, df: f64) -> Result<f64> {
    if t.is_nan() {
        return Err(Error::NonFiniteResult { what: "t statistic", value: t });
    }
    Ok(students_t(df)?.sf(t))
}

/// The Student t quantile; `p` in (0, 1).
pub(crate) fn t_ppf(p: f64, df: f64) -> Result<f64> {
    let dist = students_t(df)?;
    if !(p > 0.0 && p < 1.0) {
        return Err(Error::OutOfRange { name: "probability", value: p, expected: "must be strictly between 0 and 1" });
    }
    Ok(dist.inverse_cdf(p))
}

/// The regularized incomplete beta I_x(a, b); a, b > 0 and x in [0, 1].
pub(crate) fn beta_reg(a: f64, b: f64, x: f64) -> Result<f64> {
    beta::checked_beta_reg(a, b, x).map_err(|_| Error::NonFiniteResult { what: "incomplete beta", value: x })
}
