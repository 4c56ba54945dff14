#!/usr/bin/env python3
"""The dev loop measured with the release `ferry` binary; run by
benches/dev_loop.sh (see benches/README.md, "Dev loop").

1. new image -> pushed dev commit: APPS apps in one dev overlay, one warm-up
   pass with nothing to do, then SAMPLES times: an image arrives for a random
   app, `ferry run --once` runs; wall time of that process, and exactly one
   new commit on the bare repository each time.
2. no-op pass: NOOP_APPS apps x 3 environments, everything up to date; CPU
   time (user+sys of the child, from wait4) of `ferry run --once`, plus the
   same at smaller sizes to show how it scales.
3. the daemon: `ferry run --resync 1` on the NOOP_APPS fixture for
   DAEMON_SECONDS, VmHWM from /proc just before SIGTERM, then the exit status,
   the time to exit and ru_maxrss (what /usr/bin/time -v reports as
   "Maximum resident set size").
"""

import argparse
import json
import math
import os
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def log(msg):
    print(msg, flush=True)


def load():
    return "%.2f %.2f %.2f" % os.getloadavg()


def fixture(harness, d, apps, envs, images):
    t = time.perf_counter()
    subprocess.run([harness, "fixture", str(d), str(apps), str(envs), str(images)], check=True)
    return time.perf_counter() - t


def commits(d):
    out = subprocess.run(
        ["git", "--git-dir", str(d / "gitops.git"), "rev-list", "--count", "main"],
        check=True, capture_output=True, text=True,
    )
    return int(out.stdout)


def head_summary(d):
    out = subprocess.run(
        ["git", "--git-dir", str(d / "gitops.git"), "log", "-1", "--format=%s", "main"],
        check=True, capture_output=True, text=True,
    )
    return out.stdout.strip()


def run_once(ferry, d, cache, logname):
    """`ferry run --once`: (exit code, wall s, user s, sys s, maxrss KiB, stderr,
    rusage). Voluntary context switches are waits (I/O, fsync, locks),
    involuntary ones preemption by other processes."""
    env = dict(os.environ, FERRY_CACHE_DIR=str(d / cache), NO_COLOR="1")
    env.pop("FERRY_FAILPOINT", None)
    errpath = d / logname
    with open(errpath, "wb") as err:
        t = time.perf_counter()
        p = subprocess.Popen(
            [ferry, "run", "--once", "--config", str(d / "ferry.yaml")],
            stdout=subprocess.DEVNULL, stderr=err, env=env,
        )
        _, status, ru = os.wait4(p.pid, 0)
        wall = time.perf_counter() - t
    p.returncode = os.waitstatus_to_exitcode(status)
    return p.returncode, wall, ru.ru_utime, ru.ru_stime, ru.ru_maxrss, errpath.read_text(), ru


def pctl_nearest_rank(xs, p):
    s = sorted(xs)
    return s[max(0, math.ceil(p / 100 * len(s)) - 1)]


