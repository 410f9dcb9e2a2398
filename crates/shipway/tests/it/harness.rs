//! A builder for end-to-end runs of the `shipway` binary, in the style of
//! just's `Test`: describe a repository, add arguments, run, then assert on
//! the exit code, the output, the JSON result and the job logs.
//!
//! Every `Test` owns a temporary directory holding `repo/` (a git repository
//! on branch `main` with one commit) and `scratch/` (outside the repository,
//! for files a job must keep across attempts or runs).

use serde_json::Value;
use std::collections::BTreeMap;
use std::ffi::OsString;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use tempfile::TempDir;

/// How long to wait for something that should happen "soon". Only a guard
/// against hanging forever; no test asserts on how long anything took.
pub(crate) const PATIENCE: Duration = Duration::from_secs(60);

/// Git environment that would point commands at another repository.
const GIT_ENV: &[&str] =
    &["GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_OBJECT_DIRECTORY", "GIT_CEILING_DIRECTORIES"];

/// What a CI job around the tests (our own pipelines run them through
/// shipway) would pass down and shipway reads: the bench store and the
/// branch/commit that results are recorded under.
const JOB_ENV: &[&str] =
    &["SHIPWAY_STATE_DIR", "CI_COMMIT_BRANCH", "CI_COMMIT_SHA", "GITHUB_HEAD_REF", "GITHUB_REF_NAME", "GITHUB_SHA"];

pub(crate) struct Test {
    dir: TempDir,
    committed: Vec<(String, Vec<u8>)>,
    untracked: Vec<(String, Vec<u8>)>,
    args: Vec<OsString>,
    origin: bool,
}

impl Test {
    pub(crate) fn new() -> Test {
        let dir = tempfile::Builder::new().prefix("shipway-it-").tempdir().expect("create a temp dir");
        std::fs::create_dir(dir.path().join("repo")).expect("create repo dir");
        std::fs::create_dir(dir.path().join("scratch")).expect("create scratch dir");
        Test { dir, committed: Vec::new(), untracked: Vec::new(), args: Vec::new(), origin: false }
    }

    /// A directory outside the repository (not copied into job workspaces).
    pub(crate) fn scratch(&self) -> PathBuf {
        self.dir.path().join("scratch")
    }

    /// A file that is part of the commit.
    pub(crate) fn file(mut self, path: &str, contents: impl AsRef<[u8]>) -> Test {
        self.committed.push((path.to_string(), contents.as_ref().to_vec()));
        self
    }

    /// A file written after the commit (untracked; ignored if `.gitignore`
    /// says so).
    pub(crate) fn untracked(mut self, path: &str, contents: impl AsRef<[u8]>) -> Test {
        self.untracked.push((path.to_string(), contents.as_ref().to_vec()));
        self
    }

    /// Copy a directory's files into the commit, leaving out names `skip`
    /// rejects.
    pub(crate) fn dir_contents(mut self, src: &Path, skip: impl Fn(&str) -> bool) -> Test {
        fn walk(base: &Path, rel: &str, skip: &dyn Fn(&str) -> bool, out: &mut Vec<(String, Vec<u8>)>) {
            let dir = if rel.is_empty() { base.to_path_buf() } else { base.join(rel) };
            let mut entries: Vec<_> = std::fs::read_dir(&dir).expect("read case dir").filter_map(Result::ok).collect();
            entries.sort_by_key(|e| e.file_name());
            for e in entries {
                let name = e.file_name().to_string_lossy().into_owned();
                if rel.is_empty() && skip(&name) {
                    continue;
                }
                let child = if rel.is_empty() { name } else { format!("{rel}/{name}") };
                if e.file_type().expect("file type").is_dir() {
                    walk(base, &child, skip, out);
                } else {
                    out.push((child.clone(), std::fs::read(base.join(&child)).expect("read case file")));
                }
            }
        }
        walk(src, "", &skip, &mut self.committed);
        self
    }

    /// Add a fake `origin` remote whose `origin/main` (and `origin/HEAD`)
    /// is the commit, as the differential oracle's repositories have.
    pub(crate) fn origin(mut self) -> Test {
        self.origin = true;
        self
    }

