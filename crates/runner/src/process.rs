//! Running one shell script as its own process group, with a deadline, a
//! cancel signal, and a guarantee that no process of the group survives.
//!
//! Stop sequence (timeout or cancel): SIGTERM to the whole group, wait the
//! grace period, then SIGKILL. After the main process exits normally, any
//! process it left behind in its group (`sleep 100 &`) is stopped the same
//! way. shipway is a child subreaper, so those orphans are reparented to it
//! and reaped here instead of lingering as zombies.

use rustix::process::{Pid, Signal, WaitOptions};
use std::io::Read;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::thread;
use std::time::{Duration, Instant};

/// A control message for a running script.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Control {
    /// Graceful stop: SIGTERM, grace period, SIGKILL.
    Cancel,
    /// Immediate SIGKILL.
    Kill,
}

/// How a script ended. Each outcome is its own variant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    Code(i32),
    Signal(i32),
    TimedOut,
    Canceled,
    SpawnFailed,
}

impl Exit {
    pub fn code(self) -> Option<i32> {
        match self {
            Exit::Code(c) => Some(c),
            _ => None,
        }
    }
    pub fn success(self) -> bool {
        self == Exit::Code(0)
    }
}

pub struct Spec<'a> {
    pub program: &'a str,
    pub args: Vec<String>,
    pub cwd: &'a std::path::Path,
    pub env: &'a [(String, String)],
    pub timeout: Duration,
    pub grace: Duration,
}

/// Make this process a child subreaper, so that orphans of jobs are
/// reparented to it and can be reaped. Failure is harmless (not Linux, or
/// not permitted): leftover processes are still killed, only their zombies
/// are then reaped by init.
pub fn become_subreaper() {
    let _ = rustix::process::set_child_subreaper(Some(rustix::process::getpid()));
}

