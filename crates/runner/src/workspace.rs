//! Job workspaces: a private copy of the project for every job, and the
//! file-tree operations that artifacts and caches use.
//!
//! The snapshot's file list is computed once per run (git-tracked files plus
//! untracked, not-ignored ones, i.e. the working tree as the user sees it).
//! Each job gets its own copy; files are copied with `std::fs::copy`, which
//! uses `copy_file_range` (and so reflinks on filesystems that offer them),
//! on several threads for large trees. The user's working tree is only read.

use std::collections::HashSet;
use std::io;
use std::path::{Component, Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

#[derive(Debug)]
pub struct Snapshot {
    pub root: PathBuf,
    pub files: Vec<String>,
    /// A `--shared` clone of the repository, pointed at by each job's `.git`
    /// file, so jobs can run git commands without touching the user's repo.
    /// Made on a background thread; the first job to start waits for it.
    git_dir: OnceLock<Option<PathBuf>>,
    pending_clone: Mutex<Option<std::thread::JoinHandle<Option<PathBuf>>>>,
}

#[derive(Clone, Copy, Debug, Default)]
pub struct CopyStats {
    pub files: usize,
    pub bytes: u64,
    pub elapsed: Duration,
}

impl Snapshot {
    pub fn new(root: &Path, files: Vec<String>, run_dir: &Path, with_git: bool) -> Snapshot {
        let pending = with_git.then(|| {
            let (root, run_dir) = (root.to_path_buf(), run_dir.to_path_buf());
            std::thread::spawn(move || shared_clone(&root, &run_dir))
        });
        Snapshot { root: root.to_path_buf(), files, git_dir: OnceLock::new(), pending_clone: Mutex::new(pending) }
    }

    /// The shared clone, once it is ready (`None` outside git or if cloning failed).
    pub fn git_dir(&self) -> Option<&Path> {
        self.git_dir
            .get_or_init(|| {
                let handle = self.pending_clone.lock().ok().and_then(|mut p| p.take());
                handle.and_then(|h| h.join().ok().flatten())
            })
            .as_deref()
    }

    /// Copy the snapshot into `dest` (created if needed).
    pub fn materialize(&self, dest: &Path) -> io::Result<CopyStats> {
        let start = Instant::now();
        std::fs::create_dir_all(dest)?;
        let threads = if self.files.len() > 512 {
            std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2).min(8)
        } else {
            1
        };
        let mut bytes = 0u64;
        if threads == 1 {
            bytes = copy_list(&self.root, dest, &self.files)?;
        } else {
            let chunk = self.files.len().div_ceil(threads);
            let results: Vec<io::Result<u64>> = std::thread::scope(|s| {
                let handles: Vec<_> =
                    self.files.chunks(chunk).map(|part| s.spawn(move || copy_list(&self.root, dest, part))).collect();
                handles
                    .into_iter()
                    .map(|h| h.join().unwrap_or_else(|_| Err(io::Error::other("copy thread panicked"))))
                    .collect()
            });
            for r in results {
                bytes += r?;
            }
        }
        if let Some(g) = self.git_dir() {
            std::fs::write(dest.join(".git"), format!("gitdir: {}\n", g.display()))?;
        }
        Ok(CopyStats { files: self.files.len(), bytes, elapsed: start.elapsed() })
    }
}

fn shared_clone(root: &Path, run_dir: &Path) -> Option<PathBuf> {
    let target = run_dir.join("git");
    let ok = std::process::Command::new("git")
        .args(["clone", "-q", "--shared", "--no-checkout"])
        .arg(root)
        .arg(&target)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .ok()?
        .success();
    if !ok {
        return None;
    }
    // Fill the index from HEAD so `git status` in a job shows the local
    // modifications rather than every file as new.
    let _ = std::process::Command::new("git")
        .arg("-C")
        .arg(&target)
        .args(["read-tree", "HEAD"])
        .stderr(std::process::Stdio::null())
        .status();
    let dir = target.join(".git");
    std::fs::canonicalize(&dir).ok().or(Some(dir))
}

fn copy_list(src_root: &Path, dest: &Path, files: &[String]) -> io::Result<u64> {
    let mut made: HashSet<PathBuf> = HashSet::new();
    let mut bytes = 0;
    for rel in files {
        let src = src_root.join(rel);
        let dst = dest.join(rel);
        if let Some(parent) = dst.parent()
            && !made.contains(parent)
        {
            std::fs::create_dir_all(parent)?;
            made.insert(parent.to_path_buf());
        }
        bytes += copy_entry(&src, &dst)?;
    }
    Ok(bytes)
}

/// Copy one file or symlink (symlinks stay symlinks). Missing sources are
/// skipped: the working tree may change while a run starts.
fn copy_entry(src: &Path, dst: &Path) -> io::Result<u64> {
    let meta = match std::fs::symlink_metadata(src) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e),
    };
    if meta.file_type().is_symlink() {
        let target = std::fs::read_link(src)?;
        let _ = std::fs::remove_file(dst);
        std::os::unix::fs::symlink(target, dst)?;
        Ok(0)
    } else if meta.is_dir() {
        std::fs::create_dir_all(dst)?;
        Ok(0)
    } else {
        std::fs::copy(src, dst)
    }
}

