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
    /// Load-test an HTTP service and gate on latency and errors.
    Bench(BenchArgs),
}

#[derive(Args, Debug)]
pub(crate) struct BenchArgs {
    #[command(subcommand)]
    pub(crate) command: BenchCommand,
}

#[derive(Subcommand, Debug)]
pub(crate) enum BenchCommand {
    /// Load one URL (closed loop, or open loop with --rate) and report
    /// throughput, errors and latency percentiles.
    Http(Box<HttpArgs>),
    /// Compare a head service with a base service in interleaved trials;
    /// fail only on a regression that is significant and large enough.
    Ab(Box<AbArgs>),
    /// Stored results of a benchmark, oldest first.
    History(HistoryArgs),
    /// Check the newest result of a benchmark against a baseline branch's
    /// history (t-test limit); exit 1 when it is beyond the limit.
    Gate(GateArgs),
    /// Record criterion or libtest (`cargo bench`) results in the history.
    Ingest(IngestArgs),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum IngestFormat {
    /// A criterion output directory (target/criterion): every
    /// `<bench>/new/sample.json` (or `raw.csv`) under it.
    Criterion,
    /// libtest bencher output (`cargo bench` with #[bench], or criterion's
    /// `--output-format bencher`).
    CargoBench,
    /// cargo-criterion `--message-format=json` messages.
    CargoCriterion,
}

#[derive(Args, Debug)]
pub(crate) struct IngestArgs {
    /// The format of PATH.
    #[arg(value_enum)]
    pub(crate) format: IngestFormat,
    /// The directory (criterion) or file (the others).
    pub(crate) path: PathBuf,
    #[command(flatten)]
    pub(crate) record: RecordArgs,
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Args, Debug)]
pub(crate) struct GateArgs {
    /// The benchmark name.
    pub(crate) name: String,
    /// The baseline branch.
    #[arg(long, value_name = "BRANCH")]
    pub(crate) against: String,
    /// Which figure (see `bench history --help`).
    #[arg(long, default_value = "p99_ms")]
    pub(crate) measure: String,
    /// How many of the baseline's newest results to use.
    #[arg(long, default_value_t = 64)]
    pub(crate) last: usize,
    /// The t-test boundary: the limit is where a baseline result would be
    /// beyond it with this probability's complement.
    #[arg(long, default_value_t = 0.99)]
    pub(crate) boundary: f64,
    /// The branch whose newest result is checked (default: the current one).
    #[arg(long)]
    pub(crate) branch: Option<String>,
    /// Check this commit's newest result instead.
    #[arg(long)]
    pub(crate) commit: Option<String>,
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Args, Debug)]
pub(crate) struct AbArgs {
    /// Command that starts the base service; `${PORT}` (and $PORT in its
    /// environment) is the port it must listen on.
    #[arg(long, value_name = "CMD", conflicts_with = "base_url")]
    pub(crate) base_cmd: Option<String>,
    /// URL of an already running base service.
    #[arg(long, value_name = "URL")]
    pub(crate) base_url: Option<String>,
    /// Command that starts the head service (see --base-cmd).
    #[arg(long, value_name = "CMD", conflicts_with = "head_url")]
    pub(crate) head_cmd: Option<String>,
    /// URL of an already running head service.
    #[arg(long, value_name = "URL")]
    pub(crate) head_url: Option<String>,
    /// The path to load on services started from commands.
    #[arg(long, default_value = "/")]
    pub(crate) path: String,
    /// Trials per side, interleaved base, head, base, head, ...
    #[arg(long, default_value_t = stats::gate::RECOMMENDED_TRIALS)]
    pub(crate) trials: usize,
    /// The per-trial figure compared: p50, p90, p99 or p999.
    #[arg(long, default_value = "p99")]
    pub(crate) measure: String,
    /// The test: welch-log (Welch's t on log values) or mann-whitney.
    #[arg(long, default_value = "welch-log")]
    pub(crate) test: String,
    /// Significance level of the one-sided test.
    #[arg(long, default_value_t = 0.01)]
    pub(crate) alpha: f64,
    /// The smallest slowdown that counts as a regression.
    #[arg(long, default_value = "5%")]
    pub(crate) practical: String,
    /// How long a started service may take to listen.
    #[arg(long, value_name = "DURATION", default_value = "30s")]
    pub(crate) ready_timeout: String,
    /// The load of each trial (default: 3 s per trial).
    #[command(flatten)]
    pub(crate) load: LoadArgs,
    /// Record the head's trial values in the history (measure `<measure>_ms`).
    #[command(flatten)]
    pub(crate) record: RecordArgs,
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Args, Debug)]
pub(crate) struct HistoryArgs {
    /// The benchmark name (`--name` of `bench http`).
    pub(crate) name: String,
    /// Which figure: p50_ms, p90_ms, p99_ms, p999_ms, max_ms,
    /// requests_per_second, error_rate.
    #[arg(long, default_value = "p99_ms")]
    pub(crate) measure: String,
    /// Only this branch.
    #[arg(long)]
    pub(crate) branch: Option<String>,
    /// The newest this many results.
    #[arg(long, default_value_t = 50)]
    pub(crate) last: usize,
    /// Another repository's results (its origin URL or directory name).
    #[arg(long)]
    pub(crate) repo: Option<String>,
    #[arg(long)]
    pub(crate) json: bool,
}

