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
    /// Every snapshot file including `.git/...` ones, and every directory
    /// that holds one, computed on first use.
    dirs: OnceLock<HashSet<String>>,
    /// The files of the base git directory, copied into each job's `.git`.
    git_files: OnceLock<Vec<String>>,
    pending_clone: Mutex<Option<std::thread::JoinHandle<Option<PathBuf>>>>,
}

#[derive(Clone, Copy, Debug, Default)]
pub struct CopyStats {
    pub files: usize,
    /// Files a reset found untouched and left in place.
    pub kept: usize,
    pub bytes: u64,
    pub elapsed: Duration,
}

/// What a workspace file looked like right after shipway wrote it. The
/// kernel updates a file's ctime on every change to its content or metadata
/// (write, chmod, link, rename) and user space cannot set it; a write also
/// sets mtime to the current time, while shipway gave the copy the source's
/// older mtime. Timestamps are coarse (a kernel tick), so the ctime alone
/// could miss a write in the same tick as the copy; the mtime cannot. An
/// unchanged inode, size, mtime and ctime prove a job did not touch the file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Stamp {
    ino: u64,
    size: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl Stamp {
    fn of(path: &Path) -> Option<Stamp> {
        use std::os::unix::fs::MetadataExt;
        let m = std::fs::symlink_metadata(path).ok()?;
        m.file_type().is_file().then(|| Stamp {
            ino: m.ino(),
            size: m.size(),
            mtime: (m.mtime(), m.mtime_nsec()),
            ctime: (m.ctime(), m.ctime_nsec()),
        })
    }
}

/// The stamps of a workspace's snapshot files, so the next reset can leave
/// untouched files alone.
#[derive(Clone, Debug, Default)]
pub struct Manifest {
    stamps: std::collections::HashMap<String, Stamp>,
    /// The permission bits a fresh directory got; a reset restores them on
    /// directories a job `chmod`ed.
    dir_mode: Option<u32>,
    broken: bool,
}

impl Manifest {
    /// The workspace could not be prepared; it must not be reused.
    pub fn mark_broken(&mut self) {
        self.broken = true;
    }
    pub fn is_broken(&self) -> bool {
        self.broken
    }
}

