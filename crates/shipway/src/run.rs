//! `shipway run`: compile, plan, execute, summarize.

use crate::cli::{EventKind, RunArgs};
use crate::exit;
use crate::report::{ConsoleReporter, Output};
use ci::github;
use ci::gitlab::{self, Compiled, Context, Project};
use ci::plan;
use runner::executor::{self, RunDir, RunOptions};
use runner::project::{self, FsProject};
use runner::workspace::Snapshot;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// What shapes the pipeline besides the file.
#[derive(Default)]
pub(crate) struct ContextArgs {
    pub(crate) event: Option<EventKind>,
    pub(crate) git_ref: Option<String>,
    pub(crate) vars: Vec<(String, String)>,
    pub(crate) secrets: Vec<(String, String)>,
    pub(crate) inputs: Vec<(String, String)>,
    pub(crate) pipeline_id: u64,
}

/// A project, its pipeline file and the run context.
pub(crate) struct Setup {
    pub(crate) project: FsProject,
    pub(crate) ctx: Context,
    pub(crate) rel_file: String,
}

impl Setup {
    pub(crate) fn new(file: &Path, args: &ContextArgs) -> Result<Setup, String> {
        let cwd = std::env::current_dir().map_err(|e| format!("cannot read the current directory: {e}"))?;
        let abs = if file.is_absolute() { file.to_path_buf() } else { cwd.join(file) };
        let start_dir = abs.parent().map(Path::to_path_buf).unwrap_or(cwd.clone());
        let root = project::find_root(if start_dir.is_dir() { &start_dir } else { &cwd });
        let root = std::fs::canonicalize(&root).unwrap_or(root);
        let abs = std::fs::canonicalize(&abs).map_err(|_| format!("{}: no such pipeline file", file.display()))?;
        let rel_file = abs.strip_prefix(&root).map(|p| p.to_string_lossy().into_owned()).map_err(|_| {
            format!("{}: the pipeline file is outside the project at {}", file.display(), root.display())
        })?;
        let project = FsProject::open(&root).map_err(|e| e.to_string())?;
        let event = args.event.unwrap_or(EventKind::Push);
        let git = project.git_info(args.git_ref.as_deref(), event == EventKind::Tag).map_err(|e| e.to_string())?;
        let github = github::is_workflow_path(&rel_file);
        let source = match (event, github) {
            (EventKind::Push | EventKind::Tag, _) => "push",
            (EventKind::PullRequest, false) => "merge_request_event",
            (EventKind::PullRequest, true) => "pull_request",
            (EventKind::Web, false) => "web",
            (EventKind::Web | EventKind::Api, true) => "workflow_dispatch",
            (EventKind::Schedule, _) => "schedule",
            (EventKind::Api, false) => "api",
        };
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
        let ctx = Context {
            source: source.to_string(),
            git,
            pipeline_id: args.pipeline_id,
            pipeline_vars: args.vars.clone(),
            secrets: args.secrets.clone(),
            host_env: std::env::vars().collect(),
            created_at: runner::time::iso8601(now),
            config_path: rel_file.clone(),
            inputs: args.inputs.clone(),
        };
        Ok(Setup { project, ctx, rel_file })
    }

    pub(crate) fn is_github(&self) -> bool {
        github::is_workflow_path(&self.rel_file)
    }

    pub(crate) fn compile(&self) -> Compiled {
        if self.is_github() {
            github::compile(&self.rel_file, &self.project, &self.ctx)
        } else {
            gitlab::compile(&self.rel_file, &self.project, &self.ctx)
        }
    }
}

fn parse_kv(s: &str, flag: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') => {
            Ok((k.to_string(), v.to_string()))
        }
        _ => Err(format!("{flag} `{s}`: expected KEY=VALUE with a KEY of letters, digits and `_`")),
    }
}

fn read_secrets_file(path: &Path) -> Result<Vec<(String, String)>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let t = line.trim();
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        let kv = parse_kv(t, "secret").map_err(|e| format!("{}:{}:1: {e}", path.display(), i + 1))?;
        out.push(kv);
    }
    Ok(out)
}

