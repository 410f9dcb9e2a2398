#!/usr/bin/env python3
"""Rerun benchmark: shipway on its own pipelines, nothing changed since the last run.

Usage (from anywhere; Python 3 standard library only):

    benches/rerun_cached.py [--runs 7] [--no-build] [--out FILE] [--no-save]
                            [--pipelines gitlab,github] [--target-dirs shared]

Run `benches/rerun_cached.py --help` for every option.  Exit status: 0 =
benchmark completed (goal misses are reported, not fatal); 1 = a run failed
in a way that makes the numbers meaningless (no JSON result, a crash, a
time-out); 2 = usage error or a missing tool/binary.

What it measures: the cost of asking shipway to run the project's CI again
when nothing changed.  A local-first runner should answer from its job store
("cached": the job's inputs are unchanged, its earlier result is replayed)
instead of running cargo again.

Method:

  * Build: `cargo build --release` in this repository (skip with
    --no-build), then use target/release/shipway by absolute path.
  * Repo: `git clone` of this repository into a temp dir: a clean clone of
    the committed HEAD (uncommitted work in the source tree is not in it;
    the binary, though, is built from the working tree).
  * Environment (same for every run): PATH, locale, TMPDIR, CARGO_HOME /
    RUSTUP_HOME / PYENV_ROOT pinned to their real locations, HOME = a
    scratch dir, NO_COLOR=1, TERM=dumb, and CARGO_TARGET_DIR = a temp dir
    shared by every run and both pipelines (--target-dirs shared, the
    default), so the first (compiling) run does not touch this repository's
    target/.  --target-dirs per-pipeline gives each pipeline its own temp
    CARGO_TARGET_DIR (still shared by that pipeline's warm-up and reruns).
    Why that matters: shipway runs every job in a per-run workspace,
    .shipway/runs/<id>/ws/<slot>, and cargo does not rebuild when the same
    sources show up at a new path with a shared target dir, so a test binary
    keeps the env!("CARGO_MANIFEST_DIR") of the workspace it was built in.
    When that workspace is gone (the first pipeline's run), tests that read
    fixtures through it fail in the second pipeline, on every rerun.
  * Pipelines: `shipway run --json` (the repo's .gitlab-ci.yml) and
    `shipway run --json .github/workflows/ci.yml`.
  * Warm-up: each pipeline runs once (untimed; compiles everything, takes
    minutes; --warm-timeout).  Its job statuses are reported.
  * Reruns: --runs rounds (default 7), INTERLEAVED: each round reruns every
    pipeline once, nothing changed in between.  Before every timed rerun:
    os.sync() and a 0.2 s pause (outside the timed window).  Timing:
    time.perf_counter() around subprocess.run() of the whole process.
  * Cached share: from the --json result of every rerun, jobs with status
    "cached" / all jobs listed.  Jobs that were not cached are named in the
    report with their status and an excerpt of their log (panics, FAILED
    and error lines, then the last lines), so a miss can be traced.
  * Goals: >= 95 % of the jobs cached, and a rerun < 200 ms (median wall
    time of the whole process).

The text report goes to benches/results/rerun_cached-<YYYY-MM-DD>.txt
(rerun_cached-per-pipeline-<YYYY-MM-DD>.txt with --target-dirs
per-pipeline; --no-save skips it) and the raw samples to the --out JSON file (default:
a timestamped file in the temp dir).

The machine has 2 cores and is often busy: use the medians, and compare
figures from one interleaved run.
"""

import argparse
import glob
import json
import os
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

PIPELINES = {
    # key: (title, extra args for `shipway run --json`)
    "gitlab": (".gitlab-ci.yml", []),
    "github": (".github/workflows/ci.yml", [".github/workflows/ci.yml"]),
}

GOAL_CACHED_SHARE = 0.95
GOAL_WALL_S = 0.200


class BenchError(Exception):
    """A failed or unverifiable run: abort the whole benchmark."""


def eprint(*a):
    print(*a, file=sys.stderr, flush=True)


def tail(text, n=30):
    return "\n".join(text.rstrip().splitlines()[-n:])


def fmt_s(x):
    if x is None:
        return "-"
    if x >= 1:
        return "%.2f s" % x
    return "%.1f ms" % (x * 1000)


