//! `stats::criterion` against real criterion runs (the scenarios that
//! `tests/fixtures/criterion/gen.sh` recorded) and on made-up samples.

use std::path::{Path, PathBuf};

use proptest::prelude::*;
use stats::Error;
use stats::criterion::{ChangeVerdict, Config, compare};
use stats::formats::{criterion_change_json, criterion_sample_json};

use crate::close;

pub(crate) fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/criterion")
}

pub(crate) fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// One benchmark of one recorded scenario.
struct Case {
    scenario: String,
    /// The benchmark's id, which is also its directory under the scenario.
    id: String,
    dir: PathBuf,
    /// What criterion printed for it.
    verdict: ChangeVerdict,
    /// The p-value criterion printed (two decimals).
    p_printed: f64,
}

/// Every benchmark of every scenario folder (one with a `stdout.txt`).
fn cases() -> Vec<Case> {
    let mut scenarios: Vec<PathBuf> = std::fs::read_dir(fixture_dir())
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.join("stdout.txt").is_file())
        .collect();
    scenarios.sort();
    let mut out = Vec::new();
    for dir in scenarios {
        let scenario = dir.file_name().unwrap().to_string_lossy().into_owned();
        for (id, verdict, p_printed) in printed_verdicts(&read(&dir.join("stdout.txt"))) {
            out.push(Case { scenario: scenario.clone(), dir: dir.join(&id), id, verdict, p_printed });
        }
    }
    assert!(out.len() >= 8, "the fixtures hold four scenarios of two benchmarks, found {}", out.len());
    out
}

/// (benchmark id, verdict, p-value) from criterion's report: a benchmark
/// starts at an unindented line `<id>  time: [...]`; its change line holds
/// `(p = 0.00 < 0.05)` and a later line the verdict sentence.
fn printed_verdicts(stdout: &str) -> Vec<(String, ChangeVerdict, f64)> {
    let mut out = Vec::new();
    let (mut id, mut p) = (None::<String>, None::<f64>);
    for line in stdout.lines() {
        if !line.starts_with(' ') && line.contains("time:") {
            id = line.split_whitespace().next().map(str::to_owned);
            p = None;
        }
        if let Some(at) = line.find("(p = ") {
            p = line[at + 5..].split_whitespace().next().and_then(|s| s.parse().ok());
        }
        if let Some(verdict) = ChangeVerdict::from_message(line) {
            let id = id.take().expect("a verdict follows a benchmark's time line");
            out.push((id, verdict, p.take().expect("a p-value precedes the verdict")));
        }
    }
    out
}

fn samples(case: &Case, part: &str) -> Vec<f64> {
    let path = case.dir.join(part).join("sample.json");
    criterion_sample_json(&path.display().to_string(), &read(&path)).unwrap()
}

#[test]
fn the_verdict_is_the_one_criterion_printed_for_every_recorded_run() {
    let mut seen = Vec::new();
    for case in cases() {
        let (base, new) = (samples(&case, "base"), samples(&case, "new"));
        let ours = compare(&base, &new, &Config::default()).unwrap();
        let what = format!("{}/{}", case.scenario, case.id);
        assert_eq!(ours.verdict, case.verdict, "{what}: {ours:?}");
        // criterion prints the p-value with two decimals; ours differs by
        // bootstrap noise (its standard error is below 0.002 here).
        assert!((ours.p_value - case.p_printed).abs() <= 0.015, "{what}: p {} vs {}", ours.p_value, case.p_printed);
        seen.push(case.verdict);
    }
    for verdict in [ChangeVerdict::Regressed, ChangeVerdict::Improved, ChangeVerdict::NoChange] {
        assert!(seen.contains(&verdict), "the recorded runs include {verdict:?}: {seen:?}");
    }
}

