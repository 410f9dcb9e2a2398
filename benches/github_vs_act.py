#!/usr/bin/env python3
"""Wall-time benchmark: shipway vs act (nektos/act) on the same GitHub Actions workflows.

Usage (from anywhere; Python 3 standard library only, plus benchlib.py from this
script's directory):

    cargo build --release
    benches/github_vs_act.py [--runs 7] [--out FILE] [--save] [--workloads a,b,c]
                             [--tools shipway,act] [--seed 42] [--offline]

Run `benches/github_vs_act.py --help` for every option.  Exit status: 0 =
benchmark completed (goal misses are reported, not fatal); 1 = a tool failed
or a run could not be validated (the numbers would be meaningless, so the
script aborts loudly); 2 = usage error or a missing tool/binary.

`--tools act` (or `--tools shipway`) runs one side only: useful to check the
act half, or shipway alone, without the other.  No ratios or goal then.

Workloads (each in its own fresh temporary git repo, made once per workload
and reused by every run; the workflow is .github/workflows/<file>):

  (a) two-jobs.yml: 2 jobs, `build` then `test` (`needs: build`), one
      `run: echo ...` step each;
  (b) matrix.yml: one job `test` with a 3x3 matrix (os: [a, b, c] x
      v: [1, 2, 3]) = 9 jobs, `runs-on: ubuntu-latest`, one step
      `echo "os=${{ matrix.os }} v=${{ matrix.v }}"`;
  (c) dag.yml: a generated 100-job DAG of `run: "true"` jobs: job i needs
      0-3 distinct random jobs among 0..i-1 (random.Random(--seed), the same
      draw as the GitLab DAG of benches/gitlab_vs_gcl.py), written as explicit
      `needs:` lists (`needs: []` for roots).

Every job has `runs-on: ubuntu-latest` and every workflow `on: push`.  Every
repo has branch `main`, one commit, and a fake `origin` remote
(https://github.com/shipway/bench.git, never contacted) with `origin/main` =
HEAD, so act derives github.repository = shipway/bench.  A committed
.gitignore lists .shipway/.

Method (as in gitlab_vs_gcl.py):

  * COLD-STATE comparison: before every single run the repo's `.shipway/`
    (shipway's job cache and run history) and act's `$HOME/.cache/act` and
    `$HOME/.cache/actcache` (action cache, host workspaces, cache server
    data) are deleted.  The OS page cache stays warm: --warmup rounds
    (default 1, not recorded) run every variant of EVERY workload once
    before any timed round, which also validates every workload up front.
  * INTERLEAVED: each round runs shipway then act once on a workload before
    the next round starts, so slow drift of the machine's load hits both
    tools alike.  --runs N rounds (default 7; fewer than 5 is flagged as not
    a valid result).
  * Before every timed run: state deleted, os.sync(), a 0.2 s pause.
  * Timing: time.perf_counter() around subprocess.run() of the whole command
    (process start to exit, stdout/stderr captured through pipes, stdin
    /dev/null).  The table shows median, min and max; ratios are act median
    / shipway median (> 1 means shipway is faster).
  * Commands (both at their default parallelism):
      shipway:  shipway run .github/workflows/<file> --json
                (--parallel default: number of CPUs; a true DAG: a job starts
                as soon as its needs are done)
      act:      act -P ubuntu-latest=-self-hosted -W .github/workflows/<file>
                    --pull=false --action-offline-mode --no-cache-server push
                i.e. host mode (no Docker: `-self-hosted` runs the steps on
                this machine, each job in its own copy of the repo under
                $HOME/.cache/act), plus --act-flags (default shown) that keep
                act offline and fast: no image pull, no action fetch, no
                cache server (act's cache server needs an outbound route to
                pick its address: with no network, act exits 1 with `listen
                tcp: lookup <nil>: no such host` unless --no-cache-server).
                act's parallelism: the workflow is cut into levels
                (topological stages of `needs`); the levels run one after
                the other, the jobs of a level at most --concurrent-jobs at
                once (default: number of CPUs), a matrix at most 4 at once
                (max-parallel default).  So on the DAG a level waits for the
                slowest job of the previous level.
  * Validation: every run must exit 0.  shipway's --json result must have
    "status": "success" and exactly 2 / 9 / 100 jobs, every one "success";
    for (a) and (c) the job names must be the workflow's job ids, for (b) the
    9 names must be distinct.  act's output must have exactly 2 / 9 / 100
    distinct `[<workflow>/<job>] 🏁  Job succeeded` lines (the job ids for
    (a) and (c), test-1 .. test-9 for (b)), no `Job failed` line, and for (b)
    the step output of all 9 os/v combinations.  Anything else aborts the
    benchmark with the tool's output.
  * Child environment (same for both tools): PATH, locale, TMPDIR, plus
    CARGO_HOME / RUSTUP_HOME / PYENV_ROOT, HOME = a scratch dir (act reads
    ~/.actrc and caches under ~/.cache), FORCE_COLOR=0, NO_COLOR=1,
    TERM=dumb, and ACT_DISABLE_VERSION_CHECK=1 (else act fetches
    https://api.nektosact.com/notices at start-up and may wait up to 1 s for
    it at exit).  No DOCKER_HOST: act warns `Couldn't get a valid docker
    connection` on stderr, harmless in host mode.
  * --offline runs both tools in a new network namespace (`unshare --net`,
    with `--user --map-root-user` when not root): only a down loopback, so
    any network access fails.  Same wrapper for both tools.

Goal printed: (c) shipway >= 10x faster than act on the 100-job DAG (act
median / shipway median).

The JSON file (--out; default: a timestamped file in the temp dir) holds the
raw samples in seconds, per workload and tool, the medians, ratios, tool
versions, commands, CPU count and load averages.  --save also writes the
printed report to benches/results/github_vs_act-<YYYY-MM-DD>.txt (both tools
only).

The machine has 2 cores and is often busy: compare ratios from the same
interleaved run, not absolute times across runs.
"""

