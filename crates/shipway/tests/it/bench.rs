//! `shipway bench http` against scripted servers on loopback: the JSON
//! report's schema, the gates and their exit codes, and bad input.

use crate::harness::{Outcome, Test};
use std::time::Duration;
use testserver::{Behaviour, Server};

fn bench(args: &[&str]) -> Outcome {
    let mut all = vec!["bench", "http"];
    all.extend_from_slice(args);
    Test::new().args(all).run()
}

fn fast() -> Server {
    Server::start(Behaviour::Stall { period: Duration::from_secs(3600), stall: Duration::ZERO })
}

#[test]
fn the_json_report_has_the_documented_fields() {
    let s = fast();
    let out = bench(&[&s.url("/"), "-n", "200", "-c", "4", "--json"]);
    out.assert_code(0);
    let v = out.json();
    assert_eq!(v["requests"], 200);
    assert_eq!(v["mode"], "closed");
    assert!(v.get("target_rate").is_none(), "no target_rate in closed mode: {v}");
    assert_eq!(v["error_rate"], 0.0);
    for k in ["connect", "timeout", "non_2xx", "reset", "protocol"] {
        assert_eq!(v["errors"][k], 0, "errors.{k}: {v}");
    }
    assert!(v["duration_s"].as_f64().unwrap() > 0.0);
    assert!(v["requests_per_second"].as_f64().unwrap() > 0.0);
    let l = &v["latency_ms"];
    let p = |k: &str| l[k].as_f64().unwrap_or_else(|| panic!("latency_ms.{k} missing: {v}"));
    assert!(0.0 < p("p50") && p("p50") <= p("p90") && p("p90") <= p("p99"));
    assert!(p("p99") <= p("p999") && p("p999") <= p("max"), "{l}");
    assert_eq!(v["passed"], true);
    assert_eq!(v["gates"], serde_json::json!([]));

    let out = bench(&[&s.url("/"), "--rate", "200", "-d", "1s", "-c", "4", "--json"]);
    out.assert_code(0);
    let v = out.json();
    assert_eq!((&v["mode"], &v["target_rate"], &v["requests"]), (&"open".into(), &200.0.into(), &200.into()));
}

#[test]
fn the_p99_gate_passes_below_and_fails_above_its_threshold() {
    let slow = Server::start(Behaviour::Delay(Duration::from_millis(150)));
    let out = bench(&[&slow.url("/"), "-n", "8", "-c", "2", "--p99-threshold", "300ms"]);
    out.assert_code(0);
    assert!(out.stdout.contains("gate passed: p99 1"), "{}", out.stdout);

    let slower = Server::start(Behaviour::Delay(Duration::from_millis(450)));
    let out = bench(&[&slower.url("/"), "-n", "8", "-c", "2", "--p99-threshold", "300ms", "--json"]);
    out.assert_code(1);
    let g = &out.json()["gates"][0];
    assert_eq!((&g["gate"], &g["passed"], &g["threshold"]), (&"p99".into(), &false.into(), &300.0.into()));
    assert!(g["message"].as_str().unwrap().contains("above the 300 ms threshold by"), "{g}");
    assert_eq!(out.json()["passed"], false);
}

#[test]
fn the_error_rate_gate_fails_on_server_errors_and_says_by_how_much() {
    let s = Server::start(Behaviour::Status(500));
    let out = bench(&[&s.url("/"), "-n", "50", "-c", "2", "--max-error-rate", "0.1%"]);
    out.assert_code(1);
    assert!(
        out.stdout
            .contains("gate FAILED: error rate 100.0000% (50 of 50) is above the 0.1000% threshold by 99.9000 points"),
        "{}",
        out.stdout
    );
}

#[test]
fn the_report_can_be_written_to_a_file_for_an_artifact() {
    let s = fast();
    let t = Test::new();
    let file = t.scratch().join("bench.json");
    let out = t.args(["bench", "http", &s.url("/"), "-n", "50", "--out", file.to_str().unwrap()]).run();
    out.assert_code(0);
    assert!(out.stdout.contains("requests   50 in"), "human report on stdout: {}", out.stdout);
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    assert_eq!(v["requests"], 50);
}

