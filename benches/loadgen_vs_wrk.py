#!/usr/bin/env python3
"""Load generator benchmark: `shipway bench http` against wrk and oha.

Usage (Python 3 standard library only):

    benches/loadgen_vs_wrk.py [--reps 3] [--duration 5] [--connections 50]
                              [--no-build] [--no-save] [--out FILE]

Method.  One minimal HTTP server (examples/hello-service: hyper 1.x on a
current-thread tokio runtime, `GET /` answers 6 bytes) is pinned to CPU 0
with `taskset -c 0`.  Each load generator is pinned to CPU 1 with one
thread and the same number of keep-alive connections, for the same
duration, closed loop:

    wrk  -t1 -cC -dDs URL
    oha  -z Ds -c C --no-tui --output-format json URL     (if installed)
    shipway bench http URL -t 1 -c C -d Ds --json

Rounds are interleaved (wrk, oha, shipway, wrk, ...), --reps rounds
(default 3).  For each run the script records the throughput the tool
reports and the CPU time (user + sys, from wait4's rusage) the generator
used, so CPU per request = cpu / requests.  It reports medians, the
shipway/wrk and shipway/oha throughput ratios and CPU per request.

Open loop: shipway is then run with `--rate R` for R = 50% of wrk's median
closed-loop throughput (rounded), --reps times; the achieved rate (the
report's requests_per_second) must be within +-1% of R.

Goals (issue 5): closed-loop throughput >= 0.95x wrk and >= 1.3x oha;
open-loop achieved rate within +-1% of the target.

Installs: wrk with `apt-get install -y wrk`; oha with `cargo install oha`
(without oha its column is skipped, with a note).  The report goes to
benches/results/loadgen_vs_wrk-<date>.txt unless --no-save.  This machine
has 2 noisy cores: run it on a quiet machine and compare ratios from one
run.
"""

import argparse
import datetime
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_measured(cmd):
    """Run cmd to completion; return (exit code, stdout, stderr)."""
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = p.communicate()
    # communicate() reaped it; rusage of all waited-for children so far.
    return p.returncode, out.decode(errors="replace"), err.decode(errors="replace")


def children_cpu():
    r = os.times()
    return r.children_user + r.children_system


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_listening(port, timeout=10.0):
    end = time.time() + timeout
    while time.time() < end:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return True
        except OSError:
            time.sleep(0.05)
    return False


def parse_wrk(out):
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    n = re.search(r"(\d+) requests in", out)
    return float(m.group(1)), int(n.group(1))


def parse_oha(out):
    v = json.loads(out)
    s = v["summary"]
    total = sum(v.get("statusCodeDistribution", {}).values())
    return float(s["requestsPerSec"]), int(total)