impl Snapshot {
    pub fn new(root: &Path, files: Vec<String>, run_dir: &Path, with_git: bool) -> Snapshot {
        let pending = with_git.then(|| {
            let (root, run_dir) = (root.to_path_buf(), run_dir.to_path_buf());
            std::thread::spawn(move || shared_clone(&root, &run_dir))
        });
        Snapshot {
            root: root.to_path_buf(),
            files,
            git_dir: OnceLock::new(),
            dirs: OnceLock::new(),
            git_files: OnceLock::new(),
            pending_clone: Mutex::new(pending),
        }
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

    /// The base git directory's files. Each job gets its own `.git` made of
    /// them (HEAD, refs, config, index, and an `alternates` file that shares
    /// the repository's objects read-only), so a job's commits, branches and
    /// index never reach another job or the user's repository.
    fn git_files(&self) -> &[String] {
        self.git_files.get_or_init(|| match self.git_dir() {
            Some(g) => list_files(g),
            None => vec![],
        })
    }

    /// Copy the snapshot into `dest`, a directory that does not exist yet.
    pub fn materialize(&self, dest: &Path) -> io::Result<(CopyStats, Manifest)> {
        self.fill(dest, None)
    }

    /// Bring a workspace an earlier job used back to exactly the snapshot:
    /// everything that is not a snapshot file goes, snapshot files the job
    /// touched (per `manifest`) are copied again, untouched ones stay. On a
    /// large tree this is far cheaper than a new copy, and creating no new
    /// inodes avoids ext4's slow path for recently deleted ones. On any
    /// error the workspace is removed and made afresh.
    pub fn reset(&self, dest: &Path, manifest: &Manifest) -> io::Result<(CopyStats, Manifest)> {
        match self.prune(dest, manifest.dir_mode).and_then(|()| self.fill(dest, Some(manifest))) {
            Ok(x) => Ok(x),
            Err(_) => {
                remove_tree(dest)?;
                self.materialize(dest)
            }
        }
    }

    fn dirs(&self) -> &HashSet<String> {
        self.dirs.get_or_init(|| {
            let mut dirs = HashSet::new();
            let git: Vec<String> = self.git_files().iter().map(|f| format!(".git/{f}")).collect();
            for f in self.files.iter().chain(git.iter()) {
                let mut cur = f.as_str();
                while let Some((parent, _)) = cur.rsplit_once('/') {
                    if !dirs.insert(parent.to_string()) {
                        break;
                    }
                    cur = parent;
                }
            }
            dirs
        })
    }

    /// Remove every entry of `dest` that the snapshot does not have.
    fn prune(&self, dest: &Path, dir_mode: Option<u32>) -> io::Result<()> {
        use std::os::unix::fs::PermissionsExt;
        let fix_mode = |p: &Path| -> io::Result<()> {
            if let Some(mode) = dir_mode
                && std::fs::symlink_metadata(p)?.permissions().mode() & 0o7777 != mode
            {
                std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode))?;
            }
            Ok(())
        };
        fix_mode(dest)?;
        let git: Vec<String> = self.git_files().iter().map(|f| format!(".git/{f}")).collect();
        let files: HashSet<&str> = self.files.iter().chain(git.iter()).map(|s| s.as_str()).collect();
        let dirs = self.dirs();
        let mut it = walkdir::WalkDir::new(dest).min_depth(1).follow_links(false).into_iter();
        while let Some(entry) = it.next() {
            let e = entry.map_err(io::Error::other)?;
            let Ok(rel) = e.path().strip_prefix(dest) else { continue };
            let rel = rel.to_string_lossy();
            if e.file_type().is_dir() {
                if dirs.contains(rel.as_ref()) {
                    fix_mode(e.path())?;
                } else {
                    remove_tree(e.path())?;
                    it.skip_current_dir();
                }
            } else if !files.contains(rel.as_ref()) {
                std::fs::remove_file(e.path())?;
            }
        }
        Ok(())
    }

    fn fill(&self, dest: &Path, prev: Option<&Manifest>) -> io::Result<(CopyStats, Manifest)> {
        let start = Instant::now();
        std::fs::create_dir_all(dest)?;
        let threads = if self.files.len() > 512 {
            std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2).min(8)
        } else {
            1
        };
        let mut out = Filled::default();
        if threads == 1 {
            out = copy_list(&self.root, dest, &self.files, prev, "")?;
        } else {
            let chunk = self.files.len().div_ceil(threads);
            let results: Vec<io::Result<Filled>> = std::thread::scope(|s| {
                let handles: Vec<_> = self
                    .files
                    .chunks(chunk)
                    .map(|part| s.spawn(move || copy_list(&self.root, dest, part, prev, "")))
                    .collect();
                handles
                    .into_iter()
                    .map(|h| h.join().unwrap_or_else(|_| Err(io::Error::other("copy thread panicked"))))
                    .collect()
            });
            for r in results {
                let r = r?;
                out.bytes += r.bytes;
                out.kept += r.kept;
                out.stamps.extend(r.stamps);
            }
        }
        if let Some(g) = self.git_dir() {
            let gitdir = dest.join(".git");
            if std::fs::symlink_metadata(&gitdir).is_ok_and(|m| !m.is_dir()) {
                std::fs::remove_file(&gitdir)?;
            }
            let git = copy_list(g, &gitdir, self.git_files(), prev, ".git/")?;
            out.bytes += git.bytes;
            out.kept += git.kept;
            out.stamps.extend(git.stamps);
        }
        let stats = CopyStats { files: self.files.len(), kept: out.kept, bytes: out.bytes, elapsed: start.elapsed() };
        let dir_mode = {
            use std::os::unix::fs::PermissionsExt;
            prev.and_then(|p| p.dir_mode)
                .or_else(|| std::fs::metadata(dest).ok().map(|m| m.permissions().mode() & 0o7777))
        };
        Ok((stats, Manifest { stamps: out.stamps.into_iter().collect(), dir_mode, broken: false }))
    }
}

