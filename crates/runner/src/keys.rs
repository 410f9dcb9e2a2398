//! Content keys of jobs: a job whose key matches an earlier successful run
//! is not run again; its result, log and artifacts are reused.
//!
//! A key is the SHA-256 of (README "What goes into a job key"):
//! - the job's resolved definition ([`definition`]): scripts, image,
//!   variables and env, artifacts and cache settings, timeouts, GitHub steps
//!   and their expressions. Secret values never enter it: a variable that
//!   is a secret, or whose value contains a secret value, contributes only
//!   its name. Per-run and per-commit identifiers (pipeline and run ids,
//!   commit sha, message, timestamps) are left out unless the job's own
//!   text mentions them, so committing does not invalidate unchanged jobs;
//! - the content of its input files (paths and bytes): every snapshot file,
//!   or those its `rules:changes` / `paths` filters declare;
//! - for each job it receives from: that job's key, the digest of the
//!   artifacts it left, and its dotenv variables / outputs;
//! - `rustc -V` and `cargo -V` when the job runs cargo or rustc or sets up
//!   a Rust toolchain.

use ci::model::{Job, Step, StepKind};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// The key format; bump when what goes into a key changes.
const KEY_VERSION: &str = "shipway job key v1";

/// Variables that change with every run or commit. They stay out of a key
/// unless the job's text names them.
const VOLATILE_VARS: &[&str] = &[
    "CI_PIPELINE_ID",
    "CI_PIPELINE_IID",
    "CI_PIPELINE_URL",
    "CI_PIPELINE_CREATED_AT",
    "CI_JOB_ID",
    "CI_JOB_URL",
    "CI_JOB_STARTED_AT",
    "CI_COMMIT_SHA",
    "CI_COMMIT_SHORT_SHA",
    "CI_COMMIT_BEFORE_SHA",
    "CI_COMMIT_TIMESTAMP",
    "CI_COMMIT_MESSAGE",
    "CI_COMMIT_TITLE",
    "CI_COMMIT_DESCRIPTION",
    "CI_COMMIT_AUTHOR",
    "CI_MERGE_REQUEST_SOURCE_BRANCH_SHA",
    "GITHUB_SHA",
    "GITHUB_RUN_ID",
    "GITHUB_RUN_NUMBER",
    "GITHUB_RUN_ATTEMPT",
    "GITHUB_WORKFLOW_SHA",
];

/// `github` context properties that change with every run or commit, and
/// the text that, when a job contains it, brings the property back in.
const VOLATILE_GITHUB: &[(&str, &[&str])] = &[
    ("sha", &["github.sha", "GITHUB_SHA"]),
    ("workflow_sha", &["github.workflow_sha", "GITHUB_WORKFLOW_SHA"]),
    ("run_id", &["github.run_id", "GITHUB_RUN_ID"]),
    ("run_number", &["github.run_number", "GITHUB_RUN_NUMBER"]),
    ("run_attempt", &["github.run_attempt", "GITHUB_RUN_ATTEMPT"]),
    ("event", &["github.event", "GITHUB_EVENT_PATH"]),
];

/// Per-run memo of file digests (each input file is read once per run).
pub struct FileDigests {
    root: PathBuf,
    memo: Mutex<HashMap<String, [u8; 32]>>,
}

impl FileDigests {
    pub fn new(root: &Path) -> FileDigests {
        FileDigests { root: root.to_path_buf(), memo: Mutex::new(HashMap::new()) }
    }

    /// The digest of one project file: its bytes, or for a symlink its
    /// target text; a file that cannot be read digests as such.
    pub fn digest(&self, rel: &str) -> [u8; 32] {
        if let Some(d) = self.memo.lock().ok().and_then(|m| m.get(rel).copied()) {
            return d;
        }
        let path = self.root.join(rel);
        let mut h = Sha256::new();
        match std::fs::symlink_metadata(&path) {
            Ok(m) if m.file_type().is_symlink() => {
                h.update(b"link:");
                h.update(std::fs::read_link(&path).map(|t| t.to_string_lossy().into_owned()).unwrap_or_default());
            }
            Ok(m) => {
                use std::os::unix::fs::PermissionsExt;
                // The executable bit changes what a script does.
                h.update(if m.permissions().mode() & 0o111 != 0 { b"exec:" } else { b"file:" });
                match std::fs::File::open(&path) {
                    Ok(mut f) => {
                        let _ = std::io::copy(&mut f, &mut h);
                    }
                    Err(_) => h.update(b"<unreadable>"),
                }
            }
            Err(_) => h.update(b"<missing>"),
        }
        let d: [u8; 32] = h.finalize().into();
        if let Ok(mut m) = self.memo.lock() {
            m.insert(rel.to_string(), d);
        }
        d
    }
}

