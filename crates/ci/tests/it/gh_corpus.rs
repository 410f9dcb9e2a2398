//! The GitHub Actions corpus: every `test_data/github/workflows/*.yml` and
//! `test_data/github/projects/*.yml` is compiled with the context its header
//! sets, and must give exactly the job instances (`# expect-jobs:`), the
//! not-triggered verdict (`# expect-not-triggered:`) or the error
//! diagnostics (`# expect-diag: LINE:COL rule`) the header lists. The whole
//! result is also rendered and compared with the `.snap` file next to the
//! case (`UPDATE_SNAPSHOTS=1` rewrites them; review changes by hand).
//! `test_data/github/workflows/README.md` documents the header keys.

use crate::corpus::collect_files;
use crate::gh_support::{MemProject, context};
use ci::github;
use ci::gitlab::Compiled;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn headers(text: &str) -> Vec<(String, String)> {
    text.lines()
        .take_while(|l| l.starts_with('#'))
        .filter_map(|l| {
            let rest = l.strip_prefix("# ")?;
            let (k, v) = rest.split_once(':')?;
            if k.is_empty() || !k.chars().all(|c| c.is_ascii_lowercase() || c == '-') {
                return None;
            }
            Some((k.to_string(), v.trim().to_string()))
        })
        .collect()
}

fn header<'a>(h: &'a [(String, String)], key: &str) -> Option<&'a str> {
    h.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

fn kv_list(v: Option<&str>) -> Vec<(String, String)> {
    v.map(|s| {
        s.split(',')
            .filter_map(|kv| kv.trim().split_once('=').map(|(k, v)| (k.trim().to_string(), v.trim().to_string())))
            .collect()
    })
    .unwrap_or_default()
}

fn list(v: Option<&str>) -> Vec<String> {
    v.map(|s| s.split(',').map(|x| x.trim().to_string()).filter(|x| !x.is_empty()).collect()).unwrap_or_default()
}

fn compile_case(path: &Path) -> (Compiled, Vec<(String, String)>) {
    let text = std::fs::read_to_string(path).unwrap();
    let h = headers(&text);
    let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
    let rel = format!(".github/workflows/{stem}.yml");
    let mut files = BTreeMap::new();
    collect_files(&path.with_extension("files"), "", &mut files);
    files.insert(rel.clone(), text.clone());
    for f in list(header(&h, "files")) {
        files.entry(f.clone()).or_insert_with(|| format!("content of {f}\n"));
    }
    let mut project = MemProject::new(files.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    if let Some(c) = header(&h, "changed") {
        project.changed = Some(list(Some(c)));
    }
    let mut ctx = context();
    ctx.source = header(&h, "event").unwrap_or("push").to_string();
    if let Some(t) = header(&h, "tag") {
        ctx.git.ref_name = t.to_string();
        ctx.git.is_tag = true;
    } else if let Some(r) = header(&h, "ref") {
        ctx.git.ref_name = r.to_string();
    }
    if let Some(b) = header(&h, "base") {
        ctx.git.default_branch = b.to_string();
    }
    ctx.pipeline_vars = kv_list(header(&h, "vars"));
    ctx.secrets = kv_list(header(&h, "secrets"));
    ctx.inputs = kv_list(header(&h, "inputs"));
    ctx.config_path = rel.clone();
    (github::compile(&rel, &project, &ctx), h)
}

fn render(c: &Compiled) -> String {
    let mut out = String::new();
    for d in &c.diagnostics {
        out.push_str(&c.sources.render(d));
    }
    if c.workflow_excluded {
        out.push_str("not triggered\n");
    }
    let Some(p) = &c.pipeline else { return out };
    for j in &p.jobs {
        let gh = j.github.as_deref().expect("GitHub job");
        out.push_str(&format!("job {:?} (id {})\n", j.name, gh.id));
        let needs: Vec<&str> = j.needs.iter().flatten().map(|n| p.jobs[n.job].name.as_str()).collect();
        if !needs.is_empty() {
            out.push_str(&format!("  needs: {needs:?}\n"));
        }
        if gh.matrix != ci::github::expr::Value::Null {
            out.push_str(&format!("  matrix: {}\n", gh.matrix.to_json()));
        }
        let mut flags = vec![format!("timeout={}m", j.timeout_secs / 60)];
        if gh.continue_on_error {
            flags.push("continue-on-error".into());
        }
        if let Some(c) = &gh.concurrency {
            flags.push(format!("concurrency={c:?}"));
        }
        if gh.strategy.group.is_some() {
            flags.push(format!("fail-fast={}", gh.strategy.fail_fast));
            if let Some(m) = gh.strategy.max_parallel {
                flags.push(format!("max-parallel={m}"));
            }
        }
        if !j.skippable {
            flags.push("no-skip".into());
        }
        out.push_str(&format!("  {}\n", flags.join(" ")));
        if let Some(i) = &j.inputs {
            out.push_str(&format!("  inputs: include={:?} exclude={:?}\n", i.include, i.exclude));
        }
        if !gh.env.is_empty() {
            out.push_str(&format!("  env: {:?}\n", gh.env.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>()));
        }
        if !gh.outputs.is_empty() {
            out.push_str(&format!("  outputs: {:?}\n", gh.outputs.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>()));
        }
        for s in &gh.steps {
            let kind = match &s.kind {
                ci::model::StepKind::Run { shell, .. } => {
                    format!("run shell={}", shell.as_deref().unwrap_or("default"))
                }
                ci::model::StepKind::Action { owner_name, git_ref, with } => {
                    format!(
                        "uses {owner_name}@{git_ref}{}",
                        if ci::github::is_builtin(owner_name) { " (built in)" } else { " (remote)" }
                    ) + &if with.is_empty() {
                        String::new()
                    } else {
                        format!(" with {:?}", with.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>())
                    }
                }
                ci::model::StepKind::Composite { path, action, .. } => {
                    format!("uses ./{path} (composite, {} steps)", action.steps.len())
                }
                ci::model::StepKind::Docker { image } => format!("uses docker://{image}"),
            };
            out.push_str(&format!("  step {} {:?}: {kind}\n", s.id, s.name));
        }
    }
    out
}

fn cases(dir: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("test_data/github").join(dir);
    let mut v: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "yml"))
        .collect();
    v.sort();
    v
}

