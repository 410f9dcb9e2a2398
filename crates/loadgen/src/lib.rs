//! shipway's HTTP/1.1 load generator.
//!
//! `C` keep-alive connections spread over `T` threads, each thread a
//! single-threaded tokio runtime (as wrk runs one event loop per thread).
//! Two modes:
//! - **closed loop** (wrk): each connection sends its next request as soon
//!   as the previous response is in; latency is measured from the send;
//! - **open loop** (wrk2): requests are due at a fixed rate, slot `j` at
//!   `start + j / rate`, connection `c` owning the slots `j ≡ c (mod C)`.
//!   When a response comes back after the next slot was due, the next
//!   request's latency is measured from the time it was *due*, not from the
//!   time it could be sent, so a server stall is charged to every request
//!   it held up (coordinated omission corrected). When the connection was
//!   idle and waited for its slot, latency is measured from the actual send,
//!   so timer slack is not charged to the server.
//!
//! Latencies go into an HdrHistogram (microseconds, 3 significant digits).
//! Errors are counted by class ([`Errors`]).

mod http1;

use hdrhistogram::Histogram;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

/// Highest latency the histogram holds: one hour, in microseconds.
const MAX_LATENCY_US: u64 = 3_600_000_000;

/// Why a load run could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    #[error("invalid URL `{url}`: {why}")]
    Url { url: String, why: String },
    #[error("unsupported: {0}")]
    Unsupported(String),
    #[error("cannot resolve `{host}`: {why}")]
    Resolve { host: String, why: String },
    #[error("cannot connect to {addr} ({url}): {source}")]
    Connect { url: String, addr: String, source: std::io::Error },
    #[error("invalid settings: {0}")]
    Settings(String),
    #[error("cannot start the load threads: {0}")]
    Runtime(std::io::Error),
}

/// Closed loop, or open loop at a fixed total rate (requests per second).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Mode {
    Closed,
    Open { rate: f64 },
}

/// When the measurement stops.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stop {
    /// After this long (closed loop: responses after it are not counted;
    /// open loop: every request due before it is still sent and awaited).
    Duration(Duration),
    /// After this many requests.
    Requests(u64),
}

/// What to load and how.
#[derive(Clone, Debug)]
pub struct Config {
    pub url: String,
    pub method: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub connections: usize,
    /// Threads (event loops); 0 = one per available CPU, at most one per
    /// connection.
    pub threads: usize,
    pub mode: Mode,
    pub stop: Stop,
    /// Load without recording before the measurement starts.
    pub warmup: Duration,
    /// A request without a whole response after this long is a timeout.
    pub timeout: Duration,
}

impl Config {
    pub fn new(url: &str) -> Config {
        Config {
            url: url.to_string(),
            method: "GET".into(),
            headers: Vec::new(),
            body: Vec::new(),
            connections: 10,
            threads: 0,
            mode: Mode::Closed,
            stop: Stop::Duration(Duration::from_secs(10)),
            warmup: Duration::ZERO,
            timeout: Duration::from_secs(10),
        }
    }
}

/// Failed or unwanted outcomes, by class.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Errors {
    /// A connection could not be opened.
    pub connect: u64,
    /// No whole response within the timeout.
    pub timeout: u64,
    /// A response with a status outside 200-299 (it is also a request).
    pub non_2xx: u64,
    /// The connection was closed or reset before a whole response.
    pub reset: u64,
    /// The response was not valid HTTP/1.x.
    pub protocol: u64,
}

impl Errors {
    fn add(&mut self, o: &Errors) {
        self.connect += o.connect;
        self.timeout += o.timeout;
        self.non_2xx += o.non_2xx;
        self.reset += o.reset;
        self.protocol += o.protocol;
    }

    /// Attempts that got no response at all.
    pub fn failed(&self) -> u64 {
        self.connect + self.timeout + self.reset + self.protocol
    }

    pub fn total(&self) -> u64 {
        self.failed() + self.non_2xx
    }
}

/// Live counters, for a progress display.
#[derive(Debug, Default)]
pub struct Progress {
    pub responses: AtomicU64,
    pub errors: AtomicU64,
    /// Set by the caller to stop early (Ctrl-C); the report covers what ran.
    pub cancel: AtomicBool,
}

