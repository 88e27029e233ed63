#!/usr/bin/env python3
"""Syscalls per request of weft and its peers, same configs as bench/e2e/run.py (issue 6).

The end-to-end benchmark splits each proxy's CPU into user and system time;
on loopback the system time is mostly socket work, which the number and kind
of syscalls per request decide. This starts each target exactly as run.py
does (1 worker, the same nginx backend), sends a warm-up, attaches
`strace -c -f` to the target's whole process tree, sends a fixed number of
keep-alive requests and prints the calls per request by name, plus how many
of the reads failed with EAGAIN (a speculative read that found nothing).

Counts, not times: strace slows every call down, so only the counts mean
anything; they do not depend on the machine's load. But strace slows the
proxy so much that, with many streams in flight, each read finds far more
requests waiting than it would (batching nobody sees at full speed):
`--tracer perf` counts the same calls with perf's syscall tracepoints
instead (no ptrace, no slow-down; no EAGAIN split), which is what -m 32
(the benchmark's max-throughput shape) needs. It needs tracefs mounted at
/sys/kernel/tracing (the script mounts it if it can).

Usage: bench/profile/syscalls.py --weft build/bin/weft [--protocol h1|h2c] [-n 20000] [-m 1]
       [--tracer strace|perf] [--rps N] [--only weft,nginx]
"""
import argparse
import importlib.util
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from strace_summary import parse_strace_summary  # noqa: E402
_spec = importlib.util.spec_from_file_location("bench_run", os.path.join(HERE, "..", "e2e", "run.py"))
run = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(run)

PROXIES = ["haproxy-tcp", "haproxy", "nginx", "nghttpx", "weft"]


# What --tracer perf counts (syscall tracepoints, one event each).
PERF_SYSCALLS = ["recvfrom", "sendto", "recvmsg", "sendmsg", "readv", "writev", "read", "write", "epoll_wait",
                 "epoll_ctl", "timerfd_settime", "futex", "accept4", "close", "shutdown", "setsockopt", "ioctl"]


def h2load(port, protocol, n, streams=1, rps=0):
    """Fixed request count: 16 keep-alive connections, `streams` requests at a time on each (1: as a sidecar mostly sees).
    `rps` > 0: each connection sends at most that many requests per second (the benchmark's fixed-rate shape)."""
    argv = ["taskset", "-c", run.LOAD_CPU, "h2load", "-t1", "-n", str(n), "-c16", f"-m{streams}"]
    if rps:
        argv.append(f"--rps={rps}")
    if protocol == "h1":
        argv += ["--h1", "-H", f":authority: {run.H1_HOST}"]
    else:
        argv += ["-H", f":authority: {run.H2_HOST}"]
    out = subprocess.run(argv + [f"http://127.0.0.1:{port}/"], capture_output=True, text=True, timeout=300).stdout
    m = re.search(r"status codes: (\d+) 2xx", out)
    ok = int(m.group(1)) if m else 0
    if ok != n:
        raise run.BenchError(f"h2load: {ok} of {n} answered 2xx\n{out}")
    return ok


def ensure_tracefs():
    if not os.path.exists("/sys/kernel/tracing/events/syscalls"):
        subprocess.run(["mount", "-t", "tracefs", "nodev", "/sys/kernel/tracing"], capture_output=True)
    if not os.path.exists("/sys/kernel/tracing/events/syscalls"):
        raise SystemExit("syscalls.py: --tracer perf needs tracefs at /sys/kernel/tracing (mount -t tracefs nodev ...)")


def count_with_perf(tree, out, load):
    events = ",".join(f"syscalls:sys_enter_{name}" for name in PERF_SYSCALLS)
    counter = subprocess.Popen(["perf", "stat", "-x,", "-o", out, "-e", events, "-p", ",".join(map(str, tree))],
                               stderr=subprocess.DEVNULL)
    time.sleep(0.5)
    ok = load()
    counter.send_signal(signal.SIGINT)
    counter.wait(timeout=30)
    counts = {}
    with open(out) as f:
        for line in f:
            fields = line.strip().split(",")
            if len(fields) > 2 and fields[0].isdigit() and "sys_enter_" in fields[2]:
                counts[fields[2].split("sys_enter_", 1)[1]] = int(fields[0])
    return {k: (c / ok, 0) for k, c in counts.items() if c}


