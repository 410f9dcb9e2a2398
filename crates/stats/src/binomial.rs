//! The one-sided exact binomial test, as
//! `scipy.stats.binomtest(k, n, p, alternative).pvalue` for
//! `alternative='greater'` (P(X ≥ k) = `binom.sf(k−1, n, p)`) and
//! `'less'` (P(X ≤ k) = `binom.cdf(k, n, p)`), X ~ Binomial(n, p).
//!
//! Both tails are regularized incomplete beta functions:
//! P(X ≥ k) = I_p(k, n−k+1) and P(X ≤ k) = I_{1−p}(n−k, k+1).

use crate::dist::beta_reg;
use crate::error::{Error, Result, check_unit};

/// Which tail a one-sided test reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OneSided {
    /// The true success probability is less than `p`: P(X ≤ k).
    Less,
    /// The true success probability is greater than `p`: P(X ≥ k).
    Greater,
}

/// The exact one-sided binomial test's p-value for `k` successes in `n`
/// trials under success probability `p` (in [0, 1]; `k ≤ n`).
pub fn binomial_test(k: u64, n: u64, p: f64, alternative: OneSided) -> Result<f64> {
    check_unit("p", p, false)?;
    if k > n {
        return Err(Error::OutOfRange { name: "k", value: k as f64, expected: "must not exceed n" });
    }
    let (kf, nf) = (k as f64, n as f64);
    let p_value = match alternative {
        OneSided::Greater if k == 0 => 1.0,
        OneSided::Greater => beta_reg(kf, nf - kf + 1.0, p)?,
        OneSided::Less if k == n => 1.0,
        OneSided::Less => beta_reg(nf - kf, kf + 1.0, 1.0 - p)?,
    };
    Ok(p_value.clamp(0.0, 1.0))
}
