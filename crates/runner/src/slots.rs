//! Stable job workspaces.
//!
//! A job runs in `.shipway/ws/<n>/<project>`, where `<n>` is the lowest
//! slot no live run holds, as GitLab Runner's
//! `builds/<runner>/<concurrent-id>/<project>` directories. The path is the
//! same from run to run, so what build tools record about it stays true: a
//! cargo test binary built in one run (with a shared `CARGO_TARGET_DIR`)
//! keeps `CARGO_MANIFEST_DIR` pointing at a directory that exists in the
//! next run, and cargo's own fingerprints do not see the workspace move.
//!
//! Each slot is guarded by an `flock` on `ws/<n>.lock`, held by the run for
//! as long as it uses the slot, so two runs never share one. Within a run a
//! finished job's slot goes back to the run's pool and the next job resets
//! it (see `Snapshot::reset`). At the end of the run every slot is emptied
//! and unlocked. A slot left with content by a run that died (kill -9) is
//! emptied by the next run that takes it, or by `shipway gc`.

use crate::lock::{self, FileLock};
use crate::workspace::{self, Manifest};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// At most this many slots; a run that needs more fails the job with an error.
const MAX_SLOTS: usize = 4096;

/// One held slot.
#[derive(Debug)]
pub struct Slot {
    /// `ws/<n>`: removed as a whole.
    dir: PathBuf,
    /// `ws/<n>/<project>`: the job's workspace.
    pub path: PathBuf,
    _lock: FileLock,
}

impl Slot {
    /// Empty the slot (its lock is released when the slot is dropped).
    fn empty(&self) -> io::Result<()> {
        if self.dir.exists() {
            workspace::remove_tree(&self.dir)?;
        }
        Ok(())
    }
}

/// The slots of one run.
#[derive(Debug)]
pub struct Slots {
    root: PathBuf,
    project: String,
    pool: Mutex<Vec<(Slot, Manifest)>>,
}

impl Slots {
    /// Slots under `state_dir/ws`, each holding a workspace named `project`.
    pub fn new(state_dir: &Path, project: &str) -> Slots {
        let project = match project {
            "" | "." | ".." => "project".to_string(),
            p => p.replace('/', "_"),
        };
        Slots { root: state_dir.join("ws"), project, pool: Mutex::new(Vec::new()) }
    }

    /// A workspace for the next job: a slot a finished job of this run gave
    /// back (with its manifest, to be reset), or a free slot taken from disk,
    /// emptied of anything a dead run left there.
    pub fn acquire(&self) -> io::Result<(Slot, Manifest)> {
        if let Some(s) = self.pool.lock().map_err(|_| io::Error::other("slot pool poisoned"))?.pop() {
            return Ok(s);
        }
        std::fs::create_dir_all(&self.root)?;
        for n in 0..MAX_SLOTS {
            let lock_path = self.root.join(format!("{n}.lock"));
            let lock = match FileLock::try_exclusive(&lock_path) {
                Ok(l) => l,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) => return Err(e),
            };
            let dir = self.root.join(n.to_string());
            let slot = Slot { path: dir.join(&self.project), dir, _lock: lock };
            slot.empty()?;
            std::fs::create_dir_all(&slot.dir)?;
            return Ok((slot, Manifest::default()));
        }
        Err(io::Error::other(format!("all {MAX_SLOTS} workspace slots under {} are in use", self.root.display())))
    }

    /// Give a slot back after a job. With a manifest the next job of this run
    /// resets it; without one (the workspace could not be trusted) it is
    /// emptied and unlocked now.
    pub fn release(&self, slot: Slot, manifest: Option<Manifest>) {
        match manifest {
            Some(m) => match self.pool.lock() {
                Ok(mut p) => p.push((slot, m)),
                Err(_) => {
                    let _ = slot.empty();
                }
            },
            None => {
                let _ = slot.empty();
            }
        }
    }

    /// End of the run: empty every slot and unlock it.
    pub fn finish(&self) {
        let slots = match self.pool.lock() {
            Ok(mut p) => std::mem::take(&mut *p),
            Err(_) => return,
        };
        for (slot, _) in slots {
            let _ = slot.empty();
        }
    }
}

/// Slots under `state_dir/ws` that no live run holds but that still have
/// content (left by a run that died), with their sizes in bytes.
pub fn leftovers(state_dir: &Path) -> Vec<PathBuf> {
    let root = state_dir.join("ws");
    let Ok(rd) = std::fs::read_dir(&root) else { return Vec::new() };
    let mut out: Vec<PathBuf> = rd
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_str().is_some_and(|s| s.parse::<usize>().is_ok()))
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .filter(|p| !lock::is_held(&p.with_extension("lock")))
        .collect();
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_stable_exclusive_and_emptied() {
        let state = tempfile::tempdir().unwrap();
        let a = Slots::new(state.path(), "proj");
        let (s0, _) = a.acquire().unwrap();
        assert_eq!(s0.path, state.path().join("ws/0/proj"));
        // Another run cannot take a held slot.
        let b = Slots::new(state.path(), "proj");
        let (s1, _) = b.acquire().unwrap();
        assert_eq!(s1.path, state.path().join("ws/1/proj"));
        std::fs::create_dir_all(&s0.path).unwrap();
        std::fs::write(s0.path.join("f"), "x").unwrap();
        // Given back with a manifest, the same run gets the same slot again.
        a.release(s0, Some(Manifest::default()));
        let (again, _) = a.acquire().unwrap();
        assert_eq!(again.path, state.path().join("ws/0/proj"));
        assert!(again.path.join("f").exists(), "a pooled slot is reset by the job, not emptied");
        a.release(again, Some(Manifest::default()));
        a.finish();
        assert!(!state.path().join("ws/0").exists(), "finish empties the slot");
        // A slot left with content by a dead run is a leftover and is
        // emptied by the next run that takes it.
        std::fs::create_dir_all(state.path().join("ws/0/proj")).unwrap();
        std::fs::write(state.path().join("ws/0/proj/stale"), "x").unwrap();
        assert_eq!(leftovers(state.path()), vec![state.path().join("ws/0")]);
        let c = Slots::new(state.path(), "proj");
        let (s, _) = c.acquire().unwrap();
        assert_eq!(s.path, state.path().join("ws/0/proj"));
        assert!(!s.path.join("stale").exists());
        // A held slot with content is not a leftover.
        assert!(leftovers(state.path()).is_empty());
        drop(s);
        drop(s1);
    }

    #[test]
    fn released_without_manifest_is_emptied_and_free() {
        let state = tempfile::tempdir().unwrap();
        let a = Slots::new(state.path(), "../x");
        let (s, _) = a.acquire().unwrap();
        assert_eq!(s.path, state.path().join("ws/0/.._x"));
        std::fs::create_dir_all(&s.path).unwrap();
        a.release(s, None);
        assert!(!state.path().join("ws/0").exists());
        assert!(leftovers(state.path()).is_empty());
        let (s, _) = Slots::new(state.path(), "p").acquire().unwrap();
        assert_eq!(s.path, state.path().join("ws/0/p"));
    }
}
