//! The GitLab CI front end: `.gitlab-ci.yml` to [`Pipeline`].
//!
//! Three stages: [`load`] reads files and merges includes, `extends` and
//! `!reference` into one tree; [`job`] validates keywords into typed
//! definitions; [`build`] applies the run context (ref, event, variables,
//! changed files) and produces the model. The project's files are reached
//! only through the [`Project`] trait, so this module never touches the disk.

pub mod expr;

mod build;
mod job;
mod load;

pub use job::parse_duration;

use crate::diag::{Diagnostic, SourceMap};
use crate::model::Pipeline;
use crate::vars::RawVar;

/// What the front end may ask of the project: file contents, the file list,
/// and which files changed. Implemented over the real disk and git by the
/// runner, and in memory by tests.
pub trait Project {
    /// Read a file by path relative to the project root.
    fn read(&self, path: &str) -> Result<String, String>;
    /// Every project file, relative, `/`-separated.
    fn files(&self) -> &[String];
    /// Files changed against `compare_to` (or the default base when `None`).
    /// `None` when it cannot be known; GitLab then treats `changes` as true.
    fn changed(&self, compare_to: Option<&str>) -> Option<Vec<String>>;

    /// Project files matching a glob with GitLab's (Ruby `fnmatch`) rules,
    /// see [`glob_match`].
    fn glob(&self, pattern: &str) -> Vec<String> {
        self.files().iter().filter(|f| glob_match(pattern, f)).cloned().collect()
    }
}

/// Whether `path` matches the glob `pattern` the way GitLab matches
/// `rules:changes` and `rules:exists`: Ruby's `File.fnmatch?` with
/// `FNM_PATHNAME | FNM_DOTMATCH | FNM_EXTGLOB`. So `*`, `?` and `[...]` stay
/// within one directory, a `**/` path segment matches zero or more
/// directories (a `**` not followed by `/` is a plain `*`), dot files match,
/// and `{a,b}` lists alternatives.
pub fn glob_match(pattern: &str, path: &str) -> bool {
    let parts: Vec<&str> = path.split('/').collect();
    expand_braces(pattern, 0).iter().any(|p| {
        let segs: Vec<&str> = p.split('/').collect();
        segments_match(&segs, &parts)
    })
}

/// At most this many alternatives come out of `{a,b}` expansion, from at
/// most this many nested groups; GitLab's patterns are short, and a hostile
/// one must neither explode nor exhaust the stack.
const MAX_BRACE_ALTERNATIVES: usize = 256;
const MAX_BRACE_DEPTH: usize = 16;

/// `a{b,c{d,e}}f` -> `abf`, `acdf`, `acef`. Unbalanced braces stay literal.
fn expand_braces(pattern: &str, depth: usize) -> Vec<String> {
    if depth > MAX_BRACE_DEPTH {
        return vec![pattern.to_string()];
    }
    let chars: Vec<char> = pattern.chars().collect();
    // Find the first top-level `{ ... }` group with its commas.
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '\\' => i += 2,
            '{' => {
                let mut nest = 0;
                let mut commas = Vec::new();
                let mut j = i;
                while j < chars.len() {
                    match chars[j] {
                        '\\' => j += 1,
                        '{' => nest += 1,
                        '}' => {
                            nest -= 1;
                            if nest == 0 {
                                break;
                            }
                        }
                        ',' if nest == 1 => commas.push(j),
                        _ => {}
                    }
                    j += 1;
                }
                if j >= chars.len() {
                    return vec![pattern.to_string()];
                }
                let prefix: String = chars[..i].iter().collect();
                let suffix: String = chars[j + 1..].iter().collect();
                let mut bounds = vec![i];
                bounds.extend(&commas);
                bounds.push(j);
                let mut out = Vec::new();
                for w in bounds.windows(2) {
                    let alt: String = chars[w[0] + 1..w[1]].iter().collect();
                    for rest in expand_braces(&format!("{prefix}{alt}{suffix}"), depth + 1) {
                        if out.len() >= MAX_BRACE_ALTERNATIVES {
                            return out;
                        }
                        out.push(rest);
                    }
                }
                return out;
            }
            _ => i += 1,
        }
    }
    vec![pattern.to_string()]
}

