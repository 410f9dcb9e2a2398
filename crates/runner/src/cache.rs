//! Persistent cache entries without archives.
//!
//! An entry is a directory tree under `<state>/cache/entries/<sha256(key)>/`
//! (`key` holds the key text, `meta` its size and save time, `data/` the
//! files as they sit in a workspace). Nothing is ever packed:
//! - **copy** restores (`std::fs::copy`, which reflinks on btrfs/xfs) leave
//!   the entry as it is; used when the job will not write the entry back;
//! - **take** moves the entry's directories into the workspace with
//!   `rename` under an exclusive per-key lock that the job holds until it
//!   gives the content back (`Lease::save`) or drops it. A 1 GB `target/`
//!   moves in and out in a few renames;
//! - every **save** builds the new entry aside in `tmp/` and renames it into
//!   place under the key's exclusive lock: a reader sees the old or the new
//!   entry, never half of one, and a crash leaves at most a `tmp/` leftover
//!   (removed by the next `open`).
//!
//! Locks are `flock`s on `locks/<hash>` (shared for copies, exclusive for
//! take and the swap), so two jobs on one key never corrupt an entry: the
//! second one finds it busy and goes without.

use crate::lock::FileLock;
use crate::workspace;
use rustix::fs::{FlockOperation, flock};
use sha2::{Digest, Sha256};
use std::fs::OpenOptions;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CacheError {
    #[error("cache `{}` is in use by another job", shown(key))]
    Busy { key: String },
    #[error("cache `{}`: {source}", shown(key))]
    Io { key: String, source: io::Error },
    #[error("cache `{}`: `{path}` {why}", shown(key))]
    Unsafe { key: String, path: String, why: String },
}

/// The namespaces that keep the caches of each style apart in one store.
const NAMESPACES: [&str; 3] = ["gitlab:", "gh:", "rust-cache:"];

/// A store key as the pipeline wrote it (without the style's namespace).
pub fn shown(key: &str) -> &str {
    NAMESPACES.iter().find_map(|ns| key.strip_prefix(ns)).unwrap_or(key)
}

