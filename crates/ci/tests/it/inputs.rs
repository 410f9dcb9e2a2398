//! Declared input files (`Job::inputs`, `InputSpec::matches`,
//! `Job::input_files`), the opt-out of skipping (`Job::skippable`) and the
//! static path-safety errors (`path-outside-workspace`), through both front
//! ends.

use crate::gh_support::{MemProject, context};
use ci::gitlab::Compiled;
use ci::model::{InputSpec, Job, PatternSyntax};

fn spec(syntax: PatternSyntax, include: &[&str], exclude: &[&str]) -> InputSpec {
    InputSpec {
        include: include.iter().map(|s| s.to_string()).collect(),
        exclude: exclude.iter().map(|s| s.to_string()).collect(),
        syntax,
    }
}

fn gitlab(yaml: &str) -> Compiled {
    gitlab_with(yaml, &[], None)
}

/// With pipeline variables and, when known, the changed files.
fn gitlab_with(yaml: &str, vars: &[(&str, &str)], changed: Option<&[&str]>) -> Compiled {
    let mut project = MemProject::new([(".gitlab-ci.yml", yaml)]);
    project.changed = changed.map(strings);
    let mut ctx = context();
    ctx.config_path = ".gitlab-ci.yml".into();
    ctx.pipeline_vars = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    ci::gitlab::compile(".gitlab-ci.yml", &project, &ctx)
}

fn github(yaml: &str, event: &str, extra: &[(&str, &str)]) -> Compiled {
    let path = ".github/workflows/ci.yml";
    let project = MemProject::new([(path, yaml)].into_iter().chain(extra.iter().copied()));
    let mut ctx = context();
    ctx.source = event.into();
    ci::github::compile(path, &project, &ctx)
}

fn job<'c>(c: &'c Compiled, name: &str) -> &'c Job {
    let p = c.pipeline.as_ref().unwrap_or_else(|| panic!("no pipeline: {:?}", c.diagnostics));
    p.jobs.iter().find(|j| j.name == name).unwrap_or_else(|| panic!("no job {name}"))
}