#[test]
fn bad_input_is_refused_with_exit_code_2() {
    let cases: &[(&[&str], &str)] = &[
        (&["not a url"], "invalid URL `not a url`"),
        (&["ftp://127.0.0.1/"], "scheme `ftp` is not http"),
        (&["https://127.0.0.1/"], "unsupported: https"),
        (&["http://127.0.0.1:1/"], "cannot connect to 127.0.0.1:1"),
        (&["http://127.0.0.1:1/", "--duration", "10x"], "--duration `10x`"),
        (&["http://127.0.0.1:1/", "--header", "NoColon"], "--header `NoColon`"),
        (&["http://127.0.0.1:1/", "--rate", "0"], "--rate 0"),
        (&["http://127.0.0.1:1/", "--max-error-rate", "lots"], "--max-error-rate `lots`"),
        (&["http://127.0.0.1:1/", "--p99-threshold", "fast"], "--p99-threshold `fast`"),
        (&["http://127.0.0.1:1/", "--body", "@/nonexistent/body"], "--body @/nonexistent/body"),
        (&["http://127.0.0.1:1/", "-c", "0"], "connections must be at least 1"),
    ];
    for (args, needle) in cases {
        let out = bench(args);
        out.assert_code(2);
        assert!(out.stderr.contains(needle), "{args:?}: expected {needle:?} in stderr:\n{}", out.stderr);
    }
}

#[test]
fn named_results_are_recorded_and_shown_in_the_history() {
    let s = fast();
    let url = s.url("/");
    let first = Test::new().args(["bench", "http", &url, "-n", "30", "--name", "api", "--commit", "c1"]).run();
    first.assert_code(0);
    assert!(first.stdout.contains("recorded 7 figures of `api`"), "{}", first.stdout);
    let repo = first.repo();
    let second = crate::rerun::shipway(&repo, &["bench", "http", &url, "-n", "30", "--name", "api", "--commit", "c2"]);
    second.assert_code(0);
    let h = crate::rerun::shipway(&repo, &["bench", "history", "api", "--json"]);
    h.assert_code(0);
    let v = h.json();
    assert_eq!(v["measure"], "p99_ms");
    let results = v["results"].as_array().unwrap();
    let commits: Vec<&str> = results.iter().map(|r| r["commit"].as_str().unwrap()).collect();
    assert_eq!(commits, ["c1", "c2"], "oldest first: {v}");
    assert_eq!(results[0]["branch"], "main", "git's branch by default");
    assert!(results[0]["value"].as_f64().unwrap() > 0.0);
    let rps = crate::rerun::shipway(&repo, &["bench", "history", "api", "--measure", "requests_per_second"]);
    rps.assert_code(0);
    assert!(rps.stdout.contains("api requests_per_second (req/s)"), "{}", rps.stdout);
    let unknown = crate::rerun::shipway(&repo, &["bench", "history", "nope"]);
    unknown.assert_code(2);
    assert!(
        unknown.stderr.contains("no `p99_ms` results for benchmark `nope`") && unknown.stderr.contains("recorded: api")
    );
}

/// A service that answers every request after `argv[1]` seconds, on $PORT.
const SERVICE_PY: &str = r#"
import http.server, os, sys, time
delay = float(sys.argv[1])
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        time.sleep(delay)
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")
    def log_message(self, *a):
        pass
http.server.ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), H).serve_forever()
"#;

fn ab(base_delay: &str, head_delay: &str, extra: &[&str]) -> Outcome {
    let base = format!("python3 svc.py {base_delay}");
    let head = format!("python3 svc.py {head_delay}");
    let mut args =
        vec!["bench", "ab", "--base-cmd", &base, "--head-cmd", &head, "--trials", "6", "-n", "40", "-c", "4"];
    args.extend_from_slice(extra);
    args.push("--json");
    Test::new().file("svc.py", SERVICE_PY).args(args).run()
}

