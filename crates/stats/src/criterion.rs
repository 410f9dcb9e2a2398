//! criterion.rs's own change verdict, reproduced so that shipway says what
//! `cargo bench` said about the same two samples.
//!
//! The inputs are two samples of per-iteration times (criterion's "average
//! times", `times[i] / iters[i]` of `sample.json`): `base` and `new`. As in
//! criterion 0.5 to 0.8 (`analysis/compare.rs`, `report.rs`,
//! `stats/univariate/{mod,mixed,sample,percentiles}.rs`):
//!
//! 1. **t-test.** `t = (mean(new) − mean(base)) / sqrt(s²_new/n_new +
//!    s²_base/n_base)` (Welch's statistic, variances with n − 1). Its null
//!    distribution is bootstrapped: the two samples are pooled, and each of
//!    `resamples` resamples draws `n_new + n_base` values from the pool with
//!    replacement, the first `n_new` standing for `new` and the rest for
//!    `base`; non-finite resampled statistics are dropped. The p-value is
//!    two-tailed: `2 · min(k, m − k) / m`, with `k` the resampled
//!    statistics below `t` and `m` the finite ones.
//! 2. **Relative change.** The point estimates are `mean(new)/mean(base) −
//!    1` and `median(new)/median(base) − 1`. Their bootstrap distribution
//!    resamples each sample on its own, in criterion's nested scheme:
//!    `⌈√resamples⌉` resamples of `new`, each paired with a run of
//!    `⌈resamples / ⌈√resamples⌉⌉` resamples of `base` (the last run
//!    shorter), `resamples` pairs in all. The interval is the percentile
//!    interval at `confidence_level` (criterion's percentiles: rank
//!    `p/100 · (m − 1)`, linearly interpolated).
//! 3. **Verdict.** If `p < significance_level`, the mean's interval decides:
//!    wholly above `+noise_threshold` is [`ChangeVerdict::Regressed`],
//!    wholly below `−noise_threshold` [`ChangeVerdict::Improved`], anything
//!    else [`ChangeVerdict::WithinNoise`]. Otherwise
//!    [`ChangeVerdict::NoChange`]. The median's interval is reported, not
//!    used.
//!
//! criterion seeds its generator from the clock; here the caller's seed
//! drives a PCG-64, so the point estimates match criterion's
//! `change/estimates.json` exactly while the p-value and the interval
//! bounds match it up to bootstrap noise. Defaults are criterion's: 100,000
//! resamples, 95% confidence, 0.05 significance, 1% noise threshold.
//!
//! One deviation: when every value of both samples is the same number,
//! criterion's t is 0/0 and its p-value NaN, which it reads as "no change";
//! here the p-value is 1 and `t` is 0, with the same verdict.

use std::fmt;

use rand_core::SeedableRng;
use rand_pcg::Pcg64;

use crate::bootstrap::{Interval, resample};
use crate::error::{Error, Result, check_len, check_unit, check_values, finite};

/// Settings of the comparison; [`Config::default`] is criterion's.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Config {
    /// Bootstrap resamples for the t distribution and for the change (at
    /// least 1; criterion warns below 1,000).
    pub resamples: usize,
    /// Level of the change intervals, strictly between 0 and 1.
    pub confidence_level: f64,
    /// The p-value below which the samples differ, strictly between 0 and 1.
    pub significance_level: f64,
    /// Relative changes within ±this are noise; finite and ≥ 0.
    pub noise_threshold: f64,
    /// The generator's seed: the same seed gives the same comparison.
    pub seed: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config { resamples: 100_000, confidence_level: 0.95, significance_level: 0.05, noise_threshold: 0.01, seed: 0 }
    }
}

/// What criterion prints under a benchmark's change line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChangeVerdict {
    /// "Performance has regressed."
    Regressed,
    /// "Performance has improved."
    Improved,
    /// "Change within noise threshold."
    WithinNoise,
    /// "No change in performance detected."
    NoChange,
}

