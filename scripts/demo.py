#!/usr/bin/python3
"""`make demo`, stage 1: weft proxying real HTTP/1.1, h2c and gRPC traffic on loopback.

Starts an nginx HTTP/1.1 backend, an nginx h2c backend, the Python gRPC echo
server and weft, all on free 127.0.0.1 ports; sends a mix of traffic through
weft for --duration seconds; prints a summary (requests, errors, p50/p99 per
protocol, weft's memory). Exit 0 only if no request failed. Cleans up on exit
and on Ctrl-C. Builds nothing: pass the binary with --weft.
"""
import argparse
import os
import signal
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.dirname(HERE)
os.environ.setdefault("WEFT_SOURCE", SOURCE)
sys.path.insert(0, os.path.join(SOURCE, "test", "lib"))
from weft_harness import (Env, H2Client, HarnessError, cluster, grpc_channel, import_stubs,  # noqa: E402
                          percentile)

import http.client  # noqa: E402


class Stats:
    def __init__(self, name):
        self.name = name
        self.lat = []
        self.errors = 0
        self.examples = []
        self.lock = threading.Lock()

    def ok(self, seconds):
        with self.lock:
            self.lat.append(seconds)

    def fail(self, what):
        with self.lock:
            self.errors += 1
            if len(self.examples) < 3:
                self.examples.append(what)


def h1_worker(port, stop, stats):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    i = 0
    while not stop.is_set():
        path = "/hello" if i % 3 else "/echo"
        t0 = time.perf_counter()
        try:
            conn.putrequest("GET", f"{path}?i={i}", skip_host=True, skip_accept_encoding=True)
            conn.putheader("Host", "web.demo")
            conn.endheaders()
            r = conn.getresponse()
            r.read()
            if r.status == 200:
                stats.ok(time.perf_counter() - t0)
            else:
                stats.fail(f"HTTP/1.1 {path}: {r.status} {r.getheader('weft-proxy-error')}")
        except (OSError, http.client.HTTPException) as e:
            stats.fail(f"HTTP/1.1 {path}: {type(e).__name__}: {e}")
            conn.close()
        i += 1


def h2_worker(port, stop, stats):
    client = None
    i = 0
    while not stop.is_set():
        t0 = time.perf_counter()
        try:
            if client is None:
                client = H2Client(port)
            status, headers, _ = client.request("GET", f"/echo?i={i}", "api.demo", headers=[("x-test", str(i))])
            if status == 200:
                stats.ok(time.perf_counter() - t0)
            else:
                stats.fail(f"h2c: {status} {dict(headers).get('weft-proxy-error')}")
        except (OSError, ConnectionError) as e:
            stats.fail(f"h2c: {type(e).__name__}: {e}")
            if client:
                client.sock.close()
            client = None
        i += 1
    if client:
        client.close()


