#!/usr/bin/python3
"""Tap overhead: what a connected `weft tap` client costs the data path (issue 5).

One weft proxy (1 worker, on CPU 1 with taskset when there are 2+ CPUs) in
front of nginx; h2load (HTTP/1.1 keep-alive GET) and the tap client run on CPU
0. Two modes, each run alternately without and with a tap client attached
(the tap client reads the whole unfiltered NDJSON stream and counts records):

  rate   h2load --rps at --rate requests/s total for --seconds: proxy CPU
         µs per request (utime+stime from /proc/PID/stat over the run,
         divided by the 2xx responses) and the achieved rate;
  max    h2load as fast as it can (-c 16, -n --max-requests): the achieved
         throughput.

Medians over --reps repetitions. Prints a Markdown table (the one in
docs/benchmarks.md, "Tap overhead") and the JSON figures.

    /usr/bin/python3 bench/e2e/tap_overhead.py --weft build/bin/weft [--rate 5000] [--seconds 10] [--reps 3]

Standard library only; every process started here is stopped at the end.
"""
import argparse
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

TICK = os.sysconf("SC_CLK_TCK")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"port {port} not listening")


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def pin(cpu):
    return ["taskset", "-c", str(cpu)] if (os.cpu_count() or 1) >= 2 and shutil.which("taskset") else []


class TapClient:
    """Reads GET /tap (no filter) to the end, counting request records and drops."""

    def __init__(self, admin_port):
        self.sock = socket.create_connection(("127.0.0.1", admin_port))
        self.sock.sendall(b"GET /tap HTTP/1.1\r\nHost: bench\r\n\r\n")
        self.records = 0
        self.dropped = 0
        self.stop = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        self.sock.settimeout(0.5)
        tail = b""
        while not self.stop:
            try:
                data = self.sock.recv(1 << 16)
            except socket.timeout:
                continue
            except OSError:
                return
            if not data:
                return
            data = tail + data
            self.records += data.count(b'"type":"request"')
            for m in re.finditer(rb'"ring_full":(\d+),"client_slow":(\d+)', data):
                self.dropped += int(m.group(1)) + int(m.group(2))
            # Keep a partial record for the next read so a split one is counted once.
            cut = data.rfind(b"\n")
            tail = data[cut + 1:] if cut >= 0 else data

    def close(self):
        self.stop = True
        self.thread.join(2)
        self.sock.close()


