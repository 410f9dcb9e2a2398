#!/usr/bin/env python3
"""Wall-time benchmark: shipway vs gitlab-ci-local (gcl) on the same pipelines.

Usage (from anywhere; Python 3 standard library only, plus benchlib.py from this
script's directory):

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
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import (  # noqa: E402  (benchlib.py sits next to this script)
    BenchError, GCL_SHELL_FLAGS, GITLAB_ORIGIN, NODE_VARS, REPO_ROOT, RUSTUP_VARS, Report, STATS_HEADER,
    TempDir, Variant, add_gcl_arg, add_out_arg, add_shipway_arg, child_env, choice_list, dag_depths, eprint,
    failer, fmt_load, fmt_s, fmt_stats, gcl_summary, init_repo, med, note_if_few_runs, print_abort,
    random_dag, require_shipway, require_tools, run_rounds, shipway_result, split_list, strip_ansi, tail,
    version_of, warn_if_few_runs)

DEFAULT_CI_FILE = os.path.join(REPO_ROOT, ".gitlab-ci.yml")

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


# --------------------------------------------------------------------------
# state

# Appended to every repo's committed .gitignore.
IGNORE = ("/.shipway/", "/.gitlab-ci-local/")


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
    """(stages, [(name, stage, [needs])]): the jobs of benchlib.random_dag(n, seed).

    They are spread over n_stages stages in contiguous blocks, in job order,
    so every need is in the same or an earlier stage."""
    n_stages = max(1, min(n_stages, n))
    stages = ["test"] if n_stages == 1 else ["stage%d" % (s + 1) for s in range(n_stages)]
    jobs = [(name, stages[i * n_stages // n], needs) for i, (name, needs) in enumerate(random_dag(n, seed))]
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
    return max(dag_depths([(name, needs) for name, _, needs in jobs]).values())


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


def check_shipway(label, rc, out, err, expected):
    fail = failer(label, out, err, out_lines=20)
    res = shipway_result(rc, out, fail)
    statuses = {j.get("name"): j.get("status") for j in res.get("jobs", [])}
    bad = {n: statuses.get(n) for n in expected if statuses.get(n) != "success"}
    if bad:
        fail("jobs not successful: %s" % json.dumps(dict(list(bad.items())[:10])))
    return len(statuses)


def check_gcl(label, rc, out, err, expected):
    fail = failer(label, out, err)
    if rc != 0:
        fail("gitlab-ci-local exited %d" % rc)
    passed, other = gcl_summary(out)
    if other:
        fail("non-PASS summary lines: %s" % other[:5])
    missing = [n for n in expected if n not in passed]
    if missing:
        fail("no PASS line for %d expected job(s), e.g. %s" % (len(missing), missing[:5]))
    return len(set(passed))


CHECKS = {"shipway": check_shipway, "gcl": check_gcl}


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
    add_out_arg(ap)
    ap.add_argument("--workloads", default="a,b,c", help="comma list of a,b,c (default all)")
    add_shipway_arg(ap)
    add_gcl_arg(ap)
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
    a.workloads = choice_list(ap, "--workloads", a.workloads, ("a", "b", "c"))
    a.ci_jobs = split_list(a.ci_jobs)
    if a.runs < 1 or a.parallel < 1 or a.dag_jobs < 2 or a.warmup < 0 or a.spawns < 1:
        ap.error("--runs, --parallel, --spawns >= 1, --dag-jobs >= 2, --warmup >= 0")
    return a


def main():
    args = parse_args()
    if not require_shipway(args.shipway):
        return 2
    if not require_tools((args.gcl.split()[0], "git", "rsync", "bash"), " (run .ci/install-deps.sh)"):
        return 2
    warn_if_few_runs(args.runs)

    with TempDir("shipway-bench-", args.keep) as tmp_dir:
        return bench(args, tmp_dir)


def bench(args, tmp_dir):
    tmp = tmp_dir.path
    env = child_env(tmp_dir.home, NODE_VARS + RUSTUP_VARS)
    gcl_base = args.gcl.split()
    sw = [args.shipway, "run", "--json"]
    gcl = gcl_base + GCL_SHELL_FLAGS
    ncpu = os.cpu_count() or 2
    load_start = os.getloadavg()
    meta = {
        "shipway": version_of([args.shipway, "--version"], env),
        "gitlab_ci_local": version_of(gcl_base + ["--version"], env),
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
            init_repo(repo, env, "3-job pipeline", GITLAB_ORIGIN, IGNORE)
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
            init_repo(repo, env, "generated DAG", GITLAB_ORIGIN, IGNORE)
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
            init_repo(repo, env, "project copy", GITLAB_ORIGIN, IGNORE)
            # Which jobs exist? Ask gcl (cheap, and it is the file both tools read).
            lp = subprocess.run(gcl_base + ["--list-json", "--no-json-schema-validation"], cwd=repo, env=env,
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
                run_rounds(wl, args.warmup, True, env, args.timeout, clean_state, CHECKS)
        for wl in workloads:
            eprint("workload %s: %s, %d variant(s), %d timed round(s)"
                   % (wl["key"], wl["title"], len(wl["variants"]), args.runs))
            run_rounds(wl, args.runs, False, env, args.timeout, clean_state, CHECKS)
        spawn_after = spawn_baseline(args.spawns)
    except BenchError as e:
        print_abort(e)
        tmp_dir.keep = True  # for inspection
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
            rows.append((wl["title"], v.name, v.samples))
        result["workloads"][wl["key"]] = entry

    report = Report()
    say = report.say
    say("shipway vs gitlab-ci-local: cold state, interleaved, %d timed round(s) (+%d warm-up), %d CPUs"
        % (args.runs, args.warmup, ncpu))
    say(fmt_load(load_start, load_end))
    say("gcl: %s" % " ".join(gcl[len(gcl_base):] or ["(defaults)"]))
    say()
    w0 = max(len(r[0]) for r in rows) if rows else 10
    w1 = max(len(r[1]) for r in rows) if rows else 10
    say("%-*s  %-*s  %s" % (w0, "workload", w1, "variant", STATS_HEADER))
    for r in rows:
        say("%-*s  %-*s  %s" % (w0, r[0], w1, r[1], fmt_stats(r[2])))

    say()
    say("ratios (gcl median / shipway median; > 1 means shipway is faster):")
    ratios = {}
    goal_lines = []
    for wl in workloads:
        by = {v.name: med(v.samples) for v in wl["variants"]}
        for g in [v.name for v in wl["variants"] if v.tool == "gcl"]:
            for s in [v.name for v in wl["variants"] if v.tool == "shipway" and "1-job" not in v.name]:
                ratio = by[g] / by[s] if by[s] else float("inf")
                ratios["%s: %s / %s" % (wl["key"], g, s)] = ratio
                say("  %-*s  %-14s / %-14s %8.1fx" % (w0, wl["title"], g, s, ratio))
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
    say()
    say("bare spawn (i): bash -c true via subprocess, median of %d = %s (before %s, after %s)"
        % (len(spawn_all), fmt_s(spawn_med), fmt_s(med(spawn)), fmt_s(med(spawn_after))))
    report.say_block("goals:", goal_lines)
    note_if_few_runs(args.runs, notes)
    report.say_block("notes:", notes, prefix="  - ")
    report.publish(result, args.out, "gitlab_vs_gcl")
    return 0


if __name__ == "__main__":
    sys.exit(main())
