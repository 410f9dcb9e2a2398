//! Runs a [`Pipeline`]: one dispatcher on the calling thread owns the
//! scheduler, the reporter and all bookkeeping; each running job has its own
//! thread and its own control channel. Every job thread is joined.

use crate::mask::Masker;
use crate::process::{self, Control, Exit};
use crate::workspace::{self, Manifest, Snapshot};
use ci::github::expr::{Status, Value};
use ci::model::{ArtifactsWhen, CacheKey, CachePolicy, CacheWhen, FailureKind, Job, Pipeline};
use ci::plan::{self, Decision, JobStatus, Scheduler};
use sha2::{Digest, Sha256};
use std::collections::{HashMap, HashSet, VecDeque};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant, SystemTime};

#[derive(Clone, Debug)]
pub struct RunOptions {
    /// How many jobs run at once.
    pub parallel: usize,
    /// Manual jobs to run (indices into the pipeline).
    pub play: Vec<usize>,
    /// Time between SIGTERM and SIGKILL.
    pub kill_grace: Duration,
    pub after_script_timeout: Duration,
    pub keep_workspaces: bool,
    /// Variable names that a `reports:dotenv` file may not override
    /// (pipeline variables and secrets).
    pub protected_vars: Vec<String>,
    /// Values to mask everywhere.
    pub secret_values: Vec<String>,
    /// The environment jobs start from (a shell executor inherits it).
    pub base_env: Vec<(String, String)>,
    /// GitHub Actions: mark steps using unsupported remote actions as
    /// skipped instead of failing them.
    pub skip_unsupported: bool,
    /// Run every job, even those whose key matches an earlier result.
    pub no_cache: bool,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            parallel: std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2),
            play: vec![],
            kill_grace: Duration::from_secs(5),
            after_script_timeout: Duration::from_secs(300),
            keep_workspaces: false,
            protected_vars: vec![],
            secret_values: vec![],
            base_env: std::env::vars().collect(),
            skip_unsupported: false,
            no_cache: false,
        }
    }
}

/// The result of one job.
#[derive(Clone, Debug)]
pub struct JobResult {
    pub status: JobStatus,
    pub exit_code: Option<i32>,
    /// The signal that killed the job's script, if one did.
    pub signal: Option<i32>,
    pub duration: Duration,
    pub attempts: u32,
    pub coverage: Option<String>,
    pub log: Option<PathBuf>,
    /// How long copying the workspace took (first attempt).
    pub copy: Duration,
    /// The job's content key, when it had one.
    pub key: Option<String>,
    /// The run whose result this one reuses (status `cached`).
    pub cached_from: Option<i64>,
}

impl JobResult {
    fn settled(status: JobStatus) -> JobResult {
        JobResult {
            status,
            exit_code: None,
            signal: None,
            duration: Duration::ZERO,
            attempts: 0,
            coverage: None,
            log: None,
            copy: Duration::ZERO,
            key: None,
            cached_from: None,
        }
    }
}

#[derive(Debug)]
pub struct RunResult {
    pub jobs: Vec<JobResult>,
    pub interrupted: bool,
    pub duration: Duration,
}

impl RunResult {
    pub fn failed(&self) -> bool {
        self.jobs.iter().any(|j| j.status.fails_pipeline())
    }
}

