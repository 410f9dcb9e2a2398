//! Helpers for tests that run shipway several times on one repository,
//! changing files between runs (`skipping.rs`, `caches.rs`).

use crate::harness::{Outcome, PATIENCE, Test};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

pub(crate) const CI: &str = ".gitlab-ci.yml";
pub(crate) const WF: &str = ".github/workflows/ci.yml";

/// Environment that would point git at another repository, or stop shipway
/// from skipping anything.
pub(crate) const CLEAR_ENV: &[&str] = &[
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_INDEX_FILE",
    "GIT_OBJECT_DIRECTORY",
    "GIT_CEILING_DIRECTORIES",
    "SHIPWAY_NO_SKIP",
    "SHIPWAY_STATE_DIR",
    "CI_COMMIT_BRANCH",
    "CI_COMMIT_SHA",
];

pub(crate) fn statuses(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

/// A repository holding the files of `t`, created by a `shipway check` of
/// `file` that must pass. Later runs go through [`shipway`] in `repo()`.
pub(crate) fn project(t: Test, file: &str) -> Outcome {
    let out = t.args(["check", file]).run();
    out.assert_code(0);
    out
}

/// One finished invocation of shipway in an existing repository.
pub(crate) struct Ran {
    pub(crate) args: Vec<String>,
    pub(crate) code: i32,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

pub(crate) fn shipway(repo: &Path, args: &[&str]) -> Ran {
    shipway_env(repo, args, &[])
}

pub(crate) fn shipway_env(repo: &Path, args: &[&str], env: &[(&str, &str)]) -> Ran {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_shipway"));
    cmd.args(args).current_dir(repo).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    for k in CLEAR_ENV {
        cmd.env_remove(k);
    }
    cmd.envs(env.iter().copied());
    let child = cmd.spawn().expect("start shipway");
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    let out = match rx.recv_timeout(PATIENCE * 5) {
        Ok(r) => r.expect("wait for shipway"),
        Err(_) => {
            let _ = Command::new("kill").args(["-KILL", &pid.to_string()]).status();
            panic!("shipway {args:?} did not exit within {:?}; killed it", PATIENCE * 5);
        }
    };
    let code = {
        use std::os::unix::process::ExitStatusExt;
        out.status.code().unwrap_or_else(|| -out.status.signal().unwrap_or(0))
    };
    Ran {
        args: args.iter().map(|s| s.to_string()).collect(),
        code,
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

impl Ran {
    pub(crate) fn context(&self) -> String {
        format!(
            "--- shipway {:?}: exit code {}\n--- stdout:\n{}\n--- stderr:\n{}",
            self.args, self.code, self.stdout, self.stderr
        )
    }

    #[track_caller]
    pub(crate) fn assert_code(&self, code: i32) -> &Ran {
        assert_eq!(self.code, code, "unexpected exit code\n{}", self.context());
        self
    }

    /// stdout as one JSON object.
    #[track_caller]
    pub(crate) fn json(&self) -> Value {
        match serde_json::from_str::<Value>(self.stdout.trim()) {
            Ok(v) if v.is_object() => v,
            _ => panic!("stdout is not one JSON object\n{}", self.context()),
        }
    }

    /// The run id of a `run --json` result.
    #[track_caller]
    pub(crate) fn run_id(&self) -> u64 {
        self.json()["run"].as_u64().unwrap_or_else(|| panic!("no run id\n{}", self.context()))
    }

    /// Job name -> status, from a `run --json` result.
    #[track_caller]
    pub(crate) fn jobs(&self) -> BTreeMap<String, String> {
        let v = self.json();
        let jobs = v["jobs"].as_array().unwrap_or_else(|| panic!("no jobs array\n{}", self.context())).clone();
        jobs.iter()
            .map(|j| (j["name"].as_str().unwrap_or("?").to_string(), j["status"].as_str().unwrap_or("?").to_string()))
            .collect()
    }

    /// One job's entry in a `run --json` result.
    #[track_caller]
    pub(crate) fn job(&self, name: &str) -> Value {
        self.json()["jobs"]
            .as_array()
            .and_then(|a| a.iter().find(|j| j["name"] == name))
            .cloned()
            .unwrap_or_else(|| panic!("no job `{name}` in the result\n{}", self.context()))
    }

    /// Job name -> `cached_from` of every cached job.
    #[track_caller]
    pub(crate) fn cached_from(&self) -> BTreeMap<String, u64> {
        let v = self.json();
        v["jobs"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|j| j["status"] == "cached")
            .map(|j| {
                let from = j["cached_from"].as_u64().unwrap_or_else(|| panic!("cached job without cached_from: {j}"));
                (j["name"].as_str().unwrap_or("?").to_string(), from)
            })
            .collect()
    }
}

/// `shipway run --json` plus `args`, which must exit 0.
#[track_caller]
pub(crate) fn run_ok(repo: &Path, args: &[&str]) -> Ran {
    let mut all = vec!["run", "--json"];
    all.extend_from_slice(args);
    let ran = shipway(repo, &all);
    ran.assert_code(0);
    ran
}

/// Write `contents` to `rel`, run again, and check every job's status.
#[track_caller]
pub(crate) fn rerun_after(repo: &Path, rel: &str, contents: &str, expected: &[(&str, &str)]) -> Ran {
    write(repo, rel, contents);
    let ran = run_ok(repo, &[]);
    assert_eq!(ran.jobs(), statuses(expected), "after changing {rel}");
    ran
}

pub(crate) fn write(repo: &Path, rel: &str, contents: &str) {
    let p = repo.join(rel);
    if let Some(parent) = p.parent() {
        std::fs::create_dir_all(parent).expect("create parent dir");
    }
    std::fs::write(&p, contents).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
}

/// Replace `from` (which must occur) with `to` in a repository file.
#[track_caller]
pub(crate) fn edit(repo: &Path, rel: &str, from: &str, to: &str) {
    let text = std::fs::read_to_string(repo.join(rel)).expect("read file to edit");
    assert!(text.contains(from), "{rel} does not contain {from:?}");
    write(repo, rel, &text.replacen(from, to, 1));
}

pub(crate) fn run_dir(repo: &Path, run: u64) -> PathBuf {
    repo.join(".shipway").join("runs").join(run.to_string())
}

/// The log of job `job` (a name that is its own slug) in run `run`.
#[track_caller]
pub(crate) fn log_of(repo: &Path, run: u64, job: &str) -> String {
    let dir = run_dir(repo, run).join("logs");
    let hits: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.file_name().and_then(|f| f.to_str()).is_some_and(|f| f.ends_with(&format!("-{job}.log"))))
        .collect();
    assert_eq!(hits.len(), 1, "expected one log of `{job}` in {}: {hits:?}", dir.display());
    std::fs::read_to_string(&hits[0]).expect("read job log")
}

/// Every regular file under `dir`, as sorted `/`-separated relative paths
/// (symlinks are listed, not followed).
pub(crate) fn tree(dir: &Path) -> Vec<String> {
    pub(crate) fn walk(base: &Path, dir: &Path, out: &mut Vec<String>) {
        for e in std::fs::read_dir(dir).into_iter().flatten().filter_map(Result::ok) {
            let p = e.path();
            let ft = e.file_type().expect("file type");
            if ft.is_dir() {
                walk(base, &p, out);
            } else {
                out.push(p.strip_prefix(base).expect("under base").to_string_lossy().into_owned());
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// `key` file -> `data/` directory of every GitLab cache entry.
pub(crate) fn cache_entries(repo: &Path) -> BTreeMap<String, PathBuf> {
    let entries = repo.join(".shipway").join("cache").join("entries");
    std::fs::read_dir(entries)
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .filter_map(|e| Some((std::fs::read_to_string(e.path().join("key")).ok()?, e.path().join("data"))))
        .collect()
}
