//! GitHub caches end to end: `actions/cache` (exact key, `restore-keys`
//! prefix match, no save after an exact hit, nothing saved by a failed job)
//! and `Swatinem/rust-cache` (a persistent `target/` moved in and out per
//! key), across runs of the real binary; plus the stable workspace paths
//! that make a shared cargo target dir safe across runs.

use crate::harness::Test;
use crate::rerun::*;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// `key` file -> `data/` directory of every cache entry, sorted by key.
fn entries(repo: &Path) -> Vec<(String, PathBuf)> {
    let mut v: Vec<(String, PathBuf)> = cache_entries(repo).into_iter().collect();
    v.sort();
    v
}

fn keys(repo: &Path) -> Vec<String> {
    entries(repo).into_iter().map(|(k, _)| k).collect()
}

/// The single line of `log` that starts with `prefix`, without it.
#[track_caller]
fn line_after<'a>(log: &'a str, prefix: &str) -> &'a str {
    let hits: Vec<&str> = log.lines().filter_map(|l| l.strip_prefix(prefix)).collect();
    assert_eq!(hits.len(), 1, "expected one line starting with {prefix:?} in:\n{log}");
    hits[0]
}

// 1. actions/cache

/// `deps/` is cached under a key made from `deps.lock`, with a prefix
/// `restore-keys`. The job reports what it found, then writes the current
/// lock content into the cache. `FAIL=1` makes it fail after writing.
const ACTIONS_CACHE: &str = r#"
on: push
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - id: deps
        uses: actions/cache@v4
        with:
          path: |
            deps
          key: deps-${{ hashFiles('deps.lock') }}
          restore-keys: |
            deps-
      - run: |
          echo "hit=${{ steps.deps.outputs.cache-hit }} matched=${{ steps.deps.outputs.cache-matched-key }}"
          if [ -f deps/stamp ]; then echo "found=$(cat deps/stamp)"; else echo "found=nothing"; fi
          mkdir -p deps
          cat deps.lock > deps/stamp
          test "${{ vars.FAIL }}" != 1
"#;

