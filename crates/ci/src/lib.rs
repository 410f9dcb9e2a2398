//! `ci` is shipway's pure core for pipelines: the YAML tree with positions,
//! the shared pipeline model, the GitLab CI front end, and the DAG plan.
//!
//! It must never do I/O: no files, no processes, no clock, no network. The
//! project's files arrive through the `gitlab::Project` trait and time is
//! passed in. That keeps every rule here testable from plain data.

pub mod diag;
pub mod github;
pub mod gitlab;
pub mod model;
pub mod paths;
pub mod plan;
pub mod vars;
pub mod yaml;