#[test]
fn ab_fails_on_a_large_significant_regression_and_names_the_test() {
    // The median of each trial: a pause of the machine moves a trial's P99
    // of 40 requests a lot, its median hardly.
    let out = ab("0.01", "0.05", &["--measure", "p50", "--name", "abx", "--commit", "head1"]);
    out.assert_code(1);
    let h = crate::rerun::shipway(&out.repo(), &["bench", "history", "abx", "--measure", "p50_ms", "--json"]);
    h.assert_code(0);
    let rec = &h.json()["results"][0];
    assert_eq!((&rec["source"], &rec["commit"]), (&"ab".into(), &"head1".into()), "{rec}");
    assert_eq!(rec["samples"].as_array().unwrap().len(), 6, "the head's trial values: {rec}");
    let v = &out.json()["verdict"];
    assert_eq!(v["regressed"], true, "{v}");
    assert_eq!(v["test"], "Welch t on log values");
    assert!(v["p_value"].as_f64().unwrap() < 0.01, "{v}");
    assert!(v["effect"].as_f64().unwrap() > 0.2, "a five times longer delay is a large effect: {v}");
    let ci = v["ci"].as_array().unwrap();
    assert!(ci[0].as_f64().unwrap() <= v["effect"].as_f64().unwrap());
    assert_eq!(out.json()["base_values_ms"].as_array().unwrap().len(), 6);
}

#[test]
fn ab_passes_when_nothing_changed() {
    let out = ab("0.01", "0.01", &["--alpha", "0.001", "--test", "mann-whitney"]);
    out.assert_code(0);
    let v = &out.json()["verdict"];
    assert_eq!((&v["regressed"], &v["test"]), (&false.into(), &"Mann-Whitney U".into()), "{v}");
}

#[test]
fn ab_refuses_bad_sides_with_exit_code_2() {
    let out = Test::new().args(["bench", "ab", "--head-url", "http://127.0.0.1:1/"]).run();
    out.assert_code(2);
    assert!(out.stderr.contains("--base-cmd CMD or --base-url URL"), "{}", out.stderr);
    let out = Test::new()
        .args(["bench", "ab", "--base-cmd", "echo broken build; exit 3", "--head-url", "http://127.0.0.1:1/"])
        .run();
    out.assert_code(2);
    assert!(out.stderr.contains("the base service exited before listening") && out.stderr.contains("broken build"));
}

/// A pipeline that starts a service and benches it, as in
/// examples/hello-service: the bench step's gate decides the job, its JSON
/// report is an artifact, and its figures reach the project's history.
fn bench_pipeline(threshold: &str) -> String {
    format!(
        r#"
bench:
  variables: {{PORT: "0"}}
  script:
    - export PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    - python3 svc.py 0.02 &
    - for i in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break; sleep 0.1; done
    - shipway bench http "http://127.0.0.1:$PORT/" -n 40 -c 4 --p99-threshold {threshold} --name svc --out bench.json
  artifacts:
    when: always
    paths: [bench.json]
"#
    )
}

fn path_with_shipway() -> String {
    let bin = std::path::Path::new(env!("CARGO_BIN_EXE_shipway")).parent().unwrap().to_path_buf();
    format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default())
}

#[test]
fn a_bench_step_gates_its_job_keeps_its_report_and_records_history() {
    let checked =
        Test::new().file(".gitlab-ci.yml", bench_pipeline("300ms")).file("svc.py", SERVICE_PY).args(["check"]).run();
    checked.assert_code(0);
    let repo = checked.repo();
    let path = path_with_shipway();
    let ok = crate::rerun::shipway_env(&repo, &["run", "--json"], &[("PATH", &path)]);
    ok.assert_code(0);
    let out = repo.join("extracted");
    let arts = crate::rerun::shipway(&repo, &["runs", "artifacts", "last", "--extract", out.to_str().unwrap()]);
    arts.assert_code(0);
    let report: Vec<std::path::PathBuf> =
        crate::rerun::tree(&out).into_iter().filter(|f| f.ends_with("bench.json")).map(|f| out.join(f)).collect();
    assert_eq!(report.len(), 1, "the bench report is the job's artifact: {}", arts.stdout);
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&report[0]).unwrap()).unwrap();
    assert_eq!((&v["requests"], &v["passed"]), (&40.into(), &true.into()));
    let h = crate::rerun::shipway(&repo, &["bench", "history", "svc", "--json"]);
    h.assert_code(0);
    assert_eq!(h.json()["results"].as_array().unwrap().len(), 1, "recorded into the project's store: {}", h.stdout);

    std::fs::write(repo.join(".gitlab-ci.yml"), bench_pipeline("1ms")).unwrap();
    let bad = crate::rerun::shipway_env(&repo, &["run", "--json"], &[("PATH", &path)]);
    bad.assert_code(1);
    assert_eq!(bad.jobs()["bench"], "failed");
    let log = crate::rerun::log_of(&repo, bad.run_id(), "bench");
    assert!(log.contains("gate FAILED: p99") && log.contains("above the 1 ms threshold"), "{log}");
}

