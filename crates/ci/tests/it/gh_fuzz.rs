//! Property tests for the GitHub Actions front end and the expression
//! parser: hostile input never panics, and every diagnostic has a position.

use crate::fuzz::mutate;
use crate::gh_support::{MemProject, context};
use ci::github::{self, expr};
use proptest::prelude::*;

const SEED: &str = r#"
name: ci
on:
  push:
    branches: [main, 'releases/**', '!releases/*-alpha']
    paths-ignore: ['docs/**']
  pull_request:
  workflow_dispatch:
    inputs:
      level: {type: choice, options: [a, b], default: a}
env:
  A: ${{ github.ref_name }}
jobs:
  build:
    runs-on: ${{ matrix.os }}
    strategy:
      fail-fast: false
      matrix:
        os: [ubuntu-latest, macos-latest]
        rust: [stable, '1.70']
        include: [{os: ubuntu-latest, rust: nightly, experimental: true}]
        exclude: [{os: macos-latest, rust: '1.70'}]
    continue-on-error: ${{ matrix.experimental == true }}
    outputs:
      v: ${{ steps.s.outputs.v }}
    steps:
      - uses: actions/checkout@v4
      - id: s
        run: echo "v=${{ hashFiles('**/Cargo.lock') }}" >> "$GITHUB_OUTPUT"
      - if: ${{ failure() || contains(fromJSON('["a","b"]'), inputs.level) }}
        uses: ./.github/actions/x
  test:
    needs: [build]
    if: always() && needs.build.result != 'skipped'
    runs-on: ubuntu-latest
    timeout-minutes: 5
    steps:
      - run: echo ${{ needs.build.outputs.v }} ${{ format('{0}-{1}', github.sha, env.A) }}
        shell: bash
        working-directory: ./src
"#;

const ACTION: &str = "runs:\n  using: composite\n  steps:\n    - run: echo hi\n      shell: bash\n";

fn compile(text: &str) {
    let project = MemProject::new([(".github/workflows/ci.yml", text), (".github/actions/x/action.yml", ACTION)]);
    let c = github::compile(".github/workflows/ci.yml", &project, &context());
    for d in &c.diagnostics {
        let _ = c.sources.render(d);
        assert!(d.pos.line >= 1 && d.pos.col >= 1, "diagnostic without a position: {d:?}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn mutated_workflows_never_panic(ops in proptest::collection::vec((any::<u8>(), any::<usize>(), prop::sample::select(vec![' ', '\n', ':', '-', '[', ']', '{', '}', '$', '\'', '"', '(', ')', '!', '=', '&', '|', '.', '*', 'a', '0', '#'])), 0..10)) {
        compile(&mutate(SEED, &ops));
    }

    #[test]
    fn arbitrary_expressions_never_panic(s in "[ -~]{0,80}") {
        if let Ok(e) = expr::parse(&s) {
            let _ = expr::eval(&e, &expr::Contexts::default());
        }
        let _ = expr::parse_template(&s);
        let _ = expr::parse_condition(&s);
    }

    #[test]
    fn expression_errors_point_inside_the_text(s in "[a-z0-9 ()'.=!<>&|,\\[\\]*-]{0,40}") {
        if let Err(e) = expr::parse(&s) {
            prop_assert!(e.at <= s.chars().count(), "error at {} beyond `{}`", e.at, s);
        }
    }
}

#[test]
fn seed_workflow_is_valid() {
    let project = MemProject::new([(".github/workflows/ci.yml", SEED), (".github/actions/x/action.yml", ACTION)]);
    let c = github::compile(".github/workflows/ci.yml", &project, &context());
    let errors: Vec<String> = c.diagnostics.iter().filter(|d| d.is_error()).map(|d| c.sources.render(d)).collect();
    assert!(errors.is_empty(), "{}", errors.join("\n"));
    let names: Vec<String> = c.pipeline.unwrap().jobs.iter().map(|j| j.name.clone()).collect();
    assert_eq!(
        names,
        [
            "build (ubuntu-latest, stable)",
            "build (ubuntu-latest, 1.70)",
            "build (macos-latest, stable)",
            "build (ubuntu-latest, nightly, true)",
            "test"
        ]
    );
}

#[test]
fn deep_expressions_are_errors_not_crashes() {
    let deep = "(".repeat(10_000) + "1" + &")".repeat(10_000);
    assert!(expr::parse(&deep).is_err());
    let bangs = "!".repeat(10_000) + "true";
    assert!(expr::parse(&bangs).is_err());
}
