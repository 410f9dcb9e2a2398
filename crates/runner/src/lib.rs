//! `runner` executes pipelines: job workspaces, processes in their own
//! process groups, logs with secrets masked, artifacts and caches within a
//! run, and the dispatcher that drives `ci::plan::Scheduler`.
//!
//! It never parses YAML and never decides scheduling rules: those live in
//! `ci`. It never prints: everything goes through `executor::Reporter`.

pub mod cache;
pub mod executor;
pub mod github;
mod journal;
pub mod keys;
pub mod lock;
pub mod mask;
pub mod process;
pub mod project;
pub mod slots;
pub mod time;
pub mod workspace;