/// What the dispatcher tells the outside world.
pub enum Event<'a> {
    Started { job: usize, attempt: u32 },
    Line { job: usize, text: &'a str },
    Finished { job: usize, result: &'a JobResult },
    Settled { job: usize, status: JobStatus },
    Note(&'a str),
    Interrupted { second: bool },
}

pub trait Reporter {
    fn report(&mut self, pipeline: &Pipeline, event: Event<'_>);
}

pub(crate) enum Msg {
    Line(usize, String),
    /// A GitHub step ended.
    Step(usize, StepOut),
    /// A cache entry was restored from.
    CacheUsed(String),
    /// A cache entry was saved.
    CacheSaved {
        key: String,
        kind: &'static str,
        files: u64,
        bytes: u64,
    },
    Note(String),
    Started(usize, u32),
    Done(usize, JobResult, Option<JobOutputs>),
    Interrupt,
}

/// Cancels a run from another thread (a signal handler).
#[derive(Clone)]
pub struct Interrupter(Sender<Msg>);

impl Interrupter {
    pub fn interrupt(&self) {
        let _ = self.0.send(Msg::Interrupt);
    }
}

pub struct Inbox {
    tx: Sender<Msg>,
    rx: Receiver<Msg>,
}

pub fn channel() -> (Interrupter, Inbox) {
    let (tx, rx) = mpsc::channel();
    (Interrupter(tx.clone()), Inbox { tx, rx })
}

/// What a finished job leaves for the jobs after it.
#[derive(Clone, Debug, Default)]
pub(crate) struct JobOutputs {
    pub(crate) artifacts_dir: Option<PathBuf>,
    pub(crate) dotenv: Vec<(String, String)>,
    /// GitHub job outputs (`jobs.<id>.outputs`).
    pub(crate) gh_outputs: Vec<(String, String)>,
    /// Every artifact the job left (GitLab: one; GitHub: one per upload).
    pub(crate) artifacts: Vec<ArtifactOut>,
}

/// One stored artifact of a job.
#[derive(Clone, Debug)]
pub(crate) struct ArtifactOut {
    pub(crate) name: String,
    pub(crate) dir: PathBuf,
    pub(crate) files: u64,
    pub(crate) bytes: u64,
    /// Seconds until it expires; `None`: never.
    pub(crate) expire_secs: Option<u64>,
    /// `keys::tree_digest` of `dir`.
    pub(crate) digest: String,
}

/// A finished GitHub step, for the store.
#[derive(Clone, Debug)]
pub(crate) struct StepOut {
    pub(crate) index: usize,
    pub(crate) name: String,
    pub(crate) status: &'static str,
    pub(crate) duration: Duration,
}

impl JobOutputs {
    /// The digest of everything dependents receive from this job.
    fn digest(&self) -> String {
        let mut parts: Vec<String> = Vec::new();
        for a in &self.artifacts {
            parts.push(format!("{}={}", a.name, a.digest));
        }
        parts.join(";")
    }

    fn pairs(&self) -> Vec<(String, String)> {
        self.dotenv.iter().chain(&self.gh_outputs).cloned().collect()
    }

    pub(crate) fn to_json(&self) -> String {
        serde_json::json!({"dotenv": self.dotenv, "outputs": self.gh_outputs}).to_string()
    }

    pub(crate) fn from_json(text: &str) -> JobOutputs {
        let v: serde_json::Value = serde_json::from_str(text).unwrap_or_default();
        let pairs = |k: &str| -> Vec<(String, String)> {
            v.get(k)
                .and_then(|a| a.as_array())
                .map(|a| {
                    a.iter()
                        .filter_map(|p| Some((p.get(0)?.as_str()?.to_string(), p.get(1)?.as_str()?.to_string())))
                        .collect()
                })
                .unwrap_or_default()
        };
        JobOutputs { dotenv: pairs("dotenv"), gh_outputs: pairs("outputs"), ..Default::default() }
    }
}

/// Where a run keeps its files: `.shipway/runs/<id>/`.
#[derive(Clone, Debug)]
pub struct RunDir {
    pub id: u64,
    pub path: PathBuf,
}

impl RunDir {
    /// Allocate the next run id under `state_dir/runs`.
    pub fn create(state_dir: &Path) -> std::io::Result<RunDir> {
        let runs = state_dir.join("runs");
        std::fs::create_dir_all(&runs)?;
        let gitignore = state_dir.join(".gitignore");
        if !gitignore.exists() {
            let _ = std::fs::write(&gitignore, "*\n");
        }
        loop {
            let next = std::fs::read_dir(&runs)?
                .filter_map(|e| e.ok())
                .filter_map(|e| e.file_name().to_str().and_then(|s| s.parse::<u64>().ok()))
                .max()
                .unwrap_or(0)
                + 1;
            let path = runs.join(next.to_string());
            match std::fs::create_dir(&path) {
                Ok(()) => return Ok(RunDir { id: next, path }),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e),
            }
        }
    }

    /// The highest run id that has a directory under `state_dir/runs`.
    pub fn max_on_disk(state_dir: &Path) -> u64 {
        std::fs::read_dir(state_dir.join("runs"))
            .map(|rd| {
                rd.filter_map(|e| e.ok())
                    .filter_map(|e| e.file_name().to_str().and_then(|s| s.parse::<u64>().ok()))
                    .max()
                    .unwrap_or(0)
            })
            .unwrap_or(0)
    }

    /// Create the directory of run `id` (allocated by the store).
    pub fn with_id(state_dir: &Path, id: u64) -> std::io::Result<RunDir> {
        let runs = state_dir.join("runs");
        std::fs::create_dir_all(&runs)?;
        let gitignore = state_dir.join(".gitignore");
        if !gitignore.exists() {
            let _ = std::fs::write(&gitignore, "*\n");
        }
        let path = runs.join(id.to_string());
        std::fs::create_dir(&path)?;
        Ok(RunDir { id, path })
    }

    /// The project's state dir (`.shipway`) this run lives in.
    pub fn state_dir(&self) -> &Path {
        self.path.parent().and_then(Path::parent).unwrap_or(&self.path)
    }

    /// The lock a live run holds (see `lock`).
    pub fn lock_path(&self) -> PathBuf {
        self.path.join("lock")
    }

    pub fn log_path(&self, index: usize, job: &Job) -> PathBuf {
        self.path.join("logs").join(format!("{:03}-{}.log", index, ci::vars::slug(&job.name)))
    }
}

struct Running {
    control: Sender<Control>,
    handle: JoinHandle<()>,
    canceled: Arc<AtomicBool>,
}

/// GitHub's result word for a job status (`needs.<id>.result`).
fn gh_result(s: JobStatus) -> &'static str {
    match s {
        JobStatus::Success | JobStatus::Cached | JobStatus::AllowedFailure => "success",
        JobStatus::Failed | JobStatus::TimedOut => "failure",
        JobStatus::Canceled => "cancelled",
        JobStatus::Skipped | JobStatus::Manual => "skipped",
    }
}

/// The `needs` context of a GitHub job: each needed job id with its
/// aggregated result (over matrix instances) and outputs.
fn needs_context(pipeline: &Pipeline, job: usize, statuses: &[Option<JobStatus>], outputs: &[JobOutputs]) -> Value {
    let Some(gh) = pipeline.jobs[job].github.as_deref() else { return Value::Null };
    let prereqs: Vec<usize> = pipeline.jobs[job].needs.iter().flatten().map(|n| n.job).collect();
    let mut entries: Vec<(String, Value)> = Vec::new();
    for id in &gh.needs_ids {
        let inst: Vec<usize> = prereqs
            .iter()
            .copied()
            .filter(|&d| {
                pipeline.jobs[d].github.as_deref().is_some_and(|g| &g.id == id) || &pipeline.jobs[d].definition == id
            })
            .collect();
        let words: Vec<&str> = inst.iter().filter_map(|&d| statuses[d]).map(gh_result).collect();
        let result = if words.contains(&"failure") {
            "failure"
        } else if words.contains(&"cancelled") {
            "cancelled"
        } else if !words.is_empty() && words.iter().all(|w| *w == "skipped") {
            "skipped"
        } else {
            "success"
        };
        let mut outs: indexmap::IndexMap<String, Value> = indexmap::IndexMap::new();
        for &d in &inst {
            for (k, v) in &outputs[d].gh_outputs {
                if !v.is_empty() || !outs.contains_key(k) {
                    outs.insert(k.clone(), Value::str(v.clone()));
                }
            }
        }
        entries.push((
            id.clone(),
            Value::object([("result", Value::str(result)), ("outputs", Value::Object(Arc::new(outs)))]),
        ));
    }
    Value::object(entries)
}

/// Evaluate a GitHub job's `if` once its needs are complete.
fn decide_github(
    pipeline: &Pipeline,
    job: usize,
    statuses: &[Option<JobStatus>],
    outputs: &[JobOutputs],
    canceled: bool,
    reporter: &mut dyn Reporter,
) -> bool {
    let Some(gh) = pipeline.jobs[job].github.as_deref() else { return true };
    let direct: Vec<JobStatus> = pipeline.jobs[job].needs.iter().flatten().filter_map(|n| statuses[n.job]).collect();
    let ancestor_failed =
        gh.ancestors.iter().any(|&a| matches!(statuses[a], Some(JobStatus::Failed | JobStatus::TimedOut)));
    let status = if canceled || direct.contains(&JobStatus::Canceled) {
        Status::Cancelled
    } else if ancestor_failed {
        Status::Failure
    } else if direct.iter().any(|s| matches!(s, JobStatus::Skipped | JobStatus::Manual)) {
        Status::Skipped
    } else {
        Status::Success
    };
    let mut host = ci::github::expr::Contexts { status, ..Default::default() };
    host.values.insert("github".into(), gh.github.clone());
    host.values.insert("vars".into(), gh.vars.clone());
    host.values.insert("inputs".into(), gh.inputs.clone());
    host.values.insert("needs".into(), needs_context(pipeline, job, statuses, outputs));
    match ci::github::expr::eval(&gh.condition, &host) {
        Ok(v) => v.truthy(),
        Err(e) => {
            let note =
                format!("job `{}`: its `if` could not be evaluated: {}; skipped", pipeline.jobs[job].name, e.message);
            reporter.report(pipeline, Event::Note(&note));
            false
        }
    }
}

/// Whether a job may be skipped when its key matches an earlier result.
fn skippable(job: &Job, opts: &RunOptions) -> bool {
    let env_off = |v: Option<&str>| v.is_some_and(|v| !v.is_empty() && v != "0" && !v.eq_ignore_ascii_case("false"));
    let host_off = env_off(opts.base_env.iter().rev().find(|(k, _)| k == "SHIPWAY_NO_SKIP").map(|(_, v)| v.as_str()));
    // A job that deploys acts outside its workspace: skipping it would skip
    // the deployment.
    job.skippable && !opts.no_cache && !host_off && job.environment.is_none()
}

/// The jobs whose key, artifacts and outputs go into `job`'s key.
fn upstream_of(pipeline: &Pipeline, job: usize) -> Vec<usize> {
    let mut ups: Vec<usize> = plan::artifact_sources(pipeline, job);
    ups.extend(pipeline.jobs[job].needs.iter().flatten().map(|n| n.job));
    ups.sort_unstable();
    ups.dedup();
    ups
}

/// Run the pipeline to the end (or until interrupted). With a store, every
/// job is recorded, and a job whose key matches an earlier successful
/// result is reported `cached` instead of run.
#[allow(clippy::too_many_arguments)]
pub fn run(
    pipeline: &Pipeline,
    snapshot: Arc<Snapshot>,
    run_dir: &RunDir,
    opts: &RunOptions,
    inbox: Inbox,
    reporter: &mut dyn Reporter,
    store: Option<&mut dyn store::Store>,
) -> RunResult {
    let started = Instant::now();
    let mut journal = crate::journal::Journal::new(store, run_dir);
    for (i, job) in pipeline.jobs.iter().enumerate() {
        journal.planned(i, job);
    }
    let digests = crate::keys::FileDigests::new(&snapshot.root);
    let toolchains = crate::keys::Toolchains::default();
    let mut job_keys: HashMap<usize, String> = HashMap::new();
    let mut started_ms: HashMap<usize, i64> = HashMap::new();
    let mut store_error_shown = false;
    process::become_subreaper();
    let is_github = pipeline.jobs.iter().any(|j| j.github.is_some());
    let masker = Masker::new(opts.secret_values.iter().cloned());
    let masker = Arc::new(if is_github { masker.with_token("***") } else { masker });
    let mut sched = Scheduler::new(pipeline, &opts.play);
    let n = pipeline.jobs.len();
    let mut results: Vec<Option<JobResult>> = vec![None; n];
    let mut outputs: Vec<JobOutputs> = vec![JobOutputs::default(); n];
    let mut queue: VecDeque<usize> = VecDeque::new();
    let mut running: HashMap<usize, Running> = HashMap::new();
    let mut interrupted = 0u32;
    let parallel = opts.parallel.max(1);
    let _ = std::fs::create_dir_all(run_dir.path.join("logs"));
    let _ = std::fs::create_dir_all(run_dir.path.join("scripts"));
    // Finished job threads may still be cleaning their workspace; they are
    // joined at the end so a job's result is never delayed by cleanup.
    let mut finishing: Vec<JoinHandle<()>> = Vec::new();
    let slots = {
        let state_dir = run_dir.state_dir();
        let project = snapshot.root.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        Arc::new(crate::slots::Slots::new(state_dir, &project))
    };
    // Set on the first interrupt; job threads check it between steps, so a
    // cancel that arrives after a script ended still stops the job.
    let canceled = Arc::new(AtomicBool::new(false));

    loop {
        if let Some(e) = &journal.error
            && !store_error_shown
        {
            store_error_shown = true;
            reporter.report(
                pipeline,
                Event::Note(&format!("warning: the run store failed ({e}); results are not recorded")),
            );
        }
        // Jobs completed here from the store, without a thread.
        let mut replayed = false;
        if interrupted == 0 {
            let decisions = sched.poll_with(&mut |j, statuses| {
                decide_github(pipeline, j, statuses, &outputs, canceled.load(Ordering::SeqCst), reporter)
            });
            for d in decisions {
                match d {
                    Decision::Run(j) => queue.push_back(j),
                    Decision::Settled(j, status) => {
                        results[j] = Some(JobResult::settled(status));
                        journal.settled(j, &pipeline.jobs[j], status);
                        reporter.report(pipeline, Event::Settled { job: j, status });
                    }
                }
            }
        }
        while interrupted == 0 && running.len() < parallel {
            // The first queued job that `max-parallel` and `concurrency`
            // allow to start now.
            let pick = queue.iter().position(|&j| {
                let Some(gh) = pipeline.jobs[j].github.as_deref() else { return true };
                let group_ok = match (gh.strategy.group, gh.strategy.max_parallel) {
                    (Some(g), Some(max)) => {
                        running
                            .keys()
                            .filter(|&&r| {
                                pipeline.jobs[r].github.as_deref().is_some_and(|o| o.strategy.group == Some(g))
                            })
                            .count()
                            < max
                    }
                    _ => true,
                };
                let conc_ok = gh.concurrency.as_ref().is_none_or(|c| {
                    !running
                        .keys()
                        .any(|&r| pipeline.jobs[r].github.as_deref().is_some_and(|o| o.concurrency.as_ref() == Some(c)))
                });
                group_ok && conc_ok
            });
            let Some(j) = pick.and_then(|i| queue.remove(i)) else { break };
            if journal.enabled() && skippable(&pipeline.jobs[j], opts) {
                let job = &pipeline.jobs[j];
                let ups = upstream_of(pipeline, j);
                let up_keys: Vec<Option<String>> =
                    ups.iter().map(|u| results[*u].as_ref().and_then(|r| r.key.clone())).collect();
                let up_digests: Vec<String> = ups.iter().map(|u| outputs[*u].digest()).collect();
                let up_pairs: Vec<Vec<(String, String)>> = ups.iter().map(|u| outputs[*u].pairs()).collect();
                let upstream: Vec<crate::keys::Upstream<'_>> = (0..ups.len())
                    .map(|i| crate::keys::Upstream {
                        key: up_keys[i].as_deref(),
                        artifacts_digest: &up_digests[i],
                        outputs: &up_pairs[i],
                    })
                    .collect();
                let toolchain = crate::keys::rust_toolchain(job).map(|t| toolchains.versions(&t, &opts.base_env));
                // The pipeline file is hashed as the job's definition already;
                // hashing its bytes too would rerun every job on any edit.
                let files: Vec<String> = snapshot.files.iter().filter(|f| **f != pipeline.file).cloned().collect();
                let key =
                    crate::keys::job_key(job, &files, &digests, &upstream, toolchain.as_deref(), &opts.secret_values);
                if let Some(hit) = journal.find_key(&key) {
                    match journal.replay(j, job, &hit, run_dir) {
                        Ok((result, out)) => {
                            sched.complete(j, result.status);
                            journal.finished(j, job, &result, Some(&out), Some(crate::journal::now_ms()));
                            reporter.report(pipeline, Event::Finished { job: j, result: &result });
                            outputs[j] = out;
                            results[j] = Some(result);
                            replayed = true;
                            continue;
                        }
                        Err(e) => {
                            let note =
                                format!("job `{}`: its earlier result cannot be reused ({e}); running it", job.name);
                            reporter.report(pipeline, Event::Note(&note));
                        }
                    }
                }
                job_keys.insert(j, key);
            }
            let sources: Vec<JobOutputs> =
                plan::artifact_sources(pipeline, j).into_iter().map(|s| outputs[s].clone()).collect();
            let (ctl_tx, ctl_rx) = process::control_channel();
            let job_canceled = Arc::new(AtomicBool::new(false));
            let ctx = JobCtx {
                pipeline_file: pipeline.file.clone(),
                needs: {
                    let statuses: Vec<Option<JobStatus>> = (0..n).map(|i| sched.status(i)).collect();
                    needs_context(pipeline, j, &statuses, &outputs)
                },
                job_canceled: job_canceled.clone(),
                index: j,
                job: pipeline.jobs[j].clone(),
                snapshot: snapshot.clone(),
                run_dir: run_dir.clone(),
                sources,
                masker: masker.clone(),
                opts: opts.clone(),
                tx: inbox.tx.clone(),
                run_id: run_dir.id,
                slots: slots.clone(),
                canceled: canceled.clone(),
            };
            let tx = inbox.tx.clone();
            let handle = thread::spawn(move || {
                // A bug in a job thread must not hang the run: report the job
                // as failed instead of never reporting it.
                let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| execute_job(ctx, ctl_rx)));
                if outcome.is_err() {
                    let _ = tx.send(Msg::Note(format!("internal error: the thread running job {j} panicked")));
                    let _ = tx.send(Msg::Done(j, JobResult::settled(JobStatus::Failed), None));
                }
            });
            running.insert(j, Running { control: ctl_tx, handle, canceled: job_canceled });
        }
        if running.is_empty() {
            if interrupted > 0 {
                break;
            }
            if replayed {
                // Dependents of the replayed jobs may be ready now.
                continue;
            }
            if queue.is_empty() {
                // Anything still pending waits on a manual job nobody plays.
                let blocked = sched.settle_blocked();
                for d in blocked {
                    if let Decision::Settled(j, status) = d {
                        results[j] = Some(JobResult::settled(status));
                        journal.settled(j, &pipeline.jobs[j], status);
                        reporter.report(pipeline, Event::Settled { job: j, status });
                    }
                }
                break;
            }
            continue;
        }
        let Ok(msg) = inbox.rx.recv() else { break };
        match msg {
            Msg::Line(j, text) => reporter.report(pipeline, Event::Line { job: j, text: &text }),
            Msg::Note(text) => reporter.report(pipeline, Event::Note(&text)),
            Msg::Step(j, step) => journal.step(j, &step),
            Msg::CacheUsed(key) => journal.cache_used(&key),
            Msg::CacheSaved { key, kind, files, bytes } => journal.cache_saved(&key, kind, files, bytes),
            Msg::Started(j, attempt) => {
                let t = *started_ms.entry(j).or_insert_with(crate::journal::now_ms);
                let _ = t;
                journal.started(j, &pipeline.jobs[j], attempt, &run_dir.log_path(j, &pipeline.jobs[j]));
                reporter.report(pipeline, Event::Started { job: j, attempt });
            }
            Msg::Done(j, mut result, out) => {
                if let Some(r) = running.remove(&j) {
                    finishing.push(r.handle);
                }
                // Only a success whose outputs hold no secret may be reused.
                let clean = out.as_ref().is_none_or(|o| o.pairs().iter().all(|(_, v)| masker.mask(v) == *v));
                let key = job_keys.remove(&j);
                if result.status == JobStatus::Success && clean {
                    result.key = key;
                }
                // The store never sees a secret: values holding one are masked.
                let stored = out.as_ref().map(|o| {
                    let mut m = o.clone();
                    for (_, v) in m.dotenv.iter_mut().chain(m.gh_outputs.iter_mut()) {
                        *v = masker.mask(v);
                    }
                    m
                });
                journal.finished(j, &pipeline.jobs[j], &result, stored.as_ref(), started_ms.get(&j).copied());
                if let Some(out) = out {
                    outputs[j] = out;
                }
                sched.complete(j, result.status);
                reporter.report(pipeline, Event::Finished { job: j, result: &result });
                let failed = matches!(result.status, JobStatus::Failed | JobStatus::TimedOut);
                results[j] = Some(result);
                // fail-fast: a failed matrix job cancels its siblings.
                if failed
                    && let Some(gh) = pipeline.jobs[j].github.as_deref()
                    && let (Some(g), true) = (gh.strategy.group, gh.strategy.fail_fast)
                {
                    let siblings: Vec<usize> = (0..pipeline.jobs.len())
                        .filter(|&k| {
                            k != j && pipeline.jobs[k].github.as_deref().is_some_and(|o| o.strategy.group == Some(g))
                        })
                        .collect();
                    for k in siblings {
                        if let Some(r) = running.get(&k) {
                            r.canceled.store(true, Ordering::SeqCst);
                            let _ = r.control.send(Control::Cancel);
                        } else if let Some(pos) = queue.iter().position(|&q| q == k) {
                            queue.remove(pos);
                            sched.complete(k, JobStatus::Canceled);
                            results[k] = Some(JobResult::settled(JobStatus::Canceled));
                            journal.settled(k, &pipeline.jobs[k], JobStatus::Canceled);
                            reporter.report(pipeline, Event::Settled { job: k, status: JobStatus::Canceled });
                        } else if sched.cancel_job(k) {
                            results[k] = Some(JobResult::settled(JobStatus::Canceled));
                            journal.settled(k, &pipeline.jobs[k], JobStatus::Canceled);
                            reporter.report(pipeline, Event::Settled { job: k, status: JobStatus::Canceled });
                        }
                    }
                }
            }
            Msg::Interrupt => {
                interrupted += 1;
                canceled.store(true, Ordering::SeqCst);
                reporter.report(pipeline, Event::Interrupted { second: interrupted > 1 });
                sched.cancel();
                let signal = if interrupted > 1 { Control::Kill } else { Control::Cancel };
                for r in running.values() {
                    let _ = r.control.send(signal);
                }
            }
        }
    }
    for h in finishing {
        let _ = h.join();
    }
    // Processes that escaped their job's process group (`setsid cmd &`) and
    // outlived it were reparented to us; no job runs now, so they go.
    let orphans = process::reap_orphans(opts.kill_grace);
    if orphans > 0 {
        let note = format!("stopped {orphans} process(es) that jobs left running outside their process group");
        reporter.report(pipeline, Event::Note(&note));
    }
    // Jobs never started because of an interrupt.
    for d in sched.poll() {
        if let Decision::Settled(j, status) = d {
            results[j] = Some(JobResult::settled(status));
            journal.settled(j, &pipeline.jobs[j], status);
            reporter.report(pipeline, Event::Settled { job: j, status });
        }
    }
    for (j, r) in results.iter().enumerate() {
        if r.is_none() {
            journal.settled(j, &pipeline.jobs[j], JobStatus::Canceled);
        }
    }
    let jobs = results.into_iter().map(|r| r.unwrap_or_else(|| JobResult::settled(JobStatus::Canceled))).collect();
    slots.finish();
    if !opts.keep_workspaces {
        let _ = workspace::remove_tree(&run_dir.path.join("cache"));
    }
    RunResult { jobs, interrupted: interrupted > 0, duration: started.elapsed() }
}

