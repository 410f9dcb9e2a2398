#!/usr/bin/env python3
"""Cache restore benchmark: a 1 GiB `target/`-like tree, restored three ways.

Usage (from anywhere; Python 3 standard library only, plus benchlib.py from this
script's directory):

    benches/cache_restore.py [--runs 5] [--no-build] [--out FILE] [--no-save]
                             [--size-mb 1024] [--files 6000] [--seed 7]

Run `benches/cache_restore.py --help` for every option.  Exit status: 0 =
benchmark completed and shipway's cache behaved; 1 = a run failed, or
shipway's cache misbehaved (not restored, copied instead of moved, an
error): the exact log lines are printed, as a product bug to fix; 2 = usage
error or a missing tool/binary.

The tree: --files (default 6,000) files of 4 KiB to 2 MiB (log-uniform
sizes, skewed towards small files) in about 360 nested directories shaped
like cargo's target/ (debug|release / deps, build/<crate>-<hash>/out,
.fingerprint/<crate>-<hash>, incremental/<crate>-<hash>/s-<id>), plus four
large files (96, 64, 48 and 32 MiB: binaries and rlibs); --size-mb in total
(default 1024 = 1 GiB).  Content: slices of a 64 MiB seeded random pool at
random offsets, each file with its own random 16-byte head: incompressible
for zstd (ratio about 1.0), fully deterministic (--seed).  The generator is
`gen_tree.py`, written into each temp repo and run by the job itself.

The pipeline (one job, the same file for shipway and gitlab-ci-local):

    build:
      cache: {key: big, paths: [target/]}     # policy pull-push (default)
      script: if target/ exists: `du -s target`; else run gen_tree.py

Variants, each timed --runs times (default 5), INTERLEAVED (one of each
per round, in this order), after an untimed populate run per tool:

  (a) shipway: `shipway run --json --no-cache` (--no-cache, or the unchanged
      job would be replayed from the job store and nothing restored).  The
      restore time is the "Restored cache `big` by moving it in (F files,
      M MB in N ms)" line of the job log (.shipway/runs/<id>/logs/*build.log);
      the whole-run wall time is timed around the process.  Checked per run:
      exit 0, job "success", the job log has the "moving it in" line and a
      "Saved cache `big`" line and no cache WARNING/ERROR, the job saw
      target/ (the script's "restored" branch, du size), and the entry's
      data/target directory has the same inode after the run as before
      (moved in and out by rename, never copied).  Anything else is a
      product bug: its exact log lines are reported and the exit status
      is 1 (the other variants still run).
  (b) tar + zstd, as actions/cache does it: `tar -cf - target | zstd -T0 -3`
      once (untimed; size and time reported), then per run
      `zstd -d -c cache.tzst | tar -xf -` (bash, pipefail) into an empty
      dir, timed around the process.  The extracted tree is deleted after
      each run (untimed); the first extraction is checked (files, bytes).
  (c) gitlab-ci-local (gcl) 4.65.0, shell executor:
      `gitlab-ci-local --shell-executor-no-image --shell-isolation build`.
      Its state dir (.gitlab-ci-local/, which holds the cache) is kept
      between runs.  The restore time is gcl's own "imported cache 'big' in
      T" line; the whole-run wall time is timed around the process.  Checked
      per run: exit 0, PASS, the job saw target/.  How gcl implements caches
      is printed in the report (from its source, src/job.js).

Before every timed run: os.sync() and a 0.2 s pause (outside the timed
window), so one variant's dirty pages are not written back during
another's.  The page cache is left warm (the archive and both caches were
just written), which favours the copying variants (b) and (c), not
shipway's renames.

Ratios: tar+zstd restore / shipway restore, gcl restore / shipway restore
(medians), gcl whole run / shipway whole run, and tar+zstd restore /
shipway whole run.  shipway logs whole milliseconds, truncated (Duration::
as_millis): a logged "N ms" is N to N+1 ms, so the restore ratios are
printed as a range, from median / (N+1 ms) to median / N ms (open-ended
when N = 0).

Disk: about 5 GiB at the peak (shipway's entry, the archive, one extracted
tree, gcl's cache and build dir).  Everything is deleted at the end, also
after a failure (--keep keeps it).

The text report goes to benches/results/cache_restore-<YYYY-MM-DD>.txt
(--no-save skips it) and the raw samples to the --out JSON file (default:
a timestamped file in the temp dir).  The machine has 2 noisy cores: use
the medians and ratios of one interleaved run.
"""

