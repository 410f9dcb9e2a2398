//! The embedded backend: one SQLite database in WAL mode.
//!
//! WAL lets `shipway runs` read while a run writes, and a committed
//! transaction survives a crash of the writer (kill -9). `synchronous =
//! NORMAL` may lose the last transactions on power loss, never consistency.

use crate::migrate::MIGRATIONS;
use crate::{
    ArtifactRecord, BenchQuery, BenchRecord, CacheEntryRecord, Context, Error, ErrorKind, JobRecord, KeyHit, LogRecord,
    NewRun, Recovered, Result, RunRecord, StepRecord, Store, run_status,
};
use rusqlite::{Connection, OptionalExtension, Row, params};
use std::path::Path;
use std::time::Duration;

pub struct SqliteStore {
    conn: Connection,
}

impl SqliteStore {
    /// Open (creating it if needed) the database at `path` and bring its
    /// schema up to date.
    pub fn open(path: &Path) -> Result<SqliteStore> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).ctx("create the database directory")?;
        }
        let conn = Connection::open(path).ctx(&format!("open {}", path.display()))?;
        Self::with_connection(conn)
    }

    /// An in-memory store, for tests of callers.
    pub fn in_memory() -> Result<SqliteStore> {
        Self::with_connection(Connection::open_in_memory().ctx("open in memory")?)
    }

    fn with_connection(conn: Connection) -> Result<SqliteStore> {
        conn.busy_timeout(Duration::from_secs(10)).ctx("set busy timeout")?;
        conn.pragma_update(None, "journal_mode", "WAL").ctx("enable WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL").ctx("set synchronous")?;
        conn.pragma_update(None, "foreign_keys", "ON").ctx("enable foreign keys")?;
        let mut s = SqliteStore { conn };
        s.migrate()?;
        Ok(s)
    }

    /// The schema version after migrations.
    pub fn schema_version(&self) -> Result<i64> {
        self.conn
            .query_row("SELECT COALESCE(MAX(version), 0) FROM schema_migrations", [], |r| r.get(0))
            .ctx("read schema version")
    }

    fn migrate(&mut self) -> Result<()> {
        self.conn
            .execute_batch(
                "CREATE TABLE IF NOT EXISTS schema_migrations (
                    version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_ms INTEGER NOT NULL)",
            )
            .ctx("create schema_migrations")?;
        let current = self.schema_version()?;
        let known = MIGRATIONS.last().map(|m| m.0).unwrap_or(0);
        if current > known {
            return Err(Error { context: "migrate".into(), kind: ErrorKind::TooNew { found: current, known } });
        }
        for (version, name, sql) in MIGRATIONS.iter().filter(|m| m.0 > current) {
            // IMMEDIATE: two processes starting at once migrate one after
            // the other; the second sees the version and skips.
            let tx =
                self.conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate).ctx("begin migration")?;
            let done: bool = tx
                .query_row("SELECT COUNT(*) FROM schema_migrations WHERE version = ?1", [version], |r| {
                    r.get::<_, i64>(0)
                })
                .map(|n| n > 0)
                .ctx("check migration")?;
            if !done {
                tx.execute_batch(sql).ctx(&format!("migration {version} ({name})"))?;
                tx.execute(
                    "INSERT INTO schema_migrations (version, name, applied_ms) VALUES (?1, ?2, ?3)",
                    params![version, name, now_ms()],
                )
                .ctx("record migration")?;
            }
            tx.commit().ctx("commit migration")?;
        }
        Ok(())
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

const RUN_COLS: &str = "r.id, r.pipeline, r.commit_sha, r.git_ref, r.event, r.trigger, r.started_ms, r.ended_ms, r.status,
    (SELECT COUNT(*) FROM jobs j WHERE j.run = r.id), (SELECT COUNT(*) FROM jobs j WHERE j.run = r.id AND j.cached = 1)";

fn run_row(r: &Row<'_>) -> rusqlite::Result<RunRecord> {
    Ok(RunRecord {
        id: r.get(0)?,
        pipeline: r.get(1)?,
        commit: r.get(2)?,
        git_ref: r.get(3)?,
        event: r.get(4)?,
        trigger: r.get(5)?,
        started_ms: r.get(6)?,
        ended_ms: r.get(7)?,
        status: r.get(8)?,
        jobs: r.get(9)?,
        cached: r.get(10)?,
    })
}