/// How an entry is looked up.
#[derive(Clone, Copy, Debug)]
pub enum Lookup<'a> {
    Exact(&'a str),
    /// GitHub `restore-keys`: the most recently saved key with this prefix.
    Prefix(&'a str),
}

#[derive(Clone, Debug)]
pub struct EntryInfo {
    pub key: String,
    pub bytes: u64,
    pub files: u64,
    pub saved_ms: i64,
}

#[derive(Clone, Debug)]
pub struct Moved {
    pub files: u64,
    pub bytes: u64,
    pub elapsed: Duration,
    pub warnings: Vec<String>,
}

pub struct CacheStore {
    root: PathBuf,
}

/// A taken entry: its key stays locked until the lease is saved or dropped.
pub struct Lease {
    key: String,
    _lock: FileLock,
}

impl Lease {
    pub fn key(&self) -> &str {
        &self.key
    }
}

fn hash(key: &str) -> String {
    crate::keys::hex(&Sha256::digest(key.as_bytes()))[..40].to_string()
}

static SEQ: AtomicU64 = AtomicU64::new(0);

impl CacheStore {
    /// Open the store at `root`, removing what crashed saves left behind.
    pub fn open(root: &Path) -> io::Result<CacheStore> {
        for d in ["entries", "locks", "tmp"] {
            std::fs::create_dir_all(root.join(d))?;
        }
        let store = CacheStore { root: root.to_path_buf() };
        if let Ok(rd) = std::fs::read_dir(root.join("tmp")) {
            for e in rd.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                let pid = name.split('-').next().and_then(|p| p.parse::<u32>().ok());
                let alive = pid.is_some_and(|p| p == std::process::id() || Path::new(&format!("/proc/{p}")).exists());
                if !alive {
                    let _ = workspace::remove_tree(&e.path());
                }
            }
        }
        Ok(store)
    }

    fn entry(&self, key: &str) -> PathBuf {
        self.root.join("entries").join(hash(key))
    }

    fn lock_path(&self, key: &str) -> PathBuf {
        self.root.join("locks").join(hash(key))
    }

    fn tmp(&self) -> PathBuf {
        let n = SEQ.fetch_add(1, Ordering::SeqCst);
        self.root.join("tmp").join(format!("{}-{n}-{}", std::process::id(), crate::time::now_ms()))
    }

    fn io(key: &str) -> impl Fn(io::Error) -> CacheError + '_ {
        move |source| CacheError::Io { key: key.to_string(), source }
    }

    /// The first candidate that has an entry; its key.
    pub fn find(&self, candidates: &[Lookup<'_>]) -> Option<String> {
        for c in candidates {
            match c {
                Lookup::Exact(k) => {
                    if self.entry(k).join("data").is_dir() {
                        return Some(k.to_string());
                    }
                }
                Lookup::Prefix(p) => {
                    let best = self.entries().into_iter().filter(|e| e.key.starts_with(p)).max_by_key(|e| e.saved_ms);
                    if let Some(e) = best {
                        return Some(e.key);
                    }
                }
            }
        }
        None
    }

    /// Copy an entry into `ws`; the entry stays as it is. `Ok(None)`: no
    /// entry.
    pub fn restore_copy(&self, key: &str, ws: &Path) -> Result<Option<Moved>, CacheError> {
        let started = Instant::now();
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(self.lock_path(key))
            .map_err(Self::io(key))?;
        if flock(&lock, FlockOperation::NonBlockingLockShared).is_err() {
            return Err(CacheError::Busy { key: key.to_string() });
        }
        let data = self.entry(key).join("data");
        if !data.is_dir() {
            return Ok(None);
        }
        let files = workspace::list_tree(&data);
        let (bytes, warnings) = workspace::copy_files(&data, ws, &files);
        self.touch(key);
        Ok(Some(Moved { files: files.len() as u64, bytes, elapsed: started.elapsed(), warnings }))
    }

    /// Move an entry into `ws` and hold its key until the lease is given
    /// back. `Ok(None)`: no entry; `Busy`: another job holds it.
    pub fn take(&self, key: &str, ws: &Path) -> Result<Option<(Lease, Moved)>, CacheError> {
        let started = Instant::now();
        let lock = FileLock::try_exclusive(&self.lock_path(key)).map_err(|e| {
            if e.kind() == io::ErrorKind::WouldBlock {
                CacheError::Busy { key: key.to_string() }
            } else {
                CacheError::Io { key: key.to_string(), source: e }
            }
        })?;
        let lease = Lease { key: key.to_string(), _lock: lock };
        let entry = self.entry(key);
        let data = entry.join("data");
        if !data.is_dir() {
            return Ok(None);
        }
        let meta = read_meta(&entry);
        // Out of `entries/` first: from here on the entry is this job's, and
        // a crash leaves no half-moved entry behind.
        let held = self.tmp();
        std::fs::rename(&entry, &held).map_err(Self::io(key))?;
        std::fs::create_dir_all(ws).map_err(Self::io(key))?;
        merge_move(&held.join("data"), ws).map_err(Self::io(key))?;
        let _ = workspace::remove_tree(&held);
        let (files, bytes) = meta.map(|m| (m.files, m.bytes)).unwrap_or((0, 0));
        Ok(Some((lease, Moved { files, bytes, elapsed: started.elapsed(), warnings: vec![] })))
    }

    /// Save `paths` of `ws` (files, or whole directories) as the entry for
    /// `key`. With `moving`, they are renamed out of the workspace (the job
    /// is over) instead of copied. A lease for the same key lets the swap
    /// happen under the lock it already holds.
    pub fn save(
        &self,
        key: &str,
        ws: &Path,
        paths: &[String],
        moving: bool,
        lease: Option<Lease>,
    ) -> Result<Moved, CacheError> {
        let started = Instant::now();
        let mut warnings = Vec::new();
        for p in paths {
            workspace::check_inside(ws, p).map_err(|why| CacheError::Unsafe {
                key: key.into(),
                path: p.clone(),
                why,
            })?;
        }
        let tmp = self.tmp();
        let data = tmp.join("data");
        std::fs::create_dir_all(&data).map_err(Self::io(key))?;
        let result = (|| -> io::Result<()> {
            for p in paths {
                let src = ws.join(p);
                let dst = data.join(p);
                if std::fs::symlink_metadata(&src).is_err() {
                    continue;
                }
                if let Some(parent) = dst.parent() {
                    std::fs::create_dir_all(parent)?;
                }
                if moving && std::fs::rename(&src, &dst).is_ok() {
                    continue;
                }
                let is_dir = std::fs::symlink_metadata(&src).map(|m| m.is_dir()).unwrap_or(false);
                if is_dir {
                    let files = workspace::list_tree(&src);
                    let (_, w) = workspace::copy_files(&src, &dst, &files);
                    warnings.extend(w.into_iter().map(|w| format!("{p}: {w}")));
                } else {
                    let (_, w) = workspace::copy_files(ws, &data, std::slice::from_ref(p));
                    warnings.extend(w);
                }
            }
            Ok(())
        })();
        if let Err(e) = result {
            let _ = workspace::remove_tree(&tmp);
            return Err(CacheError::Io { key: key.into(), source: e });
        }
        let files = workspace::list_tree(&data).len() as u64;
        let bytes = workspace::tree_size(&data);
        let meta = Meta { files, bytes, saved_ms: crate::time::now_ms() };
        let written = std::fs::write(tmp.join("key"), key)
            .and_then(|()| std::fs::write(tmp.join("meta"), meta.to_text()))
            .and_then(|()| std::fs::write(tmp.join("used"), ""));
        if let Err(e) = written {
            let _ = workspace::remove_tree(&tmp);
            return Err(CacheError::Io { key: key.into(), source: e });
        }
        let _lock = match lease {
            Some(l) if l.key == key => l._lock,
            _ => match FileLock::try_exclusive(&self.lock_path(key)) {
                Ok(l) => l,
                Err(e) => {
                    let _ = workspace::remove_tree(&tmp);
                    return Err(if e.kind() == io::ErrorKind::WouldBlock {
                        CacheError::Busy { key: key.into() }
                    } else {
                        CacheError::Io { key: key.into(), source: e }
                    });
                }
            },
        };
        let entry = self.entry(key);
        let old = self.tmp();
        let had_old = std::fs::rename(&entry, &old).is_ok();
        if let Err(e) = std::fs::rename(&tmp, &entry) {
            if had_old {
                let _ = std::fs::rename(&old, &entry);
            }
            let _ = workspace::remove_tree(&tmp);
            return Err(CacheError::Io { key: key.into(), source: e });
        }
        if had_old {
            let _ = workspace::remove_tree(&old);
        }
        Ok(Moved { files, bytes, elapsed: started.elapsed(), warnings })
    }

    /// Whether a job holds `key` right now (taken, or being saved).
    pub fn is_busy(&self, key: &str) -> bool {
        crate::lock::is_held(&self.lock_path(key))
    }

    fn touch(&self, key: &str) {
        let _ = std::fs::write(self.entry(key).join("used"), "");
    }

    /// Every entry, least recently used first.
    pub fn entries(&self) -> Vec<EntryInfo> {
        let mut out: Vec<(std::time::SystemTime, EntryInfo)> = Vec::new();
        let Ok(rd) = std::fs::read_dir(self.root.join("entries")) else { return vec![] };
        for e in rd.flatten() {
            let p = e.path();
            let (Ok(key), Some(meta)) = (std::fs::read_to_string(p.join("key")), read_meta(&p)) else { continue };
            let used = std::fs::metadata(p.join("used")).and_then(|m| m.modified()).unwrap_or(std::time::UNIX_EPOCH);
            out.push((used, EntryInfo { key, bytes: meta.bytes, files: meta.files, saved_ms: meta.saved_ms }));
        }
        out.sort_by_key(|(u, e)| (*u, e.saved_ms));
        out.into_iter().map(|(_, e)| e).collect()
    }

    /// Delete an entry; its bytes. `Busy` while a job holds it.
    pub fn remove(&self, key: &str) -> Result<u64, CacheError> {
        let _lock = FileLock::try_exclusive(&self.lock_path(key)).map_err(|_| CacheError::Busy { key: key.into() })?;
        let entry = self.entry(key);
        let bytes = read_meta(&entry).map(|m| m.bytes).unwrap_or(0);
        let gone = self.tmp();
        if std::fs::rename(&entry, &gone).is_ok() {
            workspace::remove_tree(&gone).map_err(Self::io(key))?;
        }
        Ok(bytes)
    }
}

