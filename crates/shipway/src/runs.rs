//! `shipway runs` (list, show, logs, artifacts) and `shipway gc`: read and
//! tidy what the store kept.

use crate::cli::{GcArgs, RunsArgs, RunsCommand};
use crate::exit;
use crate::report::fmt_duration;
use serde_json::json;
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;
use store::{ArtifactRecord, JobRecord, RunRecord, Store};

type Fail = (i32, String);

fn invalid(m: String) -> Fail {
    (exit::INVALID, m)
}

fn internal<E: std::fmt::Display>(e: E) -> Fail {
    (exit::INTERNAL, e.to_string())
}

pub(crate) fn main(args: RunsArgs) -> i32 {
    match runs(args) {
        Ok(code) => code,
        Err((code, msg)) => {
            eprintln!("error: {msg}");
            code
        }
    }
}

fn open() -> Result<(PathBuf, Box<dyn Store>), Fail> {
    let state = crate::state::state_dir().map_err(internal)?;
    if !crate::state::db_path(&state).exists() {
        return Err(invalid(format!("no runs here yet ({} does not exist)", crate::state::db_path(&state).display())));
    }
    let (store, _) = crate::state::open_store(&state).map_err(internal)?;
    Ok((state, store))
}

/// `RUN` as given: a number, or `last`.
fn resolve_run(store: &mut dyn Store, spec: &str) -> Result<RunRecord, Fail> {
    let id = if spec == "last" || spec == "latest" {
        store.last_run().map_err(internal)?.ok_or_else(|| invalid("no runs yet".into()))?
    } else {
        spec.parse::<i64>().map_err(|_| invalid(format!("RUN `{spec}`: expected a run number or `last`")))?
    };
    store.run(id).map_err(internal)?.ok_or_else(|| invalid(format!("no run {id}")))
}

/// `JOB` as given: a job name (or its definition's name), or an index.
fn resolve_job<'j>(jobs: &'j [JobRecord], spec: &str) -> Result<Vec<&'j JobRecord>, Fail> {
    let hits: Vec<&JobRecord> = jobs.iter().filter(|j| j.name == spec).collect();
    if !hits.is_empty() {
        return Ok(hits);
    }
    let prefix: Vec<&JobRecord> =
        jobs.iter().filter(|j| j.name.strip_prefix(spec).is_some_and(|r| r.starts_with([' ', ':']))).collect();
    if !prefix.is_empty() {
        return Ok(prefix);
    }
    if let Ok(i) = spec.parse::<i64>()
        && let Some(j) = jobs.iter().find(|j| j.index == i)
    {
        return Ok(vec![j]);
    }
    let hint = ci::diag::did_you_mean(spec, jobs.iter().map(|j| j.name.as_str()))
        .map(|s| format!(" (did you mean `{s}`?)"))
        .unwrap_or_default();
    Err(invalid(format!("no job `{spec}` in this run{hint}")))
}

fn when(ms: i64) -> String {
    runner::time::iso8601((ms.max(0) / 1000) as u64).replace('T', " ").trim_end_matches('Z').to_string()
}

fn run_json(r: &RunRecord) -> serde_json::Value {
    json!({
        "id": r.id,
        "status": r.status,
        "pipeline": r.pipeline,
        "commit": r.commit,
        "ref": r.git_ref,
        "event": r.event,
        "trigger": r.trigger,
        "started_ms": r.started_ms,
        "ended_ms": r.ended_ms,
        "duration_ms": r.ended_ms.map(|e| e - r.started_ms),
        "jobs": r.jobs,
        "cached": r.cached,
    })
}

fn job_json(j: &JobRecord) -> serde_json::Value {
    json!({
        "index": j.index,
        "name": j.name,
        "stage": j.stage,
        "matrix": j.matrix.as_deref().and_then(|m| serde_json::from_str::<serde_json::Value>(m).ok()),
        "status": j.status,
        "exit_code": j.exit_code,
        "signal": j.signal,
        "duration_ms": j.duration_ms,
        "key": j.key,
        "cached": j.cached,
        "cached_from": j.cached_from,
        "attempts": j.attempts,
    })
}

fn artifact_json(a: &ArtifactRecord, job: &str) -> serde_json::Value {
    json!({
        "job": job,
        "job_index": a.job,
        "name": a.name,
        "files": a.files,
        "bytes": a.bytes,
        "digest": a.digest,
        "created_ms": a.created_ms,
        "expire_ms": a.expire_ms,
        "available": !a.deleted,
    })
}