def grpc_worker(addr, stub, pb, stop, stats):
    import grpc
    i = 0
    while not stop.is_set():
        t0 = time.perf_counter()
        try:
            if i % 10 == 9:
                n = sum(1 for _ in stub.ServerStream(pb.EchoRequest(message="s", count=5), timeout=10))
                if n != 5:
                    raise ValueError(f"server stream ended after {n} of 5 messages")
            else:
                r = stub.Echo(pb.EchoRequest(message=f"m{i}"), timeout=10)
                if r.message != f"m{i}":
                    raise ValueError(f"echo returned {r.message!r}")
            stats.ok(time.perf_counter() - t0)
        except (grpc.RpcError, ValueError) as e:
            detail = f"{e.code().name} {e.details()}" if isinstance(e, grpc.RpcError) else str(e)
            stats.fail(f"gRPC: {detail}")
        i += 1


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--weft", default=os.path.join(SOURCE, "build", "bin", "weft"), help="path to the weft binary")
    ap.add_argument("--duration", type=float, default=10.0, help="seconds of traffic (default 10)")
    ap.add_argument("--clients", type=int, default=2, help="concurrent clients per protocol (default 2)")
    args = ap.parse_args()
    if not os.access(args.weft, os.X_OK):
        print(f"demo: weft binary not found at {args.weft} (build it first: make build)", file=sys.stderr)
        return 1
    os.environ["WEFT_BIN"] = os.path.abspath(args.weft)

    # SIGTERM behaves like Ctrl-C: unwind and clean up.
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    env = Env("demo")
    stop = threading.Event()
    threads = []
    failed = True
    try:
        print("demo: starting backends (nginx HTTP/1.1, nginx h2c, Python gRPC echo) and weft ...")
        web = env.nginx(name="nginx-h1")
        api = env.nginx(name="nginx-h2c", http2=True)
        grpc_srv = env.grpc_server()
        weft = env.weft(workers=2, clusters=[cluster("web.demo:80", [web.addr]),
                                             cluster("api.demo:80", [api.addr]),
                                             cluster("echo.demo:80", [grpc_srv.addr])])
        print(f"demo: weft {weft.addr} (admin http://127.0.0.1:{weft.admin_port}/metrics)")
        print(f"demo:   web.demo  -> nginx HTTP/1.1 {web.addr}")
        print(f"demo:   api.demo  -> nginx h2c      {api.addr}")
        print(f"demo:   echo.demo -> gRPC echo      {grpc_srv.addr}")
        pb, pbg = import_stubs(env)
        channel = grpc_channel(weft.addr, authority="echo.demo:80")
        stub = pbg.EchoStub(channel)
        stats = {"HTTP/1.1": Stats("HTTP/1.1"), "h2c": Stats("h2c"), "gRPC": Stats("gRPC")}
        for _ in range(args.clients):
            threads.append(threading.Thread(target=h1_worker, args=(weft.port, stop, stats["HTTP/1.1"]), daemon=True))
            threads.append(threading.Thread(target=h2_worker, args=(weft.port, stop, stats["h2c"]), daemon=True))
            threads.append(threading.Thread(target=grpc_worker, args=(weft.addr, stub, pb, stop, stats["gRPC"]),
                                            daemon=True))
        print(f"demo: sending traffic for {args.duration:g} s with {args.clients} client(s) per protocol ...")
        t0 = time.monotonic()
        for t in threads:
            t.start()
        while time.monotonic() - t0 < args.duration:
            time.sleep(0.2)
            if not weft.proc.alive():
                print(f"demo: weft exited with {weft.proc.returncode()}!", file=sys.stderr)
                break
        stop.set()
        for t in threads:
            t.join(15)
        elapsed = time.monotonic() - t0
        channel.close()
        rss = weft.rss() if weft.proc.alive() else {"VmRSS": 0, "VmHWM": 0}

        print()
        print(f"{'protocol':<10}{'requests':>10}{'errors':>8}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}")
        total_errors, total_ok = 0, True
        for s in stats.values():
            n = len(s.lat)
            total_errors += s.errors
            total_ok = total_ok and n > 0
            print(f"{s.name:<10}{n + s.errors:>10}{s.errors:>8}{n / elapsed:>9.0f}"
                  f"{percentile(s.lat, 50) * 1000:>9.2f}{percentile(s.lat, 99) * 1000:>9.2f}")
        print(f"weft memory: RSS {rss['VmRSS'] / 1024:.1f} MiB, peak {rss['VmHWM'] / 1024:.1f} MiB")
        for s in stats.values():
            for ex in s.examples:
                print(f"  error example: {ex}")
        if total_errors or not total_ok or not weft.proc.alive():
            print("demo: FAILED (some requests failed, a protocol got no traffic through, or weft died)")
            return 1
        print("demo: OK — every request succeeded")
        failed = False
        return 0
    except KeyboardInterrupt:
        print("\ndemo: interrupted, cleaning up", file=sys.stderr)
        return 130
    except HarnessError as e:
        print(f"demo: {e}", file=sys.stderr)
        return 1
    finally:
        stop.set()
        env.close(failed=failed)


if __name__ == "__main__":
    sys.exit(main())
