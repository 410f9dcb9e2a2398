#!/usr/bin/env python3
"""Wall-time benchmark: shipway vs gitlab-ci-local (gcl) on the same pipelines.

Usage (from anywhere; Python 3 standard library only):

    cargo build --release
    benches/gitlab_vs_gcl.py [--runs 7] [--out FILE] [--workloads a,b,c]
                             [--ci-jobs fmt,deny] [--parallel N] [--seed 42]

Run `benches/gitlab_vs_gcl.py --help` for every option.  Exit status: 0 =
benchmark completed (goal misses are reported, not fatal); 1 = a tool failed
or a run could not be validated (the numbers would be meaningless, so the
script aborts loudly); 2 = usage error or a missing tool/binary.

Workloads (each in its own fresh temporary git repo, made once per workload
and reused by every run):

  (a) a 3-job pipeline, stages build -> test -> deploy, one `echo` each;
  (b) a generated 100-job DAG of `true` jobs: job i needs 0-3 distinct
      random jobs among 0..i-1 (random.Random(--seed)), written as explicit
      `needs:` lists (`needs: []` for roots).  Jobs are spread over
      --dag-stages stages in order, so every need points at the same or an
      earlier stage: valid for GitLab, gcl and shipway alike.  shipway runs
      it twice per round: with --parallel N (default: CPU count) and with
      --parallel 1.  A shipway-only 1-job pipeline in the same repo gives
      the fixed start-up cost, for the marginal per-job figure below;
  (c) this repository's own .gitlab-ci.yml, restricted to the jobs that do
      not compile (--ci-jobs, default `fmt,deny`): `shipway run --job J ...`
      and `gitlab-ci-local J ...`.  The repo is a copy of the project's
      tracked and untracked-but-not-ignored files (what `git ls-files -co
      --exclude-standard` lists), so the jobs see the real sources.  If the
      pipeline file is missing, a stand-in with the same shape is used and
      the report says so.

Every repo has branch `main`, one commit, and a fake `origin` remote with
`origin/main` = HEAD and `origin/HEAD -> origin/main` (see
docs/gitlab-ci-local-notes.md), so gcl prints no remote warnings.  A
committed .gitignore lists .shipway/ and .gitlab-ci-local/.

Method:

  * COLD-STATE comparison: before every single run `.shipway/` and
    `.gitlab-ci-local/` are deleted, so neither tool reuses state (shipway's
    job cache / run history, gcl's state, builds and artifacts).  The OS page
    cache stays warm: --warmup rounds (default 1, not recorded in the
    medians) run every variant of EVERY workload once before any timed
    round, which also validates all workloads up front (a failing job in
    (c) aborts in the first minute, not after (a) and (b)).
  * INTERLEAVED: each round runs every variant of a workload once, in a fixed
    order (shipway variants first, then gcl), before the next round starts,
    so slow drift of the machine's load hits both tools alike.  --runs N
    rounds (default 7; fewer than 5 is flagged as not a valid result).
  * Before every timed run: state dirs deleted, then os.sync() and a 0.2 s
    pause, so dirty pages from the previous run (gcl rsyncs the repo per job)
    are written back outside both tools' timed windows.
  * Timing: time.perf_counter() around subprocess.run() of the whole command
    (process start to exit, stdout/stderr captured through pipes).  The table
    shows the median, min and max per variant; ratios are gcl median /
    shipway median.
  * Commands:
      shipway:  shipway run --json [--parallel N] [--job J ...] [FILE]
      gcl:      gitlab-ci-local --shell-executor-no-image --shell-isolation [J ...]
    i.e. gcl's defaults plus the two flags that make it run jobs on the host,
    each in its own isolated build dir (rsync of the tracked files), which is
    what shipway does with its per-job workspaces.  gcl's JSON schema
    validation (about 0.5 s per run on this machine) stays ON in the main
    "gcl" variant, as a user would run it, and the goals use that variant;
    a second variant "gcl-noschema" adds --no-json-schema-validation (one
    more gcl run per round, a few seconds; --no-gcl-no-schema drops it) so
    the ratio without that fixed cost is visible too.  gcl has no
    concurrency limit by default (all ready jobs at once, in waves); shipway
    runs at most --parallel jobs at once.
  * Validation: every run must exit 0.  shipway's --json result must say
    "success" and list every expected job as "success"; gcl's end-of-run
    summary must show a PASS line for every expected job and no FAIL/WARN.
    Anything else aborts the benchmark with the tool's output.
  * Child environment (same for both tools): PATH, locale, TMPDIR, plus
    CARGO_HOME / RUSTUP_HOME / PYENV_ROOT (pinned to their real locations so
    cargo, rustfmt and cargo-deny keep working), HOME = a scratch dir (gcl
    reads ~/.gitlab-ci-local/variables.yml), FORCE_COLOR=0, NO_COLOR=1,
    TERM=dumb.  No GCL_* variable is passed (gcl reads them as options).
  * Per-job overhead: (i) bare spawn cost = median of --spawns (default 200)
    `bash -c true` runs via subprocess.run, timed with perf_counter;
    (ii) shipway's per-job cost = median wall time of (b) at --parallel 1
    divided by the job count.  overhead = (ii) - (i), against the goal
    "within 3 ms".  (ii) includes shipway's fixed start-up (parse, git probe,
    snapshot) spread over the jobs, so it is an upper bound; the marginal
    figure (T(b, -P1) - T(1 job, -P1)) / (jobs - 1) is printed next to it.

Goals printed: (b) shipway >= 20x faster than gcl (gcl/shipway median at
shipway's default --parallel), and per-job overhead <= 3 ms.

The JSON file (--out; default: a timestamped file in the temp dir) holds the
raw samples in seconds, per workload and variant, plus the medians, ratios,
the spawn samples, tool versions, CPU count and load averages.

The machine has 2 cores and is often busy: compare ratios from the same
interleaved run, not absolute times across runs.
"""

