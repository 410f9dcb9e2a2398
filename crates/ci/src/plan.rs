//! The DAG plan and the scheduling rules, as a pure state machine.
//!
//! A job's prerequisites are its `needs` when it declares them (a DAG job),
//! otherwise every job in an earlier stage. When all prerequisites are
//! complete, the job's `when` decides between running, skipping and waiting
//! for a manual action, using GitLab's composite-status rules. The runner
//! owns processes and slots; this module only says what may happen next.

use crate::model::{Pipeline, When};
use serde::Serialize;
use std::collections::HashSet;

/// The final status of a job, as reported by `shipway run --json`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum JobStatus {
    Success,
    Failed,
    AllowedFailure,
    Skipped,
    Manual,
    Cached,
    Canceled,
    TimedOut,
}

impl JobStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Success => "success",
            JobStatus::Failed => "failed",
            JobStatus::AllowedFailure => "allowed_failure",
            JobStatus::Skipped => "skipped",
            JobStatus::Manual => "manual",
            JobStatus::Cached => "cached",
            JobStatus::Canceled => "canceled",
            JobStatus::TimedOut => "timed_out",
        }
    }
    /// Whether this status makes the pipeline fail.
    pub fn fails_pipeline(self) -> bool {
        matches!(self, JobStatus::Failed | JobStatus::TimedOut | JobStatus::Canceled)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Pending,
    Queued,
    Done(JobStatus),
}

/// GitLab's composite status of a set of prerequisite jobs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Composite {
    Success,
    Failed,
    Skipped,
    Canceled,
    /// Not complete yet (or blocked by a manual job that must be played).
    Blocked,
}

/// What the scheduler decided about a job without running it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    Run(usize),
    Settled(usize, JobStatus),
}

pub struct Scheduler {
    prereqs: Vec<Vec<usize>>,
    dag: Vec<bool>,
    when: Vec<When>,
    allow_failure: Vec<bool>,
    state: Vec<State>,
    play: HashSet<usize>,
    canceled: bool,
    /// GitHub jobs: once every need is complete, their `if` decides.
    conditional: Vec<bool>,
}

impl Scheduler {
    /// `play`: manual jobs the user asked to run.
    pub fn new(p: &Pipeline, play: &[usize]) -> Scheduler {
        let prereqs: Vec<Vec<usize>> = p
            .jobs
            .iter()
            .map(|j| match &j.needs {
                Some(needs) => needs.iter().map(|n| n.job).collect(),
                None => {
                    p.jobs.iter().enumerate().filter(|(_, o)| o.stage_index < j.stage_index).map(|(i, _)| i).collect()
                }
            })
            .collect();
        Scheduler {
            prereqs,
            dag: p.jobs.iter().map(|j| j.needs.is_some()).collect(),
            when: p.jobs.iter().map(|j| j.when).collect(),
            allow_failure: p
                .jobs
                .iter()
                .map(|j| j.allow_failure.allowed || !j.allow_failure.exit_codes.is_empty())
                .collect(),
            state: vec![State::Pending; p.jobs.len()],
            play: play.iter().copied().collect(),
            canceled: false,
            conditional: p.jobs.iter().map(|j| j.github.is_some()).collect(),
        }
    }

    /// The jobs each job waits for.
    pub fn prerequisites(&self, job: usize) -> &[usize] {
        &self.prereqs[job]
    }

    /// Decide every pending job whose prerequisites are complete, repeating
    /// until nothing changes. `Run` decisions move the job to queued.
    pub fn poll(&mut self) -> Vec<Decision> {
        self.poll_with(&mut |_, _| true)
    }

