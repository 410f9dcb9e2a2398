#!/usr/bin/env python3
"""Rerun benchmark: shipway on its own pipelines, nothing changed since the last run.

Usage (from anywhere; Python 3 standard library only, plus benchlib.py from this
script's directory):

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
import json
import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import (  # noqa: E402  (benchlib.py sits next to this script)
    BenchError, REPO_ROOT, RUSTUP_VARS, Report, STATS_HEADER, TempDir, add_no_build_arg, add_no_save_arg,
    add_out_arg, add_shipway_arg, child_env, choice_list, eprint, fmt_load, fmt_s, fmt_stats, job_logs, med,
    note_if_few_runs, print_abort, ready_shipway, require_tools, settle, strip_ansi, tail, timed,
    version_of, warn_if_few_runs)


PIPELINES = {
    # key: (title, extra args for `shipway run --json`)
    "gitlab": (".gitlab-ci.yml", []),
    "github": (".github/workflows/ci.yml", [".github/workflows/ci.yml"]),
}

GOAL_CACHED_SHARE = 0.95
GOAL_WALL_S = 0.200


def run_shipway(shipway, extra, repo, env, timeout, label):
    """One `shipway run --json`: (seconds, parsed result, stderr)."""
    cmd = [shipway, "run", "--json"] + extra
    try:
        dt, rc, out, err = timed(cmd, repo, env, timeout)
    except subprocess.TimeoutExpired:
        raise BenchError("%s: timed out after %ss: %s" % (label, timeout, " ".join(cmd)))
    try:
        res = json.loads(out)
    except ValueError:
        raise BenchError("%s: shipway exited %d and printed no JSON result\n--- stdout\n%s\n--- stderr (tail)\n%s"
                         % (label, rc, tail(out, 30), tail(err, 30)))
    if not isinstance(res.get("jobs"), list) or not res["jobs"]:
        raise BenchError("%s: the JSON result lists no jobs: %s" % (label, out[:500]))
    res["_exit"] = rc
    return dt, res, err


def statuses(res):
    return [(j.get("name"), j.get("status")) for j in res["jobs"]]


def log_excerpt(repo, run_id, job, n_match=12, n_tail=6):
    """Panic / FAILED / error lines and the tail of a job's log in run `run_id`."""
    logs = job_logs(repo, run_id, "*-%s.log" % job)
    if not logs:
        return ["(no log for job %s in .shipway/runs/%s/logs)" % (job, run_id)]
    with open(logs[0], encoding="utf-8", errors="replace") as f:
        lines = [strip_ansi(ln.rstrip()) for ln in f]
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
    add_shipway_arg(ap)
    add_no_build_arg(ap)
    ap.add_argument("--source", default=REPO_ROOT, help="repository to clone (default: this one)")
    add_out_arg(ap)
    add_no_save_arg(ap, "rerun_cached")
    ap.add_argument("--target-dirs", choices=["shared", "per-pipeline"], default="shared",
                    help="one temp CARGO_TARGET_DIR for all runs of both pipelines (default), "
                         "or one per pipeline")
    ap.add_argument("--warm-timeout", type=float, default=3600, help="seconds for each warm-up run (default 3600)")
    ap.add_argument("--timeout", type=float, default=900, help="seconds per timed rerun (default 900)")
    ap.add_argument("--keep", action="store_true", help="keep the temp dir (clone and cargo target dir)")
    a = ap.parse_args()
    a.pipelines = choice_list(ap, "--pipelines", a.pipelines, list(PIPELINES))
    if a.runs < 1:
        ap.error("--runs >= 1")
    return a


def main():
    args = parse_args()
    args.shipway = os.path.abspath(args.shipway)
    if not require_tools(("git", "cargo")):
        return 2
    if not ready_shipway(args.shipway, build=not args.no_build, say_time=True):
        return 2
    warn_if_few_runs(args.runs)
    with TempDir("shipway-rerun-", args.keep) as tmp_dir:
        return bench(args, tmp_dir)


def bench(args, tmp_dir):
    tmp, home = tmp_dir.path, tmp_dir.home
    repo = os.path.join(tmp, "repo")
    envs = {}
    for key in args.pipelines:
        td = os.path.join(tmp, "cargo-target" if args.target_dirs == "shared" else "cargo-target-" + key)
        os.makedirs(td, exist_ok=True)
        envs[key] = child_env(home, RUSTUP_VARS, CARGO_TARGET_DIR=td, FORCE_COLOR=None)
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
                settle()
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
        print_abort(e, why=None)
        return 1
    load_end = os.getloadavg()

    # ---------------------------------------------------------------- report
    report = Report()
    say = report.say

    say("shipway reruns, nothing changed: %d interleaved round(s) after 1 warm-up run each, %s CPUs"
        % (args.runs, os.cpu_count()))
    say(fmt_load(load_start, load_end))
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
        rows.append((PIPELINES[key][0], len(per[key]["results"][0]["jobs"]), xs, share, worst))
    w0 = max(len(r[0]) for r in rows)
    say("%-*s  %4s  %s  %8s  %10s" % (w0, "pipeline", "jobs", STATS_HEADER, "cached", "worst run"))
    for r in rows:
        say("%-*s  %4d  %s  %7.1f%%  %9.1f%%" % (w0, r[0], r[1], fmt_stats(r[2]), r[3] * 100, r[4] * 100))
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
    note_if_few_runs(args.runs, notes)
    report.say_block("notes:", notes, prefix="  - ")

    result = {"meta": dict(meta, loadavg_end=load_end), "notes": notes, "summary": summary,
              "warm": {k: per[k]["warm"] for k in args.pipelines},
              "reruns": {k: per[k]["results"] for k in args.pipelines}}
    save = "rerun_cached" if args.target_dirs == "shared" else "rerun_cached-per-pipeline"
    report.publish(result, args.out, "rerun_cached", None if args.no_save else save)
    return 0


if __name__ == "__main__":
    sys.exit(main())
