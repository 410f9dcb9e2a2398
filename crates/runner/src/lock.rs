//! Advisory file locks (`flock`): a running `shipway run` holds its run's
//! lock, so the next start can tell a live run from one whose process died
//! (the kernel drops the lock with the process, even on kill -9).

use rustix::fs::{FlockOperation, flock};
use std::fs::{File, OpenOptions};
use std::io;
use std::path::Path;

/// An exclusive lock, released when dropped (or when the process dies).
#[derive(Debug)]
pub struct FileLock {
    _file: File,
}

fn open(path: &Path) -> io::Result<File> {
    OpenOptions::new().create(true).truncate(false).read(true).write(true).open(path)
}

impl FileLock {
    /// Take the lock now, or fail with `WouldBlock` if someone holds it.
    pub fn try_exclusive(path: &Path) -> io::Result<FileLock> {
        let file = open(path)?;
        flock(&file, FlockOperation::NonBlockingLockExclusive).map_err(io::Error::from)?;
        Ok(FileLock { _file: file })
    }
}

/// Whether a live process holds the lock at `path` (no file: nobody).
pub fn is_held(path: &Path) -> bool {
    let Ok(file) = OpenOptions::new().read(true).write(true).open(path) else { return false };
    match flock(&file, FlockOperation::NonBlockingLockShared) {
        Ok(()) => {
            let _ = flock(&file, FlockOperation::Unlock);
            false
        }
        Err(_) => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_held_lock_is_seen_and_released_on_drop() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("lock");
        assert!(!is_held(&p));
        let l = FileLock::try_exclusive(&p).unwrap();
        assert!(is_held(&p));
        assert!(FileLock::try_exclusive(&p).is_err());
        drop(l);
        assert!(!is_held(&p));
    }
}
