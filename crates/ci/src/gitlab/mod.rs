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

    /// Project files matching a glob with GitLab's (Ruby `fnmatch`) rules.
    fn glob(&self, pattern: &str) -> Vec<String> {
        let Some(m) = glob_matcher(pattern) else { return vec![] };
        self.files().iter().filter(|f| m.is_match(f.as_str())).cloned().collect()
    }
}

fn glob_matcher(pattern: &str) -> Option<globset::GlobMatcher> {
    globset::GlobBuilder::new(pattern)
        .literal_separator(true)
        .backslash_escape(true)
        .build()
        .ok()
        .map(|g| g.compile_matcher())
}

/// Whether `path` matches the glob `pattern` (`*` stays within a directory,
/// `**` crosses directories, dot files match).
pub fn glob_match(pattern: &str, path: &str) -> bool {
    glob_matcher(pattern).is_some_and(|m| m.is_match(path))
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
                g.message.split_once('\n').map(|(_, rest)| rest.trim_start_matches('\n').to_string()).unwrap_or_default(),
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
            Diagnostic::error("unsupported", "unsupported: `spec:` headers (CI/CD inputs) are not supported yet").at_mark(spec.mark),
        );
    }
    load::resolve_extends(&mut root, &mut diags);
    load::resolve_references(&mut root, &mut diags);
    let built = build::build(&root, path, ctx, project, &mut diags);
    diags.sort_by(|a, b| (a.file, a.pos).cmp(&(b.file, b.pos)));
    diags.dedup();
    Compiled {
        sources,
        pipeline: built.pipeline,
        diagnostics: diags,
        excluded: built.excluded,
        workflow_excluded: built.workflow_excluded,
    }
}
