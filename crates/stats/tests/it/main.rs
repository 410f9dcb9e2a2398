//! Integration tests of the statistics core, through its public API only.

mod bootstrap;
mod criterion;
mod fixtures;
mod formats;
mod gate;
mod harness;
mod props;

/// |actual − expected| ≤ 1e-9, absolutely or relative to `expected`.
#[track_caller]
fn assert_close(actual: f64, expected: f64, what: &str) {
    assert!(close(actual, expected, 1e-9), "{what}: got {actual:e}, SciPy/numpy say {expected:e}");
}

fn close(actual: f64, expected: f64, tol: f64) -> bool {
    if actual == expected {
        return true;
    }
    let diff = (actual - expected).abs();
    diff <= tol || diff <= tol * expected.abs()
}
