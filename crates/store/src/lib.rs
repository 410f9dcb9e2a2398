//! `store` keeps everything a run did: runs, jobs (with their content keys
//! and whether they were cached), steps, log file references, artifacts and
//! cache entries. It is the only crate that speaks SQL.
//!
//! Callers see the [`Store`] trait and plain record structs, never a
//! connection or a SQL string, so a PostgreSQL backend can sit behind the
//! same trait. The embedded backend is SQLite in WAL mode
//! ([`SqliteStore`]). It knows nothing about pipelines, processes or files
//! other than its database.

mod migrate;
mod sqlite;

pub use sqlite::SqliteStore;

use std::path::Path;

/// Statuses a run can have in the store.
pub mod run_status {
    pub const RUNNING: &str = "running";
    pub const SUCCESS: &str = "success";
    pub const FAILED: &str = "failed";
    pub const CANCELED: &str = "canceled";
    /// The process that ran it died (crash, kill -9, power loss) before it
    /// finished; set at the next start.
    pub const INTERRUPTED: &str = "interrupted";
}

/// A store failure, with what was being done.
#[derive(Debug, thiserror::Error)]
#[error("store: {context}: {kind}")]
#[non_exhaustive]
pub struct Error {
    pub context: String,
    pub kind: ErrorKind,
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ErrorKind {
    #[error("{0}")]
    Sql(#[from] rusqlite::Error),
    #[error("the database has schema version {found}, newer than this shipway knows ({known}); upgrade shipway")]
    TooNew { found: i64, known: i64 },
    #[error("unsupported: {0}")]
    Unsupported(String),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

pub type Result<T> = std::result::Result<T, Error>;

pub(crate) trait Context<T> {
    fn ctx(self, what: &str) -> Result<T>;
}

impl<T, E: Into<ErrorKind>> Context<T> for std::result::Result<T, E> {
    fn ctx(self, what: &str) -> Result<T> {
        self.map_err(|e| Error { context: what.to_string(), kind: e.into() })
    }
}

/// A run as it starts.
#[derive(Clone, Debug, Default)]
pub struct NewRun {
    /// The pipeline file, relative to the project root.
    pub pipeline: String,
    pub commit: String,
    pub git_ref: String,
    /// `push`, `pull_request`, `tag`, ...
    pub event: String,
    /// Who or what started it (`cli`, later `webhook`, `schedule`).
    pub trigger: String,
    pub started_ms: i64,
    /// The run id must be at least this (ids already used by run
    /// directories on disk are never reused, even if the database was lost).
    pub min_id: i64,
}

#[derive(Clone, Debug, PartialEq)]
pub struct RunRecord {
    pub id: i64,
    pub pipeline: String,
    pub commit: String,
    pub git_ref: String,
    pub event: String,
    pub trigger: String,
    pub started_ms: i64,
    pub ended_ms: Option<i64>,
    pub status: String,
    /// Jobs in the run, and how many of them were cached.
    pub jobs: i64,
    pub cached: i64,
}

/// A job of a run: written when the job is planned, updated when it starts
/// and when it ends.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct JobRecord {
    pub run: i64,
    /// The job's index in the pipeline.
    pub index: i64,
    pub name: String,
    pub stage: String,
    /// The matrix instance (JSON object) for matrix jobs.
    pub matrix: Option<String>,
    /// `pending`, `running`, then the final status word.
    pub status: String,
    pub exit_code: Option<i64>,
    pub signal: Option<i64>,
    pub started_ms: Option<i64>,
    pub duration_ms: Option<i64>,
    /// The job's content key (hex), when it had one.
    pub key: Option<String>,
    /// The result was taken from an earlier run with the same key.
    pub cached: bool,
    /// That earlier run.
    pub cached_from: Option<i64>,
    pub attempts: i64,
    /// What dependents receive besides artifacts (dotenv variables, job
    /// outputs), as JSON; never holds a secret value.
    pub outputs: Option<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct StepRecord {
    pub run: i64,
    pub job: i64,
    pub index: i64,
    pub name: String,
    pub status: String,
    pub exit_code: Option<i64>,
    pub duration_ms: i64,
}

/// A log file of a job (the path is relative to the project's state dir).
#[derive(Clone, Debug, PartialEq)]
pub struct LogRecord {
    pub run: i64,
    pub job: i64,
    pub path: String,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ArtifactRecord {
    pub id: i64,
    pub run: i64,
    pub job: i64,
    pub name: String,
    /// The artifact's directory, relative to the project's state dir.
    pub path: String,
    pub files: i64,
    pub bytes: i64,
    /// Digest of the artifact's content (paths and bytes).
    pub digest: String,
    pub created_ms: i64,
    /// From `expire_in` / `retention-days`; `None`: kept until `gc` by age.
    pub expire_ms: Option<i64>,
    pub deleted: bool,
}

#[derive(Clone, Debug, PartialEq)]
pub struct CacheEntryRecord {
    pub key: String,
    /// `gitlab`, `actions-cache`, `rust-cache`.
    pub kind: String,
    pub bytes: i64,
    pub files: i64,
    pub created_ms: i64,
    pub last_used_ms: i64,
}

/// A finished job whose key matches, with what it left behind.
#[derive(Clone, Debug, PartialEq)]
pub struct KeyHit {
    pub job: JobRecord,
    pub log: Option<String>,
    pub artifacts: Vec<ArtifactRecord>,
}

/// What `recover` found.
/// One stored benchmark figure: a measure (`p99_ms`, `requests_per_second`,
/// `mean_ns`, ...) of a benchmark at a commit, with its raw samples (trial
/// values, criterion iteration times) and, for HTTP loads, the latency
/// histogram (HdrHistogram V2, deflate-compressed).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct BenchRecord {
    pub id: i64,
    pub repo: String,
    pub branch: String,
    pub commit: String,
    pub bench: String,
    pub measure: String,
    pub value: f64,
    pub unit: String,
    pub lower_is_better: bool,
    /// `http`, `ab`, `criterion`, `cargo-bench`.
    pub source: String,
    pub samples: Vec<f64>,
    pub histogram: Option<Vec<u8>>,
    /// Free-form description of the machine and settings (JSON).
    pub env: Option<String>,
    pub created_ms: i64,
}

/// Which stored benchmark figures to read.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct BenchQuery {
    pub repo: String,
    pub bench: String,
    /// All measures when `None`.
    pub measure: Option<String>,
    /// All branches when `None`.
    pub branch: Option<String>,
    /// The newest this many (in time order); all when `None`.
    pub last: Option<usize>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Recovered {
    pub runs: Vec<i64>,
}

/// The store interface. Every method is one transaction: a crash between
/// two calls leaves what the first wrote.
pub trait Store: Send {
    /// Record a new run in state `running`; returns its id.
    fn begin_run(&mut self, run: &NewRun) -> Result<i64>;
    /// Set a run's final status and end time.
    fn finish_run(&mut self, run: i64, status: &str, ended_ms: i64) -> Result<()>;
    /// Mark every `running` run whose owner is gone (`alive` says no) as
    /// `interrupted`, with its unfinished jobs. Its end time is the latest
    /// of what the store knows (job starts and ends) and `last_seen(run)`,
    /// the caller's evidence of later activity (say, when a log was last
    /// written).
    fn recover(
        &mut self,
        alive: &mut dyn FnMut(i64) -> bool,
        last_seen: &mut dyn FnMut(i64) -> Option<i64>,
    ) -> Result<Recovered>;
    fn runs(&mut self, limit: usize) -> Result<Vec<RunRecord>>;
    fn run(&mut self, id: i64) -> Result<Option<RunRecord>>;
    fn last_run(&mut self) -> Result<Option<i64>>;

    /// Insert or replace a job row (the whole record).
    fn put_job(&mut self, job: &JobRecord) -> Result<()>;
    fn jobs(&mut self, run: i64) -> Result<Vec<JobRecord>>;
    fn put_step(&mut self, step: &StepRecord) -> Result<()>;
    fn steps(&mut self, run: i64, job: i64) -> Result<Vec<StepRecord>>;
    fn put_log(&mut self, log: &LogRecord) -> Result<()>;
    fn logs(&mut self, run: i64) -> Result<Vec<LogRecord>>;
    /// Logs of runs that ended before `before_ms` (a cached job's log is its
    /// own hard link, so deleting an old run's log never breaks a replay).
    fn old_logs(&mut self, before_ms: i64) -> Result<Vec<LogRecord>>;
    fn delete_log(&mut self, log: &LogRecord) -> Result<()>;

    fn add_artifact(&mut self, a: &ArtifactRecord) -> Result<i64>;
    fn artifacts(&mut self, run: i64) -> Result<Vec<ArtifactRecord>>;
    /// Artifacts not deleted whose expiry is before `now_ms`.
    fn expired_artifacts(&mut self, now_ms: i64) -> Result<Vec<ArtifactRecord>>;
    fn mark_artifact_deleted(&mut self, id: i64) -> Result<()>;

    /// The newest successful, not-cached-away job with this key whose
    /// artifacts are all still there.
    fn find_key(&mut self, key: &str) -> Result<Option<KeyHit>>;

    fn put_cache_entry(&mut self, e: &CacheEntryRecord) -> Result<()>;
    fn touch_cache_entry(&mut self, key: &str, used_ms: i64) -> Result<()>;
    fn cache_entries(&mut self) -> Result<Vec<CacheEntryRecord>>;
    fn delete_cache_entry(&mut self, key: &str) -> Result<()>;

    /// Store a benchmark figure; returns its id.
    fn add_bench_result(&mut self, r: &BenchRecord) -> Result<i64>;
    /// Stored figures, oldest first.
    fn bench_results(&mut self, q: &BenchQuery) -> Result<Vec<BenchRecord>>;
    /// The benchmark names of a repository, sorted.
    fn bench_names(&mut self, repo: &str) -> Result<Vec<String>>;
}

/// Open the store named by `url`: a path (SQLite) or `sqlite://PATH`.
/// `postgres://` is recognised and refused until that backend lands.
pub fn open(url: &str) -> Result<Box<dyn Store>> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return Err(Error {
            context: "open".into(),
            kind: ErrorKind::Unsupported("the PostgreSQL backend is not built yet; use a SQLite path".into()),
        });
    }
    let path = url.strip_prefix("sqlite://").unwrap_or(url);
    Ok(Box::new(SqliteStore::open(Path::new(path))?))
}
