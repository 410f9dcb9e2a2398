//! `shipway bench ab`: the relative gate. The base and the head service
//! (started from commands, or given as URLs) get the same load in
//! interleaved trials (base, head, base, head, ...); each trial's latency
//! percentile is one value, and `stats::gate` decides whether the head
//! regressed: significantly (one-sided test at alpha) *and* by more than
//! the practical threshold.

use crate::bench::{duration_arg, load_config, parse_rate, run_load};
use crate::cli::AbArgs;
use crate::exit;
use runner::process::{self, Control, Exit};
use serde_json::json;
use std::io::IsTerminal;
use std::sync::mpsc::Sender;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// A service started for the comparison; stopped (its whole process group)
/// when dropped.
struct Service {
    label: &'static str,
    control: Sender<Control>,
    handle: Option<JoinHandle<(Exit, Option<String>)>>,
    output: Arc<Mutex<Vec<u8>>>,
}

impl Service {
    fn start(label: &'static str, command: &str, port: u16) -> Result<Service, String> {
        let command = command.replace("${PORT}", &port.to_string()).replace("$PORT", &port.to_string());
        let mut env: Vec<(String, String)> = std::env::vars().collect();
        env.push(("PORT".into(), port.to_string()));
        let cwd = std::env::current_dir().map_err(|e| format!("cannot read the current directory: {e}"))?;
        let (control, rx) = process::control_channel();
        let output = Arc::new(Mutex::new(Vec::new()));
        let out = output.clone();
        let handle = std::thread::spawn(move || {
            let spec = process::Spec {
                program: "bash",
                args: vec!["-c".into(), command],
                cwd: &cwd,
                env: &env,
                timeout: Duration::from_secs(365 * 24 * 3600),
                grace: Duration::from_secs(5),
            };
            process::run(&spec, &rx, |chunk| {
                if let Ok(mut o) = out.lock() {
                    o.extend_from_slice(chunk);
                    // Keep the last 64 KiB for error messages.
                    if o.len() > 128 * 1024 {
                        let cut = o.len() - 64 * 1024;
                        o.drain(..cut);
                    }
                }
            })
        });
        Ok(Service { label, control, handle: Some(handle), output })
    }

    fn exited(&self) -> bool {
        self.handle.as_ref().is_none_or(|h| h.is_finished())
    }