/// The result of a run.
#[derive(Clone, Debug)]
pub struct Report {
    /// Responses received in the measurement (any status).
    pub requests: u64,
    /// From the start of the measurement to its last counted response.
    pub duration: Duration,
    pub errors: Errors,
    /// Latency in microseconds, of every counted response.
    pub histogram: Histogram<u64>,
    pub mode: Mode,
    pub connections: usize,
    pub threads: usize,
    /// True when the run was stopped early through [`Progress::cancel`].
    pub canceled: bool,
    /// The first error seen, described.
    pub first_error: Option<String>,
    /// When the measurement started (after the warm-up); open-loop slot
    /// `j` was due at `started + j / rate - warmup`.
    pub started: Instant,
}

/// A resolved target.
#[derive(Clone, Debug)]
struct Target {
    addr: SocketAddr,
    request: Arc<Vec<u8>>,
    head: bool,
}

fn target(cfg: &Config) -> Result<Target, LoadError> {
    let bad = |why: &str| LoadError::Url { url: cfg.url.clone(), why: why.to_string() };
    let url = url::Url::parse(&cfg.url).map_err(|e| bad(&e.to_string()))?;
    match url.scheme() {
        "http" => {}
        "https" => return Err(LoadError::Unsupported("https URLs (TLS): use http://".into())),
        s => return Err(bad(&format!("scheme `{s}` is not http"))),
    }
    let host = url.host_str().filter(|h| !h.is_empty()).ok_or_else(|| bad("no host"))?.to_string();
    let port = url.port_or_known_default().unwrap_or(80);
    let resolve_host = host.trim_start_matches('[').trim_end_matches(']').to_string();
    let addr = (resolve_host.as_str(), port)
        .to_socket_addrs()
        .map_err(|e| LoadError::Resolve { host: host.clone(), why: e.to_string() })?
        .next()
        .ok_or_else(|| LoadError::Resolve { host: host.clone(), why: "no address".into() })?;
    let mut path = url.path().to_string();
    if let Some(q) = url.query() {
        path.push('?');
        path.push_str(q);
    }
    let host_header = match url.port() {
        Some(p) => format!("{host}:{p}"),
        None => host,
    };
    if cfg.method.is_empty() || !cfg.method.bytes().all(|b| b.is_ascii_alphabetic()) {
        return Err(LoadError::Settings(format!("invalid method `{}`", cfg.method)));
    }
    for (k, v) in &cfg.headers {
        if k.is_empty() || k.bytes().any(|b| !b.is_ascii_graphic() || b == b':') || v.contains(['\r', '\n']) {
            return Err(LoadError::Settings(format!("invalid header `{k}: {v}`")));
        }
    }
    let method = cfg.method.to_ascii_uppercase();
    let request = http1::request(&method, &path, &host_header, &cfg.headers, &cfg.body);
    Ok(Target { addr, request: Arc::new(request), head: method == "HEAD" })
}

/// Check the settings and that the target accepts a connection.
fn preflight(cfg: &Config) -> Result<Target, LoadError> {
    if cfg.connections == 0 {
        return Err(LoadError::Settings("connections must be at least 1".into()));
    }
    if let Mode::Open { rate } = cfg.mode
        && !(rate.is_finite() && rate > 0.0)
    {
        return Err(LoadError::Settings(format!("rate must be a positive number, not {rate}")));
    }
    match cfg.stop {
        Stop::Duration(d) if d.is_zero() => return Err(LoadError::Settings("duration must be above zero".into())),
        Stop::Requests(0) => return Err(LoadError::Settings("requests must be at least 1".into())),
        _ => {}
    }
    if cfg.timeout.is_zero() {
        return Err(LoadError::Settings("timeout must be above zero".into()));
    }
    let t = target(cfg)?;
    std::net::TcpStream::connect_timeout(&t.addr, cfg.timeout.min(Duration::from_secs(5)))
        .map_err(|source| LoadError::Connect { url: cfg.url.clone(), addr: t.addr.to_string(), source })?;
    Ok(t)
}

/// Shared by every connection of a run.
struct Plan {
    target: Target,
    mode: Mode,
    connections: usize,
    /// Requests may be sent from here; recorded from `measure_start`.
    start: Instant,
    measure_start: Instant,
    /// Closed loop and duration runs: no new request at or after this.
    deadline: Option<Instant>,
    /// Request-count runs: slots handed out so far (closed loop).
    limit: Option<u64>,
    issued: AtomicU64,
    timeout: Duration,
    progress: Arc<Progress>,
}

