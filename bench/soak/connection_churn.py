#!/usr/bin/python3
"""Connection churn soak (issue 3): 50 000 new upstream connections a minute for 2 minutes, no EADDRNOTAVAIL.

weft (2 workers) forwards HTTP/1.1 to one nginx with `max_requests_per_connection: 1`,
so every request opens a new upstream connection from an ephemeral port. wrk
drives the load on keep-alive client connections, paced by a Lua delay() so the
rate lands a little above the target (h2load's --rps stops pacing once its
connections are closed, and weft currently passes the upstream's
`Connection: close` on to the client, so client connections churn as well).
Checked at the end:
  - weft_connect_attempts_total{cluster} has no errno="EADDRNOTAVAIL" (nor any
    other failure) and the successful connects reach the target rate;
  - every client request got a 2xx (wrk: no socket errors, no non-2xx), nginx saw one request per connection.
TIME_WAIT sockets on the host are sampled every 5 s and printed, with the
kernel settings that decide port reuse (ip_local_port_range, tcp_tw_reuse).

Not part of `make test` (minutes long). Run:
  /usr/bin/python3 bench/soak/connection_churn.py [--weft build/bin/weft] [--minutes 2] [--per-minute 50000]
Exit status 0 when every check holds, 1 otherwise.
"""
import argparse
import os
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(SOURCE, "test", "lib"))


def sysctl(name):
    try:
        with open("/proc/sys/" + name.replace(".", "/")) as f:
            return f.read().strip().replace("\t", " ")
    except OSError:
        return "?"


def time_wait_count(filt=None):
    argv = ["ss", "-tan", "state", "time-wait"] + ([filt] if filt else [])
    r = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    return max(0, len(r.stdout.splitlines()) - 1)