import argparse
import os
import re
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import (  # noqa: E402  (benchlib.py sits next to this script)
    BenchError, GITHUB_ORIGIN, RUSTUP_VARS, Report, STATS_HEADER, TempDir, Variant, add_out_arg,
    add_shipway_arg, child_env, choice_list, dag_depths, eprint, failer, fmt_load, fmt_s, fmt_stats,
    init_repo, med, note_if_few_runs, print_abort, random_dag, require_shipway, require_tools, run_rounds,
    shipway_result, strip_ansi, version_of, warn_if_few_runs)

DEFAULT_ACT_FLAGS = "--pull=false --action-offline-mode --no-cache-server"
EXPECTED_ACT_VERSION = "0.2.89"
GOAL_DAG_RATIO = 10.0

# act's end-of-job line, e.g. "[dag/job-007] 🏁  Job succeeded" (the prefix
# is padded to the longest job label, so strip it).
ACT_DONE_RE = re.compile(r"^\[([^\]]+)\]\s+\U0001F3C1\s+Job (succeeded|failed)\s*$")
# matrix step output, e.g. "[matrix/test-3]   | os=a v=3"
ACT_MATRIX_RE = re.compile(r"^\[[^\]]+\]\s+\|\s+os=(\S+) v=(\S+)\s*$")

MATRIX_OS = ["a", "b", "c"]
MATRIX_V = ["1", "2", "3"]


# --------------------------------------------------------------------------
# state


# Appended to every repo's committed .gitignore.
IGNORE = ("/.shipway/",)


def clean_state(repo, home):
    for d in (os.path.join(repo, ".shipway"),
              os.path.join(home, ".cache", "act"),
              os.path.join(home, ".cache", "actcache")):
        shutil.rmtree(d, ignore_errors=True)


# --------------------------------------------------------------------------
# workloads


