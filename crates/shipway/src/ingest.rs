//! `shipway bench ingest`: criterion, cargo-criterion and libtest results
//! into the benchmark history (measure `time_ns`, lower is better). The
//! parsing is `stats::formats` (pure); this reads the files.
//!
//! For a criterion directory that also holds the previous run
//! (`<bench>/base/sample.json`), the comparison criterion itself makes is
//! reported too (`stats::criterion::compare`: bootstrap t-test plus the
//! ±1% noise band), so its verdict and shipway's are the same.

use crate::cli::{IngestArgs, IngestFormat};
use crate::exit;
use serde_json::json;
use std::path::{Path, PathBuf};

/// One benchmark's per-iteration times in ns, and its typical value.
struct Ingested {
    bench: String,
    value: f64,
    samples: Vec<f64>,
    /// criterion: the base run's samples, when the directory has them.
    base: Vec<f64>,
}

fn read(path: &Path) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))
}

fn mean(v: &[f64]) -> f64 {
    if v.is_empty() { 0.0 } else { v.iter().sum::<f64>() / v.len() as f64 }
}

/// Every `<bench>/new/` under `dir` with a `sample.json` or `raw.csv`.
fn criterion_dir(dir: &Path) -> Result<Vec<Ingested>, String> {
    if !dir.is_dir() {
        return Err(format!("{}: not a directory (expected criterion's output, e.g. target/criterion)", dir.display()));
    }
    let mut news: Vec<PathBuf> = walkdir::WalkDir::new(dir)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_dir() && e.file_name() == "new")
        .map(|e| e.into_path())
        .filter(|p| p.join("sample.json").is_file() || p.join("raw.csv").is_file())
        .collect();
    news.sort();
    if news.is_empty() {
        return Err(format!(
            "{}: no criterion results (expected <benchmark>/new/sample.json or new/raw.csv below it)",
            dir.display()
        ));
    }
    let mut out = Vec::new();
    for new in news {
        let bench_dir = new.parent().unwrap_or(&new);
        let name_of = |p: &Path| p.display().to_string();
        let samples = if new.join("sample.json").is_file() {
            let f = new.join("sample.json");
            stats::formats::criterion_sample_json(&name_of(&f), &read(&f)?).map_err(|e| e.to_string())?
        } else {
            let f = new.join("raw.csv");
            stats::formats::criterion_raw_csv(&name_of(&f), &read(&f)?).map_err(|e| e.to_string())?.per_iter_ns
        };
        let bench = match new.join("benchmark.json") {
            f if f.is_file() => {
                stats::formats::criterion_benchmark_json(&name_of(&f), &read(&f)?).map_err(|e| e.to_string())?.full_id
            }
            _ => bench_dir.strip_prefix(dir).unwrap_or(bench_dir).to_string_lossy().into_owned(),
        };
        let value = match new.join("estimates.json") {
            f if f.is_file() => {
                stats::formats::criterion_estimates_json(&name_of(&f), &read(&f)?)
                    .map_err(|e| e.to_string())?
                    .mean
                    .point_estimate
            }
            _ => mean(&samples),
        };
        let base_file = bench_dir.join("base").join("sample.json");
        let base = if base_file.is_file() {
            stats::formats::criterion_sample_json(&name_of(&base_file), &read(&base_file)?)
                .map_err(|e| e.to_string())?
        } else {
            Vec::new()
        };
        out.push(Ingested { bench, value, samples, base });
    }
    Ok(out)
}

pub(crate) fn main(a: IngestArgs) -> i32 {
    let name = a.path.display().to_string();
    let parsed: Result<Vec<Ingested>, String> = match a.format {
        IngestFormat::Criterion => criterion_dir(&a.path),
        IngestFormat::CargoBench => read(&a.path).and_then(|t| {
            let benches = stats::formats::bencher_output(&name, &t).map_err(|e| e.to_string())?;
            if benches.is_empty() {
                return Err(format!("{name}: no `test NAME ... bench: N ns/iter` lines"));
            }
            Ok(benches
                .into_iter()
                .map(|b| Ingested { bench: b.name, value: b.ns_per_iter, samples: vec![], base: vec![] })
                .collect())
        }),
        IngestFormat::CargoCriterion => read(&a.path).and_then(|t| {
            let benches = stats::formats::cargo_criterion_messages(&name, &t).map_err(|e| e.to_string())?;
            if benches.is_empty() {
                return Err(format!("{name}: no `benchmark-complete` messages"));
            }
            Ok(benches
                .into_iter()
                .map(|b| Ingested { bench: b.id, value: b.mean_ns.estimate, samples: b.per_iter_ns, base: vec![] })
                .collect())
        }),
    };
    let items = match parsed {
        Ok(i) => i,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::INVALID;
        }
    };
    let source = match a.format {
        IngestFormat::Criterion => "criterion",
        IngestFormat::CargoBench => "cargo-bench",
        IngestFormat::CargoCriterion => "cargo-criterion",
    };
    let place = crate::history::place(a.record.branch.as_deref(), a.record.commit.as_deref());
    let mut store = match crate::history::open() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::INTERNAL;
        }
    };
    let now = runner::time::now_ms();
    let mut report = Vec::new();
    let mut regressed = false;
    for it in &items {
        let rec = store::BenchRecord {
            repo: place.repo.clone(),
            branch: place.branch.clone(),
            commit: place.commit.clone(),
            bench: it.bench.clone(),
            measure: "time_ns".into(),
            value: it.value,
            unit: "ns".into(),
            lower_is_better: true,
            source: source.into(),
            samples: it.samples.clone(),
            created_ms: now,
            ..Default::default()
        };
        if let Err(e) = store.add_bench_result(&rec) {
            eprintln!("error: cannot record `{}`: {e}", it.bench);
            return exit::INTERNAL;
        }
        let verdict = (!it.base.is_empty() && !it.samples.is_empty())
            .then(|| stats::criterion::compare(&it.base, &it.samples, &stats::criterion::Config::default()).ok())
            .flatten();
        if let Some(v) = &verdict {
            regressed |= v.verdict == stats::criterion::ChangeVerdict::Regressed;
        }
        report.push(json!({
            "bench": it.bench,
            "time_ns": it.value,
            "samples": it.samples.len(),
            "change": verdict.as_ref().map(|v| json!({
                "mean": v.mean.estimate, "ci": [v.mean.lo, v.mean.hi], "p_value": v.p_value,
                "verdict": v.verdict.to_string(),
            })),
        }));
        if !a.json {
            let change = match &verdict {
                Some(v) => format!(
                    "  change {:+.2}% [{:+.2}%, {:+.2}%] p={:.2}: {}",
                    v.mean.estimate * 100.0,
                    v.mean.lo * 100.0,
                    v.mean.hi * 100.0,
                    v.p_value,
                    v.verdict
                ),
                None => String::new(),
            };
            println!("{:<40} {:>14.1} ns{change}", it.bench, it.value);
        }
    }
    if a.json {
        let doc = json!({"source": source, "branch": place.branch, "commit": place.commit, "benchmarks": report});
        println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
    } else {
        println!("recorded {} benchmark(s) from {name} on {}@{}", items.len(), place.branch, place.commit);
    }
    if regressed { exit::FAILED } else { exit::SUCCESS }
}