import argparse
import glob
import json
import os
import re
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import (  # noqa: E402  (benchlib.py sits next to this script)
    BenchError, GCL_SHELL_FLAGS, GITLAB_ORIGIN, NODE_VARS, Report, STATS_HEADER, TempDir, add_gcl_arg,
    add_no_build_arg, add_no_save_arg, add_out_arg, add_shipway_arg, child_env, choice_list, eprint,
    fmt_load, fmt_s, fmt_stats, gcl_summary, init_repo, job_logs, med, note_if_few_runs, print_abort,
    ready_shipway, require_tools, settle, sh, strip_ansi, tail, timed, version_of, warn_if_few_runs)

# Time limit of each setup step: generating the tree, du, tar | zstd.
SETUP_TIMEOUT = 600

SW_RESTORED_RE = re.compile(
    r"Restored cache `big` by moving it in \((\d+) files, ([\d.]+) MB in (\d+) ms\)")
SW_SAVED_RE = re.compile(r"Saved cache `big` \((\d+) files, ([\d.]+) MB in (\d+) ms\)")
GCL_IMPORTED_RE = re.compile(r"imported cache 'big'\s+in\s+([\d.]+)\s*(h|min|s|ms|μs|us|ns)\b")
GCL_CREATED_RE = re.compile(r"cache created in '[^']*'\s+in\s+([\d.]+)\s*(h|min|s|ms|μs|us|ns)\b")
HIT_MARK = "CACHE-HIT target/ was restored"
MISS_MARK = "CACHE-MISS generating target/"
DU_RE = re.compile(r"(?:^|[\s>│|])(\d+)\s+target\s*$", re.M)
UNIT_S = {"h": 3600.0, "min": 60.0, "s": 1.0, "ms": 1e-3, "μs": 1e-6, "us": 1e-6, "ns": 1e-9}

GEN_TREE = r'''#!/usr/bin/env python3
"""Write a deterministic target/-like tree (written by benches/cache_restore.py)."""
import os
import random
import sys

SEED = %(seed)d
N_FILES = %(files)d
TOTAL = %(total)d
LARGE = [("release/shipway", 96 << 20), ("debug/shipway", 64 << 20),
         ("release/deps/libbig-5f1c0e2a9b7d3c41.rlib", 48 << 20),
         ("debug/deps/libbig-0a7e4d19c2b85f36.so", 32 << 20)]
MIN, MAX = 4 << 10, 2 << 20
POOL = 64 << 20


def sizes(rng, budget):
    us = [rng.random() for _ in range(N_FILES)]
    lo, hi = 0.05, 20.0  # skew exponent: bigger = more small files

    def total(p):
        return sum(int(MIN * (MAX / MIN) ** (u ** p)) for u in us)
    for _ in range(60):
        mid = (lo + hi) / 2
        if total(mid) > budget:
            lo = mid
        else:
            hi = mid
    return [int(MIN * (MAX / MIN) ** (u ** hi)) for u in us]


def dirs(rng):
    out = []
    for prof in ("debug", "release"):
        out += [prof + "/deps"] * 40
        for c in range(60):
            h = "%%016x" %% rng.getrandbits(64)
            name = "crate%%02d-%%s" %% (c, h)
            out.append("%%s/build/%%s/out" %% (prof, name))
            out.append("%%s/.fingerprint/%%s" %% (prof, name))
            out.append("%%s/incremental/%%s/s-%%s" %% (prof, name, h[:10]))
    return out


def main(root):
    rng = random.Random(SEED)
    pool = b"".join(rng.randbytes(4 << 20) for _ in range(POOL >> 22))
    pool2 = pool + pool[:MAX]

    def chunk(n):
        off = rng.randrange(POOL)
        return rng.randbytes(16) + pool2[off:off + n - 16]

    large = sum(s for _, s in LARGE)
    ds = dirs(rng)
    made = set()
    n = 0
    for i, size in enumerate(sizes(rng, TOTAL - large)):
        d = os.path.join(root, ds[rng.randrange(len(ds))])
        if d not in made:
            os.makedirs(d, exist_ok=True)
            made.add(d)
        with open(os.path.join(d, "f%%05d-%%08x.bin" %% (i, rng.getrandbits(32))), "wb") as f:
            f.write(chunk(size))
        n += size
    for rel, size in LARGE:
        p = os.path.join(root, rel)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "wb") as f:
            left = size
            while left:
                k = min(left, MAX)
                f.write(chunk(k))
                left -= k
        n += size
    print("generated %%s: %%d files, %%d bytes" %% (root, N_FILES + len(LARGE), n))


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "target")
'''

