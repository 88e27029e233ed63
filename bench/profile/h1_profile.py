#!/usr/bin/env python3
"""Deterministic per-request cost of weft's HTTP/1.1 (or, with --protocol h2c, HTTP/2) path (issue 6).

Wall-clock benchmarks are noisy on a shared machine; instruction counts and
syscall counts are not. This runs weft (1 worker, cluster protocol http1) in
front of an nginx backend returning a fixed 200, warms up, then measures a
fixed number of keep-alive requests (h2load --h1, 4 connections):

  --mode callgrind  instructions retired per request (valgrind callgrind,
                    counters zeroed after the warm-up), malloc calls per
                    request (from callgrind's call counts), top functions
  --mode strace     syscalls per request (strace -c attached to every thread
                    after the warm-up)

  --protocol h2c   the same with h2c on both sides: h2load prior knowledge
                    (-m streams per connection at a time, default 1), an
                    `http2` cluster, nginx `listen ... http2`
  --protocol grpc  unary gRPC calls over h2c (a framed empty message; nginx
                    answers with a framed empty message and grpc-status 0)

  --target nghttpx  the same measurement of nghttpx (one worker, backend
                    proto=h2 for h2c and gRPC), started as bench/e2e/run.py
                    starts it: instructions per request of a peer under the
                    same harness
  --cache-sim       with callgrind's cache simulation: first-level data and
                    instruction misses and last-level misses per request
                    (valgrind's model of a cache, not this host's; it compares
                    proxies, it does not predict their speed)
  --branch-sim      with callgrind's branch predictor model: mispredicted
                    conditional and indirect branches per request (again
                    a model, for comparing proxies)

Usage: bench/profile/h1_profile.py --weft build/bin/weft [--mode callgrind|strace] [--protocol h1|h2c|grpc]
       [--target weft|nghttpx] [--cache-sim] [--branch-sim] [-n 3000] [-c 4] [-m 1]
"""
import argparse
import collections
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from strace_summary import parse_strace_summary  # noqa: E402


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, timeout):
    end = time.time() + timeout
    while time.time() < end:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"port {port} never opened")


GRPC_PATH = "/bench.Echo/Unary"


def h2load(port, n, conns, h2c=False, streams=1, grpc_body=None):
    proto = ["-m", str(streams)] if h2c else ["--h1"]
    authority = "h2.bench:80" if h2c else "h1.bench:80"
    target = f"http://127.0.0.1:{port}/"
    if grpc_body:  # unary gRPC: a framed empty message, as bench/e2e/run.py sends
        proto += ["-d", grpc_body, "-H", "content-type: application/grpc", "-H", "te: trailers"]
        target = f"http://127.0.0.1:{port}{GRPC_PATH}"
    out = subprocess.run(["h2load"] + proto + ["-n", str(n), "-c", str(conns), "-H", f":authority: {authority}",
                          target], capture_output=True, text=True, timeout=600).stdout
    m = re.search(r"status codes: (\d+) 2xx", out)
    ok = int(m.group(1)) if m else 0
    if ok != n:
        sys.stderr.write(out)
        raise SystemExit(f"h2load: {ok} of {n} requests answered 2xx")
    return ok


# Where a program asks for memory, under glibc (operator new calls malloc) or
# mimalloc (which replaces operator new itself): counted only when the caller
# is not one of them, so one allocation counts once whichever library serves it.
ALLOC_ENTRIES = ("malloc", "calloc", "realloc", "aligned_alloc", "posix_memalign", "memalign",
                 "operator new(unsigned long)", "operator new[](unsigned long)",
                 "operator new(unsigned long, std::align_val_t)", "operator new(unsigned long, std::nothrow_t const&)")
FREE_ENTRIES = ("free", "operator delete(void*)", "operator delete[](void*)", "operator delete(void*, unsigned long)",
                "operator delete[](void*, unsigned long)", "operator delete(void*, std::align_val_t)",
                "operator delete(void*, unsigned long, std::align_val_t)")