pub(crate) struct JobCtx {
    /// The pipeline file (for messages that point at the job).
    pub(crate) pipeline_file: String,
    /// GitHub: the `needs` context (results and outputs of needed jobs).
    pub(crate) needs: Value,
    /// Set when this job alone is canceled (fail-fast).
    pub(crate) job_canceled: Arc<AtomicBool>,
    pub(crate) index: usize,
    pub(crate) job: Job,
    pub(crate) snapshot: Arc<Snapshot>,
    pub(crate) run_dir: RunDir,
    sources: Vec<JobOutputs>,
    masker: Arc<Masker>,
    pub(crate) opts: RunOptions,
    pub(crate) tx: Sender<Msg>,
    run_id: u64,
    /// The run's workspace slots (finished jobs' slots are reset for the next).
    slots: Arc<crate::slots::Slots>,
    pub(crate) canceled: Arc<AtomicBool>,
}

/// Writes masked lines to the job log and to the dispatcher.
pub(crate) struct LogSink {
    job: usize,
    tx: Sender<Msg>,
    file: Option<std::fs::File>,
    /// This job's masker: the run's secrets plus `::add-mask::` values.
    pub(crate) masker: Masker,
    /// GitHub workflow commands in the output (disabled for GitLab).
    pub(crate) commands: crate::github::Commands,
    partial: Vec<u8>,
    coverage: Option<regex::Regex>,
    coverage_hit: Option<String>,
    /// The signal that killed the last script, if any.
    pub(crate) signal: Option<i32>,
}