#[test]
fn the_example_bench_pipeline_checks_clean() {
    let example = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/hello-service/.gitlab-ci.yml");
    let out = Test::new().args(["check", example.to_str().unwrap()]).run();
    out.assert_code(0);
}

#[test]
fn gate_against_a_branch_uses_the_t_test_limit_of_its_history() {
    let fast = fast();
    let slow = Server::start(Behaviour::Delay(Duration::from_millis(40)));
    let record = |repo: &std::path::Path, url: &str, branch: &str| {
        let r = crate::rerun::shipway(
            repo,
            &["bench", "http", url, "-n", "20", "-c", "20", "--name", "api", "--branch", branch],
        );
        r.assert_code(0);
    };
    let first = Test::new().args(["bench", "gate", "api", "--against", "main"]).run();
    first.assert_code(2);
    assert!(first.stderr.contains("no `p99_ms` result of `api` for branch main"), "{}", first.stderr);
    let repo = first.repo();
    record(&repo, &slow.url("/"), "main");
    let one = crate::rerun::shipway(&repo, &["bench", "gate", "api", "--against", "main", "--branch", "main"]);
    one.assert_code(2);
    assert!(one.stderr.contains("needs at least 2"), "{}", one.stderr);
    for _ in 0..3 {
        record(&repo, &slow.url("/"), "main");
    }
    // A faster head passes a lower-is-better limit ...
    record(&repo, &fast.url("/"), "quick");
    let ok =
        crate::rerun::shipway(&repo, &["bench", "gate", "api", "--against", "main", "--branch", "quick", "--json"]);
    ok.assert_code(0);
    let v = ok.json();
    assert_eq!((&v["regressed"], &v["test"], &v["side"]), (&false.into(), &"t-test".into(), &"upper".into()), "{v}");
    assert_eq!(v["baseline"]["n"], 4);
    // ... and a slower one fails, saying by which limit.
    let slower = Server::start(Behaviour::Delay(Duration::from_millis(1500)));
    record(&repo, &slower.url("/"), "sluggish");
    let bad = crate::rerun::shipway(&repo, &["bench", "gate", "api", "--against", "main", "--branch", "sluggish"]);
    bad.assert_code(1);
    assert!(bad.stdout.contains("upper limit") && bad.stdout.contains("gate FAILED"), "{}", bad.stdout);
    // Throughput is higher-is-better: the limit is a lower one.
    let rps = crate::rerun::shipway(
        &repo,
        &[
            "bench",
            "gate",
            "api",
            "--against",
            "main",
            "--branch",
            "quick",
            "--measure",
            "requests_per_second",
            "--json",
        ],
    );
    rps.assert_code(0);
    assert_eq!(rps.json()["side"], "lower");
}

fn fixtures() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../stats/tests/fixtures/criterion")
}

/// The verdict lines criterion printed for a recorded scenario, in
/// benchmark order.
fn criterion_said(scenario: &str) -> Vec<String> {
    let text = std::fs::read_to_string(fixtures().join(scenario).join("stdout.txt")).unwrap();
    text.lines()
        .map(str::trim)
        .filter(|l| l.starts_with("Performance has") || l.starts_with("No change") || l.starts_with("Change within"))
        .map(String::from)
        .collect()
}