import argparse
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
DEFAULT_SHIPWAY = os.path.join(REPO_ROOT, "target", "release", "shipway")
DEFAULT_CI_FILE = os.path.join(REPO_ROOT, ".gitlab-ci.yml")

ANSI_RE = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[@-Z\\-_]")
# gcl end-of-run summary line (docs/gitlab-ci-local-notes.md).
SUMMARY_RE = re.compile(r"^ (PASS|WARN|FAIL) (?: \[[^\]]*\])? (.+?)\s*$")

# Stand-in for the project's pipeline, used only when --ci-file is missing.
STAND_IN_CI = """\
# Stand-in for shipway's own .gitlab-ci.yml (the real one was missing).
stages: [lint, test]
default:
  before_script:
    - rustc --version && cargo --version
fmt:
  stage: lint
  script:
    - cargo fmt --all --check
clippy:
  stage: lint
  script:
    - cargo clippy --workspace --all-targets -- -D warnings
deny:
  stage: lint
  script:
    - cargo deny --offline check bans licenses sources
test:
  stage: test
  script:
    - cargo test --workspace
"""


class BenchError(Exception):
    """A failed or unverifiable run: abort the whole benchmark."""


def eprint(*a):
    print(*a, file=sys.stderr, flush=True)


def strip_ansi(s):
    return ANSI_RE.sub("", s).replace("\r", "")


def tail(text, n=40):
    lines = strip_ansi(text).rstrip().splitlines()
    return "\n".join(lines[-n:])


# --------------------------------------------------------------------------
# environment and repos


def child_env(home):
    env = {}
    for k in ("PATH", "LANG", "LC_ALL", "LC_CTYPE", "TMPDIR", "NODE_PATH",
              "NODE_OPTIONS", "NODE_EXTRA_CA_CERTS", "NVM_DIR",
              "RUSTUP_TOOLCHAIN", "RUSTUP_AUTO_INSTALL", "PYENV_VERSION"):
        if k in os.environ:
            env[k] = os.environ[k]
    real_home = os.path.expanduser("~")
    # Tool homes default to $HOME/...; pin them since HOME is replaced.
    for k, default in (("CARGO_HOME", ".cargo"), ("RUSTUP_HOME", ".rustup"),
                       ("PYENV_ROOT", ".pyenv")):
        v = os.environ.get(k) or os.path.join(real_home, default)
        if os.path.isdir(v):
            env[k] = v
    env["HOME"] = home
    env["FORCE_COLOR"] = "0"
    env["NO_COLOR"] = "1"
    env["TERM"] = "dumb"
    env["GIT_CONFIG_NOSYSTEM"] = "1"
    return env