const JOB_COLS: &str = "run, idx, name, stage, matrix, status, exit_code, signal, started_ms, duration_ms, job_key,
    cached, cached_from, attempts, outputs";

fn job_row(r: &Row<'_>) -> rusqlite::Result<JobRecord> {
    Ok(JobRecord {
        run: r.get(0)?,
        index: r.get(1)?,
        name: r.get(2)?,
        stage: r.get(3)?,
        matrix: r.get(4)?,
        status: r.get(5)?,
        exit_code: r.get(6)?,
        signal: r.get(7)?,
        started_ms: r.get(8)?,
        duration_ms: r.get(9)?,
        key: r.get(10)?,
        cached: r.get::<_, i64>(11)? != 0,
        cached_from: r.get(12)?,
        attempts: r.get(13)?,
        outputs: r.get(14)?,
    })
}

const ART_COLS: &str = "id, run, job, name, path, files, bytes, digest, created_ms, expire_ms, deleted";

fn artifact_row(r: &Row<'_>) -> rusqlite::Result<ArtifactRecord> {
    Ok(ArtifactRecord {
        id: r.get(0)?,
        run: r.get(1)?,
        job: r.get(2)?,
        name: r.get(3)?,
        path: r.get(4)?,
        files: r.get(5)?,
        bytes: r.get(6)?,
        digest: r.get(7)?,
        created_ms: r.get(8)?,
        expire_ms: r.get(9)?,
        deleted: r.get::<_, i64>(10)? != 0,
    })
}

fn log_row(r: &Row<'_>) -> rusqlite::Result<LogRecord> {
    Ok(LogRecord { run: r.get(0)?, job: r.get(1)?, path: r.get(2)? })
}