def count_with_strace(tree, out, load):
    argv = ["strace", "-c", "-f", "-o", out]
    for pid in tree:
        for tid in os.listdir(f"/proc/{pid}/task"):
            argv += ["-p", tid]
    tracer = subprocess.Popen(argv, stderr=subprocess.DEVNULL)
    time.sleep(1.0)  # let strace attach to every thread
    ok = load()
    time.sleep(0.3)
    tracer.send_signal(signal.SIGINT)
    tracer.wait(timeout=30)
    with open(out) as f:
        return {k: (c / ok, e / ok) for k, (c, e) in parse_strace_summary(f.read()).items()}


def measure(name, env, protocol, n, streams, tracer, rps=0):
    target = run.start_target(name, env)
    try:
        port = target.port(protocol if protocol == "h1" else "h2")
        h2load(port, protocol, 500, streams)  # warm-up: connections to the backend exist, caches are warm
        tree = run.process_tree(target.proc.pid)
        out = os.path.join(env["work"], f"{name}-{protocol}.{tracer}")
        count = count_with_perf if tracer == "perf" else count_with_strace
        return count(tree, out, lambda: h2load(port, protocol, n, streams, rps))
    finally:
        target.proc.stop()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--weft", help="weft binary (without it the weft row is left out)")
    ap.add_argument("--protocol", choices=["h1", "h2c"], default="h1")
    ap.add_argument("-n", type=int, default=20000)
    ap.add_argument("-m", type=int, default=1, help="streams at a time per connection (h2c)")
    ap.add_argument("--tracer", choices=["strace", "perf"], default="strace")
    ap.add_argument("--rps", type=int, default=0,
                    help="requests per second per connection (16 connections; 0: as fast as the proxy answers)")
    ap.add_argument("--only", default="", help="comma-separated subset of " + ",".join(PROXIES))
    args = ap.parse_args()
    for tool in (args.tracer, "h2load", "haproxy", "nginx", "nghttpx", "taskset"):
        if not shutil.which(tool):
            raise SystemExit(f"syscalls.py: {tool} is not installed")
    if args.tracer == "perf":
        ensure_tracefs()
    names = [p for p in PROXIES if (p != "weft" or args.weft) and (not args.only or p in args.only.split(","))]
    run.raise_nofile()
    work = tempfile.mkdtemp(prefix="weft-syscalls-")
    env = {"work": work, "weft": os.path.abspath(args.weft) if args.weft else None}
    backend = None
    try:
        backends = {"h1": run.free_port(), "h2": run.free_port()}
        env["backends"] = backends
        bconf = run.write(os.path.join(work, "backend.conf"), run.backend_nginx_conf(work, backends["h1"], backends["h2"]))
        backend = run.Proc("backend", ["nginx", "-p", work, "-c", bconf], work, run.LOAD_CPU)
        for p in backends.values():
            run.wait_port(p, backend)
        rows = {name: measure(name, env, args.protocol, args.n, args.m, args.tracer, args.rps) for name in names}
    finally:
        if backend:
            backend.stop()
        shutil.rmtree(work, ignore_errors=True)

    names_seen = sorted({k for r in rows.values() for k in r}, key=lambda k: -max(r.get(k, (0, 0))[0] for r in rows.values()))
    shown = [k for k in names_seen if max(r.get(k, (0, 0))[0] for r in rows.values()) >= 0.01]
    print(f"Syscalls per request, {args.protocol}, h2load -c16 -m{args.m} -n {args.n}"
          + (f" --rps={args.rps}" if args.rps else "") + f", counted by {args.tracer}"
          + (" (errors in brackets, e.g. EAGAIN)" if args.tracer == "strace" else "") + "\n")
    print("| syscall | " + " | ".join(names) + " |")
    print("|---|" + "---:|" * len(names))
    for k in shown:
        cells = []
        for name in names:
            c, e = rows[name].get(k, (0, 0))
            cells.append("—" if c == 0 else (f"{c:.2f}" + (f" ({e:.2f})" if e >= 0.005 else "")))
        print(f"| {k} | " + " | ".join(cells) + " |")
    print("| **total** | " + " | ".join(f"**{sum(c for c, _ in rows[n].values()):.2f}**" for n in names) + " |")


if __name__ == "__main__":
    sys.exit(main())
