//! Exit codes, as documented in the README.

/// Everything succeeded.
pub(crate) const SUCCESS: i32 = 0;
/// The pipeline, gate or rollout failed.
pub(crate) const FAILED: i32 = 1;
/// Invalid input or configuration.
pub(crate) const INVALID: i32 = 2;
/// An internal error.
pub(crate) const INTERNAL: i32 = 3;
/// Interrupted (Ctrl-C / SIGTERM).
pub(crate) const INTERRUPTED: i32 = 130;
