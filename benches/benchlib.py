"""Helpers shared by the benchmark scripts in benches/ (Python 3 standard library only).

gitlab_vs_gcl.py, github_vs_act.py, rerun_cached.py and cache_restore.py
import this module; each puts its own directory on sys.path first, so they
run as `benches/<script>.py` from anywhere.  It is not a script itself.

What lives here is what the scripts do the same way:

  * paths: REPO_ROOT, RESULTS_DIR, the default shipway binary, and
    `cargo build --release --bin shipway` (build_release);
  * the child environment (child_env): PATH, locale, TMPDIR and
    PYENV_VERSION passed through, CARGO_HOME / RUSTUP_HOME / PYENV_ROOT
    pinned to their real locations, HOME = a scratch dir, FORCE_COLOR=0,
    NO_COLOR=1, TERM=dumb, GIT_CONFIG_NOSYSTEM=1; each script adds or drops
    variables;
  * temp git repos (init_repo): branch `main`, one commit, a fake `origin`
    remote (never contacted) with `origin/main` = HEAD and `origin/HEAD ->
    origin/main`;
  * timing a process: settle() (os.sync() and a 0.2 s pause, outside the
    timed window), then timed(): time.perf_counter() around subprocess.run()
    of the whole command, stdout/stderr captured through pipes;
  * interleaved cold-state rounds over the variants of a workload
    (Variant, run_rounds);
  * the seeded random DAG that the GitLab and GitHub benchmarks share
    (random_dag, dag_depths);
  * tool version probing, gcl's end-of-run summary, checks of shipway's
    --json result, median / min / max formatting, the text report with its
    JSON raw samples and the copy under benches/results/ (Report.publish),
    the temp dir with its scratch HOME (TempDir) and the usual command-line
    options.
"""

import glob
import json
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(HERE)
RESULTS_DIR = os.path.join(HERE, "results")
DEFAULT_SHIPWAY = os.path.join(REPO_ROOT, "target", "release", "shipway")

# Fewer timed rounds than this: a trial, not a valid result.
MIN_VALID_RUNS = 5

# Fake remotes of the temp repos (never contacted).
GITLAB_ORIGIN = "https://gitlab.example.invalid/shipway/bench.git"
GITHUB_ORIGIN = "https://github.com/shipway/bench.git"

# gitlab-ci-local flags that run shell jobs on the host, each in its own
# isolated build dir (rsync of the tracked files).
GCL_SHELL_FLAGS = ["--shell-executor-no-image", "--shell-isolation"]

ANSI_RE = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[@-Z\\-_]")
# gcl end-of-run summary line (docs/gitlab-ci-local-notes.md).
GCL_SUMMARY_RE = re.compile(r"^ (PASS|WARN|FAIL) (?: \[[^\]]*\])? (.+?)\s*$")


class BenchError(Exception):
    """A failed or unverifiable run: abort the whole benchmark."""


def eprint(*a):
    print(*a, file=sys.stderr, flush=True)


def print_abort(e, why="a run failed or could not be validated"):
    """The banner for a BenchError that ends the benchmark (exit 1)."""
    eprint("\n*** BENCHMARK ABORTED%s ***\n%s" % (": " + why if why else "", e))


def strip_ansi(s):
    return ANSI_RE.sub("", s).replace("\r", "")


def tail(text, n=40):
    """The last n lines of text, ANSI escapes and carriage returns removed."""
    return "\n".join(strip_ansi(text).rstrip().splitlines()[-n:])


def split_list(s):
    """'a, b,,c' -> ['a', 'b', 'c'] (a comma-list option)."""
    return [x.strip() for x in s.split(",") if x.strip()]


def choice_list(ap, option, value, choices):
    """A comma-list option whose items must be among `choices`: the list, or ap.error() (exit 2)."""
    items = split_list(value)
    if not items or any(x not in choices for x in items):
        ap.error("%s takes a comma list of %s" % (option, ", ".join(choices)))
    return items