/// One thread's tally.
struct Tally {
    hist: Histogram<u64>,
    errors: Errors,
    requests: u64,
    last: Option<Instant>,
    /// The first error's description.
    sample: Option<String>,
}

impl Tally {
    fn new() -> Tally {
        Tally {
            hist: Histogram::new_with_bounds(1, MAX_LATENCY_US, 3).expect("valid histogram bounds"),
            errors: Errors::default(),
            requests: 0,
            last: None,
            sample: None,
        }
    }
}

/// Run the load and report. Blocks until the run is over.
pub fn run(cfg: &Config, progress: Arc<Progress>) -> Result<Report, LoadError> {
    let target = preflight(cfg)?;
    let cpus = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let threads = if cfg.threads == 0 { cpus } else { cfg.threads }.clamp(1, cfg.connections);
    // Runtimes are built before the clock starts.
    let mut runtimes = Vec::with_capacity(threads);
    for _ in 0..threads {
        runtimes.push(tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(LoadError::Runtime)?);
    }
    let start = Instant::now() + Duration::from_millis(5);
    let measure_start = start + cfg.warmup;
    let (deadline, limit) = match cfg.stop {
        Stop::Duration(d) => (Some(measure_start + d), None),
        Stop::Requests(n) => (None, Some(n)),
    };
    let plan = Arc::new(Plan {
        target,
        mode: cfg.mode,
        connections: cfg.connections,
        start,
        measure_start,
        deadline,
        limit,
        issued: AtomicU64::new(0),
        timeout: cfg.timeout,
        progress: progress.clone(),
    });
    let tallies: Vec<Tally> = std::thread::scope(|scope| {
        let handles: Vec<_> = runtimes
            .into_iter()
            .enumerate()
            .map(|(t, rt)| {
                let plan = plan.clone();
                let conns: Vec<usize> = (0..cfg.connections).filter(|c| c % threads == t).collect();
                scope.spawn(move || {
                    rt.block_on(async move {
                        let local = tokio::task::LocalSet::new();
                        local
                            .run_until(async move {
                                let mut tasks = Vec::new();
                                for c in conns {
                                    let plan = plan.clone();
                                    tasks.push(tokio::task::spawn_local(async move { connection(&plan, c).await }));
                                }
                                let mut tally = Tally::new();
                                for t in tasks {
                                    if let Ok(one) = t.await {
                                        merge(&mut tally, one);
                                    }
                                }
                                tally
                            })
                            .await
                    })
                })
            })
            .collect();
        handles.into_iter().filter_map(|h| h.join().ok()).collect()
    });
    let mut total = Tally::new();
    for t in tallies {
        merge(&mut total, t);
    }
    // A closed-loop duration run lasts its window (less if canceled); the
    // others last until their last counted response.
    let end = match (cfg.mode, deadline) {
        (Mode::Closed, Some(d)) => d.min(Instant::now()),
        _ => total.last.unwrap_or(measure_start),
    };
    Ok(Report {
        requests: total.requests,
        duration: end.saturating_duration_since(measure_start),
        errors: total.errors,
        histogram: total.hist,
        mode: cfg.mode,
        connections: cfg.connections,
        threads,
        canceled: progress.cancel.load(Ordering::Relaxed),
        first_error: total.sample,
        started: measure_start,
    })
}

fn merge(into: &mut Tally, from: Tally) {
    let _ = into.hist.add(&from.hist);
    into.errors.add(&from.errors);
    into.requests += from.requests;
    into.last = into.last.max(from.last);
    if into.sample.is_none() {
        into.sample = from.sample;
    }
}

