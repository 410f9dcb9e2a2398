//! Differential test of the GitHub Actions front end: every case under
//! `tests/differential/github/cases/` (a repository with
//! `.github/workflows/wf.yml`) runs through act 0.2.89 in host mode (via
//! `act_outcomes.py`) and through `shipway run .github/workflows/wf.yml`,
//! and both must agree on every job's status, on the ordered `OUT: ` lines
//! of every job's log, and on success or failure of the whole run.
//!
//! act must still produce the case's recorded `act-observed.json`. Where a
//! case has `github-expected.json` (act deviates from GitHub there, see the
//! case's NOTES.md), shipway is compared against that file instead.
//! Extra arguments of `shipway run` (secrets, the event) are in the case's
//! `shipway-args`, one per line; `act_outcomes.py` passes act the same.
//!
//! Slow: only runs with `SHIPWAY_SLOW_TESTS=1`, which `.ci/run` sets.
//! `SHIPWAY_DIFF_ORACLE_ONLY=1` runs only the act half (checks that the
//! oracle still produces every `act-observed.json`).

use crate::harness::{Test, visible};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

/// The workflow every case runs.
const WORKFLOW: &str = ".github/workflows/wf.yml";

/// Case files that are not part of the repository (the same list as in
/// `act_outcomes.py`, plus anything starting with `shipway-`).
const METADATA: &[&str] = &["act-observed.json", "github-expected.json", "NOTES.md"];

/// Cases take about half a second each in act; two at a time, as for the
/// GitLab differential test.
const THREADS: usize = 2;

/// The prefix of the lines a case wants compared.
const OUT_PREFIX: &str = "OUT: ";

fn github_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests").join("differential").join("github")
}

fn cases() -> Vec<PathBuf> {
    let mut cases: Vec<PathBuf> = std::fs::read_dir(github_dir().join("cases"))
        .expect("read the GitHub differential cases")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.join(WORKFLOW).is_file())
        .collect();
    cases.sort();
    cases
}

fn case_name(case: &Path) -> String {
    case.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
}

/// What a run did, or should do: job statuses and `OUT: ` lines, keyed by
/// GitHub's display names (`build (a, 1)` for matrix instances).
#[derive(Debug, PartialEq)]
struct Expected {
    jobs: BTreeMap<String, String>,
    outputs: BTreeMap<String, Vec<String>>,
    exit_code: i64,
}

fn parse_expected(v: &Value) -> Result<Expected, String> {
    let jobs = v["jobs"].as_object().ok_or_else(|| format!("no `jobs` object in {v}"))?;
    let outputs = v["outputs"].as_object().ok_or_else(|| format!("no `outputs` object in {v}"))?;
    let mut parsed_outputs = BTreeMap::new();
    for (name, lines) in outputs {
        let lines = lines.as_array().ok_or_else(|| format!("outputs of `{name}` are not an array"))?;
        let lines = lines.iter().map(|l| l.as_str().map(str::to_string).ok_or_else(|| format!("{l} is not a string")));
        parsed_outputs.insert(name.clone(), lines.collect::<Result<Vec<_>, _>>()?);
    }
    Ok(Expected {
        jobs: jobs.iter().map(|(k, s)| (k.clone(), s.as_str().unwrap_or("?").to_string())).collect(),
        outputs: parsed_outputs,
        exit_code: v["exit_code"].as_i64().ok_or_else(|| format!("no `exit_code` in {v}"))?,
    })
}

fn read_expected(path: &Path) -> Result<Expected, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let v: Value = serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    parse_expected(&v).map_err(|e| format!("{}: {e}", path.display()))
}

/// The case's extra `shipway run` arguments: the lines of `shipway-args`,
/// without blank lines and `#` comments.
fn case_args(case: &Path) -> Vec<String> {
    let Ok(text) = std::fs::read_to_string(case.join("shipway-args")) else { return Vec::new() };
    text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')).map(str::to_string).collect()
}

enum Act {
    Ran(Expected),
    /// act 0.2.89 (or python3, git) is not installed.
    Missing(String),
}

