#!/usr/bin/env python3
"""Run one differential case through gitlab-ci-local and print per-job outcomes.

Usage:
    gcl_outcomes.py CASE_DIR [--keep] [--verbose] [--timeout SECONDS]

CASE_DIR holds a `.gitlab-ci.yml` plus any extra files the pipeline needs
(e.g. files probed by `rules: exists`).  The script

  1. copies the case into a fresh temporary git repo (branch `main`, one
     commit, a fake `origin` remote whose `origin/main` == HEAD, so that
     gitlab-ci-local prints no remote warnings and `CI_DEFAULT_BRANCH=main`),
  2. runs `gitlab-ci-local --list-json` to learn every job (post-rules `when`,
     stage, needs),
  3. runs the whole pipeline with
     `gitlab-ci-local --shell-executor-no-image --shell-isolation`
     (shell isolation gives every job its own build dir, so artifacts and
     `dependencies:` behave like GitLab instead of all jobs sharing the repo),
  4. parses the end-of-run summary (ANSI stripped) and prints

        {"jobs": {"<job name as gcl prints it>": "success"|"failed"|
                   "allowed_failure"|"skipped"|"manual"},
         "gcl_exit_code": N}

     Jobs excluded by rules / when:never are absent.  If gitlab-ci-local
     rejected the configuration (no job ran), an extra "gcl_error" key holds
     its message.

Files in CASE_DIR that are NOT copied into the repo: gcl-observed.json,
gitlab-expected.json, NOTES.md, and anything whose name starts with
"shipway-" (room for shipway's own expectation files).

Exit codes: 0 = JSON printed; 2 = usage error; 3 = gitlab-ci-local (or git,
rsync) not available -> callers should SKIP visibly; 4 = gitlab-ci-local
crashed or its output could not be parsed.

Environment: SHIPWAY_GCL_BIN overrides the gitlab-ci-local command
(do not use GCL_* names: gitlab-ci-local reads every GCL_* variable as a CLI
option, so this script strips them from the child environment).
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

NOT_COPIED = {"gcl-observed.json", "gitlab-expected.json", "NOTES.md"}
ANSI_RE = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[@-Z\\-_]")
# Summary lines printed by Commander.printReport (gitlab-ci-local 4.65.0):
#   " PASS  <name><pad>"                 job succeeded
#   " WARN  <name><pad>  pre_script"     job failed, failure allowed
#   " WARN  <name><pad>  after_script"   after_script exited non-zero (extra line)
#   " FAIL  <name><pad>"                 job failed
#   "  > <line>"                         last 3 log lines of a WARN/FAIL job
SUMMARY_RE = re.compile(r"^ (PASS|WARN|FAIL) (?: \[[^\]]*\])? (.+?)\s*$")


def eprint(*a):
    print(*a, file=sys.stderr)


def gcl_command():
    cmd = os.environ.get("SHIPWAY_GCL_BIN", "gitlab-ci-local")
    return cmd.split()


def child_env(home):
    env = {}
    for k in ("PATH", "LANG", "LC_ALL", "TMPDIR", "NODE_PATH", "NVM_DIR",
              "NODE_OPTIONS"):
        if k in os.environ:
            env[k] = os.environ[k]
    env["HOME"] = home  # isolates ~/.gitlab-ci-local/variables.yml and git config
    env["FORCE_COLOR"] = "0"
    env["NO_COLOR"] = "1"
    env["TERM"] = "dumb"
    env["GIT_CONFIG_NOSYSTEM"] = "1"
    return env


def strip_ansi(s):
    return ANSI_RE.sub("", s).replace("\r", "")


def run(cmd, cwd, env, timeout=120, check=True):
    p = subprocess.run(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=timeout)
    if check and p.returncode != 0:
        raise RuntimeError("command failed (%d): %s\n%s%s" % (
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
    git = ["git", "-c", "init.defaultBranch=main"]
    run(git + ["init", "-q", "-b", "main"], repo, env)
    run(["git", "config", "user.email", "shipway@example.invalid"], repo, env)
    run(["git", "config", "user.name", "Shipway Differential"], repo, env)
    run(["git", "config", "commit.gpgsign", "false"], repo, env)
    run(["git", "add", "-A"], repo, env)
    run(["git", "commit", "-q", "-m", "differential case"], repo, env)
    # A fake remote: nothing is fetched, gcl only parses the URL and reads
    # refs/remotes/origin/HEAD for CI_DEFAULT_BRANCH.
    run(["git", "remote", "add", "origin",
         "https://gitlab.example.invalid/shipway/differential.git"], repo, env)
    run(["git", "update-ref", "refs/remotes/origin/main", "HEAD"], repo, env)
    run(["git", "symbolic-ref", "refs/remotes/origin/HEAD",
         "refs/remotes/origin/main"], repo, env)


def parse_stages(expanded_yml_path):
    """Read `stages:` from gcl's .gitlab-ci-local/expanded-gitlab-ci.yml."""
    try:
        with open(expanded_yml_path, encoding="utf-8") as f:
            text = f.read()
    except OSError:
        return None
    try:
        import yaml  # type: ignore
        data = yaml.safe_load(text)
        if isinstance(data, dict) and isinstance(data.get("stages"), list):
            return [str(s) for s in data["stages"]]
    except Exception:
        pass
    stages, inside = [], False
    for line in text.splitlines():
        if line.startswith("stages:"):
            inside = True
            continue
        if inside:
            m = re.match(r"^\s+-\s+(.*)$", line)
            if not m:
                break
            v = m.group(1).strip()
            if len(v) >= 2 and v[0] == v[-1] and v[0] in "'\"":
                v = v[1:-1]
            stages.append(v)
    return stages or None


