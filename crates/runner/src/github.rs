//! Running a GitHub Actions job: steps with their conditions, shells,
//! `GITHUB_*` files, workflow commands, built-in actions and composite
//! actions. Expressions are evaluated with `ci::github::expr` over contexts
//! built here; every value shown goes through the job's masker.

use crate::executor::{AttemptOutcome, JobCtx, JobOutputs, LogSink, Msg, prepare_workspace};
use crate::process::{self, Control, Exit};
use crate::workspace::{self, Manifest};
use ci::github::expr::{self, Host, Status, Template, Value};
use ci::model::{CompositeAction, GhJob, Step, StepKind};
use ci::plan::JobStatus;
use indexmap::IndexMap;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

/// A step's result, as the `steps` context shows it.
#[derive(Clone, Debug)]
struct StepResult {
    outcome: &'static str,
    conclusion: &'static str,
    outputs: IndexMap<String, String>,
}

impl StepResult {
    fn value(&self) -> Value {
        Value::object([
            ("outputs", Value::object(self.outputs.iter().map(|(k, v)| (k.clone(), Value::str(v.clone()))))),
            ("outcome", Value::str(self.outcome)),
            ("conclusion", Value::str(self.conclusion)),
        ])
    }
}

/// A cache to save when the job ends (`actions/cache`'s post step).
struct PendingCache {
    key: String,
    paths: Vec<String>,
    /// rust-cache: the persistent target dir this job took (given back at
    /// the end whatever the job's result, as a local target dir persists).
    lease: Option<crate::cache::Lease>,
    /// Saved even when the job failed.
    always: bool,
}

/// Host for expression evaluation: contexts plus `hashFiles` over the
/// workspace.
struct JobHost<'a> {
    contexts: IndexMap<String, Value>,
    status: Status,
    ws: &'a Path,
}

impl Host for JobHost<'_> {
    fn context(&self, name: &str) -> Option<Value> {
        self.contexts.get(name).cloned()
    }
    fn status(&self) -> Status {
        self.status
    }
    fn hash_files(&self, patterns: &[String]) -> Result<String, String> {
        let files = workspace::list_tree(self.ws);
        let files: Vec<String> = files.into_iter().filter(|f| !f.starts_with(".git/")).collect();
        hash_files(self.ws, &files, patterns)
    }
}

/// `hashFiles`: SHA-256 over the SHA-256 of each selected file.
pub fn hash_files(ws: &Path, files: &[String], patterns: &[String]) -> Result<String, String> {
    let selected = ci::github::hash_files_selection(files, patterns)?;
    let mut total = Sha256::new();
    let mut any = false;
    for f in selected {
        let Ok(bytes) = std::fs::read(ws.join(f)) else { continue };
        total.update(Sha256::digest(&bytes));
        any = true;
    }
    Ok(if any { total.finalize().iter().map(|b| format!("{b:02x}")).collect() } else { String::new() })
}

struct JobRun<'a> {
    ctx: &'a JobCtx,
    gh: &'a GhJob,
    ws: &'a Path,
    tmp: PathBuf,
    /// The `env` context: workflow and job env, then `GITHUB_ENV` additions.
    env: IndexMap<String, String>,
    path_prepend: Vec<String>,
    failed: bool,
    canceled: bool,
    deadline: Instant,
    timed_out: bool,
    caches: Vec<PendingCache>,
    step_seq: usize,
    summary: PathBuf,
    /// Top-level steps finished so far (for the store).
    top_steps: usize,
    /// Artifacts this job uploaded.
    uploaded: Vec<crate::executor::ArtifactOut>,
}

enum StepEnd {
    Success(IndexMap<String, String>),
    Failure(IndexMap<String, String>),
    Canceled,
}

pub(crate) fn run_job(
    ctx: &JobCtx,
    ws: &Path,
    fresh: bool,
    manifest: &mut Manifest,
    control: &Receiver<Control>,
    sink: &mut LogSink,
) -> AttemptOutcome {
    let gh = ctx.job.github.as_deref().expect("a GitHub job");
    let _ = ctx.tx.send(Msg::Started(ctx.index, 1));
    sink.line(&format!(
        "\u{1b}[1mRunning job `{}` with shipway {} (on the host, offline)\u{1b}[0;m",
        ctx.job.name,
        env!("CARGO_PKG_VERSION")
    ));
    let Some(copy) = prepare_workspace(ctx, ws, fresh, 1, manifest, sink) else {
        return (JobStatus::Failed, None, 1, Duration::ZERO, None);
    };
    // Step scripts, `GITHUB_*` files and RUNNER_TEMP live next to the
    // workspace and are reused with it (RUNNER_TEMP is emptied per job); they
    // hold expanded secrets, so they go when the run's workspaces go.
    let tmp = ws.with_extension("gh");
    let runner_temp = tmp.join("temp");
    if std::fs::read_dir(&runner_temp).map(|mut d| d.next().is_some()).unwrap_or(false) {
        let _ = workspace::remove_tree(&runner_temp);
    }
    let _ = std::fs::create_dir_all(&runner_temp);
    // The event payload is the same for every job of the run: written once.
    let event = ctx.run_dir.path.join("event.json");
    if !event.exists() {
        let part = ctx.run_dir.path.join(format!(".event-{}.json", ctx.index));
        let body = gh.github.get("event").map(|e| e.to_json()).unwrap_or_default().to_string();
        if std::fs::write(&part, body).is_ok() {
            let _ = std::fs::rename(&part, &event);
        }
    }
    let summary = ctx.run_dir.path.join("summaries").join(format!("{:03}.md", ctx.index));
    let _ = std::fs::create_dir_all(summary.parent().unwrap_or(&tmp));
    let mut run = JobRun {
        ctx,
        gh,
        ws,
        tmp,
        env: IndexMap::new(),
        path_prepend: Vec::new(),
        failed: false,
        canceled: false,
        deadline: Instant::now() + Duration::from_secs(ctx.job.timeout_secs),
        timed_out: false,
        caches: Vec::new(),
        step_seq: 0,
        summary,
        top_steps: 0,
        uploaded: Vec::new(),
    };
    // Workflow and job env, in order (a later key wins).
    for (k, t) in &gh.env {
        let host = run.host(&IndexMap::new(), None);
        match t.eval_string(&host) {
            Ok(v) => {
                run.env.insert(k.clone(), v);
            }
            Err(e) => {
                sink.line(&format!("\u{1b}[31;1mError: env `{k}`: {}\u{1b}[0;m", e.message));
                run.failed = true;
            }
        }
    }
    let mut steps: IndexMap<String, StepResult> = IndexMap::new();
    if !run.failed {
        run.run_steps(&gh.steps, &mut steps, None, control, sink);
    }
    // Post steps: caches are saved when the job succeeded (a rust-cache
    // target dir goes back in any case).
    let succeeded = !run.failed && !run.canceled;
    run.save_caches(sink, succeeded);
    // Job outputs.
    let mut outputs = JobOutputs { artifacts: std::mem::take(&mut run.uploaded), ..Default::default() };
    for (k, t) in &gh.outputs {
        let host = run.host(&steps, None);
        match t.eval_string(&host) {
            Ok(v) => {
                if sink.masker.mask(&v) != v {
                    sink.line(&format!("Warning: skip output `{k}` since it may contain secret."));
                } else {
                    outputs.gh_outputs.push((k.clone(), v));
                }
            }
            Err(e) => sink.line(&format!("Warning: output `{k}`: {}", e.message)),
        }
    }
    let status = if run.canceled || ctx.canceled.load(Ordering::SeqCst) {
        JobStatus::Canceled
    } else if !run.failed {
        JobStatus::Success
    } else if gh.continue_on_error {
        JobStatus::AllowedFailure
    } else if run.timed_out {
        JobStatus::TimedOut
    } else {
        JobStatus::Failed
    };
    match status {
        JobStatus::Success => sink.line("\u{1b}[32;1mJob succeeded\u{1b}[0;m"),
        JobStatus::AllowedFailure => sink.line("\u{1b}[33;1mJob failed (continue-on-error)\u{1b}[0;m"),
        JobStatus::TimedOut => sink.line(&format!(
            "\u{1b}[31;1mError: the job has exceeded the maximum execution time of {} minutes\u{1b}[0;m",
            ctx.job.timeout_secs / 60
        )),
        JobStatus::Canceled => sink.line("Job canceled"),
        _ => sink.line("\u{1b}[31;1mJob failed\u{1b}[0;m"),
    }
    let exit_code = if status == JobStatus::Success { Some(0) } else { None };
    (status, exit_code, 1, copy, Some(outputs))
}

