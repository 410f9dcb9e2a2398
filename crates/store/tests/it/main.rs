//! The store through its public interface, on real SQLite files.

use store::{
    ArtifactRecord, BenchQuery, BenchRecord, CacheEntryRecord, JobRecord, LogRecord, NewRun, SqliteStore, StepRecord,
    Store, run_status,
};

fn new_run(min_id: i64) -> NewRun {
    NewRun {
        pipeline: ".gitlab-ci.yml".into(),
        commit: "abc".into(),
        git_ref: "main".into(),
        event: "push".into(),
        trigger: "cli".into(),
        started_ms: 1_000,
        min_id,
    }
}

fn job(run: i64, index: i64, status: &str, key: &str) -> JobRecord {
    JobRecord {
        run,
        index,
        name: format!("job{index}"),
        stage: "test".into(),
        status: status.into(),
        key: Some(key.into()),
        started_ms: Some(1_000),
        duration_ms: Some(250),
        attempts: 1,
        ..Default::default()
    }
}

#[test]
fn migrations_are_recorded_once_and_reopening_keeps_data() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("s").join("shipway.db");
    let id = {
        let mut s = SqliteStore::open(&db).unwrap();
        assert_eq!(s.schema_version().unwrap(), 2);
        s.begin_run(&new_run(0)).unwrap()
    };
    let mut s = SqliteStore::open(&db).unwrap();
    assert_eq!(s.schema_version().unwrap(), 2);
    assert_eq!(s.run(id).unwrap().unwrap().status, run_status::RUNNING);
    let mode: String = rusqlite_free_journal_mode(&db);
    assert_eq!(mode, "wal");
}

/// WAL mode leaves a `-wal` file beside the database while a connection is open.
fn rusqlite_free_journal_mode(db: &std::path::Path) -> String {
    let _s = SqliteStore::open(db).unwrap();
    let wal = db.with_file_name("shipway.db-wal");
    if wal.exists() { "wal".into() } else { "not wal".into() }
}

#[test]
fn a_newer_schema_is_refused_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("shipway.db");
    drop(SqliteStore::open(&db).unwrap());
    let c = std::process::Command::new("sqlite3")
        .arg(&db)
        .arg("INSERT INTO schema_migrations VALUES (99, 'future', 0);")
        .status();
    if !matches!(c, Ok(s) if s.success()) {
        eprintln!("SKIP: the sqlite3 command is not available to forge a future schema");
        return;
    }
    let err = SqliteStore::open(&db).err().expect("refused").to_string();
    assert!(err.contains("schema version 99"), "{err}");
}

#[test]
fn run_ids_never_reuse_ids_taken_on_disk() {
    let mut s = SqliteStore::in_memory().unwrap();
    assert_eq!(s.begin_run(&new_run(0)).unwrap(), 1);
    assert_eq!(s.begin_run(&new_run(7)).unwrap(), 7);
    assert_eq!(s.begin_run(&new_run(0)).unwrap(), 8);
    assert_eq!(s.last_run().unwrap(), Some(8));
}