def parse_callgrind(path):
    """Total Ir, calls per callee name (from outside the allocator's entry points for those), and self Ir per
    function, from a (name-compressed) callgrind dump."""
    names = {}
    calls = collections.Counter()
    self_ir = collections.Counter()
    total = 0
    fn = None
    pending_callee = None
    in_call = False

    def name_of(spec):
        m = re.match(r"\((\d+)\)(?: (.*))?", spec)
        if not m:
            return spec
        if m.group(2):
            names[m.group(1)] = m.group(2)
        return names.get(m.group(1), m.group(1))

    with open(path, errors="replace") as f:
        for line in f:
            if line.startswith("fn="):
                fn = name_of(line[3:].strip())
            elif line.startswith("cfn="):
                pending_callee = name_of(line[4:].strip())
            elif line.startswith("calls="):
                if pending_callee not in ALLOC_ENTRIES + FREE_ENTRIES or fn not in ALLOC_ENTRIES + FREE_ENTRIES:
                    calls[pending_callee] += int(line[6:].split()[0])
                in_call = True
            elif line.startswith("summary:") or line.startswith("totals:"):
                total = int(line.split()[1])
            elif line[:1].isdigit() or line[:1] in "+-*":
                parts = line.split()
                if len(parts) >= 2 and not in_call:
                    self_ir[fn] += int(parts[1])
                in_call = False
            elif line.startswith(("fl=", "fi=", "fe=", "cfi=", "cfl=", "ob=", "cob=")):
                spec = line.split("=", 1)[1].strip()
                name_of(spec)
    return total, calls, self_ir


def children(pid):
    """Every descendant of `pid` (nghttpx's worker process)."""
    out = []
    for c in open(f"/proc/{pid}/task/{pid}/children").read().split():
        out += [int(c)] + children(int(c))
    return out


