//! The data-driven GitLab corpus: every `test_data/gitlab/*.yml` is compiled
//! with a fixed context and rendered as text (plan or diagnostics), then
//! compared with the `.snap` file next to it. `UPDATE_SNAPSHOTS=1` rewrites
//! the snapshots; review every change by hand before committing it.
//!
//! Case header comments set the context:
//! `# ref: NAME`, `# tag: true`, `# event: merge_request_event`,
//! `# vars: K=V, K2=V2`, `# changed: path, path`, `# files: path, path`.
//! Extra project files (for `include`, `exists`) live in `<case>.files/`.

use crate::gh_support::MemProject;
use ci::diag::SourceMap;
use ci::gitlab::{self, Compiled, Context, GitInfo};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn header(text: &str, key: &str) -> Option<String> {
    let prefix = format!("# {key}:");
    text.lines().take_while(|l| l.starts_with('#')).find_map(|l| l.strip_prefix(&prefix).map(|v| v.trim().to_string()))
}

fn split_list(v: Option<String>) -> Vec<String> {
    v.map(|s| s.split(',').map(|x| x.trim().to_string()).filter(|x| !x.is_empty()).collect()).unwrap_or_default()
}

/// Every file under `dir`, keyed by its path relative to `dir` (with `prefix`).
pub(crate) fn collect_files(dir: &Path, prefix: &str, out: &mut BTreeMap<String, String>) {
    let Ok(rd) = std::fs::read_dir(dir) else { return };
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let rel = if prefix.is_empty() { name.clone() } else { format!("{prefix}/{name}") };
        if e.path().is_dir() {
            collect_files(&e.path(), &rel, out);
        } else {
            out.insert(rel, std::fs::read_to_string(e.path()).unwrap_or_default());
        }
    }
}

pub(crate) fn compile_case(path: &Path) -> (Compiled, String) {
    let text = std::fs::read_to_string(path).unwrap();
    let mut files = BTreeMap::new();
    let extra = path.with_extension("files");
    collect_files(&extra, "", &mut files);
    files.insert(".gitlab-ci.yml".to_string(), text.clone());
    let mut list: Vec<String> = files.keys().cloned().collect();
    list.extend(list_from(&text));
    list.sort();
    list.dedup();
    let changed = header(&text, "changed").map(|s| split_list(Some(s)));
    let project = MemProject { files, list, changed };
    let ref_name = header(&text, "ref").unwrap_or_else(|| "main".into());
    let is_tag = header(&text, "tag").as_deref() == Some("true");
    let vars = split_list(header(&text, "vars"))
        .into_iter()
        .filter_map(|kv| kv.split_once('=').map(|(k, v)| (k.to_string(), v.to_string())))
        .collect();
    let ctx = Context {
        source: header(&text, "event").unwrap_or_else(|| "push".into()),
        git: GitInfo {
            sha: "0123456789abcdef0123456789abcdef01234567".into(),
            before_sha: "fedcba9876543210fedcba9876543210fedcba98".into(),
            ref_name,
            is_tag,
            default_branch: "main".into(),
            message: "Add a feature\n\nWith a body.".into(),
            author_name: "Ada".into(),
            author_email: "ada@example.com".into(),
            timestamp: "2026-11-01T12:00:00Z".into(),
            project_name: "demo".into(),
            project_namespace: "group".into(),
            repo_url: "file:///demo".into(),
        },
        pipeline_id: 7,
        pipeline_vars: vars,
        secrets: vec![],
        host_env: vec![("HOME".into(), "/home/ci".into())],
        created_at: "2026-11-01T12:00:00Z".into(),
        config_path: ".gitlab-ci.yml".into(),
        inputs: vec![],
    };
    let compiled = gitlab::compile(".gitlab-ci.yml", &project, &ctx);
    let rendered = render(&compiled);
    (compiled, rendered)
}

fn list_from(text: &str) -> Vec<String> {
    split_list(header(text, "files"))
}

fn shown_var(k: &str, job: &ci::model::Job) -> bool {
    if k == "CI_NODE_INDEX" || k == "CI_NODE_TOTAL" {
        return job.node.is_some();
    }
    if k == "CI_ENVIRONMENT_NAME" || k == "CI_ENVIRONMENT_URL" {
        return true;
    }
    !(k == "CI" || k.starts_with("CI_") || k.starts_with("GITLAB_"))
}