def parse_summary(out):
    """Return {name: status} from the PASS/WARN/FAIL summary block."""
    result = {}
    for line in strip_ansi(out).splitlines():
        m = SUMMARY_RE.match(line)
        if not m:
            continue
        kind, rest = m.group(1), m.group(2)
        if kind == "WARN":
            m2 = re.match(r"^(.*?)\s+(pre_script|after_script)$", rest)
            if not m2:
                continue
            name, which = m2.group(1), m2.group(2)
            if which == "after_script":
                continue  # informational; the job also has its own line
            result[name] = "allowed_failure"
        elif kind == "PASS":
            result[rest] = "success"
        else:
            result[rest] = "failed"
    return result


def past_to_wait_for(job, by_name, by_base, stages, manual_run):
    """Mirror of gcl Executor.getPastToWaitFor (transitive predecessors)."""
    seen, stack = {}, [job]
    while stack:
        j = stack.pop()
        if j.get("needs") is not None:
            preds = []
            for n in j["needs"]:
                for p in by_base.get(n.get("job"), []):
                    if p["when"] == "never":
                        continue
                    preds.append(p)
        else:
            idx = stages.index(j["stage"]) if j["stage"] in stages else 0
            past = set(stages[:idx])
            preds = [p for p in by_name.values()
                     if p["stage"] in past and p["when"] != "never"
                     and (p["when"] != "manual" or p["name"] in manual_run)]
        for p in preds:
            if p["name"] not in seen:
                seen[p["name"]] = p
                stack.append(p)
    return list(seen.values())