fn str_map(m: &IndexMap<String, String>) -> Value {
    Value::object(m.iter().map(|(k, v)| (k.clone(), Value::str(v.clone()))))
}

/// Parse `GITHUB_OUTPUT`/`GITHUB_ENV`: `name=value` lines and
/// `name<<DELIM` … `DELIM` blocks.
pub fn parse_file_commands(text: &str) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    let mut lines = text.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
    while let Some(line) = lines.next() {
        if line.is_empty() {
            continue;
        }
        let heredoc = line.find("<<");
        let eq = line.find('=');
        match (heredoc, eq) {
            (Some(h), e) if e.is_none_or(|e| h < e) => {
                let name = line[..h].to_string();
                let delim = &line[h + 2..];
                if name.is_empty() || delim.is_empty() {
                    return Err(format!("invalid line `{line}`"));
                }
                let mut value: Vec<&str> = Vec::new();
                let mut closed = false;
                for l in lines.by_ref() {
                    if l == delim {
                        closed = true;
                        break;
                    }
                    value.push(l);
                }
                if !closed {
                    return Err(format!("matching delimiter `{delim}` not found for `{name}`"));
                }
                out.push((name, value.join("\n")));
            }
            (_, Some(e)) => {
                let name = &line[..e];
                if name.is_empty() {
                    return Err(format!("invalid line `{line}`"));
                }
                out.push((name.to_string(), line[e + 1..].to_string()));
            }
            _ => return Err(format!("invalid line `{line}`: expected `name=value` or `name<<DELIMITER`")),
        }
    }
    Ok(out)
}