def parse_shipway(out):
    v = json.loads(out)
    return float(v["requests_per_second"]), int(v["requests"])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--duration", type=int, default=5, help="seconds per run (default 5)")
    ap.add_argument("--connections", type=int, default=50)
    ap.add_argument("--no-build", action="store_true")
    ap.add_argument("--no-save", action="store_true")
    ap.add_argument("--out", help="JSON file for the raw samples")
    args = ap.parse_args()

    if not shutil.which("wrk"):
        print("wrk is not installed: apt-get install -y wrk", file=sys.stderr)
        return 2
    oha = shutil.which("oha") or (os.path.expanduser("~/.cargo/bin/oha") if os.path.exists(
        os.path.expanduser("~/.cargo/bin/oha")) else None)
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
    hello_target = os.path.join(target, "hello-service")
    if not args.no_build:
        subprocess.run(["cargo", "build", "--release", "-q", "-p", "shipway"], cwd=ROOT, check=True)
        subprocess.run(["cargo", "build", "--release", "-q", "--target-dir", hello_target,
                        "--manifest-path", os.path.join(ROOT, "examples/hello-service/Cargo.toml")], check=True)
    shipway = os.path.join(target, "release", "shipway")
    server_bin = os.path.join(hello_target, "release", "hello-service")

    port = free_port()
    url = "http://127.0.0.1:%d/" % port
    server = subprocess.Popen(["taskset", "-c", "0", server_bin, "--port", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    lines = []

    def say(s=""):
        print(s)
        lines.append(s)

    try:
        if not wait_listening(port):
            print("hello-service did not start", file=sys.stderr)
            return 1
        d, c = args.duration, args.connections
        tools = {
            "wrk": (["taskset", "-c", "1", "wrk", "-t1", "-c%d" % c, "-d%ds" % d, url], parse_wrk),
            "shipway": (["taskset", "-c", "1", shipway, "bench", "http", url, "-t", "1", "-c", str(c),
                         "-d", "%ds" % d, "--json"], parse_shipway),
        }
        if oha:
            tools["oha"] = (["taskset", "-c", "1", oha, "-z", "%ds" % d, "-c", str(c), "--no-tui",
                             "--output-format", "json", url], parse_oha)
        order = [t for t in ("wrk", "oha", "shipway") if t in tools]
        samples = {t: [] for t in order}
        load = os.getloadavg()
        for r in range(args.reps):
            for t in order:
                cmd, parse = tools[t]
                before = children_cpu()
                code, out, err = run_measured(cmd)
                cpu = children_cpu() - before
                if code != 0:
                    print("%s failed (exit %d):\n%s\n%s" % (t, code, out, err), file=sys.stderr)
                    return 1
                rps, n = parse(out)
                samples[t].append({"rps": rps, "requests": n, "cpu_s": cpu})
                print("  round %d/%d %-8s %10.0f req/s  %8.2f us CPU/request" % (
                    r + 1, args.reps, t, rps, cpu / max(n, 1) * 1e6), file=sys.stderr)
        med = {t: statistics.median(s["rps"] for s in samples[t]) for t in order}
        cpu_req = {t: statistics.median(s["cpu_s"] / max(s["requests"], 1) for s in samples[t]) for t in order}

        # Open loop at half of wrk's closed-loop throughput.
        rate = round(med["wrk"] * 0.5, -2)
        open_runs = []
        for r in range(args.reps):
            cmd = ["taskset", "-c", "1", shipway, "bench", "http", url, "-t", "1", "-c", str(c),
                   "-d", "%ds" % d, "--rate", str(rate), "--json"]
            code, out, err = run_measured(cmd)
            if code != 0:
                print("shipway open loop failed:\n%s\n%s" % (out, err), file=sys.stderr)
                return 1
            v = json.loads(out)
            open_runs.append(v)
            print("  open loop %d/%d: target %.0f, achieved %.1f req/s, p99 %.3f ms" % (
                r + 1, args.reps, rate, v["requests_per_second"], v["latency_ms"]["p99"]), file=sys.stderr)
        achieved = statistics.median(v["requests_per_second"] for v in open_runs)
        worst = max(abs(v["requests_per_second"] / rate - 1) for v in open_runs)

        say("load generators, closed loop, 1 thread and %d connections each, %d s per run, %d interleaved "
            "round(s), medians" % (c, d, args.reps))
        say("server: examples/hello-service (hyper 1.x, current-thread) on CPU 0; generators on CPU 1")
        say("load average at start %.2f %.2f %.2f" % load)
        say("")
        say("%-8s %14s %18s %s" % ("tool", "req/s", "CPU us/request", "per-run req/s"))
        for t in order:
            say("%-8s %14.0f %18.2f %s" % (t, med[t], cpu_req[t] * 1e6,
                                           " ".join("%.0f" % s["rps"] for s in samples[t])))
        say("")
        say("shipway / wrk throughput: %.3fx (goal >= 0.95x: %s)" % (
            med["shipway"] / med["wrk"], "MET" if med["shipway"] / med["wrk"] >= 0.95 else "NOT MET"))
        if "oha" in med:
            say("shipway / oha throughput: %.3fx (goal >= 1.3x: %s)" % (
                med["shipway"] / med["oha"], "MET" if med["shipway"] / med["oha"] >= 1.3 else "NOT MET"))
        else:
            say("oha: not installed (cargo install oha); no comparison")
        say("CPU per request, shipway / wrk: %.3fx" % (cpu_req["shipway"] / cpu_req["wrk"]))
        say("")
        say("open loop: target %.0f req/s; achieved median %.1f req/s (%+.2f%%), worst run %.2f%% off "
            "(goal within 1%%: %s)" % (rate, achieved, (achieved / rate - 1) * 100, worst * 100,
                                       "MET" if worst <= 0.01 else "NOT MET"))
        if args.out:
            with open(args.out, "w") as f:
                json.dump({"closed": samples, "open": open_runs, "rate": rate}, f, indent=1)
        if not args.no_save:
            path = os.path.join(ROOT, "benches", "results",
                                "loadgen_vs_wrk-%s.txt" % datetime.date.today().isoformat())
            with open(path, "w") as f:
                f.write("\n".join(lines) + "\n")
            print("report saved: %s" % os.path.relpath(path, ROOT))
        return 0
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    sys.exit(main())