/// Run `spec`, calling `on_output` with every chunk of combined stdout and
/// stderr. `control` delivers cancel/kill requests.
pub fn run(spec: &Spec<'_>, control: &Receiver<Control>, mut on_output: impl FnMut(&[u8])) -> (Exit, Option<String>) {
    let (reader, writer) = match std::io::pipe() {
        Ok(p) => p,
        Err(e) => return (Exit::SpawnFailed, Some(format!("cannot create a pipe: {e}"))),
    };
    let writer2 = match writer.try_clone() {
        Ok(w) => w,
        Err(e) => return (Exit::SpawnFailed, Some(format!("cannot create a pipe: {e}"))),
    };
    let mut cmd = Command::new(spec.program);
    cmd.args(&spec.args)
        .current_dir(spec.cwd)
        .env_clear()
        .envs(spec.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdin(Stdio::null())
        .stdout(writer)
        .stderr(writer2)
        .process_group(0);
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => return (Exit::SpawnFailed, Some(format!("cannot start {}: {e}", spec.program))),
    };
    drop(cmd); // closes our copies of the pipe's write end
    let pid = child.id() as i32;
    let Some(pgid) = Pid::from_raw(pid) else {
        return (Exit::SpawnFailed, Some("spawned a process without a pid".into()));
    };

    // Output and exit arrive on one channel so the loop below never blocks
    // on either.
    enum Ev {
        Out(Vec<u8>),
        Eof,
        Exited(std::process::ExitStatus),
    }
    let (tx, rx) = mpsc::channel::<Ev>();
    let tx_out = tx.clone();
    let reader_thread = thread::spawn(move || {
        let mut reader = reader;
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    if tx_out.send(Ev::Out(buf[..n].to_vec())).is_err() {
                        break;
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(_) => break,
            }
        }
        let _ = tx_out.send(Ev::Eof);
    });
    let waiter = thread::spawn(move || {
        let status = child.wait();
        if let Ok(s) = status {
            let _ = tx.send(Ev::Exited(s));
        }
    });

    let far = Duration::from_secs(10 * 365 * 24 * 3600);
    let deadline = Instant::now() + spec.timeout.min(far);
    let mut escaped: Vec<i32> = Vec::new();
    let grace = spec.grace.min(Duration::from_secs(3600));
    let mut outcome: Option<Exit> = None;
    let mut status: Option<std::process::ExitStatus> = None;
    let mut eof = false;
    let mut stop_phase: Option<(Instant, bool)> = None; // (when SIGTERM sent, killed)
    let mut note = None;
    while status.is_none() || !eof {
        // Control requests.
        match control.try_recv() {
            Ok(Control::Cancel) if stop_phase.is_none() && status.is_none() => {
                outcome.get_or_insert(Exit::Canceled);
                signal_group(pgid, Signal::TERM, &mut escaped, status.is_none());
                stop_phase = Some((Instant::now(), false));
            }
            Ok(Control::Kill) => {
                outcome.get_or_insert(Exit::Canceled);
                signal_group(pgid, Signal::KILL, &mut escaped, status.is_none());
                stop_phase = Some((Instant::now(), true));
            }
            _ => {}
        }
        let now = Instant::now();
        if status.is_none() && stop_phase.is_none() && now >= deadline {
            outcome = Some(Exit::TimedOut);
            signal_group(pgid, Signal::TERM, &mut escaped, status.is_none());
            stop_phase = Some((now, false));
        }
        if let Some((since, false)) = stop_phase
            && now >= since + grace
        {
            signal_group(pgid, Signal::KILL, &mut escaped, status.is_none());
            stop_phase = Some((since, true));
        }
        // The main process exited but the group lives on (background jobs
        // holding the pipe): stop the rest of the group.
        if status.is_some() && !eof && stop_phase.is_none() {
            signal_group(pgid, Signal::TERM, &mut escaped, status.is_none());
            stop_phase = Some((now, false));
        }
        let wait = match (status.is_none(), stop_phase) {
            (_, Some((since, false))) => (since + grace).saturating_duration_since(now),
            (true, None) => deadline.saturating_duration_since(now),
            _ => Duration::from_millis(50),
        }
        .min(Duration::from_millis(50));
        match rx.recv_timeout(wait) {
            Ok(Ev::Out(bytes)) => on_output(&bytes),
            Ok(Ev::Eof) => eof = true,
            Ok(Ev::Exited(s)) => status = Some(s),
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => {
                // The reader ended and the waiter failed: nothing more will come.
                eof = true;
                if status.is_none() {
                    note = Some("lost track of the job's process".to_string());
                    break;
                }
            }
        }
        if status.is_some()
            && !eof
            && let Some((since, true)) = stop_phase
            && Instant::now() > since + Duration::from_secs(2)
        {
            // Something outside the group still holds the output pipe.
            note =
                Some("a process that left the job's process group still holds its output; not waiting for it".into());
            break;
        }
    }
    let _ = waiter.join();
    if eof {
        let _ = reader_thread.join();
    }
    // Stop anything left in the group and reap it.
    reap_group(pgid, grace, &mut escaped);
    let exit = match outcome {
        Some(o) => o,
        None => match status {
            Some(s) => match (s.code(), s.signal()) {
                (Some(c), _) => Exit::Code(c),
                (None, Some(sig)) => Exit::Signal(sig),
                _ => Exit::Code(1),
            },
            None => Exit::SpawnFailed,
        },
    };
    (exit, note)
}

/// Signal the job's process group and every descendant of its leader that
/// left the group (`setsid`, `setpgid`): the whole tree, as long as the
/// parent links still lead back to the leader.
fn signal_group(pgid: Pid, sig: Signal, known: &mut Vec<i32>, leader_alive: bool) {
    let _ = rustix::process::kill_process_group(pgid, sig);
    // Remember what was found: once the leader dies the parent links break,
    // and SIGKILL must still reach what SIGTERM reached. The tree is only
    // walked while the leader lives (and so owns its pid).
    let found = if leader_alive { descendants(pgid.as_raw_nonzero().get()) } else { vec![] };
    for pid in found {
        if !known.contains(&pid) {
            known.push(pid);
        }
    }
    for &pid in known.iter() {
        if let Some(p) = Pid::from_raw(pid) {
            let _ = rustix::process::kill_process(p, sig);
        }
    }
}

