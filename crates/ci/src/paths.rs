//! Static checks that paths written in a pipeline stay inside the job's
//! workspace: no absolute paths, no `..` that climbs above the root.
//!
//! Only literal paths are judged here. A path with a `$VAR` reference or a
//! `${{ }}` expression is left to the runner, which checks every path again
//! once it is expanded.

use crate::diag::Diagnostic;
use crate::yaml::Mark;

/// The rule name of the diagnostics made here.
pub const RULE: &str = "path-outside-workspace";

/// How a path leaves the workspace.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Escape {
    /// It starts with `/`.
    Absolute,
    /// A `..` segment climbs above the root (`../x`, `a/../../x`).
    Climbs,
}

/// How the literal, relative path `path` leaves the workspace, if it does.
/// Surrounding whitespace is ignored; `.` and empty segments do nothing, and
/// `a/../x` stays inside.
pub fn escape(path: &str) -> Option<Escape> {
    let p = path.trim();
    if p.starts_with('/') {
        return Some(Escape::Absolute);
    }
    let mut depth: usize = 0;
    for seg in p.split('/') {
        match seg {
            "" | "." => {}
            ".." => match depth.checked_sub(1) {
                Some(d) => depth = d,
                None => return Some(Escape::Climbs),
            },
            _ => depth += 1,
        }
    }
    None
}

/// Whether `path` holds a variable reference or an expression (any `$`),
/// which only the runner can judge.
pub fn is_dynamic(path: &str) -> bool {
    path.contains('$')
}

/// The part of a GitLab path to check statically: the path itself when it
/// is literal, what follows `$CI_PROJECT_DIR/` (or `${CI_PROJECT_DIR}/`)
/// when that prefix makes it project-relative, and `None` when it depends
/// on other variables.
pub fn gitlab_literal(path: &str) -> Option<&str> {
    let p = path.trim();
    let rest = ["$CI_PROJECT_DIR/", "${CI_PROJECT_DIR}/"]
        .iter()
        .find_map(|prefix| p.strip_prefix(prefix))
        .map(|r| r.trim_start_matches('/'))
        .unwrap_or(p);
    (!is_dynamic(rest)).then_some(rest)
}

/// The error for `path` (as written), `what` naming its place, e.g.
/// "artifacts path".
pub fn diagnostic(what: &str, path: &str, escape: Escape, mark: Mark) -> Diagnostic {
    let help = match escape {
        Escape::Absolute => "paths are relative to the job's workspace (the project directory); drop the leading `/`",
        Escape::Climbs => "`..` here climbs above the job's workspace (the project directory)",
    };
    Diagnostic::error(RULE, format!("{what} `{}` is outside the job workspace", path.trim())).at_mark(mark).help(help)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes() {
        assert_eq!(escape("/etc/passwd"), Some(Escape::Absolute));
        assert_eq!(escape("  /x"), Some(Escape::Absolute));
        assert_eq!(escape("../x"), Some(Escape::Climbs));
        assert_eq!(escape(".."), Some(Escape::Climbs));
        assert_eq!(escape("a/../../x"), Some(Escape::Climbs));
        assert_eq!(escape("./../x"), Some(Escape::Climbs));
        assert_eq!(escape("a/../x"), None);
        assert_eq!(escape("a/b/../../x"), None);
        assert_eq!(escape("./build/**/*.log"), None);
        assert_eq!(escape("dir..name/x"), None);
        assert_eq!(escape("~/.cargo"), None);
        assert_eq!(escape(""), None);
    }

    #[test]
    fn gitlab_prefixes() {
        assert_eq!(gitlab_literal("build/out"), Some("build/out"));
        assert_eq!(gitlab_literal("$CI_PROJECT_DIR/build"), Some("build"));
        assert_eq!(gitlab_literal("${CI_PROJECT_DIR}/../x"), Some("../x"));
        assert_eq!(gitlab_literal("$OUT/x"), None);
        assert_eq!(gitlab_literal("$CI_PROJECT_DIR/$SUB"), None);
        assert_eq!(gitlab_literal("$CI_PROJECT_DIR"), None);
        assert_eq!(gitlab_literal("$CI_PROJECT_DIRX/y"), None);
    }
}
