//! `shipway bench`: load an HTTP service and gate on the result.

use crate::cli::{BenchArgs, BenchCommand, HttpArgs, LoadArgs};
use crate::exit;
use hdrhistogram::Histogram;
use hdrhistogram::serialization::Serializer as _;
use loadgen::{Config, LoadError, Mode, Progress, Report, Stop, Summary};
use serde_json::json;
use std::io::IsTerminal;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

pub(crate) fn main(args: BenchArgs) -> i32 {
    match args.command {
        BenchCommand::Http(a) => http(*a),
        BenchCommand::Ab(a) => crate::ab::main(*a),
        BenchCommand::History(a) => crate::history::history(a),
        BenchCommand::Gate(a) => crate::history::gate(a),
        BenchCommand::Ingest(a) => crate::ingest::main(a),
    }
}

/// Bad input: the message goes to stderr and the exit code is 2.
fn invalid(msg: impl std::fmt::Display) -> i32 {
    eprintln!("error: {msg}");
    exit::INVALID
}

pub(crate) fn duration_arg(flag: &str, text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text.trim()).map_err(|e| format!("{flag} `{text}`: {e} (write it like 300ms, 10s or 1m)"))
}

/// A rate as an exact fraction: `0.1%` is 1/1000, `0.001` is 1/1000.
pub(crate) fn parse_rate(text: &str) -> Result<(u128, u128), String> {
    let t = text.trim();
    let (digits, percent) = match t.strip_suffix('%') {
        Some(d) => (d.trim(), true),
        None => (t, false),
    };
    let bad = || format!("--max-error-rate `{text}`: expected a rate like 0.1% or 0.001");
    let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
    if int.is_empty() && frac.is_empty()
        || !int.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
        || frac.len() > 18
        || int.len() > 18
    {
        return Err(bad());
    }
    let num: u128 = format!("{int}{frac}").parse().map_err(|_| bad())?;
    let mut den: u128 = 10u128.pow(frac.len() as u32);
    if percent {
        den *= 100;
    }
    if num > den {
        return Err(format!("--max-error-rate `{text}` is above 100%"));
    }
    Ok((num, den))
}

/// The load settings of `args` for `url`.
pub(crate) fn load_config(url: &str, a: &LoadArgs) -> Result<Config, String> {
    let mut cfg = Config::new(url);
    cfg.connections = a.connections;
    cfg.threads = a.threads;
    cfg.stop = match (a.requests, a.duration.as_deref()) {
        (Some(n), _) => Stop::Requests(n),
        (None, Some(d)) => Stop::Duration(duration_arg("--duration", d)?),
        (None, None) => Stop::Duration(Duration::from_secs(10)),
    };
    cfg.mode = match a.rate {
        Some(r) if r.is_finite() && r > 0.0 => Mode::Open { rate: r },
        Some(r) => return Err(format!("--rate {r}: must be a positive number of requests per second")),
        None => Mode::Closed,
    };
    cfg.warmup = duration_arg("--warmup", &a.warmup)?;
    cfg.timeout = duration_arg("--timeout", &a.timeout)?;
    cfg.method = a.method.clone();
    for h in &a.header {
        let Some((k, v)) = h.split_once(':') else {
            return Err(format!("--header `{h}`: expected `Name: value`"));
        };
        cfg.headers.push((k.trim().to_string(), v.trim().to_string()));
    }
    cfg.body = match a.body.as_deref() {
        None => Vec::new(),
        Some(b) => match b.strip_prefix('@') {
            Some(path) => std::fs::read(path).map_err(|e| format!("--body @{path}: {e}"))?,
            None => b.as_bytes().to_vec(),
        },
    };
    Ok(cfg)
}

/// One absolute gate's outcome.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub(crate) struct GateResult {
    pub(crate) gate: &'static str,
    pub(crate) passed: bool,
    /// The threshold and the measured value, in the gate's unit.
    pub(crate) threshold: f64,
    pub(crate) value: f64,
    pub(crate) unit: &'static str,
    pub(crate) message: String,
}

/// P99 in microseconds as the report shows it: the midpoint of its
/// histogram bucket (values within 0.1% share a bucket).
pub(crate) fn p99_us(h: &Histogram<u64>) -> u64 {
    if h.is_empty() { 0 } else { h.median_equivalent(h.value_at_percentile(99.0)) }
}

