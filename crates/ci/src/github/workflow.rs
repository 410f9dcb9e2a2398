//! Workflow files: validation, `on` filters, jobs, steps, matrices and the
//! static expression checks, into the shared model.

use super::expr::{self, Expr, Template, Value};
use super::filter::{self, Pattern};
use super::matrix::{self, Combination, Matrix};
use crate::diag::{Diagnostic, Pos, SourceMap, did_you_mean};
use crate::gitlab::{Compiled, Context, Project};
use crate::model::{
    AllowFailure, CompositeAction, GhJob, InputSpec, Job, NeedEdge, PatternSyntax, Pipeline, Retry, RunDefaults, Step,
    StepKind, Strategy, When, no_skip_value,
};
use crate::paths;
use crate::yaml::{self, Node, Schema};
use indexmap::IndexMap;
use std::collections::{HashMap, HashSet};

/// Whether a path names a GitHub workflow file.
pub fn is_workflow_path(path: &str) -> bool {
    let p = path.replace('\\', "/");
    p.contains(".github/workflows/") || p.starts_with(".github/workflows/")
}

/// GitHub's default job timeout: 360 minutes.
const DEFAULT_TIMEOUT_MINUTES: f64 = 360.0;

const WORKFLOW_KEYS: &[&str] = &["name", "run-name", "on", "permissions", "env", "defaults", "concurrency", "jobs"];
const JOB_KEYS: &[&str] = &[
    "name",
    "permissions",
    "needs",
    "if",
    "runs-on",
    "environment",
    "concurrency",
    "outputs",
    "env",
    "defaults",
    "steps",
    "timeout-minutes",
    "strategy",
    "continue-on-error",
    "container",
    "services",
    "uses",
    "with",
    "secrets",
    "snapshot",
    "shipway",
];
const STEP_KEYS: &[&str] = &[
    "id",
    "if",
    "name",
    "uses",
    "run",
    "shell",
    "with",
    "env",
    "continue-on-error",
    "timeout-minutes",
    "working-directory",
];
const FILTER_KEYS: &[&str] = &["branches", "branches-ignore", "tags", "tags-ignore", "paths", "paths-ignore", "types"];

/// Events GitHub knows (a misspelling is an error, not an event).
const EVENTS: &[&str] = &[
    "branch_protection_rule",
    "check_run",
    "check_suite",
    "create",
    "delete",
    "deployment",
    "deployment_status",
    "discussion",
    "discussion_comment",
    "fork",
    "gollum",
    "issue_comment",
    "issues",
    "label",
    "merge_group",
    "milestone",
    "page_build",
    "project",
    "project_card",
    "project_column",
    "public",
    "pull_request",
    "pull_request_comment",
    "pull_request_review",
    "pull_request_review_comment",
    "pull_request_target",
    "push",
    "registry_package",
    "release",
    "repository_dispatch",
    "schedule",
    "status",
    "watch",
    "workflow_call",
    "workflow_dispatch",
    "workflow_run",
];

/// The properties of the `github` context.
const GITHUB_PROPS: &[&str] = &[
    "action",
    "action_path",
    "action_ref",
    "action_repository",
    "action_status",
    "actor",
    "actor_id",
    "api_url",
    "base_ref",
    "env",
    "event",
    "event_name",
    "event_path",
    "graphql_url",
    "head_ref",
    "job",
    "path",
    "ref",
    "ref_name",
    "ref_protected",
    "ref_type",
    "repository",
    "repository_id",
    "repository_owner",
    "repository_owner_id",
    "repositoryurl",
    "retention_days",
    "run_id",
    "run_number",
    "run_attempt",
    "secret_source",
    "server_url",
    "sha",
    "token",
    "triggering_actor",
    "workflow",
    "workflow_ref",
    "workflow_sha",
    "workspace",
];

const CONTEXTS: &[&str] =
    &["github", "env", "vars", "job", "jobs", "steps", "runner", "secrets", "strategy", "matrix", "needs", "inputs"];

// Where each context may be used (GitHub's context availability table).
const AT_WORKFLOW_ENV: &[&str] = &["github", "secrets", "inputs", "vars"];
const AT_RUN_NAME: &[&str] = &["github", "inputs", "vars"];
const AT_JOB_IF: &[&str] = &["github", "needs", "vars", "inputs"];
const AT_JOB_STRATEGY: &[&str] = &["github", "needs", "vars", "inputs"];
const AT_JOB: &[&str] = &["github", "needs", "strategy", "matrix", "vars", "inputs"];
const AT_JOB_ENV: &[&str] = &["github", "needs", "strategy", "matrix", "vars", "secrets", "inputs"];
const AT_JOB_OUTPUTS: &[&str] =
    &["github", "needs", "strategy", "matrix", "job", "runner", "env", "vars", "secrets", "steps", "inputs"];
const AT_STEP_IF: &[&str] =
    &["github", "needs", "strategy", "matrix", "job", "runner", "env", "vars", "steps", "inputs"];
const AT_STEP: &[&str] =
    &["github", "needs", "strategy", "matrix", "job", "runner", "env", "vars", "secrets", "steps", "inputs"];
const AT_COMPOSITE: &[&str] = &["github", "env", "vars", "inputs", "steps", "runner", "job", "strategy", "matrix"];
const AT_CALL_OUTPUTS: &[&str] = &["github", "jobs", "vars", "inputs"];

/// What the static checks know at one place in the file.
#[derive(Clone, Default)]
struct Scope {
    allowed: &'static [&'static str],
    place: String,
    /// `None`: the matrix is computed, its keys are unknown.
    matrix: Option<Vec<String>>,
    /// Jobs in `needs`, with their declared outputs (`None`: unknown).
    needs: Vec<(String, Option<Vec<String>>)>,
    steps: Vec<String>,
    inputs: Option<Vec<String>>,
    is_if: bool,
    hash_files: bool,
}

struct InputDef {
    name: String,
    default: Option<Value>,
    required: bool,
}

struct EventDef {
    name: String,
    branches: Option<Vec<Pattern>>,
    branches_ignore: Option<Vec<Pattern>>,
    tags: Option<Vec<Pattern>>,
    tags_ignore: Option<Vec<Pattern>>,
    paths: Option<Vec<Pattern>>,
    paths_ignore: Option<Vec<Pattern>>,
    /// `paths` and `paths-ignore` as written, for the jobs' input files.
    paths_src: Option<Vec<String>>,
    paths_ignore_src: Option<Vec<String>>,
    types: Vec<String>,
}

struct StrategyDef {
    matrix: Option<Node>,
    matrix_key: crate::yaml::Mark,
    fail_fast: Option<Node>,
    max_parallel: Option<Node>,
}

struct JobDef {
    id: String,
    key_mark: crate::yaml::Mark,
    name: Option<Template>,
    needs: Vec<(String, crate::yaml::Mark)>,
    condition: Expr,
    strategy: Option<StrategyDef>,
    env: Vec<(String, Template)>,
    defaults: RunDefaults,
    outputs: Vec<(String, Template)>,
    steps: Vec<Step>,
    timeout: Option<Template>,
    continue_on_error: Option<Template>,
    concurrency: Option<Template>,
    /// A reusable workflow call: the called file and its `with`/`secrets`.
    call: Option<Call>,
    /// `false` with `shipway: {cache: false}`.
    skippable: bool,
}

/// For jobs of a called reusable workflow: the caller's display name, the
/// caller's needs, and the secrets passed in.
type CallPrefix<'p> = (&'p str, &'p [usize], &'p [(String, String)]);

/// What planned jobs take from the run and, in a called reusable workflow,
/// from their caller.
struct Inherited {
    /// The triggering event's path filters (of the top-level workflow).
    inputs: Option<InputSpec>,
    /// A caller asked never to skip its jobs (`shipway: {cache: false}` or
    /// `SHIPWAY_NO_SKIP` in its env).
    no_skip: bool,
}

struct Call {
    path: String,
    with: Vec<(String, Template, crate::yaml::Mark)>,
    secrets_inherit: bool,
    secrets: Vec<(String, Template)>,
    mark: crate::yaml::Mark,
}

/// One loaded workflow file.
struct WorkflowDef {
    name: String,
    events: Vec<EventDef>,
    on_present: bool,
    env: Vec<(String, Template)>,
    defaults: RunDefaults,
    jobs: Vec<JobDef>,
    inputs: Vec<InputDef>,
    call_outputs: Vec<(String, Template)>,
}

struct Compiler<'a> {
    project: &'a dyn Project,
    ctx: &'a Context,
    sources: SourceMap,
    diags: Vec<Diagnostic>,
    /// Reusable workflows being loaded (cycle guard).
    calling: Vec<String>,
    /// Where each planned job sits in the file (job index, instance index,
    /// nested for reusable workflows): the pipeline is sorted by it.
    order: Vec<Vec<usize>>,
    key_prefix: Vec<usize>,
}

/// Compile a workflow file (relative to the project root).
pub fn compile(path: &str, project: &dyn Project, ctx: &Context) -> Compiled {
    let mut c = Compiler {
        project,
        ctx,
        sources: SourceMap::default(),
        diags: vec![],
        calling: vec![],
        order: vec![],
        key_prefix: vec![],
    };
    let wf = c.load_workflow(path, None);
    let mut pipeline = None;
    let mut workflow_excluded = false;
    if let Some(wf) = wf {
        if c.diags.iter().any(Diagnostic::is_error) {
            // Report everything, plan nothing.
        } else if !c.triggered(&wf) {
            workflow_excluded = true;
        } else {
            pipeline = c.build(&wf, path);
        }
    }
    let mut diags = c.diags;
    diags.sort_by_key(|d| (d.file.0, d.pos.line, d.pos.col));
    let errors = diags.iter().any(Diagnostic::is_error);
    Compiled {
        sources: c.sources,
        pipeline: if errors { None } else { pipeline },
        diagnostics: diags,
        excluded: vec![],
        workflow_excluded,
    }
}

fn key_list(allowed: &[&str]) -> String {
    allowed.iter().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(", ")
}

impl<'a> Compiler<'a> {
    fn error(&mut self, rule: &'static str, msg: impl Into<String>, mark: crate::yaml::Mark) {
        self.diags.push(Diagnostic::error(rule, msg).at_mark(mark));
    }

    fn error_at(&mut self, rule: &'static str, msg: impl Into<String>, file: crate::diag::FileId, pos: Pos) {
        self.diags.push(Diagnostic::error(rule, msg).at(file, pos));
    }

    fn warn(&mut self, rule: &'static str, msg: impl Into<String>, mark: crate::yaml::Mark) {
        self.diags.push(Diagnostic::warning(rule, msg).at_mark(mark));
    }

    /// The position of character `offset` of a string node's value.
    fn pos_in(&self, node: &Node, offset: usize) -> Pos {
        match &node.value {
            yaml::Value::Str(s) => yaml::scalar_pos(self.sources.text(node.mark.file), node.mark.pos, s, offset),
            _ => node.mark.pos,
        }
    }

    fn load_workflow(&mut self, path: &str, called_from: Option<crate::yaml::Mark>) -> Option<WorkflowDef> {
        let text = match self.project.read(path) {
            Ok(t) => t,
            Err(e) => {
                match called_from {
                    Some(m) => self.error("missing-file", format!("cannot read reusable workflow `{path}`: {e}"), m),
                    None => {
                        let id = self.sources.add(path, "");
                        self.error_at("missing-file", format!("cannot read `{path}`: {e}"), id, Pos { line: 1, col: 1 })
                    }
                }
                return None;
            }
        };
        let id = self.sources.add(path, text.clone());
        let root = match yaml::parse_with(id, &text, Schema::Core12) {
            Ok(r) => r,
            Err(d) => {
                self.diags.push(d);
                return None;
            }
        };
        self.workflow(&root, path)
    }

    fn check_keys(&mut self, map: &yaml::Map, allowed: &[&str], what: &str) {
        for (k, _) in &map.entries {
            if !allowed.contains(&k.name.as_str()) {
                let hint = did_you_mean(&k.name, allowed.iter().copied())
                    .map(|s| format!("did you mean `{s}`?"))
                    .unwrap_or_else(|| format!("allowed keys: {}", key_list(allowed)));
                self.diags.push(
                    Diagnostic::error("unknown-key", format!("unknown key `{}` in {what}", k.name))
                        .at_mark(k.mark)
                        .help(hint),
                );
            }
        }
    }