impl LogSink {
    pub(crate) fn line(&mut self, raw: &str) {
        let shown = {
            let masker = &mut self.masker;
            self.commands.process(raw, &mut |v| masker.add(v))
        };
        let raw = match &shown {
            crate::github::Shown::Hidden => return,
            crate::github::Shown::Line(l) => l.as_str(),
        };
        let text = self.masker.mask(raw);
        if let Some(f) = &mut self.file {
            let _ = writeln!(f, "{text}");
        }
        if let Some(re) = &self.coverage {
            let plain = crate::mask::strip_ansi(raw);
            if let Some(c) = re.captures(&plain) {
                let m = c.get(1).or_else(|| c.get(0)).map(|m| m.as_str()).unwrap_or("");
                let num: String = m.chars().filter(|ch| ch.is_ascii_digit() || *ch == '.').collect();
                if !num.is_empty() {
                    self.coverage_hit = Some(num);
                }
            }
        }
        let _ = self.tx.send(Msg::Line(self.job, text));
    }

    pub(crate) fn bytes(&mut self, b: &[u8]) {
        self.partial.extend_from_slice(b);
        while let Some(pos) = self.partial.iter().position(|&c| c == b'\n') {
            let line: Vec<u8> = self.partial.drain(..=pos).collect();
            let s = String::from_utf8_lossy(&line[..line.len() - 1]);
            let s = s.trim_end_matches('\r').to_string();
            self.line(&s);
        }
        if self.partial.len() > 64 * 1024 {
            // A very long line without a newline is emitted in pieces; keep
            // enough of its end back that a secret spanning the cut is still
            // whole in the next piece.
            // Mask first, so no complete secret can straddle the cut; what is
            // kept back is at most an incomplete secret's beginning.
            let masked = self.masker.mask(&String::from_utf8_lossy(&self.partial)).into_bytes();
            let keep = self.masker.longest().saturating_sub(1).min(masked.len());
            let mut cut = masked.len() - keep;
            while cut > 0 && cut < masked.len() && (masked[cut] & 0xC0) == 0x80 {
                cut -= 1; // do not split a UTF-8 sequence
            }
            self.partial = masked[cut..].to_vec();
            self.line(&String::from_utf8_lossy(&masked[..cut]));
        }
    }

