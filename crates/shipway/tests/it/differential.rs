//! Differential test: every case under `tests/differential/cases/` runs
//! through gitlab-ci-local (via `gcl_outcomes.py`) and through shipway, and
//! the per-job outcomes must agree. Where a case has `gitlab-expected.json`
//! (gitlab-ci-local deviates from GitLab there, see the case's NOTES.md),
//! shipway is compared against that file instead; gitlab-ci-local still
//! runs, and must still produce its recorded `gcl-observed.json`.
//!
//! Slow (about 4 s per case for gitlab-ci-local): only runs with
//! `SHIPWAY_SLOW_TESTS=1`, which `.ci/run` sets.

use crate::harness::{Test, visible};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

/// Case files that are not part of the pipeline's repository (the same
/// list as in `gcl_outcomes.py`, plus anything starting with `shipway-`).
const METADATA: &[&str] = &["gcl-observed.json", "gitlab-expected.json", "NOTES.md"];

/// gitlab-ci-local takes seconds per case; two at a time keeps the wall
/// time reasonable without starving the machine.
const THREADS: usize = 2;

type Outcomes = BTreeMap<String, String>;

fn differential_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests").join("differential")
}

/// GitLab's job name for a name as gitlab-ci-local prints it:
/// `shard: [1/3]` -> `shard 1/3`, `build: [linux,amd64]` ->
/// `build: [linux, amd64]`. Names already in GitLab form are unchanged.
fn gitlab_name(name: &str) -> String {
    let Some((base, inner)) = name.strip_suffix(']').and_then(|n| n.split_once(": [")) else {
        return name.to_string();
    };
    let is_index = inner.split_once('/').is_some_and(|(i, n)| {
        !i.is_empty() && !n.is_empty() && i.bytes().all(|b| b.is_ascii_digit()) && n.bytes().all(|b| b.is_ascii_digit())
    });
    if is_index {
        format!("{base} {inner}")
    } else {
        format!("{base}: [{}]", inner.split(',').map(str::trim).collect::<Vec<_>>().join(", "))
    }
}

/// One oracle result: outcomes keyed by GitLab job names, and the exit code.
#[derive(Debug, PartialEq)]
struct Expected {
    jobs: Outcomes,
    exit_code: i64,
    error: Option<String>,
}

fn parse_expected(v: &Value) -> Result<Expected, String> {
    let jobs = v["jobs"].as_object().ok_or_else(|| format!("no `jobs` object in {v}"))?;
    Ok(Expected {
        jobs: jobs.iter().map(|(k, s)| (gitlab_name(k), s.as_str().unwrap_or("?").to_string())).collect(),
        exit_code: v["gcl_exit_code"].as_i64().ok_or_else(|| format!("no `gcl_exit_code` in {v}"))?,
        error: v["gcl_error"].as_str().map(str::to_string),
    })
}

fn read_expected(path: &Path) -> Result<Expected, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let v: Value = serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    parse_expected(&v).map_err(|e| format!("{}: {e}", path.display()))
}

enum Gcl {
    Ran(Expected),
    /// gitlab-ci-local (or python3, git, rsync) is not installed.
    Missing(String),
}

fn run_gcl(case: &Path) -> Result<Gcl, String> {
    let script = differential_dir().join("gcl_outcomes.py");
    let out = match Command::new("python3").arg(&script).arg(case).output() {
        Ok(o) => o,
        Err(e) => return Ok(Gcl::Missing(format!("cannot run python3: {e}"))),
    };
    let stderr = String::from_utf8_lossy(&out.stderr);
    match out.status.code() {
        Some(0) => {
            let v: Value = serde_json::from_slice(&out.stdout).map_err(|e| {
                format!("gcl_outcomes.py printed no JSON ({e}): {}", String::from_utf8_lossy(&out.stdout))
            })?;
            parse_expected(&v).map(Gcl::Ran)
        }
        Some(3) => Ok(Gcl::Missing(stderr.trim().to_string())),
        other => Err(format!("gcl_outcomes.py exited with {other:?}: {}", stderr.trim())),
    }
}

/// What shipway did with a case.
struct Actual {
    jobs: Outcomes,
    exit_code: i32,
    /// Logs of the jobs, for the report.
    logs: BTreeMap<String, String>,
    stderr: String,
}

fn run_shipway(case: &Path) -> Actual {
    let out = Test::new()
        .dir_contents(case, |name| METADATA.contains(&name) || name.starts_with("shipway-"))
        .origin()
        .args(["run", "--json"])
        .run();
    let jobs = if out.json.is_some() { out.jobs() } else { Outcomes::new() };
    let logs = jobs.keys().filter_map(|name| out.log_path(name).map(|_| (name.clone(), out.log(name)))).collect();
    Actual { jobs, exit_code: out.code, logs, stderr: out.stderr.clone() }
}