def dev_loop(a, work):
    d = work / "devloop"
    secs = fixture(a.harness, d, a.apps, 1, 1)
    log(f"\n== 1. new image -> pushed dev commit: {a.apps} apps in one dev overlay "
        f"(fixture {secs:.1f} s; load {load()})")
    code, wall, *_, err, _ = run_once(a.ferry, d, "cache", "warmup.log")
    if code != 0:
        sys.exit(f"warm-up pass failed:\n{err}")
    if commits(d) != 1 or "moving=0" not in err:
        sys.exit(f"the warm-up pass must have nothing to do:\n{err}")
    log(f"warm-up (clone + pass with nothing to do): {wall * 1e3:.0f} ms")
    rng = random.Random(a.seed)
    next_build = [1] * a.apps
    samples = []
    for i in range(a.samples):
        app = rng.randrange(a.apps)
        n = next_build[app]
        next_build[app] += 1
        subprocess.run([a.harness, "arrive", str(d), str(app), str(n)], check=True)
        before = commits(d)
        code, wall, user, sys_, rss, err, ru = run_once(a.ferry, d, "cache", f"run-{i}.log")
        after = commits(d)
        summary = head_summary(d)
        want = f"dev: app{app} build-{n - 1}\u2192build-{n}"
        ok = code == 0 and after == before + 1 and summary.startswith(want) and err.count("ferry::cli::run: pushed") == 1
        samples.append({"app": app, "build": n, "wall_s": wall, "user_s": user, "sys_s": sys_,
                        "maxrss_kib": rss, "nvcsw": ru.ru_nvcsw, "nivcsw": ru.ru_nivcsw, "load1": os.getloadavg()[0],
                        "new_commits": after - before, "ok": ok})
        log(f"  {i + 1:2}/{a.samples} app{app:<4} build-{n}: {wall * 1e3:7.1f} ms wall, "
            f"{(user + sys_) * 1e3:7.1f} ms cpu, ctx sw {ru.ru_nvcsw} vol / {ru.ru_nivcsw} invol, "
            f"load {os.getloadavg()[0]:.2f}, +{after - before} commit {'ok' if ok else 'FAILED'}")
        if not ok:
            sys.exit(f"run {i + 1}: exit {code}, {after - before} new commits, head {summary!r}\n{err}")
    walls = [s["wall_s"] * 1e3 for s in samples]
    cpus = [(s["user_s"] + s["sys_s"]) * 1e3 for s in samples]
    res = {
        "apps": a.apps, "samples": len(samples),
        "wall_ms": {"p50": statistics.median(walls), "p99_nearest_rank": pctl_nearest_rank(walls, 99),
                    "min": min(walls), "max": max(walls), "mean": statistics.mean(walls)},
        "cpu_ms": {"p50": statistics.median(cpus), "max": max(cpus)},
        "maxrss_kib_max": max(s["maxrss_kib"] for s in samples),
        "every_run_one_commit": all(s["new_commits"] == 1 for s in samples),
        "commits_total": commits(d), "load_after": load(), "runs": samples,
    }
    w = res["wall_ms"]
    log(f"wall ms: p50 {w['p50']:.1f}, p99 {w['p99_nearest_rank']:.1f} (nearest rank of "
        f"{len(samples)} samples = the max), min {w['min']:.1f}, mean {w['mean']:.1f}; "
        f"cpu p50 {res['cpu_ms']['p50']:.1f} ms; one new commit each run: {res['every_run_one_commit']}")
    return res


def noop(a, work):
    log(f"\n== 2. no-op pass, N apps x 3 environments (dev commit; staging, production "
        f"pull_request with after:), 3 images per repository (load {load()})")
    sizes = sorted(set(a.scale + [a.noop_apps]))
    res = {"sizes": {}}
    for n in sizes:
        d = work / f"noop{n}"
        secs = fixture(a.harness, d, n, 3, 3)
        runs = []
        count = a.noop_runs if n == a.noop_apps else 2
        for i in range(count):
            code, wall, user, sys_, rss, err, _ = run_once(a.ferry, d, "cache", f"run-{i}.log")
            m = re.search(r"entries=(\d+) moving=(\d+)", err)
            if code != 0 or not m or m.group(2) != "0" or int(m.group(1)) != 3 * n or commits(d) != 1:
                sys.exit(f"no-op pass at {n} apps did something or failed (exit {code}):\n{err}")
            runs.append({"cold_cache": i == 0, "wall_s": wall, "user_s": user, "sys_s": sys_,
                         "maxrss_kib": rss, "load": load()})
            log(f"  {n:5} apps run {i + 1} ({'clone' if i == 0 else 'warm'}): cpu {user + sys_:8.2f} s "
                f"(user {user:.2f}, sys {sys_:.2f}), wall {wall:8.2f} s, maxrss {rss / 1024:.1f} MiB, "
                f"load {load()}")
        warm = [r["user_s"] + r["sys_s"] for r in runs[1:]] or [runs[0]["user_s"] + runs[0]["sys_s"]]
        res["sizes"][n] = {"fixture_s": secs, "runs": runs, "cpu_s_warm_median": statistics.median(warm)}
    base = sizes[0]
    for n in sizes:
        c = res["sizes"][n]["cpu_s_warm_median"]
        ratio = c / res["sizes"][base]["cpu_s_warm_median"]
        log(f"  {n:5} apps: cpu {c:8.2f} s warm median; x{ratio:6.1f} for x{n / base:.0f} apps")
    return res


