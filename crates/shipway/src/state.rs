//! The project's state dir (`.shipway/`): the store, run directories, the
//! cache. Opening it also recovers runs whose process died.

use runner::executor::RunDir;
use std::path::{Path, PathBuf};
use store::Store;

/// `.shipway` at the project root around the current directory.
pub(crate) fn state_dir() -> Result<PathBuf, String> {
    let cwd = std::env::current_dir().map_err(|e| format!("cannot read the current directory: {e}"))?;
    let root = runner::project::find_root(&cwd);
    Ok(std::fs::canonicalize(&root).unwrap_or(root).join(".shipway"))
}

pub(crate) fn db_path(state: &Path) -> PathBuf {
    state.join("shipway.db")
}

/// Open the store and mark runs whose process is gone as interrupted: a
/// running run holds the lock in its directory for as long as it lives.
pub(crate) fn open_store(state: &Path) -> Result<(Box<dyn Store>, Vec<i64>), String> {
    std::fs::create_dir_all(state).map_err(|e| format!("cannot create {}: {e}", state.display()))?;
    let gitignore = state.join(".gitignore");
    if !gitignore.exists() {
        let _ = std::fs::write(&gitignore, "*\n");
    }
    let mut store = store::open(&db_path(state).to_string_lossy()).map_err(|e| e.to_string())?;
    let runs = state.join("runs");
    let recovered = store
        .recover(
            &mut |id| runner::lock::is_held(&RunDir { id: id as u64, path: runs.join(id.to_string()) }.lock_path()),
            &mut |id| last_log_write(&runs.join(id.to_string()).join("logs")),
        )
        .map_err(|e| e.to_string())?;
    Ok((store, recovered.runs))
}

/// When a log in `dir` was last written (ms since the epoch): the last sign
/// of life of a run that died.
fn last_log_write(dir: &Path) -> Option<i64> {
    std::fs::read_dir(dir)
        .ok()?
        .filter_map(Result::ok)
        .filter_map(|e| e.metadata().ok()?.modified().ok())
        .filter_map(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| d.as_millis() as i64)
        .max()
}