fn check_case(path: &Path) -> Result<(), String> {
    let (c, h) = compile_case(path);
    let text = std::fs::read_to_string(path).unwrap();
    let want_diags: Vec<String> = text
        .lines()
        .take_while(|l| l.starts_with('#'))
        .filter_map(|l| l.strip_prefix("# expect-diag:").map(|v| v.trim().to_string()))
        .collect();
    let got_diags: Vec<String> = c
        .diagnostics
        .iter()
        .filter(|d| d.is_error())
        .map(|d| format!("{}:{} {}", d.pos.line, d.pos.col, d.rule))
        .collect();
    let mut problems = Vec::new();
    if want_diags != got_diags {
        let rendered: String =
            c.diagnostics.iter().filter(|d| d.is_error()).map(|d| c.sources.render(d)).collect::<Vec<_>>().join("");
        problems.push(format!("diagnostics: expected {want_diags:?}\n got {got_diags:?}\n{rendered}"));
    }
    let not_triggered = header(&h, "expect-not-triggered") == Some("true");
    if want_diags.is_empty() {
        if not_triggered != c.workflow_excluded {
            problems.push(format!("triggered: expected not-triggered={not_triggered}, got {}", c.workflow_excluded));
        }
        if let Some(jobs) = header(&h, "expect-jobs") {
            let want: Vec<&str> = jobs.split(';').map(str::trim).filter(|s| !s.is_empty()).collect();
            let got: Vec<&str> =
                c.pipeline.as_ref().map(|p| p.jobs.iter().map(|j| j.name.as_str()).collect()).unwrap_or_default();
            if want != got {
                problems.push(format!("jobs: expected {want:?}\n got {got:?}"));
            }
        }
    }
    // Snapshot.
    let snap = path.with_extension("snap");
    let rendered = render(&c);
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        std::fs::write(&snap, &rendered).unwrap();
    } else {
        match std::fs::read_to_string(&snap) {
            Ok(s) if s == rendered => {}
            Ok(_) => problems.push(format!("snapshot {} differs (UPDATE_SNAPSHOTS=1 to review)", snap.display())),
            Err(_) => problems.push(format!("no snapshot {} (UPDATE_SNAPSHOTS=1 writes it)", snap.display())),
        }
    }
    if problems.is_empty() { Ok(()) } else { Err(problems.join("\n")) }
}

fn run_dir(dir: &str, min: usize) {
    let all = cases(dir);
    assert!(all.len() >= min, "only {} cases in {dir}", all.len());
    let failures: Vec<String> = all
        .iter()
        .filter_map(|p| check_case(p).err().map(|e| format!("== {}\n{e}", p.file_name().unwrap().to_string_lossy())))
        .collect();
    assert!(failures.is_empty(), "{} of {} cases fail:\n{}", failures.len(), all.len(), failures.join("\n"));
}

#[test]
fn workflow_corpus() {
    run_dir("workflows", 30);
}

/// Workflows in the style of well-known Rust projects check clean.
#[test]
fn project_workflows_check_clean() {
    run_dir("projects", 10);
}
