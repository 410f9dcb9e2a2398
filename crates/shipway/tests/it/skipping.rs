//! Job skipping by content key, the run store (`shipway runs`, `shipway gc`),
//! persistent caches, path safety and crash recovery, end to end. Most tests
//! run the real binary several times on one repository, changing files
//! between runs, and assert which jobs each run reused (`cached`) or ran.

use crate::harness::{Outcome, Test, kill_leftovers, processes_with, unique_sleep_arg, wait_until};
use crate::rerun::*;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

// 1. GitLab: unchanged jobs are reused; a change reruns the jobs that read
//    it and their dependents.

/// Each job narrows its inputs with a `changes` rule and stays in the
/// pipeline through the `when: on_success` rule after it. `test` and
/// `package` depend on `compile` by stage (artifacts and dotenv); `docs`
/// has `needs: []` and nothing depends on it.
const NARROWED: &str = r#"
stages: [build, test, deploy]
compile:
  stage: build
  rules:
    - changes: [src/**/*]
    - when: on_success
  script:
    - mkdir -p out
    - cat src/main.txt > out/bin.txt
    - echo "BUILD_ID=build-$(cat src/main.txt)" > build.env
  artifacts:
    paths: [out/]
    reports:
      dotenv: build.env
test:
  stage: test
  rules:
    - changes: [tests/**/*]
    - when: on_success
  script:
    - echo "test $(cat tests/case.txt) against $(cat out/bin.txt) from $BUILD_ID"
package:
  stage: deploy
  rules:
    - changes: [pkg/**/*]
    - when: on_success
  script:
    - echo "package $(cat pkg/name.txt) of $(cat out/bin.txt)"
docs:
  stage: deploy
  needs: []
  rules:
    - changes: [docs/**/*]
    - when: on_success
  script:
    - echo "docs $(cat docs/index.md)"
"#;

#[test]
fn gitlab_reruns_exactly_the_jobs_whose_declared_inputs_changed_and_their_dependents() {
    let p = project(
        Test::new()
            .file(CI, NARROWED)
            .file("src/main.txt", "v1\n")
            .file("tests/case.txt", "t1\n")
            .file("pkg/name.txt", "p1\n")
            .file("docs/index.md", "d1\n"),
        CI,
    );
    let repo = p.repo();
    let all = |s: &str| statuses(&[("compile", s), ("test", s), ("package", s), ("docs", s)]);

    let r1 = run_ok(&repo, &[]);
    assert_eq!(r1.jobs(), all("success"));
    assert!(log_of(&repo, r1.run_id(), "test").contains("test t1 against v1 from build-v1"));

    let r2 = run_ok(&repo, &[]);
    assert_eq!(r2.jobs(), all("cached"), "nothing changed");
    let id1 = r1.run_id();
    assert_eq!(
        r2.cached_from(),
        [("compile", id1), ("test", id1), ("package", id1), ("docs", id1)]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect::<BTreeMap<_, _>>()
    );
    // A cached job's log is this run's too.
    assert!(log_of(&repo, r2.run_id(), "test").contains("test t1 against v1 from build-v1"));

    // Only `test` reads tests/: it reruns, and so does `package`, which
    // depends on it by stage. The artifact and dotenv variable of the
    // cached `compile` still reach it.
    let r3 = rerun_after(
        &repo,
        "tests/case.txt",
        "t2\n",
        &[("compile", "cached"), ("test", "success"), ("package", "success"), ("docs", "cached")],
    );
    assert_eq!(r3.job("compile")["cached_from"], id1);
    let log = log_of(&repo, r3.run_id(), "test");
    assert!(log.contains("test t2 against v1 from build-v1"), "artifacts of the cached job did not arrive:\n{log}");
    assert!(log_of(&repo, r3.run_id(), "package").contains("package p1 of v1"));

    // src/ feeds `compile`, and through its artifact everything after it;
    // not `docs`.
    let r4 = rerun_after(
        &repo,
        "src/main.txt",
        "v2\n",
        &[("compile", "success"), ("test", "success"), ("package", "success"), ("docs", "cached")],
    );
    assert!(log_of(&repo, r4.run_id(), "test").contains("test t2 against v2 from build-v2"));

    // A `needs: []` job nobody depends on reruns alone.
    let r5 = rerun_after(
        &repo,
        "docs/index.md",
        "d2\n",
        &[("compile", "cached"), ("test", "cached"), ("package", "cached"), ("docs", "success")],
    );
    assert!(log_of(&repo, r5.run_id(), "docs").contains("docs d2"));

    // The last job of the chain reruns alone.
    let r6 = rerun_after(
        &repo,
        "pkg/name.txt",
        "p2\n",
        &[("compile", "cached"), ("test", "cached"), ("package", "success"), ("docs", "cached")],
    );
    assert!(log_of(&repo, r6.run_id(), "package").contains("package p2 of v2"));

    // A file no job declares changes nothing.
    write(&repo, "README.md", "not an input of any job\n");
    let r7 = run_ok(&repo, &[]);
    assert_eq!(r7.jobs(), all("cached"));
    let (id4, id5, id6) = (r4.run_id(), r5.run_id(), r6.run_id());
    assert_eq!(
        r7.cached_from(),
        [("compile", id4), ("test", id4), ("package", id6), ("docs", id5)]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect::<BTreeMap<_, _>>()
    );
}

// 2. GitHub Actions.