def classify(listed, summary, stages):
    by_name = {j["name"]: j for j in listed}
    by_base = {}
    for j in listed:
        base = re.sub(r": \[.*\]$", "", j["name"])
        by_base.setdefault(base, []).append(j)
    jobs = {}
    for j in listed:
        name, when = j["name"], j["when"]
        if name in summary:
            jobs[name] = summary[name]
        elif when == "never":
            continue
        elif when == "manual":
            # gcl prints nothing for a manual job it did not run.  GitLab shows
            # it as "manual" (playable) unless an upstream job failed, in
            # which case it is "skipped"; mirror gcl's own scheduling test.
            preds = past_to_wait_for(j, by_name, by_base, stages or [], set(summary))
            failed = any(summary.get(p["name"]) == "failed" for p in preds)
            jobs[name] = "skipped" if failed else "manual"
        else:
            jobs[name] = "skipped"
    # Anything gcl reported that --list-json did not list (should not happen).
    for name, st in summary.items():
        jobs.setdefault(name, st)
    return jobs


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("case_dir")
    ap.add_argument("--keep", action="store_true", help="keep the temp repo")
    ap.add_argument("--verbose", action="store_true",
                    help="echo gitlab-ci-local output to stderr")
    ap.add_argument("--timeout", type=float, default=300.0)
    args = ap.parse_args()

    case_dir = os.path.abspath(args.case_dir)
    if not os.path.isfile(os.path.join(case_dir, ".gitlab-ci.yml")):
        eprint("error: %s has no .gitlab-ci.yml" % case_dir)
        return 2

    gcl = gcl_command()
    for tool in (gcl[0], "git", "rsync"):
        if shutil.which(tool) is None:
            eprint("SKIP: %s is not installed (run .ci/install-deps.sh)" % tool)
            return 3

    tmp = tempfile.mkdtemp(prefix="shipway-gcl-")
    try:
        home = os.path.join(tmp, "home")
        repo = os.path.join(tmp, "repo")
        os.makedirs(home)
        os.makedirs(repo)
        env = child_env(home)
        try:
            ver = run(gcl + ["--version"], tmp, env, timeout=60).stdout.decode().strip()
        except Exception as e:  # noqa: BLE001
            eprint("SKIP: cannot run %s: %s" % (" ".join(gcl), e))
            return 3
        if args.verbose:
            eprint("gitlab-ci-local version %s, repo %s" % (ver, repo))
        make_repo(case_dir, repo, env)

        # 1. job list (post-rules `when`), then wipe the state dir so the real
        #    run starts from the same clean tree.
        lp = run(gcl + ["--list-json", "--no-json-schema-validation"], repo, env,
                 timeout=args.timeout, check=False)
        listed, list_err = [], None
        if lp.returncode == 0:
            try:
                listed = json.loads(strip_ansi(lp.stdout.decode(errors="replace")))
            except ValueError:
                list_err = "unparseable --list-json output"
        else:
            list_err = strip_ansi(lp.stderr.decode(errors="replace")).strip()
        stages = parse_stages(os.path.join(repo, ".gitlab-ci-local",
                                           "expanded-gitlab-ci.yml"))
        shutil.rmtree(os.path.join(repo, ".gitlab-ci-local"), ignore_errors=True)

        # 2. the pipeline itself
        p = run(gcl + ["--shell-executor-no-image", "--shell-isolation"], repo, env,
                timeout=args.timeout, check=False)
        out = p.stdout.decode(errors="replace")
        err = p.stderr.decode(errors="replace")
        if args.verbose:
            eprint(strip_ansi(out))
            eprint(strip_ansi(err))
        summary = parse_summary(out)
        result = {"jobs": classify(listed, summary, stages) if listed else summary,
                  "gcl_exit_code": p.returncode}
        if not summary and p.returncode != 0:
            # configuration rejected before any job ran
            msg = strip_ansi(err).strip().splitlines()
            msg = [m for m in msg if not m.startswith(("parsing and downloads",
                                                       "json schema validated",
                                                       "pipeline finished"))]
            result["jobs"] = {}
            result["gcl_error"] = "\n".join(msg[-5:]) or list_err or "unknown error"
        elif not listed and list_err:
            eprint("warning: --list-json failed (%s); only jobs that ran are reported" % list_err)
        print(json.dumps(result, indent=2, sort_keys=True))
        return 0
    except subprocess.TimeoutExpired as e:
        eprint("error: timed out: %s" % e)
        return 4
    except RuntimeError as e:
        eprint("error: %s" % e)
        return 4
    finally:
        if args.keep:
            eprint("kept %s" % tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
