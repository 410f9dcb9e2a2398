//! The relative gate's decisions and what it says about them.

use stats::{Error, GateConfig, GateTest};

use crate::assert_close;

const BASE: [f64; 10] = [100.0, 103.0, 98.0, 101.0, 99.5, 102.0, 97.0, 100.5, 101.5, 99.0];

fn scaled(values: &[f64], factor: f64) -> Vec<f64> {
    values.iter().map(|v| v * factor).collect()
}

/// The base, rotated (so not the same trial order) and scaled.
fn head(factor: f64) -> Vec<f64> {
    let mut v = scaled(&BASE, factor);
    v.rotate_left(3);
    v
}

fn both_tests() -> [GateConfig; 2] {
    [
        GateConfig::default(),
        GateConfig { test: GateTest::MannWhitney, bootstrap_resamples: 500, ..GateConfig::default() },
    ]
}

#[test]
fn a_large_significant_slowdown_is_a_regression() {
    for config in both_tests() {
        let v = stats::gate(&BASE, &head(1.25), &config).unwrap();
        assert!(v.regressed, "{v:?}");
        assert!((v.effect - 0.25).abs() < 1e-9, "a pure scale change is estimated exactly: {v:?}");
        assert!(v.p_value < 0.01 && v.ci.0 < v.effect && v.effect < v.ci.1, "{v:?}");
        assert_eq!((v.n_base, v.n_head, v.confidence, v.test), (10, 10, 0.95, config.test));
        assert!(v.reason.starts_with("regression: +25.0% (95% CI +"), "{}", v.reason);
        assert!(v.reason.contains(&format!("{}, p=", config.test.name())), "{}", v.reason);
        assert!(v.reason.ends_with("< α=0.01, above the +5.0% tolerance"), "{}", v.reason);
        assert_eq!(v.to_string(), v.reason);
    }
}

#[test]
fn no_change_and_speedups_are_not_regressions() {
    for config in both_tests() {
        for factor in [1.0, 0.8] {
            let v = stats::gate(&BASE, &head(factor), &config).unwrap();
            assert!(!v.regressed, "{v:?}");
            assert!(v.p_value > 0.4, "{v:?}");
            assert!(v.reason.starts_with("no regression: "), "{}", v.reason);
            assert!(v.reason.ends_with("≥ α=0.01"), "{}", v.reason);
        }
        let v = stats::gate(&BASE, &head(0.8), &config).unwrap();
        assert!(v.reason.starts_with("no regression: \u{2212}20.0% (95% CI \u{2212}"), "{}", v.reason);
    }
}

/// Many precise trials make a 2% slowdown significant; it is still within
/// the 5% tolerance.
#[test]
fn a_significant_but_small_slowdown_is_within_the_tolerance() {
    let base: Vec<f64> = (0..40).map(|i| 100.0 + (i % 7) as f64 * 0.1).collect();
    let head = scaled(&base, 1.02);
    for config in both_tests() {
        let v = stats::gate(&base, &head, &config).unwrap();
        assert!(!v.regressed && v.p_value < 0.01 && (v.effect - 0.02).abs() < 1e-9, "{v:?}");
        assert!(v.reason.contains("< α=0.01, but within the +5.0% tolerance"), "{}", v.reason);
    }
}

/// The CLI's example line, as the gate writes it; the numbers are
/// SciPy's (`ttest_ind` of the logs, `alternative='greater'`, and the
/// two-sided 95% `confidence_interval`, exponentiated).
#[test]
fn reason_reads_like_the_cli_line() {
    let head = [101.0, 104.5, 99.0, 102.5, 101.0, 103.5, 98.5, 102.0, 103.0, 100.5];
    let v = stats::gate(&BASE, &head, &GateConfig::default()).unwrap();
    assert!(!v.regressed);
    assert_close(v.p_value, 0.0571459577758553, "p");
    assert_close(v.effect, 0.013970027638242843, "effect");
    assert_close(v.ci.0, -0.003681442459902984, "CI low");
    assert_close(v.ci.1, 0.0319342234146045, "CI high");
    assert_eq!(v.reason, "no regression: +1.4% (95% CI \u{2212}0.4%..+3.2%), Welch t on log values, p=0.06 ≥ α=0.01");
}