#[test]
fn actions_cache_round_trip_with_restore_keys_across_runs() {
    let p = project(Test::new().file(WF, ACTIONS_CACHE).file("deps.lock", "v1\n"), WF);
    let repo = p.repo();
    let build = |run: &Ran| log_of(&repo, run.run_id(), "build");

    // Run 1: nothing cached yet; the post step saves `deps-<hash v1>`.
    let r1 = run_ok(&repo, &[WF]);
    let log = build(&r1);
    assert_eq!(line_after(&log, "hit="), "false matched=", "{log}");
    assert_eq!(line_after(&log, "found="), "nothing");
    assert!(log.contains("Cache not found for input keys: deps-"), "{log}");
    let k1 = keys(&repo);
    assert_eq!(k1.len(), 1, "one entry after run 1: {k1:?}");
    assert!(k1[0].starts_with("gh:deps-") && k1[0].len() > "gh:deps-".len() + 32, "{k1:?}");
    let v1_key = k1[0].trim_start_matches("gh:").to_string();
    assert!(log.contains(&format!("Post job: cache saved with key `{v1_key}`")), "{log}");
    assert!(!repo.join("deps").exists(), "a cache must not land in the repository");

    // Run 2, same lock (forced to run): an exact hit restores v1 and saves nothing.
    let r2 = run_ok(&repo, &[WF, "--no-cache"]);
    let log = build(&r2);
    assert_eq!(line_after(&log, "hit="), format!("true matched={v1_key}"), "{log}");
    assert_eq!(line_after(&log, "found="), "v1");
    assert!(log.contains(&format!("Cache restored from key: {v1_key}")), "{log}");
    assert!(!log.contains("Post job: cache saved"), "an exact hit must not save again:\n{log}");
    assert_eq!(keys(&repo), k1);

    // Run 3, new lock: no exact entry, the `deps-` prefix restores v1's entry,
    // and the job's result is saved under the new key. The old entry stays.
    write(&repo, "deps.lock", "v2\n");
    let r3 = run_ok(&repo, &[WF]);
    let log = build(&r3);
    assert_eq!(line_after(&log, "hit="), format!("false matched={v1_key}"), "{log}");
    assert_eq!(line_after(&log, "found="), "v1", "restore-keys must bring back the older entry");
    assert!(log.contains(&format!("Cache restored from key: {v1_key} (restore-keys)")), "{log}");
    let k3 = keys(&repo);
    assert_eq!(k3.len(), 2, "{k3:?}");
    let v2_key = k3.iter().find(|k| **k != k1[0]).expect("a new key").trim_start_matches("gh:").to_string();
    let (_, v2_dir) = entries(&repo).into_iter().find(|(k, _)| k == &format!("gh:{v2_key}")).expect("v2 entry");
    assert_eq!(std::fs::read_to_string(v2_dir.join("deps/stamp")).unwrap(), "v2\n");
    let (_, v1_dir) = entries(&repo).into_iter().find(|(k, _)| k == &k1[0]).expect("v1 entry");
    assert_eq!(std::fs::read_to_string(v1_dir.join("deps/stamp")).unwrap(), "v1\n", "a copy restore changed the entry");

    // Run 4: the new key hits exactly.
    let r4 = run_ok(&repo, &[WF, "--no-cache"]);
    let log = build(&r4);
    assert_eq!(line_after(&log, "hit="), format!("true matched={v2_key}"), "{log}");
    assert_eq!(line_after(&log, "found="), "v2");

    // A failed job restores but saves nothing (actions/cache saves on success only).
    write(&repo, "deps.lock", "v3\n");
    let r5 = shipway(&repo, &["run", "--json", WF, "--var", "FAIL=1"]);
    r5.assert_code(1);
    assert_eq!(r5.jobs()["build"], "failed");
    let log = build(&r5);
    assert_eq!(line_after(&log, "found="), "v2", "the newest `deps-` entry is restored: {log}");
    assert!(!log.contains("Post job: cache saved"), "{log}");
    assert_eq!(keys(&repo).len(), 2, "a failed job saved a cache: {:?}", keys(&repo));
}

// 2. Swatinem/rust-cache

/// A job that reports what `target/` holds (and the inode of its stamp, to
/// tell a move from a copy), then appends this run's mark.
const RUST_CACHE: &str = r#"
on: push
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - id: rc
        uses: Swatinem/rust-cache@v2
      - run: |
          echo "hit=${{ steps.rc.outputs.cache-hit }}"
          if [ -f target/debug/stamp ]; then
            echo "had=$(tr '\n' ' ' < target/debug/stamp)"
            echo "inode=$(stat -c %i target/debug/stamp)"
          else
            echo "had=nothing"
          fi
          mkdir -p target/debug
          echo "${{ vars.MARK }}" >> target/debug/stamp
"#;

