//! Bootstrap confidence intervals for a statistic of one sample or of two
//! independent samples, seeded by the caller.
//!
//! Resamples are drawn with a PCG-64 generator (`rand_pcg::Pcg64`) seeded
//! from [`Bootstrap::seed`] and unbiased index draws (Lemire's
//! multiply-and-reject), so an interval depends only on the data, the
//! statistic and the configuration: the same seed gives the same interval
//! on every platform and run. Nothing here reads an entropy source.
//!
//! * [`BootstrapMethod::Percentile`]: the `(1−c)/2` and `(1+c)/2` quantiles
//!   (numpy's linear definition) of the resampled statistics.
//! * [`BootstrapMethod::Bca`]: bias-corrected and accelerated (Efron &
//!   Tibshirani 1993, §14.3; the multi-sample acceleration of eq. 15.36, as
//!   SciPy's `bootstrap(method='BCa')`). The bias correction counts ties
//!   with the estimate as one half, and is clamped to the resolution of the
//!   resample count so that a statistic that never falls below (or above)
//!   its estimate still gives a finite interval.

use rand_core::{Rng, SeedableRng};
use rand_pcg::Pcg64;

use crate::describe::quantile;
use crate::dist::{norm_ppf, norm_sf};
use crate::error::{Error, Result, check_len, check_unit, check_values, finite};

/// How the interval is read from the bootstrap distribution.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BootstrapMethod {
    Percentile,
    Bca,
}

/// Bootstrap settings. The default is 2,000 resamples, a 95% BCa
/// interval and seed 0.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bootstrap {
    /// Number of resamples (at least 1).
    pub resamples: usize,
    /// Confidence level, strictly between 0 and 1.
    pub confidence: f64,
    pub method: BootstrapMethod,
    /// The generator's seed: the same seed gives the same interval.
    pub seed: u64,
}

impl Default for Bootstrap {
    fn default() -> Self {
        Bootstrap { resamples: 2000, confidence: 0.95, method: BootstrapMethod::Bca, seed: 0 }
    }
}

/// A point estimate and its two-sided confidence interval.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Interval {
    /// The statistic of the original sample(s).
    pub estimate: f64,
    pub lo: f64,
    pub hi: f64,
    pub confidence: f64,
}

/// A bootstrap interval for `statistic` of one sample.
///
/// The statistic receives a scratch copy of a (re)sample that it may
/// reorder, e.g. `|s| stats::quantile_select(s, 0.99).unwrap_or(f64::NAN)`.
/// It must return a finite number for the sample and every resample
/// (otherwise [`Error::NonFiniteResult`]). The sample must be finite and
/// hold at least one value (two for BCa, whose jackknife leaves one out).
pub fn bootstrap_one<F>(sample: &[f64], mut statistic: F, config: &Bootstrap) -> Result<Interval>
where
    F: FnMut(&mut [f64]) -> f64,
{
    check_config(config)?;
    let needed = if config.method == BootstrapMethod::Bca { 2 } else { 1 };
    check_len("sample", sample, needed)?;
    check_values("sample", sample, false)?;
    let mut buf = sample.to_vec();
    let estimate = finite("the statistic of the sample", statistic(&mut buf))?;
    let mut rng = Pcg64::seed_from_u64(config.seed);
    let mut thetas = Vec::with_capacity(config.resamples);
    for _ in 0..config.resamples {
        resample(&mut rng, sample, &mut buf);
        thetas.push(finite("the statistic of a resample", statistic(&mut buf))?);
    }
    let jackknife =
        if config.method == BootstrapMethod::Bca { vec![jackknife(sample, &mut statistic)?] } else { Vec::new() };
    interval(estimate, thetas, &jackknife, config)
}

/// A bootstrap interval for `statistic` of two independent samples, each
/// resampled on its own (e.g. the ratio of the head's P99 to the base's).
///
/// As for [`bootstrap_one`], the statistic receives scratch copies it may
/// reorder and must return finite numbers.
pub fn bootstrap_two<F>(x: &[f64], y: &[f64], mut statistic: F, config: &Bootstrap) -> Result<Interval>
where
    F: FnMut(&mut [f64], &mut [f64]) -> f64,
{
    check_config(config)?;
    let needed = if config.method == BootstrapMethod::Bca { 2 } else { 1 };
    check_len("x", x, needed)?;
    check_len("y", y, needed)?;
    check_values("x", x, false)?;
    check_values("y", y, false)?;
    let (mut bx, mut by) = (x.to_vec(), y.to_vec());
    let estimate = finite("the statistic of the samples", statistic(&mut bx, &mut by))?;
    let mut rng = Pcg64::seed_from_u64(config.seed);
    let mut thetas = Vec::with_capacity(config.resamples);
    for _ in 0..config.resamples {
        resample(&mut rng, x, &mut bx);
        resample(&mut rng, y, &mut by);
        thetas.push(finite("the statistic of a resample", statistic(&mut bx, &mut by))?);
    }
    let jackknife = if config.method == BootstrapMethod::Bca {
        let jx = jackknife(x, |s| {
            by.copy_from_slice(y);
            statistic(s, &mut by)
        })?;
        let jy = jackknife(y, |s| {
            bx.copy_from_slice(x);
            statistic(&mut bx, s)
        })?;
        vec![jx, jy]
    } else {
        Vec::new()
    };
    interval(estimate, thetas, &jackknife, config)
}

