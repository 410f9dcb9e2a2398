//! Invariants over generated input, and errors (never panics) for bad input.

use proptest::prelude::*;
use stats::{Alternative, Error, GateConfig, GateTest, Method, OneSided};

use crate::close;

/// Finite values of every kind: ordinary, tiny, huge, zero, negative, and
/// from a small set so that ties are common.
fn value() -> impl Strategy<Value = f64> {
    prop_oneof![
        4 => -1e3..1e3f64,
        2 => (0..5i32).prop_map(f64::from),
        1 => prop::num::f64::NORMAL | prop::num::f64::SUBNORMAL | prop::num::f64::ZERO,
        1 => Just(f64::MAX),
        1 => Just(-f64::MAX),
    ]
}

fn sample(max: usize) -> impl Strategy<Value = Vec<f64>> {
    prop::collection::vec(value(), 0..max)
}

/// Moderate values that keep floating-point error small.
fn tame(min: usize, max: usize) -> impl Strategy<Value = Vec<f64>> {
    prop::collection::vec(prop_oneof![-100.0..100.0f64, (0..5i32).prop_map(f64::from)], min..max)
}

fn method() -> impl Strategy<Value = Method> {
    prop_oneof![Just(Method::Auto), Just(Method::Exact), Just(Method::Asymptotic)]
}

