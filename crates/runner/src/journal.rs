//! The dispatcher's link to the store: it records every job as it is
//! planned, started and finished, and replays cached results. Only the
//! dispatcher thread holds a `Journal`, so all store writes of a run are
//! made in one place, in order.

use crate::executor::{ArtifactOut, JobOutputs, JobResult, RunDir, StepOut};
use crate::workspace;
use ci::model::Job;
use ci::plan::JobStatus;
use std::path::{Path, PathBuf};
use std::time::Duration;
use store::{ArtifactRecord, JobRecord, KeyHit, LogRecord, StepRecord, Store};

pub(crate) use crate::time::now_ms;

pub(crate) struct Journal<'a> {
    store: Option<&'a mut dyn Store>,
    /// The project's state dir (`.shipway`); stored paths are relative to it.
    state_dir: PathBuf,
    run: i64,
    /// The first store error, reported once; the run goes on without it.
    pub(crate) error: Option<String>,
}

impl<'a> Journal<'a> {
    pub(crate) fn new(store: Option<&'a mut dyn Store>, run_dir: &RunDir) -> Journal<'a> {
        let state_dir = run_dir.path.parent().and_then(Path::parent).map(Path::to_path_buf).unwrap_or_default();
        Journal { store, state_dir, run: run_dir.id as i64, error: None }
    }

    pub(crate) fn enabled(&self) -> bool {
        self.store.is_some()
    }

    fn rel(&self, p: &Path) -> String {
        p.strip_prefix(&self.state_dir).unwrap_or(p).to_string_lossy().into_owned()
    }

    fn write(&mut self, what: &str, f: impl FnOnce(&mut dyn Store) -> store::Result<()>) {
        if let Some(s) = self.store.as_deref_mut()
            && let Err(e) = f(s)
            && self.error.is_none()
        {
            self.error = Some(format!("{what}: {e}"));
        }
    }

    fn record(&self, index: usize, job: &Job) -> JobRecord {
        JobRecord {
            run: self.run,
            index: index as i64,
            name: job.name.clone(),
            stage: job.stage.clone(),
            matrix: job
                .github
                .as_deref()
                .filter(|g| !matches!(g.matrix, ci::github::expr::Value::Null))
                .map(|g| g.matrix.to_json().to_string()),
            status: "pending".into(),
            ..Default::default()
        }
    }

    pub(crate) fn planned(&mut self, index: usize, job: &Job) {
        let r = self.record(index, job);
        self.write("record a job", |s| s.put_job(&r));
    }

    pub(crate) fn started(&mut self, index: usize, job: &Job, attempt: u32, log: &Path) {
        let mut r = self.record(index, job);
        r.status = "running".into();
        r.started_ms = Some(now_ms());
        r.attempts = attempt as i64;
        let l = LogRecord { run: self.run, job: index as i64, path: self.rel(log) };
        self.write("record a job start", |s| {
            s.put_job(&r)?;
            s.put_log(&l)
        });
    }

    pub(crate) fn step(&mut self, job: usize, step: &StepOut) {
        let r = StepRecord {
            run: self.run,
            job: job as i64,
            index: step.index as i64,
            name: step.name.clone(),
            status: step.status.to_string(),
            exit_code: None,
            duration_ms: step.duration.as_millis() as i64,
        };
        self.write("record a step", |s| s.put_step(&r));
    }

    pub(crate) fn settled(&mut self, index: usize, job: &Job, status: JobStatus) {
        let mut r = self.record(index, job);
        r.status = status.as_str().into();
        self.write("record a job", |s| s.put_job(&r));
    }

    /// Record a finished job, its artifacts, and (when `reusable`) its key.
    pub(crate) fn finished(
        &mut self,
        index: usize,
        job: &Job,
        result: &JobResult,
        out: Option<&JobOutputs>,
        started_ms: Option<i64>,
    ) {
        let mut r = self.record(index, job);
        r.status = result.status.as_str().into();
        r.exit_code = result.exit_code.map(i64::from);
        r.signal = result.signal.map(i64::from);
        r.started_ms = started_ms;
        r.duration_ms = Some(result.duration.as_millis() as i64);
        r.key = result.key.clone();
        r.cached = result.cached_from.is_some();
        r.cached_from = result.cached_from;
        r.attempts = result.attempts as i64;
        r.outputs = out.map(JobOutputs::to_json);
        let created = now_ms();
        let arts: Vec<ArtifactRecord> = out
            .map(|o| o.artifacts.as_slice())
            .unwrap_or_default()
            .iter()
            .map(|a| ArtifactRecord {
                id: 0,
                run: self.run,
                job: index as i64,
                name: a.name.clone(),
                path: self.rel(&a.dir),
                files: a.files as i64,
                bytes: a.bytes as i64,
                digest: a.digest.clone(),
                created_ms: created,
                expire_ms: a.expire_secs.map(|s| created.saturating_add((s as i64).saturating_mul(1000))),
                deleted: false,
            })
            .collect();
        let log = result.log.as_ref().map(|l| LogRecord { run: self.run, job: index as i64, path: self.rel(l) });
        self.write("record a job result", |s| {
            s.put_job(&r)?;
            if let Some(l) = &log {
                s.put_log(l)?;
            }
            for a in &arts {
                s.add_artifact(a)?;
            }
            Ok(())
        });
    }

    pub(crate) fn cache_used(&mut self, key: &str) {
        let now = now_ms();
        self.write("record a cache use", |s| s.touch_cache_entry(key, now));
    }

    pub(crate) fn cache_saved(&mut self, key: &str, kind: &str, files: u64, bytes: u64) {
        let now = now_ms();
        let e = store::CacheEntryRecord {
            key: key.to_string(),
            kind: kind.to_string(),
            bytes: bytes as i64,
            files: files as i64,
            created_ms: now,
            last_used_ms: now,
        };
        self.write("record a cache entry", |s| s.put_cache_entry(&e));
    }

    pub(crate) fn find_key(&mut self, key: &str) -> Option<KeyHit> {
        let s = self.store.as_deref_mut()?;
        match s.find_key(key) {
            Ok(hit) => hit,
            Err(e) => {
                if self.error.is_none() {
                    self.error = Some(format!("look up a job key: {e}"));
                }
                None
            }
        }
    }

    /// Make an earlier result this run's: its log and artifacts are linked
    /// into this run's directory (so they outlive the earlier run), and its
    /// dotenv variables and outputs come back.
    pub(crate) fn replay(
        &self,
        index: usize,
        job: &Job,
        hit: &KeyHit,
        run_dir: &RunDir,
    ) -> Result<(JobResult, JobOutputs), String> {
        let mut out = hit.job.outputs.as_deref().map(JobOutputs::from_json).unwrap_or_default();
        let log = run_dir.log_path(index, job);
        if let Some(parent) = log.parent() {
            let _ = std::fs::create_dir_all(parent);
        }
        match &hit.log {
            Some(orig) => link_or_copy(&self.state_dir.join(orig), &log)
                .map_err(|e| format!("the log of run {} is gone ({e})", hit.job.run))?,
            None => return Err(format!("run {} kept no log for it", hit.job.run)),
        }
        for a in &hit.artifacts {
            let src = self.state_dir.join(&a.path);
            if !src.is_dir() {
                return Err(format!("the artifacts of run {} are gone ({})", hit.job.run, a.path));
            }
            let dest = if a.path.contains("/artifacts/gh/") {
                run_dir.path.join("artifacts").join("gh").join(&a.name)
            } else {
                run_dir.path.join("artifacts").join(format!("{index:03}"))
            };
            let (files, bytes) = workspace::link_tree(&src, &dest).map_err(|e| format!("artifacts: {e}"))?;
            let left_ms = a.expire_ms.map(|e| (e - now_ms()).max(0) as u64 / 1000);
            if !a.path.contains("/artifacts/gh/") {
                out.artifacts_dir = Some(dest.clone());
            }
            out.artifacts.push(ArtifactOut {
                name: a.name.clone(),
                dir: dest,
                files,
                bytes,
                expire_secs: left_ms,
                digest: a.digest.clone(),
            });
        }
        let result = JobResult {
            status: JobStatus::Cached,
            exit_code: hit.job.exit_code.map(|c| c as i32),
            signal: None,
            duration: Duration::from_millis(hit.job.duration_ms.unwrap_or(0).max(0) as u64),
            attempts: hit.job.attempts.max(0) as u32,
            coverage: None,
            log: Some(log),
            copy: Duration::ZERO,
            key: hit.job.key.clone(),
            cached_from: Some(hit.job.cached_from.unwrap_or(hit.job.run)),
        };
        Ok((result, out))
    }
}

/// A hard link (the content is immutable), or a copy across filesystems.
fn link_or_copy(src: &Path, dst: &Path) -> std::io::Result<()> {
    let _ = std::fs::remove_file(dst);
    std::fs::hard_link(src, dst).or_else(|_| std::fs::copy(src, dst).map(|_| ()))
}