fn run_act(case: &Path) -> Result<Act, String> {
    let script = github_dir().join("act_outcomes.py");
    let out = match Command::new("python3").arg(&script).arg(case).output() {
        Ok(o) => o,
        Err(e) => return Ok(Act::Missing(format!("cannot run python3: {e}"))),
    };
    let stderr = String::from_utf8_lossy(&out.stderr);
    match out.status.code() {
        Some(0) => {
            let v: Value = serde_json::from_slice(&out.stdout).map_err(|e| {
                format!("act_outcomes.py printed no JSON ({e}): {}", String::from_utf8_lossy(&out.stdout))
            })?;
            parse_expected(&v).map(Act::Ran)
        }
        Some(3) => Ok(Act::Missing(stderr.trim().trim_start_matches("SKIP: ").to_string())),
        other => Err(format!("act_outcomes.py exited with {other:?}: {}", stderr.trim())),
    }
}

use runner::mask::strip_ansi;

/// The lines of a job log that start with `OUT: ` once ANSI codes and
/// carriage returns are gone, without trailing whitespace, in order.
fn out_lines(log: &str) -> Vec<String> {
    strip_ansi(log)
        .replace('\r', "")
        .lines()
        .map(str::trim_end)
        .filter(|l| l.starts_with(OUT_PREFIX))
        .map(str::to_string)
        .collect()
}

/// What shipway did with a case.
struct Actual {
    jobs: BTreeMap<String, String>,
    outputs: BTreeMap<String, Vec<String>>,
    exit_code: i32,
    /// Logs of the jobs, for the report.
    logs: BTreeMap<String, String>,
    stderr: String,
}

fn run_shipway(case: &Path) -> Actual {
    let out = Test::new()
        .dir_contents(case, |name| METADATA.contains(&name) || name.starts_with("shipway-"))
        .args(["run", WORKFLOW, "--json"])
        .args(case_args(case))
        .run();
    let jobs = if out.json.is_some() { out.jobs() } else { BTreeMap::new() };
    let logs: BTreeMap<String, String> = jobs
        .keys()
        .filter_map(|name| {
            let path = out.log_path(name)?;
            Some((
                name.clone(),
                std::fs::read_to_string(&path).unwrap_or_else(|e| format!("({}: {e})", path.display())),
            ))
        })
        .collect();
    let outputs = logs.iter().map(|(name, log)| (name.clone(), out_lines(log))).collect();
    Actual { jobs, outputs, exit_code: out.code, logs, stderr: out.stderr.clone() }
}

