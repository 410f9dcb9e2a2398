//! Benchmark history: where a result belongs (repository, branch, commit),
//! storing it, and `shipway bench history`.

use crate::cli::{GateArgs, HistoryArgs};
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

/// `shipway bench gate`: the newest result of the head branch (or commit)
/// against the t-test limit of the baseline branch's newest results.
pub(crate) fn gate(a: GateArgs) -> i32 {
    let fail = |code: i32, m: String| {
        eprintln!("error: {m}");
        code
    };
    if !(a.boundary > 0.0 && a.boundary < 1.0) {
        return fail(exit::INVALID, format!("--boundary {}: must be between 0 and 1", a.boundary));
    }
    let mut store = match open() {
        Ok(s) => s,
        Err(e) => return fail(exit::INTERNAL, e),
    };
    let here = place(a.branch.as_deref(), None);
    let query = |branch: Option<String>, last: Option<usize>| BenchQuery {
        repo: here.repo.clone(),
        bench: a.name.clone(),
        measure: Some(a.measure.clone()),
        branch,
        last,
    };
    let head_rows = match store.bench_results(&query(a.commit.is_none().then(|| here.branch.clone()), None)) {
        Ok(r) => r,
        Err(e) => return fail(exit::INTERNAL, e.to_string()),
    };
    let head = head_rows.iter().rev().find(|r| a.commit.as_ref().is_none_or(|c| &r.commit == c)).cloned();
    let Some(head) = head else {
        let which = match &a.commit {
            Some(c) => format!("commit {c}"),
            None => format!("branch {}", here.branch),
        };
        return fail(
            exit::INVALID,
            format!("no `{}` result of `{}` for {which} (record one with `bench http --name`)", a.measure, a.name),
        );
    };
    // The baseline's newest results, leaving out the one being checked.
    let base_rows = match store.bench_results(&query(Some(a.against.clone()), Some(a.last + 1))) {
        Ok(r) => r,
        Err(e) => return fail(exit::INTERNAL, e.to_string()),
    };
    let mut base: Vec<&BenchRecord> = base_rows.iter().filter(|r| r.id != head.id).collect();
    if base.len() > a.last {
        base.drain(..base.len() - a.last);
    }
    let values: Vec<f64> = base.iter().map(|r| r.value).collect();
    if values.len() < 2 {
        return fail(
            exit::INVALID,
            format!(
                "the baseline needs at least 2 `{}` results of `{}` on branch {}; found {}",
                a.measure,
                a.name,
                a.against,
                values.len()
            ),
        );
    }
    let limit = match stats::boundary::t_limit(&values, a.boundary, head.lower_is_better) {
        Ok(l) => l,
        Err(e) => return fail(exit::INVALID, format!("no limit: {e}")),
    };
    let breached = limit.breached(head.value);
    let side = if head.lower_is_better { "upper" } else { "lower" };
    let summary = format!(
        "{} {} {:.3} {} at {}@{} vs {} results on {} (mean {:.3}, sd {:.3}): {side} limit {:.3} \
         (t-test, boundary {}, t={:.3})",
        a.name,
        a.measure,
        head.value,
        head.unit,
        head.branch,
        head.commit.chars().take(12).collect::<String>(),
        limit.n,
        a.against,
        limit.mean,
        limit.std_dev,
        limit.limit,
        a.boundary,
        limit.t
    );
    if a.json {
        let doc = serde_json::json!({
            "bench": a.name, "measure": a.measure, "head": record_json(&head), "against": a.against,
            "baseline": {"n": limit.n, "mean": limit.mean, "std_dev": limit.std_dev},
            "limit": limit.limit, "side": side, "boundary": a.boundary, "t": limit.t,
            "test": "t-test", "regressed": breached, "summary": summary,
        });
        println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
    } else {
        println!("{summary}");
        println!("gate {}", if breached { "FAILED: beyond the limit" } else { "passed" });
    }
    if breached { exit::FAILED } else { exit::SUCCESS }
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