    pub(crate) fn arg(mut self, arg: impl Into<OsString>) -> Test {
        self.args.push(arg.into());
        self
    }

    pub(crate) fn args<I, S>(mut self, args: I) -> Test
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    fn repo(&self) -> PathBuf {
        self.dir.path().join("repo")
    }

    fn prepare(&self) -> Command {
        let repo = self.repo();
        for (path, contents) in &self.committed {
            write_file(&repo.join(path), contents);
        }
        git(&repo, &["init", "-q", "-b", "main"]);
        git(&repo, &["add", "-A"]);
        git(&repo, &["commit", "-q", "--allow-empty", "-m", "shipway end-to-end test"]);
        if self.origin {
            git(&repo, &["remote", "add", "origin", "https://gitlab.example.invalid/shipway/it.git"]);
            git(&repo, &["update-ref", "refs/remotes/origin/main", "HEAD"]);
            git(&repo, &["symbolic-ref", "refs/remotes/origin/HEAD", "refs/remotes/origin/main"]);
        }
        for (path, contents) in &self.untracked {
            write_file(&repo.join(path), contents);
        }
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_shipway"));
        cmd.args(&self.args).current_dir(&repo).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
        for k in GIT_ENV.iter().chain(JOB_ENV) {
            cmd.env_remove(k);
        }
        cmd
    }

    /// Run shipway to the end.
    pub(crate) fn run(self) -> Outcome {
        let child = self.prepare().spawn().expect("start shipway");
        Running::new(child, self.dir).finish()
    }

    /// Start shipway and return while it runs.
    pub(crate) fn spawn(self) -> Running {
        let child = self.prepare().spawn().expect("start shipway");
        Running::new(child, self.dir)
    }
}

fn write_file(path: &Path, contents: &[u8]) {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).expect("create parent dir");
    }
    std::fs::write(path, contents).expect("write file");
}

fn git(repo: &Path, args: &[&str]) {
    let mut cmd = Command::new("git");
    cmd.arg("-C")
        .arg(repo)
        .args([
            "-c",
            "user.name=Shipway Test",
            "-c",
            "user.email=shipway@example.invalid",
            "-c",
            "commit.gpgsign=false",
        ])
        .args(["-c", "init.defaultBranch=main"])
        .args(args)
        .env("GIT_CONFIG_NOSYSTEM", "1");
    for k in GIT_ENV {
        cmd.env_remove(k);
    }
    let out = cmd.output().expect("run git");
    assert!(out.status.success(), "git {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
}

/// A shipway process that is still running. Dropping it without
/// [`Running::finish`] (a failed assertion) kills it.
pub(crate) struct Running {
    child: Child,
    dir: Option<TempDir>,
    stdout: Option<JoinHandle<Vec<u8>>>,
    stderr: Option<JoinHandle<Vec<u8>>>,
    finished: bool,
}

fn drain(mut r: impl Read + Send + 'static) -> JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = r.read_to_end(&mut buf);
        buf
    })
}

impl Running {
    fn new(mut child: Child, dir: TempDir) -> Running {
        let stdout = child.stdout.take().map(drain);
        let stderr = child.stderr.take().map(drain);
        Running { child, dir: Some(dir), stdout, stderr, finished: false }
    }

    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    pub(crate) fn repo(&self) -> PathBuf {
        self.dir.as_ref().expect("temp dir").path().join("repo")
    }

