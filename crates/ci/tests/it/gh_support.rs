//! Shared helpers for the GitHub Actions tests: an in-memory project and a
//! fixed run context.

use ci::gitlab::{Context, GitInfo, Project};
use std::collections::BTreeMap;

pub(crate) struct MemProject {
    pub(crate) files: BTreeMap<String, String>,
    pub(crate) list: Vec<String>,
    pub(crate) changed: Option<Vec<String>>,
}

impl MemProject {
    pub(crate) fn new<'a>(files: impl IntoIterator<Item = (&'a str, &'a str)>) -> MemProject {
        let files: BTreeMap<String, String> = files.into_iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let list = files.keys().cloned().collect();
        MemProject { files, list, changed: None }
    }
}

impl Project for MemProject {
    fn read(&self, path: &str) -> Result<String, String> {
        self.files.get(path.trim_start_matches('/')).cloned().ok_or_else(|| "No such file or directory".to_string())
    }
    fn files(&self) -> &[String] {
        &self.list
    }
    fn changed(&self, _compare_to: Option<&str>) -> Option<Vec<String>> {
        self.changed.clone()
    }
}

pub(crate) fn context() -> Context {
    Context {
        source: "push".into(),
        git: GitInfo {
            sha: "0123456789abcdef0123456789abcdef01234567".into(),
            before_sha: "fedcba9876543210fedcba9876543210fedcba98".into(),
            ref_name: "main".into(),
            is_tag: false,
            default_branch: "main".into(),
            message: "Add a feature\n\nWith a body.".into(),
            author_name: "Dev One".into(),
            author_email: "dev@example.com".into(),
            timestamp: "2026-11-01T12:00:00Z".into(),
            project_name: "demo".into(),
            project_namespace: "acme".into(),
            repo_url: "file:///demo".into(),
        },
        pipeline_id: 7,
        pipeline_vars: vec![],
        secrets: vec![],
        host_env: vec![("HOME".into(), "/home/ci".into())],
        created_at: "2026-11-01T12:00:00Z".into(),
        config_path: ".github/workflows/ci.yml".into(),
        inputs: vec![],
    }
}

/// JSON equality with numbers compared as f64 (`1` equals `1.0`).
pub(crate) fn json_eq(a: &serde_json::Value, b: &serde_json::Value) -> bool {
    use serde_json::Value as Json;
    match (a, b) {
        (Json::Number(x), Json::Number(y)) => x.as_f64() == y.as_f64(),
        (Json::Array(x), Json::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(p, q)| json_eq(p, q)),
        (Json::Object(x), Json::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| json_eq(v, w)))
        }
        _ => a == b,
    }
}