#[test]
fn the_point_estimates_are_criterions_and_the_intervals_close() {
    for case in cases() {
        let (base, new) = (samples(&case, "base"), samples(&case, "new"));
        let ours = compare(&base, &new, &Config::default()).unwrap();
        let path = case.dir.join("change/estimates.json");
        let theirs = criterion_change_json("change/estimates.json", &read(&path)).unwrap();
        let what = format!("{}/{}", case.scenario, case.id);
        for (name, ours, theirs) in [("mean", ours.mean, theirs.mean), ("median", ours.median, theirs.median)] {
            // Deterministic: the same arithmetic as criterion's, so to the last bits.
            assert!(close(ours.estimate, theirs.point_estimate, 1e-12), "{what} {name}: {ours:?} vs {theirs:?}");
            assert_eq!(ours.confidence, theirs.confidence_level);
            // The bounds are bootstrap percentiles from another generator:
            // close, not equal. criterion's nested scheme draws only
            // ⌈√100,000⌉ = 317 resamples of `new`, so with outliers a bound
            // moves by up to 5% of the interval's width from seed to seed
            // (one standard deviation); 30% of the width, or 0.2 percentage
            // points, is about four standard deviations of the difference.
            let slack = (0.3 * (theirs.upper_bound - theirs.lower_bound)).max(0.002);
            assert!((ours.lo - theirs.lower_bound).abs() <= slack, "{what} {name} lower: {ours:?} vs {theirs:?}");
            assert!((ours.hi - theirs.upper_bound).abs() <= slack, "{what} {name} upper: {ours:?} vs {theirs:?}");
        }
    }
}

#[test]
fn the_verdicts_do_not_depend_on_the_seed() {
    for case in cases() {
        let (base, new) = (samples(&case, "base"), samples(&case, "new"));
        for seed in 1..4 {
            let ours = compare(&base, &new, &Config { seed, ..Config::default() }).unwrap();
            assert_eq!(ours.verdict, case.verdict, "{}/{} seed {seed}: {ours:?}", case.scenario, case.id);
        }
    }
}

#[test]
fn the_same_seed_gives_the_same_comparison() {
    let case = &cases()[0];
    let (base, new) = (samples(case, "base"), samples(case, "new"));
    let config = Config { seed: 42, resamples: 5_000, ..Config::default() };
    assert_eq!(compare(&base, &new, &config).unwrap(), compare(&base, &new, &config).unwrap());
}

/// A deterministic, noisy-looking sample around `center`: a fixed
/// pseudo-random spread of ±`spread` (relative).
fn noisy(center: f64, spread: f64, n: usize, salt: u64) -> Vec<f64> {
    (0..n as u64)
        .map(|i| {
            let h = (i.wrapping_add(salt)).wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(17) >> 11;
            let u = h as f64 / (1u64 << 53) as f64;
            center * (1.0 + spread * (2.0 * u - 1.0))
        })
        .collect()
}

#[test]
fn made_up_samples_get_each_verdict() {
    let config = Config { resamples: 20_000, ..Config::default() };
    let base = noisy(100.0, 0.05, 100, 1);
    let cases = [
        (noisy(120.0, 0.05, 100, 2), ChangeVerdict::Regressed),
        (noisy(80.0, 0.05, 100, 3), ChangeVerdict::Improved),
        (noisy(100.0, 0.05, 100, 4), ChangeVerdict::NoChange),
    ];
    for (new, expected) in cases {
        let c = compare(&base, &new, &config).unwrap();
        assert_eq!(c.verdict, expected, "{c:?}");
        assert!((0.0..=1.0).contains(&c.p_value) && c.mean.lo <= c.mean.hi && c.median.lo <= c.median.hi, "{c:?}");
    }
    // A real but small change, measured precisely: significant, yet its
    // interval reaches inside the ±1% noise band.
    let base = noisy(100.0, 0.02, 2000, 5);
    let new = noisy(100.6, 0.02, 2000, 6);
    let c = compare(&base, &new, &config).unwrap();
    assert_eq!(c.verdict, ChangeVerdict::WithinNoise, "{c:?}");
    assert!(c.p_value < 0.05 && c.mean.lo > 0.0 && c.mean.lo < 0.01, "{c:?}");
    // A smaller change with fewer values is not significant (p ≈ 0.37).
    let c = compare(&noisy(100.0, 0.02, 30, 5), &noisy(100.3, 0.02, 30, 6), &config).unwrap();
    assert_eq!(c.verdict, ChangeVerdict::NoChange, "{c:?}");
    assert!(c.p_value > 0.2, "{c:?}");
    // A wider noise threshold turns a 20% regression into noise.
    let wide = Config { noise_threshold: 0.5, ..config };
    let slower = noisy(120.0, 0.05, 100, 2);
    assert_eq!(compare(&noisy(100.0, 0.05, 100, 1), &slower, &wide).unwrap().verdict, ChangeVerdict::WithinNoise);
}