impl ChangeVerdict {
    /// criterion's sentence for this verdict, e.g. "Performance has regressed.".
    pub fn message(self) -> &'static str {
        match self {
            ChangeVerdict::Regressed => "Performance has regressed.",
            ChangeVerdict::Improved => "Performance has improved.",
            ChangeVerdict::WithinNoise => "Change within noise threshold.",
            ChangeVerdict::NoChange => "No change in performance detected.",
        }
    }

    /// The verdict whose [`message`](Self::message) is `line` (surrounding
    /// whitespace ignored), if any.
    pub fn from_message(line: &str) -> Option<ChangeVerdict> {
        let line = line.trim();
        [ChangeVerdict::Regressed, ChangeVerdict::Improved, ChangeVerdict::WithinNoise, ChangeVerdict::NoChange]
            .into_iter()
            .find(|v| v.message() == line)
    }
}

impl fmt::Display for ChangeVerdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message())
    }
}

/// The comparison of `new` with `base`.
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    /// Welch's t statistic of new vs base.
    pub t: f64,
    /// Two-tailed bootstrap p-value of `t`.
    pub p_value: f64,
    /// Relative change of the mean, new/base − 1 (0.2 = 20% slower), and
    /// its percentile interval.
    pub mean: Interval,
    /// Relative change of the median, and its percentile interval.
    pub median: Interval,
    pub verdict: ChangeVerdict,
}

/// Compares two samples of per-iteration times as criterion does; see the
/// module docs. Each sample needs two values, all finite and positive.
pub fn compare(base: &[f64], new: &[f64], config: &Config) -> Result<Comparison> {
    check_config(config)?;
    check_sample("base", base)?;
    check_sample("new", new)?;
    let cl = config.confidence_level;
    let first = base[0];
    if base.iter().chain(new).all(|&x| x == first) {
        let none = Interval { estimate: 0.0, lo: 0.0, hi: 0.0, confidence: cl };
        return Ok(Comparison { t: 0.0, p_value: 1.0, mean: none, median: none, verdict: ChangeVerdict::NoChange });
    }
    let mut rng = Pcg64::seed_from_u64(config.seed);

    let t = t_statistic(new, base);
    if t.is_nan() {
        return Err(Error::NonFiniteResult { what: "t statistic", value: t });
    }
    let p_value = p_value(t, &t_distribution(&mut rng, new, base, config.resamples));

    let (mut means, mut medians) = change_distributions(&mut rng, new, base, config.resamples)?;
    let mean_change = finite("relative change of the mean", mean(new) / mean(base) - 1.0)?;
    let median_change = finite("relative change of the median", median(new) / median(base) - 1.0)?;
    let mean = interval(mean_change, &mut means, cl);
    let median = interval(median_change, &mut medians, cl);

    let verdict = if p_value < config.significance_level {
        let noise = config.noise_threshold;
        if mean.lo < -noise && mean.hi < -noise {
            ChangeVerdict::Improved
        } else if mean.lo > noise && mean.hi > noise {
            ChangeVerdict::Regressed
        } else {
            ChangeVerdict::WithinNoise
        }
    } else {
        ChangeVerdict::NoChange
    };
    Ok(Comparison { t, p_value, mean, median, verdict })
}

fn check_config(config: &Config) -> Result<()> {
    if config.resamples == 0 {
        return Err(Error::OutOfRange { name: "resamples", value: 0.0, expected: "must be at least 1" });
    }
    check_unit("confidence_level", config.confidence_level, true)?;
    check_unit("significance_level", config.significance_level, true)?;
    if !(config.noise_threshold >= 0.0 && config.noise_threshold.is_finite()) {
        return Err(Error::OutOfRange {
            name: "noise_threshold",
            value: config.noise_threshold,
            expected: "must be a finite number ≥ 0",
        });
    }
    Ok(())
}

fn check_sample(what: &'static str, values: &[f64]) -> Result<()> {
    check_len(what, values, 2)?;
    check_values(what, values, false)?;
    match values.iter().position(|&v| v <= 0.0) {
        Some(index) => Err(Error::NotPositive { what, index, value: values[index] }),
        None => Ok(()),
    }
}

/// criterion's `Sample::mean`: the sum in order over the count.
fn mean(values: &[f64]) -> f64 {
    values.iter().sum::<f64>() / values.len() as f64
}

/// criterion's `Sample::var` (n − 1) around a given mean.
fn variance(values: &[f64], mean: f64) -> f64 {
    values.iter().map(|&x| (x - mean) * (x - mean)).sum::<f64>() / (values.len() - 1) as f64
}