fn alternative() -> impl Strategy<Value = Alternative> {
    prop_oneof![Just(Alternative::TwoSided), Just(Alternative::Less), Just(Alternative::Greater)]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn mann_whitney_p_in_unit_interval_and_u_symmetric(
        x in tame(1, 25), y in tame(1, 25), method in method(), alt in alternative()
    ) {
        let xy = stats::mann_whitney_u(&x, &y, alt, method).unwrap();
        let yx = stats::mann_whitney_u(&y, &x, alt, method).unwrap();
        prop_assert!((0.0..=1.0).contains(&xy.p_value), "{xy:?}");
        prop_assert_eq!(xy.u + yx.u, (x.len() * y.len()) as f64);
        prop_assert!(xy.u >= 0.0 && xy.u <= (x.len() * y.len()) as f64);
        if alt == Alternative::TwoSided {
            prop_assert!(close(xy.p_value, yx.p_value, 1e-12), "{xy:?} vs {yx:?}");
        }
    }

    #[test]
    fn swapping_samples_swaps_less_and_greater(x in tame(1, 25), y in tame(1, 25), method in method()) {
        let less = stats::mann_whitney_u(&x, &y, Alternative::Less, method).unwrap();
        let greater = stats::mann_whitney_u(&y, &x, Alternative::Greater, method).unwrap();
        prop_assert!(close(less.p_value, greater.p_value, 1e-12), "{less:?} vs {greater:?}");
        prop_assert_eq!(less.method, greater.method);
        let welch_less = stats::welch_t(&x, &y, Alternative::Less);
        let welch_greater = stats::welch_t(&y, &x, Alternative::Greater);
        if let (Ok(a), Ok(b)) = (welch_less, welch_greater) {
            prop_assert!(close(a.p_value, b.p_value, 1e-12) && close(a.t, -b.t, 1e-12), "{a:?} vs {b:?}");
        }
    }

    /// One-sided p-values of opposite tails add up to 1 (continuous t), and
    /// to 1 + P(U = u) for the discrete exact distribution.
    #[test]
    fn welch_one_sided_tails_add_up(x in tame(2, 20), y in tame(2, 20)) {
        if let Ok(less) = stats::welch_t(&x, &y, Alternative::Less) {
            let greater = stats::welch_t(&x, &y, Alternative::Greater).unwrap();
            prop_assert!(close(less.p_value + greater.p_value, 1.0, 1e-12));
        }
    }

    #[test]
    fn welch_is_invariant_to_shifting_both_samples(
        x in tame(2, 20), y in tame(2, 20), shift in -1e3..1e3f64, alt in alternative()
    ) {
        let plain = stats::welch_t(&x, &y, alt);
        let xs: Vec<f64> = x.iter().map(|v| v + shift).collect();
        let ys: Vec<f64> = y.iter().map(|v| v + shift).collect();
        let shifted = stats::welch_t(&xs, &ys, alt);
        match (plain, shifted) {
            (Ok(a), Ok(b)) => {
                // Shifting costs the digits of the shift relative to the spread.
                let scale = a.standard_error.max(1e-3);
                let tol = 1e-9 * (1.0 + shift.abs() / scale);
                prop_assert!(close(a.t, b.t, tol), "t: {a:?} vs {b:?}");
                prop_assert!(close(a.p_value, b.p_value, tol), "p: {a:?} vs {b:?}");
                prop_assert!(close(a.df, b.df, tol * 1e3), "df: {a:?} vs {b:?}");
            }
            (Err(Error::ZeroVariance), Err(Error::ZeroVariance)) => {}
            (a, b) => prop_assert!(false, "{a:?} vs {b:?}"),
        }
    }

    #[test]
    fn hodges_lehmann_shift_moves_with_the_head(x in tame(1, 15), y in tame(1, 15), d in -50.0..50.0f64) {
        let base = stats::hodges_lehmann(&x, &y).unwrap();
        let moved: Vec<f64> = y.iter().map(|v| v + d).collect();
        let after = stats::hodges_lehmann(&x, &moved).unwrap();
        prop_assert!(close(after, base + d, 1e-9), "{base} + {d} vs {after}");
        prop_assert!(close(stats::hodges_lehmann(&y, &x).unwrap(), -base, 1e-12));
    }

    #[test]
    fn quantile_is_monotone_and_bounded(mut x in tame(1, 40), q1 in 0.0..=1.0f64, q2 in 0.0..=1.0f64) {
        x.sort_by(f64::total_cmp);
        let (lo, hi) = (q1.min(q2), q1.max(q2));
        let a = stats::quantile(&x, lo).unwrap();
        let b = stats::quantile(&x, hi).unwrap();
        prop_assert!(a <= b && x[0] <= a && b <= x[x.len() - 1], "{a} {b} {x:?}");
        let mut scratch = x.clone();
        prop_assert_eq!(stats::quantile_select(&mut scratch, lo).unwrap(), a);
    }

    #[test]
    fn binomial_p_values_are_probabilities(n in 0..3000u64, k_frac in 0.0..=1.0f64, p in 0.0..=1.0f64) {
        let k = ((n as f64) * k_frac).round() as u64;
        let greater = stats::binomial_test(k, n, p, OneSided::Greater).unwrap();
        let less = stats::binomial_test(k, n, p, OneSided::Less).unwrap();
        prop_assert!((0.0..=1.0).contains(&greater) && (0.0..=1.0).contains(&less));
        // P(X ≥ k) + P(X ≤ k) = 1 + P(X = k) ≥ 1.
        prop_assert!(greater + less >= 1.0 - 1e-9, "{greater} + {less}");
    }

    /// Nothing panics on finite input, however extreme; results that come
    /// back are numbers where the API promises numbers.
    #[test]
    fn no_panics_on_any_finite_input(x in sample(12), y in sample(12), q in -0.5..1.5f64, alt in alternative()) {
        let _ = stats::mean(&x);
        let _ = stats::variance(&x);
        let _ = stats::median(&x);
        let mut sorted = x.clone();
        sorted.sort_by(f64::total_cmp);
        let _ = stats::quantile(&sorted, q);
        let _ = stats::quantile(&x, q);
        let _ = stats::quantile_select(&mut x.clone(), q);
        for method in [Method::Auto, Method::Exact, Method::Asymptotic] {
            if let Ok(r) = stats::mann_whitney_u(&x, &y, alt, method) {
                prop_assert!((0.0..=1.0).contains(&r.p_value), "{r:?}");
            }
        }
        if let Ok(r) = stats::welch_t(&x, &y, alt) {
            prop_assert!((0.0..=1.0).contains(&r.p_value) && r.t.is_finite() && r.df > 0.0, "{r:?}");
            let _ = r.confidence_interval(0.95);
        }
        let positive: Vec<f64> = x.iter().map(|v| v.abs()).filter(|v| *v > 0.0).collect();
        let positive_y: Vec<f64> = y.iter().map(|v| v.abs()).filter(|v| *v > 0.0).collect();
        if let Ok(r) = stats::welch_t_log(&positive, &positive_y, alt) {
            prop_assert!((0.0..=1.0).contains(&r.p_value), "{r:?}");
        }
        let _ = stats::hodges_lehmann(&x, &y);
        let _ = stats::hodges_lehmann_one(&x);
        let config = stats::Bootstrap { resamples: 20, ..stats::Bootstrap::default() };
        let _ = stats::bootstrap_one(&x, |s| s.iter().sum::<f64>(), &config);
        let _ = stats::bootstrap_two(&x, &y, |a, b| a.len() as f64 - b.len() as f64, &config);
        for test in [GateTest::WelchLog, GateTest::MannWhitney] {
            let config = GateConfig { test, bootstrap_resamples: 20, ..GateConfig::default() };
            if let Ok(v) = stats::gate(&positive, &positive_y, &config) {
                prop_assert!(!v.p_value.is_nan() && !v.effect.is_nan(), "{v:?}");
                prop_assert!(!v.ci.0.is_nan() && !v.ci.1.is_nan(), "{v:?}");
                prop_assert!((0.0..=1.0).contains(&v.p_value));
            }
        }
    }

    #[test]
    fn nan_anywhere_is_an_error(x in tame(2, 10), y in tame(2, 10), at in any::<prop::sample::Index>()) {
        let mut bad = x.clone();
        let i = at.index(bad.len());
        bad[i] = f64::NAN;
        let not_finite = |r: Result<(), Error>| matches!(r, Err(Error::NotFinite { .. }));
        prop_assert!(not_finite(stats::mean(&bad).map(drop)));
        prop_assert!(not_finite(stats::variance(&bad).map(drop)));
        prop_assert!(not_finite(stats::median(&bad).map(drop)));
        prop_assert!(not_finite(stats::quantile_select(&mut bad.clone(), 0.5).map(drop)));
        prop_assert!(not_finite(stats::mann_whitney_u(&bad, &y, Alternative::TwoSided, Method::Auto).map(drop)));
        prop_assert!(not_finite(stats::mann_whitney_u(&y, &bad, Alternative::TwoSided, Method::Auto).map(drop)));
        prop_assert!(not_finite(stats::welch_t(&y, &bad, Alternative::Less).map(drop)));
        prop_assert!(not_finite(stats::hodges_lehmann(&bad, &y).map(drop)));
        prop_assert!(not_finite(stats::hodges_lehmann_one(&bad).map(drop)));
        let positive: Vec<f64> = bad.iter().map(|v| v.abs() + 1.0).collect();
        prop_assert!(not_finite(stats::gate(&[1.0, 2.0], &positive, &GateConfig::default()).map(drop)));
    }
}