    /// Like [`poll`](Self::poll); a conditional (GitHub) job whose needs are
    /// all complete runs when `decide(job, statuses)` says so and is skipped
    /// otherwise (its `if`, evaluated by the caller over the needs' results;
    /// `statuses[i]` is job i's final status, if it has one, including jobs
    /// settled earlier in this same poll).
    pub fn poll_with(&mut self, decide: &mut dyn FnMut(usize, &[Option<JobStatus>]) -> bool) -> Vec<Decision> {
        let mut out = Vec::new();
        loop {
            let mut changed = false;
            for j in 0..self.state.len() {
                if self.state[j] != State::Pending {
                    continue;
                }
                if self.canceled {
                    self.state[j] = State::Done(JobStatus::Canceled);
                    out.push(Decision::Settled(j, JobStatus::Canceled));
                    changed = true;
                    continue;
                }
                if self.conditional[j] {
                    if self.prereqs[j].iter().any(|&d| !matches!(self.state[d], State::Done(_))) {
                        continue;
                    }
                    changed = true;
                    let statuses: Vec<Option<JobStatus>> = self
                        .state
                        .iter()
                        .map(|s| match s {
                            State::Done(st) => Some(*st),
                            _ => None,
                        })
                        .collect();
                    if decide(j, &statuses) {
                        self.state[j] = State::Queued;
                        out.push(Decision::Run(j));
                    } else {
                        self.state[j] = State::Done(JobStatus::Skipped);
                        out.push(Decision::Settled(j, JobStatus::Skipped));
                    }
                    continue;
                }
                let comp = self.composite(j);
                if comp == Composite::Blocked {
                    continue;
                }
                let valid: &[Composite] = match self.when[j] {
                    When::OnSuccess | When::Manual | When::Delayed => {
                        if self.dag[j] {
                            &[Composite::Success]
                        } else {
                            &[Composite::Success, Composite::Skipped]
                        }
                    }
                    When::OnFailure => &[Composite::Failed],
                    When::Always => &[Composite::Success, Composite::Failed, Composite::Skipped],
                };
                changed = true;
                if !valid.contains(&comp) {
                    self.state[j] = State::Done(JobStatus::Skipped);
                    out.push(Decision::Settled(j, JobStatus::Skipped));
                } else if self.when[j] == When::Manual && !self.play.contains(&j) {
                    self.state[j] = State::Done(JobStatus::Manual);
                    out.push(Decision::Settled(j, JobStatus::Manual));
                } else {
                    self.state[j] = State::Queued;
                    out.push(Decision::Run(j));
                }
            }
            if !changed {
                return out;
            }
        }
    }

    /// Record a finished job.
    pub fn complete(&mut self, job: usize, status: JobStatus) {
        self.state[job] = State::Done(status);
    }

    /// Stop deciding new work: every pending job becomes canceled at the
    /// next `poll`. Queued and running jobs are the caller's to cancel.
    pub fn cancel(&mut self) {
        self.canceled = true;
    }

    /// Settle a pending job as canceled (fail-fast siblings). `false` when
    /// the job is no longer pending.
    pub fn cancel_job(&mut self, job: usize) -> bool {
        if self.state[job] == State::Pending {
            self.state[job] = State::Done(JobStatus::Canceled);
            return true;
        }
        false
    }

    /// Jobs that can never be decided (blocked by an unplayed manual job).
    /// Call when nothing is running; they are settled as skipped.
    pub fn settle_blocked(&mut self) -> Vec<Decision> {
        let mut out = Vec::new();
        for j in 0..self.state.len() {
            if self.state[j] == State::Pending {
                self.state[j] = State::Done(JobStatus::Skipped);
                out.push(Decision::Settled(j, JobStatus::Skipped));
            }
        }
        out
    }

    pub fn status(&self, job: usize) -> Option<JobStatus> {
        match self.state[job] {
            State::Done(s) => Some(s),
            _ => None,
        }
    }