TWO_JOBS_YAML = """\
name: two-jobs
on: push
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - run: echo building
  test:
    needs: build
    runs-on: ubuntu-latest
    steps:
      - run: echo testing
"""

MATRIX_YAML = """\
name: matrix
on: push
jobs:
  test:
    runs-on: ubuntu-latest
    strategy:
      matrix:
        os: [%s]
        v: [%s]
    steps:
      - run: echo "os=${{ matrix.os }} v=${{ matrix.v }}"
""" % (", ".join(MATRIX_OS), ", ".join(MATRIX_V))


def dag_yaml(jobs):
    out = ["name: dag", "on: push", "jobs:"]
    for name, needs in jobs:
        out.append("  %s:" % name)
        out.append("    runs-on: ubuntu-latest")
        out.append("    needs: [%s]" % ", ".join(needs))
        out.append("    steps:")
        out.append("      - run: \"true\"")
    return "\n".join(out) + "\n"


def dag_levels(jobs):
    """Sizes of the topological levels (act runs them one after the other)."""
    depth = dag_depths(jobs)
    sizes = [0] * max(depth.values())
    for d in depth.values():
        sizes[d - 1] += 1
    return sizes


# --------------------------------------------------------------------------
# running and validating


def check_shipway(label, rc, out, err, exp):
    fail = failer(label, out, err, out_lines=20)
    res = shipway_result(rc, out, fail)
    jobs = res.get("jobs")
    if not isinstance(jobs, list):
        fail("no `jobs` list in the JSON result")
    names = [j.get("name") for j in jobs]
    if len(jobs) != exp["count"]:
        fail("%d jobs in the JSON result, expected %d: %s" % (len(jobs), exp["count"], names[:12]))
    bad = [(j.get("name"), j.get("status")) for j in jobs if j.get("status") != "success"]
    if bad:
        fail("jobs not successful: %s" % bad[:10])
    if len(set(names)) != len(names):
        fail("duplicate job names: %s" % sorted(n for n in set(names) if names.count(n) > 1)[:10])
    if exp["names"] is not None and set(names) != set(exp["names"]):
        fail("job names differ from the workflow's job ids: unexpected %s, missing %s"
             % (sorted(set(names) - set(exp["names"]))[:5], sorted(set(exp["names"]) - set(names))[:5]))
    return len(jobs)


def check_act(label, rc, out, err, exp):
    fail = failer(label, out, err)
    if rc != 0:
        fail("act exited %d" % rc)
    ok, failed, combos = [], [], set()
    for line in strip_ansi(out).splitlines():
        m = ACT_DONE_RE.match(line)
        if m:
            (ok if m.group(2) == "succeeded" else failed).append(m.group(1).strip())
            continue
        m = ACT_MATRIX_RE.match(line)
        if m:
            combos.add((m.group(1), m.group(2)))
    if failed:
        fail("`Job failed` for %s" % failed[:5])
    if len(ok) != len(set(ok)):
        fail("a job reported success twice: %s" % sorted(x for x in set(ok) if ok.count(x) > 1)[:5])
    want = set(exp["act_labels"])
    if set(ok) != want:
        fail("%d `Job succeeded` line(s), expected %d; missing %s, unexpected %s"
             % (len(ok), len(want), sorted(want - set(ok))[:5], sorted(set(ok) - want)[:5]))
    if exp.get("combos") is not None and combos != exp["combos"]:
        fail("matrix step output: got %s, expected all of %s" % (sorted(combos), sorted(exp["combos"])))
    return len(ok)


CHECKS = {"shipway": check_shipway, "act": check_act}