# --------------------------------------------------------------------------
# numbers and their formatting


def fmt_s(x):
    """Seconds as '1.23 s' or '45.6 ms'; None as '-'."""
    if x is None:
        return "-"
    if x >= 1:
        return "%.2f s" % x
    return "%.1f ms" % (x * 1000)


def med(xs):
    """Median of the values that are not None (None if there are none)."""
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def med_min_max(xs):
    """(median, min, max) of the values that are not None (Nones if there are none)."""
    ys = [x for x in xs if x is not None]
    if not ys:
        return None, None, None
    return statistics.median(ys), min(ys), max(ys)


# Column heads and cells for median / min / max, each right-aligned in 10.
STATS_HEADER = "%10s  %10s  %10s" % ("median", "min", "max")


def fmt_stats(xs):
    return "%10s  %10s  %10s" % tuple(fmt_s(x) for x in med_min_max(xs))


def fmt_load(start, end):
    """The report's load-average line, from two os.getloadavg() readings."""
    return "load average %.2f %.2f %.2f at start, %.2f %.2f %.2f at end" % (tuple(start) + tuple(end))


def warn_if_few_runs(runs):
    if runs < MIN_VALID_RUNS:
        eprint("WARNING: --runs %d < %d: fine for a trial, not a valid result" % (runs, MIN_VALID_RUNS))


def note_if_few_runs(runs, notes):
    if runs < MIN_VALID_RUNS:
        notes.append("only %d timed round(s): a trial, not a valid result (use >= %d)" % (runs, MIN_VALID_RUNS))


# --------------------------------------------------------------------------
# tools and environment


NODE_VARS = ("NODE_PATH", "NODE_OPTIONS", "NODE_EXTRA_CA_CERTS", "NVM_DIR")
RUSTUP_VARS = ("RUSTUP_TOOLCHAIN", "RUSTUP_AUTO_INSTALL")


def child_env(home, keep=(), **values):
    """The environment of every child process, the same for every tool compared.

    Passed through when set: PATH, LANG, LC_ALL, LC_CTYPE, TMPDIR,
    PYENV_VERSION and the names in `keep`.  CARGO_HOME / RUSTUP_HOME /
    PYENV_ROOT are pinned to their real locations (they default to
    $HOME/..., and HOME is replaced by `home`).  FORCE_COLOR=0, NO_COLOR=1,
    TERM=dumb, GIT_CONFIG_NOSYSTEM=1.  Then `values` are set, a value of None
    removing the variable."""
    env = {}
    for k in ("PATH", "LANG", "LC_ALL", "LC_CTYPE", "TMPDIR", "PYENV_VERSION") + tuple(keep):
        if k in os.environ:
            env[k] = os.environ[k]
    real_home = os.path.expanduser("~")
    for k, default in (("CARGO_HOME", ".cargo"), ("RUSTUP_HOME", ".rustup"), ("PYENV_ROOT", ".pyenv")):
        v = os.environ.get(k) or os.path.join(real_home, default)
        if os.path.isdir(v):
            env[k] = v
    env["HOME"] = home
    env["FORCE_COLOR"] = "0"
    env["NO_COLOR"] = "1"
    env["TERM"] = "dumb"
    env["GIT_CONFIG_NOSYSTEM"] = "1"
    for k, v in values.items():
        if v is None:
            env.pop(k, None)
        else:
            env[k] = v
    return env


def require_tools(tools, hint=""):
    """True if every command is on PATH, else False after an error line for the first one missing."""
    for tool in tools:
        if shutil.which(tool) is None:
            eprint("error: %s is not installed%s" % (tool, hint))
            return False
    return True


def require_shipway(path, hint=""):
    """True if `path` is an executable file, else False after an error line."""
    if os.path.isfile(path) and os.access(path, os.X_OK):
        return True
    eprint("error: no shipway binary at %s (run `cargo build --release`, or pass --shipway%s)" % (path, hint))
    return False