pub(crate) fn render(c: &Compiled) -> String {
    let mut out = String::new();
    render_diags(&c.sources, c, &mut out);
    if c.workflow_excluded {
        out.push_str("pipeline: excluded by workflow:rules\n");
        return out;
    }
    let Some(p) = &c.pipeline else {
        out.push_str("pipeline: none\n");
        return out;
    };
    if c.has_errors() {
        return out;
    }
    if let Some(n) = &p.name {
        out.push_str(&format!("name: {n}\n"));
    }
    out.push_str(&format!("stages: {}\n", p.stages.join(", ")));
    for j in &p.jobs {
        out.push_str(&format!("job {:?}\n", j.name));
        out.push_str(&format!("  stage: {}\n", j.stage));
        let mut flags = vec![format!("when={}", j.when.as_str())];
        if j.allow_failure.allowed || !j.allow_failure.exit_codes.is_empty() {
            if j.allow_failure.exit_codes.is_empty() {
                flags.push("allow_failure".into());
            } else {
                flags.push(format!("allow_failure(exit_codes={:?})", j.allow_failure.exit_codes));
            }
        }
        if let Some(s) = j.start_in_secs {
            flags.push(format!("start_in={s}s"));
        }
        if j.timeout_secs != ci::model::DEFAULT_TIMEOUT_SECS {
            flags.push(format!("timeout={}s", j.timeout_secs));
        }
        if j.retry.max > 0 {
            flags.push(format!(
                "retry={}{}",
                j.retry.max,
                if j.retry.when.is_empty() { String::new() } else { format!("{:?}", j.retry.when) }
            ));
        }
        if !j.skippable {
            flags.push("no-skip".into());
        }
        out.push_str(&format!("  {}\n", flags.join(" ")));
        if let Some(i) = &j.inputs {
            out.push_str(&format!("  inputs: include={:?} exclude={:?}\n", i.include, i.exclude));
        }
        if let Some(n) = &j.needs {
            let names: Vec<String> = n
                .iter()
                .map(|e| {
                    if e.artifacts {
                        p.jobs[e.job].name.clone()
                    } else {
                        format!("{} (no artifacts)", p.jobs[e.job].name)
                    }
                })
                .collect();
            out.push_str(&format!("  needs: [{}]\n", names.join(", ")));
        }
        if let Some(d) = &j.dependencies {
            let names: Vec<&str> = d.iter().map(|&i| p.jobs[i].name.as_str()).collect();
            out.push_str(&format!("  dependencies: [{}]\n", names.join(", ")));
        }
        for (k, v) in [("before_script", &j.before_script), ("script", &j.script), ("after_script", &j.after_script)] {
            if !v.is_empty() {
                out.push_str(&format!("  {k}: {v:?}\n"));
            }
        }
        let vars: Vec<String> =
            j.variables.iter().filter(|(k, _)| shown_var(k, j)).map(|(k, v)| format!("{k}={v}")).collect();
        if !vars.is_empty() {
            out.push_str(&format!("  variables: {}\n", vars.join(" ")));
        }
        if let Some(a) = &j.artifacts {
            out.push_str(&format!(
                "  artifacts: paths={:?} exclude={:?} when={:?} dotenv={:?}{}\n",
                a.paths,
                a.exclude,
                a.when,
                a.dotenv,
                a.expire_in.as_ref().map(|e| format!(" expire_in={e}")).unwrap_or_default()
            ));
        }
        for cache in &j.caches {
            out.push_str(&format!(
                "  cache: key={:?} paths={:?} policy={:?} when={:?}\n",
                cache.key, cache.paths, cache.policy, cache.when
            ));
        }
        if let Some(e) = &j.environment {
            out.push_str(&format!(
                "  environment: {}{}\n",
                e.name,
                e.url.as_ref().map(|u| format!(" ({u})")).unwrap_or_default()
            ));
        }
        if let Some(i) = &j.image {
            out.push_str(&format!("  image: {i}\n"));
        }
        if let Some(c) = &j.coverage {
            out.push_str(&format!("  coverage: /{c}/\n"));
        }
    }
    for (name, why) in &c.excluded {
        out.push_str(&format!("excluded {name:?}: {why}\n"));
    }
    out
}

fn render_diags(sources: &SourceMap, c: &Compiled, out: &mut String) {
    for d in &c.diagnostics {
        out.push_str(&sources.render(d));
    }
}

#[test]
fn gitlab_corpus() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("test_data/gitlab");
    let mut cases: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "yml"))
        .collect();
    cases.sort();
    assert!(cases.len() >= 40, "the corpus should hold at least 40 cases, found {}", cases.len());
    let update = std::env::var_os("UPDATE_SNAPSHOTS").is_some();
    let mut failures = Vec::new();
    for case in &cases {
        let (_, rendered) = compile_case(case);
        let snap = case.with_extension("snap");
        if update {
            std::fs::write(&snap, &rendered).unwrap();
            continue;
        }
        let expected = std::fs::read_to_string(&snap).unwrap_or_default();
        if expected != rendered {
            failures.push(format!("--- {}\n--- expected\n{expected}\n--- actual\n{rendered}", case.display()));
        }
    }
    assert!(failures.is_empty(), "{} corpus case(s) differ:\n{}", failures.len(), failures.join("\n"));
}