    pub(crate) fn flush(&mut self) {
        if !self.partial.is_empty() {
            let line: Vec<u8> = std::mem::take(&mut self.partial);
            self.line(&String::from_utf8_lossy(&line));
        }
    }
}

fn shell() -> (&'static str, Vec<String>) {
    if Path::new("/bin/bash").exists() {
        ("/bin/bash", vec!["--noprofile".into(), "--norc".into()])
    } else {
        ("/bin/sh", vec![])
    }
}

/// The job script as GitLab's shell executor builds it: `set -eo pipefail`,
/// each command echoed (in green) before it runs.
fn build_script(commands: &[String], strict: bool) -> String {
    let mut s = String::new();
    if strict {
        s.push_str("set -eo pipefail\n");
    }
    for cmd in commands {
        let first = cmd.lines().next().unwrap_or("");
        let shown = if cmd.trim_end().contains('\n') {
            format!("{first} # collapsed multi-line command")
        } else {
            first.to_string()
        };
        s.push_str(&format!("printf '%s\\n' {}\n", shell_quote(&format!("\u{1b}[32;1m$ {shown}\u{1b}[0;m"))));
        s.push_str(cmd);
        s.push('\n');
    }
    s
}

/// Scripts up to this size go to the shell as `-c` text; longer ones are
/// written to a file (a single argument may not exceed 128 KiB on Linux).
const INLINE_SCRIPT_MAX: usize = 64 * 1024;

/// The shell arguments that run `script`: inline when small (no file to
/// create), else from a file at `path`.
fn script_args(base: &[String], path: &Path, script: String) -> std::io::Result<Vec<String>> {
    let mut args = base.to_vec();
    if script.len() <= INLINE_SCRIPT_MAX {
        args.extend(["-c".to_string(), script, "shipway-job".to_string()]);
    } else {
        std::fs::write(path, script)?;
        args.push(path.to_string_lossy().into_owned());
    }
    Ok(args)
}

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

fn execute_job(ctx: JobCtx, control: Receiver<Control>) {
    let started = Instant::now();
    let job = &ctx.job;
    let log_path = ctx.run_dir.log_path(ctx.index, job);
    let file = std::fs::File::create(&log_path).ok();
    let mut sink = LogSink {
        job: ctx.index,
        tx: ctx.tx.clone(),
        file,
        masker: (*ctx.masker).clone(),
        commands: crate::github::Commands { enabled: job.github.is_some(), ..Default::default() },
        partial: Vec::new(),
        coverage: job.coverage.as_ref().and_then(|c| regex::Regex::new(c).ok()),
        coverage_hit: None,
        signal: None,
    };
    // A stable workspace slot (see `slots`): a finished job's, reset to the
    // snapshot, or a free one. Kept workspaces get their own directory in the
    // run instead, which later runs leave alone.
    let (slot, ws, mut manifest) = if ctx.opts.keep_workspaces {
        (None, ctx.run_dir.path.join("ws").join(format!("{:03}", ctx.index)), Manifest::default())
    } else {
        match ctx.slots.acquire() {
            Ok((slot, manifest)) => {
                let ws = slot.path.clone();
                (Some(slot), ws, manifest)
            }
            Err(e) => {
                sink.line(&format!("shipway: no workspace for this job: {e}"));
                sink.flush();
                let mut result = JobResult::settled(JobStatus::Failed);
                result.log = Some(log_path);
                let _ = ctx.tx.send(Msg::Done(ctx.index, result, None));
                return;
            }
        }
    };
    let fresh = !ws.exists();
    let (status, exit_code, attempts, copy, outputs) = if job.github.is_some() {
        crate::github::run_job(&ctx, &ws, fresh, &mut manifest, &control, &mut sink)
    } else {
        job_attempts(&ctx, &ws, fresh, &mut manifest, &control, &mut sink)
    };
    sink.flush();
    let result = JobResult {
        status,
        exit_code,
        duration: started.elapsed(),
        attempts,
        coverage: sink.coverage_hit.clone(),
        log: Some(log_path),
        copy,
        key: None,
        cached_from: None,
        signal: sink.signal,
    };
    if let Some(slot) = slot {
        let keep = (!manifest.is_broken()).then_some(manifest);
        ctx.slots.release(slot, keep);
    }
    let _ = ctx.tx.send(Msg::Done(ctx.index, result, outputs));
}

pub(crate) type AttemptOutcome = (JobStatus, Option<i32>, u32, Duration, Option<JobOutputs>);

