//! Bootstrap intervals: the same seed gives the same interval, and seeded
//! repetitions on data with a known truth cover it about as often as the
//! confidence level says.

use rand_core::SeedableRng;
use rand_distr::StandardNormal;
use rand_pcg::Pcg64;
use stats::{Bootstrap, BootstrapMethod, Error};

fn median(s: &mut [f64]) -> f64 {
    stats::quantile_select(s, 0.5).unwrap_or(f64::NAN)
}

fn normal_sample(rng: &mut Pcg64, n: usize) -> Vec<f64> {
    use rand::RngExt;
    (0..n).map(|_| rng.sample::<f64, _>(StandardNormal)).collect()
}

#[test]
fn same_seed_same_interval_other_seed_other_interval() {
    let mut rng = Pcg64::seed_from_u64(7);
    let x = normal_sample(&mut rng, 40);
    let y: Vec<f64> = normal_sample(&mut rng, 30).iter().map(|v| v + 0.5).collect();
    for method in [BootstrapMethod::Percentile, BootstrapMethod::Bca] {
        let config = Bootstrap { resamples: 500, confidence: 0.9, method, seed: 42 };
        let a = stats::bootstrap_one(&x, median, &config).unwrap();
        let b = stats::bootstrap_one(&x, median, &config).unwrap();
        assert_eq!(a, b);
        let other = stats::bootstrap_one(&x, median, &Bootstrap { seed: 43, ..config }).unwrap();
        assert_ne!((a.lo, a.hi), (other.lo, other.hi));
        assert_eq!(a.estimate, stats::median(&x).unwrap());
        assert!(a.lo <= a.estimate && a.estimate <= a.hi, "{a:?}");

        let diff = |x: &mut [f64], y: &mut [f64]| median(y) - median(x);
        let a = stats::bootstrap_two(&x, &y, diff, &config).unwrap();
        assert_eq!(a, stats::bootstrap_two(&x, &y, diff, &config).unwrap());
        assert_ne!(a, stats::bootstrap_two(&x, &y, diff, &Bootstrap { seed: 1, ..config }).unwrap());
        assert!(a.lo < a.hi, "{a:?}");
    }
}

/// 400 seeded repetitions: the 95% interval of the median of 40 normal
/// values covers the true median (0) in about 95% of them. The binomial
/// standard error of the rate is about 1.1 points; the bounds allow for it
/// and for the bootstrap's small-sample bias.
#[test]
fn median_interval_covers_the_truth_about_95_percent_of_the_time() {
    for method in [BootstrapMethod::Percentile, BootstrapMethod::Bca] {
        let mut covered = 0;
        for rep in 0..400u64 {
            let mut rng = Pcg64::seed_from_u64(1000 + rep);
            let x = normal_sample(&mut rng, 40);
            let config = Bootstrap { resamples: 999, confidence: 0.95, method, seed: rep };
            let ci = stats::bootstrap_one(&x, median, &config).unwrap();
            covered += usize::from(ci.lo <= 0.0 && 0.0 <= ci.hi);
        }
        let rate = covered as f64 / 400.0;
        println!("bootstrap {method:?}: one-sample median coverage {:.1}%", rate * 100.0);
        assert!((0.91..=0.985).contains(&rate), "{method:?}: coverage {rate}");
    }
}

/// The ratio of medians of two lognormal samples (true ratio 1.2).
#[test]
fn ratio_interval_covers_the_truth_about_95_percent_of_the_time() {
    for method in [BootstrapMethod::Percentile, BootstrapMethod::Bca] {
        let mut covered = 0;
        for rep in 0..400u64 {
            let mut rng = Pcg64::seed_from_u64(5000 + rep);
            let base: Vec<f64> = normal_sample(&mut rng, 30).iter().map(|z| (0.3 * z).exp()).collect();
            let head: Vec<f64> = normal_sample(&mut rng, 30).iter().map(|z| 1.2 * (0.3 * z).exp()).collect();
            let config = Bootstrap { resamples: 999, confidence: 0.95, method, seed: rep };
            let ci = stats::bootstrap_two(&base, &head, |b, h| median(h) / median(b), &config).unwrap();
            covered += usize::from(ci.lo <= 1.2 && 1.2 <= ci.hi);
        }
        let rate = covered as f64 / 400.0;
        println!("bootstrap {method:?}: two-sample median ratio coverage {:.1}%", rate * 100.0);
        assert!((0.91..=0.985).contains(&rate), "{method:?}: coverage {rate}");
    }
}

#[test]
fn constant_sample_gives_a_point_interval() {
    let x = [3.0; 6];
    for method in [BootstrapMethod::Percentile, BootstrapMethod::Bca] {
        let ci = stats::bootstrap_one(&x, median, &Bootstrap { method, ..Bootstrap::default() }).unwrap();
        assert_eq!((ci.lo, ci.estimate, ci.hi), (3.0, 3.0, 3.0));
    }
}

#[test]
fn bad_input_is_an_error() {
    let config = Bootstrap::default();
    assert!(matches!(stats::bootstrap_one(&[], median, &config), Err(Error::TooFew { .. })));
    // BCa's jackknife needs two values; the percentile method one.
    assert!(matches!(stats::bootstrap_one(&[1.0], median, &config), Err(Error::TooFew { .. })));
    let percentile = Bootstrap { method: BootstrapMethod::Percentile, ..config };
    assert!(stats::bootstrap_one(&[1.0], median, &percentile).is_ok());
    assert!(matches!(stats::bootstrap_one(&[1.0, f64::NAN], median, &config), Err(Error::NotFinite { .. })));
    assert!(matches!(
        stats::bootstrap_one(&[1.0, 2.0], median, &Bootstrap { resamples: 0, ..config }),
        Err(Error::OutOfRange { .. })
    ));
    assert!(matches!(
        stats::bootstrap_one(&[1.0, 2.0], median, &Bootstrap { confidence: 1.0, ..config }),
        Err(Error::OutOfRange { .. })
    ));
    assert!(matches!(stats::bootstrap_one(&[1.0, 2.0], |_| f64::NAN, &config), Err(Error::NonFiniteResult { .. })));
    assert!(matches!(
        stats::bootstrap_two(&[1.0, 2.0], &[], |_, _| 0.0, &config),
        Err(Error::TooFew { what: "y", .. })
    ));
}