/// Differences between what the oracle expects and what shipway did, one
/// entry each (the first line starts with "job `<name>`" where it is about
/// one job); empty if they agree.
fn compare(expected: &Expected, actual: &Actual) -> Vec<String> {
    let mut diffs = Vec::new();
    let names: BTreeSet<&String> = expected.jobs.keys().chain(actual.jobs.keys()).collect();
    for name in names {
        let e = expected.jobs.get(name).map_or("(absent)", String::as_str);
        let a = actual.jobs.get(name).map_or("(absent)", String::as_str);
        if e != a {
            diffs.push(format!("job `{name}`: expected {e}, shipway {a}"));
        }
    }
    let names: BTreeSet<&String> = expected.outputs.keys().chain(actual.outputs.keys()).collect();
    for name in names {
        let e = expected.outputs.get(name).map_or(&[][..], Vec::as_slice);
        let a = actual.outputs.get(name).map_or(&[][..], Vec::as_slice);
        if e != a {
            let show = |lines: &[String]| lines.iter().map(|l| format!("\n          {l}")).collect::<String>();
            diffs.push(format!(
                "job `{name}`: different OUT: lines\n        expected:{}\n        shipway:{}",
                show(e),
                show(a)
            ));
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

fn run_case(case: &Path, oracle_only: bool) -> CaseResult {
    let name = case_name(case);
    let mut problems = Vec::new();
    let act = match run_act(case) {
        Ok(Act::Ran(e)) => Some(e),
        Ok(Act::Missing(why)) => return CaseResult::Skip(why),
        Err(e) => {
            problems.push(format!("act failed: {e}"));
            None
        }
    };
    // The oracle itself must be stable: its live result is the recorded one.
    if let Some(live) = &act {
        match read_expected(&case.join("act-observed.json")) {
            Ok(recorded) if recorded == *live => {}
            Ok(recorded) => problems.push(format!(
                "act's live result differs from act-observed.json (oracle drift, not a shipway bug):\n      live:     {live:?}\n      recorded: {recorded:?}"
            )),
            Err(e) => problems.push(e),
        }
    }
    if oracle_only {
        return CaseResult::Done { case: name, problems };
    }
    let github_expected = case.join("github-expected.json");
    let (expected, against) = if github_expected.exists() {
        match read_expected(&github_expected) {
            Ok(e) => (Some(e), "github-expected.json"),
            Err(e) => {
                problems.push(e);
                (None, "github-expected.json")
            }
        }
    } else {
        (act, "act")
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
    strip_ansi(text).lines().take(40).map(|l| format!("        {l}\n")).collect()
}

fn env_is_1(name: &str) -> bool {
    std::env::var_os(name).is_some_and(|v| v == "1")
}

#[test]
fn github_differential_cases_agree_with_act() {
    if !env_is_1("SHIPWAY_SLOW_TESTS") {
        visible("SKIP: differential test against act (set SHIPWAY_SLOW_TESTS=1 to run it)");
        return;
    }
    let oracle_only = env_is_1("SHIPWAY_DIFF_ORACLE_ONLY");
    if oracle_only {
        visible("NOTE: SHIPWAY_DIFF_ORACLE_ONLY=1: checking act against act-observed.json only, not running shipway");
    }
    let cases = cases();
    assert!(!cases.is_empty(), "no GitHub differential cases found");
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
                    match run_case(&case, oracle_only) {
                        CaseResult::Skip(why) => *skip.lock().expect("skip lock") = Some(why),
                        done => results.lock().expect("results lock").push(done),
                    }
                }
            });
        }
    });
    if let Some(why) = skip.into_inner().expect("skip lock") {
        visible(&format!("SKIP: GitHub differential test: act is not available: {why}"));
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
        "{} problem(s) in {total} GitHub differential cases:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

/// Fast checks of the case files themselves (no act, no shipway).
#[test]
fn github_differential_cases_are_well_formed() {
    let cases = cases();
    assert!(cases.len() >= 18, "expected at least 18 GitHub differential cases, found {}", cases.len());
    for case in &cases {
        let name = case_name(case);
        let observed = read_expected(&case.join("act-observed.json"))
            .unwrap_or_else(|e| panic!("case `{name}`: {e} (record it with act_outcomes.py)"));
        assert!(!observed.jobs.is_empty(), "case `{name}`: act-observed.json has no jobs");
        for job in observed.outputs.keys() {
            assert!(observed.jobs.contains_key(job), "case `{name}`: outputs of unknown job `{job}`");
        }
        if case.join("github-expected.json").exists() {
            read_expected(&case.join("github-expected.json")).unwrap_or_else(|e| panic!("case `{name}`: {e}"));
            assert!(case.join("NOTES.md").is_file(), "case `{name}`: github-expected.json without NOTES.md");
        }
        let args = case_args(case);
        let mut i = 0;
        while i < args.len() {
            assert!(
                ["--secret", "--event"].contains(&args[i].as_str()),
                "case `{name}`: shipway-args: act_outcomes.py knows no act equivalent of `{}`",
                args[i]
            );
            i += 2;
        }
    }
}

#[test]
fn out_lines_strip_ansi_and_keep_order() {
    let log = "\u{1b}[1m$ echo hi\u{1b}[0m\r\nOUT: one  \n\u{1b}[32mOUT: two\u{1b}[0m\n  OUT: indented\nOUT:no-space\n\u{1b}]0;title\u{7}OUT: three\r\n";
    assert_eq!(out_lines(log), ["OUT: one", "OUT: two", "OUT: three"]);
    assert_eq!(strip_ansi("a\u{1b}[38;5;196mb\u{1b}[0mc\u{1b}]8;;http://x\u{1b}\\d\u{1b}(Be"), "abcde");
}