fn job_attempts(
    ctx: &JobCtx,
    ws: &Path,
    fresh: bool,
    manifest: &mut Manifest,
    control: &Receiver<Control>,
    sink: &mut LogSink,
) -> AttemptOutcome {
    let job = &ctx.job;
    let mut first_copy = Duration::ZERO;
    let (prog, base_args) = shell();
    if job.image.is_some() {
        let _ = ctx.tx.send(Msg::Note(format!(
            "warning: job `{}` asks for image `{}`; no container executor yet, running on the host",
            job.name,
            job.image.as_deref().unwrap_or("")
        )));
    }
    if let Some(secs) = job.start_in_secs {
        sink.line(&format!("Delayed job: starting in {secs}s"));
        if let Ok(c) = control.recv_timeout(Duration::from_secs(secs)) {
            let _ = c;
            sink.line("ERROR: Job canceled before it started");
            return (JobStatus::Canceled, None, 0, first_copy, None);
        }
    }
    let mut attempt = 0u32;
    loop {
        attempt += 1;
        let _ = ctx.tx.send(Msg::Started(ctx.index, attempt));
        sink.line(&format!(
            "\u{1b}[1mRunning with shipway {} (shell executor on the host), attempt {attempt}\u{1b}[0;m",
            env!("CARGO_PKG_VERSION")
        ));
        let Some(copy) = prepare_workspace(ctx, ws, fresh, attempt, manifest, sink) else {
            return (JobStatus::Failed, None, attempt, first_copy, None);
        };
        if attempt == 1 {
            first_copy = copy;
        }
        // Artifacts and dotenv variables from earlier jobs.
        let mut dotenv: Vec<(String, String)> = Vec::new();
        for src in &ctx.sources {
            if let Some(dir) = &src.artifacts_dir {
                let files = workspace::list_tree(dir);
                let (_, warns) = workspace::copy_files(dir, ws, &files);
                for w in warns {
                    sink.line(&format!("WARNING: artifact {w}"));
                }
            }
            dotenv.extend(src.dotenv.iter().cloned());
        }
        let cache_uses = restore_caches(ctx, ws, sink);

        let env = job_env(ctx, ws, &dotenv, attempt, None);
        let scripts_dir = ctx.run_dir.path.join("scripts");
        let main_path = scripts_dir.join(format!("{:03}-{attempt}-main.sh", ctx.index));
        let mut commands = job.before_script.clone();
        commands.extend(job.script.iter().cloned());
        let args = match script_args(&base_args, &main_path, build_script(&commands, true)) {
            Ok(a) => a,
            Err(e) => {
                sink.line(&format!("ERROR: cannot write the job script: {e}"));
                return (JobStatus::Failed, None, attempt, first_copy, None);
            }
        };
        let spec = process::Spec {
            program: prog,
            args,
            cwd: ws,
            env: &env,
            // Each attempt gets the full timeout, counted from its own start
            // (not from a `start_in` delay or earlier attempts), as on GitLab.
            timeout: Duration::from_secs(job.timeout_secs),
            grace: ctx.opts.kill_grace,
        };
        let (mut exit, note) = process::run(&spec, control, |b| sink.bytes(b));
        sink.flush();
        sink.signal = match exit {
            Exit::Signal(s) => Some(s),
            _ => None,
        };
        if ctx.canceled.load(Ordering::SeqCst) {
            exit = Exit::Canceled;
        }
        if let Some(n) = note {
            sink.line(&format!("WARNING: {n}"));
        }
        match exit {
            Exit::TimedOut => sink.line(&format!(
                "ERROR: Job failed: execution took longer than {} seconds (timeout); the process group was stopped",
                job.timeout_secs
            )),
            Exit::Canceled => sink.line("ERROR: Job canceled; the process group was stopped"),
            Exit::SpawnFailed => sink.line("ERROR: Job failed: the shell could not be started"),
            _ => {}
        }
        let script_ok = exit.success();
        let job_status_word = match exit {
            Exit::Code(0) => "success",
            Exit::Canceled => "canceled",
            _ => "failed",
        };
        // after_script: always, in a fresh shell, with its own timeout;
        // its result does not change the job's.
        if !job.after_script.is_empty() && exit != Exit::Canceled {
            sink.line("\u{1b}[36;1mRunning after_script\u{1b}[0;m");
            let after_path = scripts_dir.join(format!("{:03}-{attempt}-after.sh", ctx.index));
            if let Ok(args) = script_args(&base_args, &after_path, build_script(&job.after_script, true)) {
                let env = job_env(ctx, ws, &dotenv, attempt, Some(job_status_word));
                let spec = process::Spec {
                    program: prog,
                    args,
                    cwd: ws,
                    env: &env,
                    timeout: ctx.opts.after_script_timeout,
                    grace: ctx.opts.kill_grace,
                };
                let (aexit, _) = process::run(&spec, control, |b| sink.bytes(b));
                sink.flush();
                if !aexit.success() {
                    sink.line(&format!("WARNING: after_script failed ({}), ignored", describe_exit(aexit)));
                }
            }
        }
        // Decide.
        let (kind, code) = match exit {
            Exit::Code(0) => (None, Some(0)),
            Exit::Code(c) => (Some(FailureKind::Script), Some(c)),
            Exit::Signal(_) => (Some(FailureKind::Script), None),
            Exit::TimedOut => (Some(FailureKind::Timeout), None),
            Exit::SpawnFailed => (Some(FailureKind::System), None),
            Exit::Canceled => (None, None),
        };
        let status = if script_ok {
            JobStatus::Success
        } else if exit == Exit::Canceled {
            JobStatus::Canceled
        } else if job.allow_failure.permits(code) {
            JobStatus::AllowedFailure
        } else if exit == Exit::TimedOut {
            JobStatus::TimedOut
        } else {
            JobStatus::Failed
        };
        if let Some(k) = kind
            && job.retry.should_retry(attempt - 1, k, code)
        {
            sink.line(&format!(
                "Job failed ({}); retrying (attempt {} of {})",
                describe_exit(exit),
                attempt + 1,
                job.retry.max + 1
            ));
            continue;
        }
        let failed = matches!(status, JobStatus::Failed | JobStatus::AllowedFailure | JobStatus::TimedOut);
        let outputs =
            if status == JobStatus::Canceled { None } else { Some(collect_outputs(ctx, ws, script_ok, failed, sink)) };
        if status != JobStatus::Canceled {
            save_caches(ctx, ws, cache_uses, script_ok, sink);
        }
        match status {
            JobStatus::Success => sink.line("\u{1b}[32;1mJob succeeded\u{1b}[0;m"),
            JobStatus::AllowedFailure => sink
                .line(&format!("\u{1b}[33;1mWARNING: Job failed ({}), allowed to fail\u{1b}[0;m", describe_exit(exit))),
            JobStatus::Canceled => {}
            _ => sink.line(&format!("\u{1b}[31;1mERROR: Job failed: {}\u{1b}[0;m", describe_exit(exit))),
        }
        let exit_code = match exit {
            Exit::Code(c) => Some(c),
            _ => None,
        };
        return (status, exit_code, attempt, first_copy, outputs);
    }
}

/// Copy the snapshot into a fresh workspace, or reset a used one. `None`
/// (after logging why) when that failed; the workspace is then never reused.
pub(crate) fn prepare_workspace(
    ctx: &JobCtx,
    ws: &Path,
    fresh: bool,
    attempt: u32,
    manifest: &mut Manifest,
    sink: &mut LogSink,
) -> Option<Duration> {
    let prepared = if attempt == 1 && fresh { ctx.snapshot.materialize(ws) } else { ctx.snapshot.reset(ws, manifest) };
    match prepared {
        Ok((stats, m)) => {
            *manifest = m;
            let kept = if stats.kept > 0 {
                format!(" ({} untouched files kept from a reused workspace)", stats.kept)
            } else {
                String::new()
            };
            sink.line(&format!(
                "Prepared workspace: {} files, {:.1} MB copied in {} ms{kept}",
                stats.files,
                stats.bytes as f64 / 1e6,
                stats.elapsed.as_millis()
            ));
            Some(stats.elapsed)
        }
        Err(e) => {
            sink.line(&format!("ERROR: cannot prepare the job workspace: {e}"));
            // Never hand a workspace that could not be prepared to another job.
            manifest.mark_broken();
            None
        }
    }
}

fn describe_exit(e: Exit) -> String {
    match e {
        Exit::Code(c) => format!("exit code {c}"),
        Exit::Signal(s) => format!("killed by signal {s}"),
        Exit::TimedOut => "timed out".into(),
        Exit::Canceled => "canceled".into(),
        Exit::SpawnFailed => "could not start".into(),
    }
}