#[derive(Default)]
struct Filled {
    bytes: u64,
    kept: usize,
    stamps: Vec<(String, Stamp)>,
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
    // Each job gets a copy of this directory: keep it small.
    for extra in ["hooks", "logs", "description"] {
        let _ = std::fs::remove_dir_all(dir.join(extra));
        let _ = std::fs::remove_file(dir.join(extra));
    }
    std::fs::canonicalize(&dir).ok().or(Some(dir))
}

/// Copy `files` (relative to `src_root`) into `dest`. Manifest keys are
/// `key_prefix` + the relative path.
fn copy_list(
    src_root: &Path,
    dest: &Path,
    files: &[String],
    prev: Option<&Manifest>,
    key_prefix: &str,
) -> io::Result<Filled> {
    let mut made: HashSet<PathBuf> = HashSet::new();
    let mut out = Filled::default();
    for rel in files {
        let dst = dest.join(rel);
        let key = format!("{key_prefix}{rel}");
        if let Some(prev) = prev {
            let now = Stamp::of(&dst);
            if now.is_some() && now == prev.stamps.get(&key).copied() {
                out.kept += 1;
                out.stamps.push((key, now.unwrap_or(Stamp { ino: 0, size: 0, mtime: (0, 0), ctime: (0, 0) })));
                continue;
            }
            // Changed, replaced or missing: start from nothing (an unlink
            // and a new file, never a truncate, which ext4 flushes).
            if let Ok(m) = std::fs::symlink_metadata(&dst) {
                if m.is_dir() {
                    std::fs::remove_dir_all(&dst)?;
                } else {
                    std::fs::remove_file(&dst)?;
                }
            }
        }
        if let Some(parent) = dst.parent()
            && !made.contains(parent)
        {
            std::fs::create_dir_all(parent)?;
            made.insert(parent.to_path_buf());
        }
        out.bytes += copy_entry(&src_root.join(rel), &dst, true)?;
        if let Some(st) = Stamp::of(&dst) {
            out.stamps.push((key, st));
        }
    }
    Ok(out)
}

/// Copy one file or symlink (symlinks stay symlinks). Missing sources are
/// skipped: the working tree may change while a run starts. Unless `fresh`
/// (the destination directory was just created), whatever is at `dst` is
/// looked at first: a symlink or a directory there is removed, so a copy
/// never writes through a link a job left behind.
fn copy_entry(src: &Path, dst: &Path, fresh: bool) -> io::Result<u64> {
    let meta = match std::fs::symlink_metadata(src) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e),
    };
    if !fresh && let Ok(existing) = std::fs::symlink_metadata(dst) {
        let ft = existing.file_type();
        if ft.is_symlink() {
            std::fs::remove_file(dst)?;
        } else if ft.is_dir() && !meta.is_dir() {
            std::fs::remove_dir_all(dst)?;
        }
    }
    if meta.file_type().is_symlink() {
        let target = std::fs::read_link(src)?;
        let _ = std::fs::remove_file(dst);
        std::os::unix::fs::symlink(target, dst)?;
        Ok(0)
    } else if meta.is_dir() {
        std::fs::create_dir_all(dst)?;
        Ok(0)
    } else if !meta.is_file() {
        // FIFOs, sockets and devices are not copied: opening a FIFO blocks.
        Ok(0)
    } else {
        let n = std::fs::copy(src, dst)?;
        // Keep the source's modification time, as `cp -p` and git checkouts
        // of unchanged files do: build tools see the same mtimes in every
        // job, and a job's write always moves mtime away from it, which
        // `Snapshot::reset` relies on.
        use std::os::unix::fs::MetadataExt;
        let mtime = rustix::fs::Timespec { tv_sec: meta.mtime(), tv_nsec: meta.mtime_nsec() as _ };
        let times = rustix::fs::Timestamps {
            last_access: rustix::fs::Timespec { tv_sec: 0, tv_nsec: rustix::fs::UTIME_OMIT },
            last_modification: mtime,
        };
        rustix::fs::utimensat(rustix::fs::CWD, dst, &times, rustix::fs::AtFlags::empty())?;
        Ok(n)
    }
}