/// The absolute gates. P99 passes when it is at most the threshold (compared
/// in whole microseconds); the error rate passes when errors/attempts is at
/// most the given fraction (compared exactly).
pub(crate) fn absolute_gates(
    h: &Histogram<u64>,
    errors: u64,
    attempts: u64,
    p99: Option<Duration>,
    max_error_rate: Option<(u128, u128)>,
) -> Vec<GateResult> {
    let mut out = Vec::new();
    if let Some(limit) = p99 {
        let limit_us = limit.as_micros() as u64;
        let got = p99_us(h);
        let (value, threshold) = (got as f64 / 1000.0, limit_us as f64 / 1000.0);
        let passed = got <= limit_us;
        let message = if passed {
            format!("p99 {value:.3} ms <= {threshold} ms")
        } else {
            let over = value - threshold;
            format!(
                "p99 {value:.3} ms is above the {threshold} ms threshold by {over:.3} ms (+{:.1}%)",
                over / threshold * 100.0
            )
        };
        out.push(GateResult { gate: "p99", passed, threshold, value, unit: "ms", message });
    }
    if let Some((num, den)) = max_error_rate {
        let passed = (errors as u128) * den <= (attempts as u128) * num;
        let rate = if attempts == 0 { 0.0 } else { errors as f64 / attempts as f64 };
        let threshold = num as f64 / den as f64;
        let message = if passed {
            format!("error rate {:.4}% <= {:.4}%", rate * 100.0, threshold * 100.0)
        } else {
            format!(
                "error rate {:.4}% ({errors} of {attempts}) is above the {:.4}% threshold by {:.4} points",
                rate * 100.0,
                threshold * 100.0,
                (rate - threshold) * 100.0
            )
        };
        out.push(GateResult { gate: "error_rate", passed, threshold, value: rate, unit: "ratio", message });
    }
    out
}

/// Run the load with a progress line on a TTY; Ctrl-C stops it early.
/// Ctrl-C seen (it stays set: `bench ab` stops between trials too), and the
/// run it must stop. The handler is installed once per process.
static INTERRUPTED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
static CURRENT: std::sync::Mutex<Option<Arc<Progress>>> = std::sync::Mutex::new(None);
static HANDLER: std::sync::Once = std::sync::Once::new();

pub(crate) fn run_load(cfg: &Config, show_progress: bool) -> Result<Report, LoadError> {
    HANDLER.call_once(|| {
        let _ = ctrlc::set_handler(|| {
            INTERRUPTED.store(true, Ordering::Relaxed);
            if let Ok(current) = CURRENT.lock()
                && let Some(p) = current.as_ref()
            {
                p.cancel.store(true, Ordering::Relaxed);
            }
        });
    });
    let progress = Arc::new(Progress::default());
    if INTERRUPTED.load(Ordering::Relaxed) {
        progress.cancel.store(true, Ordering::Relaxed);
    }
    if let Ok(mut current) = CURRENT.lock() {
        *current = Some(progress.clone());
    }
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let ticker = show_progress.then(|| {
        let (p, done) = (progress.clone(), done.clone());
        let total = match cfg.stop {
            Stop::Duration(d) => (cfg.warmup + d).as_millis() as u64,
            Stop::Requests(n) => n,
        };
        let by_time = matches!(cfg.stop, Stop::Duration(_));
        std::thread::spawn(move || {
            let bar = indicatif::ProgressBar::new(total);
            bar.set_style(
                indicatif::ProgressStyle::with_template("{spinner} [{bar:30}] {msg}")
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            let started = Instant::now();
            let mut last = (0u64, Instant::now());
            while !done.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(200));
                let n = p.responses.load(Ordering::Relaxed);
                let now = Instant::now();
                let rate = (n - last.0) as f64 / now.duration_since(last.1).as_secs_f64().max(1e-3);
                last = (n, now);
                bar.set_position(if by_time { started.elapsed().as_millis() as u64 } else { n });
                bar.set_message(format!("{n} responses, {rate:.0} req/s, {} errors", p.errors.load(Ordering::Relaxed)));
            }
            bar.finish_and_clear();
        })
    });
    let report = loadgen::run(cfg, progress);
    if let Ok(mut current) = CURRENT.lock() {
        *current = None;
    }
    done.store(true, Ordering::Relaxed);
    if let Some(t) = ticker {
        let _ = t.join();
    }
    report
}

fn describe_mode(s: &Summary) -> String {
    match s.target_rate {
        Some(r) => format!("open loop at {r} req/s"),
        None => "closed loop".into(),
    }
}