CI_YAML = """\
stages: [build]
build:
  stage: build
  cache:
    key: big
    paths: [target/]
  script:
    - if [ -d target ]; then echo "%(hit)s"; du -s target; else echo "%(miss)s"; python3 gen_tree.py target; du -s target; fi
""" % {"hit": HIT_MARK, "miss": MISS_MARK}


def make_repo(repo, env, gen_src):
    """A git repo with gen_tree.py and the pipeline, one commit, a fake origin (for gcl)."""
    os.makedirs(repo)
    with open(os.path.join(repo, "gen_tree.py"), "w", encoding="utf-8") as f:
        f.write(gen_src)
    with open(os.path.join(repo, ".gitlab-ci.yml"), "w", encoding="utf-8") as f:
        f.write(CI_YAML)
    with open(os.path.join(repo, ".gitignore"), "w", encoding="utf-8") as f:
        f.write("/.shipway/\n/.gitlab-ci-local/\n/target/\n")
    init_repo(repo, env, "cache restore bench", GITLAB_ORIGIN)


def tree_stats(root):
    files = size = 0
    for d, _, fs in os.walk(root):
        for f in fs:
            files += 1
            size += os.lstat(os.path.join(d, f)).st_size
    return files, size


def du_kb(text):
    m = DU_RE.findall(strip_ansi(text))
    return int(m[-1]) if m else None


# --------------------------------------------------------------------------
# shipway


def entry_target(repo):
    """The cache entry's data/target dir (one entry expected), or None."""
    hits = glob.glob(os.path.join(repo, ".shipway", "cache", "entries", "*", "data", "target"))
    return hits[0] if len(hits) == 1 else None


def shipway_log(repo, run_id):
    logs = job_logs(repo, run_id, "*build*.log")
    if not logs:
        return None, None
    with open(logs[-1], encoding="utf-8", errors="replace") as f:
        return logs[-1], strip_ansi(f.read())


def cache_lines(log):
    return [ln for ln in log.splitlines() if re.search(r"cache|CACHE-|\d+\s+target$", ln, re.I)]


