//! Benchmark history: where a result belongs (repository, branch, commit),
//! storing it, and `shipway bench history`.

use crate::cli::HistoryArgs;
use crate::exit;
use std::io::IsTerminal;
use store::{BenchQuery, BenchRecord, Store};

/// Where results are recorded: the repository, branch and commit.
#[derive(Clone, Debug)]
pub(crate) struct Place {
    pub(crate) repo: String,
    pub(crate) branch: String,
    pub(crate) commit: String,
}

fn env(k: &str) -> Option<String> {
    std::env::var(k).ok().filter(|v| !v.is_empty())
}

/// The current repository, branch and commit: `--branch`/`--commit`, else
/// what a CI job says (`CI_COMMIT_BRANCH`, `GITHUB_HEAD_REF`,
/// `GITHUB_REF_NAME`, `CI_COMMIT_SHA`, `GITHUB_SHA`), else git. The
/// repository is the project's `origin` URL, else its path.
pub(crate) fn place(branch: Option<&str>, commit: Option<&str>) -> Place {
    // In a job shipway runs, the project is the one whose state dir the job
    // was given, not the job's copy of it.
    let root = match env("SHIPWAY_STATE_DIR") {
        Some(state) => std::path::Path::new(&state).parent().map(std::path::Path::to_path_buf).unwrap_or_default(),
        None => runner::project::find_root(&std::env::current_dir().unwrap_or_default()),
    };
    let git = runner::project::FsProject::open(&root).ok().and_then(|p| p.git_info(None, false).ok());
    let repo = git
        .as_ref()
        .map(|g| g.repo_url.clone())
        .filter(|u| !u.is_empty())
        .or_else(|| root.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "local".into());
    let branch = branch
        .map(String::from)
        .or_else(|| env("CI_COMMIT_BRANCH"))
        .or_else(|| env("GITHUB_HEAD_REF"))
        .or_else(|| env("GITHUB_REF_NAME"))
        .or_else(|| git.as_ref().map(|g| g.ref_name.clone()).filter(|r| !r.is_empty()))
        .unwrap_or_else(|| "local".into());
    let commit = commit
        .map(String::from)
        .or_else(|| env("CI_COMMIT_SHA"))
        .or_else(|| env("GITHUB_SHA"))
        .or_else(|| git.as_ref().map(|g| g.sha.clone()).filter(|s| !s.is_empty()))
        .unwrap_or_else(|| "unknown".into());
    Place { repo, branch, commit }
}

/// The store bench results go to: `$SHIPWAY_STATE_DIR` (set in jobs that
/// shipway runs, pointing at the project's state), else the project's.
pub(crate) fn open() -> Result<Box<dyn Store>, String> {
    let state = match env("SHIPWAY_STATE_DIR") {
        Some(d) => std::path::PathBuf::from(d),
        None => crate::state::state_dir()?,
    };
    crate::state::open_store(&state).map(|(s, _)| s)
}

/// `▁▂▃▄▅▆▇█` for a series.
pub(crate) fn sparkline(values: &[f64]) -> String {
    const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    let finite: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    let (lo, hi) = finite.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), &v| (l.min(v), h.max(v)));
    values
        .iter()
        .map(|&v| {
            if !v.is_finite() {
                ' '
            } else if hi <= lo {
                BARS[3]
            } else {
                BARS[(((v - lo) / (hi - lo)) * 7.0).round().clamp(0.0, 7.0) as usize]
            }
        })
        .collect()
}

pub(crate) fn history(a: HistoryArgs) -> i32 {
    let mut store = match open() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::INTERNAL;
        }
    };
    let here = place(None, None);
    let repo = a.repo.clone().unwrap_or(here.repo);
    let q = BenchQuery {
        repo: repo.clone(),
        bench: a.name.clone(),
        measure: Some(a.measure.clone()),
        branch: a.branch.clone(),
        last: Some(a.last),
    };
    let rows = match store.bench_results(&q) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::INTERNAL;
        }
    };
    if rows.is_empty() {
        let known = store.bench_names(&repo).unwrap_or_default();
        eprintln!(
            "error: no `{}` results for benchmark `{}` in {repo}{}",
            a.measure,
            a.name,
            if known.is_empty() {
                " (no benchmarks recorded yet; `shipway bench http URL --name NAME` records one)".to_string()
            } else {
                format!(" (recorded: {})", known.join(", "))
            }
        );
        return exit::INVALID;
    }
    if a.json {
        let items: Vec<serde_json::Value> = rows.iter().map(record_json).collect();
        let doc = serde_json::json!({"repo": repo, "bench": a.name, "measure": a.measure, "results": items});
        println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
        return exit::SUCCESS;
    }
    let unit = &rows[0].unit;
    println!("{} {} ({unit}) in {repo}, oldest first:", a.name, a.measure);
    for r in &rows {
        println!(
            "  {}  {:<20} {:<12} {:>12.3}  {}",
            runner::time::iso8601((r.created_ms / 1000).max(0) as u64),
            r.branch,
            r.commit.chars().take(12).collect::<String>(),
            r.value,
            r.source
        );
    }
    if std::io::stdout().is_terminal() && rows.len() > 1 {
        let values: Vec<f64> = rows.iter().map(|r| r.value).collect();
        println!("  trend  {}", sparkline(&values));
    }
    exit::SUCCESS
}

pub(crate) fn record_json(r: &BenchRecord) -> serde_json::Value {
    serde_json::json!({
        "branch": r.branch,
        "commit": r.commit,
        "value": r.value,
        "unit": r.unit,
        "lower_is_better": r.lower_is_better,
        "source": r.source,
        "samples": r.samples,
        "created_ms": r.created_ms,
    })
}

#[cfg(test)]
mod tests {
    use super::sparkline;

    #[test]
    fn sparkline_spans_the_range() {
        assert_eq!(sparkline(&[1.0, 2.0, 3.0, 8.0]), "▁▂▃█");
        assert_eq!(sparkline(&[5.0, 5.0]), "▄▄");
        assert_eq!(sparkline(&[]), "");
    }
}