def offline_prefix(env):
    """Command prefix that runs a tool in a fresh network namespace."""
    if shutil.which("unshare") is None:
        raise BenchError("--offline needs `unshare` (util-linux)")
    cands = [["unshare", "--net"]] if os.geteuid() == 0 else []
    cands.append(["unshare", "--user", "--map-root-user", "--net"])
    for pre in cands:
        p = subprocess.run(pre + ["true"], env=env, stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        if p.returncode == 0:
            return pre
    raise BenchError("--offline: cannot create a network namespace (%s): %s"
                     % (" ".join(cands[-1]), p.stderr.decode(errors="replace").strip()))


# --------------------------------------------------------------------------


def parse_args():
    ap = argparse.ArgumentParser(
        description="Interleaved wall-time benchmark of shipway vs act on GitHub Actions workflows "
                    "(cold state). See the module docstring for the method.")
    ap.add_argument("--runs", type=int, default=7, help="timed rounds per workload (default 7; >= 5 for a valid result)")
    ap.add_argument("--warmup", type=int, default=1, help="untimed rounds first (default 1)")
    add_out_arg(ap)
    ap.add_argument("--save", action="store_true",
                    help="also write the printed report to benches/results/github_vs_act-<date>.txt "
                         "(only with both tools)")
    ap.add_argument("--workloads", default="a,b,c", help="comma list of a,b,c (default all)")
    ap.add_argument("--tools", default="shipway,act",
                    help="comma list of shipway,act (default both; one alone: no ratios, no goal)")
    add_shipway_arg(ap)
    ap.add_argument("--act", default=os.environ.get("SHIPWAY_ACT_BIN", "act"),
                    help="act command (default $SHIPWAY_ACT_BIN or act)")
    ap.add_argument("--act-flags", default=DEFAULT_ACT_FLAGS,
                    help="extra act flags, space-separated (default %r; '' = stock act)" % DEFAULT_ACT_FLAGS)
    ap.add_argument("--dag-jobs", type=int, default=100, help="jobs in the generated DAG (default 100)")
    ap.add_argument("--seed", type=int, default=42, help="DAG random seed (default 42)")
    ap.add_argument("--offline", action="store_true",
                    help="run both tools in a new network namespace (unshare --net): proves neither needs the network")
    ap.add_argument("--timeout", type=float, default=600, help="seconds per single run (default 600)")
    ap.add_argument("--keep", action="store_true", help="keep the temp repos")
    a = ap.parse_args()
    a.workloads = choice_list(ap, "--workloads", a.workloads, ("a", "b", "c"))
    a.tools = choice_list(ap, "--tools", a.tools, ("shipway", "act"))
    a.tools = [t for t in ("shipway", "act") if t in a.tools]  # fixed order: shipway first
    if a.runs < 1 or a.dag_jobs < 2 or a.warmup < 0:
        ap.error("--runs >= 1, --dag-jobs >= 2, --warmup >= 0")
    if a.save and a.tools != ["shipway", "act"]:
        ap.error("--save records a comparison: it needs both tools")
    return a


def main():
    args = parse_args()
    if "shipway" in args.tools and not require_shipway(args.shipway, "; --tools act runs the act half alone"):
        return 2
    if not require_tools(["git", "bash"] + ([args.act.split()[0]] if "act" in args.tools else [])):
        return 2
    warn_if_few_runs(args.runs)

    with TempDir("shipway-bench-gh-", args.keep) as tmp_dir:
        return bench(args, tmp_dir)


def bench(args, tmp_dir):
    tmp, home = tmp_dir.path, tmp_dir.home
    env = child_env(home, RUSTUP_VARS, ACT_DISABLE_VERSION_CHECK="1")
    ncpu = os.cpu_count() or 2
    load_start = os.getloadavg()
    act_base = args.act.split()
    act_flags = args.act_flags.split()
    meta = {
        "cpu_count": ncpu,
        "loadavg_start": load_start,
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "runs": args.runs, "warmup": args.warmup,
        "tools": args.tools,
        "offline": args.offline,
        "argv": sys.argv,
        "method": "cold state (.shipway/, $HOME/.cache/act and $HOME/.cache/actcache deleted before every run); "
                  "interleaved rounds; perf_counter wall time of the whole process; default parallelism for both",
    }
    notes = []
    workloads = []
    try:
        prefix = offline_prefix(env) if args.offline else []
        if "shipway" in args.tools:
            meta["shipway"] = version_of([args.shipway, "--version"], env)
        if "act" in args.tools:
            meta["act"] = version_of(act_base + ["--version"], env)
            if EXPECTED_ACT_VERSION not in meta["act"]:
                notes.append("act is %r, not %s: its output format (checked by the validation) may differ"
                             % (meta["act"], EXPECTED_ACT_VERSION))
                eprint("WARNING: " + notes[-1])
        meta["bash"] = version_of(["bash", "--version"], env)
        eprint("temp dir %s; %s; %d CPUs; load %.2f %.2f %.2f%s"
               % ((tmp, "; ".join("%s: %s" % (t, meta[t]) for t in args.tools), ncpu) + tuple(load_start)
                  + (" ; offline (%s)" % " ".join(prefix) if prefix else "",)))

        def variants(wf, exp):
            rel = ".github/workflows/" + wf
            vs = []
            if "shipway" in args.tools:
                vs.append(Variant("shipway", "shipway", prefix + [args.shipway, "run", rel, "--json"], exp))
            if "act" in args.tools:
                vs.append(Variant("act", "act", prefix + act_base + ["-P", "ubuntu-latest=-self-hosted", "-W", rel]
                                  + act_flags + ["push"], exp))
            return vs

        def new_repo(key, wf, text, message):
            repo = os.path.join(tmp, "repo-" + key)
            os.makedirs(os.path.join(repo, ".github", "workflows"))
            with open(os.path.join(repo, ".github", "workflows", wf), "w", encoding="utf-8") as f:
                f.write(text)
            init_repo(repo, env, message, GITHUB_ORIGIN, IGNORE)
            return repo

        if "a" in args.workloads:
            wf = "two-jobs.yml"
            names = ["build", "test"]
            exp = {"count": 2, "names": names, "act_labels": ["two-jobs/" + n for n in names]}
            workloads.append({"key": "a", "title": "(a) 2 jobs, build -> test", "jobs": 2, "workflow": wf,
                              "repo": new_repo("a", wf, TWO_JOBS_YAML, "2-job workflow"),
                              "variants": variants(wf, exp)})

        if "b" in args.workloads:
            wf = "matrix.yml"
            n = len(MATRIX_OS) * len(MATRIX_V)
            exp = {"count": n, "names": None, "act_labels": ["matrix/test-%d" % (i + 1) for i in range(n)],
                   "combos": {(o, v) for o in MATRIX_OS for v in MATRIX_V}}
            workloads.append({"key": "b", "title": "(b) 3x3 matrix, %d jobs" % n, "jobs": n, "workflow": wf,
                              "repo": new_repo("b", wf, MATRIX_YAML, "3x3 matrix workflow"),
                              "variants": variants(wf, exp)})

        if "c" in args.workloads:
            wf = "dag.yml"
            jobs = random_dag(args.dag_jobs, args.seed)
            names = [j[0] for j in jobs]
            levels = dag_levels(jobs)
            n_edges = sum(len(j[1]) for j in jobs)
            eprint("DAG: %d jobs, %d needs edges, %d levels (longest chain), level sizes %s (seed %d)"
                   % (len(jobs), n_edges, len(levels), levels, args.seed))
            exp = {"count": len(jobs), "names": names, "act_labels": ["dag/" + n for n in names]}
            workloads.append({"key": "c", "title": "(c) %d-job DAG" % len(jobs), "jobs": len(jobs), "workflow": wf,
                              "dag": {"seed": args.seed, "edges": n_edges, "levels": len(levels),
                                      "level_sizes": levels},
                              "repo": new_repo("c", wf, dag_yaml(jobs), "generated DAG"),
                              "variants": variants(wf, exp)})

        def rounds(wl, runs, warm):
            run_rounds(wl, runs, warm, env, args.timeout, lambda repo: clean_state(repo, home), CHECKS,
                       stdin=subprocess.DEVNULL)

        if args.warmup:
            eprint("warm-up (untimed; validates every workload): %d round(s) each" % args.warmup)
            for wl in workloads:
                rounds(wl, args.warmup, True)
        for wl in workloads:
            eprint("workload %s: %s, %d tool(s), %d timed round(s)"
                   % (wl["key"], wl["title"], len(wl["variants"]), args.runs))
            rounds(wl, args.runs, False)
    except BenchError as e:
        print_abort(e)
        tmp_dir.keep = True  # for inspection
        return 1
    load_end = os.getloadavg()

    # ---------------------------------------------------------------- report
    report = Report()
    say = report.say
    result = {"meta": dict(meta, loadavg_end=load_end), "notes": notes, "workloads": {}}
    rows = []
    for wl in workloads:
        entry = {"title": wl["title"], "jobs": wl["jobs"], "workflow": wl["workflow"], "variants": {}}
        if "dag" in wl:
            entry["dag"] = wl["dag"]
        for v in wl["variants"]:
            entry["variants"][v.name] = {"cmd": v.cmd, "samples_s": v.samples, "median_s": med(v.samples),
                                         "jobs_reported": v.jobs_seen}
            rows.append((wl["title"], v.name, v.samples, med(v.samples) / wl["jobs"]))
        result["workloads"][wl["key"]] = entry

    say("%s: cold state, interleaved, %d timed round(s) (+%d warm-up), %d CPUs%s"
        % (" vs ".join(args.tools), args.runs, args.warmup, ncpu, ", offline (no network)" if args.offline else ""))
    say(fmt_load(load_start, load_end))
    for t in args.tools:
        say("%s: %s" % (t, meta[t]))
    if "act" in args.tools:
        say("act: host mode (-P ubuntu-latest=-self-hosted), flags: %s" % (" ".join(act_flags) or "(none)"))
    say("parallelism (defaults): shipway --parallel = CPUs, a true DAG; act: levels of `needs` one after "
        "the other, <= %d jobs at once per level (--concurrent-jobs), a matrix <= 4 at once" % ncpu)
    say("")
    w0 = max(len(r[0]) for r in rows) if rows else 10
    say("%-*s  %-8s  %s  %10s" % (w0, "workload", "tool", STATS_HEADER, "median/job"))
    for r in rows:
        say("%-*s  %-8s  %s  %10s" % (w0, r[0], r[1], fmt_stats(r[2]), fmt_s(r[3])))

    ratios = {}
    goal_lines = []
    if args.tools == ["shipway", "act"]:
        say("")
        say("ratios (act median / shipway median; > 1 means shipway is faster):")
        for wl in workloads:
            by = {v.name: med(v.samples) for v in wl["variants"]}
            ratio = by["act"] / by["shipway"] if by["shipway"] else float("inf")
            ratios[wl["key"]] = ratio
            say("  %-*s  %8.1fx   (act %s / shipway %s)" % (w0, wl["title"], ratio, fmt_s(by["act"]),
                                                            fmt_s(by["shipway"])))
            if wl["key"] == "c":
                met = ratio >= GOAL_DAG_RATIO
                goal_lines.append("(c) shipway >= %gx faster than act on the %d-job DAG: %.1fx (act %s / shipway %s)  %s"
                                  % (GOAL_DAG_RATIO, wl["jobs"], ratio, fmt_s(by["act"]), fmt_s(by["shipway"]),
                                     "MET" if met else "NOT MET"))
                result["goal_dag"] = {"ratio": ratio, "goal": GOAL_DAG_RATIO, "met": met}
    elif "c" in args.workloads:
        goal_lines.append("(c) shipway >= %gx faster than act: not evaluated (only %s ran)"
                          % (GOAL_DAG_RATIO, args.tools[0]))
    result["ratios_act_over_shipway"] = ratios
    report.say_block("goals:", goal_lines)
    note_if_few_runs(args.runs, notes)
    report.say_block("notes:", notes, prefix="  - ")
    report.publish(result, args.out, "github_vs_act", "github_vs_act" if args.save else None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
