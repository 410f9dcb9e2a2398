use loadgen::{Config, LoadError, Mode, Progress, Stop, run};
use std::sync::Arc;
use std::time::Duration;
use testserver::{Behaviour, Server};

fn cfg(url: &str, connections: usize, mode: Mode, stop: Stop) -> Config {
    Config { connections, mode, stop, threads: 2, ..Config::new(url) }
}

fn quick() -> Behaviour {
    Behaviour::Stall { period: Duration::from_secs(3600), stall: Duration::ZERO }
}

#[test]
fn a_request_count_is_exact_in_both_modes() {
    let s = Server::start(quick());
    let r = run(&cfg(&s.url("/"), 4, Mode::Closed, Stop::Requests(500)), Arc::default()).unwrap();
    assert_eq!((r.requests, r.errors.total()), (500, 0));
    assert_eq!(r.histogram.len(), 500);
    let r = run(&cfg(&s.url("/x?y=1"), 4, Mode::Open { rate: 2000.0 }, Stop::Requests(300)), Arc::default()).unwrap();
    assert_eq!((r.requests, r.errors.total()), (300, 0));
}

#[test]
fn open_loop_sends_at_the_rate_for_the_duration() {
    let s = Server::start(quick());
    let c = cfg(&s.url("/"), 8, Mode::Open { rate: 400.0 }, Stop::Duration(Duration::from_secs(2)));
    let r = run(&c, Arc::default()).unwrap();
    // Slots j < 800 are due in [0, 2 s): all of them, no more.
    assert_eq!(r.requests, 800, "{:?}", r.summary());
    let sum = r.summary();
    assert!((sum.requests_per_second - 400.0).abs() < 400.0 * 0.05, "{sum:?}");
    assert_eq!(sum.mode, "open");
    assert_eq!(sum.target_rate, Some(400.0));
}

#[test]
fn warmup_requests_are_not_recorded() {
    let s = Server::start(quick());
    let mut c = cfg(&s.url("/"), 2, Mode::Open { rate: 200.0 }, Stop::Duration(Duration::from_secs(1)));
    c.warmup = Duration::from_millis(500);
    let r = run(&c, Arc::default()).unwrap();
    assert_eq!(r.requests, 200, "only the measured second counts: {:?}", r.summary());
}

#[test]
fn errors_are_counted_by_class() {
    let s = Server::start(Behaviour::Status(503));
    let r = run(&cfg(&s.url("/"), 2, Mode::Closed, Stop::Requests(50)), Arc::default()).unwrap();
    assert_eq!((r.requests, r.errors.non_2xx), (50, 50));
    assert_eq!(r.summary().error_rate, 1.0);

    let s = Server::start(Behaviour::Hangup);
    let r =
        run(&cfg(&s.url("/"), 2, Mode::Closed, Stop::Duration(Duration::from_millis(300))), Arc::default()).unwrap();
    assert_eq!(r.requests, 0);
    assert!(r.errors.reset > 0, "{:?}", r.errors);
    assert!(r.first_error.as_deref().unwrap_or("").contains("closed"), "{:?}", r.first_error);

    let s = Server::start(Behaviour::Silent);
    let mut c = cfg(&s.url("/"), 2, Mode::Open { rate: 20.0 }, Stop::Duration(Duration::from_millis(500)));
    c.timeout = Duration::from_millis(200);
    let r = run(&c, Arc::default()).unwrap();
    assert_eq!(r.requests, 0);
    assert_eq!(r.errors.timeout, 10, "every due request timed out: {:?}", r.errors);

    let s = Server::start(Behaviour::Chunked);
    let r = run(&cfg(&s.url("/"), 2, Mode::Closed, Stop::Requests(20)), Arc::default()).unwrap();
    assert_eq!((r.requests, r.errors.total()), (20, 0));
}

#[test]
fn bad_targets_are_refused_before_the_run() {
    let err = |url: &str| run(&Config::new(url), Arc::default()).unwrap_err();
    assert!(matches!(err("not a url"), LoadError::Url { .. }));
    assert!(matches!(err("ftp://127.0.0.1/"), LoadError::Url { .. }));
    assert!(matches!(err("https://127.0.0.1/"), LoadError::Unsupported(_)));
    // Nothing listens on port 1.
    let e = err("http://127.0.0.1:1/");
    assert!(matches!(e, LoadError::Connect { .. }), "{e}");
    assert!(e.to_string().contains("127.0.0.1:1"), "{e}");
    let mut c = Config::new("http://127.0.0.1:1/");
    c.connections = 0;
    assert!(matches!(run(&c, Arc::default()).unwrap_err(), LoadError::Settings(_)));
}

#[test]
fn cancel_stops_the_run_early() {
    let s = Server::start(quick());
    let progress = Arc::new(Progress::default());
    let p = progress.clone();
    let t = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        p.cancel.store(true, std::sync::atomic::Ordering::Relaxed);
    });
    let r = run(&cfg(&s.url("/"), 2, Mode::Closed, Stop::Duration(Duration::from_secs(60))), progress).unwrap();
    t.join().unwrap();
    assert!(r.canceled);
    assert!(r.duration < Duration::from_secs(30), "{:?}", r.duration);
    assert!(r.requests > 0);
}
