//! The pipeline model shared by every front end.
//!
//! A [`Pipeline`] is fully resolved: includes, `extends`, `!reference`,
//! defaults, rules and matrices have been applied, needs point at job
//! indices, and variables are merged in precedence order. The scheduler and
//! the runner only ever see this model, never YAML.

use crate::github::expr::{Expr, Template, Value};
use crate::yaml::Mark;
use serde::Serialize;

#[derive(Clone, Debug, Default)]
pub struct Pipeline {
    /// `workflow:name`, if any.
    pub name: Option<String>,
    /// The pipeline file, relative to the project root.
    pub file: String,
    pub stages: Vec<String>,
    pub jobs: Vec<Job>,
}

impl Pipeline {
    /// GitLab creates no pipeline when rules leave no jobs, or only jobs in
    /// `.pre`/`.post`.
    pub fn is_empty(&self) -> bool {
        self.jobs.iter().all(|j| j.stage == ".pre" || j.stage == ".post")
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum When {
    OnSuccess,
    OnFailure,
    Always,
    Manual,
    Delayed,
}

impl When {
    pub fn as_str(self) -> &'static str {
        match self {
            When::OnSuccess => "on_success",
            When::OnFailure => "on_failure",
            When::Always => "always",
            When::Manual => "manual",
            When::Delayed => "delayed",
        }
    }
}

/// `allow_failure`: `allowed` alone, or only for the listed exit codes.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct AllowFailure {
    pub allowed: bool,
    pub exit_codes: Vec<i32>,
}