def sh(cmd, cwd, env, timeout=120):
    p = subprocess.run(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=timeout)
    if p.returncode != 0:
        raise BenchError("setup command failed (exit %d): %s\n%s%s" % (
            p.returncode, " ".join(cmd), p.stdout.decode(errors="replace"),
            p.stderr.decode(errors="replace")))
    return p.stdout.decode(errors="replace")


def init_repo(repo, env, message):
    """git init + one commit + fake origin, as gcl_outcomes.py does."""
    with open(os.path.join(repo, ".gitignore"), "a", encoding="utf-8") as f:
        f.write("\n/.shipway/\n/.gitlab-ci-local/\n")
    sh(["git", "-c", "init.defaultBranch=main", "init", "-q", "-b", "main"], repo, env)
    sh(["git", "config", "user.email", "bench@example.invalid"], repo, env)
    sh(["git", "config", "user.name", "shipway bench"], repo, env)
    sh(["git", "config", "commit.gpgsign", "false"], repo, env)
    sh(["git", "add", "-A"], repo, env)
    sh(["git", "commit", "-q", "-m", message], repo, env)
    sh(["git", "remote", "add", "origin",
        "https://gitlab.example.invalid/shipway/bench.git"], repo, env)
    sh(["git", "update-ref", "refs/remotes/origin/main", "HEAD"], repo, env)
    sh(["git", "symbolic-ref", "refs/remotes/origin/HEAD",
        "refs/remotes/origin/main"], repo, env)


def clean_state(repo):
    for d in (".shipway", ".gitlab-ci-local"):
        shutil.rmtree(os.path.join(repo, d), ignore_errors=True)


# --------------------------------------------------------------------------
# workloads


def three_job_yaml():
    return """\
stages: [build, test, deploy]
build:
  stage: build
  script:
    - echo building
test:
  stage: test
  script:
    - echo testing
deploy:
  stage: deploy
  script:
    - echo deploying
"""