fn job_env(
    ctx: &JobCtx,
    ws: &Path,
    dotenv: &[(String, String)],
    attempt: u32,
    status: Option<&str>,
) -> Vec<(String, String)> {
    let job = &ctx.job;
    let mut env: Vec<(String, String)> = ctx.opts.base_env.clone();
    let job_id = ctx.run_id * 1000 + ctx.index as u64 + 1;
    let now = humantime_now();
    let ws_s = ws.to_string_lossy().into_owned();
    let builds = ws.parent().map(|p| p.to_string_lossy().into_owned()).unwrap_or_default();
    env.extend([
        ("CI_PROJECT_DIR".to_string(), ws_s),
        ("CI_BUILDS_DIR".to_string(), builds),
        ("CI_JOB_ID".to_string(), job_id.to_string()),
        ("CI_JOB_URL".to_string(), format!("http://localhost/-/jobs/{job_id}")),
        ("CI_JOB_STARTED_AT".to_string(), now),
        ("CI_RUNNER_ID".to_string(), "1".to_string()),
        ("CI_RUNNER_DESCRIPTION".to_string(), "shipway".to_string()),
        ("CI_RUNNER_TAGS".to_string(), "[]".to_string()),
        ("CI_RUNNER_VERSION".to_string(), env!("CARGO_PKG_VERSION").to_string()),
        // Where `shipway bench` keeps its history, so a bench step in a job
        // records into the project's store, not the job workspace's.
        ("SHIPWAY_STATE_DIR".to_string(), ctx.run_dir.state_dir().to_string_lossy().into_owned()),
        ("CI_RUNNER_EXECUTABLE_ARCH".to_string(), format!("{}/{}", std::env::consts::OS, std::env::consts::ARCH)),
        ("CI_JOB_ATTEMPT".to_string(), attempt.to_string()),
        ("CI_SHARED_ENVIRONMENT".to_string(), "true".to_string()),
        ("SHIPWAY".to_string(), "true".to_string()),
    ]);
    env.extend(job.variables.iter().cloned());
    for (k, v) in dotenv {
        if !ctx.opts.protected_vars.contains(k) {
            env.push((k.clone(), v.clone()));
        }
    }
    if let Some(s) = status {
        env.push(("CI_JOB_STATUS".to_string(), s.to_string()));
    }
    // Last write wins, as with a shell's `export`.
    let mut seen = HashSet::new();
    let mut out: Vec<(String, String)> = Vec::new();
    for (k, v) in env.into_iter().rev() {
        if seen.insert(k.clone()) {
            out.push((k, v));
        }
    }
    out.reverse();
    out
}

fn humantime_now() -> String {
    let secs = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    crate::time::iso8601(secs)
}

/// Artifact and cache paths as the job sees them: variables only known at
/// run time (`$CI_PROJECT_DIR`, `$CI_JOB_ID`; the others were expanded when
/// the pipeline was compiled) are expanded, and an absolute path inside the
/// workspace is made relative, as GitLab Runner does. Anything else that is
/// absolute stays so, and is rejected where it is used.
fn runtime_paths(ctx: &JobCtx, ws: &Path, paths: &[String]) -> Vec<String> {
    if !paths.iter().any(|p| p.contains('$') || p.starts_with('/')) {
        return paths.to_vec();
    }
    let env = job_env(ctx, ws, &[], 1, None);
    let lookup = |k: &str| env.iter().rev().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    paths
        .iter()
        .map(|p| {
            let p = ci::vars::expand(p, &lookup);
            match workspace::relative_in(ws, &p) {
                Ok(rel) if p.starts_with('/') => {
                    if rel.is_empty() {
                        ".".to_string()
                    } else {
                        rel
                    }
                }
                _ => p,
            }
        })
        .collect()
}

fn collect_outputs(ctx: &JobCtx, ws: &Path, succeeded: bool, failed: bool, sink: &mut LogSink) -> JobOutputs {
    let job = &ctx.job;
    let mut out = JobOutputs::default();
    let Some(a) = &job.artifacts else { return out };
    // Reports are collected whatever the job's result, as GitLab does.
    for f in &runtime_paths(ctx, ws, &a.dotenv) {
        match workspace::safe_relative(f) {
            Ok(rel) => match std::fs::read_to_string(ws.join(&rel)) {
                Ok(text) => {
                    let (vars, warns) = parse_dotenv(&text);
                    for w in warns {
                        sink.line(&format!("WARNING: {rel}: {w}"));
                    }
                    out.dotenv.extend(vars);
                }
                Err(e) => sink.line(&format!("WARNING: dotenv report {rel}: {e}")),
            },
            Err(e) => sink.line(&format!("WARNING: dotenv report {e}")),
        }
    }
    let wanted = match a.when {
        ArtifactsWhen::OnSuccess => succeeded,
        ArtifactsWhen::OnFailure => failed,
        ArtifactsWhen::Always => true,
    };
    if !wanted {
        return out;
    }
    let tracked: HashSet<&str> = ctx.snapshot.files.iter().map(|s| s.as_str()).collect();
    let mut paths = a.paths.clone();
    paths.extend(a.dotenv.iter().cloned());
    paths.extend(a.junit.iter().cloned());
    let paths = runtime_paths(ctx, ws, &paths);
    let exclude = runtime_paths(ctx, ws, &a.exclude);
    let (files, warns) = workspace::select(ws, &paths, &exclude, a.untracked.then_some(&tracked));
    for w in warns {
        sink.line(&format!("WARNING: artifacts: {w}"));
    }
    let dest = ctx.run_dir.path.join("artifacts").join(format!("{:03}", ctx.index));
    let (bytes, warns) = workspace::copy_files(ws, &dest, &files);
    for w in &warns {
        sink.line(&format!("WARNING: artifacts: {w}"));
    }
    let stored = files.len().saturating_sub(warns.len());
    sink.line(&format!("Uploading artifacts: {stored} files, {bytes} bytes"));
    let expire_secs = match a.expire_in.as_deref() {
        None => Some(DEFAULT_EXPIRE_SECS),
        Some(text) => match crate::time::parse_expire_in(text) {
            Ok(s) => s,
            Err(e) => {
                sink.line(&format!("WARNING: artifacts:expire_in {e}; kept for the default 30 days"));
                Some(DEFAULT_EXPIRE_SECS)
            }
        },
    };
    out.artifacts.push(ArtifactOut {
        name: a.name.clone().unwrap_or_else(|| "artifacts".into()),
        dir: dest.clone(),
        files: stored as u64,
        bytes,
        expire_secs,
        digest: crate::keys::tree_digest(Some(&dest)),
    });
    out.artifacts_dir = Some(dest);
    out
}

/// GitLab's default artifact expiry (gitlab.com's instance setting).
const DEFAULT_EXPIRE_SECS: u64 = 30 * 86_400;

/// `KEY=VALUE` lines, as GitLab's `reports:dotenv` reads them.
pub fn parse_dotenv(text: &str) -> (Vec<(String, String)>, Vec<String>) {
    let mut vars = Vec::new();
    let mut warns = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line);
        match line.split_once('=') {
            Some((k, v)) if !k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') => {
                let v = v.trim();
                let v = if v.len() >= 2
                    && ((v.starts_with('"') && v.ends_with('"')) || (v.starts_with('\'') && v.ends_with('\'')))
                {
                    &v[1..v.len() - 1]
                } else {
                    v
                };
                vars.push((k.to_string(), v.to_string()));
            }
            _ => warns.push(format!("line {}: not a KEY=VALUE line", i + 1)),
        }
    }
    (vars, warns)
}