def med(xs):
    return statistics.median(xs) if xs else None


def child_env(home, target_dir):
    env = {}
    for k in ("PATH", "LANG", "LC_ALL", "LC_CTYPE", "TMPDIR", "RUSTUP_TOOLCHAIN",
              "RUSTUP_AUTO_INSTALL", "PYENV_VERSION"):
        if k in os.environ:
            env[k] = os.environ[k]
    real_home = os.path.expanduser("~")
    for k, default in (("CARGO_HOME", ".cargo"), ("RUSTUP_HOME", ".rustup"),
                       ("PYENV_ROOT", ".pyenv")):
        v = os.environ.get(k) or os.path.join(real_home, default)
        if os.path.isdir(v):
            env[k] = v
    env["HOME"] = home
    env["CARGO_TARGET_DIR"] = target_dir
    env["NO_COLOR"] = "1"
    env["TERM"] = "dumb"
    env["GIT_CONFIG_NOSYSTEM"] = "1"
    return env


def version_of(cmd, env):
    try:
        p = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
        return p.stdout.decode(errors="replace").strip().splitlines()[0]
    except Exception as e:  # noqa: BLE001
        return "unknown (%s)" % e


def build_release():
    eprint("cargo build --release (in %s) ..." % REPO_ROOT)
    t0 = time.perf_counter()
    p = subprocess.run(["cargo", "build", "--release", "--bin", "shipway"], cwd=REPO_ROOT,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    if p.returncode != 0:
        raise BenchError("cargo build --release failed:\n%s" % tail(p.stdout.decode(errors="replace")))
    eprint("  built in %s" % fmt_s(time.perf_counter() - t0))


def run_shipway(shipway, extra, repo, env, timeout, label):
    """One `shipway run --json`: (seconds, parsed result, stderr)."""
    cmd = [shipway, "run", "--json"] + extra
    t0 = time.perf_counter()
    try:
        p = subprocess.run(cmd, cwd=repo, env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise BenchError("%s: timed out after %ss: %s" % (label, timeout, " ".join(cmd)))
    dt = time.perf_counter() - t0
    out = p.stdout.decode(errors="replace")
    err = p.stderr.decode(errors="replace")
    try:
        res = json.loads(out)
    except ValueError:
        raise BenchError("%s: shipway exited %d and printed no JSON result\n--- stdout\n%s\n--- stderr (tail)\n%s"
                         % (label, p.returncode, tail(out), tail(err)))
    if not isinstance(res.get("jobs"), list) or not res["jobs"]:
        raise BenchError("%s: the JSON result lists no jobs: %s" % (label, out[:500]))
    res["_exit"] = p.returncode
    return dt, res, err


def statuses(res):
    return [(j.get("name"), j.get("status")) for j in res["jobs"]]


def log_excerpt(repo, run_id, job, n_match=12, n_tail=6):
    """Panic / FAILED / error lines and the tail of a job's log in run `run_id`."""
    logs = glob.glob(os.path.join(repo, ".shipway", "runs", str(run_id), "logs", "*-%s.log" % job))
    if not logs:
        return ["(no log for job %s in .shipway/runs/%s/logs)" % (job, run_id)]
    with open(logs[0], encoding="utf-8", errors="replace") as f:
        lines = [re.sub(r"\x1b\[[0-9;?]*[ -/]*[@-~]", "", ln.rstrip()) for ln in f]
    hits = [ln for ln in lines if re.search(r"panicked at|FAILED|^error|Error:|No such file", ln)]
    out = hits[:n_match]
    out += ["..."] + [ln for ln in lines[-n_tail:] if ln not in out]
    return [os.path.relpath(logs[0], repo)] + ["  " + ln for ln in out]


def count_by_status(res):
    c = {}
    for _, s in statuses(res):
        c[s] = c.get(s, 0) + 1
    return c


def parse_args():
    ap = argparse.ArgumentParser(
        description="shipway rerun benchmark on the project's own pipelines (nothing changed). "
                    "See the module docstring for the method.")
    ap.add_argument("--runs", type=int, default=7, help="timed rerun rounds (default 7; >= 5 for a valid result)")
    ap.add_argument("--pipelines", default="gitlab,github", help="comma list of gitlab,github (default both)")
    ap.add_argument("--shipway", default=DEFAULT_SHIPWAY, help="shipway binary (default target/release/shipway)")
    ap.add_argument("--no-build", action="store_true", help="do not run `cargo build --release` first")
    ap.add_argument("--source", default=REPO_ROOT, help="repository to clone (default: this one)")
    ap.add_argument("--out", help="JSON file for raw samples (default: timestamped file in the temp dir)")
    ap.add_argument("--no-save", action="store_true",
                    help="do not write the report to benches/results/rerun_cached-<date>.txt")
    ap.add_argument("--target-dirs", choices=["shared", "per-pipeline"], default="shared",
                    help="one temp CARGO_TARGET_DIR for all runs of both pipelines (default), "
                         "or one per pipeline")
    ap.add_argument("--warm-timeout", type=float, default=3600, help="seconds for each warm-up run (default 3600)")
    ap.add_argument("--timeout", type=float, default=900, help="seconds per timed rerun (default 900)")
    ap.add_argument("--keep", action="store_true", help="keep the temp dir (clone and cargo target dir)")
    a = ap.parse_args()
    a.pipelines = [p.strip() for p in a.pipelines.split(",") if p.strip()]
    if not a.pipelines or any(p not in PIPELINES for p in a.pipelines):
        ap.error("--pipelines takes a comma list of gitlab, github")
    if a.runs < 1:
        ap.error("--runs >= 1")
    return a


def main():
    args = parse_args()
    args.shipway = os.path.abspath(args.shipway)
    for tool in ("git", "cargo"):
        if shutil.which(tool) is None:
            eprint("error: %s is not installed" % tool)
            return 2
    if not args.no_build:
        try:
            build_release()
        except BenchError as e:
            eprint("error: %s" % e)
            return 2
    if not (os.path.isfile(args.shipway) and os.access(args.shipway, os.X_OK)):
        eprint("error: no shipway binary at %s (run `cargo build --release`, or pass --shipway)" % args.shipway)
        return 2
    if args.runs < 5:
        eprint("WARNING: --runs %d < 5: fine for a trial, not a valid result" % args.runs)
    tmp = tempfile.mkdtemp(prefix="shipway-rerun-")
    try:
        return bench(args, tmp)
    finally:
        if args.keep:
            eprint("temp dir kept: %s" % tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)


def bench(args, tmp):
    home = os.path.join(tmp, "home")
    repo = os.path.join(tmp, "repo")
    os.makedirs(home)
    envs = {}
    for key in args.pipelines:
        td = os.path.join(tmp, "cargo-target" if args.target_dirs == "shared" else "cargo-target-" + key)
        os.makedirs(td, exist_ok=True)
        envs[key] = child_env(home, td)
    env = envs[args.pipelines[0]]
    target_dir = env["CARGO_TARGET_DIR"] if args.target_dirs == "shared" else os.path.join(tmp, "cargo-target-*")
    p = subprocess.run(["git", "clone", "-q", args.source, repo], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if p.returncode != 0:
        eprint("error: git clone %s failed: %s" % (args.source, p.stderr.decode(errors="replace")))
        return 2
    head = subprocess.run(["git", "log", "-1", "--format=%h %s"], cwd=repo, stdout=subprocess.PIPE,
                          check=True).stdout.decode().strip()
    src_dirty = subprocess.run(["git", "status", "--porcelain"], cwd=args.source, stdout=subprocess.PIPE,
                               check=True).stdout.decode().strip()
    for key in args.pipelines:
        f = PIPELINES[key][0]
        if not os.path.isfile(os.path.join(repo, f)):
            eprint("error: %s is not in the clone" % f)
            return 2
    load_start = os.getloadavg()
    meta = {
        "shipway": version_of([args.shipway, "--version"], env),
        "shipway_binary": args.shipway,
        "clone_of": args.source,
        "clone_head": head,
        "source_tree_dirty": bool(src_dirty),
        "cargo": version_of(["cargo", "--version"], env),
        "cpu_count": os.cpu_count(),
        "loadavg_start": load_start,
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "runs": args.runs,
        "cargo_target_dir": "one temp dir shared by all runs" if args.target_dirs == "shared"
                            else "one temp dir per pipeline, shared by its runs",
    }
    eprint("clone %s (HEAD %s); CARGO_TARGET_DIR %s; %s; load %.2f %.2f %.2f"
           % ((repo, head, target_dir, meta["shipway"]) + tuple(load_start)))

    per = {k: {"warm": None, "samples": [], "results": []} for k in args.pipelines}
    notes = []
    try:
        for key in args.pipelines:
            title, extra = PIPELINES[key]
            eprint("warm-up: shipway run --json %s (compiles; minutes) ..." % " ".join(extra))
            dt, res, err = run_shipway(args.shipway, extra, repo, envs[key], args.warm_timeout, "warm-up " + title)
            per[key]["warm"] = {"seconds": dt, "status": res.get("status"), "exit": res["_exit"],
                                "jobs": statuses(res), "run": res.get("run")}
            eprint("  %s: %s in %s; jobs: %s" % (title, res.get("status"), fmt_s(dt),
                                                 ", ".join("%s=%s" % j for j in statuses(res))))
            per[key]["warm"]["excerpts"] = {n: log_excerpt(repo, res.get("run"), n)
                                            for n, s in statuses(res) if s not in ("success", "cached")}
            if res.get("status") != "success":
                notes.append("warm-up of %s ended %r (exit %d); failed jobs are not cached. stderr tail:\n%s"
                             % (title, res.get("status"), res["_exit"], tail(err, 15)))
        for r in range(args.runs):
            parts = []
            for key in args.pipelines:
                title, extra = PIPELINES[key]
                os.sync()
                time.sleep(0.2)
                dt, res, err = run_shipway(args.shipway, extra, repo, envs[key], args.timeout,
                                           "rerun %d %s" % (r + 1, title))
                per[key]["samples"].append(dt)
                per[key]["results"].append({"seconds": dt, "status": res.get("status"), "exit": res["_exit"],
                                            "run": res.get("run"), "jobs": statuses(res)})
                c = count_by_status(res)
                for n, s in statuses(res):
                    if s != "cached" and n not in per[key].setdefault("excerpts", {}):
                        per[key]["excerpts"][n] = ["rerun %d, status %s, run %s:" % (r + 1, s, res.get("run"))] \
                            + log_excerpt(repo, res.get("run"), n)
                parts.append("%s %s (%d/%d cached)" % (key, fmt_s(dt), c.get("cached", 0), len(res["jobs"])))
            eprint("  round %d/%d: %s" % (r + 1, args.runs, ", ".join(parts)))
    except BenchError as e:
        eprint("\n*** BENCHMARK ABORTED ***\n%s" % e)
        return 1
    load_end = os.getloadavg()

    # ---------------------------------------------------------------- report
    report = []

    def say(s=""):
        report.append(s)

    say("shipway reruns, nothing changed: %d interleaved round(s) after 1 warm-up run each, %s CPUs"
        % (args.runs, os.cpu_count()))
    say("load average %.2f %.2f %.2f at start, %.2f %.2f %.2f at end" % (tuple(load_start) + tuple(load_end)))
    say("shipway: %s (%s)%s" % (meta["shipway"], args.shipway,
                                "; built from a working tree with uncommitted changes" if src_dirty else ""))
    say("repo: clean git clone of %s at %s; CARGO_TARGET_DIR = %s"
        % (args.source, head, "one temp dir shared by all runs of both pipelines" if args.target_dirs == "shared"
           else "one temp dir per pipeline (shared by its warm-up and reruns)"))
    say()
    say("warm-up (untimed):")
    for key in args.pipelines:
        w = per[key]["warm"]
        say("  %-26s %-8s %9s  %s" % (PIPELINES[key][0], w["status"], fmt_s(w["seconds"]),
                                      ", ".join("%s=%s" % j for j in w["jobs"])))
    say()
    rows = []
    summary = {}
    for key in args.pipelines:
        xs = per[key]["samples"]
        total = sum(len(x["jobs"]) for x in per[key]["results"])
        cached = sum(1 for x in per[key]["results"] for _, s in x["jobs"] if s == "cached")
        share = cached / total if total else 0.0
        worst = min((sum(1 for _, s in x["jobs"] if s == "cached") / len(x["jobs"])) for x in per[key]["results"])
        misses = {}
        for x in per[key]["results"]:
            for n, s in x["jobs"]:
                if s != "cached":
                    misses.setdefault((n, s), 0)
                    misses[(n, s)] += 1
        summary[key] = {"median_s": med(xs), "min_s": min(xs), "max_s": max(xs), "samples_s": xs,
                        "jobs_per_run": len(per[key]["results"][0]["jobs"]),
                        "cached_share": share, "worst_run_cached_share": worst,
                        "not_cached": ["%s (%s) in %d/%d reruns" % (n, s, k, len(xs))
                                       for (n, s), k in sorted(misses.items())]}
        rows.append((PIPELINES[key][0], len(per[key]["results"][0]["jobs"]), med(xs), min(xs), max(xs),
                     share, worst))
    w0 = max(len(r[0]) for r in rows)
    say("%-*s  %4s  %10s  %10s  %10s  %8s  %10s" % (w0, "pipeline", "jobs", "median", "min", "max",
                                                    "cached", "worst run"))
    for r in rows:
        say("%-*s  %4d  %10s  %10s  %10s  %7.1f%%  %9.1f%%" % (w0, r[0], r[1], fmt_s(r[2]), fmt_s(r[3]),
                                                              fmt_s(r[4]), r[5] * 100, r[6] * 100))
    say()
    say("per-rerun wall time (s), in round order:")
    for key in args.pipelines:
        say("  %-*s  %s" % (w0, PIPELINES[key][0], " ".join("%.3f" % x for x in per[key]["samples"])))
    any_miss = [k for k in args.pipelines if summary[k]["not_cached"]]
    if any_miss:
        say()
        say("jobs not reported \"cached\" on a rerun:")
        for k in any_miss:
            for m in summary[k]["not_cached"]:
                say("  %s: %s" % (PIPELINES[k][0], m))
            for n, lines in per[k].get("excerpts", {}).items():
                say("  log excerpt, %s job %s (first rerun that ran it):" % (PIPELINES[k][0], n))
                for ln in lines:
                    say("    " + ln)
    say()
    say("goals (>= %.0f%% of jobs cached; rerun < %.0f ms, median wall time of the process):"
        % (GOAL_CACHED_SHARE * 100, GOAL_WALL_S * 1000))
    for key in args.pipelines:
        s = summary[key]
        say("  %-*s  cached %5.1f%% %-7s  median %9s %s"
            % (w0, PIPELINES[key][0], s["cached_share"] * 100,
               "MET" if s["cached_share"] >= GOAL_CACHED_SHARE else "NOT MET", fmt_s(s["median_s"]),
               "MET" if s["median_s"] < GOAL_WALL_S else "NOT MET"))
    if args.runs < 5:
        notes.append("only %d timed round(s): a trial, not a valid result (use >= 5)" % args.runs)
    if notes:
        say()
        say("notes:")
        for n in notes:
            say("  - " + n)

    result = {"meta": dict(meta, loadavg_end=load_end), "notes": notes, "summary": summary,
              "warm": {k: per[k]["warm"] for k in args.pipelines},
              "reruns": {k: per[k]["results"] for k in args.pipelines}}
    out = args.out or os.path.join(tempfile.gettempdir(), "rerun_cached-%s.json" % time.strftime("%Y%m%d-%H%M%S"))
    with open(out, "w", encoding="utf-8") as f:
        json.dump(result, f, indent=2)
        f.write("\n")
    say()
    say("raw samples: %s" % out)
    text = "\n".join(report) + "\n"
    print()
    sys.stdout.write(text)
    if not args.no_save:
        os.makedirs(RESULTS_DIR, exist_ok=True)
        path = os.path.join(RESULTS_DIR, "rerun_cached-%s%s.txt" % (
            "" if args.target_dirs == "shared" else "per-pipeline-", time.strftime("%Y-%m-%d")))
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        print("report saved: %s" % os.path.relpath(path, REPO_ROOT))
    return 0


if __name__ == "__main__":
    sys.exit(main())