/// One connection's life: requests until the plan says stop.
async fn connection(plan: &Plan, c: usize) -> Tally {
    let mut tally = Tally::new();
    let mut stream: Option<TcpStream> = None;
    let mut reader = http1::Reader::default();
    // Open loop: this connection's next slot.
    let mut slot: u64 = c as u64;
    loop {
        if plan.progress.cancel.load(Ordering::Relaxed) {
            break;
        }
        // When this request is due, and whether it may be sent at all.
        let due = match plan.mode {
            Mode::Closed => {
                if Instant::now() < plan.start {
                    tokio::time::sleep_until(plan.start.into()).await;
                }
                let now = Instant::now();
                if plan.deadline.is_some_and(|d| now >= d) {
                    break;
                }
                if let Some(n) = plan.limit {
                    // Warm-up requests do not use up the count.
                    if now >= plan.measure_start && plan.issued.fetch_add(1, Ordering::Relaxed) >= n {
                        break;
                    }
                }
                now
            }
            Mode::Open { rate } => {
                let at = plan.start + Duration::from_secs_f64(slot as f64 / rate);
                if plan.deadline.is_some_and(|d| at >= d) {
                    break;
                }
                if let Some(n) = plan.limit {
                    let warm = (plan.measure_start - plan.start).as_secs_f64() * rate;
                    if slot as f64 >= warm + n as f64 {
                        break;
                    }
                }
                slot += plan.connections as u64;
                at
            }
        };
        // Latency is measured from `t0`: the send (closed loop, or an idle
        // open-loop connection that waited for its slot), or the due time
        // (an open-loop connection that was still busy when it was due).
        let t0 = if Instant::now() < due {
            tokio::time::sleep_until(due.into()).await;
            Instant::now()
        } else {
            due
        };
        // Open loop: after the deadline, stop waiting for a stuck server
        // once the timeout has passed.
        let hard_end = match (plan.mode, plan.deadline) {
            (Mode::Open { .. }, Some(d)) => Some(d + plan.timeout),
            (Mode::Closed, Some(d)) => Some(d),
            _ => None,
        };
        // A slot belongs to the measurement by when it was due.
        let recording = due >= plan.measure_start;
        if hard_end.is_some_and(|h| Instant::now() >= h) {
            // Open loop: this request and the rest of this connection's
            // slots were due in the window and have waited longer than
            // the timeout without being sent.
            if let Mode::Open { .. } = plan.mode {
                timed_out(plan, &mut tally, u64::from(recording) + backlog(plan, slot));
            }
            break;
        }
        let budget = Instant::now() + plan.timeout;
        let until = hard_end.map_or(budget, |h| h.min(budget));
        let outcome = tokio::time::timeout_at(until.into(), exchange(plan, &mut stream, &mut reader)).await;
        let done = Instant::now();
        match outcome {
            Ok(Ok(resp)) => {
                if !resp.keep_alive {
                    stream = None;
                }
                // Closed loop: a response after the deadline is not counted.
                let in_window = !(plan.mode == Mode::Closed && plan.deadline.is_some_and(|d| done > d));
                if recording && in_window {
                    let us = done.saturating_duration_since(t0).as_micros() as u64;
                    let _ = tally.hist.record(us.clamp(1, MAX_LATENCY_US));
                    tally.requests += 1;
                    tally.last = tally.last.max(Some(done));
                    plan.progress.responses.fetch_add(1, Ordering::Relaxed);
                    if !(200..300).contains(&resp.status) {
                        tally.errors.non_2xx += 1;
                        plan.progress.errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            Ok(Err(e)) => {
                stream = None;
                reader = http1::Reader::default();
                if recording {
                    match &e {
                        Failure::Connect(_) => tally.errors.connect += 1,
                        Failure::Reset(_) => tally.errors.reset += 1,
                        Failure::Protocol(_) => tally.errors.protocol += 1,
                    }
                    if tally.sample.is_none() {
                        tally.sample = Some(e.to_string());
                    }
                    plan.progress.errors.fetch_add(1, Ordering::Relaxed);
                }
                if matches!(e, Failure::Connect(_)) {
                    // Do not spin on a server that refuses connections.
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }
            Err(_) => {
                stream = None;
                reader = http1::Reader::default();
                // Cut off by the end of the run: in a closed loop that is
                // not a timeout; in an open loop it is, and so is every slot
                // of this connection still waiting.
                let cut = hard_end.is_some_and(|h| done >= h) && done < budget;
                let open = matches!(plan.mode, Mode::Open { .. });
                if recording && (!cut || open) {
                    timed_out(plan, &mut tally, 1);
                }
                if cut {
                    if open {
                        timed_out(plan, &mut tally, backlog(plan, slot));
                    }
                    break;
                }
            }
        }
    }
    tally
}

fn timed_out(plan: &Plan, tally: &mut Tally, n: u64) {
    if n == 0 {
        return;
    }
    tally.errors.timeout += n;
    if tally.sample.is_none() {
        tally.sample = Some(format!("no whole response within {:?}", plan.timeout));
    }
    plan.progress.errors.fetch_add(n, Ordering::Relaxed);
}

/// Open loop: how many of a connection's slots from `next` on are due in
/// the measurement window.
fn backlog(plan: &Plan, next: u64) -> u64 {
    let (Mode::Open { rate }, Some(deadline)) = (plan.mode, plan.deadline) else { return 0 };
    let mut n = 0;
    let mut s = next;
    loop {
        let at = plan.start + Duration::from_secs_f64(s as f64 / rate);
        if at >= deadline {
            return n;
        }
        if at >= plan.measure_start {
            n += 1;
        }
        s += plan.connections as u64;
    }
}

#[derive(Debug, thiserror::Error)]
enum Failure {
    #[error("connect: {0}")]
    Connect(std::io::Error),
    #[error("connection closed or reset: {0}")]
    Reset(String),
    #[error("protocol error: {0}")]
    Protocol(String),
}

/// Send the request on the connection (opening it if needed) and read the
/// response.
async fn exchange(
    plan: &Plan,
    stream: &mut Option<TcpStream>,
    reader: &mut http1::Reader,
) -> Result<http1::Response, Failure> {
    if stream.is_none() {
        let s = TcpStream::connect(plan.target.addr).await.map_err(Failure::Connect)?;
        let _ = s.set_nodelay(true);
        *stream = Some(s);
        *reader = http1::Reader::default();
    }
    let Some(s) = stream.as_mut() else { return Err(Failure::Reset("no connection".into())) };
    s.write_all(&plan.target.request).await.map_err(|e| Failure::Reset(e.to_string()))?;
    reader.response(s, plan.target.head).await.map_err(|e| match e {
        http1::ReadError::Closed => Failure::Reset("before a whole response".into()),
        http1::ReadError::Protocol(p) => Failure::Protocol(p),
    })
}

/// The figures of a report, as `shipway bench http --json` prints them.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Summary {
    pub requests: u64,
    pub duration_s: f64,
    pub requests_per_second: f64,
    pub error_rate: f64,
    pub errors: Errors,
    pub latency_ms: Latency,
    pub mode: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_rate: Option<f64>,
    pub connections: usize,
    pub threads: usize,
    pub canceled: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_error: Option<String>,
}

/// Latency percentiles in milliseconds. Each is the midpoint of its
/// histogram bucket (values within 0.1% are one bucket).
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct Latency {
    pub min: f64,
    pub mean: f64,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
}

/// Percentile `q` (0..=100) of a microsecond histogram, in milliseconds.
pub fn percentile_ms(h: &Histogram<u64>, q: f64) -> f64 {
    if h.is_empty() {
        return 0.0;
    }
    h.median_equivalent(h.value_at_percentile(q)) as f64 / 1000.0
}

impl Report {
    pub fn summary(&self) -> Summary {
        let h = &self.histogram;
        let secs = self.duration.as_secs_f64();
        let attempts = self.requests + self.errors.failed();
        Summary {
            requests: self.requests,
            duration_s: secs,
            requests_per_second: if secs > 0.0 { self.requests as f64 / secs } else { 0.0 },
            error_rate: if attempts > 0 { self.errors.total() as f64 / attempts as f64 } else { 0.0 },
            errors: self.errors,
            latency_ms: Latency {
                min: if h.is_empty() { 0.0 } else { h.median_equivalent(h.min()) as f64 / 1000.0 },
                mean: h.mean() / 1000.0,
                p50: percentile_ms(h, 50.0),
                p90: percentile_ms(h, 90.0),
                p99: percentile_ms(h, 99.0),
                p999: percentile_ms(h, 99.9),
                max: if h.is_empty() { 0.0 } else { h.median_equivalent(h.max()) as f64 / 1000.0 },
            },
            mode: match self.mode {
                Mode::Closed => "closed",
                Mode::Open { .. } => "open",
            },
            target_rate: match self.mode {
                Mode::Closed => None,
                Mode::Open { rate } => Some(rate),
            },
            connections: self.connections,
            threads: self.threads,
            canceled: self.canceled,
            first_error: self.first_error.clone(),
        }
    }
}