    fn tail(&self) -> String {
        let o = self.output.lock().map(|o| o.clone()).unwrap_or_default();
        let text = String::from_utf8_lossy(&o).into_owned();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    /// Wait until `port` accepts connections.
    fn wait_ready(&self, port: u16, timeout: Duration) -> Result<(), String> {
        let end = Instant::now() + timeout;
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
        loop {
            if std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                return Ok(());
            }
            if self.exited() {
                return Err(format!(
                    "the {} service exited before listening on port {port}; its last output:\n{}",
                    self.label,
                    self.tail()
                ));
            }
            if Instant::now() >= end {
                return Err(format!(
                    "the {} service did not listen on port {port} within {timeout:?}; its last output:\n{}",
                    self.label,
                    self.tail()
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.control.send(Control::Cancel);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

fn free_port() -> Result<u16, String> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("cannot find a free port: {e}"))
}

/// One side: its URL, and the service behind it if shipway started it.
fn side(
    label: &'static str,
    cmd: Option<&str>,
    url: Option<&str>,
    path: &str,
    ready: Duration,
) -> Result<(String, Option<Service>), String> {
    match (cmd, url) {
        (Some(c), None) => {
            let port = free_port()?;
            let svc = Service::start(label, c, port)?;
            svc.wait_ready(port, ready)?;
            Ok((format!("http://127.0.0.1:{port}{path}"), Some(svc)))
        }
        (None, Some(u)) => Ok((u.to_string(), None)),
        _ => Err(format!("give the {label} side as --{label}-cmd CMD or --{label}-url URL (one of them)")),
    }
}

fn percentile_of(measure: &str) -> Result<f64, String> {
    Ok(match measure {
        "p50" => 50.0,
        "p90" => 90.0,
        "p99" => 99.0,
        "p999" => 99.9,
        other => return Err(format!("--measure `{other}`: expected p50, p90, p99 or p999")),
    })
}

pub(crate) fn main(a: AbArgs) -> i32 {
    let invalid = |m: String| {
        eprintln!("error: {m}");
        exit::INVALID
    };
    let q = match percentile_of(&a.measure) {
        Ok(q) => q,
        Err(e) => return invalid(e),
    };
    let test = match a.test.as_str() {
        "welch-log" => stats::gate::GateTest::WelchLog,
        "mann-whitney" => stats::gate::GateTest::MannWhitney,
        other => return invalid(format!("--test `{other}`: expected welch-log or mann-whitney")),
    };
    let practical = match parse_rate(&a.practical) {
        Ok((n, d)) => n as f64 / d as f64,
        Err(e) => return invalid(e.replace("--max-error-rate", "--practical")),
    };
    if !(a.alpha > 0.0 && a.alpha < 1.0) {
        return invalid(format!("--alpha {}: must be between 0 and 1", a.alpha));
    }
    if a.trials < 2 {
        return invalid(format!("--trials {}: at least 2 trials per side are needed", a.trials));
    }
    let ready = match duration_arg("--ready-timeout", &a.ready_timeout) {
        Ok(d) => d,
        Err(e) => return invalid(e),
    };
    let mut load = a.load.clone();
    if load.duration.is_none() && load.requests.is_none() {
        load.duration = Some("3s".into());
    }
    // Check the load settings before starting anything.
    if let Err(e) = load_config("http://127.0.0.1/", &load) {
        return invalid(e);
    }
    let (base_url, _base_svc) = match side("base", a.base_cmd.as_deref(), a.base_url.as_deref(), &a.path, ready) {
        Ok(s) => s,
        Err(e) => return invalid(e),
    };
    let (head_url, _head_svc) = match side("head", a.head_cmd.as_deref(), a.head_url.as_deref(), &a.path, ready) {
        Ok(s) => s,
        Err(e) => return invalid(e),
    };
    let configs = match (load_config(&base_url, &load), load_config(&head_url, &load)) {
        (Ok(b), Ok(h)) => [b, h],
        (Err(e), _) | (_, Err(e)) => return invalid(e),
    };
    let tty = !a.json && std::io::stderr().is_terminal();
    let mut values: [Vec<f64>; 2] = [Vec::new(), Vec::new()];
    let mut trials = Vec::new();
    for t in 0..a.trials {
        for (i, cfg) in configs.iter().enumerate() {
            let report = match run_load(cfg, false) {
                Ok(r) => r,
                Err(e) => return invalid(e.to_string()),
            };
            let s = report.summary();
            if s.canceled {
                eprintln!("stopped early; no verdict");
                return exit::INTERRUPTED;
            }
            let v = loadgen::percentile_ms(&report.histogram, q);
            let side = if i == 0 { "base" } else { "head" };
            if s.requests == 0 || v <= 0.0 {
                return invalid(format!(
                    "trial {} of the {side} side got no responses ({})",
                    t + 1,
                    s.first_error.as_deref().unwrap_or("no error recorded")
                ));
            }
            if tty {
                eprintln!(
                    "trial {:>2}/{} {side}: {} {v:.3} ms, {:.0} req/s, {:.2}% errors",
                    t + 1,
                    a.trials,
                    a.measure,
                    s.requests_per_second,
                    s.error_rate * 100.0
                );
            }
            values[i].push(v);
            trials.push(
                json!({"trial": t + 1, "side": side, "value_ms": v, "requests_per_second": s.requests_per_second,
                               "error_rate": s.error_rate}),
            );
        }
    }
    let config = stats::gate::GateConfig { alpha: a.alpha, practical, test, ..Default::default() };
    let verdict = match stats::gate::gate(&values[0], &values[1], &config) {
        Ok(v) => v,
        Err(e) => return invalid(format!("no verdict: {e}")),
    };
    if let Some(name) = &a.record.name {
        let mut sorted = values[1].clone();
        sorted.sort_by(f64::total_cmp);
        let place = crate::history::place(a.record.branch.as_deref(), a.record.commit.as_deref());
        let rec = store::BenchRecord {
            repo: place.repo,
            branch: place.branch,
            commit: place.commit,
            bench: name.clone(),
            measure: format!("{}_ms", a.measure),
            value: stats::median(&sorted).unwrap_or(sorted[sorted.len() / 2]),
            unit: "ms".into(),
            lower_is_better: true,
            source: "ab".into(),
            samples: values[1].clone(),
            env: Some(json!({"base": base_url, "head": head_url, "trials": a.trials}).to_string()),
            created_ms: runner::time::now_ms(),
            ..Default::default()
        };
        let stored = crate::history::open().and_then(|mut s| s.add_bench_result(&rec).map_err(|e| e.to_string()));
        if let Err(e) = stored {
            eprintln!("error: cannot record `{name}`: {e}");
            return exit::INTERNAL;
        }
    }
    if a.json {
        let doc = json!({
            "base": base_url,
            "head": head_url,
            "measure": a.measure,
            "trials_per_side": a.trials,
            "base_values_ms": values[0],
            "head_values_ms": values[1],
            "trials": trials,
            "verdict": {
                "regressed": verdict.regressed,
                "test": verdict.test.name(),
                "p_value": verdict.p_value,
                "alpha": a.alpha,
                "effect": verdict.effect,
                "ci": [verdict.ci.0, verdict.ci.1],
                "confidence": verdict.confidence,
                "practical": practical,
                "reason": verdict.reason,
            },
        });
        println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
    } else {
        let med = |v: &[f64]| {
            let mut s = v.to_vec();
            s.sort_by(f64::total_cmp);
            s[s.len() / 2]
        };
        println!("base {base_url}: {} median {:.3} ms over {} trials", a.measure, med(&values[0]), a.trials);
        println!("head {head_url}: {} median {:.3} ms over {} trials", a.measure, med(&values[1]), a.trials);
        println!("{}", verdict.reason);
    }
    if verdict.regressed { exit::FAILED } else { exit::SUCCESS }
}