impl AllowFailure {
    /// Whether a failure with this exit code (None: not an exit, e.g. a
    /// timeout or a signal) is allowed.
    pub fn permits(&self, exit_code: Option<i32>) -> bool {
        if !self.exit_codes.is_empty() {
            return exit_code.is_some_and(|c| self.exit_codes.contains(&c));
        }
        self.allowed
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Retry {
    pub max: u32,
    /// Failure kinds to retry on (`always`, `script_failure`,
    /// `job_execution_timeout`, ...). Empty means `always`.
    pub when: Vec<String>,
    pub exit_codes: Vec<i32>,
}

/// Why an attempt failed, as far as `retry:when` is concerned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailureKind {
    Script,
    Timeout,
    System,
}

impl Retry {
    pub fn should_retry(&self, attempt: u32, kind: FailureKind, exit_code: Option<i32>) -> bool {
        if attempt >= self.max {
            return false;
        }
        let when_ok = self.when.is_empty()
            || self.when.iter().any(|w| match w.as_str() {
                "always" => true,
                "script_failure" => kind == FailureKind::Script,
                "job_execution_timeout" => kind == FailureKind::Timeout,
                "unknown_failure" | "runner_system_failure" => kind == FailureKind::System,
                _ => false,
            });
        let code_ok = self.exit_codes.is_empty() || exit_code.is_some_and(|c| self.exit_codes.contains(&c));
        when_ok && code_ok
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ArtifactsWhen {
    #[default]
    OnSuccess,
    OnFailure,
    Always,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Artifacts {
    pub name: Option<String>,
    pub paths: Vec<String>,
    pub exclude: Vec<String>,
    pub untracked: bool,
    pub when: ArtifactsWhen,
    pub expire_in: Option<String>,
    /// `reports:dotenv` files.
    pub dotenv: Vec<String>,
    /// `reports:junit` files.
    pub junit: Vec<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum CachePolicy {
    #[default]
    PullPush,
    Pull,
    Push,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum CacheWhen {
    #[default]
    OnSuccess,
    OnFailure,
    Always,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CacheKey {
    /// A literal key (variables already expanded).
    Literal(String),
    /// `key:files` (with optional `prefix`): hashed from file content at run time.
    Files { files: Vec<String>, prefix: Option<String> },
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Cache {
    pub key: CacheKey,
    pub paths: Vec<String>,
    pub untracked: bool,
    pub policy: CachePolicy,
    pub when: CacheWhen,
    pub fallback_keys: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Environment {
    pub name: String,
    pub url: Option<String>,
    pub action: Option<String>,
}

/// An edge of the DAG: this job needs `job` (an index into `Pipeline::jobs`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct NeedEdge {
    pub job: usize,
    /// Whether the needed job's artifacts are downloaded.
    pub artifacts: bool,
}

#[derive(Clone, Debug)]
pub struct Job {
    /// The name as GitLab shows it (`test 1/3`, `deploy: [aws, app]`).
    pub name: String,
    /// The job's key in the pipeline file.
    pub definition: String,
    pub stage: String,
    pub stage_index: usize,
    /// `Some` when the job declares `needs:` (a DAG job, even `needs: []`);
    /// `None` when it follows stage order.
    pub needs: Option<Vec<NeedEdge>>,
    /// `dependencies:` restricted to these jobs' artifacts.
    pub dependencies: Option<Vec<usize>>,
    pub when: When,
    pub start_in_secs: Option<u64>,
    pub allow_failure: AllowFailure,
    pub before_script: Vec<String>,
    pub script: Vec<String>,
    pub after_script: Vec<String>,
    /// Every variable of the job, in precedence order already applied and
    /// expanded: predefined, global, job, rules, matrix, pipeline.
    pub variables: Vec<(String, String)>,
    /// Variable names whose values must never be shown.
    pub masked: Vec<String>,
    pub timeout_secs: u64,
    pub retry: Retry,
    pub artifacts: Option<Artifacts>,
    pub caches: Vec<Cache>,
    pub environment: Option<Environment>,
    /// `coverage:` regex, without the surrounding slashes.
    pub coverage: Option<String>,
    pub image: Option<String>,
    /// `parallel:` instance (1-based) and total.
    pub node: Option<(u32, u32)>,
    pub mark: Mark,
    /// GitHub Actions jobs: steps, outputs, matrix, conditions.
    pub github: Option<Box<GhJob>>,
    /// The files the job declares it reads (`rules:changes` or
    /// `only:changes`, with `cache:key:files` added; GitHub `paths` and
    /// `paths-ignore` filters of the triggering event); `None`: every file
    /// of the snapshot. Feeds the job's content-addressed key; see
    /// [`Job::input_files`].
    pub inputs: Option<InputSpec>,
    /// `false` when the job must never be skipped as unchanged
    /// (`shipway: {cache: false}`, or a `SHIPWAY_NO_SKIP` variable).
    pub skippable: bool,
}

/// Which files of the snapshot a job reads, as declared in the pipeline.
///
/// A file is an input when `include` selects it and no `exclude` pattern
/// matches it. An empty `include` selects every file (a GitHub trigger with
/// only `paths-ignore`). With [`PatternSyntax::GitLab`] `include` selects a
/// file that matches any of its patterns; with [`PatternSyntax::GitHub`] the
/// patterns apply in order and a matching `!pattern` drops a file an earlier
/// pattern selected (as GitHub evaluates `on.<event>.paths`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct InputSpec {
    pub include: Vec<String>,
    pub exclude: Vec<String>,
    pub syntax: PatternSyntax,
}

/// How `InputSpec` patterns match paths.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub enum PatternSyntax {
    /// Ruby `File.fnmatch?` as GitLab's `rules:changes` uses it.
    #[default]
    GitLab,
    /// GitHub's filter pattern syntax (`on.push.paths`).
    GitHub,
}

impl InputSpec {
    /// Whether `path` (relative to the project root, `/`-separated) is one
    /// of the job's inputs.
    pub fn matches(&self, path: &str) -> bool {
        Selector::new(self).matches(path)
    }
}

/// An [`InputSpec`] with its patterns compiled once, for many paths.
enum Selector<'s> {
    GitLab(&'s InputSpec),
    GitHub { include: Vec<GhPattern>, exclude: Vec<crate::github::filter::Pattern> },
}

/// A GitHub include pattern; `Invalid` stands for one that does not compile
/// (the front end reports those, so only hand-made specs have them).
enum GhPattern {
    Valid(crate::github::filter::Pattern),
    /// Selects every path when not negated; ignored when negated. Either
    /// way the job's key covers more files rather than fewer.
    Invalid {
        negated: bool,
    },
}

impl<'s> Selector<'s> {
    fn new(spec: &'s InputSpec) -> Selector<'s> {
        use crate::github::filter;
        match spec.syntax {
            PatternSyntax::GitLab => Selector::GitLab(spec),
            PatternSyntax::GitHub => Selector::GitHub {
                include: spec
                    .include
                    .iter()
                    .map(|p| match filter::compile(p) {
                        Ok(c) => GhPattern::Valid(c),
                        Err(_) => GhPattern::Invalid { negated: p.starts_with('!') },
                    })
                    .collect(),
                // An exclusion that does not compile excludes nothing.
                exclude: spec.exclude.iter().filter_map(|p| filter::compile(p).ok()).collect(),
            },
        }
    }

    fn matches(&self, path: &str) -> bool {
        match self {
            Selector::GitLab(spec) => {
                // As `rules:changes` matches: a leading `/` means the project root.
                let glob = |p: &String| crate::gitlab::glob_match(p.trim_start_matches('/'), path);
                (spec.include.is_empty() || spec.include.iter().any(glob)) && !spec.exclude.iter().any(glob)
            }
            Selector::GitHub { include, exclude } => {
                let mut selected = include.is_empty();
                for p in include {
                    match p {
                        GhPattern::Valid(p) if p.matches(path) => selected = !p.negated,
                        GhPattern::Invalid { negated: false } => selected = true,
                        _ => {}
                    }
                }
                selected && !crate::github::filter::included(exclude, path)
            }
        }
    }
}

/// Whether a `SHIPWAY_NO_SKIP` value asks never to skip a job: any value
/// but an empty one (after trimming), `0` or `false` (in any case).
pub fn no_skip_value(value: &str) -> bool {
    let v = value.trim();
    !(v.is_empty() || v == "0" || v.eq_ignore_ascii_case("false"))
}

impl Job {
    pub fn var(&self, key: &str) -> Option<&str> {
        self.variables.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    /// The files of `files` (the snapshot's, relative to the project root)
    /// the job reads: all of them when it declares no inputs, in the order
    /// given.
    pub fn input_files<'a>(&self, files: &'a [String]) -> Vec<&'a str> {
        match &self.inputs {
            None => files.iter().map(String::as_str).collect(),
            Some(spec) => {
                let sel = Selector::new(spec);
                files.iter().map(String::as_str).filter(|f| sel.matches(f)).collect()
            }
        }
    }
}

/// The default job timeout, as on gitlab.com (1 hour).
pub const DEFAULT_TIMEOUT_SECS: u64 = 3600;

/// What a GitHub Actions job carries beyond the shared model: steps and the
/// expressions the runner evaluates while the job runs.
#[derive(Clone, Debug)]
pub struct GhJob {
    /// The job's id in the workflow (`jobs.<id>`).
    pub id: String,
    /// The workflow's name (`github.workflow`).
    pub workflow: String,
    /// The job's name without matrix values (GitHub shows a skipped matrix
    /// job once, under this name).
    pub base_name: String,
    /// Job-level `if`, with the implicit `success() &&` applied.
    pub condition: Expr,
    /// The ids of the jobs in `needs`, for the `needs` context (same order as
    /// `Job::needs`).
    pub needs_ids: Vec<String>,
    /// Every job this one depends on, transitively (for `failure()`).
    pub ancestors: Vec<usize>,
    /// This instance's `matrix` context (`Null` without a matrix).
    pub matrix: Value,
    pub strategy: Strategy,
    /// Static contexts: `github`, `vars`, `inputs`.
    pub github: Value,
    pub vars: Value,
    pub inputs: Value,
    /// The secrets this job may see (`secrets.*`), always masked.
    pub secrets: Vec<(String, String)>,
    /// Workflow-level env then job-level env (later entries win).
    pub env: Vec<(String, Template)>,
    pub defaults: RunDefaults,
    pub outputs: Vec<(String, Template)>,
    pub steps: Vec<Step>,
    /// Job-level `continue-on-error` (already evaluated).
    pub continue_on_error: bool,
    /// The evaluated `concurrency` group: jobs of one group never run at once.
    pub concurrency: Option<String>,
}

#[derive(Clone, Debug, Default)]
pub struct Strategy {
    /// Jobs of one matrix share a group id (the index of its first job).
    pub group: Option<usize>,
    pub fail_fast: bool,
    pub max_parallel: Option<usize>,
    pub job_index: usize,
    pub job_total: usize,
}

#[derive(Clone, Debug, Default)]
pub struct RunDefaults {
    pub shell: Option<String>,
    pub working_directory: Option<String>,
}

#[derive(Clone, Debug)]
pub struct Step {
    /// `id:`, or a generated `__N` id.
    pub id: String,
    pub explicit_id: bool,
    /// The name shown in logs.
    pub name: String,
    pub condition: Expr,
    pub kind: StepKind,
    pub env: Vec<(String, Template)>,
    pub continue_on_error: Option<Template>,
    pub timeout_minutes: Option<Template>,
    pub mark: Mark,
}

#[derive(Clone, Debug)]
pub enum StepKind {
    Run {
        script: Template,
        shell: Option<String>,
        working_directory: Option<Template>,
    },
    /// `uses: owner/name@ref` (a remote action; built-in ones run natively).
    Action {
        owner_name: String,
        git_ref: String,
        with: Vec<(String, Template)>,
    },
    /// `uses: ./path`: a local composite action, loaded at compile time.
    Composite {
        path: String,
        action: Box<CompositeAction>,
        with: Vec<(String, Template)>,
    },
    /// `uses: docker://...`.
    Docker {
        image: String,
    },
}

#[derive(Clone, Debug)]
pub struct CompositeAction {
    /// Inputs and their defaults.
    pub inputs: Vec<(String, Option<Template>)>,
    pub outputs: Vec<(String, Template)>,
    pub steps: Vec<Step>,
}