    fn composite(&self, j: usize) -> Composite {
        #[derive(PartialEq)]
        enum Cat {
            Success,
            Warn,
            Failed,
            Skipped,
            Canceled,
            Ignored,
            Manual,
            Incomplete,
        }
        let cats: Vec<Cat> = self.prereqs[j]
            .iter()
            .map(|&d| match self.state[d] {
                State::Pending | State::Queued => Cat::Incomplete,
                State::Done(s) => match s {
                    JobStatus::Success | JobStatus::Cached => Cat::Success,
                    JobStatus::AllowedFailure => Cat::Warn,
                    JobStatus::Failed | JobStatus::TimedOut => Cat::Failed,
                    JobStatus::Skipped => Cat::Skipped,
                    JobStatus::Canceled => Cat::Canceled,
                    JobStatus::Manual => {
                        if self.allow_failure[d] {
                            Cat::Ignored
                        } else {
                            Cat::Manual
                        }
                    }
                },
            })
            .collect();
        if cats.is_empty() {
            return Composite::Success;
        }
        if cats.contains(&Cat::Incomplete) {
            return Composite::Blocked;
        }
        let only = |allowed: &[Cat]| cats.iter().all(|c| allowed.contains(c));
        let any = |c: Cat| cats.contains(&c);
        if self.dag[j] && (any(Cat::Skipped) || any(Cat::Ignored)) {
            return Composite::Skipped;
        }
        if self.dag[j] && !only(&[Cat::Success, Cat::Failed, Cat::Canceled, Cat::Skipped, Cat::Warn]) {
            return Composite::Blocked;
        }
        if only(&[Cat::Skipped, Cat::Ignored]) {
            Composite::Skipped
        } else if only(&[Cat::Success, Cat::Skipped, Cat::Warn, Cat::Ignored]) {
            Composite::Success
        } else if only(&[Cat::Canceled, Cat::Success, Cat::Skipped, Cat::Warn, Cat::Ignored]) {
            Composite::Canceled
        } else if any(Cat::Manual) {
            Composite::Blocked
        } else {
            Composite::Failed
        }
    }
}

/// Keep only the named jobs and everything they need, transitively
/// (`--job`). Indices are remapped; stage-order jobs keep stage order among
/// the kept jobs.
pub fn select(p: &Pipeline, wanted: &[usize]) -> Pipeline {
    let mut keep: Vec<bool> = vec![false; p.jobs.len()];
    let mut todo: Vec<usize> = wanted.to_vec();
    while let Some(j) = todo.pop() {
        if keep[j] {
            continue;
        }
        keep[j] = true;
        if let Some(needs) = &p.jobs[j].needs {
            todo.extend(needs.iter().map(|n| n.job));
        }
    }
    let mut remap = vec![usize::MAX; p.jobs.len()];
    let mut out = Pipeline { name: p.name.clone(), file: p.file.clone(), stages: p.stages.clone(), jobs: vec![] };
    for (i, j) in p.jobs.iter().enumerate() {
        if keep[i] {
            remap[i] = out.jobs.len();
            out.jobs.push(j.clone());
        }
    }
    for j in out.jobs.iter_mut() {
        if let Some(needs) = &mut j.needs {
            needs.retain(|n| remap[n.job] != usize::MAX);
            for n in needs.iter_mut() {
                n.job = remap[n.job];
            }
        }
        if let Some(deps) = &mut j.dependencies {
            deps.retain(|d| remap[*d] != usize::MAX);
            for d in deps.iter_mut() {
                *d = remap[*d];
            }
        }
    }
    out
}

/// The jobs whose artifacts a job receives: its `dependencies` if given,
/// else its needs with `artifacts: true`, else every job of earlier stages.
pub fn artifact_sources(p: &Pipeline, job: usize) -> Vec<usize> {
    let j = &p.jobs[job];
    if let Some(deps) = &j.dependencies {
        return deps.clone();
    }
    match &j.needs {
        Some(needs) => needs.iter().filter(|n| n.artifacts).map(|n| n.job).collect(),
        None => p.jobs.iter().enumerate().filter(|(_, o)| o.stage_index < j.stage_index).map(|(i, _)| i).collect(),
    }
}