def dag_jobs(n, seed, n_stages):
    """[(name, stage, [needs])]: job i needs 0-3 random jobs among 0..i-1."""
    rng = random.Random(seed)
    n_stages = max(1, min(n_stages, n))
    stages = ["test"] if n_stages == 1 else ["stage%d" % (s + 1) for s in range(n_stages)]
    jobs = []
    for i in range(n):
        k = min(rng.randint(0, 3), i)
        needs = sorted(rng.sample(range(i), k))
        stage = stages[i * n_stages // n]  # contiguous blocks, in job order
        jobs.append(("job-%03d" % i, stage, ["job-%03d" % j for j in needs]))
    return stages, jobs


def dag_yaml(stages, jobs):
    out = ["stages: [%s]" % ", ".join(stages), ""]
    for name, stage, needs in jobs:
        out.append("%s:" % name)
        out.append("  stage: %s" % stage)
        out.append("  needs: [%s]" % ", ".join(needs))
        out.append("  script:")
        out.append("    - \"true\"")
        out.append("")
    return "\n".join(out)


def dag_depth(jobs):
    depth = {}
    for name, _, needs in jobs:
        depth[name] = 1 + max((depth[x] for x in needs), default=0)
    return max(depth.values())


ONE_JOB_YAML = """\
stages: [test]
only-job:
  stage: test
  script:
    - "true"
"""


def copy_project_tree(src_root, dst):
    """Copy tracked + untracked-not-ignored files of src_root into dst."""
    out = subprocess.run(["git", "ls-files", "-z", "-co", "--exclude-standard"],
                         cwd=src_root, stdout=subprocess.PIPE, check=True).stdout
    n = 0
    for rel in out.decode().split("\0"):
        if not rel:
            continue
        src = os.path.join(src_root, rel)
        if not os.path.lexists(src):  # deleted in the working tree
            continue
        d = os.path.join(dst, rel)
        os.makedirs(os.path.dirname(d), exist_ok=True)
        if os.path.islink(src):
            os.symlink(os.readlink(src), d)
        elif os.path.isfile(src):
            shutil.copy2(src, d)
            n += 1
    return n


# --------------------------------------------------------------------------
# running and validating


class Tools:
    def __init__(self, args, env):
        self.shipway = args.shipway
        self.gcl = args.gcl.split()
        self.env = env
        self.timeout = args.timeout


def run_timed(cmd, cwd, env, timeout):
    clean_state(cwd)
    # Flush the previous run's writes (gcl copies the repo per job, and the
    # state dirs were just deleted) so that neither tool pays for the other's
    # disk writeback inside its timed window. Same treatment for both tools.
    os.sync()
    time.sleep(0.2)
    t0 = time.perf_counter()
    p = subprocess.run(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=timeout)
    dt = time.perf_counter() - t0
    return dt, p.returncode, p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")


def check_shipway(label, rc, out, err, expected):
    def fail(why):
        raise BenchError("%s: %s\n--- stdout (tail)\n%s\n--- stderr (tail)\n%s"
                         % (label, why, tail(out, 20), tail(err)))
    if rc != 0:
        fail("shipway exited %d" % rc)
    try:
        res = json.loads(out)
    except ValueError:
        fail("shipway --json printed no JSON result")
    if res.get("status") != "success":
        fail("pipeline status %r" % res.get("status"))
    statuses = {j.get("name"): j.get("status") for j in res.get("jobs", [])}
    bad = {n: statuses.get(n) for n in expected if statuses.get(n) != "success"}
    if bad:
        fail("jobs not successful: %s" % json.dumps(dict(list(bad.items())[:10])))
    return len(statuses)


def check_gcl(label, rc, out, err, expected):
    def fail(why):
        raise BenchError("%s: %s\n--- stdout (tail)\n%s\n--- stderr (tail)\n%s"
                         % (label, why, tail(out), tail(err)))
    if rc != 0:
        fail("gitlab-ci-local exited %d" % rc)
    passed, other = set(), []
    for line in strip_ansi(out).splitlines():
        m = SUMMARY_RE.match(line)
        if not m:
            continue
        if m.group(1) == "PASS":
            passed.add(m.group(2))
        else:
            other.append(line.strip())
    if other:
        fail("non-PASS summary lines: %s" % other[:5])
    missing = [n for n in expected if n not in passed]
    if missing:
        fail("no PASS line for %d expected job(s), e.g. %s" % (len(missing), missing[:5]))
    return len(passed)


class Variant:
    def __init__(self, name, tool, cmd, expected):
        self.name, self.tool, self.cmd, self.expected = name, tool, cmd, expected
        self.samples = []
        self.jobs_seen = None


def run_rounds(wl, tools, runs, warm):
    """Interleave every variant once per round (fills v.samples unless warm)."""
    for r in range(runs):
        is_warm = warm
        tag = "warm-up %d/%d" % (r + 1, runs) if warm else "round %d/%d" % (r + 1, runs)
        parts = []
        for v in wl["variants"]:
            label = "%s [%s] %s" % (wl["key"], v.name, tag)
            try:
                dt, rc, out, err = run_timed(v.cmd, wl["repo"], tools.env, tools.timeout)
            except subprocess.TimeoutExpired:
                raise BenchError("%s: timed out after %ss: %s" % (label, tools.timeout, " ".join(v.cmd)))
            check = check_shipway if v.tool == "shipway" else check_gcl
            v.jobs_seen = check(label, rc, out, err, v.expected)
            if not is_warm:
                v.samples.append(dt)
            parts.append("%s %s" % (v.name, fmt_s(dt)))
        eprint("  %s %s: %s" % (wl["key"], tag, ", ".join(parts)))
    clean_state(wl["repo"])


def fmt_s(x):
    if x is None:
        return "-"
    if x >= 1:
        return "%.2f s" % x
    return "%.1f ms" % (x * 1000)


def med(xs):
    return statistics.median(xs) if xs else None


def version_of(cmd, env):
    try:
        p = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
        return p.stdout.decode(errors="replace").strip().splitlines()[0]
    except Exception as e:  # noqa: BLE001
        return "unknown (%s)" % e


def spawn_baseline(n):
    cmd = ["bash", "-c", "true"]
    for _ in range(10):  # warm-up
        subprocess.run(cmd, check=True)
    xs = []
    for _ in range(n):
        t0 = time.perf_counter()
        p = subprocess.run(cmd)
        xs.append(time.perf_counter() - t0)
        if p.returncode != 0:
            raise BenchError("bash -c true exited %d" % p.returncode)
    return xs


# --------------------------------------------------------------------------


def parse_args():
    ap = argparse.ArgumentParser(
        description="Interleaved wall-time benchmark of shipway vs gitlab-ci-local "
                    "(cold state). See the module docstring for the method.")
    ap.add_argument("--runs", type=int, default=7, help="timed rounds per workload (default 7; >= 5 for a valid result)")
    ap.add_argument("--warmup", type=int, default=1, help="untimed rounds first (default 1)")
    ap.add_argument("--out", help="JSON file for raw samples (default: timestamped file in the temp dir)")
    ap.add_argument("--workloads", default="a,b,c", help="comma list of a,b,c (default all)")
    ap.add_argument("--shipway", default=DEFAULT_SHIPWAY, help="shipway binary (default target/release/shipway)")
    ap.add_argument("--gcl", default=os.environ.get("SHIPWAY_GCL_BIN", "gitlab-ci-local"),
                    help="gitlab-ci-local command (default $SHIPWAY_GCL_BIN or gitlab-ci-local)")
    ap.add_argument("--parallel", type=int, default=os.cpu_count() or 2,
                    help="shipway --parallel for the main variants (default CPU count = %d)" % (os.cpu_count() or 2))
    ap.add_argument("--gcl-no-schema", action=argparse.BooleanOptionalAction, default=True,
                    help="also time gcl with --no-json-schema-validation, one more gcl run per round "
                         "(default on; --no-gcl-no-schema skips it)")
    ap.add_argument("--dag-jobs", type=int, default=100, help="jobs in the generated DAG (default 100)")
    ap.add_argument("--dag-stages", type=int, default=4,
                    help="stages the DAG jobs are spread over, needs stay in same/earlier stage (default 4; 1 = all in `test`)")
    ap.add_argument("--seed", type=int, default=42, help="DAG random seed (default 42)")
    ap.add_argument("--ci-file", default=DEFAULT_CI_FILE, help="pipeline for workload c (default: the repo's .gitlab-ci.yml)")
    ap.add_argument("--ci-jobs", default="fmt,deny",
                    help="comma list of the non-compiling jobs of --ci-file to run in workload c (default fmt,deny)")
    ap.add_argument("--spawns", type=int, default=200, help="bash -c true spawns for the baseline (default 200)")
    ap.add_argument("--timeout", type=float, default=600, help="seconds per single run (default 600)")
    ap.add_argument("--keep", action="store_true", help="keep the temp repos")
    a = ap.parse_args()
    a.workloads = [w.strip() for w in a.workloads.split(",") if w.strip()]
    if not a.workloads or any(w not in ("a", "b", "c") for w in a.workloads):
        ap.error("--workloads takes a comma list of a, b, c")
    a.ci_jobs = [j.strip() for j in a.ci_jobs.split(",") if j.strip()]
    if a.runs < 1 or a.parallel < 1 or a.dag_jobs < 2 or a.warmup < 0 or a.spawns < 1:
        ap.error("--runs, --parallel, --spawns >= 1, --dag-jobs >= 2, --warmup >= 0")
    return a


def main():
    args = parse_args()
    if not (os.path.isfile(args.shipway) and os.access(args.shipway, os.X_OK)):
        eprint("error: no shipway binary at %s (run `cargo build --release`, or pass --shipway)" % args.shipway)
        return 2
    for tool in (args.gcl.split()[0], "git", "rsync", "bash"):
        if shutil.which(tool) is None:
            eprint("error: %s is not installed (run .ci/install-deps.sh)" % tool)
            return 2
    if args.runs < 5:
        eprint("WARNING: --runs %d < 5: fine for a trial, not a valid result" % args.runs)

    tmp = tempfile.mkdtemp(prefix="shipway-bench-")
    keep = [args.keep]
    try:
        return bench(args, tmp, keep)
    finally:
        if keep[0]:
            eprint("temp dir kept: %s" % tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)


def bench(args, tmp, keep):
    home = os.path.join(tmp, "home")
    os.makedirs(home)
    env = child_env(home)
    tools = Tools(args, env)
    sw = [args.shipway, "run", "--json"]
    gcl = tools.gcl + ["--shell-executor-no-image", "--shell-isolation"]
    ncpu = os.cpu_count() or 2
    load_start = os.getloadavg()
    meta = {
        "shipway": version_of([args.shipway, "--version"], env),
        "gitlab_ci_local": version_of(tools.gcl + ["--version"], env),
        "node": version_of(["node", "--version"], env),
        "bash": version_of(["bash", "--version"], env),
        "cpu_count": ncpu,
        "loadavg_start": load_start,
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "runs": args.runs, "warmup": args.warmup,
        "shipway_parallel": args.parallel,
        "gcl_command": gcl,
        "argv": sys.argv,
        "method": "cold state (.shipway/ and .gitlab-ci-local/ deleted before every run); "
                  "interleaved rounds; perf_counter wall time of the whole process",
    }
    notes = []
    workloads = []
    try:
        eprint("temp dir %s; shipway %s; gitlab-ci-local %s; %d CPUs; load %.2f %.2f %.2f"
               % ((tmp, meta["shipway"], meta["gitlab_ci_local"], ncpu) + tuple(load_start)))

        def gcl_variants(expected, extra=()):
            vs = [Variant("gcl", "gcl", gcl + list(extra), expected)]
            if args.gcl_no_schema:
                vs.append(Variant("gcl-noschema", "gcl", gcl + ["--no-json-schema-validation"] + list(extra), expected))
            return vs

        def new_repo(key):
            repo = os.path.join(tmp, "repo-" + key)
            os.makedirs(repo)
            return repo

        if "a" in args.workloads:
            repo = new_repo("a")
            with open(os.path.join(repo, ".gitlab-ci.yml"), "w") as f:
                f.write(three_job_yaml())
            init_repo(repo, env, "3-job pipeline")
            exp = ["build", "test", "deploy"]
            workloads.append({"key": "a", "title": "(a) 3 jobs, 3 stages", "repo": repo, "jobs": 3,
                              "variants": [Variant("shipway -P%d" % args.parallel, "shipway",
                                                   sw + ["--parallel", str(args.parallel)], exp)]
                              + gcl_variants(exp)})

        if "b" in args.workloads:
            repo = new_repo("b")
            stages, jobs = dag_jobs(args.dag_jobs, args.seed, args.dag_stages)
            with open(os.path.join(repo, ".gitlab-ci.yml"), "w") as f:
                f.write(dag_yaml(stages, jobs))
            with open(os.path.join(repo, "one-job.yml"), "w") as f:
                f.write(ONE_JOB_YAML)
            init_repo(repo, env, "generated DAG")
            exp = [j[0] for j in jobs]
            n_edges = sum(len(j[2]) for j in jobs)
            depth = dag_depth(jobs)
            eprint("DAG: %d jobs, %d needs edges, %d stages, longest chain %d jobs (seed %d)"
                   % (len(jobs), n_edges, len(stages), depth, args.seed))
            vs = [Variant("shipway -P%d" % args.parallel, "shipway", sw + ["--parallel", str(args.parallel)], exp)]
            if args.parallel != 1:
                vs.append(Variant("shipway -P1", "shipway", sw + ["--parallel", "1"], exp))
            vs.append(Variant("shipway 1-job -P1", "shipway", sw + ["--parallel", "1", "one-job.yml"], ["only-job"]))
            vs += gcl_variants(exp)
            workloads.append({"key": "b", "title": "(b) %d-job DAG" % len(jobs), "repo": repo, "jobs": len(jobs),
                              "dag": {"seed": args.seed, "stages": len(stages), "edges": n_edges,
                                      "longest_chain": depth},
                              "variants": vs})

        if "c" in args.workloads:
            repo = new_repo("c")
            nfiles = copy_project_tree(REPO_ROOT, repo)
            ci_path = os.path.abspath(args.ci_file)
            if os.path.isfile(ci_path):
                shutil.copy2(ci_path, os.path.join(repo, ".gitlab-ci.yml"))
                src = ci_path
            else:
                with open(os.path.join(repo, ".gitlab-ci.yml"), "w") as f:
                    f.write(STAND_IN_CI)
                src = "STAND-IN (the file %s does not exist)" % ci_path
                notes.append("workload (c) used a STAND-IN pipeline: %s is missing" % ci_path)
            init_repo(repo, env, "project copy")
            # Which jobs exist? Ask gcl (cheap, and it is the file both tools read).
            lp = subprocess.run(tools.gcl + ["--list-json", "--no-json-schema-validation"], cwd=repo, env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=args.timeout)
            clean_state(repo)
            if lp.returncode != 0:
                raise BenchError("gitlab-ci-local --list-json failed on %s:\n%s" % (src, tail(lp.stderr.decode(errors="replace"))))
            listed = json.loads(strip_ansi(lp.stdout.decode(errors="replace")))
            names = [j["name"] for j in listed if j.get("when") != "never"]
            missing = [j for j in args.ci_jobs if j not in names]
            if missing:
                eprint("error: --ci-jobs %s: no such job in %s; jobs: %s" % (",".join(missing), src, ", ".join(names)))
                return 2
            for j in listed:
                if j["name"] in args.ci_jobs and j.get("needs"):
                    notes.append("workload (c): job %s has needs %s; shipway --job also runs them, gcl (no --needs) does not"
                                 % (j["name"], [n.get("job") for n in j["needs"]]))
            eprint("workload c: %s (%d project files); jobs in file: %s; running: %s"
                   % (src, nfiles, ", ".join(names), ", ".join(args.ci_jobs)))
            sel = []
            for j in args.ci_jobs:
                sel += ["--job", j]
            workloads.append({"key": "c", "title": "(c) own CI: %s" % ",".join(args.ci_jobs), "repo": repo,
                              "jobs": len(args.ci_jobs), "ci_file": src,
                              "variants": [Variant("shipway -P%d" % args.parallel, "shipway",
                                                   sw + ["--parallel", str(args.parallel)] + sel, args.ci_jobs)]
                              + gcl_variants(args.ci_jobs, args.ci_jobs)})

        eprint("spawn baseline: %d x bash -c true ..." % args.spawns)
        spawn = spawn_baseline(args.spawns)
        if args.warmup:
            eprint("warm-up (untimed; validates every workload): %d round(s) each" % args.warmup)
            for wl in workloads:
                run_rounds(wl, tools, args.warmup, True)
        for wl in workloads:
            eprint("workload %s: %s, %d variant(s), %d timed round(s)"
                   % (wl["key"], wl["title"], len(wl["variants"]), args.runs))
            run_rounds(wl, tools, args.runs, False)
        spawn_after = spawn_baseline(args.spawns)
    except BenchError as e:
        eprint("\n*** BENCHMARK ABORTED: a run failed or could not be validated ***\n%s" % e)
        keep[0] = True  # for inspection
        return 1
    load_end = os.getloadavg()

    # ---------------------------------------------------------------- report
    spawn_all = spawn + spawn_after
    spawn_med = med(spawn_all)
    result = {"meta": dict(meta, loadavg_end=load_end), "notes": notes,
              "spawn_bash_true_s": {"before": spawn, "after": spawn_after, "median": spawn_med},
              "workloads": {}}
    rows = []
    for wl in workloads:
        entry = {"title": wl["title"], "jobs": wl["jobs"], "variants": {}}
        for k in ("dag", "ci_file"):
            if k in wl:
                entry[k] = wl[k]
        for v in wl["variants"]:
            entry["variants"][v.name] = {"cmd": v.cmd, "samples_s": v.samples, "median_s": med(v.samples),
                                         "jobs_reported": v.jobs_seen}
            rows.append((wl["title"], v.name, med(v.samples), min(v.samples), max(v.samples), len(v.samples)))
        result["workloads"][wl["key"]] = entry

    print()
    print("shipway vs gitlab-ci-local: cold state, interleaved, %d timed round(s) (+%d warm-up), %d CPUs"
          % (args.runs, args.warmup, ncpu))
    print("load average %.2f %.2f %.2f at start, %.2f %.2f %.2f at end" % (tuple(load_start) + tuple(load_end)))
    print("gcl: %s" % " ".join(gcl[len(tools.gcl):] or ["(defaults)"]))
    print()
    w0 = max(len(r[0]) for r in rows) if rows else 10
    w1 = max(len(r[1]) for r in rows) if rows else 10
    print("%-*s  %-*s  %10s  %10s  %10s" % (w0, "workload", w1, "variant", "median", "min", "max"))
    for r in rows:
        print("%-*s  %-*s  %10s  %10s  %10s" % (w0, r[0], w1, r[1], fmt_s(r[2]), fmt_s(r[3]), fmt_s(r[4])))

    print()
    print("ratios (gcl median / shipway median; > 1 means shipway is faster):")
    ratios = {}
    goal_lines = []
    for wl in workloads:
        by = {v.name: med(v.samples) for v in wl["variants"]}
        for g in [v.name for v in wl["variants"] if v.tool == "gcl"]:
            for s in [v.name for v in wl["variants"] if v.tool == "shipway" and "1-job" not in v.name]:
                ratio = by[g] / by[s] if by[s] else float("inf")
                ratios["%s: %s / %s" % (wl["key"], g, s)] = ratio
                print("  %-*s  %-14s / %-14s %8.1fx" % (w0, wl["title"], g, s, ratio))
        if wl["key"] == "b":
            main_sw = "shipway -P%d" % args.parallel
            r = by["gcl"] / by[main_sw]
            goal_lines.append("(b) %d-job DAG >= 20x faster than gcl: %.1fx (gcl, schema validation on, %s / %s %s)  %s"
                              % (wl["jobs"], r, fmt_s(by["gcl"]), main_sw, fmt_s(by[main_sw]),
                                 "MET" if r >= 20 else "NOT MET"))
            p1 = by.get("shipway -P1", by[main_sw] if args.parallel == 1 else None)
            one = by["shipway 1-job -P1"]
            per_job = p1 / wl["jobs"]
            overhead = per_job - spawn_med
            marginal = (p1 - one) / (wl["jobs"] - 1)
            result["overhead"] = {
                "spawn_bash_true_median_s": spawn_med,
                "shipway_per_job_s": per_job,
                "overhead_s": overhead,
                "marginal_per_job_s": marginal,
                "marginal_overhead_s": marginal - spawn_med,
                "goal_s": 0.003,
                "met": overhead <= 0.003,
            }
            goal_lines.append("per-job overhead within 3 ms: (ii) %s/job [(b) -P1 %s / %d] - (i) %s [bash -c true] "
                              "= %.2f ms  %s"
                              % (fmt_s(per_job), fmt_s(p1), wl["jobs"], fmt_s(spawn_med), overhead * 1000,
                                 "MET" if overhead <= 0.003 else "NOT MET"))
            goal_lines.append("  (marginal: (%s - 1-job %s) / %d = %s/job, minus spawn = %.2f ms)"
                              % (fmt_s(p1), fmt_s(one), wl["jobs"] - 1, fmt_s(marginal), (marginal - spawn_med) * 1000))
    result["ratios_gcl_over_shipway"] = ratios
    print()
    print("bare spawn (i): bash -c true via subprocess, median of %d = %s (before %s, after %s)"
          % (len(spawn_all), fmt_s(spawn_med), fmt_s(med(spawn)), fmt_s(med(spawn_after))))
    if goal_lines:
        print()
        print("goals:")
        for g in goal_lines:
            print("  " + g)
    if args.runs < 5:
        notes.append("only %d timed round(s): a trial, not a valid result (use >= 5)" % args.runs)
    if notes:
        print()
        print("notes:")
        for n in notes:
            print("  - " + n)

    out = args.out or os.path.join(tempfile.gettempdir(), "gitlab_vs_gcl-%s.json" % time.strftime("%Y%m%d-%H%M%S"))
    with open(out, "w", encoding="utf-8") as f:
        json.dump(result, f, indent=2)
        f.write("\n")
    print()
    print("raw samples: %s" % out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