#[test]
fn rust_cache_moves_the_target_dir_in_and_out_per_key_and_follows_a_lockfile_change() {
    let p = project(
        Test::new()
            .file(WF, RUST_CACHE)
            .file("Cargo.toml", "[package]\nname = \"demo\"\nversion = \"0.1.0\"\n")
            .file("Cargo.lock", "version = 4\n"),
        WF,
    );
    let repo = p.repo();
    let build = |run: &Ran| log_of(&repo, run.run_id(), "build");

    let r1 = run_ok(&repo, &[WF, "--var", "MARK=one"]);
    let log = build(&r1);
    assert_eq!(line_after(&log, "hit="), "false", "{log}");
    assert_eq!(line_after(&log, "had="), "nothing");
    assert!(log.contains("rust-cache: no entry for `v0-rust-build-"), "{log}");
    let e1 = entries(&repo);
    assert_eq!(e1.len(), 1, "{e1:?}");
    let (key1, dir1) = e1[0].clone();
    assert!(key1.starts_with("rust-cache:v0-rust-build-"), "{key1}");
    let stamp = dir1.join("target/debug/stamp");
    assert_eq!(std::fs::read_to_string(&stamp).unwrap(), "one\n");
    let inode = std::fs::metadata(&stamp).unwrap().ino();
    assert!(!repo.join("target").exists(), "the target dir must not land in the repository");

    // Run 2: the same key; target/ is moved in (same inode), extended, and
    // moved back.
    let r2 = run_ok(&repo, &[WF, "--var", "MARK=two", "--no-cache"]);
    let log = build(&r2);
    assert_eq!(line_after(&log, "hit="), "true", "{log}");
    assert_eq!(line_after(&log, "had="), "one ");
    assert_eq!(line_after(&log, "inode="), inode.to_string(), "target/ was copied, not moved in");
    assert!(log.contains("by moving it in"), "{log}");
    let e2 = entries(&repo);
    assert_eq!(e2.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>(), [key1.as_str()]);
    let stamp = e2[0].1.join("target/debug/stamp");
    assert_eq!(std::fs::read_to_string(&stamp).unwrap(), "one\ntwo\n");
    assert_eq!(std::fs::metadata(&stamp).unwrap().ino(), inode, "target/ was copied, not moved out");

    // A new lockfile makes a new key; the previous entry of the same job and
    // toolchain is restored (the action's restore key) and moves to it.
    write(&repo, "Cargo.lock", "version = 4\n# a new dependency\n");
    let r3 = run_ok(&repo, &[WF, "--var", "MARK=three"]);
    let log = build(&r3);
    assert_eq!(line_after(&log, "hit="), "false", "not an exact hit: {log}");
    assert_eq!(line_after(&log, "had="), "one two ");
    assert!(log.contains("(restore key) by moving it in"), "{log}");
    let e3 = entries(&repo);
    assert_eq!(e3.len(), 1, "the older entry moved to the new key: {e3:?}");
    assert_ne!(e3[0].0, key1);
    let common = key1.rsplit_once('-').unwrap().0;
    assert!(e3[0].0.starts_with(common), "{} vs {key1}", e3[0].0);
    assert_eq!(std::fs::read_to_string(e3[0].1.join("target/debug/stamp")).unwrap(), "one\ntwo\nthree\n");

    // A different `shared-key` is another cache line: nothing to restore.
    let shared = RUST_CACHE
        .replace("uses: Swatinem/rust-cache@v2", "uses: Swatinem/rust-cache@v2\n        with: {shared-key: other}");
    write(&repo, WF, &shared);
    let r4 = run_ok(&repo, &[WF, "--var", "MARK=four"]);
    assert_eq!(line_after(&build(&r4), "had="), "nothing");
    assert_eq!(entries(&repo).len(), 2);
}

// 3. Stable workspaces

/// Each job prints its working directory and waits until the other one
/// has started, so they run at once. `one` also finds the file the previous
/// run's `one` recorded its directory in (as a test binary records
/// `CARGO_MANIFEST_DIR`) and checks that the directory exists again.
const WHERE: &str = r#"
stages: [a]
one:
  stage: a
  script:
    - echo "pwd=$PWD"
    - if [ -f "$SHARED/dir" ]; then test -d "$(cat "$SHARED/dir")" && echo "recorded dir exists"; fi
    - echo "$PWD" > "$SHARED/dir"
    - touch "$SHARED/one-$RUN"
    - for i in $(seq 300); do [ -f "$SHARED/two-$RUN" ] && break; sleep 0.1; done
two:
  stage: a
  script:
    - echo "pwd=$PWD"
    - touch "$SHARED/two-$RUN"
    - for i in $(seq 300); do [ -f "$SHARED/one-$RUN" ] && break; sleep 0.1; done
"#;