fn find_jobs(pipeline: &ci::model::Pipeline, excluded: &[(String, String)], name: &str) -> Result<Vec<usize>, String> {
    let hits: Vec<usize> = pipeline
        .jobs
        .iter()
        .enumerate()
        .filter(|(_, j)| j.name == name || j.definition == name)
        .map(|(i, _)| i)
        .collect();
    if hits.is_empty() {
        let names: Vec<&str> = pipeline.jobs.iter().map(|j| j.name.as_str()).collect();
        let hint = ci::diag::did_you_mean(name, names.iter().copied())
            .map(|s| format!(" (did you mean `{s}`?)"))
            .unwrap_or_default();
        let why = excluded.iter().find(|(n, _)| n == name).map(|(_, r)| format!(": {r}")).unwrap_or_default();
        return Err(format!("no job `{name}` in this pipeline{why}{hint}"));
    }
    Ok(hits)
}

/// `.gitlab-ci.yml` when there is one, else the only GitHub workflow.
fn default_file() -> Result<PathBuf, String> {
    let cwd = std::env::current_dir().map_err(|e| e.to_string())?;
    let root = project::find_root(&cwd);
    if root.join(".gitlab-ci.yml").is_file() {
        return Ok(root.join(".gitlab-ci.yml"));
    }
    let workflows = workflow_files(&root);
    match workflows.as_slice() {
        [one] => Ok(one.clone()),
        [] => Err("no pipeline file: no .gitlab-ci.yml and no .github/workflows/*.yml here".into()),
        many => Err(format!(
            "several workflows in .github/workflows ({}); pass the one to run",
            many.iter()
                .filter_map(|p| p.file_name())
                .map(|f| f.to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}

/// The workflow files of a repository, sorted.
pub(crate) fn workflow_files(root: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(root.join(".github").join("workflows"))
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "yml" || x == "yaml"))
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

pub(crate) fn main(args: RunArgs) -> i32 {
    let out = Output::new(args.json);
    match run(&args, &out) {
        Ok(code) => code,
        Err((code, msg)) => {
            out.error(&msg);
            let status = if code == exit::INVALID { "invalid" } else { "error" };
            if !out.json_printed() {
                out.json(&serde_json::json!({"run": null, "status": status, "jobs": [], "message": msg}));
            }
            code
        }
    }
}

fn run(args: &RunArgs, out: &Output) -> Result<i32, (i32, String)> {
    let invalid = |m: String| (exit::INVALID, m);
    if args.files.len() > 1 {
        return Err(invalid("unsupported: running several pipeline files at once; pass one file".into()));
    }
    let file = match args.files.first() {
        Some(f) => f.clone(),
        None => default_file().map_err(invalid)?,
    };
    let mut vars = Vec::new();
    for v in &args.vars {
        vars.push(parse_kv(v, "--var").map_err(invalid)?);
    }
    let mut secrets = Vec::new();
    for s in &args.secrets {
        secrets.push(parse_kv(s, "--secret").map_err(invalid)?);
    }
    if let Some(f) = &args.secrets_file {
        secrets.extend(read_secrets_file(f).map_err(invalid)?);
    }
    let mut inputs = Vec::new();
    for i in &args.inputs {
        inputs.push(parse_kv(i, "--input").map_err(invalid)?);
    }
    if args.secrets_file.is_none() && github::is_workflow_path(&file.to_string_lossy()) {
        // act's convention: a `.secrets` file at the repository root.
        let cwd = std::env::current_dir().map_err(|e| (exit::INTERNAL, e.to_string()))?;
        let dot = project::find_root(&cwd).join(".secrets");
        if dot.is_file() {
            secrets.extend(read_secrets_file(&dot).map_err(invalid)?);
        }
    }
    if args.parallel == Some(0) {
        return Err(invalid("--parallel must be at least 1".into()));
    }
    let state_dir = crate::state::state_dir().map_err(|e| (exit::INTERNAL, e))?;
    let (mut store, recovered) = crate::state::open_store(&state_dir).map_err(|e| (exit::INTERNAL, e))?;
    for id in &recovered {
        out.human(&format!("Run {id} was interrupted (its process died); marked `interrupted`, its logs are kept\n"));
    }
    let next_id = (RunDir::max_on_disk(&state_dir) + 1)
        .max(store.last_run().map_err(|e| (exit::INTERNAL, e.to_string()))?.unwrap_or(0) as u64 + 1);
    let cargs = ContextArgs {
        event: Some(args.event),
        git_ref: args.git_ref.clone(),
        vars,
        secrets: secrets.clone(),
        inputs,
        pipeline_id: next_id,
    };
    let setup = Setup::new(&file, &cargs).map_err(invalid)?;
    let compiled = setup.compile();
    for d in &compiled.diagnostics {
        out.human(&compiled.sources.render(d));
    }
    if compiled.has_errors() {
        let n = compiled.diagnostics.iter().filter(|d| d.is_error()).count();
        let diags: Vec<_> = compiled.diagnostics.iter().map(|d| compiled.sources.to_json(d)).collect();
        out.json(&serde_json::json!({"run": null, "status": "invalid", "jobs": [], "diagnostics": diags}));
        return Err(invalid(format!("{}: {n} error(s); nothing was run", setup.rel_file)));
    }
    if compiled.workflow_excluded {
        if setup.is_github() {
            out.human(&format!(
                "Workflow not triggered: its `on:` does not match a {} to `{}`.\n",
                setup.ctx.source, setup.ctx.git.ref_name
            ));
        } else {
            out.human("Pipeline not created: `workflow:rules` excluded it for this ref and event.\n");
        }
        out.json(&serde_json::json!({"run": null, "status": "skipped", "jobs": []}));
        return Ok(exit::SUCCESS);
    }
    let Some(mut pipeline) = compiled.pipeline else {
        return Err((exit::INTERNAL, "the pipeline could not be built".into()));
    };
    if pipeline.is_empty() {
        for (name, why) in &compiled.excluded {
            out.human(&format!("not in this pipeline: {name} ({why})\n"));
        }
        out.human("Pipeline not created: no jobs for this ref and event (rules left none, or only .pre/.post jobs).\n");
        out.json(&serde_json::json!({"run": null, "status": "skipped", "jobs": []}));
        return Ok(exit::SUCCESS);
    }
    // --job: keep the named jobs and their needs.
    let mut play_names: Vec<String> = args.manual.clone();
    if !args.jobs.is_empty() {
        let mut wanted = Vec::new();
        for j in &args.jobs {
            wanted.extend(find_jobs(&pipeline, &compiled.excluded, j).map_err(invalid)?);
        }
        pipeline = plan::select(&pipeline, &wanted);
        // Asking for a job with --job plays it, and any manual job it needs:
        // otherwise the requested job could never run.
        for j in &pipeline.jobs {
            if j.when == ci::model::When::Manual {
                play_names.push(j.name.clone());
            }
        }
    }
    let mut play = Vec::new();
    for m in &play_names {
        play.extend(find_jobs(&pipeline, &compiled.excluded, m).map_err(invalid)?);
    }
    for (name, why) in &compiled.excluded {
        out.human(&format!("\u{1b}[2mnot in this pipeline: {name} ({why})\u{1b}[0m\n"));
    }
    if args.dry_run {
        out.plan(&pipeline);
        return Ok(exit::SUCCESS);
    }
    let root = setup.project.root().to_path_buf();
    let run_id = store
        .begin_run(&store::NewRun {
            pipeline: setup.rel_file.clone(),
            commit: setup.ctx.git.sha.clone(),
            git_ref: setup.ctx.git.ref_name.clone(),
            event: setup.ctx.source.clone(),
            trigger: "cli".into(),
            started_ms: runner::time::now_ms(),
            min_id: next_id as i64,
        })
        .map_err(|e| (exit::INTERNAL, e.to_string()))?;
    let run_dir = RunDir::with_id(&state_dir, run_id as u64)
        .map_err(|e| (exit::INTERNAL, format!("cannot create the run directory in {}: {e}", state_dir.display())))?;
    // Held until this process ends: the next start knows the run is live.
    let _run_lock = runner::lock::FileLock::try_exclusive(&run_dir.lock_path())
        .map_err(|e| (exit::INTERNAL, format!("cannot lock {}: {e}", run_dir.lock_path().display())))?;
    let snap_start = std::time::Instant::now();
    let snapshot =
        Arc::new(Snapshot::new(&root, setup.project.files().to_vec(), &run_dir.path, setup.project.is_git()));
    out.human(&format!(
        "Run {} of {} on {} ({}): {} jobs, snapshot of {} files ready in {} ms\n",
        run_dir.id,
        setup.rel_file,
        setup.ctx.git.ref_name,
        setup.ctx.source,
        pipeline.jobs.len(),
        snapshot.files.len(),
        snap_start.elapsed().as_millis()
    ));
    let mut protected: Vec<String> = cargs.vars.iter().map(|(k, _)| k.clone()).collect();
    protected.extend(secrets.iter().map(|(k, _)| k.clone()));
    let opts = RunOptions {
        parallel: args.parallel.unwrap_or_else(|| std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2)),
        play,
        kill_grace: Duration::from_secs(args.kill_grace),
        keep_workspaces: args.keep_workspaces,
        protected_vars: protected,
        secret_values: secrets.iter().map(|(_, v)| v.clone()).collect(),
        skip_unsupported: args.skip_unsupported,
        no_cache: args.no_cache,
        ..RunOptions::default()
    };
    let (interrupter, inbox) = executor::channel();
    let _ = ctrlc::set_handler(move || interrupter.interrupt());
    let mut reporter = ConsoleReporter::new(out, &pipeline);
    let result = executor::run(&pipeline, snapshot, &run_dir, &opts, inbox, &mut reporter, Some(store.as_mut()));
    reporter.finish();
    let status = if result.interrupted {
        "canceled"
    } else if result.failed() {
        "failed"
    } else {
        "success"
    };
    if let Err(e) = store.finish_run(run_id, status, runner::time::now_ms()) {
        out.error(&format!("the run store failed: {e}"));
    }
    out.summary(&pipeline, &result, &run_dir, status);
    // GitHub shows a matrix job whose `if` skipped it once, without matrix
    // values: keep the first instance of such a group, under the base name.
    let mut shown_name: Vec<Option<String>> = pipeline.jobs.iter().map(|j| Some(j.name.clone())).collect();
    for (i, j) in pipeline.jobs.iter().enumerate() {
        let Some(g) = j.github.as_deref().and_then(|g| g.strategy.group) else { continue };
        let members: Vec<usize> = (0..pipeline.jobs.len())
            .filter(|&k| pipeline.jobs[k].github.as_deref().is_some_and(|o| o.strategy.group == Some(g)))
            .collect();
        if members.iter().all(|&k| result.jobs[k].status == ci::plan::JobStatus::Skipped) {
            shown_name[i] =
                if members.first() == Some(&i) { j.github.as_deref().map(|g| g.base_name.clone()) } else { None };
        }
    }
    let jobs: Vec<serde_json::Value> = pipeline
        .jobs
        .iter()
        .zip(&result.jobs)
        .zip(shown_name)
        .filter_map(|((j, r), name)| name.map(|n| (j, r, n)))
        .map(|(j, r, name)| {
            let mut v = serde_json::json!({
                "name": name,
                "stage": j.stage,
                "status": r.status.as_str(),
                "exit_code": r.exit_code,
                "duration_ms": r.duration.as_millis() as u64,
            });
            if let Some(c) = &r.coverage {
                v["coverage"] = serde_json::json!(c);
            }
            if r.attempts > 1 {
                v["attempts"] = serde_json::json!(r.attempts);
            }
            if let Some(from) = r.cached_from {
                v["cached_from"] = serde_json::json!(from);
            }
            v
        })
        .collect();
    let json = serde_json::json!({"run": run_dir.id, "status": status, "jobs": jobs});
    let _ = std::fs::write(run_dir.path.join("result.json"), serde_json::to_string_pretty(&json).unwrap_or_default());
    out.json(&json);
    Ok(if result.interrupted {
        exit::INTERRUPTED
    } else if result.failed() {
        exit::FAILED
    } else {
        exit::SUCCESS
    })
}