fn errors(c: &Compiled) -> Vec<String> {
    c.diagnostics
        .iter()
        .filter(|d| d.is_error())
        .map(|d| format!("{}:{} {} {}", d.pos.line, d.pos.col, d.rule, d.message))
        .collect()
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

// --- The selector ---------------------------------------------------------

#[test]
fn gitlab_spec_matches_with_fnmatch() {
    let s = spec(PatternSyntax::GitLab, &["src/**/*.rs", "/Cargo.toml", "*.{md,txt}"], &["src/gen/**/*"]);
    assert!(s.matches("src/main.rs"));
    assert!(s.matches("src/a/b/lib.rs"));
    // A leading `/` is the project root, as in `rules:changes`.
    assert!(s.matches("Cargo.toml"));
    assert!(s.matches("README.md") && s.matches("notes.txt"));
    // `*` stays within one directory.
    assert!(!s.matches("docs/README.md"));
    assert!(!s.matches("src/main.c"));
    // `exclude` wins over `include`.
    assert!(!s.matches("src/gen/out.rs"));
}

#[test]
fn github_spec_applies_patterns_in_order() {
    let s = spec(PatternSyntax::GitHub, &["src/**", "!src/**/*.md", "src/keep/*.md"], &[]);
    assert!(s.matches("src/a/b.rs"));
    assert!(!s.matches("src/a/NOTES.md"));
    // A later positive pattern selects again what a negation dropped.
    assert!(s.matches("src/keep/x.md"));
    assert!(!s.matches("Cargo.toml"));
    // `*` does not cross `/`, `**` does.
    let s = spec(PatternSyntax::GitHub, &["*.toml"], &[]);
    assert!(s.matches("Cargo.toml") && !s.matches("crates/a/Cargo.toml"));
}

#[test]
fn empty_include_selects_every_file_but_the_excluded_ones() {
    let s = spec(PatternSyntax::GitHub, &[], &["docs/**", "**.md"]);
    assert!(s.matches("src/main.rs"));
    assert!(!s.matches("docs/guide/a.txt"));
    assert!(!s.matches("src/README.md"));
    let s = spec(PatternSyntax::GitLab, &[], &["docs/**/*"]);
    assert!(s.matches("src/main.rs") && !s.matches("docs/a/b"));
}

#[test]
fn invalid_github_patterns_widen_the_selection() {
    // The front end rejects these; a hand-made spec errs on the side of
    // more inputs: a bad include selects everything, a bad exclude nothing.
    let s = spec(PatternSyntax::GitHub, &["[unclosed"], &["+bad"]);
    assert!(s.matches("anything/at/all"));
    let s = spec(PatternSyntax::GitHub, &["src/**", "![bad"], &[]);
    assert!(s.matches("src/x") && !s.matches("other"));
}

#[test]
fn input_files_keeps_order_and_defaults_to_every_file() {
    let c = gitlab("a:\n  script: x\n  rules:\n    - changes: [\"src/*\"]\nb:\n  script: y\n");
    let files = strings(&["Cargo.toml", "src/b.rs", "docs/x.md", "src/a.rs"]);
    assert_eq!(job(&c, "a").input_files(&files), vec!["src/b.rs", "src/a.rs"]);
    assert_eq!(job(&c, "b").input_files(&files), vec!["Cargo.toml", "src/b.rs", "docs/x.md", "src/a.rs"]);
}

// --- GitLab inputs --------------------------------------------------------

#[test]
fn gitlab_inputs_are_the_union_of_rule_changes() {
    let c = gitlab(
        r#"
variables:
  DIR: lib
build:
  script: make
  rules:
    - if: $CI_COMMIT_TAG
    - changes: ["src/**/*", Cargo.toml]
    - changes:
        paths: ["$DIR/**/*", Cargo.toml]
        compare_to: main
plain:
  script: make
"#,
    );
    let inputs = job(&c, "build").inputs.clone().expect("narrowed");
    assert_eq!(inputs.include, strings(&["src/**/*", "Cargo.toml", "lib/**/*"]));
    assert!(inputs.exclude.is_empty());
    assert_eq!(inputs.syntax, PatternSyntax::GitLab);
    assert_eq!(job(&c, "plain").inputs, None);
}

#[test]
fn gitlab_inputs_expand_job_and_matrix_variables() {
    let c = gitlab(
        r#"
pkg:
  script: make
  variables:
    ROOT: packages
  parallel:
    matrix:
      - PKG: [core, cli]
  rules:
    - changes: ["$ROOT/${PKG}/**/*", "$UNKNOWN/x"]
"#,
    );
    let core = job(&c, "pkg: [core]").inputs.clone().expect("narrowed");
    assert_eq!(core.include, strings(&["packages/core/**/*", "$UNKNOWN/x"]));
    let cli = job(&c, "pkg: [cli]").inputs.clone().expect("narrowed");
    assert_eq!(cli.include[0], "packages/cli/**/*");
}

#[test]
fn gitlab_only_changes_and_cache_key_files() {
    let c = gitlab_with(
        r#"
test:
  script: make
  only:
    changes: [src/**/*]
  cache:
    - key:
        files: [Cargo.lock, rust-toolchain.toml]
      paths: [target]
    - key: plain
      paths: [vendor]
except_only:
  script: make
  except:
    changes: [docs/**/*]
cache_only:
  script: make
  cache:
    key:
      files: [Cargo.lock]
    paths: [target]
"#,
        &[],
        Some(&["src/main.rs"]),
    );
    let inputs = job(&c, "test").inputs.clone().expect("narrowed");
    assert_eq!(inputs.include, strings(&["src/**/*", "Cargo.lock", "rust-toolchain.toml"]));
    // `except:changes` and cache key files alone do not narrow.
    assert_eq!(job(&c, "except_only").inputs, None);
    assert_eq!(job(&c, "cache_only").inputs, None);
}

#[test]
fn gitlab_changes_without_patterns_do_not_narrow() {
    let c = gitlab("a:\n  script: x\n  rules:\n    - changes: []\n    - when: always\n");
    assert_eq!(job(&c, "a").inputs, None);
}

// --- GitLab skipping ------------------------------------------------------

#[test]
fn gitlab_shipway_cache_false_through_extends_and_default() {
    let c = gitlab(
        r#"
default:
  shipway:
    cache: false
.always_cached:
  shipway: {cache: true}
from_default:
  script: x
overridden:
  extends: .always_cached
  script: x
not_inherited:
  inherit:
    default: false
  script: x
own:
  inherit:
    default: false
  shipway: {cache: false}
  script: x
"#,
    );
    assert!(errors(&c).is_empty(), "{:?}", errors(&c));
    assert!(!job(&c, "from_default").skippable);
    assert!(job(&c, "overridden").skippable);
    assert!(job(&c, "not_inherited").skippable);
    assert!(!job(&c, "own").skippable);
}

#[test]
fn gitlab_shipway_is_validated() {
    let c = gitlab(
        "a:\n  script: x\n  shipway:\n    cahce: false\nb:\n  script: x\n  shipway: false\nc:\n  script: x\n  shipway:\n    cache: \"no\"\n",
    );
    let unknown = c.diagnostics.iter().find(|d| d.rule == "unknown-key").expect("unknown-key");
    assert_eq!((unknown.pos.line, unknown.pos.col), (4, 5));
    assert_eq!(unknown.help.as_deref(), Some("did you mean `cache`?"));
    let wrong: Vec<(u32, u32)> =
        c.diagnostics.iter().filter(|d| d.rule == "wrong-type").map(|d| (d.pos.line, d.pos.col)).collect();
    assert_eq!(wrong, vec![(7, 12), (11, 12)]);
}

#[test]
fn gitlab_shipway_no_skip_variable() {
    let yaml = r#"
variables:
  GLOBAL: "1"
set:
  script: x
  variables:
    SHIPWAY_NO_SKIP: "yes"
zero:
  script: x
  variables:
    SHIPWAY_NO_SKIP: "0"
false_:
  script: x
  variables:
    SHIPWAY_NO_SKIP: "FALSE"
empty:
  script: x
  variables:
    SHIPWAY_NO_SKIP: ""
expanded:
  script: x
  variables:
    SHIPWAY_NO_SKIP: $GLOBAL
by_rule:
  script: x
  rules:
    - variables:
        SHIPWAY_NO_SKIP: "true"
"#;
    let c = gitlab(yaml);
    assert!(errors(&c).is_empty(), "{:?}", errors(&c));
    assert!(!job(&c, "set").skippable);
    assert!(job(&c, "zero").skippable);
    assert!(job(&c, "false_").skippable);
    assert!(job(&c, "empty").skippable);
    assert!(!job(&c, "expanded").skippable);
    assert!(!job(&c, "by_rule").skippable);
    // A pipeline variable (`--var`) reaches every job.
    let c = gitlab_with("a:\n  script: x\n", &[("SHIPWAY_NO_SKIP", "1")], None);
    assert!(!job(&c, "a").skippable);
    let c = gitlab_with("a:\n  script: x\n", &[], None);
    assert!(job(&c, "a").skippable);
}

// --- GitLab paths ---------------------------------------------------------

#[test]
fn gitlab_paths_outside_the_workspace_are_errors() {
    let c = gitlab(
        r#"
a:
  script: x
  artifacts:
    paths: [../x, build/, /abs/out]
    exclude: ["a/../../x"]
    reports:
      dotenv: /tmp/build.env
      junit: [report.xml, ../junit.xml]
  cache:
    key:
      files: [../Cargo.lock]
    paths: ["${CI_PROJECT_DIR}/../x", "$CI_PROJECT_DIR/target", $HOME/../../cache, "a/../b"]
"#,
    );
    let got: Vec<String> = c
        .diagnostics
        .iter()
        .map(|d| {
            assert_eq!(d.rule, "path-outside-workspace");
            assert!(d.is_error());
            format!("{}:{} {}", d.pos.line, d.pos.col, d.message)
        })
        .collect();
    assert_eq!(
        got,
        vec![
            "5:13 artifacts path `../x` is outside the job workspace",
            "5:27 artifacts path `/abs/out` is outside the job workspace",
            "6:15 artifacts exclude path `a/../../x` is outside the job workspace",
            "8:15 dotenv report path `/tmp/build.env` is outside the job workspace",
            "9:27 junit report path `../junit.xml` is outside the job workspace",
            "12:15 cache key file `../Cargo.lock` is outside the job workspace",
            "13:13 cache path `${CI_PROJECT_DIR}/../x` is outside the job workspace",
        ]
    );
}

#[test]
fn gitlab_paths_are_checked_in_templates_once() {
    // Two jobs extend one template: one error, at the template's path.
    let c =
        gitlab(".t:\n  cache:\n    paths: [/cache]\na:\n  extends: .t\n  script: x\nb:\n  extends: .t\n  script: x\n");
    assert_eq!(errors(&c), vec!["3:13 path-outside-workspace cache path `/cache` is outside the job workspace"]);
}

// --- GitHub inputs --------------------------------------------------------

const PATHS_WORKFLOW: &str = r#"
on:
  push:
    paths: ["src/**", "!src/**/*.md", Cargo.toml]
  pull_request:
    paths-ignore: ["docs/**"]
  workflow_dispatch:
jobs:
  a:
    runs-on: ubuntu-latest
    steps:
      - run: make
  b:
    runs-on: ubuntu-latest
    steps:
      - run: make
"#;

#[test]
fn github_inputs_follow_the_triggering_event() {
    let c = github(PATHS_WORKFLOW, "push", &[]);
    let want = spec(PatternSyntax::GitHub, &["src/**", "!src/**/*.md", "Cargo.toml"], &[]);
    assert_eq!(job(&c, "a").inputs.as_ref(), Some(&want));
    assert_eq!(job(&c, "b").inputs.as_ref(), Some(&want));
    let c = github(PATHS_WORKFLOW, "pull_request", &[]);
    assert_eq!(job(&c, "a").inputs.as_ref(), Some(&spec(PatternSyntax::GitHub, &[], &["docs/**"])));
    // `workflow_dispatch` has no path filters: every file.
    let c = github(PATHS_WORKFLOW, "workflow_dispatch", &[]);
    assert_eq!(job(&c, "a").inputs, None);
    let files = strings(&["src/a.rs", "src/d/NOTES.md", "Cargo.toml", "docs/x"]);
    let c = github(PATHS_WORKFLOW, "push", &[]);
    assert_eq!(job(&c, "a").input_files(&files), vec!["src/a.rs", "Cargo.toml"]);
}

const CALLED: &str = r#"
on:
  workflow_call:
  push:
    paths: [called-only/**]
env:
  SHIPWAY_NO_SKIP: ${{ github.sha }}
jobs:
  inner:
    runs-on: ubuntu-latest
    steps:
      - run: make
  inner_no_skip:
    runs-on: ubuntu-latest
    env:
      SHIPWAY_NO_SKIP: 1
    steps:
      - run: make
"#;

#[test]
fn github_called_jobs_inherit_the_callers_spec() {
    let caller = r#"
on:
  push:
    paths: ["lib/**"]
jobs:
  call:
    uses: ./.github/workflows/called.yml
  call_no_cache:
    uses: ./.github/workflows/called.yml
    shipway:
      cache: false
"#;
    let c = github(caller, "push", &[(".github/workflows/called.yml", CALLED)]);
    assert!(errors(&c).is_empty(), "{:?}", errors(&c));
    let want = spec(PatternSyntax::GitHub, &["lib/**"], &[]);
    for name in ["call / inner", "call / inner_no_skip", "call_no_cache / inner", "call_no_cache / inner_no_skip"] {
        assert_eq!(job(&c, name).inputs.as_ref(), Some(&want), "{name}");
    }
    // An expression does not count; a literal in the called job's env does;
    // the caller's `shipway: {cache: false}` reaches every called job.
    assert!(job(&c, "call / inner").skippable);
    assert!(!job(&c, "call / inner_no_skip").skippable);
    assert!(!job(&c, "call_no_cache / inner").skippable);
    assert!(!job(&c, "call_no_cache / inner_no_skip").skippable);
}

// --- GitHub skipping ------------------------------------------------------

#[test]
fn github_shipway_and_no_skip_env() {
    let yaml = r#"
on: push
env:
  SHIPWAY_NO_SKIP: "false"
jobs:
  plain:
    runs-on: ubuntu-latest
    steps: [{run: make}]
  opted_out:
    runs-on: ubuntu-latest
    shipway: {cache: false}
    steps: [{run: make}]
  kept:
    runs-on: ubuntu-latest
    shipway: {cache: true}
    steps: [{run: make}]
  env_true:
    runs-on: ubuntu-latest
    env:
      SHIPWAY_NO_SKIP: true
    steps: [{run: make}]
  env_zero:
    runs-on: ubuntu-latest
    env:
      SHIPWAY_NO_SKIP: 0
    steps: [{run: make}]
  env_expr:
    runs-on: ubuntu-latest
    env:
      SHIPWAY_NO_SKIP: ${{ github.ref_name }}
    steps: [{run: make}]
  env_call:
    runs-on: ubuntu-latest
    env:
      SHIPWAY_NO_SKIP: ${{ format('{0}', 'on') }}
    steps: [{run: make}]
"#;
    let c = github(yaml, "push", &[]);
    assert!(errors(&c).is_empty(), "{:?}", errors(&c));
    assert!(job(&c, "plain").skippable);
    assert!(!job(&c, "opted_out").skippable);
    assert!(job(&c, "kept").skippable);
    assert!(!job(&c, "env_true").skippable);
    assert!(job(&c, "env_zero").skippable);
    assert!(job(&c, "env_expr").skippable);
    assert!(job(&c, "env_call").skippable, "only literal values count");
    // The workflow's env reaches every job.
    let c = github(&yaml.replace("\"false\"", "on"), "push", &[]);
    assert!(!job(&c, "plain").skippable);
    assert!(job(&c, "env_zero").skippable, "the job's own env wins");
}

#[test]
fn github_shipway_is_validated() {
    let yaml = r#"
on: push
jobs:
  a:
    runs-on: ubuntu-latest
    shipway:
      cach: false
    steps: [{run: make}]
  b:
    runs-on: ubuntu-latest
    shipway: off
    steps: [{run: make}]
  c:
    runs-on: ubuntu-latest
    shipway: {cache: "false"}
    steps: [{run: make}]
"#;
    let c = github(yaml, "push", &[]);
    let got: Vec<String> = c.diagnostics.iter().map(|d| format!("{}:{} {}", d.pos.line, d.pos.col, d.rule)).collect();
    assert_eq!(got, vec!["7:7 unknown-key", "11:14 wrong-type", "15:22 wrong-type"]);
    assert_eq!(c.diagnostics[0].help.as_deref(), Some("did you mean `cache`?"));
}

// --- GitHub paths ---------------------------------------------------------

#[test]
fn github_paths_outside_the_workspace_are_errors() {
    let yaml = r#"
on: push
defaults:
  run:
    working-directory: ../elsewhere
jobs:
  a:
    runs-on: ubuntu-latest
    defaults:
      run:
        working-directory: /srv
    steps:
      - run: make
        working-directory: sub/../..
      - run: make
        working-directory: ${{ github.workspace }}/../../x
      - uses: actions/cache@v4
        with:
          key: k
          path: |
            ~/.cargo/registry
            ~/../../shared
            target
            !../secret
            /var/cache
      - uses: actions/cache/save@v4
        with:
          key: k
          path: $HOME/../../x
      - uses: actions/upload-artifact@v4
        with:
          path: |
            out
            ~/../../x
      - uses: actions/download-artifact@v4
        with:
          path: ./a/../../b
      - uses: someone/else@v1
        with:
          path: /anything
"#;
    let c = github(yaml, "push", &[]);
    let got: Vec<String> = c
        .diagnostics
        .iter()
        .map(|d| {
            assert_eq!(d.rule, "path-outside-workspace");
            format!("{}:{} {}", d.pos.line, d.pos.col, d.message)
        })
        .collect();
    assert_eq!(
        got,
        vec![
            "5:24 defaults.run.working-directory `../elsewhere` is outside the job workspace",
            "11:28 defaults.run.working-directory `/srv` is outside the job workspace",
            "14:28 working-directory `sub/../..` is outside the job workspace",
            "24:14 cache path `../secret` is outside the job workspace",
            "25:13 cache path `/var/cache` is outside the job workspace",
            "34:13 artifact path `~/../../x` is outside the job workspace",
            "37:17 download path `./a/../../b` is outside the job workspace",
        ]
    );
    assert!(c.pipeline.is_none());
}