/// Path segments against pattern segments, where a `**` segment that is
/// followed by another segment matches any number of path segments.
fn segments_match(pat: &[&str], path: &[&str]) -> bool {
    // reach[j]: the pattern so far can consume exactly the first j segments.
    let mut reach = vec![false; path.len() + 1];
    reach[0] = true;
    for (i, seg) in pat.iter().enumerate() {
        let mut next = vec![false; path.len() + 1];
        if *seg == "**" && i + 1 < pat.len() {
            let mut any = false;
            for j in 0..=path.len() {
                any |= reach[j];
                next[j] = any;
            }
        } else {
            for j in 0..path.len() {
                if reach[j] && segment_match(seg, path[j]) {
                    next[j + 1] = true;
                }
            }
        }
        reach = next;
    }
    reach[path.len()]
}

/// One segment: `*`, `?`, `[...]` (with `!`/`^` negation and ranges) and `\`
/// escapes.
fn segment_match(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0, 0);
    let mut backtrack: Option<(usize, usize)> = None;
    while ti < t.len() {
        let step = match p.get(pi) {
            Some('*') => {
                backtrack = Some((pi, ti));
                pi += 1;
                continue;
            }
            Some('?') => Some(pi + 1),
            Some('[') => match class_match(&p, pi, t[ti]) {
                Some((true, end)) => Some(end),
                Some((false, _)) => None,
                None => (t[ti] == '[').then_some(pi + 1),
            },
            Some('\\') if pi + 1 < p.len() => (p[pi + 1] == t[ti]).then_some(pi + 2),
            Some(&c) => (c == t[ti]).then_some(pi + 1),
            None => None,
        };
        match step {
            Some(next) => {
                pi = next;
                ti += 1;
            }
            None => match backtrack {
                Some((star, consumed)) => {
                    pi = star + 1;
                    ti = consumed + 1;
                    backtrack = Some((star, consumed + 1));
                }
                None => return false,
            },
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

/// Match `c` against the class starting at `p[start] == '['`: whether it
/// matched and the index after the class, or `None` if the class is not
/// closed (then `[` is literal).
fn class_match(p: &[char], start: usize, c: char) -> Option<(bool, usize)> {
    let mut i = start + 1;
    let negate = matches!(p.get(i), Some('!') | Some('^'));
    if negate {
        i += 1;
    }
    let mut matched = false;
    let mut first = true;
    loop {
        let mut lo = *p.get(i)?;
        if lo == ']' && !first {
            return Some((matched != negate, i + 1));
        }
        first = false;
        if lo == '\\' {
            i += 1;
            lo = *p.get(i)?;
        }
        if p.get(i + 1) == Some(&'-') && p.get(i + 2).is_some_and(|&h| h != ']') {
            let mut hi_i = i + 2;
            if p[hi_i] == '\\' {
                hi_i += 1;
            }
            let hi = *p.get(hi_i)?;
            matched |= lo <= c && c <= hi;
            i = hi_i + 1;
        } else {
            matched |= lo == c;
            i += 1;
        }
    }
}

/// Facts about the commit being built, read from git by the runner.
#[derive(Clone, Debug, Default)]
pub struct GitInfo {
    pub sha: String,
    pub before_sha: String,
    /// The branch or tag name.
    pub ref_name: String,
    pub is_tag: bool,
    pub default_branch: String,
    pub message: String,
    pub author_name: String,
    pub author_email: String,
    /// ISO 8601 commit time.
    pub timestamp: String,
    pub project_name: String,
    pub project_namespace: String,
    pub repo_url: String,
}

/// Everything outside the YAML that decides what a pipeline is.
#[derive(Clone, Debug, Default)]
pub struct Context {
    /// `CI_PIPELINE_SOURCE`: `push`, `merge_request_event`, `web`, `schedule`, ...
    pub source: String,
    pub git: GitInfo,
    pub pipeline_id: u64,
    /// `--var K=V`: pipeline variables, highest precedence.
    pub pipeline_vars: Vec<(String, String)>,
    /// `--secret K=V`: like pipeline variables, and always masked.
    pub secrets: Vec<(String, String)>,
    /// The host environment; variable expansion falls back to it, as a shell
    /// executor would.
    pub host_env: Vec<(String, String)>,
    /// ISO 8601 time the pipeline was created.
    pub created_at: String,
    /// The pipeline file, relative to the project root.
    pub config_path: String,
    /// `--input K=V`: `workflow_dispatch` inputs (GitHub Actions).
    pub inputs: Vec<(String, String)>,
}

impl Context {
    pub(crate) fn env(&self, key: &str) -> Option<String> {
        self.host_env.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v.clone())
    }

    pub(crate) fn pipeline_layer(&self) -> Vec<RawVar> {
        self.pipeline_vars
            .iter()
            .chain(self.secrets.iter())
            .map(|(k, v)| RawVar { key: k.clone(), value: v.clone(), expand: false })
            .collect()
    }

    /// Predefined `CI_*` variables that do not depend on the job.
    pub fn predefined(&self) -> Vec<RawVar> {
        let g = &self.git;
        let mut v: Vec<(&str, String)> = vec![
            ("CI", "true".into()),
            ("GITLAB_CI", "true".into()),
            ("CI_SERVER", "yes".into()),
            ("CI_SERVER_NAME", "GitLab".into()),
            ("CI_SERVER_HOST", "localhost".into()),
            ("CI_SERVER_URL", "http://localhost".into()),
            ("CI_PIPELINE_ID", self.pipeline_id.to_string()),
            ("CI_PIPELINE_IID", self.pipeline_id.to_string()),
            ("CI_PIPELINE_SOURCE", self.source.clone()),
            ("CI_PIPELINE_CREATED_AT", self.created_at.clone()),
            ("CI_CONFIG_PATH", self.config_path.clone()),
            ("CI_COMMIT_SHA", g.sha.clone()),
            ("CI_COMMIT_SHORT_SHA", g.sha.chars().take(8).collect()),
            ("CI_COMMIT_BEFORE_SHA", g.before_sha.clone()),
            ("CI_COMMIT_REF_NAME", g.ref_name.clone()),
            ("CI_COMMIT_REF_SLUG", crate::vars::slug(&g.ref_name)),
            ("CI_COMMIT_REF_PROTECTED", "false".into()),
            ("CI_COMMIT_MESSAGE", g.message.clone()),
            ("CI_COMMIT_TITLE", g.message.lines().next().unwrap_or("").to_string()),
            (
                "CI_COMMIT_DESCRIPTION",
                g.message
                    .split_once('\n')
                    .map(|(_, rest)| rest.trim_start_matches('\n').to_string())
                    .unwrap_or_default(),
            ),
            ("CI_COMMIT_AUTHOR", format!("{} <{}>", g.author_name, g.author_email)),
            ("CI_COMMIT_TIMESTAMP", g.timestamp.clone()),
            ("CI_DEFAULT_BRANCH", g.default_branch.clone()),
            ("CI_PROJECT_NAME", g.project_name.clone()),
            ("CI_PROJECT_TITLE", g.project_name.clone()),
            ("CI_PROJECT_NAMESPACE", g.project_namespace.clone()),
            ("CI_PROJECT_ROOT_NAMESPACE", g.project_namespace.split('/').next().unwrap_or("").to_string()),
            ("CI_PROJECT_PATH", format!("{}/{}", g.project_namespace, g.project_name)),
            ("CI_PROJECT_PATH_SLUG", crate::vars::slug(&format!("{}/{}", g.project_namespace, g.project_name))),
            ("CI_PROJECT_URL", format!("http://localhost/{}/{}", g.project_namespace, g.project_name)),
            ("CI_PROJECT_VISIBILITY", "private".into()),
            ("CI_REPOSITORY_URL", g.repo_url.clone()),
            ("GITLAB_USER_NAME", g.author_name.clone()),
            ("GITLAB_USER_EMAIL", g.author_email.clone()),
            ("GITLAB_USER_LOGIN", g.author_email.split('@').next().unwrap_or("").to_string()),
        ];
        if g.is_tag {
            v.push(("CI_COMMIT_TAG", g.ref_name.clone()));
        } else if self.source == "merge_request_event" {
            v.extend([
                ("CI_MERGE_REQUEST_ID", "1".to_string()),
                ("CI_MERGE_REQUEST_IID", "1".to_string()),
                ("CI_MERGE_REQUEST_SOURCE_BRANCH_NAME", g.ref_name.clone()),
                ("CI_MERGE_REQUEST_TARGET_BRANCH_NAME", g.default_branch.clone()),
                ("CI_MERGE_REQUEST_EVENT_TYPE", "detached".to_string()),
                ("CI_MERGE_REQUEST_SOURCE_BRANCH_SHA", g.sha.clone()),
                ("CI_MERGE_REQUEST_TITLE", g.message.lines().next().unwrap_or("").to_string()),
            ]);
        } else {
            v.push(("CI_COMMIT_BRANCH", g.ref_name.clone()));
        }
        v.into_iter().map(|(k, val)| RawVar { key: k.to_string(), value: val, expand: false }).collect()
    }

    /// Predefined and pipeline variables, for `include:rules`.
    pub(crate) fn predefined_lookup(&self, key: &str) -> Option<String> {
        let pl = self.pipeline_layer();
        if let Some(v) = pl.iter().rev().find(|v| v.key == key) {
            return Some(v.value.clone());
        }
        self.predefined().into_iter().find(|v| v.key == key).map(|v| v.value)
    }
}

/// The result of compiling a pipeline file.
#[derive(Debug)]
pub struct Compiled {
    pub sources: SourceMap,
    /// `None` when loading failed badly or `workflow:rules` excluded the pipeline.
    pub pipeline: Option<Pipeline>,
    /// Every problem found, errors and warnings, in file order.
    pub diagnostics: Vec<Diagnostic>,
    /// Jobs left out of this pipeline, with why.
    pub excluded: Vec<(String, String)>,
    pub workflow_excluded: bool,
}

impl Compiled {
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(|d| d.is_error())
    }
}

