//! End-to-end tests of the `shipway` binary: real pipelines in temporary git
//! repositories, asserted through the exit code, the `--json` result and the
//! job logs. `differential` compares job outcomes with gitlab-ci-local (slow;
//! gated by `SHIPWAY_SLOW_TESTS=1`).

mod bench;
mod caches;
mod cli;
mod differential;
mod differential_github;
mod github;
mod harness;
mod rerun;
mod skipping;