struct Meta {
    files: u64,
    bytes: u64,
    saved_ms: i64,
}

impl Meta {
    fn to_text(&self) -> String {
        format!("files={}\nbytes={}\nsaved_ms={}\n", self.files, self.bytes, self.saved_ms)
    }
}

fn read_meta(entry: &Path) -> Option<Meta> {
    let text = std::fs::read_to_string(entry.join("meta")).ok()?;
    let get = |k: &str| text.lines().find_map(|l| l.strip_prefix(k)?.strip_prefix('=')?.parse::<i64>().ok());
    Some(Meta { files: get("files")? as u64, bytes: get("bytes")? as u64, saved_ms: get("saved_ms")? })
}

/// Move the children of `src` into `dst`: a directory missing in `dst`
/// moves with one rename; one present in both is merged; files replace.
fn merge_move(src: &Path, dst: &Path) -> io::Result<()> {
    for e in std::fs::read_dir(src)? {
        let e = e?;
        let to = dst.join(e.file_name());
        let from = e.path();
        let from_dir = e.file_type()?.is_dir();
        match std::fs::symlink_metadata(&to) {
            Err(_) => std::fs::rename(&from, &to)?,
            Ok(m) if m.is_dir() && from_dir => merge_move(&from, &to)?,
            Ok(m) => {
                if m.is_dir() {
                    workspace::remove_tree(&to)?;
                }
                std::fs::rename(&from, &to)?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    fn ws_with(files: &[(&str, &str)]) -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        for (p, c) in files {
            let f = d.path().join(p);
            std::fs::create_dir_all(f.parent().unwrap()).unwrap();
            std::fs::write(f, c).unwrap();
        }
        d
    }

    #[test]
    fn copy_round_trip_leaves_the_entry_intact() {
        let root = tempfile::tempdir().unwrap();
        let store = CacheStore::open(root.path()).unwrap();
        let ws = ws_with(&[("target/a", "1"), ("target/sub/b", "2")]);
        let saved = store.save("k", ws.path(), &["target".into()], false, None).unwrap();
        assert_eq!((saved.files, saved.bytes), (2, 2));
        let ws2 = tempfile::tempdir().unwrap();
        store.restore_copy("k", ws2.path()).unwrap().expect("hit");
        assert_eq!(std::fs::read_to_string(ws2.path().join("target/sub/b")).unwrap(), "2");
        std::fs::write(ws2.path().join("target/a"), "changed").unwrap();
        let ws3 = tempfile::tempdir().unwrap();
        store.restore_copy("k", ws3.path()).unwrap().expect("hit");
        assert_eq!(std::fs::read_to_string(ws3.path().join("target/a")).unwrap(), "1");
        assert!(store.restore_copy("other", ws3.path()).unwrap().is_none());
    }

    #[test]
    fn take_moves_directories_with_a_rename_and_save_moves_them_back() {
        let root = tempfile::tempdir().unwrap();
        let store = CacheStore::open(root.path()).unwrap();
        let ws = ws_with(&[("target/a", "1")]);
        store.save("k", ws.path(), &["target".into()], true, None).unwrap();
        assert!(!ws.path().join("target").exists(), "moved out");
        let stored_ino = std::fs::metadata(store.entry("k").join("data/target")).unwrap().ino();
        let ws2 = tempfile::tempdir().unwrap();
        let (lease, _) = store.take("k", ws2.path()).unwrap().expect("entry");
        assert_eq!(std::fs::metadata(ws2.path().join("target")).unwrap().ino(), stored_ino, "one rename, no copy");
        assert!(store.find(&[Lookup::Exact("k")]).is_none(), "taken entries are out of the store");
        // Busy while taken, for every other use.
        let ws3 = tempfile::tempdir().unwrap();
        assert!(matches!(store.take("k", ws3.path()), Err(CacheError::Busy { .. })));
        assert!(matches!(store.save("k", ws3.path(), &[], false, None), Err(CacheError::Busy { .. })));
        assert!(matches!(store.remove("k"), Err(CacheError::Busy { .. })));
        std::fs::write(ws2.path().join("target/new"), "n").unwrap();
        store.save("k", ws2.path(), &["target".into()], true, Some(lease)).unwrap();
        let ws4 = tempfile::tempdir().unwrap();
        store.restore_copy("k", ws4.path()).unwrap().expect("back");
        assert_eq!(std::fs::read_to_string(ws4.path().join("target/new")).unwrap(), "n");
    }

    #[test]
    fn a_dropped_lease_releases_the_key_and_drops_the_taken_content() {
        let root = tempfile::tempdir().unwrap();
        let store = CacheStore::open(root.path()).unwrap();
        let ws = ws_with(&[("x", "1")]);
        store.save("k", ws.path(), &["x".into()], false, None).unwrap();
        let ws2 = tempfile::tempdir().unwrap();
        let (lease, _) = store.take("k", ws2.path()).unwrap().unwrap();
        drop(lease);
        assert!(store.find(&[Lookup::Exact("k")]).is_none());
        assert!(store.take("k", ws2.path()).unwrap().is_none(), "unlocked and empty");
    }

    #[test]
    fn prefix_lookup_takes_the_most_recently_saved() {
        let root = tempfile::tempdir().unwrap();
        let store = CacheStore::open(root.path()).unwrap();
        let ws = ws_with(&[("x", "1")]);
        for k in ["deps-linux-a", "deps-linux-b", "deps-mac-c"] {
            store.save(k, ws.path(), &["x".into()], false, None).unwrap();
            std::thread::sleep(Duration::from_millis(3));
        }
        assert_eq!(
            store.find(&[Lookup::Exact("nope"), Lookup::Prefix("deps-linux-")]).as_deref(),
            Some("deps-linux-b")
        );
        assert_eq!(store.find(&[Lookup::Prefix("deps-")]).as_deref(), Some("deps-mac-c"));
        assert!(store.find(&[Lookup::Prefix("zzz")]).is_none());
    }

    #[test]
    fn readers_see_a_whole_old_or_new_entry_while_saves_replace_it() {
        let root = tempfile::tempdir().unwrap();
        let store = std::sync::Arc::new(CacheStore::open(root.path()).unwrap());
        let ws = ws_with(&[("d/1", "v0"), ("d/2", "v0")]);
        store.save("k", ws.path(), &["d".into()], false, None).unwrap();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let readers: Vec<_> = (0..8)
            .map(|_| {
                let (store, stop) = (store.clone(), stop.clone());
                std::thread::spawn(move || {
                    let mut seen = 0;
                    while !stop.load(Ordering::SeqCst) {
                        let t = tempfile::tempdir().unwrap();
                        if let Ok(Some(_)) = store.restore_copy("k", t.path()) {
                            let a = std::fs::read_to_string(t.path().join("d/1")).unwrap();
                            let b = std::fs::read_to_string(t.path().join("d/2")).unwrap();
                            assert_eq!(a, b, "a restore mixed two versions");
                            seen += 1;
                        }
                    }
                    seen
                })
            })
            .collect();
        let mut saved = 0;
        for v in 1..40 {
            let w = ws_with(&[("d/1", &format!("v{v}")), ("d/2", &format!("v{v}"))]);
            if store.save("k", w.path(), &["d".into()], false, None).is_ok() {
                saved += 1;
            }
        }
        stop.store(true, Ordering::SeqCst);
        let seen: usize = readers.into_iter().map(|r| r.join().unwrap()).sum();
        assert!(saved > 0 && seen > 0, "saved {saved}, restored {seen}");
    }

    #[test]
    fn paths_outside_the_workspace_are_rejected() {
        let root = tempfile::tempdir().unwrap();
        let store = CacheStore::open(root.path()).unwrap();
        let ws = ws_with(&[("ok", "1")]);
        std::os::unix::fs::symlink("/", ws.path().join("root")).unwrap();
        for (p, needle) in [("../x", ".."), ("/etc", "absolute"), ("root", "outside"), ("root/etc", "outside")] {
            let err = store.save("k", ws.path(), &[p.to_string()], false, None).expect_err(p).to_string();
            assert!(err.contains(needle), "{p}: {err}");
        }
        assert!(store.find(&[Lookup::Exact("k")]).is_none(), "nothing was saved");
    }

    #[test]
    fn open_removes_leftovers_of_dead_processes_and_remove_reports_bytes() {
        let root = tempfile::tempdir().unwrap();
        let store = CacheStore::open(root.path()).unwrap();
        let stale = root.path().join("tmp").join("999999999-0-0");
        std::fs::create_dir_all(stale.join("data")).unwrap();
        let _ = CacheStore::open(root.path()).unwrap();
        assert!(!stale.exists());
        let ws = ws_with(&[("a", "12345")]);
        store.save("k", ws.path(), &["a".into()], false, None).unwrap();
        assert_eq!(store.entries().iter().map(|e| e.bytes).sum::<u64>(), 5);
        assert_eq!(store.remove("k").unwrap(), 5);
        assert!(store.entries().is_empty());
    }
}