fn check_config(config: &Bootstrap) -> Result<()> {
    check_unit("confidence", config.confidence, true)?;
    if config.resamples == 0 {
        return Err(Error::OutOfRange { name: "resamples", value: 0.0, expected: "must be at least 1" });
    }
    Ok(())
}

/// Fills `out` (same length as `sample`) with a resample with replacement.
pub(crate) fn resample(rng: &mut Pcg64, sample: &[f64], out: &mut [f64]) {
    for slot in out.iter_mut() {
        *slot = sample[index(rng, sample.len())];
    }
}

/// A uniform index below `n` (> 0): Lemire's multiply-shift with
/// rejection of the biased low products.
fn index(rng: &mut Pcg64, n: usize) -> usize {
    let range = n as u64;
    loop {
        let product = u128::from(rng.next_u64()) * u128::from(range);
        let low = product as u64;
        if low >= range || low >= range.wrapping_neg() % range {
            return (product >> 64) as usize;
        }
    }
}

/// The statistic of each leave-one-out subsample of `sample`.
fn jackknife<F>(sample: &[f64], mut statistic: F) -> Result<Vec<f64>>
where
    F: FnMut(&mut [f64]) -> f64,
{
    let mut buf = Vec::with_capacity(sample.len());
    let mut out = Vec::with_capacity(sample.len());
    for i in 0..sample.len() {
        buf.clear();
        buf.extend_from_slice(&sample[..i]);
        buf.extend_from_slice(&sample[i + 1..]);
        out.push(finite("the statistic of a jackknife subsample", statistic(&mut buf))?);
    }
    Ok(out)
}

fn interval(estimate: f64, mut thetas: Vec<f64>, jackknife: &[Vec<f64>], config: &Bootstrap) -> Result<Interval> {
    let b = thetas.len() as f64;
    let tail = (1.0 - config.confidence) / 2.0;
    let (q_lo, q_hi) = match config.method {
        BootstrapMethod::Percentile => (tail, 1.0 - tail),
        BootstrapMethod::Bca => {
            let below = thetas.iter().filter(|&&t| t < estimate).count() as f64;
            let equal = thetas.iter().filter(|&&t| t == estimate).count() as f64;
            let share = ((below + equal / 2.0) / b).clamp(0.5 / b, 1.0 - 0.5 / b);
            let z0 = norm_ppf(share);
            let a = acceleration(jackknife);
            let z_tail = norm_ppf(tail);
            let adjust = |z: f64| {
                let num = z0 + z;
                // P(Z ≤ z0 + num / (1 − a·num)); an acceleration so large
                // that the denominator reaches 0 sends the level to an end.
                let den = 1.0 - a * num;
                if den <= 0.0 { if num > 0.0 { 1.0 } else { 0.0 } } else { 1.0 - norm_sf(z0 + num / den) }
            };
            let q_lo = adjust(z_tail);
            let q_hi = adjust(-z_tail);
            (q_lo.min(q_hi), q_lo.max(q_hi))
        }
    };
    crate::describe::sort(&mut thetas);
    Ok(Interval { estimate, lo: quantile(&thetas, q_lo)?, hi: quantile(&thetas, q_hi)?, confidence: config.confidence })
}

/// Efron & Tibshirani eq. 15.36 over one jackknife series per sample.
fn acceleration(jackknife: &[Vec<f64>]) -> f64 {
    let (mut num, mut den) = (0.0, 0.0);
    for series in jackknife {
        let n = series.len() as f64;
        let mean = series.iter().sum::<f64>() / n;
        for &theta in series {
            let u = (n - 1.0) * (mean - theta);
            num += u * u * u / (n * n * n);
            den += u * u / (n * n);
        }
    }
    if den > 0.0 { num / (6.0 * den.powf(1.5)) } else { 0.0 }
}