impl JobRun<'_> {
    fn status(&self) -> Status {
        if self.canceled || self.ctx.canceled.load(Ordering::SeqCst) {
            Status::Cancelled
        } else if self.failed {
            Status::Failure
        } else {
            Status::Success
        }
    }

    fn host(&self, steps: &IndexMap<String, StepResult>, inputs: Option<&Value>) -> JobHost<'_> {
        let gh = self.gh;
        let mut c: IndexMap<String, Value> = IndexMap::new();
        let mut github = gh.github.clone();
        if let Value::Object(o) = &mut github {
            let o = std::sync::Arc::make_mut(o);
            o.insert("workspace".into(), Value::str(self.ws.to_string_lossy().into_owned()));
            o.insert("job".into(), Value::str(gh.id.clone()));
        }
        c.insert("github".into(), github);
        c.insert("env".into(), str_map(&self.env));
        c.insert("vars".into(), gh.vars.clone());
        c.insert("secrets".into(), {
            let mut s: Vec<(String, Value)> =
                gh.secrets.iter().map(|(k, v)| (k.clone(), Value::str(v.clone()))).collect();
            if !s.iter().any(|(k, _)| k == "GITHUB_TOKEN") {
                s.push(("GITHUB_TOKEN".into(), Value::str("")));
            }
            Value::object(s)
        });
        c.insert("inputs".into(), inputs.cloned().unwrap_or_else(|| gh.inputs.clone()));
        c.insert("matrix".into(), gh.matrix.clone());
        c.insert(
            "strategy".into(),
            Value::object([
                ("fail-fast", Value::Bool(gh.strategy.fail_fast)),
                ("job-index", Value::Number(gh.strategy.job_index as f64)),
                ("job-total", Value::Number(gh.strategy.job_total.max(1) as f64)),
                (
                    "max-parallel",
                    Value::Number(gh.strategy.max_parallel.unwrap_or(gh.strategy.job_total.max(1)) as f64),
                ),
            ]),
        );
        c.insert("needs".into(), self.ctx.needs.clone());
        c.insert("steps".into(), Value::object(steps.iter().map(|(k, v)| (k.clone(), v.value()))));
        let status = match self.status() {
            Status::Success => "success",
            Status::Failure => "failure",
            _ => "cancelled",
        };
        c.insert("job".into(), Value::object([("status", Value::str(status))]));
        c.insert(
            "runner".into(),
            Value::object([
                ("name", Value::str("shipway")),
                ("os", Value::str("Linux")),
                ("arch", Value::str("X64")),
                ("temp", Value::str(self.tmp.join("temp").to_string_lossy().into_owned())),
                ("tool_cache", Value::str(self.tmp.join("toolcache").to_string_lossy().into_owned())),
                ("debug", Value::str("")),
                ("environment", Value::str("self-hosted")),
            ]),
        );
        JobHost { contexts: c, status: self.status(), ws: self.ws }
    }

    /// The contexts with the step's own `env:` visible in `env`.
    fn host_with_env(
        &self,
        steps: &IndexMap<String, StepResult>,
        inputs: Option<&Value>,
        step_env: &IndexMap<String, String>,
    ) -> JobHost<'_> {
        let mut host = self.host(steps, inputs);
        if !step_env.is_empty() {
            let mut env = self.env.clone();
            env.extend(step_env.iter().map(|(k, v)| (k.clone(), v.clone())));
            host.contexts.insert("env".into(), str_map(&env));
        }
        host
    }

    fn run_steps(
        &mut self,
        list: &[Step],
        steps: &mut IndexMap<String, StepResult>,
        inputs: Option<&Value>,
        control: &Receiver<Control>,
        sink: &mut LogSink,
    ) {
        for step in list {
            if self.ctx.job_canceled.load(Ordering::SeqCst) || self.ctx.canceled.load(Ordering::SeqCst) {
                self.canceled = true;
            }
            let host = self.host(steps, inputs);
            let run_it = match expr::eval(&step.condition, &host) {
                Ok(v) => v.truthy(),
                Err(e) => {
                    sink.line(&format!(
                        "\u{1b}[31;1mError: the step's `if` could not be evaluated: {}\u{1b}[0;m",
                        e.message
                    ));
                    self.failed = true;
                    steps.insert(
                        step.id.clone(),
                        StepResult { outcome: "failure", conclusion: "failure", outputs: IndexMap::new() },
                    );
                    continue;
                }
            };
            drop(host);
            let name = self.display(&step.name, steps, inputs);
            if !run_it {
                sink.line(&format!("\u{1b}[90mSkipped: {name}\u{1b}[0;m"));
                steps.insert(
                    step.id.clone(),
                    StepResult { outcome: "skipped", conclusion: "skipped", outputs: IndexMap::new() },
                );
                self.record_step(inputs.is_none(), name, "skipped", Duration::ZERO);
                continue;
            }
            sink.line(&format!("\u{1b}[36;1m▶ {name}\u{1b}[0;m"));
            let started = Instant::now();
            let end = self.run_step(step, steps, inputs, control, sink);
            let (outcome, outputs) = match end {
                StepEnd::Success(o) => ("success", o),
                StepEnd::Failure(o) => ("failure", o),
                StepEnd::Canceled => ("cancelled", IndexMap::new()),
            };
            let continue_on_error = match &step.continue_on_error {
                Some(t) => {
                    let host = self.host(steps, inputs);
                    t.eval(&host).map(|v| v.truthy()).unwrap_or(false)
                }
                None => false,
            };
            let conclusion = if outcome == "failure" && continue_on_error { "success" } else { outcome };
            match (outcome, conclusion) {
                ("success", _) => {}
                ("failure", "success") => sink.line(&format!(
                    "\u{1b}[33;1mStep `{name}` failed after {} ms; continuing (continue-on-error)\u{1b}[0;m",
                    started.elapsed().as_millis()
                )),
                ("failure", _) => {
                    sink.line(&format!("\u{1b}[31;1mStep `{name}` failed\u{1b}[0;m"));
                    self.failed = true;
                }
                _ => self.canceled = true,
            }
            self.record_step(inputs.is_none(), name, conclusion, started.elapsed());
            steps.insert(step.id.clone(), StepResult { outcome, conclusion, outputs });
        }
    }

    /// Tell the dispatcher a top-level step ended (composite steps are part
    /// of theirs).
    fn record_step(&mut self, top: bool, name: String, status: &'static str, duration: Duration) {
        if !top {
            return;
        }
        let step = crate::executor::StepOut { index: self.top_steps, name, status, duration };
        self.top_steps += 1;
        let _ = self.ctx.tx.send(Msg::Step(self.ctx.index, step));
    }

    /// A step's name, with its expressions evaluated (as shown by GitHub).
    fn display(&self, name: &str, steps: &IndexMap<String, StepResult>, inputs: Option<&Value>) -> String {
        if !name.contains("${{") {
            return name.to_string();
        }
        let host = self.host(steps, inputs);
        expr::parse_template(name).ok().and_then(|t| t.eval_string(&host).ok()).unwrap_or_else(|| name.to_string())
    }

    /// The environment for a step's process.
    fn process_env(
        &self,
        step_env: &IndexMap<String, String>,
        files: &StepFiles,
        action: &str,
    ) -> Vec<(String, String)> {
        let mut env: IndexMap<String, String> = self.ctx.opts.base_env.iter().cloned().collect();
        for (k, v) in &self.ctx.job.variables {
            env.insert(k.clone(), v.clone());
        }
        let ws = self.ws.to_string_lossy().into_owned();
        for (k, v) in [
            ("GITHUB_WORKSPACE", ws),
            ("GITHUB_EVENT_PATH", self.ctx.run_dir.path.join("event.json").to_string_lossy().into_owned()),
            ("GITHUB_ACTION", action.to_string()),
            ("GITHUB_OUTPUT", files.output.to_string_lossy().into_owned()),
            ("GITHUB_ENV", files.env.to_string_lossy().into_owned()),
            ("GITHUB_PATH", files.path.to_string_lossy().into_owned()),
            ("GITHUB_STEP_SUMMARY", files.summary.to_string_lossy().into_owned()),
            ("GITHUB_STATE", files.state.to_string_lossy().into_owned()),
            ("RUNNER_TEMP", self.tmp.join("temp").to_string_lossy().into_owned()),
            ("RUNNER_TOOL_CACHE", self.tmp.join("toolcache").to_string_lossy().into_owned()),
            ("SHIPWAY_STATE_DIR", self.ctx.run_dir.state_dir().to_string_lossy().into_owned()),
        ] {
            env.insert(k.to_string(), v);
        }
        for (k, v) in &self.env {
            env.insert(k.clone(), v.clone());
        }
        for (k, v) in step_env {
            env.insert(k.clone(), v.clone());
        }
        if !self.path_prepend.is_empty() {
            let old = env.get("PATH").cloned().unwrap_or_default();
            let mut parts: Vec<String> = self.path_prepend.iter().rev().cloned().collect();
            if !old.is_empty() {
                parts.push(old);
            }
            env.insert("PATH".into(), parts.join(":"));
        }
        env.into_iter().collect()
    }

    fn new_files(&mut self) -> StepFiles {
        self.step_seq += 1;
        let dir = &self.tmp;
        let f = |n: &str| dir.join(format!("{n}_{}", self.step_seq));
        let files =
            StepFiles { output: f("output"), env: f("env"), path: f("path"), summary: f("summary"), state: f("state") };
        for p in [&files.output, &files.env, &files.path, &files.summary, &files.state] {
            let _ = std::fs::write(p, "");
        }
        files
    }

    /// Read what a step wrote to its `GITHUB_*` files.
    fn absorb_files(&mut self, files: &StepFiles, outputs: &mut IndexMap<String, String>, sink: &mut LogSink) -> bool {
        let mut ok = true;
        if let Ok(text) = std::fs::read_to_string(&files.output) {
            match parse_file_commands(&text) {
                Ok(kv) => outputs.extend(kv),
                Err(e) => {
                    sink.line(&format!("\u{1b}[31;1mError: GITHUB_OUTPUT: {e}\u{1b}[0;m"));
                    ok = false;
                }
            }
        }
        if let Ok(text) = std::fs::read_to_string(&files.env) {
            match parse_file_commands(&text) {
                Ok(kv) => {
                    for (k, v) in kv {
                        self.env.insert(k, v);
                    }
                }
                Err(e) => {
                    sink.line(&format!("\u{1b}[31;1mError: GITHUB_ENV: {e}\u{1b}[0;m"));
                    ok = false;
                }
            }
        }
        if let Ok(text) = std::fs::read_to_string(&files.path) {
            for l in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
                self.path_prepend.push(l.to_string());
            }
        }
        if let Ok(text) = std::fs::read_to_string(&files.summary)
            && !text.is_empty()
        {
            let masked: String = text.lines().map(|l| sink.masker.mask(l) + "\n").collect();
            if let Ok(mut f) = std::fs::OpenOptions::new().create(true).append(true).open(&self.summary) {
                use std::io::Write;
                let _ = f.write_all(masked.as_bytes());
            }
        }
        for (_, v) in outputs.iter() {
            let _ = v;
        }
        ok
    }

    fn eval_env(
        &self,
        list: &[(String, Template)],
        steps: &IndexMap<String, StepResult>,
        inputs: Option<&Value>,
    ) -> Result<IndexMap<String, String>, String> {
        let mut out = IndexMap::new();
        for (k, t) in list {
            let host = self.host(steps, inputs);
            let v = t.eval_string(&host).map_err(|e| format!("env `{k}`: {}", e.message))?;
            out.insert(k.clone(), v);
        }
        Ok(out)
    }

    fn run_step(
        &mut self,
        step: &Step,
        steps: &IndexMap<String, StepResult>,
        inputs: Option<&Value>,
        control: &Receiver<Control>,
        sink: &mut LogSink,
    ) -> StepEnd {
        let step_env = match self.eval_env(&step.env, steps, inputs) {
            Ok(e) => e,
            Err(e) => {
                sink.line(&format!("\u{1b}[31;1mError: {e}\u{1b}[0;m"));
                return StepEnd::Failure(IndexMap::new());
            }
        };
        let step_timeout = match &step.timeout_minutes {
            Some(t) => {
                let host = self.host(steps, inputs);
                let n = t.eval(&host).map(|v| v.to_number()).unwrap_or(f64::NAN);
                if n.is_finite() && n > 0.0 { Some(Duration::from_secs_f64(n * 60.0)) } else { None }
            }
            None => None,
        };
        match &step.kind {
            StepKind::Run { script, shell, working_directory } => {
                let host = self.host_with_env(steps, inputs, &step_env);
                let script = match script.eval_string(&host) {
                    Ok(s) => s,
                    Err(e) => {
                        sink.line(&format!("\u{1b}[31;1mError: {}\u{1b}[0;m", e.message));
                        return StepEnd::Failure(IndexMap::new());
                    }
                };
                let wd = match working_directory.as_ref().map(|t| t.eval_string(&host)) {
                    Some(Ok(w)) => Some(w),
                    Some(Err(e)) => {
                        sink.line(&format!("\u{1b}[31;1mError: working-directory: {}\u{1b}[0;m", e.message));
                        return StepEnd::Failure(IndexMap::new());
                    }
                    None => None,
                };
                drop(host);
                let shell = shell.clone().or_else(|| self.gh.defaults.shell.clone());
                self.run_script(
                    &step.id,
                    &script,
                    shell.as_deref(),
                    wd.as_deref(),
                    &step_env,
                    step_timeout,
                    control,
                    sink,
                )
            }
            StepKind::Action { owner_name, git_ref, with } => {
                let host = self.host_with_env(steps, inputs, &step_env);
                let mut args: IndexMap<String, String> = IndexMap::new();
                for (k, t) in with {
                    match t.eval_string(&host) {
                        Ok(v) => {
                            args.insert(k.clone(), v);
                        }
                        Err(e) => {
                            sink.line(&format!("\u{1b}[31;1mError: with `{k}`: {}\u{1b}[0;m", e.message));
                            return StepEnd::Failure(IndexMap::new());
                        }
                    }
                }
                drop(host);
                self.builtin(owner_name, git_ref, &args, &step_env, control, sink)
            }
            StepKind::Composite { path, action, with } => {
                self.composite(path, action, with, steps, inputs, control, sink)
            }
            StepKind::Docker { image } => {
                sink.line(&format!("\u{1b}[31;1mError: unsupported action docker://{image}: needs Docker\u{1b}[0;m"));
                if self.ctx.opts.skip_unsupported {
                    StepEnd::Success(IndexMap::new())
                } else {
                    StepEnd::Failure(IndexMap::new())
                }
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn composite(
        &mut self,
        path: &str,
        action: &CompositeAction,
        with: &[(String, Template)],
        steps: &IndexMap<String, StepResult>,
        inputs: Option<&Value>,
        control: &Receiver<Control>,
        sink: &mut LogSink,
    ) -> StepEnd {
        let host = self.host(steps, inputs);
        let mut given: IndexMap<String, Value> = IndexMap::new();
        for (k, t) in with {
            match t.eval_string(&host) {
                Ok(v) => {
                    given.insert(k.clone(), Value::str(v));
                }
                Err(e) => {
                    sink.line(&format!("\u{1b}[31;1mError: with `{k}`: {}\u{1b}[0;m", e.message));
                    return StepEnd::Failure(IndexMap::new());
                }
            }
        }
        for k in given.keys() {
            if !action.inputs.iter().any(|(n, _)| n == k) {
                sink.line(&format!("Warning: unexpected input `{k}` for ./{path}"));
            }
        }
        drop(host);
        let mut resolved: IndexMap<String, Value> = IndexMap::new();
        for (name, default) in &action.inputs {
            if let Some(v) = given.get(name) {
                resolved.insert(name.clone(), v.clone());
            } else if let Some(d) = default {
                let host = self.host(steps, inputs);
                resolved.insert(name.clone(), Value::str(d.eval_string(&host).unwrap_or_default()));
            } else {
                resolved.insert(name.clone(), Value::str(""));
            }
        }
        let inputs_v = Value::Object(std::sync::Arc::new(resolved));
        let mut inner: IndexMap<String, StepResult> = IndexMap::new();
        let failed_before = self.failed;
        self.failed = false;
        self.run_steps(&action.steps, &mut inner, Some(&inputs_v), control, sink);
        let inner_failed = self.failed;
        self.failed = failed_before;
        let mut outputs = IndexMap::new();
        for (k, t) in &action.outputs {
            let host = self.host(&inner, Some(&inputs_v));
            if let Ok(v) = t.eval_string(&host) {
                outputs.insert(k.clone(), v);
            }
        }
        if self.canceled {
            StepEnd::Canceled
        } else if inner_failed {
            StepEnd::Failure(outputs)
        } else {
            StepEnd::Success(outputs)
        }
    }

    /// Run a script with GitHub's shell conventions.
    #[allow(clippy::too_many_arguments)]
    fn run_script(
        &mut self,
        action: &str,
        script: &str,
        shell: Option<&str>,
        wd: Option<&str>,
        step_env: &IndexMap<String, String>,
        timeout: Option<Duration>,
        control: &Receiver<Control>,
        sink: &mut LogSink,
    ) -> StepEnd {
        let files = self.new_files();
        let (template, ext): (Vec<String>, &str) = match shell {
            None => (vec!["bash".into(), "-e".into(), "{0}".into()], "sh"),
            Some("bash") => (
                vec![
                    "bash".into(),
                    "--noprofile".into(),
                    "--norc".into(),
                    "-eo".into(),
                    "pipefail".into(),
                    "{0}".into(),
                ],
                "sh",
            ),
            Some("sh") => (vec!["sh".into(), "-e".into(), "{0}".into()], "sh"),
            Some("python") => {
                (vec![if which("python").is_some() { "python" } else { "python3" }.into(), "{0}".into()], "py")
            }
            Some("pwsh") => (vec!["pwsh".into(), "-command".into(), ". '{0}'".into()], "ps1"),
            Some("powershell") | Some("cmd") => {
                sink.line(&format!("\u{1b}[31;1mError: shell `{}` is Windows-only\u{1b}[0;m", shell.unwrap_or("")));
                return StepEnd::Failure(IndexMap::new());
            }
            Some(custom) => (custom.split_whitespace().map(String::from).collect(), "sh"),
        };
        let script_path = self.tmp.join(format!("step_{}.{ext}", self.step_seq));
        if let Err(e) = write_private(&script_path, script) {
            sink.line(&format!("\u{1b}[31;1mError: cannot write the step script: {e}\u{1b}[0;m"));
            return StepEnd::Failure(IndexMap::new());
        }
        let sp = script_path.to_string_lossy().into_owned();
        let mut argv: Vec<String> = template.iter().map(|a| a.replace("{0}", &sp)).collect();
        if !template.iter().any(|a| a.contains("{0}")) {
            argv.push(sp);
        }
        let program = argv.remove(0);
        let Some(program_path) = which(&program).or_else(|| Some(program.clone()).filter(|p| p.contains('/'))) else {
            sink.line(&format!("\u{1b}[31;1mError: shell `{program}` not found on PATH\u{1b}[0;m"));
            return StepEnd::Failure(IndexMap::new());
        };
        let cwd = match wd {
            Some(w) if !w.is_empty() => match workspace::relative_in(self.ws, w) {
                Ok(rel) if rel.is_empty() || rel == "." => self.ws.to_path_buf(),
                Ok(rel) => self.ws.join(rel),
                Err(_) if Path::new(w).is_absolute() && Path::new(w).starts_with(self.ws) => PathBuf::from(w),
                Err(e) => {
                    sink.line(&format!("\u{1b}[31;1mError: working-directory `{w}`: {e}\u{1b}[0;m"));
                    return StepEnd::Failure(IndexMap::new());
                }
            },
            _ => self.ws.to_path_buf(),
        };
        if !cwd.is_dir() {
            sink.line(&format!("\u{1b}[31;1mError: working-directory `{}` does not exist\u{1b}[0;m", wd.unwrap_or("")));
            return StepEnd::Failure(IndexMap::new());
        }
        let env = self.process_env(step_env, &files, action);
        let remaining = self.deadline.saturating_duration_since(Instant::now());
        let limit = timeout.map(|t| t.min(remaining)).unwrap_or(remaining);
        let spec = process::Spec {
            program: &program_path,
            args: argv,
            cwd: &cwd,
            env: &env,
            timeout: limit,
            grace: self.ctx.opts.kill_grace,
        };
        sink.commands.set_output.clear();
        let (mut exit, note) = process::run(&spec, control, |b| sink.bytes(b));
        sink.flush();
        if self.ctx.canceled.load(Ordering::SeqCst) || self.ctx.job_canceled.load(Ordering::SeqCst) {
            exit = Exit::Canceled;
        }
        if let Some(n) = note {
            sink.line(&format!("Warning: {n}"));
        }
        let mut outputs: IndexMap<String, String> = sink.commands.set_output.drain(..).collect();
        let files_ok = self.absorb_files(&files, &mut outputs, sink);
        match exit {
            Exit::Code(0) if files_ok => StepEnd::Success(outputs),
            Exit::Code(0) => StepEnd::Failure(outputs),
            Exit::Code(c) => {
                sink.line(&format!("\u{1b}[31;1mError: Process completed with exit code {c}.\u{1b}[0;m"));
                StepEnd::Failure(outputs)
            }
            Exit::Signal(s) => {
                sink.line(&format!("\u{1b}[31;1mError: Process was killed by signal {s}.\u{1b}[0;m"));
                StepEnd::Failure(outputs)
            }
            Exit::TimedOut => {
                if Instant::now() >= self.deadline {
                    self.timed_out = true;
                    sink.line(
                        "\u{1b}[31;1mError: the job ran out of time; the step's process group was stopped\u{1b}[0;m",
                    );
                } else {
                    sink.line(&format!(
                        "\u{1b}[31;1mError: the step has timed out after {} minutes\u{1b}[0;m",
                        limit.as_secs() / 60
                    ));
                }
                StepEnd::Failure(outputs)
            }
            Exit::Canceled => {
                sink.line("The step was canceled; its process group was stopped");
                StepEnd::Canceled
            }
            Exit::SpawnFailed => {
                sink.line(&format!("\u{1b}[31;1mError: could not start `{program_path}`\u{1b}[0;m"));
                StepEnd::Failure(outputs)
            }
        }
    }

    fn save_caches(&mut self, sink: &mut LogSink, succeeded: bool) {
        let pending = std::mem::take(&mut self.caches);
        if pending.is_empty() {
            return;
        }
        let store = match crate::executor::cache_store(&self.ctx.run_dir) {
            Ok(s) => s,
            Err(e) => {
                sink.line(&format!("Warning: the cache store cannot be opened: {e}"));
                return;
            }
        };
        for c in pending {
            if !succeeded && !c.always {
                if c.lease.is_some() {
                    sink.line(&format!("Post job: cache `{}` dropped (the job failed)", crate::cache::shown(&c.key)));
                }
                continue;
            }
            let paths = crate::executor::cache_paths(self.ws, &c.paths, None, sink);
            let kind = if c.key.starts_with("rust-cache:") { "rust-cache" } else { "actions-cache" };
            match store.save(&c.key, self.ws, &paths, !self.ctx.opts.keep_workspaces, c.lease) {
                Ok(m) => {
                    for w in &m.warnings {
                        sink.line(&format!("Warning: cache: {w}"));
                    }
                    sink.line(&format!(
                        "Post job: cache saved with key `{}` ({} files, {:.1} MB in {} ms)",
                        crate::cache::shown(&c.key),
                        m.files,
                        m.bytes as f64 / 1e6,
                        m.elapsed.as_millis()
                    ));
                    let _ =
                        self.ctx.tx.send(Msg::CacheSaved { key: c.key.clone(), kind, files: m.files, bytes: m.bytes });
                }
                Err(e @ crate::cache::CacheError::Unsafe { .. }) => {
                    sink.line(&format!("\u{1b}[31;1mError: {e}; not saved\u{1b}[0;m"));
                }
                Err(e) => sink.line(&format!("Warning: {e}; not saved")),
            }
        }
    }

    /// The key of a `Swatinem/rust-cache` entry and the prefix it may be
    /// restored from, shaped like the action's: `v0-rust-<job>-<env hash>-`
    /// (the job, or `shared-key`; the toolchain and the cargo/rust
    /// environment) followed by a hash of the lockfiles and manifests. When
    /// the lockfile changes, the previous entry of the same prefix is
    /// restored, as the action's restore key does.
    fn rust_cache_key(&self, args: &IndexMap<String, String>) -> (String, String) {
        use sha2::Digest;
        let mut env = sha2::Sha256::new();
        let toolchain = crate::keys::Toolchains::default().versions("", &self.ctx.opts.base_env);
        env.update(toolchain.as_bytes());
        for (k, v) in &self.env {
            if k.starts_with("CARGO") || k.starts_with("RUST") || k == "CC" || k == "CFLAGS" {
                env.update(format!("{k}={v}\n").as_bytes());
            }
        }
        let mut lock = sha2::Sha256::new();
        let mut files: Vec<&String> = self
            .ctx
            .snapshot
            .files
            .iter()
            .filter(|f| f.ends_with("Cargo.lock") || f.ends_with("Cargo.toml") || f.ends_with("rust-toolchain.toml"))
            .collect();
        files.sort();
        for f in files {
            lock.update(f.as_bytes());
            lock.update(std::fs::read(self.ws.join(f)).unwrap_or_default());
        }
        let job = match args.get("shared-key").filter(|k| !k.is_empty()) {
            Some(shared) => shared.clone(),
            None => format!("{}-{}", self.gh.id, args.get("key").cloned().unwrap_or_default()),
        };
        let prefix = args.get("prefix-key").filter(|k| !k.is_empty()).cloned().unwrap_or_else(|| "v0-rust".into());
        let restore = format!("rust-cache:{prefix}-{job}-{}-", &crate::keys::hex(&env.finalize())[..8]);
        let key = format!("{restore}{}", &crate::keys::hex(&lock.finalize())[..16]);
        (key, restore)
    }

    fn builtin(
        &mut self,
        owner_name: &str,
        git_ref: &str,
        args: &IndexMap<String, String>,
        step_env: &IndexMap<String, String>,
        control: &Receiver<Control>,
        sink: &mut LogSink,
    ) -> StepEnd {
        let lower = owner_name.to_ascii_lowercase();
        let known = |allowed: &[&str], sink: &mut LogSink| {
            for k in args.keys() {
                if !allowed.contains(&k.as_str()) {
                    sink.line(&format!(
                        "Warning: unexpected input `{k}` for {owner_name}; valid inputs: {}",
                        allowed.join(", ")
                    ));
                }
            }
        };
        let ok = |pairs: &[(&str, String)]| {
            StepEnd::Success(pairs.iter().map(|(k, v)| (k.to_string(), v.clone())).collect())
        };
        let fail = |msg: String, sink: &mut LogSink| {
            sink.line(&format!("\u{1b}[31;1mError: {msg}\u{1b}[0;m"));
            StepEnd::Failure(IndexMap::new())
        };
        match lower.as_str() {
            "actions/checkout" => {
                known(
                    &[
                        "repository",
                        "ref",
                        "token",
                        "ssh-key",
                        "ssh-known-hosts",
                        "ssh-strict",
                        "ssh-user",
                        "persist-credentials",
                        "path",
                        "clean",
                        "filter",
                        "sparse-checkout",
                        "sparse-checkout-cone-mode",
                        "fetch-depth",
                        "fetch-tags",
                        "show-progress",
                        "lfs",
                        "submodules",
                        "set-safe-directory",
                        "github-server-url",
                    ],
                    sink,
                );
                let repo = self.gh.github.get("repository").map(Value::to_display).unwrap_or_default();
                if let Some(r) = args.get("repository").filter(|r| !r.is_empty() && **r != repo) {
                    return fail(format!("actions/checkout of another repository (`{r}`) needs network"), sink);
                }
                if let Some(p) = args.get("path").filter(|p| !p.is_empty() && *p != ".") {
                    return fail(
                        format!("unsupported: actions/checkout with `path: {p}` (the workspace holds the checkout)"),
                        sink,
                    );
                }
                if let Some(d) = args.get("fetch-depth")
                    && d.parse::<u64>().is_err()
                {
                    return fail(format!("actions/checkout: `fetch-depth` must be a number, not `{d}`"), sink);
                }
                let sha = self.gh.github.get("sha").map(Value::to_display).unwrap_or_default();
                sink.line(&format!("Checked out {sha}: the job workspace is a snapshot of the working tree"));
                ok(&[("ref", self.gh.github.get("ref").map(Value::to_display).unwrap_or_default()), ("commit", sha)])
            }
            "dtolnay/rust-toolchain" | "actions-rust-lang/setup-rust-toolchain" => {
                let setup = lower.starts_with("actions-rust-lang");
                if setup {
                    known(
                        &[
                            "toolchain",
                            "target",
                            "components",
                            "cache",
                            "cache-directories",
                            "cache-workspaces",
                            "cache-on-failure",
                            "cache-key",
                            "cache-shared-key",
                            "cache-bin",
                            "cache-provider",
                            "matcher",
                            "rustflags",
                            "override",
                            "rust-src-dir",
                        ],
                        sink,
                    );
                } else {
                    known(&["toolchain", "targets", "target", "components"], sink);
                }
                let from_ref = !setup
                    && (matches!(git_ref, "stable" | "beta" | "nightly")
                        || git_ref.starts_with("1.")
                        || git_ref.starts_with("nightly-"));
                let toolchain = match args.get("toolchain").filter(|t| !t.is_empty()) {
                    Some(t) => t.clone(),
                    None if from_ref => git_ref.to_string(),
                    None if setup => "stable".to_string(),
                    None => {
                        return fail(
                            format!("dtolnay/rust-toolchain@{git_ref}: `toolchain` input is required with this ref"),
                            sink,
                        );
                    }
                };
                let comps: Vec<String> = args
                    .get("components")
                    .map(|c| {
                        c.split([',', ' ', '\n']).map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect()
                    })
                    .unwrap_or_default();
                let targets: Vec<String> = args
                    .get("targets")
                    .or_else(|| args.get("target"))
                    .map(|c| {
                        c.split([',', ' ', '\n']).map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect()
                    })
                    .unwrap_or_default();
                match self.ensure_toolchain(&toolchain, &comps, &targets, control, sink) {
                    Ok(version) => {
                        self.env.insert("RUSTUP_TOOLCHAIN".into(), toolchain.clone());
                        self.env.entry("CARGO_TERM_COLOR".into()).or_insert_with(|| "always".into());
                        if setup {
                            let flags = args.get("rustflags").cloned().unwrap_or_else(|| "-D warnings".into());
                            if !flags.is_empty() {
                                self.env.insert("RUSTFLAGS".into(), flags);
                            }
                        }
                        let key: String =
                            Sha256::digest(version.as_bytes()).iter().take(6).map(|b| format!("{b:02x}")).collect();
                        let rustc = version.lines().next().unwrap_or("").to_string();
                        sink.line(&format!("Using toolchain `{toolchain}`: {rustc} (RUSTUP_TOOLCHAIN={toolchain})"));
                        ok(&[("cachekey", key), ("name", toolchain), ("rustc-version", rustc)])
                    }
                    Err(e) => fail(e, sink),
                }
            }
            "swatinem/rust-cache" => {
                known(
                    &[
                        "prefix-key",
                        "shared-key",
                        "key",
                        "env-vars",
                        "workspaces",
                        "cache-directories",
                        "cache-targets",
                        "cache-on-failure",
                        "cache-all-crates",
                        "save-if",
                        "cache-provider",
                        "cache-bin",
                        "lookup-only",
                        "cache-workspace-crates",
                    ],
                    sink,
                );
                for b in ["cache-targets", "cache-on-failure", "cache-all-crates", "cache-bin", "lookup-only"] {
                    if let Some(v) = args.get(b)
                        && !matches!(v.as_str(), "true" | "false" | "")
                    {
                        return fail(format!("Swatinem/rust-cache: `{b}` must be true or false, not `{v}`"), sink);
                    }
                }
                // The cargo registry lives in the host's CARGO_HOME, which
                // persists by itself; the target dirs are kept per key.
                let targets: Vec<String> = args
                    .get("workspaces")
                    .map(|w| w.lines().map(str::trim).filter(|l| !l.is_empty()).map(String::from).collect::<Vec<_>>())
                    .unwrap_or_default()
                    .iter()
                    .map(|w: &String| match w.split_once("->") {
                        Some((root, target)) => format!("{}/{}", root.trim().trim_end_matches('/'), target.trim()),
                        None => format!("{}/target", w.trim_end_matches('/')),
                    })
                    .map(|p| p.trim_start_matches("./").to_string())
                    .collect();
                let targets = if targets.is_empty() { vec!["target".to_string()] } else { targets };
                let mut rel = Vec::new();
                for t in &targets {
                    match workspace::relative_in(self.ws, t) {
                        Ok(r) => rel.push(r),
                        Err(e) => return fail(format!("Swatinem/rust-cache: workspace {e}"), sink),
                    }
                }
                if args.get("cache-targets").map(String::as_str) == Some("false") {
                    rel.clear();
                }
                if let Some(t) = self.env.get("CARGO_TARGET_DIR").filter(|t| !t.is_empty()) {
                    sink.line(&format!(
                        "rust-cache: CARGO_TARGET_DIR is set ({t}); cargo builds there, not in the workspace"
                    ));
                }
                let (key, restore) = self.rust_cache_key(args);
                let store = match crate::executor::cache_store(&self.ctx.run_dir) {
                    Ok(s) => s,
                    Err(e) => return fail(format!("Swatinem/rust-cache: the cache store cannot be opened: {e}"), sink),
                };
                let mut hit = false;
                let mut lease = None;
                if !self.ctx.opts.keep_workspaces && !rel.is_empty() {
                    // The exact key, else the newest entry of the restore
                    // prefix (an older lockfile): that one moves to the new
                    // key when the job saves.
                    let mut taken = store.take(&key, self.ws).map(|t| t.map(|t| (t, key.clone())));
                    if matches!(taken, Ok(None))
                        && let Some(older) = store.find(&[crate::cache::Lookup::Prefix(&restore)])
                    {
                        taken = store.take(&older, self.ws).map(|t| t.map(|t| (t, older)));
                    }
                    match taken {
                        Ok(Some(((l, m), from))) => {
                            sink.line(&format!(
                                "rust-cache: restored {} from `{}`{} by moving it in ({} files, {:.1} MB in {} ms)",
                                rel.join(", "),
                                crate::cache::shown(&from),
                                if from == key { "" } else { " (restore key)" },
                                m.files,
                                m.bytes as f64 / 1e6,
                                m.elapsed.as_millis()
                            ));
                            let _ = self.ctx.tx.send(Msg::CacheUsed(from.clone()));
                            hit = from == key;
                            lease = Some(l);
                        }
                        Ok(None) => sink.line(&format!("rust-cache: no entry for `{}` yet", crate::cache::shown(&key))),
                        Err(e) => sink.line(&format!("rust-cache: {e}; going without it")),
                    }
                }
                if args.get("save-if").map(String::as_str) != Some("false") && !rel.is_empty() {
                    let always = args.get("cache-on-failure").map(String::as_str) == Some("true") || lease.is_some();
                    self.caches.push(PendingCache { key, paths: rel, lease, always });
                }
                ok(&[("cache-hit", hit.to_string())])
            }
            l if l == "actions/cache" || l == "actions/cache/restore" || l == "actions/cache/save" => {
                known(
                    &[
                        "path",
                        "key",
                        "restore-keys",
                        "upload-chunk-size",
                        "enableCrossOsArchive",
                        "fail-on-cache-miss",
                        "lookup-only",
                        "save-always",
                    ],
                    sink,
                );
                let Some(key) = args.get("key").filter(|k| !k.is_empty()) else {
                    return fail(format!("{owner_name}: input `key` is required"), sink);
                };
                let paths: Vec<String> = args
                    .get("path")
                    .map(|p| p.lines().map(str::trim).filter(|l| !l.is_empty()).map(String::from).collect())
                    .unwrap_or_default();
                if paths.is_empty() {
                    return fail(format!("{owner_name}: input `path` is required"), sink);
                }
                let mut rel = Vec::new();
                for p in &paths {
                    match workspace::relative_in(self.ws, p) {
                        Ok(r) => rel.push(r),
                        Err(_) => sink.line(&format!(
                            "Warning: cache path `{p}` is outside the workspace; not cached by shipway"
                        )),
                    }
                }
                let full = format!("gh:{key}");
                let save_always = args.get("save-always").map(String::as_str) == Some("true");
                if l == "actions/cache/save" {
                    self.caches.push(PendingCache { key: full, paths: rel, lease: None, always: true });
                    return ok(&[]);
                }
                let store = match crate::executor::cache_store(&self.ctx.run_dir) {
                    Ok(s) => s,
                    Err(e) => return fail(format!("{owner_name}: the cache store cannot be opened: {e}"), sink),
                };
                let prefixes: Vec<String> = args
                    .get("restore-keys")
                    .map(|r| r.lines().map(str::trim).filter(|l| !l.is_empty()).map(|p| format!("gh:{p}")).collect())
                    .unwrap_or_default();
                let mut lookups = vec![crate::cache::Lookup::Exact(full.as_str())];
                lookups.extend(prefixes.iter().map(|p| crate::cache::Lookup::Prefix(p.as_str())));
                let found = store.find(&lookups);
                let hit: Option<(String, bool)> = found.map(|k| {
                    let exact = k == full;
                    (k, exact)
                });
                let exact_hit = hit.as_ref().is_some_and(|(_, e)| *e);
                match &hit {
                    Some((k, e)) => {
                        if args.get("lookup-only").map(String::as_str) != Some("true") {
                            match store.restore_copy(k, self.ws) {
                                Ok(Some(m)) => {
                                    for w in m.warnings {
                                        sink.line(&format!("Warning: cache: {w}"));
                                    }
                                    let _ = self.ctx.tx.send(Msg::CacheUsed(k.clone()));
                                }
                                Ok(None) => {}
                                Err(err) => sink.line(&format!("Warning: {err}")),
                            }
                        }
                        sink.line(&format!(
                            "Cache restored from key: {}{}",
                            crate::cache::shown(k),
                            if *e { "" } else { " (restore-keys)" }
                        ));
                    }
                    None => {
                        if args.get("fail-on-cache-miss").map(String::as_str) == Some("true") {
                            return fail(
                                format!(
                                    "Failed to restore cache entry. Exiting as fail-on-cache-miss is set. Input key: {key}"
                                ),
                                sink,
                            );
                        }
                        sink.line(&format!("Cache not found for input keys: {key}"));
                    }
                }
                if l == "actions/cache" && !exact_hit {
                    self.caches.push(PendingCache { key: full, paths: rel, lease: None, always: save_always });
                }
                let matched = hit.map(|(k, _)| k).unwrap_or_default();
                ok(&[
                    ("cache-hit", exact_hit.to_string()),
                    ("cache-primary-key", key.clone()),
                    ("cache-matched-key", crate::cache::shown(&matched).to_string()),
                ])
            }
            "actions/upload-artifact" => {
                known(
                    &[
                        "name",
                        "path",
                        "if-no-files-found",
                        "retention-days",
                        "compression-level",
                        "overwrite",
                        "include-hidden-files",
                    ],
                    sink,
                );
                self.upload_artifact(args, sink)
            }
            "actions/download-artifact" => {
                known(
                    &[
                        "name",
                        "path",
                        "pattern",
                        "merge-multiple",
                        "github-token",
                        "repository",
                        "run-id",
                        "artifact-ids",
                    ],
                    sink,
                );
                self.download_artifact(args, sink)
            }
            "taiki-e/install-action" => {
                known(&["tool", "checksum", "fallback"], sink);
                let list = match args.get("tool").filter(|t| !t.is_empty()) {
                    Some(t) => t.clone(),
                    None if !git_ref.starts_with('v') => git_ref.to_string(),
                    None => return fail("taiki-e/install-action: input `tool` is required".into(), sink),
                };
                let home = self
                    .ctx
                    .opts
                    .base_env
                    .iter()
                    .find(|(k, _)| k == "HOME")
                    .map(|(_, v)| v.clone())
                    .unwrap_or_default();
                let cargo_bin = PathBuf::from(&home).join(".cargo").join("bin");
                for tool in list.split([',', '\n']).map(str::trim).filter(|t| !t.is_empty()) {
                    let name = tool.split('@').next().unwrap_or(tool);
                    if which(name).is_some() {
                        sink.line(&format!("`{name}` found on PATH"));
                    } else if cargo_bin.join(name).is_file() {
                        sink.line(&format!("`{name}` found in {}", cargo_bin.display()));
                        let p = cargo_bin.to_string_lossy().into_owned();
                        if !self.path_prepend.contains(&p) {
                            self.path_prepend.push(p);
                        }
                    } else {
                        return fail(
                            format!(
                                "taiki-e/install-action: `{name}` is not installed (not on PATH or in {}); shipway does not download tools offline: install it first (e.g. `cargo install {name}`)",
                                cargo_bin.display()
                            ),
                            sink,
                        );
                    }
                }
                ok(&[])
            }
            _ => {
                let _ = step_env;
                let msg = format!("unsupported action {owner_name}@{git_ref}: needs network");
                if self.ctx.opts.skip_unsupported {
                    sink.line(&format!("Skipped: {msg} (--skip-unsupported)"));
                    StepEnd::Success(IndexMap::new())
                } else {
                    fail(msg, sink)
                }
            }
        }
    }

    fn ensure_toolchain(
        &mut self,
        toolchain: &str,
        comps: &[String],
        targets: &[String],
        control: &Receiver<Control>,
        sink: &mut LogSink,
    ) -> Result<String, String> {
        let Some(rustup) = which("rustup") else {
            // Without rustup, only the installed toolchain can be used.
            let out =
                std::process::Command::new("rustc").arg("-vV").output().map_err(|e| format!("rustc not found: {e}"))?;
            let v = String::from_utf8_lossy(&out.stdout).into_owned();
            if !comps.is_empty() || !targets.is_empty() || !matches!(toolchain, "stable") {
                return Err(format!(
                    "toolchain `{toolchain}` requested but rustup is not installed; the host has {}",
                    v.lines().next().unwrap_or("")
                ));
            }
            return Ok(v);
        };
        let installed = std::process::Command::new(&rustup)
            .args(["toolchain", "list"])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default();
        let have = installed.lines().any(|l| {
            l.split_whitespace().next().is_some_and(|n| n == toolchain || n.starts_with(&format!("{toolchain}-")))
        });
        let mut cmds: Vec<Vec<String>> = Vec::new();
        if !have {
            sink.line(&format!("Toolchain `{toolchain}` is not installed; installing it with rustup"));
            cmds.push(vec![
                "toolchain".into(),
                "install".into(),
                toolchain.into(),
                "--profile".into(),
                "minimal".into(),
            ]);
        }
        if !comps.is_empty() {
            let mut c = vec!["component".into(), "add".into(), "--toolchain".into(), toolchain.into()];
            c.extend(comps.iter().cloned());
            cmds.push(c);
        }
        if !targets.is_empty() {
            let mut c = vec!["target".into(), "add".into(), "--toolchain".into(), toolchain.into()];
            c.extend(targets.iter().cloned());
            cmds.push(c);
        }
        let env: Vec<(String, String)> = self.ctx.opts.base_env.clone();
        for args in cmds {
            let spec = process::Spec {
                program: &rustup,
                args: args.clone(),
                cwd: self.ws,
                env: &env,
                timeout: Duration::from_secs(600),
                grace: self.ctx.opts.kill_grace,
            };
            let (exit, _) = process::run(&spec, control, |b| sink.bytes(b));
            sink.flush();
            if !exit.success() {
                return Err(format!("`rustup {}` failed (offline, or an unknown toolchain/component)", args.join(" ")));
            }
        }
        let out = std::process::Command::new(&rustup)
            .args(["run", toolchain, "rustc", "-vV"])
            .output()
            .map_err(|e| format!("cannot run rustc {toolchain}: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "toolchain `{toolchain}` is not usable: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    fn artifacts_root(&self) -> PathBuf {
        self.ctx.run_dir.path.join("artifacts").join("gh")
    }

    fn upload_artifact(&mut self, args: &IndexMap<String, String>, sink: &mut LogSink) -> StepEnd {
        let name = args.get("name").filter(|n| !n.is_empty()).cloned().unwrap_or_else(|| "artifact".into());
        if name.contains(['/', '\\', ':', '<', '>', '|', '*', '?', '"']) || name == "." || name == ".." {
            sink.line(&format!("\u{1b}[31;1mError: invalid artifact name `{name}`\u{1b}[0;m"));
            return StepEnd::Failure(IndexMap::new());
        }
        let mut include = Vec::new();
        let mut exclude = Vec::new();
        for l in args.get("path").map(String::as_str).unwrap_or("").lines().map(str::trim).filter(|l| !l.is_empty()) {
            let (neg, p) = match l.strip_prefix('!') {
                Some(p) => (true, p),
                None => (false, l),
            };
            match workspace::relative_in(self.ws, p) {
                Ok(r) => {
                    if neg {
                        exclude.push(r)
                    } else {
                        include.push(r)
                    }
                }
                Err(e) => {
                    sink.line(&format!("\u{1b}[31;1mError: upload-artifact path `{l}`: {e}\u{1b}[0;m"));
                    return StepEnd::Failure(IndexMap::new());
                }
            }
        }
        if include.is_empty() {
            sink.line("\u{1b}[31;1mError: upload-artifact: input `path` is required\u{1b}[0;m");
            return StepEnd::Failure(IndexMap::new());
        }
        let (mut files, warns) = workspace::select(self.ws, &include, &exclude, None);
        for w in warns {
            sink.line(&format!("Warning: {w}"));
        }
        if args.get("include-hidden-files").map(String::as_str) != Some("true") {
            files.retain(|f| !f.split('/').any(|s| s.starts_with('.')));
        }
        if files.is_empty() {
            let mode = args.get("if-no-files-found").map(String::as_str).unwrap_or("warn");
            let msg = format!(
                "No files were found with the provided path: {}. No artifacts will be uploaded.",
                include.join(", ")
            );
            return match mode {
                "error" => {
                    sink.line(&format!("\u{1b}[31;1mError: {msg}\u{1b}[0;m"));
                    StepEnd::Failure(IndexMap::new())
                }
                "ignore" => StepEnd::Success(IndexMap::new()),
                _ => {
                    sink.line(&format!("Warning: {msg}"));
                    StepEnd::Success(IndexMap::new())
                }
            };
        }
        // The root is the least common ancestor of the search paths' fixed
        // parts (a single directory uploads its contents).
        let roots: Vec<String> = include
            .iter()
            .map(|p| {
                let fixed: Vec<&str> = p.split('/').take_while(|s| !s.contains(['*', '?', '['])).collect();
                let fixed = fixed.join("/");
                if self.ws.join(&fixed).is_dir() {
                    fixed
                } else {
                    fixed.rsplit_once('/').map(|(d, _)| d.to_string()).unwrap_or_default()
                }
            })
            .collect();
        let mut root: Vec<&str> = roots[0].split('/').filter(|s| !s.is_empty()).collect();
        for r in &roots[1..] {
            let parts: Vec<&str> = r.split('/').filter(|s| !s.is_empty()).collect();
            let n = root.iter().zip(&parts).take_while(|(a, b)| a == b).count();
            root.truncate(n);
        }
        let root = root.join("/");
        let dest = self.artifacts_root().join(&name);
        if dest.exists() {
            if args.get("overwrite").map(String::as_str) == Some("true") {
                let _ = workspace::remove_tree(&dest);
            } else {
                sink.line(&format!("\u{1b}[31;1mError: an artifact named `{name}` already exists in this run (use `overwrite: true`)\u{1b}[0;m"));
                return StepEnd::Failure(IndexMap::new());
            }
        }
        let src = if root.is_empty() { self.ws.to_path_buf() } else { self.ws.join(&root) };
        let rel: Vec<String> =
            files
                .iter()
                .map(|f| {
                    if root.is_empty() {
                        f.clone()
                    } else {
                        f.strip_prefix(&format!("{root}/")).unwrap_or(f).to_string()
                    }
                })
                .collect();
        let (bytes, warns) = workspace::copy_files(&src, &dest, &rel);
        for w in warns {
            sink.line(&format!("Warning: {w}"));
        }
        sink.line(&format!("Artifact `{name}` uploaded: {} files, {bytes} bytes", rel.len()));
        // GitHub keeps artifacts 90 days unless `retention-days` says less.
        let days =
            args.get("retention-days").and_then(|d| d.trim().parse::<u64>().ok()).filter(|d| *d > 0).unwrap_or(90);
        self.uploaded.push(crate::executor::ArtifactOut {
            name: name.clone(),
            dir: dest.clone(),
            files: rel.len() as u64,
            bytes,
            expire_secs: Some(days.min(90) * 86_400),
            digest: crate::keys::tree_digest(Some(&dest)),
        });
        StepEnd::Success(
            [("artifact-id".to_string(), name.clone()), ("artifact-url".to_string(), String::new())]
                .into_iter()
                .collect(),
        )
    }

    fn download_artifact(&mut self, args: &IndexMap<String, String>, sink: &mut LogSink) -> StepEnd {
        let root = self.artifacts_root();
        let target = args.get("path").filter(|p| !p.is_empty()).cloned().unwrap_or_default();
        let target_rel = match workspace::relative_in(self.ws, &target) {
            Ok(r) => r,
            Err(e) => {
                sink.line(&format!("\u{1b}[31;1mError: download-artifact path `{target}`: {e}\u{1b}[0;m"));
                return StepEnd::Failure(IndexMap::new());
            }
        };
        let dest =
            if target_rel.is_empty() || target_rel == "." { self.ws.to_path_buf() } else { self.ws.join(&target_rel) };
        let names: Vec<String> = match args.get("name").filter(|n| !n.is_empty()) {
            Some(n) => {
                if !root.join(n).is_dir() {
                    sink.line(&format!("\u{1b}[31;1mError: Artifact not found for name: {n} (artifacts come from jobs this job needs)\u{1b}[0;m"));
                    return StepEnd::Failure(IndexMap::new());
                }
                vec![n.clone()]
            }
            None => {
                let pattern = args.get("pattern").and_then(|p| ci::github::filter::compile(p).ok());
                let mut v: Vec<String> = std::fs::read_dir(&root)
                    .ok()
                    .into_iter()
                    .flatten()
                    .flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|n| pattern.as_ref().is_none_or(|p| p.matches(n)))
                    .collect();
                v.sort();
                v
            }
        };
        let single = args.get("name").is_some_and(|n| !n.is_empty())
            || args.get("merge-multiple").map(String::as_str) == Some("true");
        for n in &names {
            let src = root.join(n);
            let files = workspace::list_tree(&src);
            let to = if single { dest.clone() } else { dest.join(n) };
            let (_, warns) = workspace::copy_files(&src, &to, &files);
            for w in warns {
                sink.line(&format!("Warning: {w}"));
            }
            sink.line(&format!("Artifact `{n}` downloaded: {} files", files.len()));
        }
        StepEnd::Success([("download-path".to_string(), dest.to_string_lossy().into_owned())].into_iter().collect())
    }
}

struct StepFiles {
    output: PathBuf,
    env: PathBuf,
    path: PathBuf,
    summary: PathBuf,
    state: PathBuf,
}

/// Write a file only the owner can read (it may hold secrets).
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(path)?;
    f.write_all(text.as_bytes())
}

/// A program on PATH.
fn which(program: &str) -> Option<String> {
    if program.contains('/') {
        return Path::new(program).is_file().then(|| program.to_string());
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(program))
        .find(|p| p.is_file())
        .map(|p| p.to_string_lossy().into_owned())
}

/// Workflow commands (`::add-mask::`, `::error::`, ...) in a step's output.
#[derive(Default)]
pub(crate) struct Commands {
    pub(crate) enabled: bool,
    pub(crate) stopped: Option<String>,
    pub(crate) set_output: Vec<(String, String)>,
}

/// What to do with one output line: show it (possibly rewritten) or not.
pub(crate) enum Shown {
    Line(String),
    Hidden,
}

impl Commands {
    /// Interpret a line; `mask` is called for `::add-mask::`.
    pub(crate) fn process(&mut self, line: &str, mask: &mut dyn FnMut(&str)) -> Shown {
        if !self.enabled {
            return Shown::Line(line.to_string());
        }
        let t = line.trim_start();
        if let Some(token) = &self.stopped {
            if t == format!("::{token}::") {
                self.stopped = None;
                return Shown::Hidden;
            }
            return Shown::Line(line.to_string());
        }
        let Some(rest) = t.strip_prefix("::") else { return Shown::Line(line.to_string()) };
        let Some((head, msg)) = rest.split_once("::") else { return Shown::Line(line.to_string()) };
        let (cmd, props) = match head.split_once(' ') {
            Some((c, p)) => (c, p),
            None => (head, ""),
        };
        let unescape = |s: &str| {
            s.replace("%0D", "\r").replace("%0A", "\n").replace("%3A", ":").replace("%2C", ",").replace("%25", "%")
        };
        let prop = |name: &str| {
            props
                .split(',')
                .find_map(|kv| kv.trim().split_once('=').filter(|(k, _)| *k == name).map(|(_, v)| unescape(v)))
        };
        match cmd {
            "add-mask" => {
                let v = unescape(msg);
                if !v.trim().is_empty() {
                    mask(v.trim());
                }
                Shown::Hidden
            }
            "stop-commands" => {
                self.stopped = Some(msg.to_string());
                Shown::Hidden
            }
            "group" => Shown::Line(format!("▸ {}", unescape(msg))),
            "endgroup" => Shown::Hidden,
            "debug" | "save-state" => Shown::Hidden,
            "set-output" => {
                if let Some(n) = prop("name") {
                    self.set_output.push((n, unescape(msg)));
                }
                Shown::Line("Warning: The `set-output` command is deprecated; use GITHUB_OUTPUT".into())
            }
            "error" | "warning" | "notice" => {
                let label = match cmd {
                    "error" => "Error",
                    "warning" => "Warning",
                    _ => "Notice",
                };
                let loc = match (prop("file"), prop("line"), prop("col")) {
                    (Some(f), Some(l), Some(c)) => format!("{f}:{l}:{c}: "),
                    (Some(f), Some(l), None) => format!("{f}:{l}: "),
                    (Some(f), None, _) => format!("{f}: "),
                    _ => String::new(),
                };
                let title = prop("title").map(|t| format!("{t}: ")).unwrap_or_default();
                Shown::Line(format!("{label}: {loc}{title}{}", unescape(msg)))
            }
            "set-env" | "add-path" => {
                Shown::Line(format!("Error: the `{cmd}` command is disabled; use GITHUB_ENV / GITHUB_PATH"))
            }
            _ => Shown::Line(line.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_commands_with_heredocs() {
        let kv = parse_file_commands("a=1\nmulti<<EOF\nx\ny\nEOF\nb=2=3\n").unwrap();
        assert_eq!(kv, vec![("a".into(), "1".into()), ("multi".into(), "x\ny".into()), ("b".into(), "2=3".into())]);
        assert!(parse_file_commands("m<<EOF\nnever closed\n").is_err());
        assert!(parse_file_commands("no separator\n").is_err());
    }

    #[test]
    fn commands_mask_and_hide() {
        let mut c = Commands { enabled: true, ..Commands::default() };
        let mut masked = Vec::new();
        assert!(matches!(c.process("::add-mask::s3cr3t", &mut |v| masked.push(v.to_string())), Shown::Hidden));
        assert_eq!(masked, ["s3cr3t"]);
        match c.process("::error file=a.rs,line=3::bad thing", &mut |_| {}) {
            Shown::Line(l) => assert_eq!(l, "Error: a.rs:3: bad thing"),
            Shown::Hidden => panic!("hidden"),
        }
        assert!(matches!(c.process("::stop-commands::tok", &mut |_| {}), Shown::Hidden));
        assert!(matches!(c.process("::add-mask::x", &mut |_| panic!("masked while stopped")), Shown::Line(_)));
        assert!(matches!(c.process("::tok::", &mut |_| {}), Shown::Hidden));
    }
}