def run_shipway(args, repo, env, label, populate, expect_kb):
    """One shipway run: (wall s, restore s or None, info dict, anomalies list)."""
    cmd = [args.shipway, "run", "--json"] + ([] if populate else ["--no-cache"])
    ino_before = None
    et = entry_target(repo)
    if et:
        ino_before = os.stat(et).st_ino
    try:
        dt, rc, out, err = timed(cmd, repo, env, args.timeout)
    except subprocess.TimeoutExpired:
        raise BenchError("%s: timed out after %ss" % (label, args.timeout))
    try:
        res = json.loads(out)
    except ValueError:
        raise BenchError("%s: shipway exited %d without a JSON result\n--- stderr\n%s" % (label, rc, tail(err, 30)))
    jobs = {j.get("name"): j for j in res.get("jobs", [])}
    job = jobs.get("build") or {}
    path, log = shipway_log(repo, res.get("run"))
    info = {"run": res.get("run"), "exit": rc, "status": res.get("status"), "job_status": job.get("status"),
            "log": path, "wall_s": dt}
    anomalies = []

    def bad(why):
        anomalies.append({"run": label, "why": why, "log": path,
                          "lines": cache_lines(log or "") or tail(err, 15).splitlines()})

    if rc != 0 or res.get("status") != "success" or job.get("status") != "success":
        raise BenchError("%s: shipway exit %d, pipeline %r, job %r\n--- job log\n%s\n--- stderr\n%s"
                         % (label, rc, res.get("status"), job.get("status"), tail(log or "", 30), tail(err, 30)))
    if log is None:
        raise BenchError("%s: no job log under .shipway/runs/%s/logs/" % (label, res.get("run")))
    info["cache_lines"] = cache_lines(log)
    m_saved = SW_SAVED_RE.search(log)
    if populate:
        if MISS_MARK not in log:
            raise BenchError("%s: the populate run did not generate target/:\n%s" % (label, tail(log, 30)))
        if not m_saved:
            bad("the populate run did not save the cache")
        return dt, None, info, anomalies
    restore = None
    m = SW_RESTORED_RE.search(log)
    if m:
        restore = int(m.group(3)) / 1000.0
        info.update(restored_files=int(m.group(1)), restored_mb=float(m.group(2)), restore_ms=int(m.group(3)))
    else:
        bad("no \"Restored cache `big` by moving it in\" line")
    if "by copying" in log:
        bad("the entry was restored by copying, not moved")
    if HIT_MARK not in log:
        bad("the job did not find target/ (the script generated it again)")
    kb = du_kb(log)
    info["du_kb"] = kb
    if kb is None or (expect_kb and kb < 0.99 * expect_kb):
        bad("the restored target/ is incomplete: du -s says %s KiB, expected about %s" % (kb, expect_kb))
    if not m_saved:
        bad("no \"Saved cache `big`\" line")
    else:
        info.update(save_ms=int(m_saved.group(3)))
    for ln in log.splitlines():
        if re.search(r"(WARNING|ERROR).*cache|cache.*(busy|in use)", ln, re.I):
            bad("cache warning/error in the log")
            break
    et_after = entry_target(repo)
    ino_after = os.stat(et_after).st_ino if et_after else None
    info.update(inode_before=ino_before, inode_after=ino_after)
    if ino_after is None:
        bad("after the run there is no cache entry with data/target")
    elif ino_before is not None and ino_after != ino_before:
        bad("data/target has a new inode after the run (%d -> %d): copied, not moved" % (ino_before, ino_after))
    return dt, restore, info, anomalies


# --------------------------------------------------------------------------
# gitlab-ci-local


def gcl_time(rx, text):
    m = rx.search(text)
    return float(m.group(1)) * UNIT_S[m.group(2)] if m else None


def run_gcl(args, repo, env, label, populate, expect_kb):
    cmd = args.gcl.split() + GCL_SHELL_FLAGS + ["build"]
    try:
        dt, rc, out, err = timed(cmd, repo, env, args.timeout)
    except subprocess.TimeoutExpired:
        raise BenchError("%s: timed out after %ss" % (label, args.timeout))
    text = strip_ansi(out + "\n" + err)
    passed, _ = gcl_summary(out)
    if rc != 0 or "build" not in passed:
        raise BenchError("%s: gitlab-ci-local exit %d, PASS lines %s\n--- output (tail)\n%s"
                         % (label, rc, passed, tail(text, 40)))
    info = {"exit": rc, "wall_s": dt,
            "lines": [ln.strip() for ln in text.splitlines()
                      if re.search(r"cache|CACHE-|\d+\s+target\s*$|finished in", ln, re.I)]}
    info["imported_s"] = gcl_time(GCL_IMPORTED_RE, text)
    info["saved_s"] = gcl_time(GCL_CREATED_RE, text)
    info["du_kb"] = du_kb(text)
    if populate:
        if MISS_MARK not in text:
            raise BenchError("%s: the populate run did not generate target/:\n%s" % (label, tail(text, 40)))
        if info["saved_s"] is None:
            raise BenchError("%s: gcl did not save the cache:\n%s" % (label, tail(text, 40)))
        return dt, None, info
    if HIT_MARK not in text or info["imported_s"] is None:
        raise BenchError("%s: gcl did not restore the cache:\n%s" % (label, tail(text, 40)))
    if info["du_kb"] is None or (expect_kb and info["du_kb"] < 0.99 * expect_kb):
        raise BenchError("%s: gcl restored an incomplete target/ (du %s KiB, expected ~%s)"
                         % (label, info["du_kb"], expect_kb))
    return dt, info["imported_s"], info