def daemon(a, work):
    d = work / f"noop{a.noop_apps}"
    log(f"\n== 3. daemon: ferry run --resync 1, {a.noop_apps} apps x 3 environments, "
        f"SIGTERM after {a.daemon_seconds} s (fresh cache; load {load()})")
    env = dict(os.environ, FERRY_CACHE_DIR=str(d / "cache-daemon"), NO_COLOR="1")
    env.pop("FERRY_FAILPOINT", None)
    errpath = d / "daemon.log"
    status_fields = {}
    with open(errpath, "wb") as err:
        t0 = time.perf_counter()
        p = subprocess.Popen(
            [a.ferry, "run", "--resync", "1", "--config", str(d / "ferry.yaml")],
            stdout=subprocess.DEVNULL, stderr=err, env=env,
        )
        time.sleep(a.daemon_seconds)
        with open(f"/proc/{p.pid}/status") as f:
            for line in f:
                k, _, v = line.partition(":")
                if k in ("VmHWM", "VmRSS", "Threads"):
                    status_fields[k] = v.strip()
        passes_before = errpath.read_text().count("pass complete")
        t_term = time.perf_counter()
        os.kill(p.pid, signal.SIGTERM)
        while True:
            pid, status, ru = os.wait4(p.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() - t_term > a.daemon_timeout:
                os.kill(p.pid, signal.SIGKILL)
                _, status, ru = os.wait4(p.pid, 0)
                break
            time.sleep(0.05)
        t_exit = time.perf_counter()
    p.returncode = os.waitstatus_to_exitcode(status)
    text = errpath.read_text()
    res = {
        "apps": a.noop_apps, "seconds_before_sigterm": t_term - t0, "proc_status_before_sigterm": status_fields,
        "passes_completed_before_sigterm": passes_before, "passes_completed_total": text.count("pass complete"),
        "exit_code": p.returncode, "seconds_from_sigterm_to_exit": t_exit - t_term,
        "ru_maxrss_kib": ru.ru_maxrss, "cpu_s": ru.ru_utime + ru.ru_stime,
        "logged_stopping": "stopping after the pass in flight" in text, "load_after": load(),
    }
    log(f"VmHWM before SIGTERM {status_fields.get('VmHWM')} (VmRSS {status_fields.get('VmRSS')}), "
        f"passes completed before SIGTERM {passes_before}; exit {p.returncode} "
        f"{res['seconds_from_sigterm_to_exit']:.1f} s after SIGTERM, passes completed {res['passes_completed_total']}, "
        f"ru_maxrss {ru.ru_maxrss / 1024:.1f} MiB, cpu {res['cpu_s']:.1f} s")
    if p.returncode != 0:
        log(text[-4000:])
    return res


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ferry", required=True)
    ap.add_argument("--harness", required=True, help="the loop_calls bench binary")
    ap.add_argument("--work", help="working directory (default: a new temporary one, removed at the end)")
    ap.add_argument("--apps", type=int, default=200)
    ap.add_argument("--samples", type=int, default=30)
    ap.add_argument("--seed", type=int, default=20261126)
    ap.add_argument("--noop-apps", type=int, default=1000)
    ap.add_argument("--noop-runs", type=int, default=2, help="runs at --noop-apps; the first clones")
    ap.add_argument("--scale", default="125,250,500", help="smaller no-op sizes (2 runs each); '' for none")
    ap.add_argument("--daemon-seconds", type=float, default=5.0)
    ap.add_argument("--daemon-timeout", type=float, default=900.0, help="SIGKILL after this long past SIGTERM")
    ap.add_argument("--only", default="1,2,3", help="which parts to run")
    ap.add_argument("--json", help="write the results here")
    a = ap.parse_args()
    a.scale = [int(x) for x in a.scale.split(",") if x]
    only = set(a.only.split(","))
    keep = a.work is not None
    work = Path(a.work) if a.work else Path(tempfile.mkdtemp(prefix="ferry-dev-loop-"))
    work.mkdir(parents=True, exist_ok=True)
    log(f"work dir {work}; {os.cpu_count()} cpus; load {load()}")
    results = {"cpus": os.cpu_count(), "load_start": load()}
    try:
        if "1" in only:
            results["dev_loop"] = dev_loop(a, work)
        if "2" in only:
            results["noop"] = noop(a, work)
        if "3" in only:
            if not (work / f"noop{a.noop_apps}").exists():
                fixture(a.harness, work / f"noop{a.noop_apps}", a.noop_apps, 3, 3)
            results["daemon"] = daemon(a, work)
    finally:
        results["load_end"] = load()
        if a.json:
            Path(a.json).write_text(json.dumps(results, indent=2) + "\n")
            log(f"\nresults: {a.json}")
        if not keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