impl Store for SqliteStore {
    fn begin_run(&mut self, run: &NewRun) -> Result<i64> {
        let tx = self.conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate).ctx("begin run")?;
        let max: i64 = tx.query_row("SELECT COALESCE(MAX(id), 0) FROM runs", [], |r| r.get(0)).ctx("next run id")?;
        let id = (max + 1).max(run.min_id);
        tx.execute(
            "INSERT INTO runs (id, pipeline, commit_sha, git_ref, event, trigger, started_ms, status)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![
                id,
                run.pipeline,
                run.commit,
                run.git_ref,
                run.event,
                run.trigger,
                run.started_ms,
                run_status::RUNNING
            ],
        )
        .ctx("insert run")?;
        tx.commit().ctx("commit run")?;
        Ok(id)
    }

    fn finish_run(&mut self, run: i64, status: &str, ended_ms: i64) -> Result<()> {
        self.conn
            .execute("UPDATE runs SET status = ?2, ended_ms = ?3 WHERE id = ?1", params![run, status, ended_ms])
            .ctx("finish run")?;
        Ok(())
    }

    fn recover(
        &mut self,
        alive: &mut dyn FnMut(i64) -> bool,
        last_seen: &mut dyn FnMut(i64) -> Option<i64>,
    ) -> Result<Recovered> {
        let running: Vec<(i64, i64)> = {
            let mut st =
                self.conn.prepare("SELECT id, started_ms FROM runs WHERE status = ?1").ctx("find running runs")?;
            st.query_map([run_status::RUNNING], |r| Ok((r.get(0)?, r.get(1)?)))
                .ctx("find running runs")?
                .collect::<rusqlite::Result<_>>()
                .ctx("read runs")?
        };
        let mut out = Recovered::default();
        for (id, started) in running {
            if alive(id) {
                continue;
            }
            let tx = self.conn.transaction().ctx("begin recovery")?;
            // The end is unknown; the last activity seen is the best guess.
            let known: Option<i64> = tx
                .query_row(
                    "SELECT MAX(MAX(started_ms + COALESCE(duration_ms, 0)), MAX(started_ms)) FROM jobs
                     WHERE run = ?1 AND started_ms IS NOT NULL",
                    [id],
                    |r| r.get(0),
                )
                .ctx("find the last job activity")?;
            let ended = [Some(started), known, last_seen(id)].into_iter().flatten().max().unwrap_or(started);
            tx.execute(
                "UPDATE runs SET status = ?2, ended_ms = ?4 WHERE id = ?1 AND status = ?3",
                params![id, run_status::INTERRUPTED, run_status::RUNNING, ended],
            )
            .ctx("mark run interrupted")?;
            tx.execute(
                "UPDATE jobs SET status = ?2 WHERE run = ?1 AND status IN ('pending', 'running')",
                params![id, run_status::INTERRUPTED],
            )
            .ctx("mark jobs interrupted")?;
            tx.commit().ctx("commit recovery")?;
            out.runs.push(id);
        }
        Ok(out)
    }

    fn runs(&mut self, limit: usize) -> Result<Vec<RunRecord>> {
        let sql = format!("SELECT {RUN_COLS} FROM runs r ORDER BY r.id DESC LIMIT ?1");
        let mut st = self.conn.prepare(&sql).ctx("list runs")?;
        st.query_map([limit as i64], run_row).ctx("list runs")?.collect::<rusqlite::Result<_>>().ctx("read runs")
    }

    fn run(&mut self, id: i64) -> Result<Option<RunRecord>> {
        let sql = format!("SELECT {RUN_COLS} FROM runs r WHERE r.id = ?1");
        self.conn.query_row(&sql, [id], run_row).optional().ctx("read run")
    }

    fn last_run(&mut self) -> Result<Option<i64>> {
        self.conn.query_row("SELECT MAX(id) FROM runs", [], |r| r.get(0)).ctx("last run")
    }

    fn put_job(&mut self, j: &JobRecord) -> Result<()> {
        self.conn
            .execute(
                &format!("INSERT OR REPLACE INTO jobs ({JOB_COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)"),
                params![
                    j.run,
                    j.index,
                    j.name,
                    j.stage,
                    j.matrix,
                    j.status,
                    j.exit_code,
                    j.signal,
                    j.started_ms,
                    j.duration_ms,
                    j.key,
                    j.cached as i64,
                    j.cached_from,
                    j.attempts,
                    j.outputs
                ],
            )
            .ctx("write job")?;
        Ok(())
    }

    fn jobs(&mut self, run: i64) -> Result<Vec<JobRecord>> {
        let mut st =
            self.conn.prepare(&format!("SELECT {JOB_COLS} FROM jobs WHERE run = ?1 ORDER BY idx")).ctx("list jobs")?;
        st.query_map([run], job_row).ctx("list jobs")?.collect::<rusqlite::Result<_>>().ctx("read jobs")
    }

    fn put_step(&mut self, s: &StepRecord) -> Result<()> {
        self.conn
            .execute(
                "INSERT OR REPLACE INTO steps (run, job, idx, name, status, exit_code, duration_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![s.run, s.job, s.index, s.name, s.status, s.exit_code, s.duration_ms],
            )
            .ctx("write step")?;
        Ok(())
    }

    fn steps(&mut self, run: i64, job: i64) -> Result<Vec<StepRecord>> {
        let mut st = self
            .conn
            .prepare("SELECT run, job, idx, name, status, exit_code, duration_ms FROM steps WHERE run = ?1 AND job = ?2 ORDER BY idx")
            .ctx("list steps")?;
        st.query_map([run, job], |r| {
            Ok(StepRecord {
                run: r.get(0)?,
                job: r.get(1)?,
                index: r.get(2)?,
                name: r.get(3)?,
                status: r.get(4)?,
                exit_code: r.get(5)?,
                duration_ms: r.get(6)?,
            })
        })
        .ctx("list steps")?
        .collect::<rusqlite::Result<_>>()
        .ctx("read steps")
    }

    fn put_log(&mut self, l: &LogRecord) -> Result<()> {
        self.conn
            .execute("INSERT OR IGNORE INTO logs (run, job, path) VALUES (?1, ?2, ?3)", params![l.run, l.job, l.path])
            .ctx("write log reference")?;
        Ok(())
    }

    fn logs(&mut self, run: i64) -> Result<Vec<LogRecord>> {
        let mut st =
            self.conn.prepare("SELECT run, job, path FROM logs WHERE run = ?1 ORDER BY job").ctx("list logs")?;
        st.query_map([run], log_row).ctx("list logs")?.collect::<rusqlite::Result<_>>().ctx("read logs")
    }

    fn old_logs(&mut self, before_ms: i64) -> Result<Vec<LogRecord>> {
        let mut st = self
            .conn
            .prepare(
                "SELECT l.run, l.job, l.path FROM logs l JOIN runs r ON r.id = l.run
                 WHERE r.status != 'running' AND COALESCE(r.ended_ms, r.started_ms) < ?1
                 ORDER BY l.run, l.job",
            )
            .ctx("find old logs")?;
        st.query_map([before_ms], log_row).ctx("find old logs")?.collect::<rusqlite::Result<_>>().ctx("read logs")
    }

    fn delete_log(&mut self, l: &LogRecord) -> Result<()> {
        self.conn
            .execute("DELETE FROM logs WHERE run = ?1 AND job = ?2 AND path = ?3", params![l.run, l.job, l.path])
            .ctx("delete log reference")?;
        Ok(())
    }

    fn add_artifact(&mut self, a: &ArtifactRecord) -> Result<i64> {
        self.conn
            .execute(
                "INSERT INTO artifacts (run, job, name, path, files, bytes, digest, created_ms, expire_ms, deleted)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                params![
                    a.run,
                    a.job,
                    a.name,
                    a.path,
                    a.files,
                    a.bytes,
                    a.digest,
                    a.created_ms,
                    a.expire_ms,
                    a.deleted as i64
                ],
            )
            .ctx("write artifact")?;
        Ok(self.conn.last_insert_rowid())
    }

    fn artifacts(&mut self, run: i64) -> Result<Vec<ArtifactRecord>> {
        let mut st = self
            .conn
            .prepare(&format!("SELECT {ART_COLS} FROM artifacts WHERE run = ?1 ORDER BY job, id"))
            .ctx("list artifacts")?;
        st.query_map([run], artifact_row).ctx("list artifacts")?.collect::<rusqlite::Result<_>>().ctx("read artifacts")
    }

    fn expired_artifacts(&mut self, now_ms: i64) -> Result<Vec<ArtifactRecord>> {
        let mut st = self
            .conn
            .prepare(&format!(
                "SELECT {ART_COLS} FROM artifacts WHERE deleted = 0 AND expire_ms IS NOT NULL AND expire_ms <= ?1 ORDER BY id"
            ))
            .ctx("find expired artifacts")?;
        st.query_map([now_ms], artifact_row)
            .ctx("find expired artifacts")?
            .collect::<rusqlite::Result<_>>()
            .ctx("read artifacts")
    }

    fn mark_artifact_deleted(&mut self, id: i64) -> Result<()> {
        self.conn.execute("UPDATE artifacts SET deleted = 1 WHERE id = ?1", [id]).ctx("mark artifact deleted")?;
        Ok(())
    }

    fn find_key(&mut self, key: &str) -> Result<Option<KeyHit>> {
        // Newest first; a hit whose artifacts were deleted (expired, gc) or
        // whose log is gone cannot be replayed, so the next one is tried.
        let candidates: Vec<JobRecord> = {
            let mut st = self
                .conn
                .prepare(&format!(
                    "SELECT {JOB_COLS} FROM jobs WHERE job_key = ?1 AND status = 'success' AND cached = 0
                     ORDER BY run DESC LIMIT 5"
                ))
                .ctx("find key")?;
            st.query_map([key], job_row).ctx("find key")?.collect::<rusqlite::Result<_>>().ctx("read jobs")?
        };
        for job in candidates {
            let artifacts: Vec<ArtifactRecord> = {
                let mut st = self
                    .conn
                    .prepare(&format!("SELECT {ART_COLS} FROM artifacts WHERE run = ?1 AND job = ?2 ORDER BY id"))
                    .ctx("artifacts of a hit")?;
                st.query_map([job.run, job.index], artifact_row)
                    .ctx("artifacts of a hit")?
                    .collect::<rusqlite::Result<_>>()
                    .ctx("read artifacts")?
            };
            if artifacts.iter().any(|a| a.deleted) {
                continue;
            }
            let log: Option<String> = self
                .conn
                .query_row("SELECT path FROM logs WHERE run = ?1 AND job = ?2 LIMIT 1", [job.run, job.index], |r| {
                    r.get(0)
                })
                .optional()
                .ctx("log of a hit")?;
            return Ok(Some(KeyHit { job, log, artifacts }));
        }
        Ok(None)
    }

    fn put_cache_entry(&mut self, e: &CacheEntryRecord) -> Result<()> {
        self.conn
            .execute(
                "INSERT OR REPLACE INTO cache_entries (key, kind, bytes, files, created_ms, last_used_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![e.key, e.kind, e.bytes, e.files, e.created_ms, e.last_used_ms],
            )
            .ctx("write cache entry")?;
        Ok(())
    }

    fn touch_cache_entry(&mut self, key: &str, used_ms: i64) -> Result<()> {
        self.conn
            .execute(
                "UPDATE cache_entries SET last_used_ms = MAX(last_used_ms, ?2) WHERE key = ?1",
                params![key, used_ms],
            )
            .ctx("touch cache entry")?;
        Ok(())
    }

    fn cache_entries(&mut self) -> Result<Vec<CacheEntryRecord>> {
        let mut st = self
            .conn
            .prepare("SELECT key, kind, bytes, files, created_ms, last_used_ms FROM cache_entries ORDER BY last_used_ms, key")
            .ctx("list cache entries")?;
        st.query_map([], |r| {
            Ok(CacheEntryRecord {
                key: r.get(0)?,
                kind: r.get(1)?,
                bytes: r.get(2)?,
                files: r.get(3)?,
                created_ms: r.get(4)?,
                last_used_ms: r.get(5)?,
            })
        })
        .ctx("list cache entries")?
        .collect::<rusqlite::Result<_>>()
        .ctx("read cache entries")
    }

    fn delete_cache_entry(&mut self, key: &str) -> Result<()> {
        self.conn.execute("DELETE FROM cache_entries WHERE key = ?1", [key]).ctx("delete cache entry")?;
        Ok(())
    }

    fn add_bench_result(&mut self, r: &BenchRecord) -> Result<i64> {
        let samples = if r.samples.is_empty() {
            None
        } else {
            Some(r.samples.iter().map(|v| format!("{v:?}")).collect::<Vec<_>>().join(","))
        };
        self.conn
            .execute(
                "INSERT INTO bench_results (repo, branch, commit_sha, bench, measure, value, unit, lower_is_better,
                 source, samples, histogram, env, created_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
                params![
                    r.repo,
                    r.branch,
                    r.commit,
                    r.bench,
                    r.measure,
                    r.value,
                    r.unit,
                    r.lower_is_better,
                    r.source,
                    samples,
                    r.histogram,
                    r.env,
                    r.created_ms
                ],
            )
            .ctx("store a benchmark result")?;
        Ok(self.conn.last_insert_rowid())
    }

    fn bench_results(&mut self, q: &BenchQuery) -> Result<Vec<BenchRecord>> {
        // Newest first with the limit, then back into time order.
        let mut st = self
            .conn
            .prepare(
                "SELECT id, repo, branch, commit_sha, bench, measure, value, unit, lower_is_better, source, samples,
                        histogram, env, created_ms
                 FROM bench_results
                 WHERE repo = ?1 AND bench = ?2 AND (?3 IS NULL OR measure = ?3) AND (?4 IS NULL OR branch = ?4)
                 ORDER BY created_ms DESC, id DESC LIMIT ?5",
            )
            .ctx("read benchmark results")?;
        let limit = q.last.map_or(-1, |n| n as i64);
        let mut out: Vec<BenchRecord> = st
            .query_map(params![q.repo, q.bench, q.measure, q.branch, limit], |r| {
                let samples: Option<String> = r.get(10)?;
                Ok(BenchRecord {
                    id: r.get(0)?,
                    repo: r.get(1)?,
                    branch: r.get(2)?,
                    commit: r.get(3)?,
                    bench: r.get(4)?,
                    measure: r.get(5)?,
                    value: r.get(6)?,
                    unit: r.get(7)?,
                    lower_is_better: r.get(8)?,
                    source: r.get(9)?,
                    samples: samples
                        .map(|s| s.split(',').filter_map(|v| v.parse::<f64>().ok()).collect())
                        .unwrap_or_default(),
                    histogram: r.get(11)?,
                    env: r.get(12)?,
                    created_ms: r.get(13)?,
                })
            })
            .ctx("read benchmark results")?
            .collect::<rusqlite::Result<_>>()
            .ctx("read benchmark results")?;
        out.reverse();
        Ok(out)
    }

    fn bench_names(&mut self, repo: &str) -> Result<Vec<String>> {
        let mut st = self
            .conn
            .prepare("SELECT DISTINCT bench FROM bench_results WHERE repo = ?1 ORDER BY bench")
            .ctx("list benchmarks")?;
        st.query_map([repo], |r| r.get(0))
            .ctx("list benchmarks")?
            .collect::<rusqlite::Result<_>>()
            .ctx("list benchmarks")
    }
}