GCL_HOW = """\
how gitlab-ci-local %(ver)s caches for shell jobs (src/job.js: copyCacheIn, copyIn,
copyCacheOut; src/utils.js: rsyncTrackedFiles):
  - only with --shell-isolation: without it a shell job runs in the project dir
    itself and `cache:` is skipped entirely (target/ just stays in the working tree);
  - with it, each job runs in .gitlab-ci-local/builds/<job>/.  Before the script gcl
    mirrors the tracked files there with `rsync -a --delete --delete-excluded`
    (excluding the untracked ones), which deletes the previous run's target/,
    then imports each cache with `rsync -a .gitlab-ci-local/cache/<key>/. builds/<job>`:
    a full file-by-file copy of the tree ("imported cache '<key>' in T");
  - after the job (policy push/pull-push, when: on_success) it runs
    `rsync -Ra <paths> ../../cache/<key>/.` from the build dir: an incremental copy
    (rsync's size+mtime quick check; unchanged files are not rewritten, nothing is
    ever deleted from the entry) ("cache created in '.gitlab-ci-local/cache/<key>' in T");
  - no archive and no compression; a per-key in-process mutex only; on disk the
    entry and the build dir are two full copies of the tree."""


# --------------------------------------------------------------------------


def parse_args():
    ap = argparse.ArgumentParser(
        description="Restore of a 1 GiB target/-like cache: shipway vs tar+zstd vs gitlab-ci-local. "
                    "See the module docstring for the method.")
    ap.add_argument("--runs", type=int, default=5, help="timed rounds (default 5)")
    ap.add_argument("--size-mb", type=int, default=1024, help="tree size in MiB (default 1024)")
    ap.add_argument("--files", type=int, default=6000, help="small files in the tree (default 6000)")
    ap.add_argument("--seed", type=int, default=7, help="content seed (default 7)")
    add_shipway_arg(ap)
    add_no_build_arg(ap)
    add_gcl_arg(ap)
    ap.add_argument("--variants", default="shipway,tar,gcl", help="comma list of shipway,tar,gcl (default all)")
    add_out_arg(ap)
    add_no_save_arg(ap, "cache_restore")
    ap.add_argument("--timeout", type=float, default=900, help="seconds per single run (default 900)")
    ap.add_argument("--keep", action="store_true", help="keep the temp dir (several GiB!)")
    a = ap.parse_args()
    a.variants = choice_list(ap, "--variants", a.variants, ("shipway", "tar", "gcl"))
    small = a.size_mb * (1 << 20) - (240 << 20)
    if a.runs < 1 or a.files < 1 or small < a.files * (4 << 10) or small > a.files * (2 << 20):
        ap.error("--runs >= 1, and --size-mb - 240 must fit --files files of 4 KiB..2 MiB")
    return a


def main():
    args = parse_args()
    args.shipway = os.path.abspath(args.shipway)
    need = ["git", "bash"]
    if "tar" in args.variants:
        need += ["tar", "zstd"]
    if "gcl" in args.variants:
        need += [args.gcl.split()[0], "rsync"]
    if "shipway" in args.variants and not args.no_build:
        need.append("cargo")
    if not require_tools(need):
        return 2
    if "shipway" in args.variants and not ready_shipway(args.shipway, build=not args.no_build):
        return 2
    warn_if_few_runs(args.runs)
    with TempDir("shipway-cache-bench-", args.keep, kept_note=" (several GiB)", timed_delete=True) as tmp_dir:
        return bench(args, tmp_dir)