/// No `paths` filter: every file of the snapshot is an input of every job.
const WORKFLOW: &str = r#"
on: push
jobs:
  build:
    runs-on: ubuntu-latest
    outputs:
      ver: ${{ steps.v.outputs.ver }}
    steps:
      - id: v
        run: echo "ver=$(cat VERSION)" >> "$GITHUB_OUTPUT"
  test:
    runs-on: ubuntu-latest
    needs: build
    steps:
      - run: echo "testing ${{ needs.build.outputs.ver }}"
  lint:
    runs-on: ubuntu-latest
    steps:
      - run: echo "lint ok"
"#;

fn github_project() -> Outcome {
    project(Test::new().file(WF, WORKFLOW).file("VERSION", "1.0\n").file("README.md", "readme\n"), WF)
}

#[test]
fn github_without_paths_filters_any_file_change_reruns_every_job() {
    let p = github_project();
    let repo = p.repo();
    let all = |s: &str| statuses(&[("build", s), ("test", s), ("lint", s)]);
    let r1 = run_ok(&repo, &[WF]);
    assert_eq!(r1.jobs(), all("success"));
    assert!(log_of(&repo, r1.run_id(), "test").contains("testing 1.0"));
    let r2 = run_ok(&repo, &[WF]);
    assert_eq!(r2.jobs(), all("cached"));
    assert_eq!(r2.job("lint")["cached_from"], r1.run_id());

    write(&repo, "README.md", "changed, and read by no job\n");
    assert_eq!(run_ok(&repo, &[WF]).jobs(), all("success"), "every file is an input without a paths filter");
    assert_eq!(run_ok(&repo, &[WF]).jobs(), all("cached"));

    // A new untracked (not ignored) file is part of the snapshot too.
    write(&repo, "notes.txt", "new\n");
    assert_eq!(run_ok(&repo, &[WF]).jobs(), all("success"));
    // An ignored one is not.
    write(&repo, ".gitignore", "*.log\n");
    let r = run_ok(&repo, &[WF]);
    assert_eq!(r.jobs(), all("success"), ".gitignore itself is a new input");
    write(&repo, "debug.log", "ignored\n");
    assert_eq!(run_ok(&repo, &[WF]).jobs(), all("cached"), "an ignored file is no input");
}