/// Compile `path` (relative to the project root) into a pipeline.
pub fn compile(path: &str, project: &dyn Project, ctx: &Context) -> Compiled {
    let mut sources = SourceMap::default();
    let mut diags = Vec::new();
    let Some(loaded) = load::load(path, project, ctx, &mut sources, &mut diags) else {
        return Compiled { sources, pipeline: None, diagnostics: diags, excluded: vec![], workflow_excluded: false };
    };
    let mut root = loaded.root;
    if let Some(m) = root.as_map()
        && let Some(spec) = m.get("spec")
    {
        diags.push(
            Diagnostic::error("unsupported", "unsupported: `spec:` headers (CI/CD inputs) are not supported yet")
                .at_mark(spec.mark),
        );
    }
    load::resolve_extends(&mut root, &mut diags);
    load::resolve_references(&mut root, &mut diags);
    let built = build::build(&root, path, ctx, project, &sources, &mut diags);
    diags.sort_by_key(|d| (d.file, d.pos));
    diags.dedup();
    Compiled {
        sources,
        pipeline: built.pipeline,
        diagnostics: diags,
        excluded: built.excluded,
        workflow_excluded: built.workflow_excluded,
    }
}

#[cfg(test)]
mod tests {
    use super::glob_match;

    #[test]
    fn globs_follow_ruby_fnmatch() {
        // `*` stays within a directory; `**/` crosses directories, zero or more.
        assert!(glob_match("*.rs", "main.rs"));
        assert!(!glob_match("*.rs", "src/main.rs"));
        assert!(glob_match("src/**/*.rs", "src/main.rs"));
        assert!(glob_match("src/**/*.rs", "src/a/b/main.rs"));
        assert!(glob_match("**/*.md", "README.md"));
        // `**` that is not a whole segment followed by `/` is a plain `*`.
        assert!(glob_match("docs/**", "docs/a.md"));
        assert!(!glob_match("docs/**", "docs/a/b.md"));
        assert!(glob_match("**.md", "a.md"));
        assert!(!glob_match("**.md", "d/a.md"));
        // Dot files match, classes, `?`, escapes and braces.
        assert!(glob_match("*", ".env"));
        assert!(glob_match("**/*", ".github/x.yml"));
        assert!(glob_match("file[0-9].txt", "file7.txt"));
        assert!(!glob_match("file[!0-9].txt", "file7.txt"));
        assert!(glob_match("a?c", "abc"));
        assert!(glob_match(r"a\*c", "a*c"));
        assert!(!glob_match(r"a\*c", "abc"));
        assert!(glob_match("*.{js,ts}", "app.ts"));
        assert!(glob_match("{src,lib}/**/*.{rs,toml}", "lib/x/Cargo.toml"));
        assert!(!glob_match("{src,lib}/*.rs", "bin/main.rs"));
        assert!(glob_match("[", "["));
        // Hostile nesting neither recurses without bound nor panics.
        let deep = format!("{}x{}", "{".repeat(10_000), "}".repeat(10_000));
        assert!(!glob_match(&deep, "y"));
    }
}