    /// Wait until some job log under `.shipway/runs/` contains `needle`.
    pub(crate) fn wait_for_log(&mut self, needle: &str) {
        let runs = self.repo().join(".shipway").join("runs");
        let found = wait_until(|| {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("shipway exited ({status}) before any log contained {needle:?}");
            }
            all_logs(&runs).iter().any(|text| text.contains(needle))
        });
        assert!(found, "no job log contained {needle:?} within {PATIENCE:?}");
    }

    /// Send SIGINT to shipway alone (not its process group), as a terminal's
    /// Ctrl-C would reach it if the jobs are in groups of their own.
    pub(crate) fn interrupt(&self) {
        let status = Command::new("kill").args(["-INT", &self.pid().to_string()]).status().expect("run kill(1)");
        assert!(status.success(), "kill -INT {} failed", self.pid());
    }

    /// Wait for shipway to exit and collect what it printed.
    pub(crate) fn finish(mut self) -> Outcome {
        let deadline = Instant::now() + PATIENCE * 5;
        let status = loop {
            if let Some(s) = self.child.try_wait().expect("wait for shipway") {
                break s;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!("shipway did not exit within {:?}; killed it", PATIENCE * 5);
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let code = {
            use std::os::unix::process::ExitStatusExt;
            status.code().unwrap_or_else(|| -status.signal().unwrap_or(0))
        };
        let stdout = self.stdout.take().map(|h| h.join().expect("stdout reader")).unwrap_or_default();
        let stderr = self.stderr.take().map(|h| h.join().expect("stderr reader")).unwrap_or_default();
        let stdout = String::from_utf8_lossy(&stdout).into_owned();
        let stderr = String::from_utf8_lossy(&stderr).into_owned();
        let json = serde_json::from_str::<Value>(stdout.trim()).ok();
        self.finished = true;
        Outcome { code, stdout, stderr, json, dir: self.dir.take().expect("temp dir") }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        // SIGTERM first, so that shipway stops its jobs' process groups;
        // SIGKILL would leave them running.
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline && matches!(self.child.try_wait(), Ok(None)) {
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What a finished shipway run left behind.
pub(crate) struct Outcome {
    /// The exit code, or minus the signal number that killed shipway.
    pub(crate) code: i32,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
    /// stdout parsed as one JSON value, if it is one.
    pub(crate) json: Option<Value>,
    dir: TempDir,
}

impl Outcome {
    pub(crate) fn repo(&self) -> PathBuf {
        self.dir.path().join("repo")
    }

    fn context(&self) -> String {
        format!("--- exit code {}\n--- stdout:\n{}\n--- stderr:\n{}", self.code, self.stdout, self.stderr)
    }

    #[track_caller]
    pub(crate) fn assert_code(&self, code: i32) -> &Outcome {
        assert_eq!(self.code, code, "unexpected exit code\n{}", self.context());
        self
    }

    /// The JSON result; fails the test if stdout was not exactly one JSON
    /// object.
    #[track_caller]
    pub(crate) fn json(&self) -> &Value {
        match &self.json {
            Some(v) if v.is_object() => v,
            _ => panic!("stdout is not one JSON object\n{}", self.context()),
        }
    }

    /// The pipeline status from the JSON result.
    #[track_caller]
    pub(crate) fn status(&self) -> &str {
        self.json()["status"].as_str().unwrap_or_else(|| panic!("no pipeline status\n{}", self.context()))
    }

    /// Job name -> job status, from the JSON result.
    #[track_caller]
    pub(crate) fn jobs(&self) -> BTreeMap<String, String> {
        let jobs = self.json()["jobs"].as_array().unwrap_or_else(|| panic!("no jobs array\n{}", self.context()));
        jobs.iter()
            .map(|j| (j["name"].as_str().unwrap_or("?").to_string(), j["status"].as_str().unwrap_or("?").to_string()))
            .collect()
    }

    /// One job's JSON entry.
    #[track_caller]
    pub(crate) fn job(&self, name: &str) -> &Value {
        self.json()["jobs"]
            .as_array()
            .and_then(|a| a.iter().find(|j| j["name"] == name))
            .unwrap_or_else(|| panic!("no job `{name}` in the result\n{}", self.context()))
    }

    #[track_caller]
    pub(crate) fn job_status(&self, name: &str) -> &str {
        self.job(name)["status"].as_str().unwrap_or("?")
    }

    /// `<repo>/.shipway/runs/<id>/logs`, for the run in the JSON result or
    /// else the newest run.
    pub(crate) fn logs_dir(&self) -> PathBuf {
        let runs = self.repo().join(".shipway").join("runs");
        let id = match self.json.as_ref().and_then(|v| v["run"].as_u64()) {
            Some(id) => id,
            None => std::fs::read_dir(&runs)
                .map(|rd| {
                    rd.filter_map(Result::ok)
                        .filter_map(|e| e.file_name().to_str().and_then(|s| s.parse::<u64>().ok()))
                        .max()
                        .unwrap_or(0)
                })
                .unwrap_or(0),
        };
        runs.join(id.to_string()).join("logs")
    }

    /// The log file of a job, if it has one (jobs that never started have
    /// none). Logs are named `NNN-<slug>.log`, NNN being the job's position
    /// in the result.
    pub(crate) fn log_path(&self, name: &str) -> Option<PathBuf> {
        let index = self
            .json
            .as_ref()
            .and_then(|v| v["jobs"].as_array())
            .and_then(|a| a.iter().position(|j| j["name"] == name));
        let slug = slug(name);
        let entries = std::fs::read_dir(self.logs_dir()).ok()?;
        let mut hits: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| {
                let f = p.file_name().and_then(|f| f.to_str()).unwrap_or("");
                match index {
                    Some(i) => f.starts_with(&format!("{i:03}-")),
                    None => f.ends_with(&format!("-{slug}.log")),
                }
            })
            .collect();
        assert!(hits.len() <= 1, "several logs match job `{name}`: {hits:?}");
        hits.pop()
    }

    /// The text of a job's log; fails the test if there is none.
    #[track_caller]
    pub(crate) fn log(&self, name: &str) -> String {
        let path = self.log_path(name).unwrap_or_else(|| panic!("no log for job `{name}`\n{}", self.context()));
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    /// Every job log of every run, concatenated.
    pub(crate) fn all_logs(&self) -> String {
        all_logs(&self.repo().join(".shipway").join("runs")).concat()
    }
}

fn slug(name: &str) -> String {
    let s: String = name
        .to_lowercase()
        .chars()
        .map(|c| if c.is_ascii_lowercase() || c.is_ascii_digit() { c } else { '-' })
        .collect();
    s.trim_matches('-').to_string()
}

fn all_logs(runs: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for run in std::fs::read_dir(runs).into_iter().flatten().filter_map(Result::ok) {
        for log in std::fs::read_dir(run.path().join("logs")).into_iter().flatten().filter_map(Result::ok) {
            if let Ok(text) = std::fs::read_to_string(log.path()) {
                out.push(text);
            }
        }
    }
    out
}

/// Poll `cond` until it holds or [`PATIENCE`] runs out; returns whether it
/// held.
pub(crate) fn wait_until(mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + PATIENCE;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A string no other process on the machine has in its command line: use
/// it as a `sleep` argument to find a job's processes in `/proc`.
pub(crate) fn unique_sleep_arg() -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    // `sleep` reads it as a (very long) number of seconds.
    format!("987654{:07}{n:02}", std::process::id())
}

/// `pid: cmdline` of every live process whose command line contains
/// `needle`, from `/proc` (zombies have an empty command line and do not
/// count).
pub(crate) fn processes_with(needle: &str) -> Vec<String> {
    find_processes(needle).into_iter().map(|(pid, cmdline)| format!("{pid}: {cmdline}")).collect()
}

/// Like [`processes_with`], but also SIGKILLs what it finds: a test that
/// detects leftovers of its own job must not leave them running.
pub(crate) fn kill_leftovers(needle: &str) -> Vec<String> {
    let found = find_processes(needle);
    for (pid, _) in &found {
        let _ = Command::new("kill").args(["-KILL", &pid.to_string()]).status();
    }
    found.into_iter().map(|(pid, cmdline)| format!("{pid}: {cmdline}")).collect()
}

fn find_processes(needle: &str) -> Vec<(u32, String)> {
    let me = std::process::id();
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").expect("read /proc").filter_map(Result::ok) {
        let name = e.file_name().to_string_lossy().into_owned();
        let Ok(pid) = name.parse::<u32>() else { continue };
        if pid == me {
            continue;
        }
        let Ok(raw) = std::fs::read(e.path().join("cmdline")) else { continue };
        let cmdline = String::from_utf8_lossy(&raw).replace('\0', " ");
        if cmdline.contains(needle) {
            out.push((pid, cmdline.trim_end().to_string()));
        }
    }
    out
}

/// Print a line that `cargo test`'s output capture does not swallow (the
/// print macros are captured; a direct write to the stderr handle is not).
pub(crate) fn visible(line: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "{line}");
}
