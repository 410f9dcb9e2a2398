//! `shipway run` and `shipway check` end to end: every test runs the real
//! binary on a real pipeline and asserts on what the jobs did.

use crate::harness::{Test, kill_leftovers, processes_with, unique_sleep_arg, wait_until};
use std::collections::BTreeMap;

const CI: &str = ".gitlab-ci.yml";

fn statuses(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

/// Lines of a log that are exactly `text` (command echo lines are not: they
/// start with `$ `).
fn count_lines(log: &str, text: &str) -> usize {
    log.lines().filter(|l| l.trim_end() == text).count()
}

#[test]
fn multi_stage_pipeline_reports_each_job_outcome() {
    let out = Test::new()
        .file(
            CI,
            r#"
stages: [build, test, deploy]
build:
  stage: build
  script: [echo building]
unit:
  stage: test
  script: [echo "unit $((20 + 1)) passed"]
lint:
  stage: test
  script:
    - echo "lint is about to fail"
    - exit 3
flaky:
  stage: test
  allow_failure: true
  script: [exit 1]
deploy:
  stage: deploy
  script: [echo deploying]
cleanup:
  stage: deploy
  when: always
  script: [echo cleanup]
"#,
        )
        .args(["run", "--json"])
        .run();
    out.assert_code(1);
    assert_eq!(out.status(), "failed");
    assert_eq!(
        out.jobs(),
        statuses(&[
            ("build", "success"),
            ("unit", "success"),
            ("lint", "failed"),
            ("flaky", "allowed_failure"),
            ("deploy", "skipped"),
            ("cleanup", "success"),
        ])
    );
    assert_eq!(out.job("lint")["exit_code"], 3);
    assert_eq!(out.job("flaky")["exit_code"], 1);
    assert_eq!(out.job("unit")["exit_code"], 0);
    assert_eq!(out.job("lint")["stage"], "test");
    assert_eq!(out.job("cleanup")["stage"], "deploy");
    assert!(out.log("unit").contains("unit 21 passed"), "{}", out.log("unit"));
    assert!(out.log("lint").contains("lint is about to fail"));
    assert!(out.log_path("deploy").is_none(), "a skipped job must not have run");
}

#[test]
fn passing_pipeline_prints_one_json_object_and_exits_zero() {
    let out = Test::new()
        .file(
            CI,
            r#"
stages: [build, test]
build:
  stage: build
  script: [echo "built $((6 * 7))"]
test:
  stage: test
  script: [echo tested]
"#,
        )
        .args(["run", "--json"])
        .run();
    out.assert_code(0);
    assert_eq!(out.status(), "success");
    assert_eq!(out.jobs(), statuses(&[("build", "success"), ("test", "success")]));
    assert_eq!(out.stdout.trim().lines().count(), 1, "stdout must be exactly one JSON line: {}", out.stdout);
    for key in ["name", "stage", "status", "exit_code", "duration_ms"] {
        assert!(out.job("build").get(key).is_some(), "job entry lacks `{key}`: {}", out.job("build"));
    }
    assert!(out.json()["run"].is_u64());
    // Human output goes to stderr, job output included.
    assert!(out.stderr.contains("built 42"), "{}", out.stderr);
    assert!(out.log("build").contains("built 42"));
}

#[test]
fn artifacts_reach_needs_jobs_from_the_needed_jobs_only() {
    let out = Test::new()
        .file(
            CI,
            r#"
stages: [build, test]
make-a:
  stage: build
  script:
    - mkdir -p dist && echo payload-a > dist/a.bin
    - echo scratch > not-declared.txt
  artifacts:
    paths: [dist/]
make-b:
  stage: build
  script: [echo payload-b > b.bin]
  artifacts:
    paths: [b.bin]
needs-a:
  stage: test
  needs: [make-a]
  script:
    - test -f dist/a.bin
    - grep -qx payload-a dist/a.bin
    - test ! -f b.bin
    - test ! -f not-declared.txt
needs-a-without-artifacts:
  stage: test
  needs:
    - job: make-a
      artifacts: false
  script:
    - test ! -f dist/a.bin
"#,
        )
        .args(["run", "--json"])
        .run();
    out.assert_code(0);
    assert_eq!(
        out.jobs(),
        statuses(&[
            ("make-a", "success"),
            ("make-b", "success"),
            ("needs-a", "success"),
            ("needs-a-without-artifacts", "success"),
        ])
    );
}

#[test]
fn artifacts_reach_later_stages_without_needs() {
    let out = Test::new()
        .file(
            CI,
            r#"
stages: [build, test, deploy]
make-a:
  stage: build
  script: [mkdir -p dist && echo payload-a > dist/a.bin]
  artifacts:
    paths: [dist/]
make-b:
  stage: test
  script:
    - test -f dist/a.bin
    - echo payload-b > b.bin
  artifacts:
    paths: [b.bin]
consume:
  stage: deploy
  script:
    - test -f dist/a.bin
    - test -f b.bin
    - grep -qx payload-b b.bin
"#,
        )
        .args(["run", "--json"])
        .run();
    out.assert_code(0);
    assert_eq!(out.jobs(), statuses(&[("make-a", "success"), ("make-b", "success"), ("consume", "success")]));
}

#[test]
fn empty_dependencies_block_artifacts() {
    let out = Test::new()
        .file(
            CI,
            r#"
stages: [build, test]
make-a:
  stage: build
  script: [echo a > a.txt]
  artifacts:
    paths: [a.txt]
make-b:
  stage: build
  script: [echo b > b.txt]
  artifacts:
    paths: [b.txt]
only-b:
  stage: test
  dependencies: [make-b]
  script:
    - test -f b.txt
    - test ! -f a.txt
none:
  stage: test
  dependencies: []
  script:
    - test ! -f a.txt
    - test ! -f b.txt
none-but-expects:
  stage: test
  dependencies: []
  script: [test -f a.txt]
"#,
        )
        .args(["run", "--json"])
        .run();
    out.assert_code(1);
    assert_eq!(
        out.jobs(),
        statuses(&[
            ("make-a", "success"),
            ("make-b", "success"),
            ("only-b", "success"),
            ("none", "success"),
            ("none-but-expects", "failed"),
        ])
    );
}

#[test]
fn dotenv_report_variable_reaches_a_later_job() {
    let out = Test::new()
        .file(
            CI,
            r#"
stages: [build, test]
version:
  stage: build
  script:
    - echo "APP_VERSION=1.4.2" > build.env
    - echo "FLAVOR=release" >> build.env
  artifacts:
    reports:
      dotenv: build.env
use-it:
  stage: test
  script:
    - 'echo "version seen by use-it: $APP_VERSION/$FLAVOR"'
    - test "$APP_VERSION" = 1.4.2
isolated:
  stage: test
  dependencies: []
  script:
    - test -z "$APP_VERSION"
"#,
        )
        .args(["run", "--json"])
        .run();
    out.assert_code(0);
    assert_eq!(out.jobs(), statuses(&[("version", "success"), ("use-it", "success"), ("isolated", "success")]));
    assert!(out.log("use-it").contains("version seen by use-it: 1.4.2/release"), "{}", out.log("use-it"));
}

#[test]
fn after_script_runs_when_the_script_fails_and_sees_the_job_status() {
    let out = Test::new()
        .file(
            CI,
            r#"
failing:
  script:
    - echo working
    - exit 4
    - echo "never reached $((1 + 1))"
  after_script:
    - echo "after_script saw CI_JOB_STATUS=$CI_JOB_STATUS"
passing:
  script: [echo fine]
  after_script:
    - echo "after_script saw CI_JOB_STATUS=$CI_JOB_STATUS"
    - exit 9
"#,
        )
        .args(["run", "--json"])
        .run();
    out.assert_code(1);
    assert_eq!(out.job_status("failing"), "failed");
    assert_eq!(out.job("failing")["exit_code"], 4);
    // A failing after_script does not fail a passing job.
    assert_eq!(out.job_status("passing"), "success");
    let failing = out.log("failing");
    assert!(failing.contains("after_script saw CI_JOB_STATUS=failed"), "{failing}");
    assert!(!failing.contains("never reached 2"), "{failing}");
    assert!(out.log("passing").contains("after_script saw CI_JOB_STATUS=success"), "{}", out.log("passing"));
}

const EXIT_CODES_PIPELINE: &str = r#"
stages: [test, deploy]
checked:
  stage: test
  allow_failure:
    exit_codes: [2, 3]
  script: [exit $CODE]
deploy:
  stage: deploy
  script: [echo deploy]
"#;

#[test]
fn allow_failure_exit_codes_matching_code_is_allowed() {
    let out = Test::new().file(CI, EXIT_CODES_PIPELINE).args(["run", "--json", "--var", "CODE=3"]).run();
    out.assert_code(0);
    assert_eq!(out.status(), "success");
    assert_eq!(out.jobs(), statuses(&[("checked", "allowed_failure"), ("deploy", "success")]));
    assert_eq!(out.job("checked")["exit_code"], 3);
}

#[test]
fn allow_failure_exit_codes_other_code_fails_the_pipeline() {
    let out = Test::new().file(CI, EXIT_CODES_PIPELINE).args(["run", "--json", "--var", "CODE=5"]).run();
    out.assert_code(1);
    assert_eq!(out.status(), "failed");
    assert_eq!(out.jobs(), statuses(&[("checked", "failed"), ("deploy", "skipped")]));
    assert_eq!(out.job("checked")["exit_code"], 5);
}

#[test]
fn retry_passes_on_the_second_attempt() {
    let t = Test::new();
    // Outside the repository, so it survives the fresh workspace of attempt 2.
    let marker = t.scratch().join("first-attempt-done");
    let out = t
        .file(
            CI,
            r#"
flaky:
  retry: 1
  script:
    - echo "attempt ran"
    - if [ -f "$MARKER" ]; then echo "second time lucky"; else touch "$MARKER"; exit 1; fi
"#,
        )
        .arg("run")
        .arg("--json")
        .arg("--var")
        .arg(format!("MARKER={}", marker.display()))
        .run();
    out.assert_code(0);
    assert_eq!(out.jobs(), statuses(&[("flaky", "success")]));
    assert!(marker.exists());
    let log = out.log("flaky");
    assert_eq!(count_lines(&log, "attempt ran"), 2, "expected 2 attempts in the log:\n{log}");
    assert_eq!(count_lines(&log, "second time lucky"), 1, "{log}");
}

#[test]
fn retry_stops_after_max_attempts_and_honours_when() {
    let out = Test::new()
        .file(
            CI,
            r#"
always-fails:
  retry: 2
  script:
    - echo "attempt ran"
    - exit 1
not-retried-for-script-failure:
  retry:
    max: 2
    when: [runner_system_failure]
  script:
    - echo "attempt ran"
    - exit 1
"#,
        )
        .args(["run", "--json"])
        .run();
    out.assert_code(1);
    assert_eq!(out.jobs(), statuses(&[("always-fails", "failed"), ("not-retried-for-script-failure", "failed")]));
    let log = out.log("always-fails");
    assert_eq!(count_lines(&log, "attempt ran"), 3, "retry: 2 means 3 attempts:\n{log}");
    let log = out.log("not-retried-for-script-failure");
    assert_eq!(count_lines(&log, "attempt ran"), 1, "{log}");
}

/// A job that times out, with a background process of the given shell
/// prelude; returns after asserting that the background process existed
/// while the job ran and is gone after shipway exits.
fn assert_timeout_leaves_nothing(prelude: &str) {
    let token = unique_sleep_arg();
    let mut running = Test::new()
        .file(
            CI,
            format!(
                r#"
stages: [test, deploy]
sleepy:
  stage: test
  timeout: 3s
  script:
    - {prelude}
    - sleep {token} &
    - echo "background sleep started"
    - sleep 60
after:
  stage: deploy
  script: [echo after]
"#
            ),
        )
        .args(["run", "--json", "--kill-grace", "1"])
        .spawn();
    running.wait_for_log("background sleep started");
    assert!(wait_until(|| !processes_with(&token).is_empty()), "the job's `sleep {token}` never showed up in /proc");
    let out = running.finish();
    let leftovers = kill_leftovers(&token);
    out.assert_code(1);
    assert_eq!(out.status(), "failed");
    assert_eq!(out.jobs(), statuses(&[("sleepy", "timed_out"), ("after", "skipped")]));
    assert!(leftovers.is_empty(), "processes of the timed-out job survived: {leftovers:?}");
}

#[test]
fn timeout_stops_the_whole_process_group() {
    assert_timeout_leaves_nothing("echo plain");
}

#[test]
fn timeout_escalates_to_sigkill_when_sigterm_is_ignored() {
    // An ignored signal stays ignored across exec, so both sleeps ignore
    // SIGTERM too: only SIGKILL after --kill-grace stops them.
    assert_timeout_leaves_nothing(r#"trap "" TERM"#);
}

#[test]
fn background_processes_are_stopped_when_the_script_ends() {
    let holding_pipe = unique_sleep_arg();
    let detached = unique_sleep_arg();
    let out = Test::new()
        .file(
            CI,
            format!(
                r#"
holds-output:
  script:
    - sleep {holding_pipe} &
    - kill -0 $!
detached-output:
  script:
    - sleep {detached} > /dev/null 2>&1 &
    - kill -0 $!
"#
            ),
        )
        .args(["run", "--json", "--kill-grace", "1"])
        .run();
    let leftovers = [kill_leftovers(&holding_pipe), kill_leftovers(&detached)].concat();
    out.assert_code(0);
    assert_eq!(out.jobs(), statuses(&[("holds-output", "success"), ("detached-output", "success")]));
    assert!(leftovers.is_empty(), "background processes survived the run: {leftovers:?}");
}

#[test]
fn ctrl_c_cancels_the_run_and_leaves_no_processes() {
    let token = unique_sleep_arg();
    let mut running = Test::new()
        .file(
            CI,
            format!(
                r#"
stages: [build, test]
long:
  stage: build
  script:
    - sleep {token} &
    - echo "job is $((40 + 2)) ready"
    - sleep 60
later:
  stage: test
  script: [echo "later ran $((1 + 1))"]
"#
            ),
        )
        .args(["run", "--json", "--kill-grace", "1"])
        .spawn();
    running.wait_for_log("job is 42 ready");
    assert!(wait_until(|| !processes_with(&token).is_empty()), "the job's `sleep {token}` never showed up in /proc");
    running.interrupt();
    let out = running.finish();
    let leftovers = kill_leftovers(&token);
    out.assert_code(130);
    if out.json.is_some() {
        assert_eq!(out.status(), "canceled");
        assert_eq!(out.job_status("long"), "canceled");
        assert!(
            ["canceled", "skipped"].contains(&out.job_status("later")),
            "a job after the interrupt must not run: {}",
            out.job("later")
        );
    }
    assert!(!out.all_logs().contains("later ran 2"), "a job after the interrupt ran");
    assert!(leftovers.is_empty(), "processes of the canceled job survived: {leftovers:?}");
}

const SECRET: &str = "s3cr3tvalue";

const LEAKY_JOB: &str = r#"
leak:
  variables:
    AUTH_HEADER: "Bearer $TOKEN"
  script:
    - echo "token is $TOKEN"
    - echo "to stderr $TOKEN" >&2
    - echo "header $AUTH_HEADER"
    - printf '%s' "no newline $TOKEN"
  after_script:
    - echo "after $TOKEN"
"#;

/// Every file under `dir` whose bytes contain `needle`.
fn files_containing(dir: &std::path::Path, needle: &str) -> Vec<std::path::PathBuf> {
    let mut hits = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().filter_map(Result::ok) {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if std::fs::read(&p).is_ok_and(|b| b.windows(needle.len()).any(|w| w == needle.as_bytes())) {
                hits.push(p);
            }
        }
    }
    hits
}

#[test]
fn secrets_are_masked_on_the_console_and_in_logs() {
    let out = Test::new().file(CI, LEAKY_JOB).args(["run", "--secret", &format!("TOKEN={SECRET}")]).run();
    out.assert_code(0);
    // Without --json, human output (with job lines) is on stdout.
    assert!(out.stdout.contains("token is [MASKED]"), "{}", out.stdout);
    assert!(out.stdout.contains("to stderr [MASKED]"), "{}", out.stdout);
    assert!(
        !out.stdout.contains(SECRET) && !out.stderr.contains(SECRET),
        "secret in clear:\n{}\n{}",
        out.stdout,
        out.stderr
    );
    let log = out.log("leak");
    for line in
        ["token is [MASKED]", "to stderr [MASKED]", "header Bearer [MASKED]", "no newline [MASKED]", "after [MASKED]"]
    {
        assert!(log.contains(line), "log lacks {line:?}:\n{log}");
    }
    let leaks = files_containing(&out.repo().join(".shipway"), SECRET);
    assert!(leaks.is_empty(), "secret in clear in {leaks:?}");
}

#[test]
fn secrets_from_a_file_are_masked_in_json_mode() {
    let t = Test::new();
    let secrets = t.scratch().join("secrets.env");
    std::fs::write(&secrets, format!("# a comment\nTOKEN={SECRET}\n")).expect("write secrets file");
    let out = t.file(CI, LEAKY_JOB).args(["run", "--json", "--secrets-file"]).arg(&secrets).run();
    out.assert_code(0);
    assert_eq!(out.jobs(), statuses(&[("leak", "success")]));
    assert!(out.stderr.contains("token is [MASKED]"), "{}", out.stderr);
    assert!(
        !out.stdout.contains(SECRET) && !out.stderr.contains(SECRET),
        "secret in clear:\n{}\n{}",
        out.stdout,
        out.stderr
    );
    assert!(out.log("leak").contains("header Bearer [MASKED]"), "{}", out.log("leak"));
    let leaks = files_containing(&out.repo().join(".shipway"), SECRET);
    assert!(leaks.is_empty(), "secret in clear in {leaks:?}");
}

const DAG: &str = r#"
stages: [build, test, deploy]
compile:
  stage: build
  script: [echo compile]
lint:
  stage: build
  script: [echo lint]
unit:
  stage: test
  needs: [compile]
  script: [echo "unit ran $((2 + 2))"]
other:
  stage: test
  script: [echo other]
deploy:
  stage: deploy
  needs: [unit]
  script: [echo deploy]
"#;

#[test]
fn job_flag_runs_the_job_and_its_needs_only() {
    let out = Test::new().file(CI, DAG).args(["run", "--json", "--job", "unit"]).run();
    out.assert_code(0);
    assert_eq!(out.jobs(), statuses(&[("compile", "success"), ("unit", "success")]));
    assert!(out.log("unit").contains("unit ran 4"));
    let logs: Vec<_> = std::fs::read_dir(out.logs_dir()).expect("logs dir").collect();
    assert_eq!(logs.len(), 2, "only 2 jobs may have run: {logs:?}");
}

#[test]
fn job_flag_with_an_unknown_job_is_invalid_input() {
    let out = Test::new().file(CI, DAG).args(["run", "--json", "--job", "unti"]).run();
    out.assert_code(2);
    assert!(out.stderr.contains("unti") && out.stderr.contains("`unit`"), "{}", out.stderr);
    assert!(!out.repo().join(".shipway/runs").exists(), "nothing may run on invalid input");
}

const MANUAL: &str = r#"
stages: [build, deploy]
build:
  stage: build
  script: [echo build]
deploy:
  stage: deploy
  when: manual
  script: [echo "deploying for $((1 + 1))nd time"]
"#;

#[test]
fn manual_job_waits_by_default() {
    let out = Test::new().file(CI, MANUAL).args(["run", "--json"]).run();
    out.assert_code(0);
    assert_eq!(out.status(), "success");
    assert_eq!(out.jobs(), statuses(&[("build", "success"), ("deploy", "manual")]));
    assert!(out.log_path("deploy").is_none(), "an unplayed manual job must not run");
}

#[test]
fn manual_flag_plays_a_manual_job() {
    let out = Test::new().file(CI, MANUAL).args(["run", "--json", "--manual", "deploy"]).run();
    out.assert_code(0);
    assert_eq!(out.jobs(), statuses(&[("build", "success"), ("deploy", "success")]));
    assert!(out.log("deploy").contains("deploying for 2nd time"), "{}", out.log("deploy"));
}

#[test]
fn parallel_and_matrix_jobs_are_named_like_gitlab() {
    let out = Test::new()
        .file(
            CI,
            r#"
shard:
  parallel: 2
  script: [echo "node $CI_NODE_INDEX of $CI_NODE_TOTAL"]
build:
  parallel:
    matrix:
      - OS: linux
        ARCH: [amd64, arm64]
  script: [echo "building $OS-$ARCH"]
"#,
        )
        .args(["run", "--json"])
        .run();
    out.assert_code(0);
    assert_eq!(
        out.jobs(),
        statuses(&[
            ("shard 1/2", "success"),
            ("shard 2/2", "success"),
            ("build: [linux, amd64]", "success"),
            ("build: [linux, arm64]", "success"),
        ])
    );
    assert!(out.log("shard 2/2").contains("node 2 of 2"), "{}", out.log("shard 2/2"));
    assert!(out.log("build: [linux, arm64]").contains("building linux-arm64"));
}

#[test]
fn jobs_run_in_copies_of_tracked_and_unignored_files() {
    let out = Test::new()
        .file(".gitignore", "local.env\n")
        .file(
            CI,
            r#"
stages: [one, two]
writer:
  stage: one
  script:
    - test -f notes.txt
    - test ! -f local.env
    - test ! -e .shipway
    - echo leak > leak.txt
reader:
  stage: two
  script:
    - test ! -f leak.txt
"#,
        )
        .untracked("notes.txt", "not committed, not ignored\n")
        .untracked("local.env", "ignored\n")
        .args(["run", "--json"])
        .run();
    out.assert_code(0);
    assert_eq!(out.jobs(), statuses(&[("writer", "success"), ("reader", "success")]));
    assert!(!out.repo().join("leak.txt").exists(), "a job wrote into the repository itself");
}

#[test]
fn dry_run_runs_nothing() {
    let t = Test::new();
    let marker = t.scratch().join("ran");
    let out = t
        .file(CI, "build:\n  script: [touch \"$MARKER\"]\n")
        .args(["run", "--json", "--dry-run", "--var"])
        .arg(format!("MARKER={}", marker.display()))
        .run();
    out.assert_code(0);
    assert_eq!(out.json()["jobs"][0]["name"], "build");
    assert!(!marker.exists(), "--dry-run ran a job");
}

#[test]
fn invalid_yaml_exits_2_with_file_line_col() {
    let out = Test::new().file(CI, "build:\n  script: [echo hi\n  stage: test\n").args(["run", "--json"]).run();
    out.assert_code(2);
    let located = out.stderr.lines().any(|l| {
        l.strip_prefix(".gitlab-ci.yml:3:")
            .and_then(|rest| rest.split_once(':'))
            .is_some_and(|(col, _)| col.parse::<u32>().is_ok_and(|c| c >= 1))
    });
    assert!(located, "no `.gitlab-ci.yml:3:COL:` message on stderr:\n{}", out.stderr);
    assert!(!out.repo().join(".shipway/runs").exists(), "nothing may run on invalid input");
}

#[test]
fn unknown_key_is_reported_with_position_and_suggestion() {
    let out = Test::new().file(CI, "build:\n  scriptt: [echo hi]\n").args(["run"]).run();
    out.assert_code(2);
    // Without --json, diagnostics are human output (stdout).
    let all = format!("{}{}", out.stdout, out.stderr);
    assert!(all.contains(".gitlab-ci.yml:2:3:"), "{all}");
    assert!(all.contains("did you mean `script`"), "{all}");
}

#[test]
fn bad_arguments_are_invalid_input() {
    for args in [
        &["run", "--var", "NOEQUALS"][..],
        &["run", "--secret", "=value"],
        &["run", "--parallel", "0"],
        &["run", "missing.yml"],
        &["check", "missing.yml"],
    ] {
        let out = Test::new().file(CI, "build:\n  script: [echo hi]\n").args(args).run();
        assert_eq!(out.code, 2, "{args:?} should be invalid input; stderr:\n{}", out.stderr);
        assert!(!out.repo().join(".shipway/runs").exists(), "{args:?} ran something");
    }
}

#[test]
fn check_accepts_a_valid_file() {
    let out = Test::new().file(CI, "build:\n  script: [echo hi]\n").args(["check"]).run();
    out.assert_code(0);
    assert!(out.stdout.contains("no problems"), "{}", out.stdout);
    assert!(!out.repo().join(".shipway/runs").exists(), "check must not run anything");
}

#[test]
fn check_reports_every_error_and_exits_2() {
    let out = Test::new()
        .file("ci/pipeline.yml", "build:\n  scriptt: [echo hi]\ntest:\n  script: [echo hi]\n  when: sometimes\n")
        .args(["check", "ci/pipeline.yml"])
        .run();
    out.assert_code(2);
    assert!(out.stdout.contains("ci/pipeline.yml:2:3:"), "{}", out.stdout);
    assert!(out.stdout.contains("ci/pipeline.yml:5:"), "both errors must be reported:\n{}", out.stdout);
}

#[test]
fn check_json_format() {
    let bad = Test::new().file(CI, "build:\n  scriptt: [echo hi]\n").args(["check", "--format", "json"]).run();
    bad.assert_code(2);
    let v = bad.json();
    assert!(v["errors"].as_u64().is_some_and(|n| n >= 1), "{v}");
    let d = v["diagnostics"].as_array().and_then(|a| a.iter().find(|d| d["rule"] == "unknown-key")).cloned();
    let d = d.unwrap_or_else(|| panic!("no unknown-key diagnostic: {v}"));
    assert_eq!((d["file"].as_str(), d["line"].as_u64(), d["col"].as_u64()), (Some(CI), Some(2), Some(3)), "{d}");
    assert_eq!(d["severity"], "error");

    let good = Test::new().file(CI, "build:\n  script: [echo hi]\n").args(["check", "--format", "json"]).run();
    good.assert_code(0);
    assert_eq!(good.json()["errors"], 0);
    assert_eq!(good.json()["diagnostics"], serde_json::json!([]));
}

#[test]
fn rules_that_leave_no_jobs_create_no_pipeline() {
    let out = Test::new()
        .file(
            CI,
            r#"
setup:
  stage: .pre
  script: echo setup
build:
  rules:
    - if: '$CI_COMMIT_BRANCH == "release"'
  script: echo build
"#,
        )
        .args(["run", "--json"])
        .run();
    out.assert_code(0);
    assert_eq!(out.status(), "skipped");
    assert!(out.jobs().is_empty(), "{:?}", out.jobs());
    assert!(out.log_path("setup").is_none(), "a .pre-only pipeline must not run");
}

#[test]
fn workflow_rules_can_stop_the_pipeline() {
    let out = Test::new()
        .file(
            CI,
            r#"
workflow:
  rules:
    - if: '$CI_COMMIT_TAG'
build:
  script: echo build
"#,
        )
        .args(["run", "--json"])
        .run();
    out.assert_code(0);
    assert_eq!(out.status(), "skipped");
    let tagged = Test::new()
        .file(
            CI,
            r#"
workflow:
  rules:
    - if: '$CI_COMMIT_TAG'
build:
  script: echo "tag $CI_COMMIT_TAG"
"#,
        )
        .args(["run", "--json", "--event", "tag", "--ref", "v1.2.3"])
        .run();
    tagged.assert_code(0);
    assert_eq!(tagged.jobs(), statuses(&[("build", "success")]));
    assert!(tagged.log("build").contains("tag v1.2.3"), "{}", tagged.log("build"));
}

#[test]
fn a_reused_workspace_is_as_fresh_as_a_new_copy() {
    // One slot, so every job after the first reuses the previous job's
    // workspace; each job vandalises it and checks it got a pristine one.
    let vandal = r#"
  script:
    - test "$(cat data.txt)" = "original"
    - test ! -e junk.txt && test ! -e build
    - test ! -L data.txt && test ! -L src/lib.txt
    - test "$(cat src/lib.txt)" = "library"
    - echo "modified" > data.txt
    - echo junk > junk.txt && mkdir -p build/out && echo o > build/out/x
    - rm src/lib.txt && ln -s /etc/hostname src/lib.txt
"#;
    let ci = format!("stages: [a, b, c]\none:\n  stage: a{vandal}two:\n  stage: b{vandal}three:\n  stage: c{vandal}");
    let out = Test::new()
        .file(CI, &ci)
        .file("data.txt", "original\n")
        .file("src/lib.txt", "library\n")
        .args(["run", "--json", "--parallel", "1"])
        .run();
    out.assert_code(0);
    assert_eq!(out.jobs(), statuses(&[("one", "success"), ("two", "success"), ("three", "success")]));
    assert!(out.log("two").contains("untouched files kept from a reused workspace"), "{}", out.log("two"));
}

#[test]
fn processes_that_leave_the_process_group_do_not_survive() {
    let escaped = unique_sleep_arg();
    let escaped_on_timeout = unique_sleep_arg();
    let out = Test::new()
        .file(
            CI,
            format!(
                r#"
escapes:
  script:
    - setsid sleep {escaped} > /dev/null 2>&1 < /dev/null &
    - sleep 0.2
escapes-then-times-out:
  timeout: 2s
  script:
    - setsid sleep {escaped_on_timeout} > /dev/null 2>&1 < /dev/null &
    - sleep 60
"#
            ),
        )
        .args(["run", "--json", "--kill-grace", "1"])
        .run();
    let leftovers = [kill_leftovers(&escaped), kill_leftovers(&escaped_on_timeout)].concat();
    out.assert_code(1);
    assert_eq!(out.jobs(), statuses(&[("escapes", "success"), ("escapes-then-times-out", "timed_out")]));
    assert!(leftovers.is_empty(), "processes outside the job's group survived the run: {leftovers:?}");
}

#[test]
fn caches_pass_between_jobs_of_a_run_and_keys_cannot_escape_the_store() {
    let out = Test::new()
        .file(
            CI,
            r#"
stages: [a, b, c]
writer:
  stage: a
  cache: {key: deps, paths: [vendor/]}
  script: [mkdir -p vendor, echo cached > vendor/lib.txt]
reader:
  stage: b
  cache: {key: other, fallback_keys: [deps], paths: [vendor/], policy: pull}
  script: [test "$(cat vendor/lib.txt)" = cached]
escaper:
  stage: c
  cache: {key: nothing, fallback_keys: [".."], paths: [x/], policy: pull}
  script: [test ! -e logs && test ! -e ws && test ! -e git]
"#,
        )
        .args(["run", "--json"])
        .run();
    out.assert_code(0);
    assert_eq!(out.jobs(), statuses(&[("writer", "success"), ("reader", "success"), ("escaper", "success")]));
    assert!(out.log("reader").contains("Restored cache `deps`"), "{}", out.log("reader"));
}

#[test]
fn each_job_has_its_own_git_state() {
    let out = Test::new()
        .file(
            CI,
            r#"
stages: [a, b]
committer:
  stage: a
  parallel: 3
  script:
    - echo "$CI_NODE_INDEX" > mine.txt
    - git add -A
    - git -c user.email=ci@example.com -c user.name=ci commit -q -m "job commit"
    - git checkout -q -b "job-branch-$CI_NODE_INDEX"
checker:
  stage: b
  script:
    - test "$(git rev-parse HEAD)" = "$CI_COMMIT_SHA"
    - test "$(git rev-parse --abbrev-ref HEAD)" = main
    - test -z "$(git status --porcelain)"
    - test -z "$(git branch --list 'job-branch-*')"
"#,
        )
        .args(["run", "--json", "--parallel", "2"])
        .run();
    out.assert_code(0);
    assert_eq!(out.jobs()["checker"], "success", "{}", out.log("checker"));
    let branches =
        std::process::Command::new("git").arg("-C").arg(out.repo()).args(["branch", "--list"]).output().unwrap();
    assert!(!String::from_utf8_lossy(&branches.stdout).contains("job-branch"), "a job changed the user's repository");
}