pub(crate) fn print_human(url: &str, s: &Summary) {
    let l = &s.latency_ms;
    println!(
        "{url}: {}, {} connections, {} threads{}",
        describe_mode(s),
        s.connections,
        s.threads,
        if s.canceled { " (stopped early)" } else { "" }
    );
    println!("  requests   {} in {:.2} s, {:.1} req/s", s.requests, s.duration_s, s.requests_per_second);
    let e = &s.errors;
    println!(
        "  errors     {:.3}%: connect {}, timeout {}, non-2xx {}, reset {}, protocol {}",
        s.error_rate * 100.0,
        e.connect,
        e.timeout,
        e.non_2xx,
        e.reset,
        e.protocol
    );
    if let Some(first) = &s.first_error {
        println!("             first: {first}");
    }
    println!(
        "  latency    p50 {:.3} ms, p90 {:.3} ms, p99 {:.3} ms, p99.9 {:.3} ms, max {:.3} ms (mean {:.3} ms)",
        l.p50, l.p90, l.p99, l.p999, l.max, l.mean
    );
}

/// Store an HTTP run's figures: the latency percentiles (the P99 record
/// carries the compressed histogram), throughput and error rate.
fn record_http(name: &str, r: &crate::cli::RecordArgs, report: &Report, s: &Summary) -> Result<usize, String> {
    let place = crate::history::place(r.branch.as_deref(), r.commit.as_deref());
    let mut store = crate::history::open()?;
    let mut hist = Vec::new();
    hdrhistogram::serialization::V2DeflateSerializer::new()
        .serialize(&report.histogram, &mut hist)
        .map_err(|e| format!("cannot compress the histogram: {e:?}"))?;
    let env = json!({"mode": s.mode, "target_rate": s.target_rate, "connections": s.connections,
                     "threads": s.threads, "requests": s.requests, "duration_s": s.duration_s});
    let l = &s.latency_ms;
    let figures: [(&str, f64, &str, bool); 7] = [
        ("p50_ms", l.p50, "ms", true),
        ("p90_ms", l.p90, "ms", true),
        ("p99_ms", l.p99, "ms", true),
        ("p999_ms", l.p999, "ms", true),
        ("max_ms", l.max, "ms", true),
        ("requests_per_second", s.requests_per_second, "req/s", false),
        ("error_rate", s.error_rate, "ratio", true),
    ];
    let now = runner::time::now_ms();
    for (measure, value, unit, lower) in figures {
        let rec = store::BenchRecord {
            repo: place.repo.clone(),
            branch: place.branch.clone(),
            commit: place.commit.clone(),
            bench: name.to_string(),
            measure: measure.into(),
            value,
            unit: unit.into(),
            lower_is_better: lower,
            source: "http".into(),
            histogram: (measure == "p99_ms").then(|| hist.clone()),
            env: Some(env.to_string()),
            created_ms: now,
            ..Default::default()
        };
        store.add_bench_result(&rec).map_err(|e| e.to_string())?;
    }
    Ok(figures.len())
}

/// The latency distribution as text: one line per doubling bucket (from
/// the smallest recorded value), its count and a bar scaled to `width`.
pub(crate) fn histogram_picture(h: &Histogram<u64>, width: usize) -> String {
    if h.is_empty() {
        return String::new();
    }
    let mut first = 1u64;
    while first * 2 <= h.min() {
        first *= 2;
    }
    let buckets: Vec<(u64, u64)> = h
        .iter_log(first, 2.0)
        .map(|v| (v.value_iterated_to(), v.count_since_last_iteration()))
        .skip_while(|b| b.1 == 0)
        .collect();
    let most = buckets.iter().map(|b| b.1).max().unwrap_or(1).max(1);
    let mut out = String::from("  latency histogram (ms, up to)\n");
    for (upto, count) in buckets {
        let bar = (count as f64 / most as f64 * width as f64).ceil() as usize;
        out.push_str(&format!("  {:>10.3} {:>10} {}\n", upto as f64 / 1000.0, count, "█".repeat(bar)));
    }
    out
}

