//! Versioned schema migrations. Each migration runs once, in its own
//! transaction, and is recorded in `schema_migrations`; the same table and
//! loop work for any SQL backend (a user_version pragma would not).

/// `(version, name, SQL)`, in order. Never edit a released migration: add a
/// new one.
pub(crate) const MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "runs, jobs, steps, logs, artifacts, cache entries",
        "
CREATE TABLE runs (
    id          INTEGER PRIMARY KEY,
    pipeline    TEXT NOT NULL,
    commit_sha  TEXT NOT NULL,
    git_ref     TEXT NOT NULL,
    event       TEXT NOT NULL,
    trigger     TEXT NOT NULL,
    started_ms  INTEGER NOT NULL,
    ended_ms    INTEGER,
    status      TEXT NOT NULL
);
CREATE INDEX runs_status ON runs(status);

CREATE TABLE jobs (
    run         INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    idx         INTEGER NOT NULL,
    name        TEXT NOT NULL,
    stage       TEXT NOT NULL,
    matrix      TEXT,
    status      TEXT NOT NULL,
    exit_code   INTEGER,
    signal      INTEGER,
    started_ms  INTEGER,
    duration_ms INTEGER,
    job_key     TEXT,
    cached      INTEGER NOT NULL DEFAULT 0,
    cached_from INTEGER,
    attempts    INTEGER NOT NULL DEFAULT 0,
    outputs     TEXT,
    PRIMARY KEY (run, idx)
);
CREATE INDEX jobs_key ON jobs(job_key, status);

CREATE TABLE steps (
    run         INTEGER NOT NULL,
    job         INTEGER NOT NULL,
    idx         INTEGER NOT NULL,
    name        TEXT NOT NULL,
    status      TEXT NOT NULL,
    exit_code   INTEGER,
    duration_ms INTEGER NOT NULL,
    PRIMARY KEY (run, job, idx),
    FOREIGN KEY (run, job) REFERENCES jobs(run, idx) ON DELETE CASCADE
);

CREATE TABLE logs (
    run   INTEGER NOT NULL,
    job   INTEGER NOT NULL,
    path  TEXT NOT NULL,
    PRIMARY KEY (run, job, path)
);

CREATE TABLE artifacts (
    id          INTEGER PRIMARY KEY,
    run         INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    job         INTEGER NOT NULL,
    name        TEXT NOT NULL,
    path        TEXT NOT NULL,
    files       INTEGER NOT NULL,
    bytes       INTEGER NOT NULL,
    digest      TEXT NOT NULL,
    created_ms  INTEGER NOT NULL,
    expire_ms   INTEGER,
    deleted     INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX artifacts_run ON artifacts(run, job);
CREATE INDEX artifacts_expiry ON artifacts(deleted, expire_ms);

CREATE TABLE cache_entries (
    key          TEXT PRIMARY KEY,
    kind         TEXT NOT NULL,
    bytes        INTEGER NOT NULL,
    files        INTEGER NOT NULL,
    created_ms   INTEGER NOT NULL,
    last_used_ms INTEGER NOT NULL
);
",
    ),
    (
        2,
        "benchmark results",
        "
CREATE TABLE bench_results (
    id          INTEGER PRIMARY KEY,
    repo        TEXT NOT NULL,
    branch      TEXT NOT NULL,
    commit_sha  TEXT NOT NULL,
    bench       TEXT NOT NULL,
    measure     TEXT NOT NULL,
    value       REAL NOT NULL,
    unit        TEXT NOT NULL,
    lower_is_better INTEGER NOT NULL,
    source      TEXT NOT NULL,
    samples     TEXT,
    histogram   BLOB,
    env         TEXT,
    created_ms  INTEGER NOT NULL
);
CREATE INDEX bench_results_series ON bench_results(repo, bench, measure, branch, created_ms);
",
    ),
];