/// `remove_dir_all` that also copes with directories a job made read-only
/// (as Go's module cache does): on failure, add owner write and execute
/// permission throughout and try again.
pub fn remove_tree(path: &Path) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    match std::fs::remove_dir_all(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(_) => {
            for entry in walkdir::WalkDir::new(path).follow_links(false).into_iter().flatten() {
                if entry.file_type().is_dir()
                    && let Ok(m) = entry.metadata()
                {
                    let mode = m.permissions().mode() | 0o700;
                    let _ = std::fs::set_permissions(entry.path(), std::fs::Permissions::from_mode(mode));
                }
            }
            std::fs::remove_dir_all(path)
        }
    }
}

/// A path from a pipeline, made safe: relative, normalized, inside the
/// workspace. `Err` explains why it is rejected.
/// [`safe_relative`] for a path that may also be written as an absolute
/// path inside the workspace (`$CI_PROJECT_DIR/build`,
/// `${{ github.workspace }}/target`): that is made relative, as GitLab
/// Runner and the GitHub actions do. Any other absolute path is rejected.
pub fn relative_in(ws: &Path, p: &str) -> Result<String, String> {
    let t = p.trim();
    if t.starts_with('/') {
        let abs = Path::new(t);
        let inner = abs
            .strip_prefix(ws)
            .ok()
            .map(Path::to_path_buf)
            .or_else(|| ws.canonicalize().ok().and_then(|c| abs.strip_prefix(c).ok().map(Path::to_path_buf)));
        if let Some(rest) = inner {
            return safe_relative(&rest.to_string_lossy()).map_err(|_| {
                format!("`{p}` leaves the job's workspace through `..`; paths must stay inside the job's workspace")
            });
        }
    }
    safe_relative(t.strip_prefix("./").unwrap_or(t))
}

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

/// Every regular file and symlink under `dir`, relative.
fn list_files(dir: &Path) -> Vec<String> {
    walkdir::WalkDir::new(dir)
        .follow_links(false)
        .min_depth(1)
        .sort_by_file_name()
        .into_iter()
        .flatten()
        .filter(|e| e.file_type().is_file() || e.file_type().is_symlink())
        .filter_map(|e| e.path().strip_prefix(dir).ok().map(|r| r.to_string_lossy().replace('\\', "/")))
        .collect()
}