/// `rustc -V` / `cargo -V` per toolchain spec, run once per run.
#[derive(Default)]
pub struct Toolchains {
    memo: Mutex<HashMap<String, String>>,
}

impl Toolchains {
    /// The versions the toolchain `spec` (empty: the default one) reports.
    pub fn versions(&self, spec: &str, env: &[(String, String)]) -> String {
        if let Some(v) = self.memo.lock().ok().and_then(|m| m.get(spec).cloned()) {
            return v;
        }
        let mut out = String::new();
        for tool in ["rustc", "cargo"] {
            let mut cmd = std::process::Command::new(tool);
            if !spec.is_empty() {
                cmd.arg(format!("+{spec}"));
            }
            cmd.arg("-V").env_clear().envs(env.iter().map(|(k, v)| (k, v)));
            let line = match cmd.output() {
                Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout).trim().to_string(),
                _ => format!("{tool} {spec}: not available"),
            };
            let _ = writeln!(out, "{line}");
        }
        if let Ok(mut m) = self.memo.lock() {
            m.insert(spec.to_string(), out.clone());
        }
        out
    }
}

/// What a job receives from one job before it.
pub struct Upstream<'a> {
    pub key: Option<&'a str>,
    pub artifacts_digest: &'a str,
    /// Dotenv variables and job outputs.
    pub outputs: &'a [(String, String)],
}

/// The toolchain a job names: `Some("")` for the default toolchain,
/// `Some(name)` for a toolchain a GitHub step sets up, `None` when the job
/// does not touch Rust.
pub fn rust_toolchain(job: &Job) -> Option<String> {
    if let Some(gh) = job.github.as_deref() {
        let mut named = None;
        let mut rusty = false;
        for s in &gh.steps {
            match &s.kind {
                StepKind::Action { owner_name, git_ref, with } => {
                    let l = owner_name.to_ascii_lowercase();
                    if l == "dtolnay/rust-toolchain" || l == "actions-rust-lang/setup-rust-toolchain" {
                        rusty = true;
                        let input = with
                            .iter()
                            .find(|(k, _)| k == "toolchain")
                            .filter(|(_, t)| t.is_literal())
                            .and_then(|(_, t)| t.eval_string(&ci::github::expr::Contexts::default()).ok());
                        // `@master` / `@v1` name no toolchain; `@stable`, `@1.95` do.
                        let by_ref = (!matches!(git_ref.as_str(), "master" | "main" | "v1")).then(|| git_ref.clone());
                        named = input.or(by_ref);
                    } else if l == "swatinem/rust-cache" {
                        rusty = true;
                    }
                }
                StepKind::Run { script, .. } => rusty |= mentions_rust(&format!("{script:?}")),
                _ => rusty |= mentions_rust(&format!("{:?}", s.kind)),
            }
        }
        // A named toolchain like `stable` resolves through rustup; a
        // literal one that is not a plain channel/version is hashed by name.
        return rusty.then(|| named.filter(|n| is_toolchain_name(n)).unwrap_or_default());
    }
    let text: String = job.before_script.iter().chain(&job.script).chain(&job.after_script).cloned().collect();
    mentions_rust(&text).then(|| job.var("RUSTUP_TOOLCHAIN").unwrap_or("").to_string())
}

fn is_toolchain_name(n: &str) -> bool {
    !n.is_empty() && n.len() < 64 && n.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
}

fn mentions_rust(text: &str) -> bool {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_'))
        .any(|w| matches!(w, "cargo" | "rustc" | "rustup" | "rustdoc" | "clippy-driver" | "rustfmt"))
}

/// Whether `value` holds one of the secrets.
fn is_secret(value: &str, secrets: &[String]) -> bool {
    secrets.iter().any(|s| !s.is_empty() && value.contains(s.as_str()))
}

