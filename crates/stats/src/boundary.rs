//! A threshold from a baseline's history, as Bencher's t-test threshold:
//! with the last `n` baseline results (mean `m`, sample standard deviation
//! `s`), the limit is `m + t(boundary; n − 1) · s` for a measure where
//! lower is better (latency), `m − t(boundary; n − 1) · s` where higher is
//! better (throughput). `t(boundary; df)` is Student's t quantile, so with
//! `boundary` 0.99 a new result beyond the limit would happen 1% of the
//! time if it came from the baseline's distribution.

use crate::describe::{mean, variance};
use crate::dist::t_ppf;
use crate::error::{Result, check_len, check_unit};

/// A limit and what it was computed from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limit {
    pub limit: f64,
    pub mean: f64,
    pub std_dev: f64,
    pub n: usize,
    /// Student's t quantile used.
    pub t: f64,
    pub boundary: f64,
    pub lower_is_better: bool,
}

impl Limit {
    /// Whether `value` is beyond the limit (a regression).
    pub fn breached(&self, value: f64) -> bool {
        if self.lower_is_better { value > self.limit } else { value < self.limit }
    }
}

/// The t-test limit of `baseline` (at least 2 finite values) at
/// `boundary`, strictly between 0 and 1.
pub fn t_limit(baseline: &[f64], boundary: f64, lower_is_better: bool) -> Result<Limit> {
    check_len("baseline results", baseline, 2)?;
    check_unit("boundary", boundary, true)?;
    let m = mean(baseline)?;
    let s = variance(baseline)?.sqrt();
    let n = baseline.len();
    let t = t_ppf(boundary, (n - 1) as f64)?;
    let limit = if lower_is_better { m + t * s } else { m - t * s };
    Ok(Limit { limit, mean: m, std_dev: s, n, t, boundary, lower_is_better })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limit_from_the_t_quantile() {
        // mean 10, s = sqrt(0.5); t(0.99; 4) = 3.7469473879792
        let l = t_limit(&[10.0, 11.0, 9.0, 10.0, 10.0], 0.99, true).unwrap();
        assert!((l.t - 3.746_947_387_979_2).abs() < 1e-9, "{l:?}");
        assert!((l.limit - (10.0 + 3.746_947_387_979_2 * 0.5f64.sqrt())).abs() < 1e-9);
        assert!(l.breached(12.7) && !l.breached(12.6));
        let up = t_limit(&[100.0, 110.0], 0.95, false).unwrap();
        assert!(up.limit < 105.0 && up.breached(up.limit - 1.0) && !up.breached(105.0));
        // No spread: the limit is the mean.
        assert_eq!(t_limit(&[5.0, 5.0, 5.0], 0.99, true).unwrap().limit, 5.0);
        assert!(t_limit(&[5.0], 0.99, true).is_err());
        assert!(t_limit(&[5.0, 6.0], 1.0, true).is_err());
        assert!(t_limit(&[5.0, f64::NAN], 0.99, true).is_err());
    }
}