/// Every file (and symlink) under `dir`, relative, without following
/// symlinked directories.
pub fn list_tree(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let walk = walkdir::WalkDir::new(dir).follow_links(false).min_depth(1).sort_by_file_name();
    // A job's own `.git` is never an artifact or cache content.
    for entry in walk.into_iter().filter_entry(|e| !(e.depth() == 1 && e.file_name() == ".git")) {
        let Ok(e) = entry else { continue };
        // Only regular files and symlinks: a FIFO or a socket would block
        // or fail the copy.
        if !(e.file_type().is_file() || e.file_type().is_symlink()) {
            continue;
        }
        if let Ok(rel) = e.path().strip_prefix(dir) {
            out.push(rel.to_string_lossy().replace('\\', "/"));
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
        // Unlike `paths`, `exclude` is not recursive (GitLab documents this):
        // it matches file paths only.
        if hit && !exc.is_match(&f) {
            out.push(f);
        }
    }
    for p in &pats {
        if p.contains('*') {
            continue;
        }
        if let Err(why) = check_inside(workspace, p) {
            warnings.push(format!("{p}: {why}; not collected"));
        } else if !workspace.join(p).exists() {
            warnings.push(format!("{p}: no matching files"));
        }
    }
    (out, warnings)
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
        match copy_entry(&from, &to, false) {
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

/// Recreate the tree `src` at `dst` with hard links (the files of stored
/// artifacts never change, so sharing them is safe), copying where linking
/// fails (another filesystem). Symlinks are recreated as they are. Returns
/// the number of files and their bytes.
pub fn link_tree(src: &Path, dst: &Path) -> io::Result<(u64, u64)> {
    let mut files = 0u64;
    let mut bytes = 0u64;
    std::fs::create_dir_all(dst)?;
    for entry in walkdir::WalkDir::new(src).min_depth(1).follow_links(false) {
        let entry = entry.map_err(io::Error::other)?;
        let rel = entry.path().strip_prefix(src).map_err(io::Error::other)?;
        let target = dst.join(rel);
        let ft = entry.file_type();
        if ft.is_dir() {
            std::fs::create_dir_all(&target)?;
        } else if ft.is_symlink() {
            let link = std::fs::read_link(entry.path())?;
            let _ = std::fs::remove_file(&target);
            std::os::unix::fs::symlink(link, &target)?;
        } else {
            let _ = std::fs::remove_file(&target);
            if std::fs::hard_link(entry.path(), &target).is_err() {
                std::fs::copy(entry.path(), &target)?;
            }
            files += 1;
            bytes += entry.metadata().map(|m| m.len()).unwrap_or(0);
        }
    }
    Ok((files, bytes))
}

/// The bytes of the regular files under `dir` (0 when it does not exist).
pub fn tree_size(dir: &Path) -> u64 {
    walkdir::WalkDir::new(dir)
        .follow_links(false)
        .into_iter()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_file())
        .filter_map(|e| e.metadata().ok())
        .map(|m| m.len())
        .sum()
}

/// A saved path must be relative, free of `..`, and not reach outside `ws`
/// through a symlink (itself or a parent).
pub fn check_inside(ws: &Path, rel: &str) -> Result<(), String> {
    let clean = safe_relative(rel)?;
    let mut cur = ws.to_path_buf();
    for part in clean.split('/') {
        cur.push(part);
        if let Ok(m) = std::fs::symlink_metadata(&cur)
            && m.file_type().is_symlink()
        {
            let target = std::fs::read_link(&cur).unwrap_or_default();
            let resolved = if target.is_absolute() { target.clone() } else { cur.parent().unwrap_or(ws).join(&target) };
            let (Ok(r), Ok(w)) = (std::fs::canonicalize(&resolved), std::fs::canonicalize(ws)) else {
                return Err(format!("is a symlink to `{}`, which does not exist", target.display()));
            };
            if !r.starts_with(&w) {
                return Err(format!("is a symlink to `{}`, outside the job workspace", target.display()));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(dir: &Path) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = list_tree(dir)
            .into_iter()
            .map(|rel| {
                let p = dir.join(&rel);
                let m = std::fs::symlink_metadata(&p).unwrap();
                let what = if m.file_type().is_symlink() {
                    format!("link:{}", std::fs::read_link(&p).unwrap().display())
                } else {
                    use std::os::unix::fs::PermissionsExt;
                    format!("{:o}:{}", m.permissions().mode() & 0o777, std::fs::read_to_string(&p).unwrap())
                };
                (rel, what)
            })
            .collect();
        out.sort();
        out
    }

    #[test]
    fn reset_restores_a_used_workspace_exactly() {
        use std::os::unix::fs::PermissionsExt;
        let src = tempfile::tempdir().unwrap();
        let run = tempfile::tempdir().unwrap();
        let files = ["a.txt", "dir/b.txt", "dir/sub/c.txt", "keep.txt", "gone.txt", "exec.sh"];
        for f in files {
            let p = src.path().join(f);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(&p, format!("content of {f}\n")).unwrap();
        }
        std::fs::set_permissions(src.path().join("exec.sh"), std::fs::Permissions::from_mode(0o755)).unwrap();
        std::os::unix::fs::symlink("a.txt", src.path().join("link")).unwrap();
        let mut list: Vec<String> = files.iter().map(|s| s.to_string()).collect();
        list.push("link".into());
        let snap = Snapshot::new(src.path(), list, run.path(), false);
        let ws = run.path().join("ws");
        let (_, manifest) = snap.materialize(&ws).unwrap();
        // Same size, immediately after the copy (likely the same clock tick).
        std::fs::write(ws.join("exec.sh"), "CONTENT OF exec.sh\n").unwrap();
        let (_, manifest) = snap.reset(&ws, &manifest).unwrap();
        assert_eq!(std::fs::read_to_string(ws.join("exec.sh")).unwrap(), "content of exec.sh\n");
        let pristine = tree(&ws);
        assert_eq!(pristine, tree(src.path()));

        // A job does its worst.
        std::fs::write(ws.join("a.txt"), "CONTENT OF a.txt\n").unwrap(); // same size
        std::fs::set_permissions(ws.join("keep.txt"), std::fs::Permissions::from_mode(0o600)).unwrap();
        std::fs::remove_file(ws.join("gone.txt")).unwrap();
        std::fs::remove_file(ws.join("dir/b.txt")).unwrap();
        std::os::unix::fs::symlink("/etc/passwd", ws.join("dir/b.txt")).unwrap();
        std::fs::remove_file(ws.join("dir/sub/c.txt")).unwrap();
        std::fs::create_dir_all(ws.join("dir/sub/c.txt/inner")).unwrap();
        std::fs::write(ws.join("new.txt"), "new").unwrap();
        std::fs::create_dir_all(ws.join("target/debug")).unwrap();
        std::fs::write(ws.join("target/debug/out"), "out").unwrap();
        std::fs::remove_file(ws.join("link")).unwrap();
        std::fs::write(ws.join("link"), "not a link any more").unwrap();
        std::fs::hard_link(ws.join("exec.sh"), ws.join("exec-hardlink")).unwrap();
        std::fs::set_permissions(ws.join("dir"), std::fs::Permissions::from_mode(0o700)).unwrap();
        std::fs::create_dir_all(ws.join(".go/pkg/mod/x")).unwrap();
        std::fs::write(ws.join(".go/pkg/mod/x/f"), "f").unwrap();
        std::fs::set_permissions(ws.join(".go/pkg/mod/x"), std::fs::Permissions::from_mode(0o500)).unwrap();
        std::fs::set_permissions(ws.join(".go/pkg/mod"), std::fs::Permissions::from_mode(0o500)).unwrap();

        let (stats, _) = snap.reset(&ws, &manifest).unwrap();
        assert_eq!(tree(&ws), pristine, "a reset workspace must equal a fresh copy");
        let mode = |p: &str| std::fs::metadata(ws.join(p)).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode("dir"), mode("dir/sub"), "directory modes are restored");
        assert!(stats.kept < stats.files, "touched files must be copied again");
        assert!(std::fs::read_to_string("/etc/passwd").is_ok(), "nothing was written through the symlink");
    }

    #[test]
    fn rejects_escaping_paths() {
        let ws = Path::new("/w/ws/0/proj");
        assert_eq!(relative_in(ws, "/w/ws/0/proj/target").unwrap(), "target");
        assert_eq!(relative_in(ws, "/w/ws/0/proj").unwrap(), "");
        assert_eq!(relative_in(ws, "./a/b").unwrap(), "a/b");
        assert!(relative_in(ws, "/w/ws/0/proj/../x").is_err());
        assert!(relative_in(ws, "/w/ws/0/projx").is_err());
        assert!(relative_in(ws, "/etc").is_err());
        assert!(safe_relative("../x").is_err());
        assert!(safe_relative("/etc").is_err());
        assert!(safe_relative("a/../../x").is_err());
        assert_eq!(safe_relative("./a/b/").unwrap(), "a/b");
    }
}
