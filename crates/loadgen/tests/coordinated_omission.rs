//! Coordinated omission, in a test binary of its own: cargo runs test
//! binaries one after another, so no other test competes with this one's
//! timing on the machine's cores.

use loadgen::{Config, Mode, Stop, run};
use std::sync::Arc;
use std::time::Duration;
use testserver::{Behaviour, Server};

fn cfg(url: &str, connections: usize, mode: Mode, stop: Stop) -> Config {
    Config { connections, mode, stop, threads: 2, ..Config::new(url) }
}

/// One open-loop and one closed-loop run against a server that stalls for
/// 1 s every 10 s: (true P99, open-loop P99, closed-loop summary).
fn attempt() -> (f64, f64, loadgen::Summary) {
    let period = Duration::from_secs(10);
    let stall = Duration::from_secs(1);
    let rate = 1000.0;
    let s = Server::start(Behaviour::Stall { period, stall });
    let c = cfg(&s.url("/"), 100, Mode::Open { rate }, Stop::Duration(period));
    let r = run(&c, Arc::default()).unwrap();
    assert_eq!(r.errors.total(), 0, "{:?} {:?}", r.errors, r.first_error);
    // The true latencies, from the schedule: the wait until the stall ends
    // for a request due in one, about nothing otherwise.
    let offset = r.started.duration_since(s.origin).as_secs_f64();
    let mut truth: Vec<f64> = (0..r.requests)
        .map(|j| {
            let into = (offset + j as f64 / rate) % period.as_secs_f64();
            let from = (period - stall).as_secs_f64();
            if into >= from { period.as_secs_f64() - into } else { 0.0 }
        })
        .collect();
    truth.sort_by(f64::total_cmp);
    let true_p99_ms = truth[(truth.len() as f64 * 0.99).ceil() as usize - 1] * 1000.0;
    let open_p99 = r.summary().latency_ms.p99;
    let s = Server::start(Behaviour::Stall { period, stall });
    let c = cfg(&s.url("/"), 100, Mode::Closed, Stop::Duration(period));
    let closed = run(&c, Arc::default()).unwrap().summary();
    (true_p99_ms, open_p99, closed)
}

/// Under a 1,000 req/s open-loop load the reported P99 is within 5% of the
/// true one (about 900 ms: the top 1% of requests are those due in the
/// first 10% of a stall); closed loop on the same server records one
/// stalled request per connection against many fast ones, and hides it.
///
/// This machine's virtual CPUs are sometimes paused by the host for tens of
/// milliseconds (steal time), which an honest open-loop measurement charges
/// to the requests it delays. So the check gets up to 3 attempts, each
/// printed; a generator that omits stalled requests fails all of them.
#[test]
fn open_loop_corrects_coordinated_omission_and_closed_loop_shows_the_difference() {
    let mut seen = Vec::new();
    for n in 1..=3 {
        let (truth, open, closed) = attempt();
        let line = format!(
            "attempt {n}: true P99 {truth:.1} ms; open loop {open:.1} ms; closed loop {:.3} ms (max {:.1} ms)",
            closed.latency_ms.p99, closed.latency_ms.max
        );
        println!("coordinated omission, {line}");
        // Closed loop hides the stall, whatever the machine does.
        assert!(closed.latency_ms.p99 < truth / 5.0, "closed loop should hide the stall: {line}; {closed:?}");
        if (open - truth).abs() <= truth * 0.05 {
            return;
        }
        seen.push(line);
    }
    panic!("open-loop P99 was never within 5% of the truth:\n{}", seen.join("\n"));
}