/// The job's resolved definition as canonical text, without secret values
/// and without volatile identifiers its text does not mention. Source
/// positions stay out: moving a job within its file does not change it.
pub fn definition(job: &Job, secrets: &[String]) -> String {
    let mut d = String::new();
    let mut text = String::new();
    for s in job.before_script.iter().chain(&job.script).chain(&job.after_script) {
        text.push_str(s);
        text.push('\n');
    }
    if let Some(gh) = job.github.as_deref() {
        for s in &gh.steps {
            step_text(s, &mut text);
        }
        for (k, v) in &gh.env {
            let _ = writeln!(text, "env {k}={v:?}");
        }
        for (k, v) in &gh.outputs {
            let _ = writeln!(text, "output {k}={v:?}");
        }
    }
    let _ = writeln!(d, "name={}\ndefinition={}\nstage={}", job.name, job.definition, job.stage);
    let _ = writeln!(
        d,
        "when={}\nstart_in={:?}\nallow_failure={:?}",
        job.when.as_str(),
        job.start_in_secs,
        job.allow_failure
    );
    let _ =
        writeln!(d, "image={:?}\ntimeout={}\nretry={:?}\nnode={:?}", job.image, job.timeout_secs, job.retry, job.node);
    let _ = writeln!(d, "artifacts={:?}\ncaches={:?}\nenvironment={:?}", job.artifacts, job.caches, job.environment);
    let _ = writeln!(d, "coverage={:?}\ninputs={:?}", job.coverage, job.inputs);
    let mut vars: Vec<&(String, String)> = job.variables.iter().collect();
    vars.sort_by(|a, b| a.0.cmp(&b.0));
    for (k, v) in vars {
        if VOLATILE_VARS.contains(&k.as_str()) && !text.contains(k.as_str()) {
            continue;
        }
        if job.masked.contains(k) || is_secret(v, secrets) {
            let _ = writeln!(d, "var {k}=<secret>");
        } else {
            let _ = writeln!(d, "var {k}={v}");
        }
    }
    if let Some(gh) = job.github.as_deref() {
        let mut ctx = gh.github.clone();
        if let ci::github::expr::Value::Object(o) = &mut ctx {
            let o = std::sync::Arc::make_mut(o);
            for (prop, mentions) in VOLATILE_GITHUB {
                if !mentions.iter().any(|m| text.contains(m)) {
                    o.shift_remove(*prop);
                }
            }
        }
        let _ = writeln!(d, "github={}", ctx.to_json());
        let _ =
            writeln!(d, "vars={}\ninputs={}\nmatrix={}", gh.vars.to_json(), gh.inputs.to_json(), gh.matrix.to_json());
        let _ = writeln!(d, "needs={:?}\ncondition={:?}", gh.needs_ids, gh.condition);
        let _ = writeln!(d, "defaults={:?}\ncontinue_on_error={}", gh.defaults, gh.continue_on_error);
        for (k, _) in &gh.secrets {
            let _ = writeln!(d, "secret {k}");
        }
    }
    d.push_str(&text);
    d
}

fn step_text(s: &Step, out: &mut String) {
    let _ = writeln!(out, "step id={} name={:?} if={:?} env={:?}", s.id, s.name, s.condition, s.env);
    let _ = writeln!(out, "  continue_on_error={:?} timeout={:?}", s.continue_on_error, s.timeout_minutes);
    match &s.kind {
        StepKind::Composite { path, action, with } => {
            let _ = writeln!(
                out,
                "  composite {path} with={with:?} inputs={:?} outputs={:?}",
                action.inputs, action.outputs
            );
            for inner in &action.steps {
                step_text(inner, out);
            }
        }
        other => {
            let _ = writeln!(out, "  {other:?}");
        }
    }
}

/// The key of a job, given what it reads and receives.
pub fn job_key(
    job: &Job,
    files: &[String],
    digests: &FileDigests,
    upstream: &[Upstream<'_>],
    toolchain: Option<&str>,
    secrets: &[String],
) -> String {
    let mut h = Sha256::new();
    h.update(KEY_VERSION.as_bytes());
    h.update(b"\0");
    h.update(env!("CARGO_PKG_VERSION").as_bytes());
    h.update(b"\0definition\0");
    h.update(definition(job, secrets).as_bytes());
    h.update(b"\0inputs\0");
    for f in job.input_files(files) {
        h.update(f.as_bytes());
        h.update(b"\0");
        h.update(digests.digest(f));
    }
    h.update(b"\0upstream\0");
    for u in upstream {
        h.update(u.key.unwrap_or("<no key>").as_bytes());
        h.update(b"\0");
        h.update(u.artifacts_digest.as_bytes());
        for (k, v) in u.outputs {
            h.update(k.as_bytes());
            h.update(b"=");
            h.update(v.as_bytes());
            h.update(b"\0");
        }
    }
    h.update(b"\0toolchain\0");
    h.update(toolchain.unwrap_or("").as_bytes());
    hex(&h.finalize())
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// The digest of a directory tree's content (relative paths and bytes), in
/// path order. Empty string for no directory.
pub fn tree_digest(dir: Option<&Path>) -> String {
    let Some(dir) = dir else { return String::new() };
    let mut files = crate::workspace::list_tree(dir);
    files.sort();
    let digests = FileDigests::new(dir);
    let mut h = Sha256::new();
    for f in &files {
        h.update(f.as_bytes());
        h.update(b"\0");
        h.update(digests.digest(f));
    }
    hex(&h.finalize())
}