/// A path from a pipeline, made safe: relative, normalized, inside the
/// workspace. `Err` explains why it is rejected.
pub fn safe_relative(p: &str) -> Result<String, String> {
    let trimmed = p.trim();
    if trimmed.starts_with('/') {
        return Err(format!("`{p}` is an absolute path; paths must stay inside the job's workspace"));
    }
    let mut parts: Vec<&str> = Vec::new();
    for c in Path::new(trimmed).components() {
        match c {
            Component::Normal(s) => parts.push(s.to_str().unwrap_or("")),
            Component::CurDir => {}
            Component::ParentDir => {
                return Err(format!("`{p}` contains `..`; paths must stay inside the job's workspace"));
            }
            Component::RootDir | Component::Prefix(_) => {
                return Err(format!("`{p}` is an absolute path; paths must stay inside the job's workspace"));
            }
        }
    }
    Ok(parts.join("/"))
}

/// Every file (and symlink) under `dir`, relative, without following
/// symlinked directories.
pub fn list_tree(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for entry in walkdir::WalkDir::new(dir).follow_links(false).min_depth(1).sort_by_file_name() {
        let Ok(e) = entry else { continue };
        if e.file_type().is_dir() {
            continue;
        }
        if let Ok(rel) = e.path().strip_prefix(dir) {
            let rel = rel.to_string_lossy().replace('\\', "/");
            if rel == ".git" {
                continue;
            }
            out.push(rel);
        }
    }
    out
}

/// Files of `workspace` selected by GitLab artifact/cache `paths` (globs; a
/// matching directory takes everything below it) minus `exclude`.
/// `untracked` adds every file that was not in the snapshot.
pub fn select(
    workspace: &Path,
    paths: &[String],
    exclude: &[String],
    untracked: Option<&HashSet<&str>>,
) -> (Vec<String>, Vec<String>) {
    let mut warnings = Vec::new();
    let mut pats = Vec::new();
    for p in paths {
        match safe_relative(p) {
            Ok(rel) if rel.is_empty() => pats.push("**".to_string()),
            Ok(rel) => pats.push(rel),
            Err(e) => warnings.push(e),
        }
    }
    let excl: Vec<String> = exclude.iter().filter_map(|p| safe_relative(p).ok()).collect();
    let build = |list: &[String]| {
        let mut b = globset::GlobSetBuilder::new();
        for p in list {
            if let Ok(g) = globset::GlobBuilder::new(p).literal_separator(true).build() {
                b.add(g);
            }
        }
        b.build().unwrap_or_else(|_| globset::GlobSet::empty())
    };
    let inc = build(&pats);
    let exc = build(&excl);
    let all = list_tree(workspace);
    let mut out = Vec::new();
    for f in all {
        let mut hit = untracked.is_some_and(|tracked| !tracked.contains(f.as_str()));
        if !hit {
            // The file, or any directory above it, matches a pattern.
            let mut prefix = String::new();
            for (i, comp) in f.split('/').enumerate() {
                if i > 0 {
                    prefix.push('/');
                }
                prefix.push_str(comp);
                if inc.is_match(&prefix) {
                    hit = true;
                    break;
                }
            }
        }
        if hit && !exc.is_match(&f) && !ancestors_match(&exc, &f) {
            out.push(f);
        }
    }
    for p in &pats {
        if !p.contains('*') && !workspace.join(p).exists() {
            warnings.push(format!("{p}: no matching files"));
        }
    }
    (out, warnings)
}

fn ancestors_match(set: &globset::GlobSet, f: &str) -> bool {
    let mut prefix = String::new();
    for comp in f.split('/') {
        if !prefix.is_empty() {
            prefix.push('/');
        }
        prefix.push_str(comp);
        if prefix.len() < f.len() && set.is_match(&prefix) {
            return true;
        }
    }
    false
}

/// Copy the listed relative files from `src` to `dst`. Symlinks that point
/// outside `src` are refused with a warning.
pub fn copy_files(src: &Path, dst: &Path, files: &[String]) -> (u64, Vec<String>) {
    let mut warnings = Vec::new();
    let mut bytes = 0;
    let canon_src = std::fs::canonicalize(src).unwrap_or_else(|_| src.to_path_buf());
    for rel in files {
        let from = src.join(rel);
        let to = dst.join(rel);
        if let Ok(m) = std::fs::symlink_metadata(&from)
            && m.file_type().is_symlink()
        {
            let target = std::fs::read_link(&from).unwrap_or_default();
            let resolved = from.parent().map(|p| p.join(&target)).unwrap_or_default();
            let inside = normalize(&resolved).starts_with(&canon_src) || normalize(&resolved).starts_with(src);
            if target.is_absolute() || !inside {
                warnings.push(format!("{rel}: symlink points outside the workspace; not copied"));
                continue;
            }
        }
        if let Some(parent) = to.parent()
            && let Err(e) = std::fs::create_dir_all(parent)
        {
            warnings.push(format!("{rel}: {e}"));
            continue;
        }
        match copy_entry(&from, &to) {
            Ok(n) => bytes += n,
            Err(e) => warnings.push(format!("{rel}: {e}")),
        }
    }
    (bytes, warnings)
}

fn normalize(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other.as_os_str()),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_escaping_paths() {
        assert!(safe_relative("../x").is_err());
        assert!(safe_relative("/etc").is_err());
        assert!(safe_relative("a/../../x").is_err());
        assert_eq!(safe_relative("./a/b/").unwrap(), "a/b");
    }
}