def cache_events(path):
    """Event name -> total, from a callgrind dump's `events:` and `summary:` lines."""
    names, totals = [], []
    with open(path, errors="replace") as f:
        for line in f:
            if line.startswith("events:"):
                names = line.split()[1:]
            elif line.startswith(("summary:", "totals:")):
                totals = [int(v) for v in line.split()[1:]]
                break
    return dict(zip(names, totals))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--weft", help="the weft binary (for --target weft)")
    ap.add_argument("--target", choices=["weft", "nghttpx"], default="weft")
    ap.add_argument("--cache-sim", action="store_true", help="callgrind's cache simulation: misses per request")
    ap.add_argument("--branch-sim", action="store_true", help="callgrind's branch prediction model: mispredictions per request")
    ap.add_argument("--mode", choices=["callgrind", "strace"], default="callgrind")
    ap.add_argument("--protocol", choices=["h1", "h2c", "grpc"], default="h1",
                    help="client and upstream protocol (grpc: unary calls over h2c)")
    ap.add_argument("-n", type=int, default=3000, help="measured requests")
    ap.add_argument("-c", type=int, default=4, help="client connections")
    ap.add_argument("-m", type=int, default=1,
                    help="h2c: concurrent streams per client connection (the e2e benchmark's max-throughput run uses 32)")
    ap.add_argument("--top", type=int, default=25)
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()
    if args.target == "weft" and not args.weft:
        ap.error("--weft is required for --target weft")
    work = tempfile.mkdtemp(prefix="weft-h1prof-")
    h2c = args.protocol in ("h2c", "grpc")
    grpc_body = None
    if args.protocol == "grpc":
        grpc_body = f"{work}/grpc-request.bin"
        with open(grpc_body, "wb") as f:
            f.write(b"\x00\x00\x00\x00\x00")
    backend, port, admin = free_port(), free_port(), free_port()
    with open(f"{work}/backend.conf", "w") as f:
        f.write(f"""worker_processes 1; daemon off; pid {work}/b.pid; error_log {work}/b.err warn;
events {{ worker_connections 1024; }}
http {{ access_log off; keepalive_requests 100000000; keepalive_timeout 300s;
  server {{ listen 127.0.0.1:{backend}{" http2" if h2c else ""}; location / {{ return 200 "ok\\n"; }}
    location {GRPC_PATH} {{ default_type application/grpc; add_trailer grpc-status 0 always;
      return 200 "\x00\x00\x00\x00\x00"; }} }} }}
""")
    with open(f"{work}/weft.yaml", "w") as f:
        f.write(f"""outbound: 127.0.0.1:{port}
admin: 127.0.0.1:{admin}
workers: 1
log_level: warn
clusters:
  - name: "{'h2.bench:80' if h2c else 'h1.bench:80'}"
    protocol: {'http2' if h2c else 'http1'}
    endpoints: ["127.0.0.1:{backend}"]
""")
    procs = []
    try:
        procs.append(subprocess.Popen(["nginx", "-p", work, "-c", f"{work}/backend.conf"], stderr=subprocess.DEVNULL))
        wait_port(backend, 10)
        out = f"{work}/callgrind.out.%p"  # one file per process (nghttpx forks its worker)
        if args.target == "weft":
            argv = [os.path.abspath(args.weft), "proxy", "--config", f"{work}/weft.yaml"]
        else:  # as bench/e2e/run.py starts it
            argv = ["nghttpx", "--conf=/dev/null", "--workers=1", "--log-level=WARN",
                    f"--frontend=127.0.0.1,{port};no-tls",
                    f"--backend=127.0.0.1,{backend};;" + ("proto=h2" if h2c else ""),
                    "--backend-keep-alive-timeout=300s", "--frontend-keep-alive-timeout=300s",
                    "--frontend-http2-max-concurrent-streams=1000"]
        if args.mode == "callgrind":
            argv = (["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", "--dump-instr=no",
                     "--trace-children=yes"] +
                    (["--cache-sim=yes"] if args.cache_sim else []) +
                    (["--branch-sim=yes"] if args.branch_sim else []) + argv)
        proxy = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=open(f"{work}/{args.target}.err", "w"))
        procs.append(proxy)
        wait_port(port, 120)
        h2load(port, 200, args.c, h2c, args.m, grpc_body)  # warm-up: connections, pools, lazily built state
        if args.mode == "callgrind":
            # Every process of the proxy's tree (no PID: callgrind_control acts on all of them).
            subprocess.run(["callgrind_control", "-z"], check=True, capture_output=True)
            h2load(port, args.n, args.c, h2c, args.m, grpc_body)
            subprocess.run(["callgrind_control", "-d"], check=True, capture_output=True)
            dumps = sorted(os.path.join(work, p) for p in os.listdir(work) if p.startswith("callgrind.out"))
            total, calls, self_ir = 0, collections.Counter(), collections.Counter()
            for d in dumps:
                t, c, s_ir = parse_callgrind(d)
                total += t
                calls.update(c)
                self_ir.update(s_ir)
            dump = max(dumps, key=os.path.getsize)
            mallocs = sum(v for k, v in calls.items() if k in ALLOC_ENTRIES)
            frees = sum(v for k, v in calls.items() if k in FREE_ENTRIES)
            throws = calls.get("__cxa_throw", 0)
            print(f"requests: {args.n} over {args.c} connections" + (f", {args.m} streams each" if h2c else ""))
            print(f"instructions per request: {total / args.n:,.0f}")
            print(f"malloc calls per request: {mallocs / args.n:.2f} (free {frees / args.n:.2f})")
            print(f"C++ throws per request: {throws / args.n:.2f}")
            if args.cache_sim:
                ev = collections.Counter()
                for d in dumps:
                    ev.update(cache_events(d))
                per = lambda *keys: sum(ev.get(k, 0) for k in keys) / args.n  # noqa: E731
                print(f"cache misses per request (callgrind's model): L1 data {per('D1mr', 'D1mw'):,.0f}, "
                      f"L1 instruction {per('I1mr'):,.0f}, last level {per('ILmr', 'DLmr', 'DLmw'):,.0f} "
                      f"(data reads+writes {per('Dr', 'Dw'):,.0f})")
            if args.branch_sim:
                ev = collections.Counter()
                for d in dumps:
                    ev.update(cache_events(d))
                print(f"branches per request (callgrind's model): conditional {ev.get('Bc', 0) / args.n:,.0f} "
                      f"({ev.get('Bcm', 0) / args.n:,.0f} mispredicted), indirect {ev.get('Bi', 0) / args.n:,.0f} "
                      f"({ev.get('Bim', 0) / args.n:,.0f} mispredicted)")
            print(f"top {args.top} functions by self instructions (share of total):")
            for name, ir in self_ir.most_common(args.top):
                print(f"  {100.0 * ir / total:5.1f}%  {ir / args.n:8,.0f}/req  {name[:110]}")
            print(f"dump: {dump}  (callgrind_annotate --inclusive=yes {dump})")
        else:
            tids = [t for pid in [proxy.pid] + children(proxy.pid) for t in os.listdir(f"/proc/{pid}/task")]
            st = subprocess.Popen(["strace", "-c", "-f", "-o", f"{work}/strace.txt"] +
                                  sum((["-p", t] for t in tids), []), stderr=subprocess.DEVNULL)
            time.sleep(1.0)
            h2load(port, args.n, args.c, h2c, args.m, grpc_body)
            st.send_signal(signal.SIGINT)
            st.wait(timeout=30)
            print(f"requests: {args.n} over {args.c} connections; syscalls per request:")
            with open(f"{work}/strace.txt") as f:
                summary = parse_strace_summary(f.read())
            for name, (calls_n, errors) in sorted(summary.items(), key=lambda kv: -kv[1][0]):
                print(f"  {name:16} {calls_n / args.n:6.2f}" + (f"  ({errors / args.n:.2f} errors)" if errors else ""))
            print(f"  {'total':16} {sum(c for c, _ in summary.values()) / args.n:6.2f}")
    finally:
        for p in reversed(procs):
            p.terminate()
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"kept {work}")


if __name__ == "__main__":
    main()