#[test]
fn empty_input_is_an_error() {
    let too_few = |r: Result<(), Error>| matches!(r, Err(Error::TooFew { .. }));
    assert!(too_few(stats::mean(&[]).map(drop)));
    assert!(too_few(stats::median(&[]).map(drop)));
    assert!(too_few(stats::quantile(&[], 0.5).map(drop)));
    assert!(too_few(stats::variance(&[1.0]).map(drop)));
    assert!(too_few(stats::mann_whitney_u(&[], &[1.0], Alternative::Less, Method::Auto).map(drop)));
    assert!(too_few(stats::mann_whitney_u(&[1.0], &[], Alternative::Less, Method::Auto).map(drop)));
    assert!(too_few(stats::welch_t(&[1.0], &[1.0, 2.0], Alternative::Less).map(drop)));
    assert!(too_few(stats::welch_t_log(&[1.0, 2.0], &[], Alternative::Less).map(drop)));
    assert!(too_few(stats::hodges_lehmann(&[], &[1.0]).map(drop)));
    assert!(too_few(stats::hodges_lehmann_one(&[]).map(drop)));
}

#[test]
fn other_bad_input_is_an_error() {
    assert!(matches!(stats::quantile(&[2.0, 1.0], 0.5), Err(Error::NotSorted { index: 1, .. })));
    assert!(matches!(stats::quantile(&[1.0, 2.0], 1.5), Err(Error::OutOfRange { name: "q", .. })));
    assert!(matches!(stats::quantile(&[1.0, 2.0], f64::NAN), Err(Error::OutOfRange { .. })));
    assert!(matches!(stats::welch_t(&[1.0, 1.0], &[2.0, 2.0], Alternative::Less), Err(Error::ZeroVariance)));
    assert!(matches!(
        stats::welch_t(&[1.0, f64::INFINITY], &[2.0, 3.0], Alternative::Less),
        Err(Error::NotFinite { .. })
    ));
    assert!(matches!(
        stats::welch_t_log(&[1.0, -2.0], &[2.0, 3.0], Alternative::Less),
        Err(Error::NotPositive { index: 1, value: -2.0, .. })
    ));
    assert!(matches!(stats::mean(&[1.0, f64::INFINITY]), Err(Error::NotFinite { index: 1, .. })));
    assert!(matches!(stats::quantile(&[1.0, f64::INFINITY], 0.5), Err(Error::NotFinite { .. })));
    assert!(matches!(stats::hodges_lehmann(&[-f64::MAX], &[f64::MAX]), Err(Error::NonFiniteResult { .. })));
    assert!(matches!(
        stats::welch_t(&[f64::MAX, -f64::MAX], &[1.0, 2.0], Alternative::Less),
        Err(Error::NonFiniteResult { .. })
    ));
    assert!(matches!(stats::binomial_test(5, 4, 0.5, OneSided::Less), Err(Error::OutOfRange { name: "k", .. })));
    assert!(matches!(stats::binomial_test(1, 4, 1.5, OneSided::Less), Err(Error::OutOfRange { name: "p", .. })));
    assert!(matches!(stats::binomial_test(1, 4, f64::NAN, OneSided::Less), Err(Error::OutOfRange { name: "p", .. })));
    // Too large for the exact distribution: an error. `Auto`, which would
    // pick the exact method for a sample of at most 8, falls back to the
    // normal approximation once the other holds more than ~4.2 million.
    let wide: Vec<f64> = (0..6000).map(f64::from).collect();
    let exact = stats::mann_whitney_u(&wide, &wide, Alternative::Greater, Method::Exact);
    assert!(matches!(exact, Err(Error::TooLarge { .. })), "{exact:?}");
    let small = [0.5, 1.5, 2.5, 3.5, 4.5, 5.5, 6.5, 7.5];
    let big: Vec<f64> = (0..4_300_000).map(f64::from).collect();
    let auto = stats::mann_whitney_u(&small, &big, Alternative::Greater, Method::Auto).unwrap();
    assert_eq!(auto.method, stats::MethodUsed::Asymptotic);
}

/// Infinities are ranked like any value by Mann–Whitney (as SciPy does).
#[test]
fn mann_whitney_ranks_infinities() {
    let r = stats::mann_whitney_u(&[f64::NEG_INFINITY, 1.0], &[2.0, f64::INFINITY], Alternative::Less, Method::Exact)
        .unwrap();
    assert_eq!(r.u, 0.0);
    assert!((r.p_value - 1.0 / 6.0).abs() < 1e-15);
}