/// `(pid, ppid)` of every process, from `/proc/<pid>/stat`.
fn process_table() -> Vec<(i32, i32)> {
    let Ok(rd) = std::fs::read_dir("/proc") else { return vec![] };
    let mut out = Vec::new();
    for e in rd.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else { continue };
        let Ok(stat) = std::fs::read_to_string(e.path().join("stat")) else { continue };
        // `pid (comm) state ppid ...`; comm may hold spaces and parentheses.
        let Some(rest) = stat.rfind(')').map(|i| &stat[i + 1..]) else { continue };
        let mut fields = rest.split_whitespace();
        let (_state, ppid) = (fields.next(), fields.next().and_then(|p| p.parse::<i32>().ok()));
        if let Some(ppid) = ppid {
            out.push((pid, ppid));
        }
    }
    out
}

fn descendants(root: i32) -> Vec<i32> {
    let table = process_table();
    let mut found = Vec::new();
    let mut todo = vec![root];
    while let Some(parent) = todo.pop() {
        for &(pid, ppid) in &table {
            if ppid == parent && !found.contains(&pid) {
                found.push(pid);
                todo.push(pid);
            }
        }
    }
    found
}

/// Stop and reap processes that were orphaned by jobs and reparented to this
/// process (it is a subreaper): anything still a child of ours once no job
/// is running. SIGTERM, `grace`, SIGKILL. Returns how many there were.
pub fn reap_orphans(grace: Duration) -> usize {
    let me = rustix::process::getpid().as_raw_nonzero().get();
    let mut total = 0;
    // Killing an orphan can orphan its own children, which then become ours:
    // repeat until none is left (bounded, in case something keeps forking).
    for _ in 0..10 {
        let orphans: Vec<Pid> = process_table()
            .into_iter()
            .filter(|&(_, ppid)| ppid == me)
            .filter_map(|(pid, _)| Pid::from_raw(pid))
            .collect();
        if orphans.is_empty() {
            break;
        }
        total += orphans.len();
        for &p in &orphans {
            let _ = rustix::process::kill_process(p, Signal::TERM);
        }
        let start = Instant::now();
        let mut left: Vec<Pid> = orphans.clone();
        while !left.is_empty() && start.elapsed() < grace {
            left.retain(|&p| !matches!(rustix::process::waitpid(Some(p), WaitOptions::NOHANG), Ok(Some(_)) | Err(_)));
            thread::sleep(Duration::from_millis(10));
        }
        for &p in &left {
            let _ = rustix::process::kill_process(p, Signal::KILL);
            let _ = rustix::process::waitpid(Some(p), WaitOptions::empty());
        }
    }
    total
}

/// SIGTERM, grace, SIGKILL whatever is left of the group, and reap the
/// zombies that were reparented to us.
fn reap_group(pgid: Pid, grace: Duration, escaped: &mut Vec<i32>) {
    let alive = |p: Pid| {
        let _ = rustix::process::waitpgid(p, WaitOptions::NOHANG);
        rustix::process::test_kill_process_group(p).is_ok()
    };
    if !alive(pgid) {
        return;
    }
    signal_group(pgid, Signal::TERM, escaped, false);
    let start = Instant::now();
    while alive(pgid) && start.elapsed() < grace {
        while let Ok(Some(_)) = rustix::process::waitpgid(pgid, WaitOptions::NOHANG) {}
        thread::sleep(Duration::from_millis(10));
    }
    signal_group(pgid, Signal::KILL, escaped, false);
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(2) {
        while let Ok(Some(_)) = rustix::process::waitpgid(pgid, WaitOptions::NOHANG) {}
        if rustix::process::test_kill_process_group(pgid).is_err() {
            break;
        }
        thread::sleep(Duration::from_millis(5));
    }
}

/// A sender half for [`Control`] messages, and its receiver.
pub fn control_channel() -> (Sender<Control>, Receiver<Control>) {
    mpsc::channel()
}