#[test]
fn criterion_results_are_ingested_with_criterion_s_own_verdicts() {
    // A repository to record into (this first command only creates it).
    let holder = Test::new().args(["bench", "history", "spin"]).run();
    let repo = holder.repo();
    for scenario in ["unchanged", "slower", "faster", "noise"] {
        let dir = fixtures().join(scenario);
        let args = ["bench", "ingest", "criterion", dir.to_str().unwrap(), "--commit", scenario, "--json"];
        let out = crate::rerun::shipway(&repo, &args);
        let said = criterion_said(scenario);
        let v = out.json();
        let benches = v["benchmarks"].as_array().unwrap();
        let mut ours: Vec<(String, String)> = benches
            .iter()
            .map(|b| (b["bench"].as_str().unwrap().to_string(), b["change"]["verdict"].as_str().unwrap().to_string()))
            .collect();
        ours.sort();
        let mut theirs: Vec<String> = said.clone();
        theirs.sort();
        let mut mine: Vec<String> = ours.iter().map(|(_, v)| v.clone()).collect();
        mine.sort();
        assert_eq!(mine, theirs, "{scenario}: ours {ours:?}, criterion printed {said:?}");
        let regressed = said.iter().any(|l| l.contains("regressed"));
        assert_eq!(out.code, if regressed { 1 } else { 0 }, "{scenario}: {}", out.stdout);
    }
    let h = crate::rerun::shipway(&repo, &["bench", "history", "spin", "--measure", "time_ns", "--json"]);
    h.assert_code(0);
    let v = h.json();
    let commits: Vec<&str> = v["results"].as_array().unwrap().iter().map(|r| r["commit"].as_str().unwrap()).collect();
    assert_eq!(commits, ["unchanged", "slower", "faster", "noise"]);
    assert_eq!(h.json()["results"][0]["source"], "criterion");
}

#[test]
fn libtest_bench_output_is_ingested() {
    let file = fixtures().join("libtest.txt");
    let out = Test::new().args(["bench", "ingest", "cargo-bench", file.to_str().unwrap(), "--json"]).run();
    out.assert_code(0);
    let benches = out.json()["benchmarks"].as_array().unwrap().clone();
    assert!(!benches.is_empty());
    assert!(benches.iter().all(|b| b["time_ns"].as_f64().unwrap() > 0.0), "{benches:?}");
}

#[test]
fn malformed_bench_results_are_refused_with_exit_code_2() {
    let t = Test::new()
        .file("empty/.keep", "")
        .file(
            "broken/b/new/sample.json",
            "{\"sampling_mode\": \"Linear\", \"iters\": [1.0, 2.0], \"times\": [1.0, null]}",
        )
        .file("bench.txt", "running 1 test\ntest parse ... bench:   12x ns/iter (+/- 3)\n");
    let repo_cases: &[(&[&str], &str)] = &[
        (&["criterion", "empty"], "no criterion results"),
        (&["criterion", "missing-dir"], "not a directory"),
        (&["criterion", "broken"], "sample.json: at .times[1]"),
        (&["cargo-bench", "bench.txt"], "bench.txt:2:"),
        (&["cargo-bench", "nope.txt"], "nope.txt"),
    ];
    let first = t.args(["bench", "ingest", "criterion", "empty"]).run();
    first.assert_code(2);
    let repo = first.repo();
    for (args, needle) in repo_cases {
        let mut all = vec!["bench", "ingest"];
        all.extend_from_slice(args);
        let out = crate::rerun::shipway(&repo, &all);
        out.assert_code(2);
        assert!(out.stderr.contains(needle), "{args:?}: expected {needle:?} in {}", out.stderr);
    }
}

#[test]
fn ctrl_c_stops_a_load_early_and_still_reports() {
    let s = fast();
    let running = Test::new().args(["bench", "http", &s.url("/"), "-d", "60s", "-c", "2", "--json"]).spawn();
    std::thread::sleep(Duration::from_millis(1500));
    running.interrupt();
    let out = running.finish();
    out.assert_code(130);
    let v = out.json();
    assert_eq!(v["canceled"], true, "{v}");
    assert!(v["requests"].as_u64().unwrap() > 0 && v["duration_s"].as_f64().unwrap() < 30.0, "{v}");
}