    fn expect_map<'n>(&mut self, node: &'n Node, what: &str) -> Option<&'n yaml::Map> {
        match node.as_map() {
            Some(m) => Some(m),
            None => {
                if !node.is_null() {
                    self.error(
                        "wrong-type",
                        format!("{what} must be a mapping, not a {}", node.type_name()),
                        node.mark,
                    );
                }
                None
            }
        }
    }

    fn scalar(&mut self, node: &Node, what: &str) -> Option<String> {
        match node.scalar_string() {
            Some(s) => Some(s),
            None => {
                self.error("wrong-type", format!("{what} must be a string, not a {}", node.type_name()), node.mark);
                None
            }
        }
    }

    /// A string or a list of strings.
    fn string_list(&mut self, node: &Node, what: &str) -> Vec<(String, Node)> {
        match &node.value {
            yaml::Value::Seq(items) => {
                items.iter().filter_map(|i| self.scalar(i, what).map(|s| (s, i.clone()))).collect()
            }
            yaml::Value::Null => vec![],
            _ => self.scalar(node, what).map(|s| vec![(s, node.clone())]).unwrap_or_default(),
        }
    }

    /// Parse a string field as a template and check its expressions.
    fn template(&mut self, node: &Node, scope: &Scope) -> Option<Template> {
        let text = match &node.value {
            yaml::Value::Str(s) => s.clone(),
            yaml::Value::Seq(_) | yaml::Value::Map(_) => {
                self.error(
                    "wrong-type",
                    format!("{} must be a string, not a {}", scope.place, node.type_name()),
                    node.mark,
                );
                return None;
            }
            yaml::Value::Null => String::new(),
            // Booleans and numbers keep their type (`continue-on-error: false`
            // is false, not the string "false").
            yaml::Value::Bool(b) => return Some(typed(Value::Bool(*b))),
            yaml::Value::Int(i) => return Some(typed(Value::Number(*i as f64))),
            yaml::Value::Float(f) => return Some(typed(Value::Number(*f))),
        };
        match expr::parse_template(&text) {
            Ok(t) => {
                for (e, at) in t.exprs() {
                    self.check_expr(e, node, at, scope);
                }
                Some(t)
            }
            Err(e) => {
                let pos = self.pos_in(node, e.at);
                self.error_at("bad-expression", format!("invalid expression: {}", e.message), node.mark.file, pos);
                None
            }
        }
    }

    /// A field whose value may be a non-string scalar or a `${{ }}` string.
    fn value_template(&mut self, node: &Node, scope: &Scope) -> Option<Template> {
        self.template(node, scope)
    }

    fn condition(&mut self, node: &Node, scope: &Scope) -> Expr {
        let fallback = Expr::Call { name: "success".into(), args: vec![], at: 0 };
        let text = match &node.value {
            yaml::Value::Bool(b) => {
                let lit = Expr::Lit(Value::Bool(*b));
                return Expr::Binary { op: expr::Op::And, left: Box::new(fallback), right: Box::new(lit) };
            }
            yaml::Value::Int(_) | yaml::Value::Float(_) | yaml::Value::Str(_) => {
                node.scalar_string().unwrap_or_default()
            }
            yaml::Value::Null => return fallback,
            _ => {
                self.error("wrong-type", format!("`if` must be a string, not a {}", node.type_name()), node.mark);
                return fallback;
            }
        };
        match expr::parse_condition_at(&text) {
            Ok((e, offset)) => {
                let mut s = scope.clone();
                s.is_if = true;
                self.check_expr(&e, node, offset, &s);
                e
            }
            Err(e) => {
                let pos = self.pos_in(node, e.at);
                self.error_at("bad-expression", format!("invalid expression: {}", e.message), node.mark.file, pos);
                fallback
            }
        }
    }

    /// Check contexts, properties and function placement in one expression.
    fn check_expr(&mut self, e: &Expr, node: &Node, base: usize, scope: &Scope) {
        let mut found: Vec<(usize, &'static str, String)> = Vec::new();
        e.walk(&mut |x| match x {
            Expr::Call { name, at, .. } => {
                if matches!(name.as_str(), "success" | "failure" | "always" | "cancelled") && !scope.is_if && *at > 0 {
                    found.push((*at, "bad-expression", format!("`{name}()` can only be used in `if`")));
                }
                if name == "hashfiles" && !scope.hash_files {
                    found.push((*at, "bad-expression", format!("`hashFiles()` is not available in {}", scope.place)));
                }
            }
            Expr::Context { name, at } => {
                if !CONTEXTS.contains(&name.as_str()) {
                    let hint = did_you_mean(name, CONTEXTS.iter().copied()).map(|s| format!(" (did you mean `{s}`?)"));
                    found.push((
                        *at,
                        "unknown-context",
                        format!("unknown context `{name}`{}", hint.unwrap_or_default()),
                    ));
                } else if !scope.allowed.contains(&name.as_str()) {
                    found.push((
                        *at,
                        "unknown-context",
                        format!(
                            "context `{name}` is not available in {}; available: {}",
                            scope.place,
                            scope.allowed.join(", ")
                        ),
                    ));
                }
            }
            _ => {}
        });
        // Property chains.
        let mut chains: Vec<(Vec<(String, usize)>, usize)> = Vec::new();
        e.walk(&mut |x| {
            if let Expr::Prop { .. } | Expr::Index { .. } = x
                && let Some(p) = x.path()
            {
                chains.push(p);
            }
        });
        for (path, _) in chains {
            if path.len() < 2 || !scope.allowed.contains(&path[0].0.as_str()) {
                continue;
            }
            let (ctx, (prop, at)) = (&path[0].0, &path[1]);
            let lower = prop.to_ascii_lowercase();
            let mut unknown = |what: String, known: Vec<String>| {
                let hint =
                    did_you_mean(prop, known.iter().map(|s| s.as_str())).map(|s| format!(" (did you mean `{s}`?)"));
                found.push((*at, "unknown-property", format!("{what}{}", hint.unwrap_or_default())));
            };
            match ctx.as_str() {
                "matrix" => {
                    if let Some(keys) = &scope.matrix
                        && !keys.iter().any(|k| k.eq_ignore_ascii_case(prop))
                    {
                        unknown(format!("property `{prop}` is not defined in the matrix of this job"), keys.clone());
                    }
                }
                "needs" => match scope.needs.iter().find(|(n, _)| n.eq_ignore_ascii_case(prop)) {
                    None => unknown(
                        format!("job `{prop}` is not in this job's `needs`"),
                        scope.needs.iter().map(|(n, _)| n.clone()).collect(),
                    ),
                    Some((_, outputs)) => {
                        if let Some((p2, at2)) = path.get(2) {
                            let p2l = p2.to_ascii_lowercase();
                            if p2l != "outputs" && p2l != "result" {
                                found.push((
                                    *at2,
                                    "unknown-property",
                                    format!("`needs.{prop}` has no property `{p2}`; use `outputs` or `result`"),
                                ));
                            } else if p2l == "outputs"
                                && let (Some((p3, at3)), Some(outs)) = (path.get(3), outputs)
                                && !outs.iter().any(|o| o.eq_ignore_ascii_case(p3))
                            {
                                found.push((*at3, "unknown-property", format!("job `{prop}` has no output `{p3}`")));
                            }
                        }
                    }
                },
                "steps" => {
                    if !scope.steps.iter().any(|s| s.eq_ignore_ascii_case(prop)) {
                        unknown(format!("no step with id `{prop}` before this point"), scope.steps.clone());
                    } else if let Some((p2, at2)) = path.get(2) {
                        let p2l = p2.to_ascii_lowercase();
                        if !matches!(p2l.as_str(), "outputs" | "outcome" | "conclusion") {
                            found.push((
                                *at2,
                                "unknown-property",
                                format!(
                                    "`steps.{prop}` has no property `{p2}`; use `outputs`, `outcome` or `conclusion`"
                                ),
                            ));
                        }
                    }
                }
                "inputs" => {
                    if let Some(inputs) = &scope.inputs
                        && !inputs.iter().any(|i| i.eq_ignore_ascii_case(prop))
                    {
                        unknown(format!("input `{prop}` is not defined"), inputs.clone());
                    }
                }
                "strategy" => {
                    let known = ["fail-fast", "job-index", "job-total", "max-parallel"];
                    if !known.contains(&lower.as_str()) {
                        unknown(
                            format!("`strategy` has no property `{prop}`"),
                            known.iter().map(|s| s.to_string()).collect(),
                        );
                    }
                }
                "github" if !GITHUB_PROPS.contains(&lower.as_str()) => {
                    unknown(
                        format!("`github` has no property `{prop}`"),
                        GITHUB_PROPS.iter().map(|s| s.to_string()).collect(),
                    );
                }
                "runner" => {
                    let known = ["name", "os", "arch", "temp", "tool_cache", "debug", "environment"];
                    if !known.contains(&lower.as_str()) {
                        unknown(
                            format!("`runner` has no property `{prop}`"),
                            known.iter().map(|s| s.to_string()).collect(),
                        );
                    }
                }
                "job" => {
                    let known = [
                        "status",
                        "container",
                        "services",
                        "check_run_id",
                        "workflow_ref",
                        "workflow_sha",
                        "workflow_repository",
                        "workflow_file_path",
                    ];
                    if !known.contains(&lower.as_str()) {
                        unknown(
                            format!("`job` has no property `{prop}`"),
                            known.iter().map(|s| s.to_string()).collect(),
                        );
                    }
                }
                _ => {}
            }
        }
        let mut seen = HashSet::new();
        for (at, rule, msg) in found {
            if !seen.insert((at, msg.clone())) {
                continue;
            }
            let pos = self.pos_in(node, base + at);
            self.error_at(rule, msg, node.mark.file, pos);
        }
    }

    fn env_map(&mut self, node: &Node, scope: &Scope) -> Vec<(String, Template)> {
        if let yaml::Value::Str(_) = node.value {
            // `env: ${{ fromJSON(...) }}` is allowed by GitHub; not here.
            self.error("unsupported", "unsupported: `env` given as an expression; write a mapping", node.mark);
            return vec![];
        }
        let Some(map) = self.expect_map(node, "`env`") else { return vec![] };
        let mut out = Vec::new();
        for (k, v) in &map.entries {
            if let yaml::Value::Seq(_) | yaml::Value::Map(_) = v.value {
                self.error("wrong-type", format!("env `{}` must be a string, not a {}", k.name, v.type_name()), v.mark);
                continue;
            }
            if let Some(t) = self.value_template(v, scope) {
                out.push((k.name.clone(), t));
            }
        }
        out
    }

    fn defaults(&mut self, node: &Node, what: &str) -> RunDefaults {
        let mut d = RunDefaults::default();
        let Some(map) = self.expect_map(node, what) else { return d };
        self.check_keys(map, &["run"], what);
        if let Some(run) = map.get("run")
            && let Some(rm) = self.expect_map(run, "`defaults.run`")
        {
            self.check_keys(rm, &["shell", "working-directory"], "`defaults.run`");
            if let Some(s) = rm.get("shell") {
                d.shell = self.scalar(s, "`shell`");
                if let Some(sh) = &d.shell {
                    self.check_shell(sh, s);
                }
            }
            if let Some(w) = rm.get("working-directory") {
                d.working_directory = self.scalar(w, "`working-directory`");
                if let Some(wd) = &d.working_directory {
                    self.check_workspace_path("defaults.run.working-directory", wd, w, 0);
                }
            }
        }
        d
    }

    fn check_shell(&mut self, shell: &str, node: &Node) {
        let known = ["bash", "sh", "python", "pwsh", "powershell", "cmd"];
        if !known.contains(&shell) && !shell.contains("{0}") {
            self.error(
                "invalid-value",
                format!("unknown shell `{shell}`: use bash, sh, python, pwsh, or a command with `{{0}}`"),
                node.mark,
            );
        }
    }

    fn workflow(&mut self, root: &Node, path: &str) -> Option<WorkflowDef> {
        let Some(map) = root.as_map() else {
            self.error("wrong-type", format!("a workflow must be a mapping, not a {}", root.type_name()), root.mark);
            return None;
        };
        self.check_keys(map, WORKFLOW_KEYS, "the workflow");
        let stem = path.rsplit('/').next().unwrap_or(path).to_string();
        let name = map.get("name").and_then(|n| self.scalar(n, "`name`")).unwrap_or_else(|| path.to_string());
        let mut wf = WorkflowDef {
            name,
            events: vec![],
            on_present: false,
            env: vec![],
            defaults: RunDefaults::default(),
            jobs: vec![],
            inputs: vec![],
            call_outputs: vec![],
        };
        let _ = stem;
        match map.get_entry("on") {
            Some((_, on)) => {
                wf.on_present = true;
                self.on(on, &mut wf);
            }
            None => self.error("missing-key", "a workflow needs `on:` (the events that trigger it)", root.mark),
        }
        let input_names: Option<Vec<String>> =
            if wf.inputs.is_empty() { None } else { Some(wf.inputs.iter().map(|i| i.name.clone()).collect()) };
        let input_names = input_names.or_else(|| {
            // Without declared inputs, `inputs.X` is unknown for dispatch/call workflows.
            if wf.events.iter().any(|e| e.name == "workflow_dispatch" || e.name == "workflow_call") {
                Some(vec![])
            } else {
                None
            }
        });
        let base_scope = Scope { inputs: input_names.clone(), ..Scope::default() };
        if let Some(rn) = map.get("run-name") {
            let s = Scope { allowed: AT_RUN_NAME, place: "`run-name`".into(), ..base_scope.clone() };
            self.template(rn, &s);
        }
        if let Some(env) = map.get("env") {
            let s = Scope { allowed: AT_WORKFLOW_ENV, place: "workflow `env`".into(), ..base_scope.clone() };
            wf.env = self.env_map(env, &s);
        }
        if let Some(d) = map.get("defaults") {
            wf.defaults = self.defaults(d, "`defaults`");
        }
        if let Some(p) = map.get("permissions") {
            self.permissions(p);
        }
        if let Some(c) = map.get("concurrency") {
            let s = Scope { allowed: AT_RUN_NAME, place: "workflow `concurrency`".into(), ..base_scope.clone() };
            self.concurrency(c, &s);
        }
        let Some(jobs_node) = map.get("jobs") else {
            self.error("missing-key", "a workflow needs `jobs:`", root.mark);
            return Some(wf);
        };
        let Some(jobs) = self.expect_map(jobs_node, "`jobs`") else { return Some(wf) };
        if jobs.entries.is_empty() {
            self.error("missing-key", "`jobs` is empty: a workflow needs at least one job", jobs_node.mark);
        }
        // First pass: ids, needs and declared outputs, for the checks.
        let ids: Vec<String> = jobs.entries.iter().map(|(k, _)| k.name.clone()).collect();
        let mut declared_outputs: HashMap<String, Option<Vec<String>>> = HashMap::new();
        for (k, v) in &jobs.entries {
            let outs = v
                .as_map()
                .and_then(|m| m.get("outputs"))
                .and_then(|o| o.as_map())
                .map(|m| m.keys().map(String::from).collect());
            let is_call = v.as_map().is_some_and(|m| m.contains("uses"));
            declared_outputs.insert(k.name.clone(), if is_call { None } else { Some(outs.unwrap_or_default()) });
        }
        for (k, v) in &jobs.entries {
            if !k.name.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                || !k.name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
            {
                self.error(
                    "invalid-value",
                    format!(
                        "invalid job id `{}`: use letters, digits, `_` and `-`, starting with a letter or `_`",
                        k.name
                    ),
                    k.mark,
                );
            }
            if let Some(j) = self.job(&k.name, k.mark, v, &ids, &declared_outputs, &base_scope, &wf) {
                wf.jobs.push(j);
            }
        }
        self.check_needs(&wf);
        // workflow_call outputs.
        if let Some(on) = map.get("on").and_then(|o| o.as_map())
            && let Some(call) = on.get("workflow_call").and_then(|c| c.as_map())
            && let Some(outs) = call.get("outputs").and_then(|o| o.as_map())
        {
            let s = Scope { allowed: AT_CALL_OUTPUTS, place: "`workflow_call` outputs".into(), ..base_scope.clone() };
            for (k, v) in &outs.entries {
                let value = v.as_map().and_then(|m| m.get("value"));
                match value {
                    Some(val) => {
                        if let Some(t) = self.template(val, &s) {
                            wf.call_outputs.push((k.name.clone(), t));
                        }
                    }
                    None => {
                        self.error("missing-key", format!("workflow_call output `{}` needs `value`", k.name), v.mark)
                    }
                }
            }
        }
        Some(wf)
    }

    fn permissions(&mut self, node: &Node) {
        const SCOPES: &[&str] = &[
            "actions",
            "attestations",
            "checks",
            "contents",
            "deployments",
            "discussions",
            "id-token",
            "issues",
            "models",
            "packages",
            "pages",
            "pull-requests",
            "repository-projects",
            "security-events",
            "statuses",
        ];
        match &node.value {
            yaml::Value::Str(s) if s == "read-all" || s == "write-all" || s.contains("${{") => {}
            yaml::Value::Map(m) => {
                for (k, v) in &m.entries {
                    if !SCOPES.contains(&k.name.as_str()) {
                        let hint =
                            did_you_mean(&k.name, SCOPES.iter().copied()).map(|s| format!(" (did you mean `{s}`?)"));
                        self.error(
                            "unknown-key",
                            format!("unknown permission `{}`{}", k.name, hint.unwrap_or_default()),
                            k.mark,
                        );
                        continue;
                    }
                    match v.as_str() {
                        Some("read" | "write" | "none") => {}
                        _ => self.error(
                            "invalid-value",
                            format!("permission `{}` must be read, write or none, not {}", k.name, describe(v)),
                            v.mark,
                        ),
                    }
                }
            }
            _ => self.error(
                "invalid-value",
                format!("`permissions` must be `read-all`, `write-all` or a mapping, not {}", describe(node)),
                node.mark,
            ),
        }
    }

    fn concurrency(&mut self, node: &Node, scope: &Scope) -> Option<Template> {
        match &node.value {
            yaml::Value::Map(m) => {
                self.check_keys(m, &["group", "cancel-in-progress"], "`concurrency`");
                if let Some(c) = m.get("cancel-in-progress") {
                    self.template(c, scope);
                }
                match m.get("group") {
                    Some(g) => self.template(g, scope),
                    None => {
                        self.error("missing-key", "`concurrency` needs `group`", node.mark);
                        None
                    }
                }
            }
            yaml::Value::Seq(_) => {
                self.error("wrong-type", "`concurrency` must be a string or a mapping", node.mark);
                None
            }
            _ => self.template(node, scope),
        }
    }

    fn on(&mut self, on: &Node, wf: &mut WorkflowDef) {
        let mut events: Vec<(String, Option<&Node>, crate::yaml::Mark)> = Vec::new();
        match &on.value {
            yaml::Value::Str(s) => events.push((s.clone(), None, on.mark)),
            yaml::Value::Seq(items) => {
                for i in items {
                    if let Some(s) = self.scalar(i, "an event name") {
                        events.push((s, None, i.mark));
                    }
                }
            }
            yaml::Value::Map(m) => {
                for (k, v) in &m.entries {
                    events.push((k.name.clone(), Some(v), k.mark));
                }
            }
            _ => {
                self.error(
                    "wrong-type",
                    format!("`on` must be an event, a list or a mapping, not a {}", on.type_name()),
                    on.mark,
                );
                return;
            }
        }
        for (name, body, mark) in events {
            if !EVENTS.contains(&name.as_str()) {
                let hint = did_you_mean(&name, EVENTS.iter().copied())
                    .map(|s| format!("did you mean `{s}`?"))
                    .unwrap_or_else(|| "see GitHub's list of events that trigger workflows".into());
                self.diags.push(
                    Diagnostic::error("unknown-event", format!("unknown event `{name}`")).at_mark(mark).help(hint),
                );
                continue;
            }
            let mut ev = EventDef {
                name: name.clone(),
                branches: None,
                branches_ignore: None,
                tags: None,
                tags_ignore: None,
                paths: None,
                paths_ignore: None,
                paths_src: None,
                paths_ignore_src: None,
                types: vec![],
            };
            if let Some(body) = body {
                match name.as_str() {
                    "schedule" => self.schedule(body),
                    "workflow_dispatch" | "workflow_call" => self.inputs(&name, body, wf),
                    _ => self.filters(&name, body, &mut ev),
                }
            }
            wf.events.push(ev);
        }
    }

    fn schedule(&mut self, body: &Node) {
        let Some(items) = body.as_seq() else {
            self.error("wrong-type", "`schedule` must be a list of `- cron: ...` entries", body.mark);
            return;
        };
        for i in items {
            let Some(m) = self.expect_map(i, "a `schedule` entry") else { continue };
            self.check_keys(m, &["cron"], "a `schedule` entry");
            match m.get("cron") {
                Some(c) => {
                    if let Some(s) = self.scalar(c, "`cron`")
                        && let Err(e) = check_cron(&s)
                    {
                        self.error("invalid-value", format!("invalid cron `{s}`: {e}"), c.mark);
                    }
                }
                None => self.error("missing-key", "a `schedule` entry needs `cron`", i.mark),
            }
        }
    }

    fn inputs(&mut self, event: &str, body: &Node, wf: &mut WorkflowDef) {
        let Some(m) = self.expect_map(body, &format!("`{event}`")) else { return };
        let allowed: &[&str] = if event == "workflow_call" { &["inputs", "outputs", "secrets"] } else { &["inputs"] };
        self.check_keys(m, allowed, &format!("`{event}`"));
        let Some(inputs) = m.get("inputs") else { return };
        let Some(im) = self.expect_map(inputs, "`inputs`") else { return };
        for (k, v) in &im.entries {
            let mut def = InputDef { name: k.name.clone(), default: None, required: false };
            if let Some(vm) = self.expect_map(v, &format!("input `{}`", k.name)) {
                self.check_keys(
                    vm,
                    &["description", "required", "default", "type", "options"],
                    &format!("input `{}`", k.name),
                );
                if let Some(r) = vm.get("required") {
                    match r.value {
                        yaml::Value::Bool(b) => def.required = b,
                        _ => self.error("wrong-type", "`required` must be a boolean", r.mark),
                    }
                }
                let kind = vm.get("type").and_then(|t| t.as_str()).unwrap_or("string").to_string();
                let kinds: &[&str] = if event == "workflow_call" {
                    &["string", "boolean", "number"]
                } else {
                    &["string", "boolean", "number", "choice", "environment"]
                };
                if let Some(t) = vm.get("type")
                    && !kinds.contains(&kind.as_str())
                {
                    self.error(
                        "invalid-value",
                        format!("input type `{kind}` is not one of {}", kinds.join(", ")),
                        t.mark,
                    );
                }
                if let Some(d) = vm.get("default") {
                    def.default = Some(match (&d.value, kind.as_str()) {
                        (yaml::Value::Bool(b), _) => Value::Bool(*b),
                        (yaml::Value::Int(i), _) => Value::Number(*i as f64),
                        (yaml::Value::Float(f), _) => Value::Number(*f),
                        (_, "boolean") => Value::Bool(d.as_str() == Some("true")),
                        _ => Value::String(d.scalar_string().unwrap_or_default()),
                    });
                }
                if kind == "choice" {
                    match vm.get("options").and_then(|o| o.as_seq()) {
                        Some(opts) if !opts.is_empty() => {}
                        _ => self.error("missing-key", format!("choice input `{}` needs `options`", k.name), v.mark),
                    }
                }
            }
            if !wf.inputs.iter().any(|i| i.name == def.name) {
                wf.inputs.push(def);
            }
        }
    }

    fn filters(&mut self, event: &str, body: &Node, ev: &mut EventDef) {
        let Some(m) = self.expect_map(body, &format!("`{event}`")) else { return };
        let allowed: Vec<&str> = match event {
            "push" => FILTER_KEYS.iter().copied().filter(|k| *k != "types").collect(),
            "pull_request" | "pull_request_target" => {
                vec!["types", "branches", "branches-ignore", "paths", "paths-ignore"]
            }
            "workflow_run" => vec!["types", "workflows", "branches", "branches-ignore"],
            _ => vec!["types"],
        };
        self.check_keys(m, &allowed, &format!("`{event}`"));
        for (k, v) in &m.entries {
            if !allowed.contains(&k.name.as_str()) {
                continue;
            }
            let items = self.string_list(v, &format!("`{}`", k.name));
            if k.name == "types" || k.name == "workflows" {
                ev.types = items.into_iter().map(|(s, _)| s).collect();
                continue;
            }
            let src: Vec<String> = items.iter().map(|(s, _)| s.clone()).collect();
            match k.name.as_str() {
                "paths" => ev.paths_src = Some(src),
                "paths-ignore" => ev.paths_ignore_src = Some(src),
                _ => {}
            }
            let mut pats = Vec::new();
            for (s, n) in items {
                match filter::compile(&s) {
                    Ok(p) => {
                        if p.negated && k.name.ends_with("-ignore") {
                            self.error(
                                "invalid-filter",
                                format!("`!` patterns are not allowed in `{}`", k.name),
                                n.mark,
                            );
                        }
                        pats.push(p)
                    }
                    Err(e) => {
                        self.error("invalid-filter", format!("invalid pattern `{s}` in `{}`: {e}", k.name), n.mark)
                    }
                }
            }
            match k.name.as_str() {
                "branches" => ev.branches = Some(pats),
                "branches-ignore" => ev.branches_ignore = Some(pats),
                "tags" => ev.tags = Some(pats),
                "tags-ignore" => ev.tags_ignore = Some(pats),
                "paths" => ev.paths = Some(pats),
                "paths-ignore" => ev.paths_ignore = Some(pats),
                _ => {}
            }
        }
        for (a, b) in [("branches", "branches-ignore"), ("tags", "tags-ignore"), ("paths", "paths-ignore")] {
            if m.contains(a)
                && let Some((k, _)) = m.get_entry(b)
            {
                self.error(
                    "invalid-filter",
                    format!("`{a}` and `{b}` cannot both be set for `{event}`; use `{a}` with `!` patterns"),
                    k.mark,
                );
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn job(
        &mut self,
        id: &str,
        key_mark: crate::yaml::Mark,
        node: &Node,
        ids: &[String],
        declared_outputs: &HashMap<String, Option<Vec<String>>>,
        base: &Scope,
        wf: &WorkflowDef,
    ) -> Option<JobDef> {
        let Some(map) = self.expect_map(node, &format!("job `{id}`")) else {
            if node.is_null() {
                self.error("missing-key", format!("job `{id}` is empty: it needs `runs-on` and `steps`"), key_mark);
            }
            return None;
        };
        self.check_keys(map, JOB_KEYS, &format!("job `{id}`"));
        // needs
        let mut needs = Vec::new();
        if let Some(n) = map.get("needs") {
            for (s, item) in self.string_list(n, "`needs`") {
                if !ids.contains(&s) {
                    let hint = did_you_mean(&s, ids.iter().map(|s| s.as_str()))
                        .map(|x| format!("did you mean `{x}`?"))
                        .unwrap_or_else(|| format!("jobs: {}", ids.join(", ")));
                    self.diags.push(
                        Diagnostic::error("unknown-need", format!("job `{id}` needs `{s}`, which is not a job here"))
                            .at_mark(item.mark)
                            .help(hint),
                    );
                } else if s == id {
                    self.error("needs-cycle", format!("job `{id}` needs itself"), item.mark);
                } else if needs.iter().any(|(x, _): &(String, _)| x == &s) {
                    self.warn("duplicate-need", format!("`{s}` is listed twice in `needs`"), item.mark);
                } else {
                    needs.push((s, item.mark));
                }
            }
        }
        let needs_scope: Vec<(String, Option<Vec<String>>)> =
            needs.iter().map(|(n, _)| (n.clone(), declared_outputs.get(n).cloned().flatten())).collect();
        let scope_with = |allowed: &'static [&'static str], place: String| Scope {
            allowed,
            place,
            needs: needs_scope.clone(),
            ..base.clone()
        };
        let condition = match map.get("if") {
            Some(n) => {
                let s = scope_with(AT_JOB_IF, format!("`jobs.{id}.if`"));
                self.condition(n, &s)
            }
            None => expr::parse_condition("success()").expect("valid"),
        };
        // strategy
        let mut strategy = None;
        let mut matrix_keys: Option<Vec<String>> = Some(vec![]);
        if let Some(s) = map.get("strategy")
            && let Some(sm) = self.expect_map(s, "`strategy`")
        {
            self.check_keys(sm, &["matrix", "fail-fast", "max-parallel"], "`strategy`");
            let sc = scope_with(AT_JOB_STRATEGY, format!("`jobs.{id}.strategy`"));
            let mut def = StrategyDef { matrix: None, matrix_key: s.mark, fail_fast: None, max_parallel: None };
            if let Some((mk, m)) = sm.get_entry("matrix") {
                matrix_keys = self.check_matrix(m, &sc);
                def.matrix = Some(m.clone());
                def.matrix_key = mk.mark;
            }
            for (key, slot) in [("fail-fast", &mut def.fail_fast), ("max-parallel", &mut def.max_parallel)] {
                if let Some(v) = sm.get(key) {
                    let ok = match (&v.value, key) {
                        (yaml::Value::Bool(_), "fail-fast") => true,
                        (yaml::Value::Int(i), "max-parallel") => *i >= 1,
                        (yaml::Value::Str(s), _) => s.contains("${{"),
                        _ => false,
                    };
                    if !ok {
                        let want = if key == "fail-fast" { "a boolean" } else { "a positive integer" };
                        self.error("wrong-type", format!("`{key}` must be {want} or an expression"), v.mark);
                    } else {
                        self.template(v, &sc);
                        *slot = Some(v.clone());
                    }
                }
            }
            strategy = Some(def);
        }
        let job_scope = |allowed: &'static [&'static str], place: String| Scope {
            allowed,
            place,
            needs: needs_scope.clone(),
            matrix: matrix_keys.clone(),
            ..base.clone()
        };
        let name = map.get("name").and_then(|n| self.template(n, &job_scope(AT_JOB, format!("`jobs.{id}.name`"))));
        if let Some(r) = map.get("runs-on") {
            match &r.value {
                yaml::Value::Map(m) => self.check_keys(m, &["group", "labels"], "`runs-on`"),
                yaml::Value::Seq(items) => {
                    for i in items {
                        self.template(i, &job_scope(AT_JOB, "`runs-on`".into()));
                    }
                }
                _ => {
                    self.template(r, &job_scope(AT_JOB, "`runs-on`".into()));
                }
            }
        }
        if let Some(p) = map.get("permissions") {
            self.permissions(p);
        }
        for key in ["environment", "container", "services", "snapshot"] {
            if let Some(v) = map.get(key)
                && let yaml::Value::Str(_) = v.value
            {
                self.template(v, &job_scope(AT_JOB, format!("`jobs.{id}.{key}`")));
            }
        }
        if let Some(v) = map.get("services") {
            self.warn(
                "unsupported",
                "`services` are not started by shipway (no containers); the job runs without them",
                v.mark,
            );
        }
        if let Some(v) = map.get("container") {
            self.warn("unsupported", "`container` is ignored: shipway runs jobs on the host", v.mark);
        }
        let env = match map.get("env") {
            Some(e) => self.env_map(e, &job_scope(AT_JOB_ENV, format!("`jobs.{id}.env`"))),
            None => vec![],
        };
        let skippable = map.get("shipway").is_none_or(|v| self.shipway(v, id));
        let defaults = match map.get("defaults") {
            Some(d) => self.defaults(d, &format!("`jobs.{id}.defaults`")),
            None => RunDefaults::default(),
        };
        let timeout = map
            .get("timeout-minutes")
            .and_then(|t| self.number_field(t, &job_scope(AT_JOB, "`timeout-minutes`".into())));
        let continue_on_error = map
            .get("continue-on-error")
            .and_then(|t| self.bool_field(t, &job_scope(AT_JOB, "`continue-on-error`".into())));
        let concurrency = map
            .get("concurrency")
            .and_then(|c| self.concurrency(c, &job_scope(AT_JOB, format!("`jobs.{id}.concurrency`"))));
        // Reusable workflow call or steps.
        let mut call = None;
        let mut steps = Vec::new();
        if let Some(u) = map.get("uses") {
            for key in ["steps", "runs-on"] {
                if let Some((k, _)) = map.get_entry(key) {
                    self.error("invalid-value", format!("a job with `uses` cannot have `{key}`"), k.mark);
                }
            }
            let path = self.scalar(u, "`uses`").unwrap_or_default();
            if !path.starts_with("./") && !path.contains('@') {
                self.error(
                    "invalid-action",
                    format!("`uses: {path}` needs a version: `owner/repo/.github/workflows/file.yml@ref`"),
                    u.mark,
                );
            } else if !path.starts_with("./") {
                self.error(
                    "unsupported",
                    format!("unsupported reusable workflow `{path}`: only local ones (`./.github/workflows/x.yml`) run offline"),
                    u.mark,
                );
            }
            let wscope = job_scope(AT_JOB, format!("`jobs.{id}.with`"));
            let mut with = Vec::new();
            if let Some(w) = map.get("with")
                && let Some(wm) = self.expect_map(w, "`with`")
            {
                for (k, v) in &wm.entries {
                    if let Some(t) = self.value_template(v, &wscope) {
                        with.push((k.name.clone(), t, k.mark));
                    }
                }
            }
            let mut secrets = Vec::new();
            let mut inherit = false;
            if let Some(s) = map.get("secrets") {
                match &s.value {
                    yaml::Value::Str(x) if x == "inherit" => inherit = true,
                    yaml::Value::Map(m) => {
                        let ss = job_scope(AT_JOB_ENV, "`secrets`".into());
                        for (k, v) in &m.entries {
                            if let Some(t) = self.value_template(v, &ss) {
                                secrets.push((k.name.clone(), t));
                            }
                        }
                    }
                    _ => self.error("wrong-type", "`secrets` must be `inherit` or a mapping", s.mark),
                }
            }
            call = Some(Call {
                path: path.trim_start_matches("./").to_string(),
                with,
                secrets_inherit: inherit,
                secrets,
                mark: u.mark,
            });
        } else {
            if !map.contains("runs-on") {
                self.error("missing-key", format!("job `{id}` needs `runs-on`"), key_mark);
            }
            for key in ["with", "secrets"] {
                if let Some((k, _)) = map.get_entry(key) {
                    self.error(
                        "invalid-value",
                        format!("`{key}` is only for jobs that call a reusable workflow (`uses`)"),
                        k.mark,
                    );
                }
            }
            match map.get("steps") {
                None => self.error("missing-key", format!("job `{id}` needs `steps`"), key_mark),
                Some(s) => {
                    let sc = job_scope(AT_STEP, String::new());
                    steps = self.steps(s, &sc, false, &wf.defaults, &defaults);
                }
            }
        }
        // outputs
        let mut outputs = Vec::new();
        if let Some(o) = map.get("outputs")
            && let Some(om) = self.expect_map(o, "`outputs`")
        {
            let mut sc = job_scope(AT_JOB_OUTPUTS, format!("`jobs.{id}.outputs`"));
            sc.steps = steps.iter().filter(|s| s.explicit_id).map(|s| s.id.clone()).collect();
            for (k, v) in &om.entries {
                if let Some(t) = self.value_template(v, &sc) {
                    outputs.push((k.name.clone(), t));
                }
            }
        }
        Some(JobDef {
            id: id.to_string(),
            key_mark,
            name,
            needs,
            condition,
            strategy,
            env,
            defaults,
            outputs,
            steps,
            timeout,
            continue_on_error,
            concurrency,
            call,
            skippable,
        })
    }

    /// `jobs.<id>.shipway`, shipway's own job settings: `{cache: false}`
    /// opts the job out of being skipped as unchanged. Returns whether the
    /// job is skippable.
    fn shipway(&mut self, node: &Node, id: &str) -> bool {
        let Some(m) = node.as_map() else {
            self.error(
                "wrong-type",
                format!("`jobs.{id}.shipway` must be a mapping, not a {}", node.type_name()),
                node.mark,
            );
            return true;
        };
        self.check_keys(m, &["cache"], &format!("`jobs.{id}.shipway`"));
        match m.get("cache") {
            None => true,
            Some(Node { value: yaml::Value::Bool(b), .. }) => *b,
            Some(c) => {
                self.error(
                    "wrong-type",
                    format!("`jobs.{id}.shipway.cache` must be a boolean, not a {}", c.type_name()),
                    c.mark,
                );
                true
            }
        }
    }

    /// Report a literal path (`what` names its place) that is absolute or
    /// climbs out of the workspace; `at` is its character offset in `node`'s
    /// string, used when the string holds several lines.
    fn check_workspace_path(&mut self, what: &str, path: &str, node: &Node, at: usize) {
        if paths::is_dynamic(path) {
            return;
        }
        if let Some(escape) = paths::escape(path) {
            let multi_line = node.as_str().is_some_and(|s| s.trim().contains('\n'));
            let mark =
                if multi_line { crate::yaml::Mark { pos: self.pos_in(node, at), ..node.mark } } else { node.mark };
            self.diags.push(paths::diagnostic(what, path, escape, mark));
        }
    }

    /// The `path` input of the built-in cache and artifact actions: one
    /// path per line (`!` excludes; `actions/cache` also takes `~/` home
    /// paths), a single path for `actions/download-artifact`.
    fn check_action_paths(&mut self, uses: &str, with: Option<&Node>) {
        let action = uses.split('@').next().unwrap_or("").to_ascii_lowercase();
        let (what, cache, lines) = match action.as_str() {
            "actions/cache" | "actions/cache/restore" | "actions/cache/save" => ("cache path", true, true),
            "actions/upload-artifact" => ("artifact path", false, true),
            "actions/download-artifact" => ("download path", false, false),
            _ => return,
        };
        let Some(node) = with.and_then(|w| w.as_map()).and_then(|m| m.get("path")) else { return };
        let Some(text) = node.as_str() else { return };
        let mut offset = 0;
        let mut entries: Vec<(usize, &str)> = Vec::new();
        if lines {
            for line in text.split('\n') {
                entries.push((offset, line));
                offset += line.chars().count() + 1;
            }
        } else {
            entries.push((0, text));
        }
        for (start, line) in entries {
            let lead = line.chars().take_while(|c| c.is_whitespace()).count();
            let mut path = line.trim();
            let mut at = start + lead;
            if lines && let Some(rest) = path.strip_prefix('!') {
                path = rest.trim_start();
                at += 1 + (rest.chars().count() - path.chars().count());
            }
            if path.is_empty() || (cache && (path == "~" || path.starts_with("~/"))) {
                continue;
            }
            self.check_workspace_path(what, path, node, at);
        }
    }

    fn number_field(&mut self, node: &Node, scope: &Scope) -> Option<Template> {
        match &node.value {
            yaml::Value::Int(_) | yaml::Value::Float(_) => self.template(node, scope),
            yaml::Value::Str(s) if s.contains("${{") => self.template(node, scope),
            _ => {
                self.error(
                    "wrong-type",
                    format!("{} must be a number or an expression, not {}", scope.place, describe(node)),
                    node.mark,
                );
                None
            }
        }
    }

    fn bool_field(&mut self, node: &Node, scope: &Scope) -> Option<Template> {
        match &node.value {
            yaml::Value::Bool(_) => self.template(node, scope),
            yaml::Value::Str(s) if s.contains("${{") => self.template(node, scope),
            _ => {
                self.error(
                    "wrong-type",
                    format!("{} must be a boolean or an expression, not {}", scope.place, describe(node)),
                    node.mark,
                );
                None
            }
        }
    }

    /// Validate a matrix; returns its keys when they are known statically.
    fn check_matrix(&mut self, m: &Node, scope: &Scope) -> Option<Vec<String>> {
        match &m.value {
            yaml::Value::Str(_) => {
                self.template(m, scope);
                None
            }
            yaml::Value::Map(map) => {
                let mut keys = Vec::new();
                let mut dynamic = false;
                for (k, v) in &map.entries {
                    match k.name.as_str() {
                        "include" | "exclude" => match &v.value {
                            yaml::Value::Seq(items) => {
                                for i in items {
                                    match &i.value {
                                        yaml::Value::Map(im) => {
                                            if k.name == "exclude" {
                                                for (ek, _) in &im.entries {
                                                    let is_vector = map.entries.iter().any(|(vk, _)| {
                                                        vk.name != "include"
                                                            && vk.name != "exclude"
                                                            && vk.name.eq_ignore_ascii_case(&ek.name)
                                                    });
                                                    if !is_vector {
                                                        self.error(
                                                            "invalid-matrix",
                                                            format!(
                                                                "matrix `exclude` key `{}` is not a matrix vector",
                                                                ek.name
                                                            ),
                                                            ek.mark,
                                                        );
                                                    }
                                                }
                                            }
                                            if im.entries.is_empty() {
                                                self.error(
                                                    "invalid-matrix",
                                                    format!("matrix `{}` has an empty entry", k.name),
                                                    i.mark,
                                                );
                                            }
                                            if k.name == "include" {
                                                for key in im.keys() {
                                                    if !keys.iter().any(|x: &String| x == key) {
                                                        keys.push(key.to_string());
                                                    }
                                                }
                                            }
                                        }
                                        yaml::Value::Str(x) if x.contains("${{") => {
                                            self.template(i, scope);
                                            dynamic = true;
                                        }
                                        _ => self.error(
                                            "invalid-matrix",
                                            format!(
                                                "each matrix `{}` entry must be a mapping, not a {}",
                                                k.name,
                                                i.type_name()
                                            ),
                                            i.mark,
                                        ),
                                    }
                                }
                            }
                            yaml::Value::Str(x) if x.contains("${{") => {
                                self.template(v, scope);
                                dynamic = true;
                            }
                            _ => self.error(
                                "invalid-matrix",
                                format!("matrix `{}` must be a list of mappings, not a {}", k.name, v.type_name()),
                                v.mark,
                            ),
                        },
                        _ => {
                            if !keys.contains(&k.name) {
                                keys.push(k.name.clone());
                            }
                            match &v.value {
                                yaml::Value::Seq(items) => {
                                    if items.is_empty() {
                                        self.error(
                                            "invalid-matrix",
                                            format!("matrix vector `{}` does not contain any values", k.name),
                                            v.mark,
                                        );
                                    }
                                    for i in items {
                                        if let yaml::Value::Str(_) = i.value {
                                            self.template(i, scope);
                                        }
                                    }
                                }
                                yaml::Value::Str(_) => {
                                    self.template(v, scope);
                                }
                                _ => self.error(
                                    "invalid-matrix",
                                    format!("matrix vector `{}` must be a list, not a {}", k.name, v.type_name()),
                                    v.mark,
                                ),
                            }
                        }
                    }
                }
                if dynamic { None } else { Some(keys) }
            }
            _ => {
                self.error(
                    "invalid-matrix",
                    format!("`matrix` must be a mapping or an expression, not a {}", m.type_name()),
                    m.mark,
                );
                None
            }
        }
    }

    fn steps(
        &mut self,
        node: &Node,
        scope: &Scope,
        composite: bool,
        wf_defaults: &RunDefaults,
        job_defaults: &RunDefaults,
    ) -> Vec<Step> {
        let Some(items) = node.as_seq() else {
            self.error("wrong-type", format!("`steps` must be a list, not a {}", node.type_name()), node.mark);
            return vec![];
        };
        if items.is_empty() && !composite {
            self.error("missing-key", "`steps` is empty", node.mark);
        }
        let mut out: Vec<Step> = Vec::new();
        let mut ids: Vec<String> = Vec::new();
        for (idx, item) in items.iter().enumerate() {
            let Some(m) = self.expect_map(item, "a step") else {
                if item.is_null() {
                    self.error("wrong-type", "a step must be a mapping", item.mark);
                }
                continue;
            };
            let allowed: &[&str] = STEP_KEYS;
            self.check_keys(m, allowed, "a step");
            let place = |what: &str| format!("step {} `{what}`", idx + 1);
            let mut sc = scope.clone();
            sc.steps = ids.clone();
            sc.hash_files = true;
            let id = match m.get("id") {
                Some(i) => {
                    let s = self.scalar(i, "`id`").unwrap_or_default();
                    if !s.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                        || !s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
                    {
                        self.error(
                            "invalid-value",
                            format!("invalid step id `{s}`: use letters, digits, `_` and `-`"),
                            i.mark,
                        );
                    }
                    if ids.iter().any(|x| x.eq_ignore_ascii_case(&s)) {
                        self.error("duplicate-id", format!("step id `{s}` is already used in this job"), i.mark);
                    }
                    Some(s)
                }
                None => None,
            };
            let mut if_scope = sc.clone();
            if_scope.allowed = if composite { AT_COMPOSITE } else { AT_STEP_IF };
            if_scope.place = place("if");
            let condition = match m.get("if") {
                Some(n) => self.condition(n, &if_scope),
                None => expr::parse_condition("success()").expect("valid"),
            };
            sc.allowed = if composite { AT_COMPOSITE } else { AT_STEP };
            let env = match m.get("env") {
                Some(e) => {
                    sc.place = place("env");
                    self.env_map(e, &sc)
                }
                None => vec![],
            };
            sc.place = place("continue-on-error");
            let continue_on_error = m.get("continue-on-error").and_then(|n| self.bool_field(n, &sc));
            sc.place = place("timeout-minutes");
            let timeout_minutes = m.get("timeout-minutes").and_then(|n| self.number_field(n, &sc));
            let kind = match (m.get("run"), m.get("uses")) {
                (Some(_), Some(u)) => {
                    self.error("invalid-value", "a step has either `run` or `uses`, not both", u.mark);
                    None
                }
                (None, None) => {
                    self.error("missing-key", "a step needs `run` or `uses`", item.mark);
                    None
                }
                (Some(r), None) => {
                    for key in ["with"] {
                        if let Some((k, _)) = m.get_entry(key) {
                            self.error("invalid-value", format!("`{key}` is only for steps with `uses`"), k.mark);
                        }
                    }
                    sc.place = place("run");
                    if let yaml::Value::Seq(_) | yaml::Value::Map(_) = r.value {
                        self.error("wrong-type", format!("`run` must be a string, not a {}", r.type_name()), r.mark);
                    }
                    let script = self.template(r, &sc);
                    let shell = m.get("shell").and_then(|s| self.scalar(s, "`shell`"));
                    if let (Some(sh), Some(n)) = (&shell, m.get("shell")) {
                        self.check_shell(sh, n);
                    }
                    if composite && shell.is_none() {
                        self.error("missing-key", "a `run` step of a composite action needs `shell`", item.mark);
                    }
                    sc.place = place("working-directory");
                    let wd = m.get("working-directory").and_then(|w| self.template(w, &sc));
                    if let Some(w) = m.get("working-directory")
                        && let Some(text) = w.as_str()
                    {
                        self.check_workspace_path("working-directory", text, w, 0);
                    }
                    let shell = shell.or_else(|| job_defaults.shell.clone()).or_else(|| wf_defaults.shell.clone());
                    let wd = wd.or_else(|| {
                        job_defaults
                            .working_directory
                            .clone()
                            .or_else(|| wf_defaults.working_directory.clone())
                            .map(Template::literal)
                    });
                    script.map(|script| StepKind::Run { script, shell, working_directory: wd })
                }
                (None, Some(u)) => {
                    for key in ["shell", "working-directory"] {
                        if let Some((k, _)) = m.get_entry(key) {
                            self.error("invalid-value", format!("`{key}` is only for `run` steps"), k.mark);
                        }
                    }
                    let uses = self.scalar(u, "`uses`").unwrap_or_default();
                    self.check_action_paths(&uses, m.get("with"));
                    sc.place = place("with");
                    let mut with = Vec::new();
                    if let Some(w) = m.get("with")
                        && let Some(wm) = self.expect_map(w, "`with`")
                    {
                        for (k, v) in &wm.entries {
                            if let Some(t) = self.value_template(v, &sc) {
                                with.push((k.name.clone(), t));
                            }
                        }
                    }
                    self.uses(&uses, u, with)
                }
            };
            let name = m
                .get("name")
                .and_then(|n| {
                    sc.place = place("name");
                    self.template(n, &sc)
                })
                .map(|_| m.get("name").and_then(|n| n.scalar_string()).unwrap_or_default())
                .unwrap_or_else(|| match &kind {
                    Some(StepKind::Run { .. }) => {
                        let raw = m.get("run").and_then(|r| r.scalar_string()).unwrap_or_default();
                        format!("Run {}", raw.lines().find(|l| !l.trim().is_empty()).unwrap_or("").trim())
                    }
                    Some(StepKind::Action { owner_name, git_ref, .. }) => format!("Run {owner_name}@{git_ref}"),
                    Some(StepKind::Composite { path, .. }) => format!("Run ./{path}"),
                    Some(StepKind::Docker { image }) => format!("Run docker://{image}"),
                    None => String::new(),
                });
            let explicit = id.is_some();
            let id = id.unwrap_or_else(|| format!("__{}", idx + 1));
            ids.push(id.clone());
            if let Some(kind) = kind {
                out.push(Step {
                    id,
                    explicit_id: explicit,
                    name,
                    condition,
                    kind,
                    env,
                    continue_on_error,
                    timeout_minutes,
                    mark: item.mark,
                });
            }
        }
        out
    }

    fn uses(&mut self, uses: &str, node: &Node, with: Vec<(String, Template)>) -> Option<StepKind> {
        if let Some(image) = uses.strip_prefix("docker://") {
            return Some(StepKind::Docker { image: image.to_string() });
        }
        if let Some(rel) = uses.strip_prefix("./") {
            let dir = rel.trim_end_matches('/');
            if dir.split('/').any(|s| s == "..") {
                self.error("path-escape", format!("`uses: {uses}` leaves the repository"), node.mark);
                return None;
            }
            let action = self.load_composite(dir, node)?;
            return Some(StepKind::Composite { path: dir.to_string(), action: Box::new(action), with });
        }
        let Some((owner_name, git_ref)) = uses.split_once('@') else {
            self.diags.push(
                Diagnostic::error("invalid-action", format!("`uses: {uses}` needs a version: `{uses}@<ref>`"))
                    .at_mark(node.mark)
                    .help("for example `actions/checkout@v4`"),
            );
            return None;
        };
        let parts: Vec<&str> = owner_name.split('/').collect();
        if parts.len() < 2 || parts.iter().any(|p| p.is_empty()) || git_ref.is_empty() {
            self.error("invalid-action", format!("`uses: {uses}` is not `owner/repo[/path]@ref`"), node.mark);
            return None;
        }
        Some(StepKind::Action { owner_name: owner_name.to_string(), git_ref: git_ref.to_string(), with })
    }

    fn load_composite(&mut self, dir: &str, node: &Node) -> Option<CompositeAction> {
        if self.calling.iter().any(|c| c == dir) {
            self.error("include-cycle", format!("composite action `./{dir}` uses itself"), node.mark);
            return None;
        }
        let mut found = None;
        for f in ["action.yml", "action.yaml"] {
            let p = if dir.is_empty() { f.to_string() } else { format!("{dir}/{f}") };
            if let Ok(text) = self.project.read(&p) {
                found = Some((p, text));
                break;
            }
        }
        let Some((path, text)) = found else {
            self.error("invalid-action", format!("no `action.yml` or `action.yaml` in `./{dir}`"), node.mark);
            return None;
        };
        let id = self.sources.add(&path, text.clone());
        let root = match yaml::parse_with(id, &text, Schema::Core12) {
            Ok(r) => r,
            Err(d) => {
                self.diags.push(d);
                return None;
            }
        };
        let map = self.expect_map(&root, "an action")?;
        self.check_keys(
            map,
            &["name", "author", "description", "inputs", "outputs", "runs", "branding"],
            "`action.yml`",
        );
        let mut inputs = Vec::new();
        let mut input_names = Vec::new();
        if let Some(im) = map.get("inputs").and_then(|i| self.expect_map(i, "`inputs`")) {
            for (k, v) in &im.entries {
                input_names.push(k.name.clone());
                let default = v.as_map().and_then(|m| m.get("default")).and_then(|d| {
                    let s = Scope {
                        allowed: &["github", "env", "vars", "inputs", "runner", "job", "strategy", "matrix"],
                        place: "an input default".into(),
                        ..Scope::default()
                    };
                    self.template(d, &s)
                });
                inputs.push((k.name.clone(), default));
            }
        }
        let Some(runs) = map.get("runs").and_then(|r| self.expect_map(r, "`runs`")) else {
            self.error("missing-key", "`action.yml` needs `runs`", root.mark);
            return None;
        };
        let using = runs.get("using").and_then(|u| u.as_str()).unwrap_or("");
        if using != "composite" {
            self.error(
                "unsupported",
                format!(
                    "unsupported local action `./{dir}`: `runs.using: {using}`; only composite actions run natively"
                ),
                node.mark,
            );
            return None;
        }
        let scope = Scope {
            allowed: AT_COMPOSITE,
            place: "a composite step".into(),
            inputs: Some(input_names),
            ..Scope::default()
        };
        self.calling.push(dir.to_string());
        let steps = match runs.get("steps") {
            Some(s) => self.steps(s, &scope, true, &RunDefaults::default(), &RunDefaults::default()),
            None => {
                self.error("missing-key", "a composite action needs `runs.steps`", root.mark);
                vec![]
            }
        };
        self.calling.pop();
        let mut outputs = Vec::new();
        if let Some(om) = map.get("outputs").and_then(|o| self.expect_map(o, "`outputs`")) {
            let mut s = scope.clone();
            s.steps = steps.iter().map(|s| s.id.clone()).collect();
            for (k, v) in &om.entries {
                if let Some(val) = v.as_map().and_then(|m| m.get("value"))
                    && let Some(t) = self.template(val, &s)
                {
                    outputs.push((k.name.clone(), t));
                }
            }
        }
        Some(CompositeAction { inputs, outputs, steps })
    }

    fn check_needs(&mut self, wf: &WorkflowDef) {
        // Cycles: DFS over ids.
        let index: HashMap<&str, usize> = wf.jobs.iter().enumerate().map(|(i, j)| (j.id.as_str(), i)).collect();
        let mut state = vec![0u8; wf.jobs.len()];
        let mut reported = HashSet::new();
        fn visit(
            i: usize,
            wf: &WorkflowDef,
            index: &HashMap<&str, usize>,
            state: &mut [u8],
            stack: &mut Vec<usize>,
            out: &mut Vec<Vec<usize>>,
        ) {
            state[i] = 1;
            stack.push(i);
            for (n, _) in &wf.jobs[i].needs {
                if let Some(&d) = index.get(n.as_str()) {
                    if state[d] == 1 {
                        let from = stack.iter().position(|&x| x == d).unwrap_or(0);
                        out.push(stack[from..].to_vec());
                    } else if state[d] == 0 {
                        visit(d, wf, index, state, stack, out);
                    }
                }
            }
            stack.pop();
            state[i] = 2;
        }
        let mut cycles = Vec::new();
        for i in 0..wf.jobs.len() {
            if state[i] == 0 {
                visit(i, wf, &index, &mut state, &mut Vec::new(), &mut cycles);
            }
        }
        for cycle in cycles {
            let first = *cycle.iter().min().unwrap_or(&0);
            if !reported.insert(first) {
                continue;
            }
            let names: Vec<&str> = cycle.iter().map(|&i| wf.jobs[i].id.as_str()).collect();
            // Reported where the cycle closes: the last job's need of the first.
            let last = &wf.jobs[*cycle.last().unwrap_or(&cycle[0])];
            let first = &wf.jobs[cycle[0]].id;
            let mark = last.needs.iter().find(|(n, _)| n == first).map(|(_, m)| *m).unwrap_or(last.key_mark);
            self.error("needs-cycle", format!("`needs` form a cycle: {} -> {}", names.join(" -> "), names[0]), mark);
        }
    }

    /// Whether the run's event triggers the workflow.
    fn triggered(&self, wf: &WorkflowDef) -> bool {
        let source = self.ctx.source.as_str();
        let g = &self.ctx.git;
        let Some(ev) = wf.events.iter().find(|e| e.name == source) else { return false };
        let changed = self.project.changed(None);
        let paths_ok = |ev: &EventDef| -> bool {
            let Some(files) = &changed else { return true };
            if let Some(p) = &ev.paths {
                return files.iter().any(|f| filter::included(p, f));
            }
            if let Some(p) = &ev.paths_ignore {
                return files.is_empty() || !files.iter().all(|f| filter::included(p, f));
            }
            true
        };
        match source {
            "push" => {
                if g.is_tag {
                    if ev.tags.is_none()
                        && ev.tags_ignore.is_none()
                        && (ev.branches.is_some() || ev.branches_ignore.is_some())
                    {
                        return false;
                    }
                    if let Some(t) = &ev.tags {
                        return filter::included(t, &g.ref_name);
                    }
                    if let Some(t) = &ev.tags_ignore {
                        return !t.iter().any(|p| p.matches(&g.ref_name));
                    }
                    true
                } else {
                    if ev.branches.is_none()
                        && ev.branches_ignore.is_none()
                        && (ev.tags.is_some() || ev.tags_ignore.is_some())
                    {
                        return false;
                    }
                    if let Some(b) = &ev.branches
                        && !filter::included(b, &g.ref_name)
                    {
                        return false;
                    }
                    if let Some(b) = &ev.branches_ignore
                        && b.iter().any(|p| p.matches(&g.ref_name))
                    {
                        return false;
                    }
                    paths_ok(ev)
                }
            }
            "pull_request" | "pull_request_target" => {
                let base = &g.default_branch;
                if !ev.types.is_empty()
                    && !ev.types.iter().any(|t| matches!(t.as_str(), "opened" | "synchronize" | "reopened"))
                {
                    return false;
                }
                if let Some(b) = &ev.branches
                    && !filter::included(b, base)
                {
                    return false;
                }
                if let Some(b) = &ev.branches_ignore
                    && b.iter().any(|p| p.matches(base))
                {
                    return false;
                }
                paths_ok(ev)
            }
            _ => true,
        }
    }

    fn static_host(&self, wf: &WorkflowDef, github: &Value, inputs: &Value) -> expr::Contexts {
        let mut c = expr::Contexts::default();
        c.values.insert("github".into(), github.clone());
        c.values.insert("vars".into(), vars_value(self.ctx));
        c.values.insert("inputs".into(), inputs.clone());
        c.values.insert("needs".into(), Value::object(Vec::<(String, Value)>::new()));
        let _ = wf;
        c
    }

    /// Evaluate a template at plan time; an expression that needs run-time
    /// data is an error here.
    fn eval_static(
        &mut self,
        t: &Template,
        host: &expr::Contexts,
        mark: crate::yaml::Mark,
        what: &str,
    ) -> Option<Value> {
        match t.eval(host) {
            Ok(v) => Some(v),
            Err(e) => {
                self.error("unsupported", format!("cannot evaluate {what} when planning: {}", e.message), mark);
                None
            }
        }
    }

    fn build(&mut self, wf: &WorkflowDef, path: &str) -> Option<Pipeline> {
        let github = github_context(self.ctx, &wf.name, path);
        let inputs = inputs_value(self.ctx, &wf.inputs);
        let mut pipeline = Pipeline {
            name: Some(wf.name.clone()),
            file: path.to_string(),
            stages: vec![wf.name.clone()],
            jobs: vec![],
        };
        let inherited = Inherited { inputs: self.trigger_inputs(wf), no_skip: false };
        self.expand_jobs(wf, path, &github, &inputs, &mut pipeline, None, &inherited);
        // Jobs were planned in dependency order; show them in file order.
        let mut perm: Vec<usize> = (0..pipeline.jobs.len()).collect();
        perm.sort_by(|&a, &b| self.order[a].cmp(&self.order[b]));
        let mut new_index = vec![0; perm.len()];
        for (new, &old) in perm.iter().enumerate() {
            new_index[old] = new;
        }
        let mut jobs: Vec<Option<Job>> = std::mem::take(&mut pipeline.jobs).into_iter().map(Some).collect();
        for &old in &perm {
            let mut j = jobs[old].take().expect("each job once");
            if let Some(needs) = &mut j.needs {
                for n in needs.iter_mut() {
                    n.job = new_index[n.job];
                }
            }
            if let Some(g) = j.github.as_mut()
                && let Some(group) = g.strategy.group.as_mut()
            {
                *group = new_index[*group];
            }
            pipeline.jobs.push(j);
        }
        fill_ancestors(&mut pipeline);
        Some(pipeline)
    }

    /// The input files the triggering event's `paths`/`paths-ignore`
    /// filters declare, for every job of the run (`None`: no path filters).
    fn trigger_inputs(&self, wf: &WorkflowDef) -> Option<InputSpec> {
        let ev = wf.events.iter().find(|e| e.name == self.ctx.source)?;
        if ev.paths_src.is_none() && ev.paths_ignore_src.is_none() {
            return None;
        }
        Some(InputSpec {
            include: ev.paths_src.clone().unwrap_or_default(),
            exclude: ev.paths_ignore_src.clone().unwrap_or_default(),
            syntax: PatternSyntax::GitHub,
        })
    }

    /// Expand `wf`'s jobs into `pipeline`. `prefix`: the calling job's
    /// display name and the needs of the calling job (reusable workflows);
    /// `inherited`: what the jobs take from the run and their callers.
    #[allow(clippy::too_many_arguments)]
    fn expand_jobs(
        &mut self,
        wf: &WorkflowDef,
        path: &str,
        github: &Value,
        inputs: &Value,
        pipeline: &mut Pipeline,
        prefix: Option<CallPrefix<'_>>,
        inherited: &Inherited,
    ) -> HashMap<String, Vec<usize>> {
        let host = self.static_host(wf, github, inputs);
        // Jobs in dependency order so needs point backwards.
        let order = topo_order(wf);
        let mut instances: HashMap<String, Vec<usize>> = HashMap::new();
        let secrets: Vec<(String, String)> = match prefix {
            Some((_, _, s)) => s.to_vec(),
            None => self.ctx.secrets.clone(),
        };
        for &ji in &order {
            let jd = &wf.jobs[ji];
            let mut needs_edges: Vec<NeedEdge> = Vec::new();
            for (n, _) in &jd.needs {
                for &i in instances.get(n).map(|v| v.as_slice()).unwrap_or(&[]) {
                    needs_edges.push(NeedEdge { job: i, artifacts: true });
                }
            }
            if let Some((_, outer, _)) = prefix {
                needs_edges.extend(outer.iter().map(|&i| NeedEdge { job: i, artifacts: true }));
            }
            // Reusable workflow call: expand the called jobs in place.
            if let Some(call) = &jd.call {
                self.key_prefix.push(ji);
                let caller_env: Vec<(String, Template)> = wf.env.iter().chain(&jd.env).cloned().collect();
                let inner = Inherited {
                    inputs: inherited.inputs.clone(),
                    no_skip: inherited.no_skip || !jd.skippable || env_no_skip(&caller_env),
                };
                let ids =
                    self.expand_call(jd, call, github, pipeline, &needs_edges, &secrets, prefix.map(|p| p.0), &inner);
                self.key_prefix.pop();
                instances.insert(jd.id.clone(), ids);
                continue;
            }
            let combos: Vec<Option<matrix::Instance>> = match jd.strategy.as_ref().and_then(|s| s.matrix.as_ref()) {
                None => vec![None],
                Some(m) => match self.matrix_value(m, &host) {
                    Ok(mx) => match matrix::expand(&mx) {
                        Ok(list) if list.is_empty() => vec![None],
                        Ok(list) => list.into_iter().map(Some).collect(),
                        Err(e) => {
                            let mark = jd.strategy.as_ref().map(|s| s.matrix_key).unwrap_or(m.mark);
                            self.error("invalid-matrix", e, mark);
                            continue;
                        }
                    },
                    Err(e) => {
                        let mark = jd.strategy.as_ref().map(|s| s.matrix_key).unwrap_or(m.mark);
                        self.error("invalid-matrix", e, mark);
                        continue;
                    }
                },
            };
            let group = if jd.strategy.as_ref().and_then(|s| s.matrix.as_ref()).is_some() {
                Some(pipeline.jobs.len())
            } else {
                None
            };
            let total = combos.len();
            let mut mine = Vec::new();
            for (ci, combo) in combos.into_iter().enumerate() {
                let matrix_value =
                    combo.as_ref().map(|c| Value::Object(std::sync::Arc::new(c.matrix.clone()))).unwrap_or(Value::Null);
                let mut h = host.clone();
                h.values.insert("matrix".into(), matrix_value.clone());
                let mut strategy =
                    Strategy { group, fail_fast: true, max_parallel: None, job_index: ci, job_total: total };
                if let Some(s) = &jd.strategy {
                    if let Some(ff) = &s.fail_fast {
                        strategy.fail_fast = yaml_value(ff, &h).map(|v| v.truthy()).unwrap_or(true);
                    }
                    if let Some(mp) = &s.max_parallel {
                        let n = yaml_value(mp, &h).map(|v| v.to_number()).unwrap_or(f64::NAN);
                        if n.is_finite() && n >= 1.0 {
                            strategy.max_parallel = Some(n as usize);
                        }
                    }
                }
                h.values.insert(
                    "strategy".into(),
                    Value::object([
                        ("fail-fast", Value::Bool(strategy.fail_fast)),
                        ("job-index", Value::Number(ci as f64)),
                        ("job-total", Value::Number(total as f64)),
                        ("max-parallel", Value::Number(strategy.max_parallel.unwrap_or(total) as f64)),
                    ]),
                );
                let base_name = match &jd.name {
                    Some(t) => match self.eval_static(t, &h, jd.key_mark, "the job name") {
                        Some(v) => v.to_display(),
                        None => jd.id.clone(),
                    },
                    None => jd.id.clone(),
                };
                let has_expr = jd.name.as_ref().is_some_and(|t| !t.is_literal());
                let mut name = match &combo {
                    Some(c) if !has_expr => matrix::display_name(&base_name, &c.label),
                    _ => base_name,
                };
                if let Some((p, _, _)) = prefix {
                    name = format!("{p} / {name}");
                }
                let timeout_minutes = match &jd.timeout {
                    Some(t) => self
                        .eval_static(t, &h, jd.key_mark, "`timeout-minutes`")
                        .map(|v| v.to_number())
                        .unwrap_or(DEFAULT_TIMEOUT_MINUTES),
                    None => DEFAULT_TIMEOUT_MINUTES,
                };
                let timeout_minutes = if timeout_minutes.is_finite() && timeout_minutes > 0.0 {
                    timeout_minutes
                } else {
                    DEFAULT_TIMEOUT_MINUTES
                };
                let continue_on_error = match &jd.continue_on_error {
                    Some(t) => self.eval_static(t, &h, jd.key_mark, "`continue-on-error`").is_some_and(|v| v.truthy()),
                    None => false,
                };
                let concurrency = match &jd.concurrency {
                    Some(t) => self
                        .eval_static(t, &h, jd.key_mark, "`concurrency`")
                        .map(|v| v.to_display())
                        .filter(|s| !s.is_empty()),
                    None => None,
                };
                let mut env = wf.env.clone();
                env.extend(jd.env.iter().cloned());
                let defaults = RunDefaults {
                    shell: jd.defaults.shell.clone().or_else(|| wf.defaults.shell.clone()),
                    working_directory: jd
                        .defaults
                        .working_directory
                        .clone()
                        .or_else(|| wf.defaults.working_directory.clone()),
                };
                let mut gh_ctx = github.clone();
                if let Value::Object(o) = &mut gh_ctx {
                    let o = std::sync::Arc::make_mut(o);
                    o.insert("job".into(), Value::str(jd.id.clone()));
                }
                let variables = default_env(&gh_ctx, &jd.id);
                let skippable = !inherited.no_skip && jd.skippable && !env_no_skip(&env);
                let index = pipeline.jobs.len();
                pipeline.jobs.push(Job {
                    name,
                    definition: jd.id.clone(),
                    stage: wf.name.clone(),
                    stage_index: 0,
                    needs: Some(needs_edges.clone()),
                    dependencies: None,
                    when: When::OnSuccess,
                    start_in_secs: None,
                    allow_failure: AllowFailure { allowed: continue_on_error, exit_codes: vec![] },
                    before_script: vec![],
                    script: vec![],
                    after_script: vec![],
                    variables,
                    masked: secrets.iter().map(|(k, _)| k.clone()).collect(),
                    timeout_secs: (timeout_minutes * 60.0).ceil() as u64,
                    retry: Retry::default(),
                    artifacts: None,
                    caches: vec![],
                    environment: None,
                    coverage: None,
                    image: None,
                    node: None,
                    mark: jd.key_mark,
                    github: Some(Box::new(GhJob {
                        id: jd.id.clone(),
                        workflow: wf.name.clone(),
                        base_name: match (&jd.name, prefix) {
                            (Some(t), None) if t.is_literal() => t.eval_string(&host).unwrap_or_else(|_| jd.id.clone()),
                            (_, None) => jd.id.clone(),
                            (Some(t), Some((p, _, _))) if t.is_literal() => {
                                format!("{p} / {}", t.eval_string(&host).unwrap_or_else(|_| jd.id.clone()))
                            }
                            (_, Some((p, _, _))) => format!("{p} / {}", jd.id),
                        },
                        condition: jd.condition.clone(),
                        needs_ids: jd.needs.iter().map(|(n, _)| n.clone()).collect(),
                        ancestors: vec![],
                        matrix: matrix_value,
                        strategy,
                        github: gh_ctx,
                        vars: vars_value(self.ctx),
                        inputs: inputs.clone(),
                        secrets: secrets.clone(),
                        env,
                        defaults,
                        outputs: jd.outputs.clone(),
                        steps: jd.steps.clone(),
                        continue_on_error,
                        concurrency,
                    })),
                    inputs: inherited.inputs.clone(),
                    skippable,
                });
                let mut key = self.key_prefix.clone();
                key.extend([ji, ci]);
                self.order.push(key);
                mine.push(index);
            }
            instances.insert(jd.id.clone(), mine);
        }
        let _ = path;
        instances
    }

    #[allow(clippy::too_many_arguments)]
    fn expand_call(
        &mut self,
        jd: &JobDef,
        call: &Call,
        github: &Value,
        pipeline: &mut Pipeline,
        needs: &[NeedEdge],
        secrets: &[(String, String)],
        outer: Option<&str>,
        inherited: &Inherited,
    ) -> Vec<usize> {
        if self.calling.iter().any(|c| c == &call.path) || self.calling.len() > 4 {
            self.error(
                "include-cycle",
                format!("reusable workflow `{}` calls itself (or nests too deep)", call.path),
                call.mark,
            );
            return vec![];
        }
        self.calling.push(call.path.clone());
        let loaded = self.load_workflow(&call.path, Some(call.mark));
        self.calling.pop();
        let Some(inner) = loaded else { return vec![] };
        if !inner.events.iter().any(|e| e.name == "workflow_call") {
            self.error(
                "invalid-value",
                format!("`{}` is not a reusable workflow: it has no `on: workflow_call`", call.path),
                call.mark,
            );
            return vec![];
        }
        let host = {
            let mut c = expr::Contexts::default();
            c.values.insert("github".into(), github.clone());
            c.values.insert("vars".into(), vars_value(self.ctx));
            c.values.insert("inputs".into(), inputs_value(self.ctx, &[]));
            c.values.insert("needs".into(), Value::object(Vec::<(String, Value)>::new()));
            c.values.insert(
                "secrets".into(),
                Value::object(secrets.iter().map(|(k, v)| (k.clone(), Value::str(v.clone())))),
            );
            c
        };
        let mut inputs: IndexMap<String, Value> = IndexMap::new();
        for i in &inner.inputs {
            if let Some(d) = &i.default {
                inputs.insert(i.name.clone(), d.clone());
            }
        }
        for (k, t, kmark) in &call.with {
            if !inner.inputs.iter().any(|i| &i.name == k) {
                let hint = did_you_mean(k, inner.inputs.iter().map(|i| i.name.as_str()))
                    .map(|s| format!(" (did you mean `{s}`?)"))
                    .unwrap_or_default();
                self.error(
                    "unknown-key",
                    format!("reusable workflow `{}` has no input `{k}`{hint}", call.path),
                    *kmark,
                );
                continue;
            }
            if let Some(v) = self.eval_static(t, &host, call.mark, "a `with` value") {
                inputs.insert(k.clone(), v);
            }
        }
        for i in &inner.inputs {
            if i.required && !inputs.contains_key(&i.name) {
                self.error(
                    "missing-key",
                    format!("reusable workflow `{}` needs input `{}`", call.path, i.name),
                    jd.key_mark,
                );
            }
        }
        let inner_secrets: Vec<(String, String)> = if call.secrets_inherit {
            secrets.to_vec()
        } else {
            call.secrets.iter().filter_map(|(k, t)| t.eval_string(&host).ok().map(|v| (k.clone(), v))).collect()
        };
        let name = jd.name.as_ref().and_then(|t| t.eval_string(&host).ok()).unwrap_or_else(|| jd.id.clone());
        let name = match outer {
            Some(o) => format!("{o} / {name}"),
            None => name,
        };
        let mut gh = github.clone();
        if let Value::Object(o) = &mut gh {
            std::sync::Arc::make_mut(o).insert("workflow".into(), Value::str(inner.name.clone()));
        }
        let inputs_v = Value::Object(std::sync::Arc::new(inputs));
        let outer_needs: Vec<usize> = needs.iter().map(|e| e.job).collect();
        let map = self.expand_jobs(
            &inner,
            &call.path,
            &gh,
            &inputs_v,
            pipeline,
            Some((&name, &outer_needs, &inner_secrets)),
            inherited,
        );
        let mut all: Vec<usize> = map.values().flatten().copied().collect();
        all.sort_unstable();
        if !inner.call_outputs.is_empty() || !jd.outputs.is_empty() {
            // The caller's `needs.<id>.outputs` are the workflow's outputs,
            // evaluated over its jobs; the runner does that on the last job.
            if let Some(&last) = all.last()
                && let Some(gj) = pipeline.jobs[last].github.as_mut()
            {
                let _ = gj;
            }
            if !inner.call_outputs.is_empty() {
                self.warn(
                    "unsupported",
                    "outputs of a reusable workflow are not passed to the caller's dependents yet",
                    call.mark,
                );
            }
        }
        all
    }

    fn matrix_value(&self, m: &Node, host: &expr::Contexts) -> Result<Matrix, String> {
        let v = yaml_value(m, host)?;
        let Value::Object(o) = v else { return Err(format!("`matrix` must be a mapping, not {}", v.kind())) };
        let mut mx = Matrix::default();
        let combos = |v: &Value, what: &str| -> Result<Vec<Combination>, String> {
            match v {
                Value::Array(items) => items
                    .iter()
                    .map(|i| match i {
                        Value::Object(o) => Ok(o.as_ref().clone()),
                        other => Err(format!("each matrix `{what}` entry must be a mapping, not {}", other.kind())),
                    })
                    .collect(),
                Value::Null => Ok(vec![]),
                other => Err(format!("matrix `{what}` must be a list of mappings, not {}", other.kind())),
            }
        };
        for (k, v) in o.iter() {
            match k.as_str() {
                "include" => mx.include = combos(v, "include")?,
                "exclude" => mx.exclude = combos(v, "exclude")?,
                _ => match v {
                    Value::Array(items) => mx.vectors.push((k.clone(), items.as_ref().clone())),
                    other => return Err(format!("matrix vector `{k}` must be a list, not {}", other.kind())),
                },
            }
        }
        Ok(mx)
    }
}

/// Validate a POSIX cron expression (5 fields, GitHub's syntax).
fn check_cron(s: &str) -> Result<(), String> {
    let fields: Vec<&str> = s.split_whitespace().collect();
    if fields.len() != 5 {
        return Err(format!("expected 5 fields, found {}", fields.len()));
    }
    const MONTHS: &[&str] = &["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"];
    const DAYS: &[&str] = &["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];
    let spec: [(&str, u32, u32, &[&str], u32); 5] = [
        ("minute", 0, 59, &[], 0),
        ("hour", 0, 23, &[], 0),
        ("day of month", 1, 31, &[], 0),
        ("month", 1, 12, MONTHS, 1),
        ("day of week", 0, 6, DAYS, 0),
    ];
    for (f, (what, lo, hi, names, base)) in fields.iter().zip(spec) {
        for part in f.split(',') {
            let (range, step) = match part.split_once('/') {
                Some((r, st)) => (r, Some(st)),
                None => (part, None),
            };
            if let Some(st) = step
                && st.parse::<u32>().is_ok_and(|n| n == 0) | st.parse::<u32>().is_err()
            {
                return Err(format!("invalid step `{st}` in the {what} field"));
            }
            if range == "*" {
                continue;
            }
            for v in range.split('-') {
                let n = v
                    .parse::<u32>()
                    .ok()
                    .or_else(|| names.iter().position(|x| x.eq_ignore_ascii_case(v)).map(|i| i as u32 + base));
                match n {
                    Some(n) if n >= lo && n <= hi => {}
                    _ => return Err(format!("`{v}` is out of range for the {what} field ({lo}-{hi})")),
                }
            }
        }
    }
    Ok(())
}

fn describe(node: &Node) -> String {
    match node.scalar_string() {
        Some(s) => format!("`{s}`"),
        None => format!("a {}", node.type_name()),
    }
}

/// A template that is one typed value.
fn typed(v: Value) -> Template {
    Template { parts: vec![expr::Part::Expr(Expr::Lit(v), 0)] }
}

/// A YAML node as an expression value, with `${{ }}` strings evaluated.
fn yaml_value(node: &Node, host: &dyn expr::Host) -> Result<Value, String> {
    Ok(match &node.value {
        yaml::Value::Null => Value::Null,
        yaml::Value::Bool(b) => Value::Bool(*b),
        yaml::Value::Int(i) => Value::Number(*i as f64),
        yaml::Value::Float(f) => Value::Number(*f),
        yaml::Value::Str(s) => {
            if s.contains("${{") {
                let t = expr::parse_template(s).map_err(|e| e.message)?;
                t.eval(host).map_err(|e| format!("cannot evaluate `{s}` when planning: {}", e.message))?
            } else {
                Value::String(s.clone())
            }
        }
        yaml::Value::Seq(items) => {
            Value::array(items.iter().map(|i| yaml_value(i, host)).collect::<Result<Vec<_>, _>>()?)
        }
        yaml::Value::Map(m) => Value::object(
            m.entries
                .iter()
                .map(|(k, v)| Ok((k.name.clone(), yaml_value(v, host)?)))
                .collect::<Result<Vec<_>, String>>()?,
        ),
    })
}

/// Whether `env` (later entries win) sets `SHIPWAY_NO_SKIP` to a literal
/// value that asks never to skip (see [`no_skip_value`]). A value computed
/// by an expression is not known here and does not count.
fn env_no_skip(env: &[(String, Template)]) -> bool {
    let Some((_, t)) = env.iter().rev().find(|(k, _)| k == "SHIPWAY_NO_SKIP") else { return false };
    if !t.exprs().all(|(e, _)| matches!(e, Expr::Lit(_))) {
        return false;
    }
    t.eval_string(&expr::Contexts::default()).is_ok_and(|v| no_skip_value(&v))
}

fn topo_order(wf: &WorkflowDef) -> Vec<usize> {
    let index: HashMap<&str, usize> = wf.jobs.iter().enumerate().map(|(i, j)| (j.id.as_str(), i)).collect();
    let mut done = vec![false; wf.jobs.len()];
    let mut order = Vec::new();
    // Repeatedly take, in file order, the first job whose needs are placed.
    loop {
        let mut progressed = false;
        for i in 0..wf.jobs.len() {
            if done[i] {
                continue;
            }
            let ready = wf.jobs[i].needs.iter().all(|(n, _)| index.get(n.as_str()).is_none_or(|&d| done[d]));
            if ready {
                done[i] = true;
                order.push(i);
                progressed = true;
                break;
            }
        }
        if !progressed {
            break;
        }
    }
    order
}

/// Record every job's transitive needs (for `failure()`).
fn fill_ancestors(p: &mut Pipeline) {
    let n = p.jobs.len();
    let mut anc: Vec<Vec<usize>> = vec![vec![]; n];
    for (j, slot) in anc.iter_mut().enumerate() {
        let mut seen = vec![false; n];
        let mut todo: Vec<usize> = p.jobs[j].needs.iter().flatten().map(|e| e.job).collect();
        while let Some(d) = todo.pop() {
            if d == j || std::mem::replace(&mut seen[d], true) {
                continue;
            }
            todo.extend(p.jobs[d].needs.iter().flatten().map(|e| e.job));
        }
        *slot = (0..n).filter(|&d| seen[d]).collect();
    }
    for (j, a) in anc.into_iter().enumerate() {
        if let Some(g) = p.jobs[j].github.as_mut() {
            g.ancestors = a;
        }
    }
}

fn vars_value(ctx: &Context) -> Value {
    Value::object(ctx.pipeline_vars.iter().map(|(k, v)| (k.clone(), Value::str(v.clone()))))
}

fn inputs_value(ctx: &Context, defs: &[InputDef]) -> Value {
    let mut m: IndexMap<String, Value> = IndexMap::new();
    for d in defs {
        if let Some(v) = &d.default {
            m.insert(d.name.clone(), v.clone());
        }
    }
    for (k, v) in &ctx.inputs {
        let val = match defs.iter().find(|d| &d.name == k).and_then(|d| d.default.as_ref()) {
            Some(Value::Bool(_)) => Value::Bool(v == "true"),
            Some(Value::Number(_)) => v.parse::<f64>().map(Value::Number).unwrap_or_else(|_| Value::str(v.clone())),
            _ => Value::str(v.clone()),
        };
        m.insert(k.clone(), val);
    }
    Value::Object(std::sync::Arc::new(m))
}

/// The `github` context for a run (the run-time parts, such as
/// `workspace`, are added by the runner).
pub fn github_context(ctx: &Context, workflow: &str, path: &str) -> Value {
    let g = &ctx.git;
    let repo = if g.project_namespace.is_empty() {
        format!("local/{}", g.project_name)
    } else {
        format!("{}/{}", g.project_namespace, g.project_name)
    };
    let owner = repo.split('/').next().unwrap_or("local").to_string();
    let event_name = ctx.source.clone();
    let is_pr = event_name.starts_with("pull_request");
    let (git_ref, ref_name, ref_type) = if is_pr {
        ("refs/pull/1/merge".to_string(), "1/merge".to_string(), "branch")
    } else if g.is_tag {
        (format!("refs/tags/{}", g.ref_name), g.ref_name.clone(), "tag")
    } else {
        (format!("refs/heads/{}", g.ref_name), g.ref_name.clone(), "branch")
    };
    let actor = if g.author_email.is_empty() {
        "shipway".to_string()
    } else {
        g.author_email.split('@').next().unwrap_or("shipway").to_string()
    };
    let repository = Value::object([
        ("name", Value::str(g.project_name.clone())),
        ("full_name", Value::str(repo.clone())),
        ("default_branch", Value::str(g.default_branch.clone())),
        ("owner", Value::object([("login", Value::str(owner.clone()))])),
    ]);
    let commit = Value::object([
        ("id", Value::str(g.sha.clone())),
        ("message", Value::str(g.message.clone())),
        ("timestamp", Value::str(g.timestamp.clone())),
        (
            "author",
            Value::object([("name", Value::str(g.author_name.clone())), ("email", Value::str(g.author_email.clone()))]),
        ),
    ]);
    let sender = Value::object([("login", Value::str(actor.clone()))]);
    let event = match event_name.as_str() {
        "push" => Value::object([
            ("ref", Value::str(git_ref.clone())),
            ("before", Value::str(g.before_sha.clone())),
            ("after", Value::str(g.sha.clone())),
            ("created", Value::Bool(false)),
            ("deleted", Value::Bool(false)),
            ("forced", Value::Bool(false)),
            ("head_commit", commit.clone()),
            ("commits", Value::array([commit])),
            ("repository", repository),
            (
                "pusher",
                Value::object([
                    ("name", Value::str(g.author_name.clone())),
                    ("email", Value::str(g.author_email.clone())),
                ]),
            ),
            ("sender", sender),
        ]),
        e if e.starts_with("pull_request") => Value::object([
            ("action", Value::str("synchronize")),
            ("number", Value::Number(1.0)),
            (
                "pull_request",
                Value::object([
                    ("number", Value::Number(1.0)),
                    ("title", Value::str(g.message.lines().next().unwrap_or("").to_string())),
                    ("draft", Value::Bool(false)),
                    ("labels", Value::array([])),
                    (
                        "head",
                        Value::object([("ref", Value::str(g.ref_name.clone())), ("sha", Value::str(g.sha.clone()))]),
                    ),
                    (
                        "base",
                        Value::object([
                            ("ref", Value::str(g.default_branch.clone())),
                            ("sha", Value::str(g.before_sha.clone())),
                        ]),
                    ),
                ]),
            ),
            ("repository", repository),
            ("sender", sender),
        ]),
        "workflow_dispatch" => Value::object([
            ("ref", Value::str(git_ref.clone())),
            ("inputs", Value::object(ctx.inputs.iter().map(|(k, v)| (k.clone(), Value::str(v.clone()))))),
            ("repository", repository),
            ("sender", sender),
        ]),
        _ => Value::object([("repository", repository), ("sender", sender)]),
    };
    Value::object([
        ("action", Value::str("")),
        ("actor", Value::str(actor.clone())),
        ("api_url", Value::str("https://api.github.com")),
        ("base_ref", Value::str(if is_pr { g.default_branch.clone() } else { String::new() })),
        ("event", event),
        ("event_name", Value::str(event_name)),
        ("graphql_url", Value::str("https://api.github.com/graphql")),
        ("head_ref", Value::str(if is_pr { g.ref_name.clone() } else { String::new() })),
        ("job", Value::str("")),
        ("ref", Value::str(git_ref)),
        ("ref_name", Value::str(ref_name)),
        ("ref_protected", Value::Bool(false)),
        ("ref_type", Value::str(ref_type)),
        ("repository", Value::str(repo.clone())),
        ("repository_owner", Value::str(owner)),
        ("repositoryUrl", Value::str(g.repo_url.clone())),
        ("retention_days", Value::str("90")),
        ("run_attempt", Value::str("1")),
        ("run_id", Value::str(ctx.pipeline_id.to_string())),
        ("run_number", Value::str(ctx.pipeline_id.to_string())),
        ("server_url", Value::str("https://github.com")),
        ("sha", Value::str(g.sha.clone())),
        ("token", Value::str("")),
        ("triggering_actor", Value::str(actor)),
        ("workflow", Value::str(workflow.to_string())),
        ("workflow_ref", Value::str(format!("{repo}/{path}@{}", "refs/heads/".to_string() + &g.ref_name))),
        ("workspace", Value::str("")),
    ])
}

/// GitHub's default environment variables that do not depend on the host.
fn default_env(github: &Value, job_id: &str) -> Vec<(String, String)> {
    let g = |k: &str| github.get(k).map(Value::to_display).unwrap_or_default();
    vec![
        ("CI".into(), "true".into()),
        ("GITHUB_ACTIONS".into(), "true".into()),
        ("GITHUB_ACTOR".into(), g("actor")),
        ("GITHUB_API_URL".into(), g("api_url")),
        ("GITHUB_BASE_REF".into(), g("base_ref")),
        ("GITHUB_EVENT_NAME".into(), g("event_name")),
        ("GITHUB_GRAPHQL_URL".into(), g("graphql_url")),
        ("GITHUB_HEAD_REF".into(), g("head_ref")),
        ("GITHUB_JOB".into(), job_id.to_string()),
        ("GITHUB_REF".into(), g("ref")),
        ("GITHUB_REF_NAME".into(), g("ref_name")),
        ("GITHUB_REF_PROTECTED".into(), "false".into()),
        ("GITHUB_REF_TYPE".into(), g("ref_type")),
        ("GITHUB_REPOSITORY".into(), g("repository")),
        ("GITHUB_REPOSITORY_OWNER".into(), g("repository_owner")),
        ("GITHUB_RETENTION_DAYS".into(), "90".into()),
        ("GITHUB_RUN_ATTEMPT".into(), "1".into()),
        ("GITHUB_RUN_ID".into(), g("run_id")),
        ("GITHUB_RUN_NUMBER".into(), g("run_number")),
        ("GITHUB_SERVER_URL".into(), g("server_url")),
        ("GITHUB_SHA".into(), g("sha")),
        ("GITHUB_TRIGGERING_ACTOR".into(), g("triggering_actor")),
        ("GITHUB_WORKFLOW".into(), g("workflow")),
        ("GITHUB_WORKFLOW_REF".into(), g("workflow_ref")),
        ("RUNNER_ARCH".into(), "X64".into()),
        ("RUNNER_NAME".into(), "shipway".into()),
        ("RUNNER_OS".into(), "Linux".into()),
        ("RUNNER_ENVIRONMENT".into(), "self-hosted".into()),
    ]
}
