//! GitHub Actions workflows end to end: the real binary on real workflows,
//! asserting on what the jobs did (results, logs, files).

use crate::harness::Test;
use std::collections::BTreeMap;

const WF: &str = ".github/workflows/wf.yml";

fn statuses(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

fn out_lines(log: &str) -> Vec<String> {
    log.lines().filter_map(|l| l.trim_end().strip_prefix("OUT: ").map(String::from)).collect()
}

#[test]
fn secrets_never_reach_console_logs_or_summaries() {
    let out = Test::new()
        .file(
            WF,
            r#"
on: push
jobs:
  leak:
    runs-on: ubuntu-latest
    steps:
      - run: |
          echo "plain ${{ secrets.API_KEY }}"
          echo "env $KEY"
          echo "summary has ${{ secrets.API_KEY }}" >> "$GITHUB_STEP_SUMMARY"
          echo "::add-mask::dynamic-value-123"
          echo "later dynamic-value-123"
        env:
          KEY: ${{ secrets.API_KEY }}
"#,
        )
        .args(["run", WF, "--json", "--secret", "API_KEY=s3cr3t-token-xyz"])
        .run();
    out.assert_code(0);
    let mut everything = out.stdout.clone() + &out.stderr + &out.all_logs();
    let runs = out.repo().join(".shipway").join("runs");
    for e in walk(&runs) {
        everything.push_str(&std::fs::read_to_string(&e).unwrap_or_default());
    }
    assert!(!everything.contains("s3cr3t-token-xyz"), "secret leaked:\n{everything}");
    assert!(!everything.contains("dynamic-value-123"), "add-mask value leaked:\n{everything}");
    let log = out.log("leak");
    assert!(log.contains("plain ***") && log.contains("env ***") && log.contains("later ***"), "{log}");
    let summary = std::fs::read_to_string(runs.join("1").join("summaries").join("000.md")).unwrap();
    assert_eq!(summary.trim(), "summary has ***");
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[test]
fn fail_fast_cancels_the_rest_of_the_matrix_and_max_parallel_limits_it() {
    let out = Test::new()
        .file(
            WF,
            r#"
on: push
jobs:
  test:
    runs-on: ubuntu-latest
    strategy:
      max-parallel: 1
      matrix:
        n: [1, 2, 3]
    steps:
      - run: test ${{ matrix.n }} != 1
  loose:
    runs-on: ubuntu-latest
    strategy:
      fail-fast: false
      max-parallel: 1
      matrix:
        n: [1, 2, 3]
    steps:
      - run: test ${{ matrix.n }} != 1
"#,
        )
        .args(["run", WF, "--json", "--parallel", "4"])
        .run();
    out.assert_code(1);
    assert_eq!(
        out.jobs(),
        statuses(&[
            ("test (1)", "failed"),
            ("test (2)", "canceled"),
            ("test (3)", "canceled"),
            ("loose (1)", "failed"),
            ("loose (2)", "success"),
            ("loose (3)", "success"),
        ])
    );
}

#[test]
fn job_outputs_step_outputs_env_and_path_flow_between_steps_and_jobs() {
    let out = Test::new()
        .file("tools/hello-tool", "#!/bin/sh\necho hello from tool\n")
        .file(
            WF,
            r#"
on: push
env:
  LEVEL: workflow
jobs:
  make:
    runs-on: ubuntu-latest
    env:
      LEVEL: job
    outputs:
      answer: ${{ steps.calc.outputs.answer }}
      text: ${{ steps.calc.outputs.text }}
    steps:
      - id: calc
        run: |
          echo "answer=42" >> "$GITHUB_OUTPUT"
          { echo "text<<EOF"; echo "two"; echo "lines"; echo "EOF"; } >> "$GITHUB_OUTPUT"
          echo "FROM_STEP=yes" >> "$GITHUB_ENV"
          chmod +x tools/hello-tool
          echo "$PWD/tools" >> "$GITHUB_PATH"
      - run: |
          echo "OUT: level=$LEVEL from_step=$FROM_STEP"
          echo "OUT: $(hello-tool)"
        env:
          LEVEL: step
  use:
    needs: make
    runs-on: ubuntu-latest
    steps:
      - run: |
          echo "OUT: answer=${{ needs.make.outputs.answer }} result=${{ needs.make.result }}"
          echo "OUT: level=$LEVEL"
      - run: echo "OUT:" '${{ toJSON(needs.make.outputs.text) }}'
"#,
        )
        .args(["run", WF, "--json"])
        .run();
    out.assert_code(0);
    assert_eq!(out_lines(&out.log("make")), ["level=step from_step=yes", "hello from tool"]);
    assert_eq!(out_lines(&out.log("use")), ["answer=42 result=success", "level=workflow", "\"two\\nlines\""]);
}

#[test]
fn status_functions_and_continue_on_error_decide_what_runs() {
    let out = Test::new()
        .file(
            WF,
            r#"
on: push
jobs:
  broken:
    runs-on: ubuntu-latest
    steps:
      - id: soft
        run: exit 7
        continue-on-error: true
      - run: 'echo "OUT: soft=${{ steps.soft.outcome }}/${{ steps.soft.conclusion }}"'
      - run: exit 1
      - run: 'echo "OUT: must not run"'
      - if: failure()
        run: 'echo "OUT: cleanup after failure"'
      - if: always()
        run: 'echo "OUT: always"'
  dependent:
    needs: broken
    runs-on: ubuntu-latest
    steps:
      - run: echo never
  reporter:
    needs: broken
    if: failure()
    runs-on: ubuntu-latest
    steps:
      - run: 'echo "OUT: broken was ${{ needs.broken.result }}"'
  soft-job:
    runs-on: ubuntu-latest
    continue-on-error: true
    steps:
      - run: exit 2
  after-soft:
    needs: soft-job
    runs-on: ubuntu-latest
    steps:
      - run: 'echo "OUT: soft-job result ${{ needs.soft-job.result }}"'
"#,
        )
        .args(["run", WF, "--json"])
        .run();
    out.assert_code(1);
    assert_eq!(
        out.jobs(),
        statuses(&[
            ("broken", "failed"),
            ("dependent", "skipped"),
            ("reporter", "success"),
            ("soft-job", "allowed_failure"),
            ("after-soft", "success"),
        ])
    );
    assert_eq!(out_lines(&out.log("broken")), ["soft=failure/success", "cleanup after failure", "always"]);
    assert_eq!(out_lines(&out.log("reporter")), ["broken was failure"]);
    assert_eq!(out_lines(&out.log("after-soft")), ["soft-job result success"]);
}

#[test]
fn step_timeout_stops_the_process_group() {
    let marker = crate::harness::unique_sleep_arg();
    let out = Test::new()
        .file(
            WF,
            format!(
                r#"
on: push
jobs:
  slow:
    runs-on: ubuntu-latest
    steps:
      - run: sleep {marker} & sleep {marker}
        timeout-minutes: 0.02
      - if: always()
        run: 'echo "OUT: after timeout"'
"#
            ),
        )
        .args(["run", WF, "--json", "--kill-grace", "1"])
        .run();
    out.assert_code(1);
    assert_eq!(out.job_status("slow"), "failed");
    assert!(out.log("slow").contains("timed out"), "{}", out.log("slow"));
    assert_eq!(out_lines(&out.log("slow")), ["after timeout"]);
    assert!(crate::harness::kill_leftovers(&marker).is_empty(), "processes survived the step timeout");
}

#[test]
fn builtin_actions_run_offline_and_remote_ones_fail_clearly() {
    let out = Test::new()
        .file("data/report.txt", "report body\n")
        .file(
            WF,
            r#"
on: push
jobs:
  produce:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
        with:
          fetch-depth: 0
          persist-credentials: false
      - uses: dtolnay/rust-toolchain@stable
        id: tc
      - run: 'echo "OUT: toolchain=$RUSTUP_TOOLCHAIN key-length=${#KEY}"'
        env:
          KEY: ${{ steps.tc.outputs.cachekey }}
      - uses: Swatinem/rust-cache@v2
      - uses: actions/upload-artifact@v4
        with:
          name: report
          path: data/
  consume:
    needs: produce
    runs-on: ubuntu-latest
    steps:
      - uses: actions/download-artifact@v4
        with:
          name: report
          path: got
      - run: 'echo "OUT: $(cat got/report.txt)"'
  remote:
    runs-on: ubuntu-latest
    steps:
      - uses: some-org/some-action@v3
      - run: echo never
  tool:
    runs-on: ubuntu-latest
    steps:
      - uses: taiki-e/install-action@v2
        with:
          tool: definitely-not-installed-tool-xyz
"#,
        )
        .args(["run", WF, "--json"])
        .run();
    out.assert_code(1);
    assert_eq!(
        out.jobs(),
        statuses(&[("produce", "success"), ("consume", "success"), ("remote", "failed"), ("tool", "failed")])
    );
    assert_eq!(out_lines(&out.log("produce")), ["toolchain=stable key-length=12"]);
    assert_eq!(out_lines(&out.log("consume")), ["report body"]);
    assert!(out.log("remote").contains("unsupported action some-org/some-action@v3: needs network"));
    assert!(out.log("tool").contains("`definitely-not-installed-tool-xyz` is not installed"));
}

#[test]
fn skip_unsupported_marks_remote_actions_skipped() {
    let out = Test::new()
        .file(
            WF,
            r#"
on: push
jobs:
  remote:
    runs-on: ubuntu-latest
    steps:
      - uses: some-org/some-action@v3
      - run: 'echo "OUT: went on"'
"#,
        )
        .args(["run", WF, "--json", "--skip-unsupported"])
        .run();
    out.assert_code(0);
    assert_eq!(out_lines(&out.log("remote")), ["went on"]);
}

#[test]
fn on_filters_decide_whether_the_workflow_runs() {
    let wf = r#"
on:
  push:
    branches: [release/**]
jobs:
  a:
    runs-on: ubuntu-latest
    steps:
      - run: echo hi
"#;
    let out = Test::new().file(WF, wf).args(["run", WF, "--json"]).run();
    out.assert_code(0);
    assert_eq!(out.status(), "skipped");
    let out = Test::new().file(WF, wf).args(["run", WF, "--json", "--ref", "release/1.0"]).run();
    out.assert_code(0);
    assert_eq!(out.jobs(), statuses(&[("a", "success")]));
}

#[test]
fn check_reports_workflow_problems_with_positions() {
    let out = Test::new()
        .file(
            WF,
            r#"on: push
jobs:
  a:
    runs-on: ubuntu-latest
    strategy:
      matrix:
        os: [x]
    steps:
      - run: echo ${{ matrix.oss }}
      - run: echo ${{ 1 == }}
  b:
    needs: [ghost]
    runs-on: ubuntu-latest
    steps:
      - run: echo hi
"#,
        )
        .args(["check", WF, "--format", "json"])
        .run();
    out.assert_code(2);
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let got: Vec<String> = v["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| format!("{}:{} {}", d["line"], d["col"], d["rule"].as_str().unwrap()))
        .collect();
    assert_eq!(got, ["9:30 unknown-property", "10:28 bad-expression", "12:13 unknown-need"]);
}

#[test]
fn dry_run_lists_the_expanded_matrix() {
    let out = Test::new()
        .file(
            WF,
            r#"
on: push
jobs:
  build:
    runs-on: ubuntu-latest
    strategy:
      matrix:
        os: [linux, mac]
        rust: [stable, nightly]
        exclude: [{os: mac, rust: nightly}]
    steps:
      - run: echo hi
"#,
        )
        .args(["run", WF, "--dry-run"])
        .run();
    out.assert_code(0);
    let text = out.stdout.clone() + &out.stderr;
    for name in ["build (linux, stable)", "build (linux, nightly)", "build (mac, stable)"] {
        assert!(text.contains(name), "{name} missing from:\n{text}");
    }
    assert!(!text.contains("build (mac, nightly)"));
}