def bench(args, tmp_dir):
    tmp = tmp_dir.path
    env = child_env(tmp_dir.home, NODE_VARS)
    total = args.size_mb << 20
    gen_src = GEN_TREE % {"seed": args.seed, "files": args.files, "total": total}
    V = args.variants
    load_start = os.getloadavg()
    meta = {
        "shipway": version_of([args.shipway, "--version"], env) if "shipway" in V else None,
        "gitlab_ci_local": version_of(args.gcl.split() + ["--version"], env) if "gcl" in V else None,
        "zstd": (re.sub(r"^.*?(v\d+\.\d+\.\d+).*$", r"zstd \1", version_of(["zstd", "--version"], env))
                 if "tar" in V else None),
        "tar": version_of(["tar", "--version"], env) if "tar" in V else None,
        "rsync": version_of(["rsync", "--version"], env) if "gcl" in V else None,
        "cpu_count": os.cpu_count(), "loadavg_start": load_start,
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "runs": args.runs,
        "tree": {"size_mb": args.size_mb, "files": args.files + 4, "seed": args.seed},
        "argv": sys.argv,
    }
    eprint("temp dir %s; %s; load %.2f %.2f %.2f" % ((tmp, ", ".join(
        "%s %s" % (k, meta[k]) for k in ("shipway", "gitlab_ci_local", "zstd") if meta[k])) + tuple(load_start)))
    samples = {"shipway_restore": [], "shipway_wall": [], "tar_restore": [], "gcl_restore": [], "gcl_wall": []}
    details = {"shipway": [], "tar": [], "gcl": []}
    anomalies = []
    setup = {}
    notes = []
    try:
        # ---- the reference tree: its real size, and the tar+zstd archive
        ref = os.path.join(tmp, "ref")
        os.makedirs(ref)
        t0 = time.perf_counter()
        sh([sys.executable, "-c", gen_src, os.path.join(ref, "target")], ref, env, timeout=SETUP_TIMEOUT)
        setup["generate_s"] = time.perf_counter() - t0
        files, size = tree_stats(os.path.join(ref, "target"))
        du = int(sh(["du", "-s", "target"], ref, env, timeout=SETUP_TIMEOUT).split()[0])
        ndirs = sum(len(ds) for _, ds, _ in os.walk(os.path.join(ref, "target")))
        setup.update(tree_files=files, tree_bytes=size, tree_du_kb=du, tree_dirs=ndirs)
        eprint("tree: %d files, %d dirs, %.1f MiB (du %d KiB), generated in %s"
               % (files, ndirs, size / 2**20, du, fmt_s(setup["generate_s"])))
        archive = os.path.join(tmp, "cache.tzst")
        if "tar" in V:
            settle()
            t0 = time.perf_counter()
            sh(["bash", "-o", "pipefail", "-c", "tar -cf - target | zstd -q -T0 -3 -o %s" % archive], ref, env,
               timeout=SETUP_TIMEOUT)
            setup["tar_zstd_create_s"] = time.perf_counter() - t0
            setup["archive_bytes"] = os.path.getsize(archive)
            eprint("tar | zstd -T0 -3: %.1f MiB (ratio %.3f) in %s"
                   % (setup["archive_bytes"] / 2**20, size / setup["archive_bytes"], fmt_s(setup["tar_zstd_create_s"])))
        shutil.rmtree(ref)

        # ---- repos and populate runs
        sw_repo = os.path.join(tmp, "repo-shipway")
        gcl_repo = os.path.join(tmp, "repo-gcl")
        if "shipway" in V:
            make_repo(sw_repo, env, gen_src)
            settle()
            dt, _, info, an = run_shipway(args, sw_repo, env, "shipway populate", True, du)
            anomalies += an
            setup["shipway_populate_s"] = dt
            setup["shipway_populate_lines"] = info["cache_lines"]
            eprint("shipway populate: %s; %s" % (fmt_s(dt), " | ".join(info["cache_lines"])))
            if entry_target(sw_repo) is None:
                anomalies.append({"run": "shipway populate", "why": "no cache entry with data/target after the "
                                  "populate run", "log": info["log"], "lines": info["cache_lines"]})
        if "gcl" in V:
            make_repo(gcl_repo, env, gen_src)
            settle()
            dt, _, info = run_gcl(args, gcl_repo, env, "gcl populate", True, du)
            setup["gcl_populate_s"] = dt
            setup["gcl_populate_lines"] = info["lines"]
            eprint("gcl populate: %s; %s" % (fmt_s(dt), " | ".join(info["lines"])))

        # ---- interleaved timed rounds
        for r in range(args.runs):
            parts = []
            if "shipway" in V:
                settle()
                dt, rs, info, an = run_shipway(args, sw_repo, env, "shipway round %d" % (r + 1), False, du)
                anomalies += an
                samples["shipway_wall"].append(dt)
                samples["shipway_restore"].append(rs)
                details["shipway"].append(info)
                parts.append("shipway restore %s, run %s" % (fmt_s(rs), fmt_s(dt)))
            if "tar" in V:
                dest = os.path.join(tmp, "extract")
                os.makedirs(dest)
                settle()
                try:
                    dt, rc, out, err = timed(["bash", "-o", "pipefail", "-c",
                                              "zstd -d -q -c %s | tar -xf -" % archive], dest, env, args.timeout)
                except subprocess.TimeoutExpired:
                    raise BenchError("tar+zstd round %d: timed out" % (r + 1))
                if rc != 0:
                    raise BenchError("tar+zstd round %d: exit %d\n%s" % (r + 1, rc, tail(err, 30)))
                if r == 0:
                    got = tree_stats(os.path.join(dest, "target"))
                    if got != (files, size):
                        raise BenchError("tar+zstd extracted %d files / %d bytes, expected %d / %d"
                                         % (got + (files, size)))
                samples["tar_restore"].append(dt)
                details["tar"].append({"wall_s": dt})
                shutil.rmtree(dest)
                parts.append("tar+zstd %s" % fmt_s(dt))
            if "gcl" in V:
                settle()
                dt, rs, info = run_gcl(args, gcl_repo, env, "gcl round %d" % (r + 1), False, du)
                samples["gcl_wall"].append(dt)
                samples["gcl_restore"].append(rs)
                details["gcl"].append(info)
                parts.append("gcl restore %s, run %s" % (fmt_s(rs), fmt_s(dt)))
            eprint("  round %d/%d: %s" % (r + 1, args.runs, "; ".join(parts)))
    except BenchError as e:
        print_abort(e)
        for a in anomalies:
            eprint("shipway cache anomaly (%s): %s\n  %s" % (a["run"], a["why"], "\n  ".join(a["lines"])))
        return 1
    load_end = os.getloadavg()

    # ---------------------------------------------------------------- report
    report = Report()
    say = report.say

    say("cache restore of a %.0f MiB target/-like tree: %d interleaved round(s) after 1 populate run, %s CPUs"
        % (setup["tree_bytes"] / 2**20, args.runs, os.cpu_count()))
    say(fmt_load(load_start, load_end))
    say("tree: %d files in %d dirs, %d bytes (du %d KiB); 4 KiB..2 MiB files plus 96/64/48/32 MiB ones; "
        "seeded random content" % (setup["tree_files"], setup["tree_dirs"], setup["tree_bytes"], setup["tree_du_kb"]))
    for k in ("shipway", "gitlab_ci_local", "zstd"):
        if meta[k]:
            say("%s: %s" % (k, meta[k]))
    if "tar" in V:
        say("archive: tar -cf - target | zstd -T0 -3: %.1f MiB, ratio %.3f, made in %s (untimed)"
            % (setup["archive_bytes"] / 2**20, setup["tree_bytes"] / setup["archive_bytes"],
               fmt_s(setup["tar_zstd_create_s"])))
    if "shipway" in V:
        say("shipway populate run (generates the tree, saves it): %s" % fmt_s(setup["shipway_populate_s"]))
    if "gcl" in V:
        say("gcl populate run (generates the tree, saves it): %s" % fmt_s(setup["gcl_populate_s"]))
    say()
    rows = []
    if "shipway" in V:
        rows.append(("shipway", "restore (log: moving it in)", samples["shipway_restore"]))
        rows.append(("shipway", "whole run --no-cache", samples["shipway_wall"]))
    if "tar" in V:
        rows.append(("tar+zstd", "zstd -d | tar -x", samples["tar_restore"]))
    if "gcl" in V:
        rows.append(("gcl", "restore (imported cache)", samples["gcl_restore"]))
        rows.append(("gcl", "whole run", samples["gcl_wall"]))
    say("%-9s  %-28s  %s" % ("tool", "measure", STATS_HEADER))
    for tool, what, xs in rows:
        n = sum(1 for x in xs if x is not None)
        say("%-9s  %-28s  %s%s" % (tool, what, fmt_stats(xs),
                                   "" if n == len(xs) else "  (%d of %d runs)" % (n, len(xs))))
    say()
    ratios = {}
    sw_r = med(samples["shipway_restore"])
    if "shipway" in V and sw_r is not None:
        hi_s = sw_r + 0.001  # the log truncates to whole ms
        say("ratios (> 1 means shipway is faster; shipway's restore median is logged as %d ms, i.e. %d to %d ms):"
            % (round(sw_r * 1000), round(sw_r * 1000), round(hi_s * 1000)))

        def rng(x):
            lo = x / hi_s
            if sw_r <= 0:
                return lo, None, ">= %.0fx" % lo
            return lo, x / sw_r, "%.0fx to %.0fx" % (lo, x / sw_r)
        if "tar" in V:
            lo, hi, txt = rng(med(samples["tar_restore"]))
            ratios["tar_zstd_over_shipway_restore"] = {"low": lo, "high": hi}
            say("  tar+zstd restore / shipway restore   %s" % txt)
        if "gcl" in V:
            lo, hi, txt = rng(med(samples["gcl_restore"]))
            ratios["gcl_over_shipway_restore"] = {"low": lo, "high": hi}
            say("  gcl restore / shipway restore        %s" % txt)
            ratios["gcl_over_shipway_whole_run"] = med(samples["gcl_wall"]) / med(samples["shipway_wall"])
            say("  gcl whole run / shipway whole run    %.1fx" % ratios["gcl_over_shipway_whole_run"])
        if "tar" in V:
            ratios["tar_zstd_over_shipway_whole_run"] = med(samples["tar_restore"]) / med(samples["shipway_wall"])
            say("  tar+zstd restore / shipway whole run %.1fx" % ratios["tar_zstd_over_shipway_whole_run"])
        say()
    if "shipway" in V:
        say("per-run values (round order):")
        say("  shipway restore ms: %s" % " ".join(str(d.get("restore_ms", "-")) for d in details["shipway"]))
        say("  shipway save ms:    %s" % " ".join(str(d.get("save_ms", "-")) for d in details["shipway"]))
        say("  shipway whole run:  %s" % " ".join(fmt_s(d["wall_s"]) for d in details["shipway"]))
        if "tar" in V:
            say("  tar+zstd restore:   %s" % " ".join(fmt_s(x) for x in samples["tar_restore"]))
        if "gcl" in V:
            say("  gcl restore:        %s" % " ".join(fmt_s(x) for x in samples["gcl_restore"]))
            say("  gcl cache save:     %s" % " ".join(fmt_s(d["saved_s"]) for d in details["gcl"]))
            say("  gcl whole run:      %s" % " ".join(fmt_s(x) for x in samples["gcl_wall"]))
        say()
        if details["shipway"]:
            say("shipway job log, cache lines (last round, %s):" % details["shipway"][-1]["log"])
            for ln in details["shipway"][-1]["cache_lines"]:
                say("  " + ln)
            say("  entry inode of data/target before/after each round: %s"
                % ", ".join("%s/%s" % (d.get("inode_before"), d.get("inode_after")) for d in details["shipway"]))
            say()
    elif "tar" in V and not ("shipway" in V):
        pass
    if "gcl" in V and details["gcl"]:
        say("gcl output, cache lines (last round):")
        for ln in details["gcl"][-1]["lines"]:
            say("  " + ln)
        say()
        say(GCL_HOW % {"ver": meta["gitlab_ci_local"]})
        say()
    if anomalies:
        say("*** SHIPWAY CACHE MISBEHAVED (a product bug; not worked around) ***")
        for a in anomalies:
            say("  %s: %s (%s)" % (a["run"], a["why"], a["log"]))
            for ln in a["lines"]:
                say("      " + ln)
        say()
    note_if_few_runs(args.runs, notes)
    notes.append("warm page cache for all variants; timed windows exclude os.sync() + 0.2 s before each run")
    if "gcl" in V:
        notes.append("gcl whole run = node start-up, JSON schema validation (on, as a user runs it), the rsync "
                     "--delete that drops the previous run's target/ from its build dir, the import, the job, "
                     "the save")
    report.say_block("notes:", notes, prefix="  - ", blank=False)
    result = {"meta": dict(meta, loadavg_end=load_end), "setup": setup, "samples_s": samples,
              "medians_s": {k: med(v) for k, v in samples.items()}, "ratios": ratios,
              "details": details, "anomalies": anomalies, "notes": notes}
    report.publish(result, args.out, "cache_restore", None if args.no_save else "cache_restore")
    return 1 if anomalies else 0


if __name__ == "__main__":
    sys.exit(main())