#[test]
fn all_equal_trials_give_finite_verdicts() {
    for config in both_tests() {
        let same = stats::gate(&[5.0; 4], &[5.0; 3], &config).unwrap();
        assert!(!same.regressed);
        assert_eq!((same.p_value, same.effect, same.ci), (1.0, 0.0, (0.0, 0.0)));
        assert!(same.reason.ends_with("(every trial gave the same value on each side)"), "{}", same.reason);

        let slower = stats::gate(&[5.0; 4], &[6.0; 3], &config).unwrap();
        assert!(slower.regressed && slower.p_value == 0.0, "{slower:?}");
        assert!((slower.effect - 0.2).abs() < 1e-12);

        let a_little = stats::gate(&[5.0; 4], &[5.1; 3], &config).unwrap();
        assert!(!a_little.regressed, "2% is within the tolerance: {a_little:?}");

        // One side constant: an ordinary test.
        let v = stats::gate(&[5.0; 4], &[5.0, 5.5, 6.0], &config).unwrap();
        assert!(v.p_value.is_finite() && v.effect.is_finite() && v.ci.0.is_finite() && v.ci.1.is_finite());
    }
}

#[test]
fn mann_whitney_verdicts_are_deterministic_for_a_seed() {
    let config = GateConfig { test: GateTest::MannWhitney, ..GateConfig::default() };
    let head = head(1.04);
    let a = stats::gate(&BASE, &head, &config).unwrap();
    assert_eq!(a, stats::gate(&BASE, &head, &config).unwrap());
    let other = stats::gate(&BASE, &head, &GateConfig { seed: 99, ..config }).unwrap();
    assert_eq!((a.p_value, a.effect, a.regressed), (other.p_value, other.effect, other.regressed));
}

/// With 8 or fewer trials on a side and no ties the Mann–Whitney gate uses
/// the exact distribution, whose smallest p-value for 3 vs 3 trials is
/// 1/20: no regression can be shown with so few trials at α = 0.01.
#[test]
fn too_few_trials_for_mann_whitney_to_reach_alpha() {
    let config = GateConfig { test: GateTest::MannWhitney, ..GateConfig::default() };
    let v = stats::gate(&[1.0, 1.1, 1.2], &[3.0, 3.1, 3.2], &config).unwrap();
    assert!(!v.regressed);
    assert!((v.p_value - 0.05).abs() < 1e-15, "{v:?}");
}

#[test]
fn bad_input_is_an_error() {
    let config = GateConfig::default();
    assert!(matches!(
        stats::gate(&[1.0], &[1.0, 2.0], &config),
        Err(Error::TooFew { what: "base trials", needed: 2, got: 1 })
    ));
    assert!(matches!(stats::gate(&[1.0, 2.0], &[], &config), Err(Error::TooFew { what: "head trials", .. })));
    assert!(matches!(
        stats::gate(&[1.0, 2.0], &[1.0, 0.0], &config),
        Err(Error::NotPositive { what: "head trials", index: 1, .. })
    ));
    assert!(matches!(stats::gate(&[1.0, f64::NAN], &[1.0, 2.0], &config), Err(Error::NotFinite { .. })));
    assert!(matches!(stats::gate(&[1.0, f64::INFINITY], &[1.0, 2.0], &config), Err(Error::NotFinite { .. })));
    for bad in [
        GateConfig { alpha: 0.0, ..config },
        GateConfig { alpha: 1.0, ..config },
        GateConfig { confidence: f64::NAN, ..config },
        GateConfig { practical: -0.1, ..config },
        GateConfig { practical: f64::INFINITY, ..config },
        GateConfig { test: GateTest::MannWhitney, bootstrap_resamples: 0, ..config },
    ] {
        assert!(matches!(stats::gate(&[1.0, 2.0], &[1.5, 2.5], &bad), Err(Error::OutOfRange { .. })), "{bad:?}");
    }
    let message = stats::gate(&[1.0], &[1.0, 2.0], &config).unwrap_err().to_string();
    assert_eq!(message, "`base trials` needs at least 2 value(s), got 1");
}