/// criterion's `Sample::t`; ±∞ or NaN when both variances are zero.
fn t_statistic(x: &[f64], y: &[f64]) -> f64 {
    let (mx, my) = (mean(x), mean(y));
    let den = (variance(x, mx) / x.len() as f64 + variance(y, my) / y.len() as f64).sqrt();
    (mx - my) / den
}

/// The t statistics of resamples of the pooled sample, finite ones only.
fn t_distribution(rng: &mut Pcg64, new: &[f64], base: &[f64], resamples: usize) -> Vec<f64> {
    let pool: Vec<f64> = new.iter().chain(base).copied().collect();
    let mut buf = pool.clone();
    let mut out = Vec::with_capacity(resamples);
    for _ in 0..resamples {
        resample(rng, &pool, &mut buf);
        let (a, b) = buf.split_at(new.len());
        let t = t_statistic(a, b);
        if t.is_finite() {
            out.push(t);
        }
    }
    out
}

/// criterion's `Distribution::p_value` with two tails. No finite resampled
/// statistic (criterion: NaN, never significant) gives 1.
fn p_value(t: f64, distribution: &[f64]) -> f64 {
    let n = distribution.len();
    if n == 0 {
        return 1.0;
    }
    let hits = distribution.iter().filter(|&&x| x < t).count();
    (2 * hits.min(n - hits)) as f64 / n as f64
}

/// The bootstrap distributions of the relative change of the mean and of
/// the median, in criterion's nested scheme (see the module docs).
fn change_distributions(rng: &mut Pcg64, new: &[f64], base: &[f64], resamples: usize) -> Result<(Vec<f64>, Vec<f64>)> {
    let chunks = (resamples as f64).sqrt().ceil() as usize;
    let per_chunk = resamples.div_ceil(chunks);
    let (mut a, mut b) = (new.to_vec(), base.to_vec());
    let mut means = Vec::with_capacity(resamples);
    let mut medians = Vec::with_capacity(resamples);
    for i in 0..chunks {
        let start = i * per_chunk;
        let end = ((i + 1) * per_chunk).min(resamples);
        resample(rng, new, &mut a);
        let (mean_a, median_a) = (mean(&a), median_in_place(&mut a));
        for _ in start..end {
            resample(rng, base, &mut b);
            let (mean_b, median_b) = (mean(&b), median_in_place(&mut b));
            means.push(finite("relative change of a resampled mean", mean_a / mean_b - 1.0)?);
            medians.push(finite("relative change of a resampled median", median_a / median_b - 1.0)?);
        }
    }
    Ok((means, medians))
}

fn median(values: &[f64]) -> f64 {
    median_in_place(&mut values.to_vec())
}

/// criterion's median (`percentiles().median()`): the 50th percentile with
/// its interpolation, here by selection instead of a full sort.
fn median_in_place(values: &mut [f64]) -> f64 {
    let rank = 0.5 * (values.len() - 1) as f64;
    let lo = rank.floor() as usize;
    let (_, &mut floor, right) = values.select_nth_unstable_by(lo, f64::total_cmp);
    let ceiling = right.iter().copied().min_by(f64::total_cmp).unwrap_or(floor);
    floor + (ceiling - floor) * (rank - lo as f64)
}

/// criterion's `Distribution::confidence_interval`: the percentiles
/// `50·(1 − cl)` and `50·(1 + cl)` of the distribution.
fn interval(estimate: f64, distribution: &mut [f64], cl: f64) -> Interval {
    distribution.sort_unstable_by(f64::total_cmp);
    Interval {
        estimate,
        lo: percentile(distribution, 50.0 * (1.0 - cl)),
        hi: percentile(distribution, 50.0 * (1.0 + cl)),
        confidence: cl,
    }
}

/// criterion's `Percentiles::at` on a sorted, non-empty slice.
fn percentile(sorted: &[f64], p: f64) -> f64 {
    let last = sorted.len() - 1;
    if p >= 100.0 {
        return sorted[last];
    }
    let rank = (p / 100.0) * last as f64;
    let integer = rank.floor();
    let n = (integer as usize).min(last);
    let floor = sorted[n];
    let ceiling = sorted[(n + 1).min(last)];
    floor + (ceiling - floor) * (rank - integer)
}
