//! Every case SciPy/numpy computed in `tests/fixtures/*.json` (written by
//! `gen_fixtures.py`), checked to 1e-9 absolute or relative.

use serde::Deserialize;
use serde_json::Value;
use stats::{Alternative, Method, MethodUsed, OneSided};

use crate::assert_close;

#[derive(Deserialize)]
struct Fixture<C> {
    versions: Value,
    cases: Vec<C>,
}

fn load<C: for<'de> Deserialize<'de>>(name: &str) -> Vec<C> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    let fixture: Fixture<C> = serde_json::from_str(&text).unwrap_or_else(|e| panic!("parse {name}: {e}"));
    assert!(fixture.versions["scipy"].is_string(), "{name} records the SciPy version");
    assert!(!fixture.cases.is_empty(), "{name} has cases");
    fixture.cases
}

#[derive(Deserialize)]
struct DescribeCase {
    x: Vec<f64>,
    q: Vec<f64>,
    quantile: Vec<f64>,
    mean: f64,
    median: f64,
    variance: Option<f64>,
}

#[test]
fn quantiles_mean_variance_median_match_numpy() {
    let cases: Vec<DescribeCase> = load("describe.json");
    for (i, c) in cases.iter().enumerate() {
        let mut sorted = c.x.clone();
        sorted.sort_by(f64::total_cmp);
        for (&q, &want) in c.q.iter().zip(&c.quantile) {
            assert_close(stats::quantile(&sorted, q).unwrap(), want, &format!("case {i} quantile({q})"));
            let mut scratch = c.x.clone();
            assert_close(stats::quantile_select(&mut scratch, q).unwrap(), want, &format!("case {i} select({q})"));
        }
        assert_close(stats::mean(&c.x).unwrap(), c.mean, &format!("case {i} mean"));
        assert_close(stats::median(&c.x).unwrap(), c.median, &format!("case {i} median"));
        match c.variance {
            Some(v) => assert_close(stats::variance(&c.x).unwrap(), v, &format!("case {i} variance")),
            None => assert!(stats::variance(&c.x).is_err(), "case {i}: variance of one value"),
        }
    }
}

#[derive(Deserialize)]
struct MannWhitneyCase {
    x: Vec<f64>,
    y: Vec<f64>,
    ties: bool,
    results: std::collections::BTreeMap<String, (f64, f64)>,
}

#[test]
fn mann_whitney_matches_scipy() {
    let cases: Vec<MannWhitneyCase> = load("mann_whitney.json");
    let mut checked = 0;
    let (mut exact, mut asymptotic) = (0, 0);
    for (i, c) in cases.iter().enumerate() {
        for (key, &(u, p)) in &c.results {
            let (alt, method) = key.split_once('/').unwrap();
            let alternative = match alt {
                "two-sided" => Alternative::TwoSided,
                "less" => Alternative::Less,
                "greater" => Alternative::Greater,
                other => panic!("alternative {other}"),
            };
            let method = match method {
                "auto" => Method::Auto,
                "exact" => Method::Exact,
                "asymptotic" => Method::Asymptotic,
                other => panic!("method {other}"),
            };
            let what = format!("case {i} ({}x{}, ties: {}) {key}", c.x.len(), c.y.len(), c.ties);
            let r = stats::mann_whitney_u(&c.x, &c.y, alternative, method).unwrap();
            assert_close(r.u, u, &format!("{what}: U"));
            assert_close(r.p_value, p, &format!("{what}: p"));
            if method == Method::Auto {
                // SciPy's rule: exact iff no ties and a sample of at most 8.
                let exact_rule = !c.ties && (c.x.len() <= 8 || c.y.len() <= 8);
                let want = if exact_rule { MethodUsed::Exact } else { MethodUsed::Asymptotic };
                assert_eq!(r.method, want, "{what}: method used");
            }
            match r.method {
                MethodUsed::Exact => exact += 1,
                MethodUsed::Asymptotic => asymptotic += 1,
            }
            checked += 1;
        }
    }
    assert!(checked > 1400 && exact > 400 && asymptotic > 400, "{checked} checks ({exact} exact)");
}

#[derive(Deserialize)]
struct WelchCase {
    x: Vec<f64>,
    y: Vec<f64>,
    results: std::collections::BTreeMap<String, Value>,
    log_results: Option<std::collections::BTreeMap<String, Value>>,
}

fn alternative(name: &str) -> Alternative {
    match name {
        "two-sided" => Alternative::TwoSided,
        "less" => Alternative::Less,
        "greater" => Alternative::Greater,
        other => panic!("alternative {other}"),
    }
}

fn check_welch(r: &stats::WelchT, want: &Value, what: &str) {
    assert_close(r.t, want["t"].as_f64().unwrap(), &format!("{what}: t"));
    assert_close(r.df, want["df"].as_f64().unwrap(), &format!("{what}: df"));
    assert_close(r.p_value, want["p"].as_f64().unwrap(), &format!("{what}: p"));
    for level in [0.9, 0.95, 0.99] {
        if let Some(ci) = want.get(format!("ci{level}")) {
            let (lo, hi) = r.confidence_interval(level).unwrap();
            assert_close(lo, ci[0].as_f64().unwrap(), &format!("{what}: {level} CI low"));
            assert_close(hi, ci[1].as_f64().unwrap(), &format!("{what}: {level} CI high"));
        }
    }
}

#[test]
fn welch_matches_scipy() {
    let cases: Vec<WelchCase> = load("welch.json");
    let mut logs = 0;
    for (i, c) in cases.iter().enumerate() {
        for (alt, want) in &c.results {
            let r = stats::welch_t(&c.x, &c.y, alternative(alt)).unwrap();
            check_welch(&r, want, &format!("case {i} {alt}"));
        }
        for (alt, want) in c.log_results.iter().flatten() {
            let r = stats::welch_t_log(&c.x, &c.y, alternative(alt)).unwrap();
            check_welch(&r, want, &format!("case {i} log {alt}"));
            logs += 1;
        }
    }
    assert!(logs >= 30);
}

#[derive(Deserialize)]
struct BinomialCase {
    k: u64,
    n: u64,
    p: f64,
    greater: f64,
    less: f64,
}

#[test]
fn binomial_test_matches_scipy() {
    let cases: Vec<BinomialCase> = load("binomial.json");
    for c in &cases {
        let what = format!("binomtest({}, {}, {})", c.k, c.n, c.p);
        let greater = stats::binomial_test(c.k, c.n, c.p, OneSided::Greater).unwrap();
        assert_close(greater, c.greater, &format!("{what} greater"));
        let less = stats::binomial_test(c.k, c.n, c.p, OneSided::Less).unwrap();
        assert_close(less, c.less, &format!("{what} less"));
    }
}

#[derive(Deserialize)]
struct HodgesLehmannCase {
    x: Vec<f64>,
    y: Vec<f64>,
    shift: f64,
    one_sample: f64,
}

#[test]
fn hodges_lehmann_matches_numpy() {
    let cases: Vec<HodgesLehmannCase> = load("hodges_lehmann.json");
    for (i, c) in cases.iter().enumerate() {
        assert_close(stats::hodges_lehmann(&c.x, &c.y).unwrap(), c.shift, &format!("case {i} shift"));
        assert_close(stats::hodges_lehmann_one(&c.x).unwrap(), c.one_sample, &format!("case {i} one-sample"));
    }
}