/// Differences between what an oracle expects and what shipway did, one
/// line each; empty if they agree.
fn compare(expected: &Expected, actual: &Actual) -> Vec<String> {
    let mut diffs = Vec::new();
    if let Some(err) = &expected.error {
        diffs.push(format!("the oracle rejected the configuration: {err}"));
    }
    let names: std::collections::BTreeSet<&String> = expected.jobs.keys().chain(actual.jobs.keys()).collect();
    for name in names {
        let e = expected.jobs.get(name).map_or("(absent)", String::as_str);
        let a = actual.jobs.get(name).map_or("(absent)", String::as_str);
        if e != a {
            diffs.push(format!("job `{name}`: expected {e}, shipway {a}"));
        }
    }
    let expected_code = if expected.exit_code == 0 { 0 } else { 1 };
    if actual.exit_code != expected_code {
        diffs.push(format!("exit code: expected {expected_code}, shipway {}", actual.exit_code));
    }
    diffs
}

enum CaseResult {
    Done { case: String, problems: Vec<String> },
    Skip(String),
}

fn run_case(case: &Path) -> CaseResult {
    let name = case.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let mut problems = Vec::new();
    let gcl = match run_gcl(case) {
        Ok(Gcl::Ran(e)) => Some(e),
        Ok(Gcl::Missing(why)) => return CaseResult::Skip(why),
        Err(e) => {
            problems.push(format!("gitlab-ci-local failed: {e}"));
            None
        }
    };
    // The oracle itself must be stable: its live result is the recorded one.
    if let Some(live) = &gcl {
        match read_expected(&case.join("gcl-observed.json")) {
            Ok(recorded) if recorded == *live => {}
            Ok(recorded) => problems.push(format!(
                "gitlab-ci-local's live result differs from gcl-observed.json (oracle drift, not a shipway bug):\n      live:     {live:?}\n      recorded: {recorded:?}"
            )),
            Err(e) => problems.push(e),
        }
    }
    let gitlab_expected = case.join("gitlab-expected.json");
    let (expected, against) = if gitlab_expected.exists() {
        match read_expected(&gitlab_expected) {
            Ok(e) => (Some(e), "gitlab-expected.json"),
            Err(e) => {
                problems.push(e);
                (None, "gitlab-expected.json")
            }
        }
    } else {
        (gcl, "gitlab-ci-local")
    };
    if let Some(expected) = expected {
        let actual = run_shipway(case);
        let diffs = compare(&expected, &actual);
        if !diffs.is_empty() {
            let mut report = format!("shipway disagrees with {against}:");
            for d in &diffs {
                report.push_str(&format!("\n      {d}"));
            }
            for (job, log) in &actual.logs {
                if diffs.iter().any(|d| d.starts_with(&format!("job `{job}`"))) {
                    report.push_str(&format!("\n      --- log of `{job}`:\n{}", indent(log)));
                }
            }
            if actual.jobs.is_empty() {
                report.push_str(&format!("\n      --- shipway stderr:\n{}", indent(&actual.stderr)));
            }
            problems.push(report);
        }
    }
    CaseResult::Done { case: name, problems }
}

fn indent(text: &str) -> String {
    text.lines().take(40).map(|l| format!("        {l}\n")).collect()
}

#[test]
fn differential_cases_agree_with_the_oracle() {
    if std::env::var_os("SHIPWAY_SLOW_TESTS").is_none_or(|v| v != "1") {
        visible("SKIP: differential test against gitlab-ci-local (set SHIPWAY_SLOW_TESTS=1 to run it)");
        return;
    }
    let mut cases: Vec<PathBuf> = std::fs::read_dir(differential_dir().join("cases"))
        .expect("read the differential cases")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.join(".gitlab-ci.yml").is_file())
        .collect();
    cases.sort();
    assert!(!cases.is_empty(), "no differential cases found");
    let total = cases.len();
    let queue = Mutex::new(cases);
    let results = Mutex::new(Vec::new());
    let skip = Mutex::new(None::<String>);
    std::thread::scope(|s| {
        for _ in 0..THREADS {
            s.spawn(|| {
                loop {
                    if skip.lock().expect("skip lock").is_some() {
                        return;
                    }
                    let Some(case) = queue.lock().expect("queue lock").pop() else { return };
                    match run_case(&case) {
                        CaseResult::Skip(why) => *skip.lock().expect("skip lock") = Some(why),
                        done => results.lock().expect("results lock").push(done),
                    }
                }
            });
        }
    });
    if let Some(why) = skip.into_inner().expect("skip lock") {
        visible(&format!("SKIP: differential test: gitlab-ci-local is not available: {why}"));
        return;
    }
    let mut failures = Vec::new();
    let mut ran = 0;
    for r in results.into_inner().expect("results lock") {
        if let CaseResult::Done { case, problems } = r {
            ran += 1;
            for p in problems {
                failures.push(format!("case `{case}`: {p}"));
            }
        }
    }
    failures.sort();
    assert_eq!(ran, total, "not every case ran");
    assert!(
        failures.is_empty(),
        "{} problem(s) in {total} differential cases:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

#[test]
fn gitlab_names_from_gitlab_ci_local_names() {
    assert_eq!(gitlab_name("shard: [1/3]"), "shard 1/3");
    assert_eq!(gitlab_name("build: [linux,amd64]"), "build: [linux, amd64]");
    assert_eq!(gitlab_name("build: [linux, amd64]"), "build: [linux, amd64]");
    assert_eq!(gitlab_name("test: [unit]"), "test: [unit]");
    assert_eq!(gitlab_name("shard 1/3"), "shard 1/3");
    assert_eq!(gitlab_name("plain"), "plain");
}