def build_release():
    """`cargo build --release --bin shipway` in REPO_ROOT: its seconds, or BenchError."""
    eprint("cargo build --release (in %s) ..." % REPO_ROOT)
    t0 = time.perf_counter()
    p = subprocess.run(["cargo", "build", "--release", "--bin", "shipway"], cwd=REPO_ROOT,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    if p.returncode != 0:
        raise BenchError("cargo build --release failed:\n%s" % tail(p.stdout.decode(errors="replace"), 30))
    return time.perf_counter() - t0


def ready_shipway(path, build, say_time=False):
    """Build shipway first when `build` (build_release), then require_shipway(path).

    False after an error line if the build failed or there is no binary
    (exit status 2 for the caller); say_time prints the build's duration."""
    if build:
        try:
            dt = build_release()
        except BenchError as e:
            eprint("error: %s" % e)
            return False
        if say_time:
            eprint("  built in %s" % fmt_s(dt))
    return require_shipway(path)


def version_of(cmd, env):
    """First line of a `--version` probe (ANSI escapes removed), or 'unknown (why)'."""
    try:
        p = subprocess.run(cmd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=60)
        return strip_ansi(p.stdout.decode(errors="replace")).strip().splitlines()[0]
    except Exception as e:  # noqa: BLE001
        return "unknown (%s)" % e


# --------------------------------------------------------------------------
# temp dir and repos


class TempDir:
    """A temp dir for one benchmark: `with TempDir(prefix, keep) as tmp:`, path in tmp.path.

    tmp.home (<path>/home) is made too: the scratch HOME of the child
    processes (child_env).  The dir is deleted at the end unless tmp.keep
    (set it to keep the evidence of a failure); a kept dir's path is
    printed, with kept_note after "kept".  timed_delete prints how long the
    deletion took."""

    def __init__(self, prefix, keep=False, kept_note="", timed_delete=False):
        self.prefix, self.keep, self.kept_note, self.timed_delete = prefix, keep, kept_note, timed_delete
        self.path = self.home = None

    def __enter__(self):
        self.path = tempfile.mkdtemp(prefix=self.prefix)
        self.home = os.path.join(self.path, "home")
        os.makedirs(self.home)
        return self

    def __exit__(self, *exc):
        if self.keep:
            eprint("temp dir kept%s: %s" % (self.kept_note, self.path))
        else:
            t0 = time.perf_counter()
            shutil.rmtree(self.path, ignore_errors=True)
            if self.timed_delete:
                eprint("temp dir %s deleted (%s)" % (self.path, fmt_s(time.perf_counter() - t0)))
        return False


def sh(cmd, cwd, env, timeout=120):
    """A setup command (untimed) that must succeed: its stdout, or BenchError with its output."""
    p = subprocess.run(cmd, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=timeout)
    if p.returncode != 0:
        raise BenchError("setup command failed (exit %d): %s\n%s%s" % (
            p.returncode, " ".join(cmd), p.stdout.decode(errors="replace"),
            p.stderr.decode(errors="replace")))
    return p.stdout.decode(errors="replace")


def init_repo(repo, env, message, origin, ignore=()):
    """git init + one commit of everything in `repo` + a fake `origin` remote.

    Branch `main`; `origin/main` = HEAD and `origin/HEAD -> origin/main`
    (gcl then prints no remote warnings, act derives github.repository from
    the URL).  The `ignore` patterns are appended to .gitignore first."""
    if ignore:
        with open(os.path.join(repo, ".gitignore"), "a", encoding="utf-8") as f:
            f.write("\n" + "".join(p + "\n" for p in ignore))
    sh(["git", "-c", "init.defaultBranch=main", "init", "-q", "-b", "main"], repo, env)
    sh(["git", "config", "user.email", "bench@example.invalid"], repo, env)
    sh(["git", "config", "user.name", "shipway bench"], repo, env)
    sh(["git", "config", "commit.gpgsign", "false"], repo, env)
    sh(["git", "add", "-A"], repo, env)
    sh(["git", "commit", "-q", "-m", message], repo, env)
    sh(["git", "remote", "add", "origin", origin], repo, env)
    sh(["git", "update-ref", "refs/remotes/origin/main", "HEAD"], repo, env)
    sh(["git", "symbolic-ref", "refs/remotes/origin/HEAD", "refs/remotes/origin/main"], repo, env)


# --------------------------------------------------------------------------
# timing


def settle():
    """os.sync() and a 0.2 s pause, before a timed run and outside its window.

    The previous run's dirty pages (gcl copies the repo per job, state dirs
    were just deleted, a cache was just written) are written back now, so no
    run pays for another's disk writeback.  Same treatment for every tool."""
    os.sync()
    time.sleep(0.2)


def timed(cmd, cwd, env, timeout, stdin=None):
    """Run cmd to its exit: (seconds, exit code, stdout, stderr).

    time.perf_counter() around subprocess.run() of the whole process,
    stdout/stderr captured through pipes.  subprocess.TimeoutExpired
    propagates."""
    t0 = time.perf_counter()
    p = subprocess.run(cmd, cwd=cwd, env=env, stdin=stdin, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=timeout)
    dt = time.perf_counter() - t0
    return dt, p.returncode, p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")


class Variant:
    """One command timed on a workload: its name in the report, the tool (picks the check), samples."""

    def __init__(self, name, tool, cmd, expected):
        self.name, self.tool, self.cmd, self.expected = name, tool, cmd, expected
        self.samples = []
        self.jobs_seen = None


def run_rounds(wl, runs, warm, env, timeout, clean, checks, stdin=None):
    """Interleave every variant of workload `wl` once per round (fills v.samples unless warm).

    wl: {"key", "repo", "variants"}.  Each run is from cold state:
    clean(repo) deletes the tools' state, settle(), then timed().  A run is
    checked by checks[v.tool](label, rc, out, err, v.expected), which raises
    BenchError on anything wrong and returns the job count it saw.  The
    state is deleted once more after the last round."""
    for r in range(runs):
        tag = "warm-up %d/%d" % (r + 1, runs) if warm else "round %d/%d" % (r + 1, runs)
        parts = []
        for v in wl["variants"]:
            label = "%s [%s] %s" % (wl["key"], v.name, tag)
            clean(wl["repo"])
            settle()
            try:
                dt, rc, out, err = timed(v.cmd, wl["repo"], env, timeout, stdin)
            except subprocess.TimeoutExpired:
                raise BenchError("%s: timed out after %ss: %s" % (label, timeout, " ".join(v.cmd)))
            v.jobs_seen = checks[v.tool](label, rc, out, err, v.expected)
            if not warm:
                v.samples.append(dt)
            parts.append("%s %s" % (v.name, fmt_s(dt)))
        eprint("  %s %s: %s" % (wl["key"], tag, ", ".join(parts)))
    clean(wl["repo"])


# --------------------------------------------------------------------------
# checking runs


def failer(label, out, err, out_lines=40):
    """fail(why) for a run's check: raises BenchError with why and the tails of stdout and stderr."""
    def fail(why):
        raise BenchError("%s: %s\n--- stdout (tail)\n%s\n--- stderr (tail)\n%s"
                         % (label, why, tail(out, out_lines), tail(err)))
    return fail


def shipway_result(rc, out, fail):
    """The `shipway run --json` result of a run that must have succeeded: exit 0, "status": "success"."""
    if rc != 0:
        fail("shipway exited %d" % rc)
    try:
        res = json.loads(out)
    except ValueError:
        fail("shipway --json printed no JSON result")
    if not isinstance(res, dict):
        fail("shipway --json result is not an object")
    if res.get("status") != "success":
        fail("pipeline status %r" % res.get("status"))
    return res


def job_logs(repo, run_id, pattern):
    """Paths of the job logs of shipway run `run_id` in `repo` whose names match the glob pattern, sorted."""
    return sorted(glob.glob(os.path.join(repo, ".shipway", "runs", str(run_id), "logs", pattern)))


def gcl_summary(out):
    """gcl's end-of-run summary: (job names with a PASS line, the WARN/FAIL lines)."""
    passed, other = [], []
    for line in strip_ansi(out).splitlines():
        m = GCL_SUMMARY_RE.match(line)
        if not m:
            continue
        if m.group(1) == "PASS":
            passed.append(m.group(2))
        else:
            other.append(line.strip())
    return passed, other


# --------------------------------------------------------------------------
# workloads


def random_dag(n, seed):
    """[(name, [needs])]: job i (job-000, job-001, ...) needs 0-3 distinct random jobs among 0..i-1.

    Drawn with random.Random(seed): one seed gives the same graph in every
    benchmark that uses it."""
    rng = random.Random(seed)
    jobs = []
    for i in range(n):
        k = min(rng.randint(0, 3), i)
        needs = sorted(rng.sample(range(i), k))
        jobs.append(("job-%03d" % i, ["job-%03d" % j for j in needs]))
    return jobs


def dag_depths(jobs):
    """{name: depth} for [(name, [needs])] in topological order; a root has depth 1."""
    depth = {}
    for name, needs in jobs:
        depth[name] = 1 + max((depth[x] for x in needs), default=0)
    return depth


# --------------------------------------------------------------------------
# the report


class Report(list):
    """The printed report, a line at a time: say = report.say; say("text")."""

    def say(self, s=""):
        self.append(s)

    def say_block(self, title, items, prefix="  ", blank=True):
        """A blank line (unless blank=False), `title`, and one line per item; nothing if no items."""
        if not items:
            return
        if blank:
            self.say()
        self.say(title)
        for x in items:
            self.say(prefix + x)

    def publish(self, result, out, json_stem, save_stem=None):
        """Write the raw samples, then print (and maybe save) the report.

        `result` goes as JSON to `out` (default: <temp dir>/<json_stem>-<date-time>.json);
        the report ends with a "raw samples: <file>" line and is printed after
        a blank line.  With save_stem it is also written to
        benches/results/<save_stem>-<YYYY-MM-DD>.txt."""
        out = out or os.path.join(tempfile.gettempdir(), "%s-%s.json" % (json_stem, time.strftime("%Y%m%d-%H%M%S")))
        with open(out, "w", encoding="utf-8") as f:
            json.dump(result, f, indent=2)
            f.write("\n")
        self.say()
        self.say("raw samples: %s" % out)
        text = "\n".join(self) + "\n"
        print()
        sys.stdout.write(text)
        if save_stem:
            os.makedirs(RESULTS_DIR, exist_ok=True)
            path = os.path.join(RESULTS_DIR, "%s-%s.txt" % (save_stem, time.strftime("%Y-%m-%d")))
            with open(path, "w", encoding="utf-8") as f:
                f.write(text)
            print("report saved: %s" % os.path.relpath(path, REPO_ROOT))
        return out


# --------------------------------------------------------------------------
# command-line options that several scripts share (added in each script's own order)


def add_shipway_arg(ap):
    ap.add_argument("--shipway", default=DEFAULT_SHIPWAY, help="shipway binary (default target/release/shipway)")


def add_out_arg(ap):
    ap.add_argument("--out", help="JSON file for raw samples (default: timestamped file in the temp dir)")


def add_gcl_arg(ap):
    ap.add_argument("--gcl", default=os.environ.get("SHIPWAY_GCL_BIN", "gitlab-ci-local"),
                    help="gitlab-ci-local command (default $SHIPWAY_GCL_BIN or gitlab-ci-local)")


def add_no_build_arg(ap):
    ap.add_argument("--no-build", action="store_true", help="do not run `cargo build --release` first")


def add_no_save_arg(ap, stem):
    ap.add_argument("--no-save", action="store_true",
                    help="do not write the report to benches/results/%s-<date>.txt" % stem)