fn print_json(v: &serde_json::Value) {
    println!("{}", serde_json::to_string_pretty(v).unwrap_or_default());
}

fn runs(args: RunsArgs) -> Result<i32, Fail> {
    let command = args.command.unwrap_or(RunsCommand::List { json: false, limit: 20 });
    let (state, mut store) = open()?;
    let store = store.as_mut();
    match command {
        RunsCommand::List { json, limit } => {
            let list = store.runs(limit).map_err(internal)?;
            if json {
                print_json(&json!({"runs": list.iter().map(run_json).collect::<Vec<_>>()}));
                return Ok(exit::SUCCESS);
            }
            println!(
                "{:>5}  {:<11}  {:<28}  {:<16}  {:<12}  {:<19}  {:>9}  JOBS (CACHED)",
                "RUN", "STATUS", "PIPELINE", "REF", "EVENT", "STARTED", "DURATION"
            );
            for r in &list {
                let dur = r.ended_ms.map(|e| fmt_duration(Duration::from_millis((e - r.started_ms).max(0) as u64)));
                println!(
                    "{:>5}  {:<11}  {:<28}  {:<16}  {:<12}  {:<19}  {:>9}  {} ({})",
                    r.id,
                    r.status,
                    r.pipeline,
                    r.git_ref,
                    r.event,
                    when(r.started_ms),
                    dur.unwrap_or_else(|| "-".into()),
                    r.jobs,
                    r.cached
                );
            }
            Ok(exit::SUCCESS)
        }
        RunsCommand::Show { run, json } => {
            let r = resolve_run(store, &run)?;
            let jobs = store.jobs(r.id).map_err(internal)?;
            if json {
                let mut list = Vec::new();
                for j in &jobs {
                    let mut v = job_json(j);
                    let steps = store.steps(r.id, j.index).map_err(internal)?;
                    if !steps.is_empty() {
                        v["steps"] = json!(
                            steps
                                .iter()
                                .map(|s| json!({"name": s.name, "status": s.status, "duration_ms": s.duration_ms}))
                                .collect::<Vec<_>>()
                        );
                    }
                    list.push(v);
                }
                let mut v = run_json(&r);
                v["jobs"] = json!(list);
                print_json(&v);
                return Ok(exit::SUCCESS);
            }
            println!("Run {}: {} ({} on {}, {})", r.id, r.status, r.pipeline, r.git_ref, r.event);
            println!("  commit  {}", if r.commit.is_empty() { "-" } else { &r.commit });
            println!("  started {}", when(r.started_ms));
            if let Some(e) = r.ended_ms {
                println!(
                    "  ended   {} ({})",
                    when(e),
                    fmt_duration(Duration::from_millis((e - r.started_ms).max(0) as u64))
                );
            }
            println!("  jobs    {} ({} cached)", r.jobs, r.cached);
            println!();
            println!("  {:<40}  {:<15}  {:>6}  {:>9}  KEY", "JOB", "STATUS", "EXIT", "DURATION");
            for j in &jobs {
                let exit = match (j.exit_code, j.signal) {
                    (Some(c), _) => c.to_string(),
                    (None, Some(s)) => format!("sig {s}"),
                    _ => "-".into(),
                };
                let status = match j.cached_from {
                    Some(from) => format!("cached (#{from})"),
                    None => j.status.clone(),
                };
                println!(
                    "  {:<40}  {:<15}  {:>6}  {:>9}  {}",
                    j.name,
                    status,
                    exit,
                    j.duration_ms.map(|d| fmt_duration(Duration::from_millis(d.max(0) as u64))).unwrap_or("-".into()),
                    j.key.as_deref().map(|k| &k[..k.len().min(12)]).unwrap_or("-")
                );
                for s in store.steps(r.id, j.index).map_err(internal)? {
                    println!(
                        "      {:<36}  {:<15}  {:>6}  {:>9}",
                        s.name,
                        s.status,
                        "",
                        fmt_duration(Duration::from_millis(s.duration_ms.max(0) as u64))
                    );
                }
            }
            Ok(exit::SUCCESS)
        }
        RunsCommand::Logs { run, job, follow, json } => {
            let r = resolve_run(store, &run)?;
            let jobs = store.jobs(r.id).map_err(internal)?;
            let chosen: Vec<&JobRecord> = match &job {
                Some(spec) => resolve_job(&jobs, spec)?,
                None => jobs.iter().collect(),
            };
            let logs = store.logs(r.id).map_err(internal)?;
            let path_of = |j: &JobRecord| -> Option<PathBuf> {
                logs.iter().find(|l| l.job == j.index).map(|l| state.join(&l.path))
            };
            if follow {
                return follow_logs(store, &state, r.id, &chosen, json, job.is_none());
            }
            let mut out = Vec::new();
            for j in &chosen {
                let text = path_of(j).and_then(|p| std::fs::read_to_string(p).ok());
                if json {
                    out.push(json!({"job": j.name, "index": j.index, "status": j.status, "log": text}));
                } else {
                    if chosen.len() > 1 {
                        println!("==> {} ({}) <==", j.name, j.status);
                    }
                    match text {
                        Some(t) => print!("{t}"),
                        None => println!("(no log: the job did not start)"),
                    }
                }
            }
            if json {
                print_json(&json!({"run": r.id, "logs": out}));
            }
            Ok(exit::SUCCESS)
        }
        RunsCommand::Artifacts { run, job, extract, json } => {
            let r = resolve_run(store, &run)?;
            let jobs = store.jobs(r.id).map_err(internal)?;
            let wanted: Option<Vec<i64>> = match &job {
                Some(spec) => Some(resolve_job(&jobs, spec)?.iter().map(|j| j.index).collect()),
                None => None,
            };
            let arts: Vec<ArtifactRecord> = store
                .artifacts(r.id)
                .map_err(internal)?
                .into_iter()
                .filter(|a| wanted.as_ref().is_none_or(|w| w.contains(&a.job)))
                .collect();
            let job_name = |i: i64| jobs.iter().find(|j| j.index == i).map(|j| j.name.clone()).unwrap_or_default();
            let mut extracted = Vec::new();
            if let Some(dir) = &extract {
                for a in arts.iter().filter(|a| !a.deleted) {
                    let dest = extract_dest(dir, a, &job_name(a.job));
                    let (files, warns) = extract_artifact(&state.join(&a.path), &dest).map_err(internal)?;
                    for w in &warns {
                        eprintln!("warning: {}: {w}", a.name);
                    }
                    extracted.push((a.id, dest, files));
                }
            }
            if json {
                let list: Vec<_> = arts
                    .iter()
                    .map(|a| {
                        let mut v = artifact_json(a, &job_name(a.job));
                        if let Some((_, dest, _)) = extracted.iter().find(|e| e.0 == a.id) {
                            v["extracted_to"] = json!(dest.to_string_lossy());
                        }
                        v
                    })
                    .collect();
                print_json(&json!({"run": r.id, "artifacts": list}));
                return Ok(exit::SUCCESS);
            }
            if arts.is_empty() {
                println!("Run {} kept no artifacts.", r.id);
            }
            for a in &arts {
                let state_word = if a.deleted {
                    "expired (deleted)".to_string()
                } else {
                    match a.expire_ms {
                        Some(e) => format!("expires {}", when(e)),
                        None => "never expires".into(),
                    }
                };
                println!(
                    "{:<32}  {:<20}  {:>6} files  {:>12} bytes  {}",
                    job_name(a.job),
                    a.name,
                    a.files,
                    a.bytes,
                    state_word
                );
            }
            for (_, dest, files) in &extracted {
                println!("extracted {files} files to {}", dest.display());
            }
            Ok(exit::SUCCESS)
        }
    }
}