def parse_wrk(out):
    """{"requests", "non2xx", "socket_errors": {connect, read, write, timeout}} from wrk's summary."""
    import re
    m = re.search(r"(\d+) requests in", out)
    n = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    e = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    return {"requests": int(m.group(1)) if m else 0, "non2xx": int(n.group(1)) if n else 0,
            "socket_errors": dict(zip(("connect", "read", "write", "timeout"), map(int, e.groups()))) if e else {}}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--weft", default=None, help="weft binary (default $WEFT_BIN or build/bin/weft)")
    ap.add_argument("--minutes", type=float, default=2.0)
    ap.add_argument("--per-minute", type=int, default=50000, help="target new upstream connections per minute")
    ap.add_argument("--clients", type=int, default=10, help="wrk connections")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--keep", action="store_true", help="keep the temporary folder with every log")
    args = ap.parse_args()
    if args.weft:
        os.environ["WEFT_BIN"] = os.path.abspath(args.weft)
    from weft_harness import Env, cluster  # noqa: E402

    # Each wrk connection waits `pause` ms before each request: about
    # clients x 1000 / (pause + ~2 ms of latency) requests/s; aim ~15 % above the target.
    rate = args.per_minute / 60.0 * 1.15
    pause = max(0, int(args.clients * 1000 / rate) - 2)
    seconds = int(args.minutes * 60)
    env = Env("connection-churn", keep=args.keep)
    ok = False
    try:
        ng = env.nginx(keepalive_requests=1000)
        weft = env.weft(workers=args.workers, log_level="warn", clusters=[
            cluster("conn.test:80", [ng.addr], protocol="http1", max_requests_per_connection=1)])
        print(f"kernel: ip_local_port_range={sysctl('net.ipv4.ip_local_port_range')} "
              f"tcp_tw_reuse={sysctl('net.ipv4.tcp_tw_reuse')} tcp_fin_timeout={sysctl('net.ipv4.tcp_fin_timeout')}")
        print(f"target {args.per_minute}/min new upstream connections for {seconds}s: wrk {args.clients} connections, "
              f"{pause} ms pause per request (aim ~{rate:.0f} req/s), weft workers={args.workers}, "
              f"max_requests_per_connection=1")
        script = env.path("pace.lua")
        with open(script, "w") as f:
            f.write(f'wrk.headers["Host"] = "conn.test"\nfunction delay() return {pause} end\n')
        tw, stop = [], threading.Event()

        def sample():
            while not stop.wait(5):
                m = weft.metrics()
                okc = m.sum("weft_connect_attempts_total", cluster="conn.test:80", result="ok")
                # Which side holds TIME_WAIT: weft's upstream sockets (ephemeral ports, the ones that
                # could run out), nginx's side, or weft's client-facing side.
                split = (time_wait_count(f"( dport = :{ng.port} )"), time_wait_count(f"( sport = :{ng.port} )"),
                         time_wait_count(f"( sport = :{weft.port} )"))
                tw.append((round(time.monotonic() - t0), time_wait_count(), int(okc), weft.rss()["VmRSS"]))
                print(f"  t={tw[-1][0]:4d}s TIME_WAIT={tw[-1][1]:6d} (weft->nginx {split[0]}, nginx side {split[1]}, "
                      f"client->weft {split[2]}) upstream connects ok={tw[-1][2]:7d} weft RSS={tw[-1][3]} kB",
                      flush=True)

        m0 = weft.metrics()
        ok0 = m0.sum("weft_connect_attempts_total", cluster="conn.test:80", result="ok")
        t0 = time.monotonic()
        th = threading.Thread(target=sample, daemon=True)
        th.start()
        wrk = subprocess.run(["wrk", "-t", "2", "-c", str(args.clients), "-d", f"{seconds}s", "--timeout", "10s",
                              "-s", script, f"http://127.0.0.1:{weft.port}/hello"],
                             capture_output=True, text=True, timeout=seconds + 120)
        r = parse_wrk(wrk.stdout + wrk.stderr)
        elapsed = time.monotonic() - t0
        stop.set()
        th.join(30)
        m = weft.metrics()
        attempts = {}
        for ls, v in m.matching("weft_connect_attempts_total").items():
            d = dict(ls)
            if d.get("cluster") == "conn.test:80":
                key = (d.get("result"), d.get("errno"), d.get("kind"))
                attempts[key] = attempts.get(key, 0) + int(v)
        connects_ok = m.sum("weft_connect_attempts_total", cluster="conn.test:80", result="ok") - ok0
        failed_connects = {k: v for k, v in attempts.items() if k[0] != "ok"}
        eaddr = sum(v for k, v in attempts.items() if k[1] == "EADDRNOTAVAIL")
        lines = ng.access_lines()
        conns = {l.split()[1] for l in lines if " conn=" in l}
        per_min = connects_ok / elapsed * 60
        responses = {k: m.sum("weft_responses_total", cluster="conn.test:80", status_class=k)
                     for k in ("2xx", "4xx", "5xx", "none")}
        print(f"wrk: {elapsed:.1f}s, requests={r['requests']} ({r['requests'] / elapsed:.0f}/s) "
              f"non-2xx/3xx={r['non2xx']} "
              f"socket errors={r['socket_errors']} (rc {wrk.returncode})")
        print(f"weft responses by class: {responses}")
        print(f"upstream connects ok: {connects_ok:.0f} in {elapsed:.1f}s = {per_min:.0f}/min; nginx requests "
              f"{len(lines)} on {len(conns)} connections")
        print(f"connect attempts by (result, errno, kind): {attempts}")
        print(f"EADDRNOTAVAIL: {eaddr}; failed connects: {failed_connects}")
        print(f"TIME_WAIT max {max((t[1] for t in tw), default=0)}; weft RSS start/end "
              f"{tw[0][3] if tw else '?'} / {weft.rss()['VmRSS']} kB")
        checks = {
            "no EADDRNOTAVAIL": eaddr == 0,
            "no failed upstream connects": not failed_connects,
            f"connect rate >= {args.per_minute}/min": per_min >= args.per_minute,
            "every client request succeeded": wrk.returncode == 0 and r["requests"] > 0 and r["non2xx"] == 0
            and not any(r["socket_errors"].values()) and responses["5xx"] == 0 and responses["none"] == 0,
            "one request per upstream connection": len(conns) == len(lines),
        }
        for name, good in checks.items():
            print(f"{'PASS' if good else 'FAIL'}: {name}")
        ok = all(checks.values())
        if not ok:
            print(wrk.stdout[-3000:], wrk.stderr[-2000:])
    finally:
        env.close(failed=not ok)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