#[test]
fn jobs_steps_logs_and_run_counts_round_trip() {
    let mut s = SqliteStore::in_memory().unwrap();
    let r = s.begin_run(&new_run(0)).unwrap();
    let mut j = job(r, 0, "success", "k0");
    j.matrix = Some(r#"{"os":"linux"}"#.into());
    s.put_job(&j).unwrap();
    let mut c = job(r, 1, "cached", "k1");
    c.cached = true;
    c.cached_from = Some(41);
    s.put_job(&c).unwrap();
    s.put_step(&StepRecord {
        run: r,
        job: 0,
        index: 0,
        name: "Run x".into(),
        status: "success".into(),
        exit_code: Some(0),
        duration_ms: 5,
    })
    .unwrap();
    s.put_log(&LogRecord { run: r, job: 0, path: "runs/1/logs/000-a.log".into() }).unwrap();
    s.finish_run(r, run_status::SUCCESS, 2_000).unwrap();
    assert_eq!(s.jobs(r).unwrap(), vec![j, c]);
    assert_eq!(s.steps(r, 0).unwrap().len(), 1);
    assert_eq!(s.logs(r).unwrap().len(), 1);
    let run = s.run(r).unwrap().unwrap();
    assert_eq!((run.status.as_str(), run.ended_ms, run.jobs, run.cached), ("success", Some(2_000), 2, 1));
}

#[test]
fn recover_marks_only_dead_running_runs_and_their_unfinished_jobs() {
    let mut s = SqliteStore::in_memory().unwrap();
    let dead = s.begin_run(&new_run(0)).unwrap();
    let live = s.begin_run(&new_run(0)).unwrap();
    let done = s.begin_run(&new_run(0)).unwrap();
    s.finish_run(done, run_status::FAILED, 5).unwrap();
    s.put_job(&job(dead, 0, "success", "a")).unwrap();
    s.put_job(&job(dead, 1, "running", "b")).unwrap();
    s.put_job(&job(dead, 2, "pending", "c")).unwrap();
    let got = s.recover(&mut |id| id == live, &mut |_| None).unwrap();
    assert_eq!(got.runs, vec![dead]);
    let run = s.run(dead).unwrap().unwrap();
    assert_eq!(run.status, run_status::INTERRUPTED);
    assert_eq!(run.ended_ms, Some(1_250), "the end is the last job end known");
    // Later evidence from the caller (a log written after that) wins.
    let other = s.begin_run(&new_run(0)).unwrap();
    s.put_job(&job(other, 0, "success", "a")).unwrap();
    s.recover(&mut |id| id == live, &mut |id| (id == other).then_some(9_000)).unwrap();
    assert_eq!(s.run(other).unwrap().unwrap().ended_ms, Some(9_000));
    let statuses: Vec<String> = s.jobs(dead).unwrap().into_iter().map(|j| j.status).collect();
    assert_eq!(statuses, ["success", "interrupted", "interrupted"]);
    assert_eq!(s.run(live).unwrap().unwrap().status, run_status::RUNNING);
    assert_eq!(s.run(done).unwrap().unwrap().status, run_status::FAILED);
}

fn artifact(run: i64, job: i64, expire_ms: Option<i64>) -> ArtifactRecord {
    ArtifactRecord {
        id: 0,
        run,
        job,
        name: "a".into(),
        path: format!("runs/{run}/artifacts/{job:03}"),
        files: 1,
        bytes: 10,
        digest: "d".into(),
        created_ms: 1,
        expire_ms,
        deleted: false,
    }
}

#[test]
fn find_key_takes_the_newest_success_with_its_artifacts_present() {
    let mut s = SqliteStore::in_memory().unwrap();
    let r1 = s.begin_run(&new_run(0)).unwrap();
    s.put_job(&job(r1, 0, "success", "K")).unwrap();
    s.add_artifact(&artifact(r1, 0, None)).unwrap();
    s.put_log(&LogRecord { run: r1, job: 0, path: "runs/1/logs/000.log".into() }).unwrap();
    let r2 = s.begin_run(&new_run(0)).unwrap();
    s.put_job(&job(r2, 0, "failed", "K")).unwrap();
    let r3 = s.begin_run(&new_run(0)).unwrap();
    let mut cached = job(r3, 0, "cached", "K");
    cached.cached = true;
    s.put_job(&cached).unwrap();
    let hit = s.find_key("K").unwrap().expect("hit");
    assert_eq!((hit.job.run, hit.artifacts.len(), hit.log.as_deref()), (r1, 1, Some("runs/1/logs/000.log")));
    assert!(s.find_key("other").unwrap().is_none());
    // Once its artifacts are gone, the result cannot be replayed.
    let id = s.artifacts(r1).unwrap()[0].id;
    s.mark_artifact_deleted(id).unwrap();
    assert!(s.find_key("K").unwrap().is_none());
}

#[test]
fn expired_artifacts_and_old_logs() {
    let mut s = SqliteStore::in_memory().unwrap();
    let r = s.begin_run(&new_run(0)).unwrap();
    s.add_artifact(&artifact(r, 0, Some(100))).unwrap();
    s.add_artifact(&artifact(r, 1, Some(10_000))).unwrap();
    s.add_artifact(&artifact(r, 2, None)).unwrap();
    let exp: Vec<i64> = s.expired_artifacts(5_000).unwrap().into_iter().map(|a| a.job).collect();
    assert_eq!(exp, vec![0]);
    s.put_log(&LogRecord { run: r, job: 0, path: "l".into() }).unwrap();
    assert!(s.old_logs(5_000).unwrap().is_empty(), "a running run's logs are never old");
    s.finish_run(r, run_status::SUCCESS, 2_000).unwrap();
    assert_eq!(s.old_logs(5_000).unwrap().len(), 1);
    assert!(s.old_logs(1_000).unwrap().is_empty());
}

#[test]
fn cache_entries_are_listed_least_recently_used_first() {
    let mut s = SqliteStore::in_memory().unwrap();
    for (k, used) in [("a", 30), ("b", 10), ("c", 20)] {
        s.put_cache_entry(&CacheEntryRecord {
            key: k.into(),
            kind: "gitlab".into(),
            bytes: 5,
            files: 1,
            created_ms: 1,
            last_used_ms: used,
        })
        .unwrap();
    }
    s.touch_cache_entry("b", 40).unwrap();
    let keys: Vec<String> = s.cache_entries().unwrap().into_iter().map(|e| e.key).collect();
    assert_eq!(keys, ["c", "a", "b"]);
    s.delete_cache_entry("a").unwrap();
    assert_eq!(s.cache_entries().unwrap().len(), 2);
}

#[test]
fn two_connections_write_concurrently_without_losing_rows() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("shipway.db");
    drop(SqliteStore::open(&db).unwrap());
    let handles: Vec<_> = (0..4)
        .map(|t| {
            let db = db.clone();
            std::thread::spawn(move || {
                let mut s = SqliteStore::open(&db).unwrap();
                for i in 0..25 {
                    let r = s.begin_run(&new_run(0)).unwrap();
                    s.put_job(&job(r, 0, "success", &format!("{t}-{i}"))).unwrap();
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let mut s = SqliteStore::open(&db).unwrap();
    assert_eq!(s.runs(1000).unwrap().len(), 100);
}

#[test]
fn postgres_urls_are_refused_honestly() {
    let err = store::open("postgres://localhost/x").err().expect("refused").to_string();
    assert!(err.contains("unsupported"), "{err}");
}

fn bench(branch: &str, value: f64, at: i64) -> BenchRecord {
    BenchRecord {
        repo: "r".into(),
        branch: branch.into(),
        commit: format!("c{at}"),
        bench: "api".into(),
        measure: "p99_ms".into(),
        value,
        unit: "ms".into(),
        lower_is_better: true,
        source: "http".into(),
        samples: vec![value, value * 1.5, 1e-9],
        histogram: Some(vec![1, 2, 3]),
        env: None,
        created_ms: at,
        ..Default::default()
    }
}

#[test]
fn bench_results_are_kept_per_series_and_read_back_oldest_first() {
    let mut s = SqliteStore::in_memory().unwrap();
    for (i, b) in ["main", "main", "feature", "main"].iter().enumerate() {
        s.add_bench_result(&bench(b, 10.0 + i as f64, i as i64)).unwrap();
    }
    let mut other = bench("main", 1.0, 9);
    other.measure = "requests_per_second".into();
    s.add_bench_result(&other).unwrap();
    let q = |branch: Option<&str>, last| BenchQuery {
        repo: "r".into(),
        bench: "api".into(),
        measure: Some("p99_ms".into()),
        branch: branch.map(String::from),
        last,
    };
    let main: Vec<f64> = s.bench_results(&q(Some("main"), None)).unwrap().iter().map(|r| r.value).collect();
    assert_eq!(main, [10.0, 11.0, 13.0]);
    let last2: Vec<f64> = s.bench_results(&q(Some("main"), Some(2))).unwrap().iter().map(|r| r.value).collect();
    assert_eq!(last2, [11.0, 13.0], "the newest two, in time order");
    let all = s.bench_results(&q(None, None)).unwrap();
    assert_eq!(all.len(), 4);
    assert_eq!(all[2].samples, vec![12.0, 18.0, 1e-9], "samples round-trip exactly");
    assert_eq!(all[2].histogram.as_deref(), Some(&[1u8, 2, 3][..]));
    assert_eq!(s.bench_names("r").unwrap(), ["api"]);
    assert!(s.bench_names("other").unwrap().is_empty());
}