fn http(a: HttpArgs) -> i32 {
    let cfg = match load_config(&a.url, &a.load) {
        Ok(c) => c,
        Err(e) => return invalid(e),
    };
    let p99 = match a.p99_threshold.as_deref().map(|t| duration_arg("--p99-threshold", t)).transpose() {
        Ok(p) => p,
        Err(e) => return invalid(e),
    };
    let max_err = match a.max_error_rate.as_deref().map(parse_rate).transpose() {
        Ok(r) => r,
        Err(e) => return invalid(e),
    };
    let report = match run_load(&cfg, !a.json && std::io::stderr().is_terminal()) {
        Ok(r) => r,
        Err(e) => return invalid(e),
    };
    let summary = report.summary();
    let attempts = report.requests + report.errors.failed();
    let gates = absolute_gates(&report.histogram, report.errors.total(), attempts, p99, max_err);
    let passed = gates.iter().all(|g| g.passed);
    let mut doc = serde_json::to_value(&summary).unwrap_or_default();
    if let Some(o) = doc.as_object_mut() {
        o.insert("url".into(), json!(a.url));
        o.insert("gates".into(), serde_json::to_value(&gates).unwrap_or_default());
        o.insert("passed".into(), json!(passed));
    }
    if let Some(name) = &a.record.name {
        match record_http(name, &a.record, &report, &summary) {
            Ok(n) => {
                if !a.json {
                    println!("recorded {n} figures of `{name}` in the benchmark history");
                }
            }
            Err(e) => {
                eprintln!("error: cannot record `{name}`: {e}");
                return exit::INTERNAL;
            }
        }
    }
    if let Some(path) = &a.out {
        let text = serde_json::to_string_pretty(&doc).unwrap_or_default();
        if let Err(e) = std::fs::write(path, text + "\n") {
            eprintln!("error: --out {}: {e}", path.display());
            return exit::INTERNAL;
        }
    }
    if a.json {
        println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
    } else {
        print_human(&a.url, &summary);
        if a.histogram {
            print!("{}", histogram_picture(&report.histogram, 40));
        }
        for g in &gates {
            println!("gate {}: {}", if g.passed { "passed" } else { "FAILED" }, g.message);
        }
    }
    if summary.canceled {
        exit::INTERRUPTED
    } else if passed {
        exit::SUCCESS
    } else {
        exit::FAILED
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hist(value_us: u64) -> Histogram<u64> {
        let mut h = Histogram::new_with_bounds(1, 3_600_000_000, 3).unwrap();
        h.record_n(1_000, 1_000).unwrap();
        h.record_n(value_us, 1_000).unwrap();
        h
    }

    #[test]
    fn the_p99_gate_is_exact_at_its_boundary() {
        let limit = Some(Duration::from_millis(300));
        let gate = |us| absolute_gates(&hist(us), 0, 2_000, limit, None)[0].passed;
        assert!(gate(299_000), "299 ms passes a 300 ms threshold");
        assert!(gate(300_000), "300 ms passes a 300 ms threshold");
        assert!(!gate(301_000), "301 ms fails a 300 ms threshold");
        let g = &absolute_gates(&hist(301_000), 0, 2_000, limit, None)[0];
        assert!(g.message.contains("p99 300.928 ms is above the 300 ms threshold by 0.928 ms"), "{}", g.message);
    }

    #[test]
    fn the_error_rate_gate_compares_exact_fractions() {
        let h = hist(1_000);
        let gate = |errors, attempts, rate: &str| {
            absolute_gates(&h, errors, attempts, None, Some(parse_rate(rate).unwrap()))[0].passed
        };
        assert!(gate(1, 1_000, "0.1%"));
        assert!(!gate(2, 1_000, "0.1%"));
        assert!(gate(1, 1_000, "0.001"));
        assert!(!gate(1_001, 1_000_000, ".1%"));
        assert!(gate(0, 0, "0%"));
        assert!(!gate(1, 3, "33.3%"));
    }

    #[test]
    fn the_histogram_picture_counts_every_value() {
        let mut h = Histogram::new_with_bounds(1, 3_600_000_000, 3).unwrap();
        h.record_n(300, 90).unwrap();
        h.record_n(5_000, 10).unwrap();
        let pic = histogram_picture(&h, 20);
        let counts: u64 =
            pic.lines().skip(1).map(|l| l.split_whitespace().nth(1).unwrap().parse::<u64>().unwrap()).sum();
        assert_eq!(counts, 100, "{pic}");
        assert!(pic.lines().any(|l| l.contains(&"█".repeat(20))), "the biggest bucket has the full bar: {pic}");
    }

    #[test]
    fn rates_parse_exactly_or_are_refused() {
        assert_eq!(parse_rate("0.1%"), Ok((1, 1000)));
        assert_eq!(parse_rate("0.001"), Ok((1, 1000)));
        assert_eq!(parse_rate("5%"), Ok((5, 100)));
        assert_eq!(parse_rate("1"), Ok((1, 1)));
        for bad in ["", "%", "abc", "-1%", "1.2.3", "150%", "2", "1e-3"] {
            assert!(parse_rate(bad).is_err(), "{bad}");
        }
    }
}
