//! Command-line arguments.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(
    name = "shipway",
    version,
    about = "Local-first CI/CD: run your .gitlab-ci.yml and GitHub Actions workflows on this machine, as a true DAG"
)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Subcommand, Debug)]
pub(crate) enum Command {
    /// Run a pipeline (default: .gitlab-ci.yml at the repository root).
    Run(RunArgs),
    /// Validate pipeline files without running them.
    Check(CheckArgs),
    /// Past runs: list, show, logs, artifacts.
    Runs(RunsArgs),
    /// Delete expired artifacts, old logs, and cache entries past a size budget.
    Gc(GcArgs),
}

#[derive(Args, Debug)]
pub(crate) struct RunsArgs {
    #[command(subcommand)]
    pub(crate) command: Option<RunsCommand>,
}

#[derive(Subcommand, Debug)]
pub(crate) enum RunsCommand {
    /// The latest runs, newest first (the default).
    List {
        #[arg(long)]
        json: bool,
        /// How many runs to show.
        #[arg(long, default_value_t = 20)]
        limit: usize,
    },
    /// One run with its jobs (and GitHub steps).
    Show {
        /// A run number, or `last`.
        run: String,
        #[arg(long)]
        json: bool,
    },
    /// The logs of a run, or of one of its jobs.
    Logs {
        /// A run number, or `last`.
        run: String,
        /// A job name (or its index in `runs show`).
        job: Option<String>,
        /// Keep printing new lines until the run ends.
        #[arg(long, short = 'f')]
        follow: bool,
        #[arg(long)]
        json: bool,
    },
    /// The artifacts a run kept.
    Artifacts {
        /// A run number, or `last`.
        run: String,
        /// Only this job's artifacts.
        #[arg(long)]
        job: Option<String>,
        /// Copy the artifacts into DIR (one folder per job or artifact name).
        #[arg(long, value_name = "DIR")]
        extract: Option<PathBuf>,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Args, Debug)]
pub(crate) struct GcArgs {
    /// Keep the cache under this size; least recently used entries go first.
    #[arg(long, value_name = "SIZE", default_value = "10G")]
    pub(crate) cache_budget: String,
    /// Delete logs of runs that ended more than this many days ago.
    #[arg(long, value_name = "DAYS", default_value_t = 30)]
    pub(crate) keep_logs_days: u64,
    /// Report what would be freed without deleting anything.
    #[arg(long)]
    pub(crate) dry_run: bool,
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum EventKind {
    Push,
    #[value(alias = "pull_request")]
    PullRequest,
    Tag,
    /// GitLab `web`; GitHub `workflow_dispatch`.
    #[value(alias = "workflow_dispatch", alias = "workflow-dispatch")]
    Web,
    Schedule,
    Api,
}

#[derive(Args, Debug)]
pub(crate) struct RunArgs {
    /// The pipeline file: a .gitlab-ci.yml or a .github/workflows/*.yml
    /// (default: .gitlab-ci.yml, else the only workflow in .github/workflows).
    pub(crate) files: Vec<PathBuf>,
    /// Run only this job and what it needs (repeatable; a job name or its definition name).
    #[arg(long = "job", value_name = "JOB")]
    pub(crate) jobs: Vec<String>,
    /// Run this manual job (repeatable).
    #[arg(long = "manual", value_name = "JOB")]
    pub(crate) manual: Vec<String>,
    /// The event that triggers the pipeline.
    #[arg(long, value_enum, default_value = "push")]
    pub(crate) event: EventKind,
    /// The branch or tag to build (default: the current branch).
    #[arg(long = "ref", value_name = "REF")]
    pub(crate) git_ref: Option<String>,
    /// A pipeline variable (repeatable); highest precedence.
    #[arg(long = "var", value_name = "K=V")]
    pub(crate) vars: Vec<String>,
    /// A secret variable (repeatable); masked in all output.
    #[arg(long = "secret", value_name = "K=V")]
    pub(crate) secrets: Vec<String>,
    /// A file of KEY=VALUE secrets, one per line; all masked.
    #[arg(long = "secrets-file", value_name = "FILE")]
    pub(crate) secrets_file: Option<PathBuf>,
    /// How many jobs run at once (default: number of CPUs).
    #[arg(long, value_name = "N")]
    pub(crate) parallel: Option<usize>,
    /// Run every job even if its inputs are unchanged.
    #[arg(long)]
    pub(crate) no_cache: bool,
    /// Show the plan without running anything.
    #[arg(long)]
    pub(crate) dry_run: bool,
    /// Print one JSON result object on stdout; human output goes to stderr.
    #[arg(long)]
    pub(crate) json: bool,
    /// Keep each job's workspace under .shipway/runs/<id>/ws after the run.
    #[arg(long)]
    pub(crate) keep_workspaces: bool,
    /// A `workflow_dispatch` input (repeatable; GitHub Actions).
    #[arg(long = "input", value_name = "K=V")]
    pub(crate) inputs: Vec<String>,
    /// Skip steps that use remote actions shipway cannot run offline,
    /// instead of failing them (GitHub Actions).
    #[arg(long)]
    pub(crate) skip_unsupported: bool,
    /// Seconds between SIGTERM and SIGKILL when stopping a job.
    #[arg(long, value_name = "SECS", default_value_t = 5, value_parser = clap::value_parser!(u64).range(0..=3600))]
    pub(crate) kill_grace: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum Format {
    Human,
    Json,
}

#[derive(Args, Debug)]
pub(crate) struct CheckArgs {
    /// Pipeline files (default: .gitlab-ci.yml and .github/workflows/*.yml).
    pub(crate) files: Vec<PathBuf>,
    #[arg(long, value_enum, default_value = "human")]
    pub(crate) format: Format,
}