#[test]
fn job_workspaces_keep_their_path_across_runs_and_parallel_jobs_get_their_own() {
    let t = Test::new();
    let shared = t.scratch();
    let p = project(t.file(CI, WHERE), CI);
    let repo = p.repo();
    let var = format!("SHARED={}", shared.display());
    let pwd = |run: &Ran, job: &str| line_after(&log_of(&repo, run.run_id(), job), "pwd=").to_string();

    let r1 = run_ok(&repo, &["--parallel", "2", "--var", &var, "--var", "RUN=1"]);
    let (one, two) = (pwd(&r1, "one"), pwd(&r1, "two"));
    assert_ne!(one, two, "two jobs running at once shared a workspace");
    for d in [&one, &two] {
        assert!(d.contains("/.shipway/ws/"), "{d} is not a workspace slot under .shipway/ws");
    }
    assert!(!Path::new(&one).exists(), "a slot is emptied after the run");

    let r2 = run_ok(&repo, &["--parallel", "2", "--var", &var, "--var", "RUN=2"]);
    let mut first = [one, two];
    let mut second = [pwd(&r2, "one"), pwd(&r2, "two")];
    first.sort();
    second.sort();
    assert_eq!(first, second, "the same slots are used again");
    assert!(log_of(&repo, r2.run_id(), "one").contains("recorded dir exists"));
}

// 4. Paths written as absolute paths inside the workspace

const PROJECT_DIR_PATHS: &str = r#"
stages: [build, use]
build:
  stage: build
  cache: {key: k, paths: ["${CI_PROJECT_DIR}/vendor/"]}
  script:
    - if [ -f vendor/v.txt ]; then echo "cache=$(cat vendor/v.txt)"; else echo "cache=none"; fi
    - mkdir -p out vendor && echo built > out/bin.txt && echo "$CI_JOB_ID" > vendor/v.txt
  artifacts:
    paths: ["$CI_PROJECT_DIR/out/"]
    exclude: ["$CI_PROJECT_DIR/out/*.tmp"]
use:
  stage: use
  script:
    - echo "artifact=$(cat out/bin.txt)"
"#;

#[test]
fn gitlab_paths_under_ci_project_dir_are_collected_and_cached() {
    let p = project(Test::new().file(CI, PROJECT_DIR_PATHS), CI);
    let repo = p.repo();
    let r1 = run_ok(&repo, &[]);
    assert_eq!(line_after(&log_of(&repo, r1.run_id(), "use"), "artifact="), "built");
    let log = log_of(&repo, r1.run_id(), "build");
    assert_eq!(line_after(&log, "cache="), "none");
    assert!(log.contains("Uploading artifacts: 1 files"), "{log}");
    assert_eq!(keys(&repo), ["gitlab:k"]);
    let r2 = run_ok(&repo, &["--no-cache"]);
    let log = log_of(&repo, r2.run_id(), "build");
    let first_job_id = (r1.run_id() * 1000 + 1).to_string();
    assert_eq!(line_after(&log, "cache="), first_job_id, "{log}");
}

const WORKSPACE_PATHS: &str = r#"
on: push
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/cache@v4
        with:
          path: ${{ github.workspace }}/deps
          key: deps-1
      - working-directory: ${{ github.workspace }}/sub
        run: echo "in=$(basename "$PWD")"
      - run: |
          if [ -f deps/d.txt ]; then echo "cache=$(cat deps/d.txt)"; else echo "cache=none"; fi
          mkdir -p deps && echo "${{ vars.MARK }}" > deps/d.txt
"#;

#[test]
fn github_paths_under_the_workspace_are_accepted_as_such() {
    let p = project(Test::new().file(WF, WORKSPACE_PATHS).file("sub/keep", ""), WF);
    let repo = p.repo();
    let r1 = run_ok(&repo, &[WF, "--var", "MARK=one"]);
    let log = log_of(&repo, r1.run_id(), "build");
    assert_eq!(line_after(&log, "in="), "sub", "{log}");
    assert_eq!(line_after(&log, "cache="), "none");
    assert!(!log.contains("outside the workspace"), "{log}");
    assert_eq!(keys(&repo), ["gh:deps-1"]);
    let r2 = run_ok(&repo, &[WF, "--var", "MARK=two"]);
    assert_eq!(line_after(&log_of(&repo, r2.run_id(), "build"), "cache="), "one");
}
