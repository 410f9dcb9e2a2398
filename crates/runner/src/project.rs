//! The project on disk: its file list, its changed files, and git facts.

use ci::gitlab::{GitInfo, Project};
use std::cell::RefCell;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Directories that are never part of a job's snapshot.
pub const EXCLUDED_DIRS: &[&str] = &[".git", ".shipway"];

pub struct FsProject {
    root: PathBuf,
    files: Vec<String>,
    git: bool,
    default_branch: String,
    changed_cache: RefCell<HashMap<Option<String>, Option<Vec<String>>>>,
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProjectError {
    #[error("{context}: {source}")]
    Io { context: String, source: std::io::Error },
    #[error("{0}")]
    Invalid(String),
}

fn git(root: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new("git").arg("-C").arg(root).args(args).output().ok()?;
    if !out.status.success() {
        return None;
    }
    Some(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The project root: the git top level above `dir`, or `dir` itself.
pub fn find_root(dir: &Path) -> PathBuf {
    git(dir, &["rev-parse", "--show-toplevel"]).map(|s| PathBuf::from(s.trim())).unwrap_or_else(|| dir.to_path_buf())
}

impl FsProject {
    pub fn open(root: &Path) -> Result<FsProject, ProjectError> {
        let root = root.to_path_buf();
        let is_git = root.join(".git").exists() && git(&root, &["rev-parse", "--git-dir"]).is_some();
        let files = if is_git {
            let out = git(&root, &["ls-files", "-z", "--cached", "--others", "--exclude-standard"])
                .ok_or_else(|| ProjectError::Invalid("`git ls-files` failed".into()))?;
            let mut seen = std::collections::HashSet::new();
            let mut files = Vec::new();
            for f in out.split('\0').filter(|f| !f.is_empty()) {
                if is_excluded(f) || !seen.insert(f.to_string()) {
                    continue;
                }
                let p = root.join(f);
                match std::fs::symlink_metadata(&p) {
                    Ok(m) if m.is_dir() => {
                        // A submodule: take its files as they are on disk.
                        walk(&p, f, &mut files);
                    }
                    Ok(_) => files.push(f.to_string()),
                    Err(_) => {} // deleted in the working tree
                }
            }
            files
        } else {
            let mut files = Vec::new();
            walk(&root, "", &mut files);
            files
        };
        let default_branch = if is_git { detect_default_branch(&root) } else { "main".into() };
        Ok(FsProject { root, files, git: is_git, default_branch, changed_cache: RefCell::new(HashMap::new()) })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn is_git(&self) -> bool {
        self.git
    }

    /// Git facts for the pipeline. `ref_override` is `--ref`; `want_tag`
    /// asks for a tag pipeline.
    pub fn git_info(&self, ref_override: Option<&str>, want_tag: bool) -> Result<GitInfo, ProjectError> {
        let name = self.root.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "project".into());
        let mut info = GitInfo {
            sha: "0".repeat(40),
            before_sha: "0".repeat(40),
            ref_name: ref_override.unwrap_or("main").to_string(),
            default_branch: self.default_branch.clone(),
            project_name: name.clone(),
            project_namespace: "local".into(),
            repo_url: format!("file://{}", self.root.display()),
            author_name: "shipway".into(),
            author_email: "shipway@localhost".into(),
            ..Default::default()
        };
        if !self.git {
            info.is_tag = want_tag;
            return Ok(info);
        }
        if let Some(log) = git(&self.root, &["log", "-1", "--format=%H%x00%P%x00%an%x00%ae%x00%cI%x00%B"]) {
            let parts: Vec<&str> = log.splitn(6, '\0').collect();
            if parts.len() == 6 {
                info.sha = parts[0].to_string();
                if let Some(p) = parts[1].split_whitespace().next() {
                    info.before_sha = p.to_string();
                }
                info.author_name = parts[2].to_string();
                info.author_email = parts[3].to_string();
                info.timestamp = parts[4].to_string();
                info.message = parts[5].trim_end().to_string();
            }
        }
        if let Some(url) = git(&self.root, &["remote", "get-url", "origin"]) {
            let url = url.trim().to_string();
            let path = url.rsplit_once(':').map(|(_, p)| p).unwrap_or(&url);
            let path = path.trim_end_matches(".git");
            let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
            if segs.len() >= 2 {
                info.project_namespace = segs[segs.len() - 2].to_string();
                info.project_name = segs[segs.len() - 1].to_string();
            }
            info.repo_url = url;
        }
        let branch = git(&self.root, &["symbolic-ref", "--short", "-q", "HEAD"]).map(|s| s.trim().to_string());
        let head_tag = git(&self.root, &["describe", "--tags", "--exact-match", "HEAD"]).map(|s| s.trim().to_string());
        match ref_override {
            Some(r) => {
                info.ref_name = r.to_string();
                let is_tag_ref = git(&self.root, &["rev-parse", "-q", "--verify", &format!("refs/tags/{r}")]).is_some();
                info.is_tag = want_tag
                    || (is_tag_ref
                        && git(&self.root, &["rev-parse", "-q", "--verify", &format!("refs/heads/{r}")]).is_none());
            }
            None if want_tag => match head_tag {
                Some(t) => {
                    info.ref_name = t;
                    info.is_tag = true;
                }
                None => {
                    return Err(ProjectError::Invalid(
                        "--event tag: no tag points at HEAD; pass the tag name with --ref".into(),
                    ));
                }
            },
            None => {
                info.ref_name = branch.unwrap_or_else(|| info.sha.clone());
            }
        }
        Ok(info)
    }
}

fn is_excluded(rel: &str) -> bool {
    EXCLUDED_DIRS.iter().any(|d| rel == *d || rel.starts_with(&format!("{d}/")))
}

fn walk(dir: &Path, prefix: &str, out: &mut Vec<String>) {
    let Ok(rd) = std::fs::read_dir(dir) else { return };
    let mut entries: Vec<_> = rd.filter_map(|e| e.ok()).collect();
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let name = e.file_name().to_string_lossy().into_owned();
        let rel = if prefix.is_empty() { name.clone() } else { format!("{prefix}/{name}") };
        if is_excluded(&rel) || (prefix.is_empty() && EXCLUDED_DIRS.contains(&name.as_str())) {
            continue;
        }
        match e.file_type() {
            Ok(t) if t.is_dir() => {
                if name == ".git" {
                    continue;
                }
                walk(&e.path(), &rel, out)
            }
            Ok(_) => out.push(rel),
            Err(_) => {}
        }
    }
}

fn detect_default_branch(root: &Path) -> String {
    if let Some(s) = git(root, &["symbolic-ref", "--short", "-q", "refs/remotes/origin/HEAD"]) {
        return s.trim().trim_start_matches("origin/").to_string();
    }
    for b in ["main", "master"] {
        if git(root, &["rev-parse", "-q", "--verify", &format!("refs/heads/{b}")]).is_some() {
            return b.to_string();
        }
    }
    git(root, &["symbolic-ref", "--short", "-q", "HEAD"]).map(|s| s.trim().to_string()).unwrap_or_else(|| "main".into())
}

impl Project for FsProject {
    fn read(&self, path: &str) -> Result<String, String> {
        let rel = path.trim_start_matches('/');
        if rel.split('/').any(|c| c == "..") {
            return Err("path leaves the project".into());
        }
        std::fs::read_to_string(self.root.join(rel)).map_err(|e| e.to_string())
    }

    fn files(&self) -> &[String] {
        &self.files
    }

    fn changed(&self, compare_to: Option<&str>) -> Option<Vec<String>> {
        let key = compare_to.map(String::from);
        if let Some(v) = self.changed_cache.borrow().get(&key) {
            return v.clone();
        }
        let v = self.compute_changed(compare_to);
        self.changed_cache.borrow_mut().insert(key, v.clone());
        v
    }
}

impl FsProject {
    fn compute_changed(&self, compare_to: Option<&str>) -> Option<Vec<String>> {
        if !self.git {
            return None;
        }
        let base = match compare_to {
            Some(r) => {
                git(&self.root, &["rev-parse", "-q", "--verify", &format!("{r}^{{commit}}")])?.trim().to_string()
            }
            None => {
                let branch = git(&self.root, &["symbolic-ref", "--short", "-q", "HEAD"]).map(|s| s.trim().to_string());
                let on_default = branch.as_deref() == Some(self.default_branch.as_str());
                if !on_default && let Some(mb) = git(&self.root, &["merge-base", "HEAD", &self.default_branch]) {
                    mb.trim().to_string()
                } else {
                    // A push to the default branch: what the last commit changed.
                    git(&self.root, &["rev-parse", "-q", "--verify", "HEAD~1"])?.trim().to_string()
                }
            }
        };
        let diff = git(&self.root, &["diff", "--name-only", "-z", &base])?;
        let untracked = git(&self.root, &["ls-files", "-z", "--others", "--exclude-standard"]).unwrap_or_default();
        let mut files: Vec<String> =
            diff.split('\0').chain(untracked.split('\0')).filter(|f| !f.is_empty()).map(String::from).collect();
        files.sort();
        files.dedup();
        Some(files)
    }
}
