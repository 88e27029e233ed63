#!/usr/bin/python3
"""Controller scale benchmark (issue 4): 10 000 endpoints in 1 000 services,
100 subscribers each subscribed to every service, 100 endpoint changes a
second through the etcd source; update-to-subscriber latency p50/p99,
controller CPU and peak memory.

    make bench-controller      (or: bench/controller_scale/run.py --weft build/bin/weft
                                      --client build/bench/weft_controller_scale_bench)

Starts a real etcd-server and `weft controller` on free loopback ports, loads
the services into etcd, then runs the C++ client (scale_client.cc): 100
DiscoveryClients (the proxy's xDS client) and the writer. Bounded: about
2 minutes at the defaults. Prints the client's JSON plus the controller's
CPU (utime + stime from /proc/PID/stat) per phase and its peak RSS (VmHWM),
and the client's and etcd's CPU over the change phase (all share the
machine's cores).
"""
import argparse
import base64
import http.client
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
TICKS = os.sysconf("SC_CLK_TCK")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, timeout, proc=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"port {port} did not open within {timeout}s")


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def status_kib(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def b64(s):
    return base64.b64encode(s.encode()).decode()


def etcd_call(port, path, body):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    c.request("POST", path, json.dumps(body), {"Content-Type": "application/json"})
    r = c.getresponse()
    data = r.read()
    c.close()
    if r.status != 200:
        raise RuntimeError(f"etcd {path}: {r.status} {data[:200]}")
    return json.loads(data)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--weft", default=os.path.join(ROOT, "build", "bin", "weft"))
    ap.add_argument("--client", default=os.path.join(ROOT, "build", "bench", "weft_controller_scale_bench"))
    ap.add_argument("--services", type=int, default=1000)
    ap.add_argument("--per-service", type=int, default=10)
    ap.add_argument("--subscribers", type=int, default=100)
    ap.add_argument("--rate", type=int, default=100)
    ap.add_argument("--seconds", type=int, default=60)
    ap.add_argument("--client-kind", default="raw", choices=["raw", "discovery"],
                    help="raw ADS streams (the controller) or the proxy's DiscoveryClient (the whole chain)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary folder (logs)")
    args = ap.parse_args()

    tmp = tempfile.mkdtemp(prefix="weft-controller-scale-")
    procs = []
    try:
        cport, pport = free_port(), free_port()
        etcd = subprocess.Popen(
            ["etcd", "--name", "bench", "--data-dir", os.path.join(tmp, "etcd"),
             "--listen-client-urls", f"http://127.0.0.1:{cport}", "--advertise-client-urls", f"http://127.0.0.1:{cport}",
             "--listen-peer-urls", f"http://127.0.0.1:{pport}", "--initial-advertise-peer-urls",
             f"http://127.0.0.1:{pport}", "--initial-cluster", f"bench=http://127.0.0.1:{pport}",
             "--log-level", "warn", "--quota-backend-bytes", str(4 << 30)],
            stdout=open(os.path.join(tmp, "etcd.log"), "wb"), stderr=subprocess.STDOUT, start_new_session=True)
        procs.append(etcd)
        wait_port(cport, 20, etcd)
        deadline = time.monotonic() + 20
        while True:
            try:
                etcd_call(cport, "/v3/kv/range", {"key": b64("probe")})
                break
            except (OSError, RuntimeError):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

        t = time.monotonic()
        ops = []
        for s in range(args.services):
            name = f"svc-{s:04d}.bench:80"
            for i in range(args.per_service):
                addr = f"127.{1 + s // 250}.{s % 250}.{i + 1}:8080"
                ops.append({"request_put": {"key": b64(f"/weft/services/{name}/i{i}"),
                                            "value": b64(json.dumps({"address": addr}))}})
        for i in range(0, len(ops), 128):  # etcd's default --max-txn-ops
            etcd_call(cport, "/v3/kv/txn", {"success": ops[i:i + 128]})
        print(f"loaded {len(ops)} instances in {args.services} services into etcd in {time.monotonic() - t:.1f} s",
              file=sys.stderr)

        xds, admin = free_port(), free_port()
        cfg = os.path.join(tmp, "controller.yaml")
        with open(cfg, "w") as f:
            f.write(f"xds: 127.0.0.1:{xds}\nadmin: 127.0.0.1:{admin}\nlog_level: warn\nsource:\n"
                    f"  etcd:\n    endpoints: [http://127.0.0.1:{cport}]\n    prefix: /weft/\n")
        t = time.monotonic()
        ctl = subprocess.Popen([args.weft, "controller", "--config", cfg],
                               stdout=open(os.path.join(tmp, "controller.log"), "wb"), stderr=subprocess.STDOUT,
                               start_new_session=True)
        procs.append(ctl)
        wait_port(xds, 60, ctl)
        print(f"controller serving after {time.monotonic() - t:.2f} s; RSS {status_kib(ctl.pid, 'VmRSS')} KiB",
              file=sys.stderr)

        cpu = {"start": cpu_seconds(ctl.pid)}
        wall = {"start": time.monotonic()}
        client = subprocess.Popen(
            [args.client, "--xds", f"127.0.0.1:{xds}", "--etcd", f"127.0.0.1:{cport}",
             "--subscribers", str(args.subscribers), "--services", str(args.services),
             "--endpoints-per-service", str(args.per_service), "--rate", str(args.rate),
             "--seconds", str(args.seconds), "--client", args.client_kind], stdout=subprocess.PIPE, text=True, start_new_session=True)
        procs.append(client)
        result = None
        for line in client.stdout:
            line = line.strip()
            if line.startswith("PHASE "):
                phase = line.split()[1]
                cpu[phase] = cpu_seconds(ctl.pid)
                cpu["client_" + phase] = cpu_seconds(client.pid)
                cpu["etcd_" + phase] = cpu_seconds(etcd.pid)
                wall[phase] = time.monotonic()
            elif line.startswith("{"):
                result = json.loads(line)
        client.wait(timeout=600)
        if client.returncode != 0 or result is None:
            raise RuntimeError(f"client failed ({client.returncode})")
        result["controller_cpu_sync_s"] = round(cpu["changes"] - cpu["start"], 2)
        change_wall = wall["drain"] - wall["changes"]
        result["controller_cpu_changes_s"] = round(cpu["drain"] - cpu["changes"], 2)
        result["controller_cpu_changes_pct"] = round(100 * (cpu["drain"] - cpu["changes"]) / change_wall, 1)
        result["client_cpu_changes_pct"] = round(
            100 * (cpu["client_drain"] - cpu["client_changes"]) / change_wall, 1)
        result["etcd_cpu_changes_pct"] = round(100 * (cpu["etcd_drain"] - cpu["etcd_changes"]) / change_wall, 1)
        with open("/proc/loadavg") as f:
            result["loadavg_1m_at_end"] = float(f.read().split()[0])
        result["controller_peak_rss_mib"] = round(status_kib(ctl.pid, "VmHWM") / 1024, 1)
        result["controller_rss_mib"] = round(status_kib(ctl.pid, "VmRSS") / 1024, 1)
        c = http.client.HTTPConnection("127.0.0.1", admin, timeout=10)
        c.request("GET", "/metrics")
        metrics = c.getresponse().read().decode()
        c.close()
        for line in metrics.splitlines():
            if line.startswith(("weft_xds_pushes_total", "weft_controller_snapshot_generation",
                                "weft_controller_source_events_total")):
                name, value = line.rsplit(" ", 1)
                result[name] = int(float(value))
        print(json.dumps(result, indent=1))
        return 0 if result["missed"] == 0 else 1
    finally:
        for p in reversed(procs):
            if p.poll() is None:
                try:
                    os.killpg(p.pid, 15)
                    p.wait(10)
                except (ProcessLookupError, subprocess.TimeoutExpired):
                    os.killpg(p.pid, 9)
        if args.keep:
            print(f"(logs in {tmp})", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