#[test]
fn github_changing_a_run_script_reruns_that_job_and_its_dependents_only() {
    let p = github_project();
    let repo = p.repo();
    let r1 = run_ok(&repo, &[WF]);
    assert_eq!(r1.jobs(), statuses(&[("build", "success"), ("test", "success"), ("lint", "success")]));
    let r2 = run_ok(&repo, &[WF]);
    assert_eq!(r2.jobs(), statuses(&[("build", "cached"), ("test", "cached"), ("lint", "cached")]));

    // `lint` has no dependents.
    edit(&repo, WF, r#"echo "lint ok""#, r#"echo "lint fine""#);
    let r3 = run_ok(&repo, &[WF]);
    assert_eq!(
        r3.jobs(),
        statuses(&[("build", "cached"), ("test", "cached"), ("lint", "success")]),
        "only the edited job and its dependents may rerun"
    );
    assert!(log_of(&repo, r3.run_id(), "lint").contains("lint fine"));

    // `test` needs `build`.
    edit(&repo, WF, r#"echo "ver=$(cat VERSION)""#, r#"echo "ver=v$(cat VERSION)""#);
    let r4 = run_ok(&repo, &[WF]);
    assert_eq!(r4.jobs(), statuses(&[("build", "success"), ("test", "success"), ("lint", "cached")]));
    assert!(log_of(&repo, r4.run_id(), "test").contains("testing v1.0"));
}

/// A `paths` filter narrows every job's inputs to `src/**`; `test` gets an
/// artifact and an output from `build`.
const NARROWED_WORKFLOW: &str = r#"
on:
  push:
    paths: ['src/**']
jobs:
  build:
    runs-on: ubuntu-latest
    outputs:
      ver: ${{ steps.v.outputs.ver }}
    steps:
      - id: v
        run: |
          echo "ver=$(cat src/VERSION)" >> "$GITHUB_OUTPUT"
          mkdir -p dist && echo "bin $(cat src/VERSION)" > dist/bin.txt
      - uses: actions/upload-artifact@v4
        with:
          name: bin
          path: dist/
  test:
    runs-on: ubuntu-latest
    needs: build
    steps:
      - uses: actions/download-artifact@v4
        with:
          name: bin
      - run: echo "testing ${{ needs.build.outputs.ver }} with $(cat bin.txt)"
  lint:
    runs-on: ubuntu-latest
    steps:
      - run: echo "lint ok"
"#;

#[test]
fn github_paths_filter_narrows_inputs_and_a_cached_jobs_artifact_reaches_its_dependents() {
    let p =
        project(Test::new().file(WF, NARROWED_WORKFLOW).file("src/VERSION", "1.0\n").file("README.md", "readme\n"), WF);
    let repo = p.repo();
    let all = |s: &str| statuses(&[("build", s), ("test", s), ("lint", s)]);
    let r1 = run_ok(&repo, &[WF]);
    assert_eq!(r1.jobs(), all("success"));
    assert!(log_of(&repo, r1.run_id(), "test").contains("testing 1.0 with bin 1.0"));
    assert_eq!(run_ok(&repo, &[WF]).jobs(), all("cached"));

    write(&repo, "README.md", "outside the paths filter\n");
    assert_eq!(run_ok(&repo, &[WF]).jobs(), all("cached"), "README.md is not an input");

    edit(&repo, WF, r#"echo "testing"#, r#"echo "TESTING"#);
    let r = run_ok(&repo, &[WF]);
    assert_eq!(r.jobs(), statuses(&[("build", "cached"), ("test", "success"), ("lint", "cached")]));
    let log = log_of(&repo, r.run_id(), "test");
    assert!(log.contains("TESTING 1.0 with bin 1.0"), "the cached build's artifact or output is missing:\n{log}");

    write(&repo, "src/VERSION", "2.0\n");
    let r = run_ok(&repo, &[WF]);
    assert_eq!(r.jobs(), all("success"), "src/ is every job's input");
    assert!(log_of(&repo, r.run_id(), "test").contains("TESTING 2.0 with bin 2.0"));
}

// 3. Script changes, --no-cache, opting out of skipping.

const OPT_OUT: &str = r#"
stages: [build, test]
.narrow:
  rules:
    - changes: [src/**/*]
    - when: on_success
build:
  extends: .narrow
  stage: build
  script: [echo "build one"]
check:
  extends: .narrow
  stage: test
  needs: [build]
  script: [echo "check ran"]
unrelated:
  extends: .narrow
  stage: build
  script: [echo "unrelated ran"]
never-cached:
  extends: .narrow
  stage: build
  shipway: {cache: false}
  script: [echo "never-cached ran"]
no-skip-var:
  extends: .narrow
  stage: build
  variables:
    SHIPWAY_NO_SKIP: "1"
  script: [echo "no-skip-var ran"]
"#;

#[test]
fn changed_scripts_no_cache_and_opted_out_jobs_rerun() {
    let p = project(Test::new().file(CI, OPT_OUT).file("src/a.txt", "a\n"), CI);
    let repo = p.repo();
    let all =
        |s: &str| statuses(&[("build", s), ("check", s), ("unrelated", s), ("never-cached", s), ("no-skip-var", s)]);
    let usual = statuses(&[
        ("build", "cached"),
        ("check", "cached"),
        ("unrelated", "cached"),
        ("never-cached", "success"),
        ("no-skip-var", "success"),
    ]);
    assert_eq!(run_ok(&repo, &[]).jobs(), all("success"));
    let r2 = run_ok(&repo, &[]);
    assert_eq!(r2.jobs(), usual, "opted-out jobs run every time");
    assert!(log_of(&repo, r2.run_id(), "never-cached").contains("never-cached ran"));

    edit(&repo, CI, r#"echo "build one""#, r#"echo "build two""#);
    let r3 = run_ok(&repo, &[]);
    assert_eq!(
        r3.jobs(),
        statuses(&[
            ("build", "success"),
            ("check", "success"),
            ("unrelated", "cached"),
            ("never-cached", "success"),
            ("no-skip-var", "success"),
        ]),
        "the changed job and the job that needs it rerun"
    );
    assert!(log_of(&repo, r3.run_id(), "build").contains("build two"));

    let r4 = run_ok(&repo, &["--no-cache"]);
    assert_eq!(r4.jobs(), all("success"), "--no-cache runs everything");
    assert!(r4.cached_from().is_empty());

    let r5 = run_ok(&repo, &[]);
    assert_eq!(r5.jobs(), usual);
    assert_eq!(r5.job("build")["cached_from"], r3.run_id());

    let r6 = shipway_env(&repo, &["run", "--json"], &[("SHIPWAY_NO_SKIP", "1")]);
    r6.assert_code(0);
    assert_eq!(r6.jobs(), all("success"), "SHIPWAY_NO_SKIP=1 in the environment runs everything");
    let r7 = shipway_env(&repo, &["run", "--json"], &[("SHIPWAY_NO_SKIP", "0")]);
    r7.assert_code(0);
    assert_eq!(r7.jobs(), usual, "SHIPWAY_NO_SKIP=0 does not turn skipping off");
}

#[test]
fn a_failed_job_is_never_reused() {
    let t = Test::new();
    let marker = t.scratch().join("failed-once");
    let p = project(
        t.file(
            CI,
            r#"
flaky:
  script:
    - if [ -f "$MARKER" ]; then echo "second time lucky"; else touch "$MARKER"; exit 1; fi
"#,
        ),
        CI,
    );
    let repo = p.repo();
    let var = format!("MARKER={}", marker.display());
    let r1 = shipway(&repo, &["run", "--json", "--var", &var]);
    r1.assert_code(1);
    assert_eq!(r1.jobs(), statuses(&[("flaky", "failed")]));
    let r2 = run_ok(&repo, &["--var", &var]);
    assert_eq!(r2.jobs(), statuses(&[("flaky", "success")]), "a failure must not be replayed");
    assert!(log_of(&repo, r2.run_id(), "flaky").contains("second time lucky"));
    let r3 = run_ok(&repo, &["--var", &var]);
    assert_eq!(r3.jobs(), statuses(&[("flaky", "cached")]));
    assert_eq!(r3.job("flaky")["cached_from"], r2.run_id());
}

// 4. Secrets.

const SECRET_1: &str = "s3cr3t-value-1";
const SECRET_2: &str = "s3cr3t-value-2";

/// The store's raw files and every job log of every run.
fn store_and_logs(repo: &Path) -> Vec<PathBuf> {
    let state = repo.join(".shipway");
    let mut files: Vec<PathBuf> = ["shipway.db", "shipway.db-wal", "shipway.db-shm"]
        .iter()
        .map(|f| state.join(f))
        .filter(|p| p.exists())
        .collect();
    assert!(files.iter().any(|p| p.ends_with("shipway.db")), "no store at {}", state.display());
    for run in std::fs::read_dir(state.join("runs")).expect("runs dir").filter_map(Result::ok) {
        let logs = run.path().join("logs");
        files.extend(tree(&logs).into_iter().map(|rel| logs.join(rel)));
    }
    files
}

fn leaks(files: &[PathBuf], secrets: &[&str]) -> Vec<String> {
    let mut out = Vec::new();
    for f in files {
        let bytes = std::fs::read(f).unwrap_or_default();
        for s in secrets {
            if bytes.windows(s.len()).any(|w| w == s.as_bytes()) {
                out.push(format!("{s} in {}", f.display()));
            }
        }
    }
    out
}

#[test]
fn secret_values_do_not_change_keys_and_never_reach_the_store_or_logs() {
    let p = project(
        Test::new().file(
            CI,
            r#"
leak:
  variables:
    AUTH: "Bearer $TOKEN"
  script:
    - echo "token is $TOKEN"
    - echo "auth $AUTH"
"#,
        ),
        CI,
    );
    let repo = p.repo();
    let s1 = format!("TOKEN={SECRET_1}");
    let s2 = format!("TOKEN={SECRET_2}");
    let r1 = run_ok(&repo, &["--secret", &s1]);
    assert_eq!(r1.jobs(), statuses(&[("leak", "success")]));
    let log = log_of(&repo, r1.run_id(), "leak");
    assert!(log.contains("token is [MASKED]") && log.contains("auth Bearer [MASKED]"), "{log}");

    let r2 = run_ok(&repo, &["--secret", &s2]);
    assert_eq!(r2.jobs(), statuses(&[("leak", "cached")]), "the key must not depend on a secret's value");
    assert_eq!(r2.job("leak")["cached_from"], r1.run_id());

    // The second value in a job that really runs.
    let r3 = run_ok(&repo, &["--secret", &s2, "--no-cache"]);
    assert_eq!(r3.jobs(), statuses(&[("leak", "success")]));
    assert!(log_of(&repo, r3.run_id(), "leak").contains("token is [MASKED]"));

    // A plain variable's value does count.
    let r4 = run_ok(&repo, &["--secret", &s2, "--var", "MODE=other"]);
    assert_eq!(r4.jobs(), statuses(&[("leak", "success")]), "a pipeline variable's value is part of the key");

    for r in [&r1, &r2, &r3, &r4] {
        assert!(!r.stdout.contains("s3cr3t") && !r.stderr.contains("s3cr3t"), "secret in clear:\n{}", r.context());
    }
    let files = store_and_logs(&repo);
    assert!(files.len() >= 5, "expected the store and 4 logs: {files:?}");
    let found = leaks(&files, &[SECRET_1, SECRET_2]);
    assert!(found.is_empty(), "secret values in clear: {found:?}");
}

#[test]
fn a_secret_in_a_dotenv_report_is_not_written_to_the_store() {
    let p = project(
        Test::new().file(
            CI,
            r#"
stages: [a, b]
producer:
  stage: a
  script:
    - echo "FROM_SECRET=$TOKEN" > build.env
  artifacts:
    reports:
      dotenv: build.env
consumer:
  stage: b
  script:
    - test "$FROM_SECRET" = "$TOKEN"
    - echo "consumer got $FROM_SECRET"
"#,
        ),
        CI,
    );
    let repo = p.repo();
    let s1 = format!("TOKEN={SECRET_1}");
    let r1 = run_ok(&repo, &["--secret", &s1]);
    assert_eq!(r1.jobs(), statuses(&[("producer", "success"), ("consumer", "success")]));
    assert!(log_of(&repo, r1.run_id(), "consumer").contains("consumer got [MASKED]"));
    // Outputs holding a secret make a result not reusable...
    let r2 = run_ok(&repo, &["--secret", &s1]);
    assert_eq!(r2.jobs()["producer"], "success", "a result whose outputs hold a secret must not be reused");
    // ...and must not be stored in clear either.
    let found = leaks(&store_and_logs(&repo), &[SECRET_1]);
    assert!(found.is_empty(), "secret value in clear: {found:?}");
}

// 5. GitLab caches across jobs and runs.

const CACHES: &str = r#"
stages: [one, two, three]
writer:
  stage: one
  rules: [{if: '$PHASE == "1"'}]
  cache: {key: deps, paths: [vendor/], policy: push}
  script:
    - test ! -e vendor
    - mkdir -p vendor && echo original > vendor/lib.txt
modifier:
  stage: two
  rules: [{if: '$PHASE == "1"'}]
  cache: {key: deps, paths: [vendor/], policy: pull}
  script:
    - echo "modifier saw $(cat vendor/lib.txt)"
    - echo modified > vendor/lib.txt
later:
  stage: three
  rules: [{if: '$PHASE == "2"'}]
  cache: {key: deps, paths: [vendor/], policy: pull}
  script:
    - echo "later saw $(cat vendor/lib.txt)"
fallback:
  stage: three
  rules: [{if: '$PHASE == "2"'}]
  cache: {key: missing-key, fallback_keys: [deps], paths: [vendor/], policy: pull}
  script:
    - echo "fallback saw $(cat vendor/lib.txt)"
"#;

#[test]
fn gitlab_cache_push_then_pull_persists_across_runs_and_pull_never_writes_back() {
    let p = project(Test::new().file(CI, CACHES), CI);
    let repo = p.repo();
    let r1 = run_ok(&repo, &["--var", "PHASE=1"]);
    assert_eq!(r1.jobs(), statuses(&[("writer", "success"), ("modifier", "success")]));
    let log = log_of(&repo, r1.run_id(), "modifier");
    assert!(log.contains("modifier saw original"), "{log}");

    let entries = cache_entries(&repo);
    assert_eq!(entries.keys().collect::<Vec<_>>(), ["gitlab:deps"], "one entry, for key `deps`");
    let data = &entries["gitlab:deps"];
    assert_eq!(tree(data), ["vendor/lib.txt"]);
    assert_eq!(std::fs::read_to_string(data.join("vendor/lib.txt")).unwrap(), "original\n");
    assert!(!repo.join("vendor").exists(), "a cache must not land in the repository");

    let r2 = run_ok(&repo, &["--var", "PHASE=2"]);
    assert_eq!(r2.jobs(), statuses(&[("later", "success"), ("fallback", "success")]));
    let log = log_of(&repo, r2.run_id(), "later");
    assert!(log.contains("later saw original"), "a pull job's change was written back:\n{log}");
    let log = log_of(&repo, r2.run_id(), "fallback");
    assert!(log.contains("fallback saw original"), "{log}");
    assert!(log.contains("Restored cache `deps`"), "{log}");
    assert_eq!(cache_entries(&repo).keys().collect::<Vec<_>>(), ["gitlab:deps"], "pull jobs save nothing");
    assert_eq!(
        std::fs::read_to_string(cache_entries(&repo)["gitlab:deps"].join("vendor/lib.txt")).unwrap(),
        "original\n"
    );
}

#[test]
fn parallel_pull_push_jobs_on_one_key_leave_one_whole_version() {
    let t = Test::new();
    let sync = t.scratch();
    // Each racer waits for the other to start, so they hold the key at once.
    let racer = |me: &str, other: &str| {
        format!(
            r#"
racer-{me}:
  stage: race
  cache: {{key: shared, paths: [vendor/], policy: pull-push}}
  script:
    - touch "$SYNC/{me}"
    - for i in $(seq 300); do [ -f "$SYNC/{other}" ] && break; sleep 0.1; done
    - test -f "$SYNC/{other}"
    - mkdir -p vendor
    - echo {me} > vendor/a.txt
    - sleep 0.5
    - echo {me} > vendor/b.txt
"#
        )
    };
    let ci = format!(
        r#"
stages: [seed, race]
seed:
  stage: seed
  cache: {{key: shared, paths: [vendor/], policy: push}}
  script: [mkdir -p vendor, echo seed > vendor/a.txt, echo seed > vendor/b.txt]
{}{}"#,
        racer("one", "two"),
        racer("two", "one")
    );
    let p = project(t.file(CI, ci), CI);
    let repo = p.repo();
    let var = format!("SYNC={}", sync.display());
    let r = run_ok(&repo, &["--parallel", "4", "--var", &var]);
    assert_eq!(r.jobs(), statuses(&[("seed", "success"), ("racer-one", "success"), ("racer-two", "success")]));
    let entries = cache_entries(&repo);
    assert_eq!(entries.keys().collect::<Vec<_>>(), ["gitlab:shared"]);
    let data = &entries["gitlab:shared"];
    assert_eq!(tree(data), ["vendor/a.txt", "vendor/b.txt"], "the entry is incomplete");
    let a = std::fs::read_to_string(data.join("vendor/a.txt")).unwrap();
    let b = std::fs::read_to_string(data.join("vendor/b.txt")).unwrap();
    assert_eq!(a, b, "the entry mixes two jobs' versions");
    assert!(a == "one\n" || a == "two\n", "the entry is neither racer's version: {a:?}");
    assert!(cache_entries(&repo).len() == 1 && tree(&repo.join(".shipway/cache/tmp")).is_empty(), "leftovers");
}

// 6. Paths that leave the workspace.

#[test]
fn artifact_and_cache_paths_outside_the_workspace_are_invalid_input() {
    let out = Test::new()
        .file(
            CI,
            r#"
up:
  script: [echo hi]
  artifacts:
    paths: [../x]
abs:
  script: [echo hi]
  cache:
    paths: [/etc]
"#,
        )
        .args(["run", "--json"])
        .run();
    out.assert_code(2);
    assert_eq!(out.status(), "invalid");
    for (line, path) in [("5:13", "../x"), ("9:13", "/etc")] {
        let prefix = format!(".gitlab-ci.yml:{line}: ");
        assert!(
            out.stderr.lines().any(|l| l.starts_with(&prefix) && l.contains(&format!("`{path}`"))),
            "no `{prefix}` message about `{path}` on stderr:\n{}",
            out.stderr
        );
    }
    let diags = out.json()["diagnostics"].as_array().cloned().unwrap_or_default();
    let at: Vec<(u64, u64)> = diags
        .iter()
        .filter(|d| d["rule"] == "path-outside-workspace")
        .map(|d| (d["line"].as_u64().unwrap_or(0), d["col"].as_u64().unwrap_or(0)))
        .collect();
    assert_eq!(at, [(5, 13), (9, 13)], "{diags:?}");
    assert!(!out.repo().join(".shipway/runs").exists(), "nothing may run on invalid input");
}

/// A job that links the filesystem root into its workspace and names it in
/// its artifact (and cache) paths.
fn root_link_pipeline(artifact_path: &str) -> String {
    format!(
        r#"
linker:
  script:
    - ln -s / rootlink
    - mkdir -p out && echo ok > out/ok.txt
  artifacts:
    paths: ["{artifact_path}", out/]
  cache:
    key: escape
    paths: [rootlink/]
"#
    )
}

/// Run `root_link_pipeline(path)`: the stored artifacts must be exactly
/// `out/ok.txt`; returns the job log.
fn assert_root_link_stays_out(artifact_path: &str) -> (Outcome, String) {
    let out = Test::new().file(CI, root_link_pipeline(artifact_path)).args(["run", "--json"]).run();
    out.assert_code(0);
    assert_eq!(out.job_status("linker"), "success");
    let stored = out.logs_dir().parent().expect("run dir").join("artifacts");
    let files = tree(&stored);
    assert_eq!(files, ["000/out/ok.txt"], "artifacts of `{artifact_path}` hold more than out/ok.txt");
    assert!(cache_entries(&out.repo()).is_empty(), "a cache of a symlink to / was saved");
    let log = out.log("linker");
    (out, log)
}

#[test]
fn a_symlink_to_root_listed_in_artifact_paths_is_not_followed_and_the_log_says_why() {
    let (_, log) = assert_root_link_stays_out("rootlink/");
    assert!(
        log.lines().any(|l| l.contains("rootlink") && l.contains("outside the workspace")),
        "the log does not say why rootlink/ was left out:\n{log}"
    );
    assert!(
        log.lines().any(|l| l.starts_with("ERROR: .gitlab-ci.yml:") && l.contains("rootlink") && l.contains("outside")),
        "the log does not say why the cache was not saved:\n{log}"
    );
}

#[test]
fn a_path_through_a_symlink_to_root_is_not_stored_and_the_log_says_why() {
    let (_, log) = assert_root_link_stays_out("rootlink/etc/passwd");
    assert!(
        log.lines().any(|l| l.contains("rootlink/etc/passwd")),
        "the log does not say why rootlink/etc/passwd was not stored:\n{log}"
    );
}

#[test]
fn the_artifact_file_count_is_the_number_of_files_stored() {
    let (out, log) = assert_root_link_stays_out("rootlink/");
    assert!(log.contains("Uploading artifacts: 1 files"), "one file was stored:\n{log}");
    let arts = shipway(&out.repo(), &["runs", "artifacts", "last", "--json"]);
    arts.assert_code(0);
    assert_eq!(arts.json()["artifacts"][0]["files"], 1, "{}", arts.stdout);
}

// 7. A run whose process died.

/// The process group of `pid`, from `/proc/<pid>/stat`.
fn pgid_of(pid: u32) -> u32 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("read /proc/<pid>/stat");
    // pid (comm) state ppid pgrp ...; comm may hold spaces and parentheses.
    let rest = &stat[stat.rfind(')').expect("comm") + 1..];
    rest.split_whitespace().nth(2).and_then(|s| s.parse().ok()).expect("pgrp field")
}

#[test]
fn a_killed_run_is_marked_interrupted_at_the_next_start_and_keeps_its_logs() {
    let token = unique_sleep_arg();
    let mut running = Test::new()
        .file(
            CI,
            format!(
                r#"
sleeper:
  script:
    - echo "first line $((40 + 2))"
    - sleep {token}
"#
            ),
        )
        .args(["run", "--json"])
        .spawn();
    running.wait_for_log("first line 42");
    assert!(wait_until(|| !processes_with(&token).is_empty()), "the job's `sleep {token}` never showed up");
    let job_pid: u32 = processes_with(&token)[0].split(':').next().and_then(|p| p.parse().ok()).expect("pid");
    let group = pgid_of(job_pid);
    assert_ne!(group, pgid_of(running.pid()), "the job must run in a process group of its own");

    let kill = |target: &str| {
        let ok = Command::new("kill").args(["-KILL", "--", target]).status().expect("run kill(1)").success();
        assert!(ok, "kill -KILL {target} failed");
    };
    kill(&running.pid().to_string());
    kill(&format!("-{group}"));
    let out = running.finish();
    assert_eq!(out.code, -9, "shipway should have died of SIGKILL");
    assert!(wait_until(|| processes_with(&token).is_empty()), "the job outlived kill -9 of its group");
    let leftovers = kill_leftovers(&token);
    assert!(leftovers.is_empty(), "{leftovers:?}");

    let repo = out.repo();
    let ids: Vec<String> = std::fs::read_dir(repo.join(".shipway/runs"))
        .expect("runs dir")
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(ids, ["1"]);
    let show = shipway(&repo, &["runs", "show", "1", "--json"]);
    show.assert_code(0);
    let v = show.json();
    assert_eq!(v["status"], "interrupted", "{}", show.stdout);
    assert_eq!(v["jobs"][0]["name"], "sleeper");
    assert_eq!(v["jobs"][0]["status"], "interrupted", "{}", show.stdout);
    let ended =
        v["ended_ms"].as_i64().unwrap_or_else(|| panic!("an interrupted run gets an end time: {}", show.stdout));
    // Its end is the last sign of life: the log line written after the job
    // started, not just the job's start.
    let log_written = std::fs::read_dir(run_dir(&repo, 1).join("logs"))
        .expect("logs dir")
        .filter_map(Result::ok)
        .filter_map(|e| e.metadata().ok()?.modified().ok())
        .map(|t| t.duration_since(std::time::UNIX_EPOCH).expect("after 1970").as_millis() as i64)
        .max()
        .expect("a log file");
    assert!(ended >= log_written, "ended_ms {ended} is before the last log write {log_written}");

    let logs = shipway(&repo, &["runs", "logs", "1"]);
    logs.assert_code(0);
    assert!(logs.stdout.lines().any(|l| l == "first line 42"), "{}", logs.context());

    let list = shipway(&repo, &["runs", "list", "--json"]);
    list.assert_code(0);
    assert_eq!(list.json()["runs"][0]["status"], "interrupted");

    // The dead run's workspace is left over; gc removes it.
    let slot = repo.join(".shipway/ws/0");
    assert!(slot.exists(), "expected the killed job's workspace slot to be left over");
    let gc = shipway(&repo, &["gc", "--json"]);
    gc.assert_code(0);
    assert_eq!(gc.json()["workspaces"]["deleted"], 1, "{}", gc.stdout);
    assert!(!slot.exists());
    assert!(run_dir(&repo, 1).join("logs").exists(), "gc must keep recent logs");
}

// 8. `shipway runs` and `shipway gc`.

const STORE: &str = r#"
short:
  script: [mkdir -p s, echo short > s/short.txt]
  cache: {key: k1, paths: [s/]}
  artifacts:
    paths: [s/]
    expire_in: 1 sec
long:
  script: [mkdir -p l, echo long > l/long.txt, echo more > l/more.txt]
  artifacts:
    paths: [l/]
"#;

fn by_job(list: &Value) -> BTreeMap<String, Value> {
    list.as_array()
        .into_iter()
        .flatten()
        .map(|a| (a["job"].as_str().or(a["name"].as_str()).unwrap_or("?").to_string(), a.clone()))
        .collect()
}

#[test]
fn runs_commands_print_runs_jobs_logs_and_artifacts_as_json() {
    let t = Test::new();
    let x = t.scratch().join("x");
    let p = project(t.file(CI, STORE), CI);
    let repo = p.repo();
    let r1 = run_ok(&repo, &[]);
    let r2 = run_ok(&repo, &[]);
    assert_eq!(r2.jobs(), statuses(&[("short", "cached"), ("long", "cached")]));
    let (id1, id2) = (r1.run_id() as i64, r2.run_id() as i64);

    let list = shipway(&repo, &["runs", "list", "--json"]);
    list.assert_code(0);
    let runs = list.json()["runs"].clone();
    let summary: Vec<Value> = runs
        .as_array()
        .expect("runs array")
        .iter()
        .map(|r| json!([r["id"], r["status"], r["jobs"], r["cached"]]))
        .collect();
    assert_eq!(summary, [json!([id2, "success", 2, 2]), json!([id1, "success", 2, 0])], "newest first");
    assert_eq!(runs[0]["pipeline"], CI);
    assert_eq!(runs[0]["ref"], "main");
    assert_eq!(runs[0]["event"], "push");
    assert!(runs[0]["duration_ms"].as_i64().is_some_and(|d| d >= 0));

    let show = shipway(&repo, &["runs", "show", "last", "--json"]);
    show.assert_code(0);
    let v = show.json();
    assert_eq!(v["id"], id2);
    let shown = by_job(&v["jobs"]);
    let first = shipway(&repo, &["runs", "show", &id1.to_string(), "--json"]).json();
    let first_jobs = by_job(&first["jobs"]);
    for name in ["short", "long"] {
        let j = &shown[name];
        assert_eq!(json!([j["status"], j["cached"], j["cached_from"]]), json!(["cached", true, id1]), "{name}");
        let key = first_jobs[name]["key"].as_str().expect("a successful job has a key");
        assert_eq!(key.len(), 64, "a SHA-256 in hex: {key}");
        assert!(key.chars().all(|c| c.is_ascii_hexdigit()));
        assert_eq!(j["key"], key, "a cached job keeps the key it matched");
        assert_eq!(first_jobs[name]["cached"], false);
        assert_eq!(first_jobs[name]["exit_code"], 0);
    }

    let logs = shipway(&repo, &["runs", "logs", &id1.to_string(), "long", "--json"]);
    logs.assert_code(0);
    let v = logs.json();
    assert_eq!(v["run"], id1);
    assert_eq!(v["logs"].as_array().map(Vec::len), Some(1));
    assert_eq!(json!([v["logs"][0]["job"], v["logs"][0]["status"]]), json!(["long", "success"]));
    let text = v["logs"][0]["log"].as_str().unwrap_or("");
    assert!(text.contains("Uploading artifacts: 2 files, 10 bytes"), "{text}");
    let all = shipway(&repo, &["runs", "logs", "last"]);
    all.assert_code(0);
    assert!(
        all.stdout.contains("==> short (cached) <==") && all.stdout.contains("==> long (cached) <=="),
        "{}",
        all.stdout
    );
    let follow = shipway(&repo, &["runs", "logs", "last", "long", "--follow"]);
    follow.assert_code(0);
    assert!(follow.stdout.contains("Uploading artifacts: 2 files"), "--follow of a finished run: {}", follow.stdout);

    let x_s = x.to_string_lossy().into_owned();
    let arts = shipway(&repo, &["runs", "artifacts", &id1.to_string(), "--json", "--extract", &x_s]);
    arts.assert_code(0);
    let v = arts.json();
    assert_eq!(v["run"], id1);
    let a = by_job(&v["artifacts"]);
    assert_eq!(a.keys().collect::<Vec<_>>(), ["long", "short"]);
    assert_eq!(json!([a["long"]["files"], a["long"]["bytes"], a["long"]["available"]]), json!([2, 10, true]));
    assert_eq!(json!([a["short"]["files"], a["short"]["bytes"], a["short"]["available"]]), json!([1, 6, true]));
    let (created, expire) = (a["short"]["created_ms"].as_i64().unwrap(), a["short"]["expire_ms"].as_i64().unwrap());
    assert_eq!(expire - created, 1000, "expire_in: 1 sec");
    assert_eq!(a["long"]["extracted_to"], x.join("long").to_string_lossy().as_ref());
    assert_eq!(tree(&x), ["long/l/long.txt", "long/l/more.txt", "short/s/short.txt"]);
    assert_eq!(std::fs::read_to_string(x.join("long/l/more.txt")).unwrap(), "more\n");

    let only = shipway(&repo, &["runs", "artifacts", &id1.to_string(), "--job", "long", "--json"]);
    only.assert_code(0);
    assert_eq!(by_job(&only.json()["artifacts"]).keys().collect::<Vec<_>>(), ["long"]);

    let bad = shipway(&repo, &["runs", "show", "99", "--json"]);
    bad.assert_code(2);
}

#[test]
fn gc_deletes_expired_artifacts_and_cache_entries_over_the_budget() {
    let t = Test::new();
    let y = t.scratch().join("y");
    let p = project(t.file(CI, STORE), CI);
    let repo = p.repo();
    let r1 = run_ok(&repo, &[]);
    assert_eq!(r1.jobs(), statuses(&[("short", "success"), ("long", "success")]));
    let id1 = r1.run_id().to_string();
    let cache = cache_entries(&repo);
    assert_eq!(cache.keys().collect::<Vec<_>>(), ["gitlab:k1"]);
    let short_dir = run_dir(&repo, r1.run_id()).join("artifacts").join("000");
    let long_dir = run_dir(&repo, r1.run_id()).join("artifacts").join("001");
    assert_eq!(tree(&short_dir), ["s/short.txt"]);
    assert_eq!(tree(&long_dir), ["l/long.txt", "l/more.txt"]);

    std::thread::sleep(std::time::Duration::from_millis(2200));
    let dry = shipway(&repo, &["gc", "--json", "--dry-run", "--cache-budget", "1"]);
    dry.assert_code(0);
    let d = dry.json();
    assert_eq!(json!([d["artifacts"]["deleted"], d["artifacts"]["bytes"]]), json!([1, 6]), "{}", dry.stdout);
    assert_eq!(d["dry_run"], true);
    assert!(short_dir.join("s/short.txt").exists(), "--dry-run deleted an artifact");
    assert_eq!(cache_entries(&repo).len(), 1, "--dry-run deleted a cache entry");

    let gc = shipway(&repo, &["gc", "--json", "--cache-budget", "1"]);
    gc.assert_code(0);
    let g = gc.json();
    assert_eq!(json!([g["artifacts"]["deleted"], g["artifacts"]["bytes"]]), json!([1, 6]), "{}", gc.stdout);
    assert_eq!(json!([g["cache"]["deleted"], g["cache"]["bytes"], g["cache"]["kept_bytes"]]), json!([1, 6, 0]));
    assert_eq!(g["cache"]["budget"], 1);
    let parts: i64 =
        ["artifacts", "logs", "workspaces", "cache"].iter().map(|k| g[k]["bytes"].as_i64().unwrap_or(0)).sum();
    assert_eq!(g["freed_bytes"], parts, "{}", gc.stdout);
    assert_eq!(g["freed_bytes"], 12);
    assert_eq!(d["freed_bytes"], g["freed_bytes"], "--dry-run reports what gc frees");
    assert!(!short_dir.exists(), "the expired artifact is still on disk");
    assert_eq!(tree(&long_dir), ["l/long.txt", "l/more.txt"], "an unexpired artifact was deleted");
    assert!(cache_entries(&repo).is_empty(), "cache entries over the budget are left");

    let arts = shipway(&repo, &["runs", "artifacts", &id1, "--json", "--extract", &y.to_string_lossy()]);
    arts.assert_code(0);
    let a = by_job(&arts.json()["artifacts"]);
    assert_eq!(json!([a["short"]["available"], a["long"]["available"]]), json!([false, true]));
    assert_eq!(tree(&y), ["long/l/long.txt", "long/l/more.txt"], "only available artifacts are extracted");

    // Nothing left to do.
    let again = shipway(&repo, &["gc", "--json", "--cache-budget", "1"]);
    assert_eq!(again.json()["freed_bytes"], 0, "{}", again.stdout);

    // A result whose artifacts are gone cannot be replayed.
    let r2 = run_ok(&repo, &[]);
    assert_eq!(r2.jobs(), statuses(&[("short", "success"), ("long", "cached")]));
}