#[test]
fn constant_samples() {
    let config = Config { resamples: 1000, ..Config::default() };
    // criterion: t = 0/0, p = NaN, "No change in performance detected".
    let same = compare(&[5.0, 5.0, 5.0], &[5.0, 5.0], &config).unwrap();
    assert_eq!((same.verdict, same.p_value, same.t, same.mean.estimate), (ChangeVerdict::NoChange, 1.0, 0.0, 0.0));
    // Quantized timings that all moved: t = ∞, p = 0, the whole interval at +20%.
    let moved = compare(&[5.0, 5.0, 5.0], &[6.0, 6.0, 6.0], &config).unwrap();
    assert_eq!((moved.verdict, moved.p_value, moved.t), (ChangeVerdict::Regressed, 0.0, f64::INFINITY));
    assert!(close(moved.mean.lo, 0.2, 1e-12) && close(moved.mean.hi, 0.2, 1e-12), "{moved:?}");
}

#[test]
fn bad_input_is_an_error() {
    let ok = [1.0, 2.0, 3.0];
    let config = Config::default();
    assert_eq!(compare(&[1.0], &ok, &config), Err(Error::TooFew { what: "base", needed: 2, got: 1 }));
    assert_eq!(compare(&ok, &[], &config), Err(Error::TooFew { what: "new", needed: 2, got: 0 }));
    assert!(matches!(compare(&ok, &[1.0, f64::NAN], &config), Err(Error::NotFinite { what: "new", index: 1, .. })));
    assert!(matches!(compare(&[1.0, 0.0], &ok, &config), Err(Error::NotPositive { what: "base", index: 1, .. })));
    assert!(matches!(compare(&ok, &[-1.0, 2.0], &config), Err(Error::NotPositive { what: "new", index: 0, .. })));
    for bad in [
        Config { resamples: 0, ..config },
        Config { confidence_level: 1.0, ..config },
        Config { significance_level: 0.0, ..config },
        Config { noise_threshold: -0.01, ..config },
        Config { noise_threshold: f64::NAN, ..config },
    ] {
        assert!(matches!(compare(&ok, &ok, &bad), Err(Error::OutOfRange { .. })), "{bad:?}");
    }
}

#[test]
fn verdict_messages_round_trip() {
    for v in [ChangeVerdict::Regressed, ChangeVerdict::Improved, ChangeVerdict::WithinNoise, ChangeVerdict::NoChange] {
        assert_eq!(ChangeVerdict::from_message(&format!("   {v}  ")), Some(v));
    }
    assert_eq!(ChangeVerdict::from_message("Performance has regressed"), None);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn any_sample_gives_a_comparison_or_an_error(
        base in prop::collection::vec(prop_oneof![0.5..2.0f64, Just(1.0), -1.0..1.0f64, Just(f64::MAX)], 0..12),
        new in prop::collection::vec(prop_oneof![0.5..2.0f64, Just(1.0), -1.0..1.0f64, Just(f64::MAX)], 0..12),
        resamples in 1..200usize,
        seed in any::<u64>(),
    ) {
        let config = Config { resamples, seed, ..Config::default() };
        if let Ok(c) = compare(&base, &new, &config) {
            prop_assert!((0.0..=1.0).contains(&c.p_value), "{c:?}");
            prop_assert!(!c.t.is_nan());
            for i in [c.mean, c.median] {
                prop_assert!(i.lo <= i.hi && i.estimate.is_finite() && i.lo.is_finite() && i.hi.is_finite(), "{c:?}");
            }
        }
    }
}