/// Where `--extract DIR` puts one artifact: GitHub artifacts under their
/// name, GitLab ones under the job's name (made a safe single segment).
fn extract_dest(dir: &Path, a: &ArtifactRecord, job: &str) -> PathBuf {
    let segment = if a.path.contains("/artifacts/gh/") { a.name.clone() } else { ci::vars::slug(job) };
    let segment = segment.replace(['/', '\\'], "-");
    let segment =
        if segment.is_empty() || segment == "." || segment == ".." { format!("job-{}", a.job) } else { segment };
    dir.join(segment)
}

/// Copy a stored artifact tree out; symlinks that would point outside it
/// are not copied (the copy cannot escape `dest`).
fn extract_artifact(src: &Path, dest: &Path) -> std::io::Result<(usize, Vec<String>)> {
    if !src.is_dir() {
        return Err(std::io::Error::new(std::io::ErrorKind::NotFound, format!("{} is gone", src.display())));
    }
    std::fs::create_dir_all(dest)?;
    let files = runner::workspace::list_tree(src);
    let (_, warns) = runner::workspace::copy_files(src, dest, &files);
    Ok((files.len() - warns.len(), warns))
}

/// Print log lines as they are written until the run ends.
fn follow_logs(
    store: &mut dyn Store,
    state: &Path,
    run: i64,
    jobs: &[&JobRecord],
    json: bool,
    label: bool,
) -> Result<i32, Fail> {
    let mut offsets: Vec<u64> = vec![0; jobs.len()];
    let mut partial: Vec<Vec<u8>> = vec![Vec::new(); jobs.len()];
    let stdout = std::io::stdout();
    loop {
        let running = store.run(run).map_err(internal)?.is_some_and(|r| r.status == store::run_status::RUNNING);
        let logs = store.logs(run).map_err(internal)?;
        for (i, j) in jobs.iter().enumerate() {
            let Some(l) = logs.iter().find(|l| l.job == j.index) else { continue };
            let Ok(mut f) = std::fs::File::open(state.join(&l.path)) else { continue };
            if f.seek(std::io::SeekFrom::Start(offsets[i])).is_err() {
                continue;
            }
            let mut buf = Vec::new();
            let n = f.read_to_end(&mut buf).unwrap_or(0);
            offsets[i] += n as u64;
            partial[i].extend_from_slice(&buf);
            let mut lock = stdout.lock();
            while let Some(pos) = partial[i].iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = partial[i].drain(..=pos).collect();
                let text = String::from_utf8_lossy(&line[..line.len() - 1]);
                let _ = if json {
                    writeln!(lock, "{}", json!({"job": j.name, "line": text}))
                } else if label {
                    writeln!(lock, "{}: {text}", j.name)
                } else {
                    writeln!(lock, "{text}")
                };
            }
            let _ = lock.flush();
        }
        if !running {
            return Ok(exit::SUCCESS);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A size such as `10G`, `500M`, `1024` (bytes).
fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let (num, mult) = match t.char_indices().find(|(_, c)| c.is_ascii_alphabetic()) {
        Some((i, _)) => {
            let unit = t[i..].to_ascii_lowercase();
            let m: u64 = match unit.trim_end_matches("ib").trim_end_matches('b') {
                "" => 1,
                "k" => 1 << 10,
                "m" => 1 << 20,
                "g" => 1 << 30,
                "t" => 1 << 40,
                _ => return Err(format!("size `{s}`: unknown unit (use K, M, G or T)")),
            };
            (&t[..i], m)
        }
        None => (t, 1),
    };
    let n: f64 = num.trim().parse().map_err(|_| format!("size `{s}`: not a number"))?;
    if n < 0.0 {
        return Err(format!("size `{s}`: must not be negative"));
    }
    Ok((n * mult as f64) as u64)
}

fn dir_size(p: &Path) -> u64 {
    runner::workspace::tree_size(p)
}

pub(crate) fn gc_main(args: GcArgs) -> i32 {
    match gc(args) {
        Ok(code) => code,
        Err((code, msg)) => {
            eprintln!("error: {msg}");
            code
        }
    }
}

fn gc(args: GcArgs) -> Result<i32, Fail> {
    let budget = parse_size(&args.cache_budget).map_err(invalid)?;
    let (state, mut store) = open()?;
    let store = store.as_mut();
    let now = runner::time::now_ms();
    let mut report = serde_json::Map::new();
    // 1. Artifacts past expire_in / retention-days.
    let mut art = (0u64, 0u64);
    for a in store.expired_artifacts(now).map_err(internal)? {
        let dir = state.join(&a.path);
        let bytes = dir_size(&dir);
        if !args.dry_run {
            if dir.exists() {
                runner::workspace::remove_tree(&dir).map_err(internal)?;
            }
            store.mark_artifact_deleted(a.id).map_err(internal)?;
        }
        art.0 += 1;
        art.1 += bytes;
    }
    report.insert("artifacts".into(), json!({"deleted": art.0, "bytes": art.1}));
    // 2. Logs of runs that ended more than --keep-logs days ago.
    let cutoff = now - (args.keep_logs_days as i64) * 86_400_000;
    let mut logs = (0u64, 0u64);
    for l in store.old_logs(cutoff).map_err(internal)? {
        let p = state.join(&l.path);
        let bytes = std::fs::metadata(&p).map(|m| m.len()).unwrap_or(0);
        if !args.dry_run {
            let _ = std::fs::remove_file(&p);
            store.delete_log(&l).map_err(internal)?;
        }
        logs.0 += 1;
        logs.1 += bytes;
    }
    report.insert("logs".into(), json!({"deleted": logs.0, "bytes": logs.1}));
    // 3. Workspaces left behind by runs that died (kill -9) mid-run.
    let mut ws = (0u64, 0u64);
    for r in store.runs(usize::MAX >> 1).map_err(internal)? {
        if r.status == store::run_status::RUNNING {
            continue;
        }
        let dir = state.join("runs").join(r.id.to_string()).join("ws");
        if dir.exists() {
            let bytes = dir_size(&dir);
            if !args.dry_run {
                runner::workspace::remove_tree(&dir).map_err(internal)?;
            }
            ws.0 += 1;
            ws.1 += bytes;
        }
    }
    // Workspace slots (`.shipway/ws/<n>`) that a dead run left with content.
    for dir in runner::slots::leftovers(&state) {
        let bytes = dir_size(&dir);
        if !args.dry_run {
            runner::workspace::remove_tree(&dir).map_err(internal)?;
        }
        ws.0 += 1;
        ws.1 += bytes;
    }
    report.insert("workspaces".into(), json!({"deleted": ws.0, "bytes": ws.1}));
    // 4. Cache entries past the size budget, least recently used first.
    let (n, bytes, kept) = gc_cache(&state, store, budget, args.dry_run)?;
    report.insert("cache".into(), json!({"deleted": n, "bytes": bytes, "kept_bytes": kept, "budget": budget}));
    let total = art.1 + logs.1 + ws.1 + bytes;
    report.insert("freed_bytes".into(), json!(total));
    report.insert("dry_run".into(), json!(args.dry_run));
    if args.json {
        print_json(&serde_json::Value::Object(report));
    } else {
        let verb = if args.dry_run { "would free" } else { "freed" };
        println!("gc {verb} {}:", human_bytes(total));
        println!("  {} expired artifact(s), {}", art.0, human_bytes(art.1));
        println!("  {} old log(s) (runs older than {} days), {}", logs.0, args.keep_logs_days, human_bytes(logs.1));
        println!("  {} leftover workspace dir(s), {}", ws.0, human_bytes(ws.1));
        println!(
            "  {n} cache entr{} over the {} budget, {} (cache now {})",
            if n == 1 { "y" } else { "ies" },
            human_bytes(budget),
            human_bytes(bytes),
            human_bytes(kept)
        );
    }
    Ok(exit::SUCCESS)
}

/// Remove cache entries, least recently used first, until the cache fits
/// the budget. Entries a running job holds are skipped.
fn gc_cache(state: &Path, store: &mut dyn Store, budget: u64, dry_run: bool) -> Result<(u64, u64, u64), Fail> {
    let cache = runner::cache::CacheStore::open(&state.join("cache")).map_err(internal)?;
    let entries = cache.entries();
    let mut total: u64 = entries.iter().map(|e| e.bytes).sum();
    let (mut n, mut freed) = (0u64, 0u64);
    for e in entries {
        if total <= budget {
            break;
        }
        let bytes = if dry_run {
            e.bytes
        } else {
            match cache.remove(&e.key) {
                Ok(b) => {
                    store.delete_cache_entry(&e.key).map_err(internal)?;
                    b
                }
                Err(err) => {
                    eprintln!("warning: {err}; kept");
                    continue;
                }
            }
        };
        total = total.saturating_sub(bytes);
        n += 1;
        freed += bytes;
    }
    // Records of entries that are gone from disk (a rust-cache entry taken
    // from an older key moves to the new one) are dropped too.
    if !dry_run {
        let on_disk: std::collections::HashSet<String> = cache.entries().into_iter().map(|e| e.key).collect();
        for r in store.cache_entries().map_err(internal)? {
            if !on_disk.contains(&r.key) && !cache.is_busy(&r.key) {
                store.delete_cache_entry(&r.key).map_err(internal)?;
            }
        }
    }
    Ok((n, freed, total))
}

pub(crate) fn human_bytes(b: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = b as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 { format!("{b} B") } else { format!("{v:.1} {}", UNITS[u]) }
}

#[cfg(test)]
mod tests {
    use super::parse_size;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("1024"), Ok(1024));
        assert_eq!(parse_size("10K"), Ok(10 << 10));
        assert_eq!(parse_size("1.5G"), Ok(3 << 29));
        assert_eq!(parse_size("2GiB"), Ok(2 << 30));
        assert!(parse_size("3X").is_err());
        assert!(parse_size("-1M").is_err());
    }
}