/// A GitLab cache of a running job: its resolved key, and the entry it
/// took from the store (held until the job saves it or drops it).
pub(crate) struct CacheUse {
    key: String,
    lease: Option<crate::cache::Lease>,
}

/// The project's cache store (`<state>/cache`), next to the runs.
pub(crate) fn cache_store(run_dir: &RunDir) -> std::io::Result<crate::cache::CacheStore> {
    crate::cache::CacheStore::open(&run_dir.state_dir().join("cache"))
}

/// Resolve cache keys and restore (pull): `pull-push` takes the entry of
/// its own key (moved in, put back when the job saves), `pull` and
/// fallback keys copy. Returns the resolved keys.
fn restore_caches(ctx: &JobCtx, ws: &Path, sink: &mut LogSink) -> Vec<CacheUse> {
    let mut uses = Vec::new();
    if ctx.job.caches.is_empty() {
        return uses;
    }
    let store = match cache_store(&ctx.run_dir) {
        Ok(s) => s,
        Err(e) => {
            sink.line(&format!("WARNING: the cache store cannot be opened: {e}; caches are off for this job"));
            return uses;
        }
    };
    for c in &ctx.job.caches {
        let key = match &c.key {
            CacheKey::Literal(k) => k.clone(),
            CacheKey::Files { files, prefix } => {
                let mut h = Sha256::new();
                for f in files {
                    if let Ok(rel) = workspace::safe_relative(f)
                        && let Ok(bytes) = std::fs::read(ws.join(&rel))
                    {
                        h.update(rel.as_bytes());
                        h.update(&bytes);
                    }
                }
                let hex: String = h.finalize().iter().take(20).map(|b| format!("{b:02x}")).collect();
                match prefix {
                    Some(p) => format!("{p}-{hex}"),
                    None => hex,
                }
            }
        };
        let mut lease = None;
        let mut busy = false;
        if c.policy != CachePolicy::Push {
            let full = format!("gitlab:{key}");
            if c.policy == CachePolicy::PullPush && !ctx.opts.keep_workspaces {
                match store.take(&full, ws) {
                    Ok(Some((l, m))) => {
                        sink.line(&format!(
                            "Restored cache `{key}` by moving it in ({} files, {:.1} MB in {} ms)",
                            m.files,
                            m.bytes as f64 / 1e6,
                            m.elapsed.as_millis()
                        ));
                        let _ = ctx.tx.send(Msg::CacheUsed(full.clone()));
                        lease = Some(l);
                    }
                    Ok(None) => {}
                    Err(e @ crate::cache::CacheError::Busy { .. }) => {
                        busy = true;
                        sink.line(&format!("{e}; looking for a copy to restore instead"));
                    }
                    Err(e) => sink.line(&format!("WARNING: {e}")),
                }
            }
            if lease.is_none() {
                let mut names = vec![key.clone()];
                names.extend(c.fallback_keys.iter().cloned());
                let fulls: Vec<String> = names.iter().map(|k| format!("gitlab:{k}")).collect();
                let lookups: Vec<crate::cache::Lookup<'_>> =
                    fulls.iter().map(|k| crate::cache::Lookup::Exact(k.as_str())).collect();
                match store.find(&lookups) {
                    Some(hit) => match store.restore_copy(&hit, ws) {
                        Ok(Some(m)) => {
                            for w in &m.warnings {
                                sink.line(&format!("WARNING: cache: {w}"));
                            }
                            sink.line(&format!(
                                "Restored cache `{}` by copying ({} files, {:.1} MB in {} ms)",
                                crate::cache::shown(&hit),
                                m.files,
                                m.bytes as f64 / 1e6,
                                m.elapsed.as_millis()
                            ));
                            let _ = ctx.tx.send(Msg::CacheUsed(hit.clone()));
                        }
                        Ok(None) => sink.line(&format!("No cache for key `{key}` yet")),
                        Err(e) => sink.line(&format!("{e}; going without it")),
                    },
                    None if busy => sink.line(&format!("Cache `{key}` is in use by another job; going without it")),
                    None => sink.line(&format!("No cache for key `{key}` yet")),
                }
            }
        }
        uses.push(CacheUse { key, lease });
    }
    uses
}

/// The paths of `ws` a cache keeps: literal paths as they are (a directory
/// is kept whole), glob patterns expanded to files.
pub(crate) fn cache_paths(
    ws: &Path,
    patterns: &[String],
    untracked: Option<&HashSet<&str>>,
    sink: &mut LogSink,
) -> Vec<String> {
    let mut out = Vec::new();
    let mut globs = Vec::new();
    for p in patterns {
        if p.contains(['*', '?', '[', '{']) {
            globs.push(p.clone());
        } else {
            match workspace::safe_relative(p) {
                Ok(rel) if !rel.is_empty() => out.push(rel),
                Ok(_) => globs.push(p.clone()),
                Err(e) => sink.line(&format!("ERROR: cache path {e}")),
            }
        }
    }
    if !globs.is_empty() || untracked.is_some() {
        let (files, warns) = workspace::select(ws, &globs, &[], untracked);
        for w in warns {
            sink.line(&format!("WARNING: cache: {w}"));
        }
        out.extend(files);
    }
    out
}

fn save_caches(ctx: &JobCtx, ws: &Path, uses: Vec<CacheUse>, succeeded: bool, sink: &mut LogSink) {
    let Ok(store) = cache_store(&ctx.run_dir) else { return };
    for (c, u) in ctx.job.caches.iter().zip(uses) {
        let wanted = match c.when {
            CacheWhen::OnSuccess => succeeded,
            CacheWhen::OnFailure => !succeeded,
            CacheWhen::Always => true,
        };
        if c.policy == CachePolicy::Pull || !wanted {
            if u.lease.is_some() {
                sink.line(&format!(
                    "Cache `{}` not saved (when: {}); the entry this job took is dropped",
                    u.key,
                    match c.when {
                        CacheWhen::OnSuccess => "on_success",
                        CacheWhen::OnFailure => "on_failure",
                        CacheWhen::Always => "always",
                    }
                ));
            }
            continue;
        }
        let tracked: HashSet<&str> = ctx.snapshot.files.iter().map(|s| s.as_str()).collect();
        let paths = cache_paths(ws, &runtime_paths(ctx, ws, &c.paths), c.untracked.then_some(&tracked), sink);
        let full = format!("gitlab:{}", u.key);
        match store.save(&full, ws, &paths, !ctx.opts.keep_workspaces, u.lease) {
            Ok(m) => {
                for w in &m.warnings {
                    sink.line(&format!("WARNING: cache `{}`: {w}", u.key));
                }
                sink.line(&format!(
                    "Saved cache `{}` ({} files, {:.1} MB in {} ms)",
                    u.key,
                    m.files,
                    m.bytes as f64 / 1e6,
                    m.elapsed.as_millis()
                ));
                let _ = ctx.tx.send(Msg::CacheSaved { key: full, kind: "gitlab", files: m.files, bytes: m.bytes });
            }
            Err(e @ crate::cache::CacheError::Unsafe { .. }) => {
                sink.line(&format!(
                    "ERROR: {}:{}:{}: job `{}`: {e}; the cache is not saved",
                    ctx.pipeline_file, ctx.job.mark.pos.line, ctx.job.mark.pos.col, ctx.job.name
                ));
            }
            Err(e) => sink.line(&format!("WARNING: {e}; not saved")),
        }
    }
}