def h2load(url, argv, timeout):
    r = subprocess.run(pin(0) + ["h2load", "--h1", *argv, url], capture_output=True, text=True, timeout=timeout)
    out = {"raw": r.stdout[-800:]}
    m = re.search(r"finished in ([\d.]+)(m?s), ([\d.]+) req/s", r.stdout)
    if m:
        out["seconds"] = float(m.group(1)) / (1000 if m.group(2) == "ms" else 1)
        out["rps"] = float(m.group(3))
    m = re.search(r"status codes: (\d+) 2xx", r.stdout)
    out["ok"] = int(m.group(1)) if m else 0
    m = re.search(r"(\d+) failed, (\d+) errored", r.stdout)
    out["failed"] = int(m.group(1)) + int(m.group(2)) if m else -1
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--weft", default=os.environ.get("WEFT_BIN", "build/bin/weft"))
    ap.add_argument("--rate", type=int, default=5000)
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--max-requests", type=int, default=100000)
    ap.add_argument("--reps", type=int, default=3)
    args = ap.parse_args()

    tmp = tempfile.mkdtemp(prefix="weft-tap-bench-")
    procs = []

    def cleanup(*_):
        for p in procs:
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(5)
                except subprocess.TimeoutExpired:
                    p.kill()
        shutil.rmtree(tmp, ignore_errors=True)

    signal.signal(signal.SIGTERM, lambda *a: (cleanup(), sys.exit(1)))
    try:
        ng_port, port, admin = free_port(), free_port(), free_port()
        user = "user root;\n" if os.geteuid() == 0 else ""
        with open(f"{tmp}/nginx.conf", "w") as f:
            f.write(f"""{user}worker_processes 1; pid {tmp}/nginx.pid; error_log {tmp}/nginx.err;
events {{ worker_connections 4096; }}
http {{ access_log off; client_body_temp_path {tmp}/b; proxy_temp_path {tmp}/p; fastcgi_temp_path {tmp}/f;
  uwsgi_temp_path {tmp}/u; scgi_temp_path {tmp}/s; keepalive_requests 100000;
  server {{ listen 127.0.0.1:{ng_port}; location / {{ return 200 "ok\\n"; }} }} }}
""")
        procs.append(subprocess.Popen(pin(0) + ["nginx", "-p", tmp, "-c", f"{tmp}/nginx.conf", "-g",
                                                "daemon off; master_process off;"]))
        wait_port(ng_port)
        with open(f"{tmp}/proxy.yaml", "w") as f:
            json.dump({"outbound": f"127.0.0.1:{port}", "admin": f"127.0.0.1:{admin}", "workers": 1,
                       "log_level": "warn",
                       "clusters": [{"name": f"127.0.0.1:{port}", "endpoints": [f"127.0.0.1:{ng_port}"]}]}, f)
        proxy = subprocess.Popen(pin(1) + [args.weft, "proxy", "--config", f"{tmp}/proxy.yaml"],
                                 stdout=open(f"{tmp}/proxy.log", "w"), stderr=subprocess.STDOUT)
        procs.append(proxy)
        wait_port(admin)
        wait_port(port)
        url = f"http://127.0.0.1:{port}/"
        h2load(url, ["-n", "5000", "-c", "4"], 60)  # warm up pools and caches

        conns = 10
        results = {"rate": {False: [], True: []}, "max": {False: [], True: []}}
        taps = []
        for rep in range(args.reps):
            for tapped in ((False, True) if rep % 2 == 0 else (True, False)):
                tap = TapClient(admin) if tapped else None
                time.sleep(0.3)
                c0 = cpu_seconds(proxy.pid)
                r = h2load(url, ["-c", str(conns), "--rps", str(args.rate / conns), "-D", str(args.seconds)],
                           args.seconds + 60)
                c1 = cpu_seconds(proxy.pid)
                r["cpu_us_per_req"] = (c1 - c0) * 1e6 / max(r["ok"], 1)
                results["rate"][tapped].append(r)
                m = h2load(url, ["-c", "16", "-n", str(args.max_requests)], 300)
                results["max"][tapped].append(m)
                if tap:
                    time.sleep(0.5)
                    tap.close()
                    taps.append({"records": tap.records, "dropped": tap.dropped,
                                 "sent": r["ok"] + m["ok"]})
                print(f"rep {rep} tap={tapped}: rate {r.get('rps', 0):.0f} req/s "
                      f"{r['cpu_us_per_req']:.1f} µs/req, max {m.get('rps', 0):.0f} req/s, "
                      f"failed {r['failed']}+{m['failed']}", file=sys.stderr)

        def med(xs):
            return statistics.median(xs) if xs else float("nan")

        summary = {}
        for tapped in (False, True):
            summary[tapped] = {
                "rate_rps": med([r.get("rps", 0) for r in results["rate"][tapped]]),
                "cpu_us_per_req": med([r["cpu_us_per_req"] for r in results["rate"][tapped]]),
                "max_rps": med([r.get("rps", 0) for r in results["max"][tapped]]),
                "failed": sum(r["failed"] for k in results for r in results[k][tapped]),
            }
        off, on = summary[False], summary[True]
        print("| mode | without tap | with tap | change |")
        print("|---|---|---|---|")
        print(f"| {args.rate} req/s offered: achieved req/s | {off['rate_rps']:.0f} | {on['rate_rps']:.0f} | "
              f"{100 * (on['rate_rps'] / off['rate_rps'] - 1):+.1f} % |")
        print(f"| {args.rate} req/s offered: proxy CPU µs/request | {off['cpu_us_per_req']:.1f} | "
              f"{on['cpu_us_per_req']:.1f} | {100 * (on['cpu_us_per_req'] / off['cpu_us_per_req'] - 1):+.1f} % |")
        print(f"| max throughput (h2load -c 16): req/s | {off['max_rps']:.0f} | {on['max_rps']:.0f} | "
              f"{100 * (on['max_rps'] / off['max_rps'] - 1):+.1f} % |")
        print(json.dumps({"without": off, "with": on, "tap_clients": taps, "reps": args.reps, "rate": args.rate,
                          "seconds": args.seconds}))
    finally:
        cleanup()


if __name__ == "__main__":
    main()