/// Where a result is recorded.
#[derive(Args, Debug, Clone)]
pub(crate) struct RecordArgs {
    /// Record the result in the benchmark history under this name.
    #[arg(long, value_name = "NAME")]
    pub(crate) name: Option<String>,
    /// The branch to record under (default: CI_COMMIT_BRANCH,
    /// GITHUB_HEAD_REF or GITHUB_REF_NAME, else git's current branch).
    #[arg(long)]
    pub(crate) branch: Option<String>,
    /// The commit to record under (default: CI_COMMIT_SHA or GITHUB_SHA,
    /// else git HEAD).
    #[arg(long)]
    pub(crate) commit: Option<String>,
}

/// How to load a service; shared by `bench http` and `bench ab`.
#[derive(Args, Debug, Clone)]
pub(crate) struct LoadArgs {
    /// How long to measure (e.g. 10s, 500ms, 1m). Default 10s.
    #[arg(long, short = 'd', value_name = "DURATION", conflicts_with = "requests")]
    pub(crate) duration: Option<String>,
    /// Measure this many requests instead of a duration.
    #[arg(long, short = 'n', value_name = "N")]
    pub(crate) requests: Option<u64>,
    /// Keep-alive connections.
    #[arg(long, short = 'c', value_name = "C", default_value_t = 10)]
    pub(crate) connections: usize,
    /// Threads (event loops); default one per CPU, at most one per connection.
    #[arg(long, short = 't', value_name = "T", default_value_t = 0)]
    pub(crate) threads: usize,
    /// Open loop: send this many requests per second in total, measuring
    /// latency from when each request was due (coordinated omission
    /// corrected). Without it, each connection sends as fast as it can.
    #[arg(long, short = 'R', value_name = "REQ_PER_S")]
    pub(crate) rate: Option<f64>,
    /// Load without measuring for this long first.
    #[arg(long, value_name = "DURATION", default_value = "0s")]
    pub(crate) warmup: String,
    /// A request header, `Name: value` (repeatable).
    #[arg(long, short = 'H', value_name = "HEADER")]
    pub(crate) header: Vec<String>,
    /// The request method.
    #[arg(long, short = 'm', default_value = "GET")]
    pub(crate) method: String,
    /// The request body; `@FILE` reads it from a file.
    #[arg(long, short = 'b', value_name = "BODY")]
    pub(crate) body: Option<String>,
    /// A request without a whole response after this long counts as a timeout.
    #[arg(long, value_name = "DURATION", default_value = "10s")]
    pub(crate) timeout: String,
}

#[derive(Args, Debug)]
pub(crate) struct HttpArgs {
    /// The URL to load (http://host:port/path).
    pub(crate) url: String,
    #[command(flatten)]
    pub(crate) load: LoadArgs,
    /// Fail (exit 1) when P99 latency is above this (e.g. 300ms).
    #[arg(long, value_name = "DURATION")]
    pub(crate) p99_threshold: Option<String>,
    /// Fail (exit 1) when the error rate is above this (e.g. 0.1% or 0.001).
    #[arg(long, value_name = "RATE")]
    pub(crate) max_error_rate: Option<String>,
    /// Print the report as JSON.
    #[arg(long)]
    pub(crate) json: bool,
    /// Also print the latency histogram (doubling buckets) as bars.
    #[arg(long)]
    pub(crate) histogram: bool,
    /// Also write the JSON report to this file.
    #[arg(long, value_name = "FILE")]
    pub(crate) out: Option<PathBuf>,
    #[command(flatten)]
    pub(crate) record: RecordArgs,
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
