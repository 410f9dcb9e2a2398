//! Human and machine output for `shipway run`.
//!
//! With `--json`, everything human goes to stderr and stdout carries exactly
//! one JSON object. On a terminal a live line shows the running jobs; in a
//! pipe, output is plain lines without colour.

use ci::model::Pipeline;
use ci::plan::JobStatus;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use runner::executor::{Event, Reporter, RunDir, RunResult};
use std::collections::BTreeSet;
use std::io::{IsTerminal, Write};
use std::time::Duration;

pub(crate) struct Output {
    json: bool,
    color: bool,
    printed: std::cell::Cell<bool>,
}

impl Output {
    pub(crate) fn new(json: bool) -> Output {
        let color = if json { std::io::stderr().is_terminal() } else { std::io::stdout().is_terminal() };
        Output { json, color, printed: std::cell::Cell::new(false) }
    }

    fn write_human(&self, s: &str) {
        let s = if self.color { s.to_string() } else { runner::mask::strip_ansi(s) };
        if self.json {
            let _ = std::io::stderr().write_all(s.as_bytes());
        } else {
            let mut o = std::io::stdout().lock();
            let _ = o.write_all(s.as_bytes());
            let _ = o.flush();
        }
    }

    pub(crate) fn human(&self, s: &str) {
        self.write_human(s);
    }

    pub(crate) fn error(&self, msg: &str) {
        eprintln!("error: {msg}");
    }

    pub(crate) fn json(&self, v: &serde_json::Value) {
        if self.json {
            println!("{}", serde_json::to_string(v).unwrap_or_default());
            self.printed.set(true);
        }
    }

    /// Whether the one JSON object has been printed already.
    pub(crate) fn json_printed(&self) -> bool {
        self.printed.get()
    }

    pub(crate) fn plan(&self, p: &Pipeline) {
        if self.json {
            let jobs: Vec<serde_json::Value> = p
                .jobs
                .iter()
                .map(|j| {
                    serde_json::json!({
                        "name": j.name,
                        "stage": j.stage,
                        "when": j.when.as_str(),
                        "allow_failure": j.allow_failure.allowed,
                        "needs": j.needs.as_ref().map(|n| n.iter().map(|e| p.jobs[e.job].name.clone()).collect::<Vec<_>>()),
                    })
                })
                .collect();
            self.json(&serde_json::json!({"run": null, "status": "planned", "jobs": jobs}));
        }
        let mut s = String::from("Plan (dry run):\n");
        for j in &p.jobs {
            let needs = match &j.needs {
                Some(n) => {
                    format!("needs [{}]", n.iter().map(|e| p.jobs[e.job].name.as_str()).collect::<Vec<_>>().join(", "))
                }
                None => "after earlier stages".into(),
            };
            s.push_str(&format!("  {:<28} stage {:<10} when {:<10} {needs}\n", j.name, j.stage, j.when.as_str()));
        }
        self.write_human(&s);
    }

    pub(crate) fn summary(&self, p: &Pipeline, r: &RunResult, run_dir: &RunDir, status: &str) {
        let width = p.jobs.iter().map(|j| j.name.chars().count()).max().unwrap_or(3).clamp(3, 48);
        let swidth = p.jobs.iter().map(|j| j.stage.chars().count()).max().unwrap_or(5).clamp(5, 24);
        let mut s = format!("\n{:<width$}  {:<swidth$}  {:<20}  {:>9}\n", "JOB", "STAGE", "STATUS", "DURATION");
        for (j, res) in p.jobs.iter().zip(&r.jobs) {
            let (color, _) = status_style(res.status);
            let shown = match (res.status, res.exit_code) {
                (JobStatus::Failed | JobStatus::AllowedFailure, Some(c)) => format!("{} ({c})", res.status.as_str()),
                _ => res.status.as_str().to_string(),
            };
            let dur = if res.attempts == 0 { "-".to_string() } else { fmt_duration(res.duration) };
            s.push_str(&format!(
                "{:<width$}  {:<swidth$}  {color}{:<20}\u{1b}[0m  {:>9}\n",
                j.name, j.stage, shown, dur
            ));
        }
        let copies: Vec<Duration> = r.jobs.iter().filter(|j| j.attempts > 0).map(|j| j.copy).collect();
        let copy_note = if copies.is_empty() {
            String::new()
        } else {
            let total: Duration = copies.iter().sum();
            format!(
                "; workspace copies {} ms in total ({} ms per job)",
                total.as_millis(),
                (total / copies.len() as u32).as_millis()
            )
        };
        let (c, _) = match status {
            "success" => ("\u{1b}[32;1m", ()),
            _ => ("\u{1b}[31;1m", ()),
        };
        s.push_str(&format!(
            "\nPipeline {c}{status}\u{1b}[0m in {}{copy_note}. Logs: {}\n",
            fmt_duration(r.duration),
            run_dir.path.join("logs").display()
        ));
        self.write_human(&s);
    }
}

