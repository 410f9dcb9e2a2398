//! The GitHub Actions front end: `.github/workflows/*.yml` to [`Pipeline`].
//!
//! [`compile`] reads the workflow (YAML 1.2 core schema), validates every
//! key and type, parses every `${{ }}` expression and checks the contexts
//! it uses, decides whether the event triggers the workflow (`on` filters),
//! expands matrices, loads local composite actions and reusable workflows,
//! and produces the shared model: one [`Job`] per job instance, with a
//! [`GhJob`] holding the steps and the expressions the runner evaluates.

pub mod expr;
pub mod filter;
pub mod matrix;

mod workflow;

pub use workflow::{compile, github_context, is_workflow_path};

/// Built-in actions that run natively (owner/name, lowercase).
pub const BUILTIN_ACTIONS: &[&str] = &[
    "actions/checkout",
    "dtolnay/rust-toolchain",
    "actions-rust-lang/setup-rust-toolchain",
    "swatinem/rust-cache",
    "actions/cache",
    "actions/upload-artifact",
    "actions/download-artifact",
    "taiki-e/install-action",
];

/// Whether `owner/name` is run natively.
pub fn is_builtin(owner_name: &str) -> bool {
    let lower = owner_name.to_ascii_lowercase();
    let base = lower.split('/').take(2).collect::<Vec<_>>().join("/");
    BUILTIN_ACTIONS.contains(&base.as_str())
}

/// The files `hashFiles(patterns)` hashes, in the order it hashes them: a
/// depth-first walk with each directory sorted by name (as the runner's glob
/// walks). The caller computes SHA-256 over the SHA-256 of each file's
/// content, in this order (`''` when the list is empty).
///
/// Patterns are relative to the workspace, case-sensitive, match dot files,
/// and apply in order (`!` excludes); a pattern matching a directory
/// matches every file below it.
pub fn hash_files_selection<'a>(paths: &'a [String], patterns: &[String]) -> Result<Vec<&'a String>, String> {
    let mut compiled = Vec::new();
    for p in patterns {
        let (neg, body) = match p.strip_prefix('!') {
            Some(b) => (true, b),
            None => (false, p.as_str()),
        };
        let body = body.trim_start_matches("./");
        let glob = globset::GlobBuilder::new(body)
            .literal_separator(true)
            .backslash_escape(true)
            .build()
            .map_err(|e| format!("invalid pattern `{p}`: {e}"))?
            .compile_matcher();
        compiled.push((neg, glob));
    }
    let mut sorted: Vec<&String> = paths.iter().collect();
    sorted.sort_by(|a, b| a.split('/').cmp(b.split('/')));
    Ok(sorted
        .into_iter()
        .filter(|path| {
            // The file itself or any directory above it.
            let mut candidates = vec![path.as_str()];
            let mut rest = path.as_str();
            while let Some((dir, _)) = rest.rsplit_once('/') {
                candidates.push(dir);
                rest = dir;
            }
            let mut included = false;
            for (neg, g) in &compiled {
                if candidates.iter().any(|c| g.is_match(c)) {
                    included = !neg;
                }
            }
            included
        })
        .collect())
}