fn status_style(s: JobStatus) -> (&'static str, ()) {
    match s {
        JobStatus::Success | JobStatus::Cached => ("\u{1b}[32m", ()),
        JobStatus::AllowedFailure => ("\u{1b}[33m", ()),
        JobStatus::Failed | JobStatus::TimedOut | JobStatus::Canceled => ("\u{1b}[31m", ()),
        JobStatus::Skipped | JobStatus::Manual => ("\u{1b}[2m", ()),
    }
}

pub(crate) fn fmt_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 {
        format!("{ms}ms")
    } else if ms < 60_000 {
        format!("{:.1}s", d.as_secs_f64())
    } else {
        format!("{}m{:02}s", ms / 60_000, (ms / 1000) % 60)
    }
}

const PALETTE: &[&str] =
    &["\u{1b}[36m", "\u{1b}[35m", "\u{1b}[34m", "\u{1b}[33m", "\u{1b}[32m", "\u{1b}[96m", "\u{1b}[95m", "\u{1b}[94m"];

pub(crate) struct ConsoleReporter<'o> {
    out: &'o Output,
    width: usize,
    bar: ProgressBar,
    running: BTreeSet<usize>,
    done: usize,
    total: usize,
}

impl<'o> ConsoleReporter<'o> {
    pub(crate) fn new(out: &'o Output, p: &Pipeline) -> ConsoleReporter<'o> {
        let width = p.jobs.iter().map(|j| j.name.chars().count()).max().unwrap_or(8).clamp(8, 32);
        let bar = if std::io::stderr().is_terminal() {
            let b = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
            b.set_style(
                ProgressStyle::with_template("{spinner} {elapsed:>4} {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            b.enable_steady_tick(Duration::from_millis(120));
            b
        } else {
            ProgressBar::hidden()
        };
        ConsoleReporter { out, width, bar, running: BTreeSet::new(), done: 0, total: p.jobs.len() }
    }

    fn print(&self, s: &str) {
        self.bar.suspend(|| self.out.human(s));
    }

    fn prefix(&self, p: &Pipeline, job: usize) -> String {
        let name: String = p.jobs[job].name.chars().take(self.width).collect();
        format!("{}{:<w$}\u{1b}[0m │ ", PALETTE[job % PALETTE.len()], name, w = self.width)
    }

    fn update(&self, p: &Pipeline) {
        let names: Vec<&str> = self.running.iter().map(|&j| p.jobs[j].name.as_str()).collect();
        self.bar.set_message(format!("{}/{} done · running: {}", self.done, self.total, names.join(", ")));
    }

    pub(crate) fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

impl Reporter for ConsoleReporter<'_> {
    fn report(&mut self, p: &Pipeline, event: Event<'_>) {
        match event {
            Event::Started { job, attempt } => {
                self.running.insert(job);
                if attempt > 1 {
                    self.print(&format!("{}\u{1b}[1mretrying (attempt {attempt})\u{1b}[0m\n", self.prefix(p, job)));
                }
                self.update(p);
            }
            Event::Line { job, text } => self.print(&format!("{}{text}\u{1b}[0m\n", self.prefix(p, job))),
            Event::Finished { job, result } => {
                self.running.remove(&job);
                self.done += 1;
                let (c, _) = status_style(result.status);
                self.print(&format!(
                    "{}{c}{}\u{1b}[0m in {}\n",
                    self.prefix(p, job),
                    result.status.as_str(),
                    fmt_duration(result.duration)
                ));
                self.update(p);
            }
            Event::Settled { job, status } => {
                self.done += 1;
                let why = match status {
                    JobStatus::Manual => " (manual: run it with --manual)",
                    JobStatus::Skipped => " (its prerequisites did not allow it to run)",
                    _ => "",
                };
                self.print(&format!("{}\u{1b}[2m{}{why}\u{1b}[0m\n", self.prefix(p, job), status.as_str()));
                self.update(p);
            }
            Event::Note(text) => self.print(&format!("{text}\n")),
            Event::Interrupted { second } => {
                let msg = if second {
                    "Interrupted again: killing every running job now.\n"
                } else {
                    "Interrupted: stopping running jobs (SIGTERM, then SIGKILL after the grace period); press Ctrl-C again to kill now.\n"
                };
                self.print(msg);
            }
        }
    }
}
