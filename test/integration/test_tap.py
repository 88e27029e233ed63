"""GET /tap on the proxy admin (docs/cli.md "GET /tap"): the NDJSON stream of
live requests, its per-client filters, and its drop accounting.

- every field of a record (time, direction, method, authority, path, status,
  grpc-status, latency, endpoint, retries, weft-proxy-error) against requests
  whose answers are known: a retried GET, an unknown service over HTTP/1.1 and
  over gRPC (h2c), an upstream 404;
- server-side filters (authority, path, status class, errors, method, limit)
  and a 400 for a bad one;
- a tap client that stops reading loses records (client-slow), is told how
  many in-stream, and nothing is lost unaccounted: shown + dropped == sent;
  another client meanwhile sees every request; weft_tap_dropped_total counts.
"""
import os
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.environ.get("WEFT_SOURCE") or os.path.join(os.path.dirname(__file__), "..", ".."),
                                "test", "lib"))
from weft_harness import *  # noqa: E402,F403


class TapStream:
    """A raw /tap client: reads the chunked NDJSON stream in a thread (unless paused)."""

    def __init__(self, admin_port, query="", rcvbuf=None, read=True):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.connect(("127.0.0.1", admin_port))
        target = "/tap" + (f"?{query}" if query else "")
        self.sock.sendall(f"GET {target} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        self.raw = b""
        self.lines = []
        self.status = None
        self.lock = threading.Lock()
        self.reading = threading.Event()
        if read:
            self.reading.set()
        self.closed = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        buf = b""
        body = b""
        head_done = False
        self.sock.settimeout(0.2)
        while not self.closed:
            if not self.reading.is_set():
                time.sleep(0.05)
                continue
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                continue
            except OSError:
                break
            if not data:
                break
            buf += data
            if not head_done:
                if b"\r\n\r\n" not in buf:
                    continue
                head, buf = buf.split(b"\r\n\r\n", 1)
                self.status = int(head.split(b" ")[1])
                head_done = True
            # de-chunk
            while True:
                nl = buf.find(b"\r\n")
                if nl < 0:
                    break
                size = int(buf[:nl].split(b";")[0], 16)
                if len(buf) < nl + 2 + size + 2:
                    break
                body += buf[nl + 2:nl + 2 + size]
                buf = buf[nl + 2 + size + 2:]
                if size == 0:
                    self.closed = True
                    break
            while b"\n" in body:
                line, body = body.split(b"\n", 1)
                with self.lock:
                    self.lines.append(line.decode(errors="replace"))

    def records(self, kind="request"):
        with self.lock:
            lines = list(self.lines)
        out = []
        for l in lines:
            try:
                v = json.loads(l)
            except ValueError:
                continue
            if kind is None or v.get("type") == kind:
                out.append(v)
        return out

    def wait_started(self, timeout=5):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.records("start"):
                return
            time.sleep(0.02)
        raise AssertionError(f"no start line (status {self.status}, lines {self.lines[:3]})")

    def wait_records(self, n, timeout=10, kind="request"):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            r = self.records(kind)
            if len(r) >= n:
                return r
            time.sleep(0.02)
        return self.records(kind)

    def close(self):
        self.closed = True
        try:
            self.sock.close()
        except OSError:
            pass


class TapTest(WeftTestCase):
    def test_record_fields(self):
        ng = self.env.nginx()
        bad = self.env.peer("h1-delay", "--fail-rate", "1.0", "--fail-status", "503", name="bad")
        weft = self.env.weft(clusters=[cluster("api.test:80", [ng.addr]),
                                       cluster("flaky.test:80", [bad.addr, ng.addr], max_retries=2,
                                               retry_budget={"min_per_second": 1000})], workers=2)
        tap = TapStream(weft.admin_port)
        try:
            tap.wait_started()
            t0 = time.time()
            s, _, _ = h1_request(weft.port, "GET", "/hello", host="api.test")
            self.assertEqual(s, 200)
            s, _, _ = h1_request(weft.port, "GET", "/status/404", host="api.test")
            self.assertEqual(s, 404)
            s, h, _ = h1_request(weft.port, "DELETE", "/x", host="nowhere.test")
            self.assertEqual(s, 503)
            # gRPC to an unknown service over h2c: trailers-only UNAVAILABLE.
            r = curl(f"http://127.0.0.1:{weft.port}/pkg.Svc/Call", http2=True, host="nowhere.test",
                     headers=["content-type: application/grpc", "te: trailers"], data="", method="POST")
            # Retried GETs: the 503 endpoint answers first for some of them.
            # (The retry budget's floor accrues from start-up: give it a second.)
            time.sleep(1.0)
            flaky_status = {}
            for i in range(12):
                s, _, _ = h1_request(weft.port, "GET", f"/hello?r={i}", host="flaky.test")
                flaky_status[f"/hello?r={i}"] = s
            recs = tap.wait_records(16)
            t1 = time.time()
        finally:
            tap.close()
        self.assertEqual(len(recs), 16, recs)
        by_path = {r["path"]: r for r in recs}
        ok = by_path["/hello"]
        self.assertEqual((ok["direction"], ok["method"], ok["authority"], ok["status"], ok["endpoint"], ok["retries"]),
                         ("outbound", "GET", "api.test", 200, ng.addr, 0))
        self.assertIsNone(ok["proxy_error"])
        self.assertIsNone(ok["grpc_status"])
        self.assertGreater(ok["latency_ms"], 0)
        self.assertLess(ok["latency_ms"], 5000)
        self.assertIn(ok["worker"], (0, 1))
        ts = time.mktime(time.strptime(ok["time"][:19], "%Y-%m-%dT%H:%M:%S")) - time.timezone
        self.assertLessEqual(abs(ts - t0), 2.0, ok["time"])
        self.assertLessEqual(ts, t1 + 1)
        self.assertEqual(by_path["/status/404"]["status"], 404)
        self.assertIsNone(by_path["/status/404"]["proxy_error"])
        un = by_path["/x"]
        self.assertEqual((un["method"], un["status"], un["proxy_error"], un["proxy_error_source"], un["endpoint"]),
                         ("DELETE", 503, "unknown-service", "this-proxy", None))
        g = by_path["/pkg.Svc/Call"]
        self.assertEqual((g["method"], g["grpc_status"], g["proxy_error"]), ("POST", 14, "unknown-service"), r)
        flaky = [r for r in recs if r["authority"] == "flaky.test"]
        self.assertEqual(len(flaky), 12)
        # Each record says what the client got, and which endpoint answered last.
        for r in flaky:
            self.assertEqual(r["status"], flaky_status[r["path"]], r)
            self.assertEqual(r["endpoint"], ng.addr if r["status"] == 200 else bad.addr, r)
        retried = [r for r in flaky if r["retries"] >= 1 and r["status"] == 200]
        self.assertTrue(retried, "P2C over two endpoints sends some first attempts to the failing one")
        # Records in time order.
        self.assertEqual([r["time"] for r in recs], sorted(r["time"] for r in recs))

    def test_filters(self):
        ng = self.env.nginx()
        weft = self.env.weft(clusters=[cluster("api.test:80", [ng.addr]), cluster("other.test:80", [ng.addr])])
        streams = {
            "authority": TapStream(weft.admin_port, "authority=API.test"),
            "path": TapStream(weft.admin_port, "path=%2Fstatus"),
            "5xx": TapStream(weft.admin_port, "status=5xx"),
            "404": TapStream(weft.admin_port, "status=404"),
            "errors": TapStream(weft.admin_port, "errors=true"),
            "method": TapStream(weft.admin_port, "method=HEAD"),
            "limit": TapStream(weft.admin_port, "limit=2"),
            "inbound": TapStream(weft.admin_port, "direction=inbound"),
        }
        try:
            for s in streams.values():
                s.wait_started()
            plan = [("GET", "/hello", "api.test", 200), ("GET", "/status/404", "api.test", 404),
                    ("GET", "/status/503", "other.test", 503), ("HEAD", "/hello", "other.test", 200),
                    ("GET", "/hello", "nowhere.test", 503)]
            for method, path, host, want in plan:
                s, _, _ = h1_request(weft.port, method, path, host=host)
                self.assertEqual(s, want, (method, path, host))
            time.sleep(0.5)
            got = {k: [(r["method"], r["path"], r["authority"]) for r in s.records()] for k, s in streams.items()}
            limit_closed = streams["limit"].closed
        finally:
            for s in streams.values():
                s.close()
        self.assertEqual(got["authority"], [("GET", "/hello", "api.test"), ("GET", "/status/404", "api.test")])
        self.assertEqual(got["path"], [("GET", "/status/404", "api.test"), ("GET", "/status/503", "other.test")])
        self.assertEqual(got["5xx"], [("GET", "/status/503", "other.test"), ("GET", "/hello", "nowhere.test")])
        self.assertEqual(got["404"], [("GET", "/status/404", "api.test")])
        self.assertEqual(got["errors"], got["5xx"])
        self.assertEqual(got["method"], [("HEAD", "/hello", "other.test")])
        self.assertEqual(len(got["limit"]), 2)
        self.assertTrue(limit_closed, "limit=N ends the stream")
        self.assertEqual(got["inbound"], [])

        status, _, body = h1_request(weft.admin_port, "GET", "/tap?status=abc")
        self.assertEqual(status, 400)
        self.assertIn(b"status must be", body)

    def test_slow_client_drops_are_counted_and_reported(self):
        ng = self.env.nginx()
        weft = WeftProxy(self.env, workers=2)
        weft.config["clusters"] = [cluster(weft.addr, [ng.addr])]  # h2load's authority is the proxy's address
        weft.start()
        fast = TapStream(weft.admin_port)
        # A tiny receive window and, once it is attached, no reads: the
        # proxy's writes to it stall. (Waiting for its start line first: a
        # client still attaching when the load starts misses records without
        # dropping them — seen under ASan, where attaching is slower.)
        slow = TapStream(weft.admin_port, rcvbuf=4096)
        try:
            fast.wait_started()
            slow.wait_started()
            slow.reading.clear()
            time.sleep(0.3)
            n = 12000
            r = h2load(f"http://{weft.addr}/hello", n=n, c=4, m=1, h1=True, timeout=120)
            self.assertEqual(r.get("succeeded"), n, r["raw"][-600:])
            got_fast = fast.wait_records(n, timeout=20)
            slow.reading.set()  # resume: the backlog, then the drop report
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                drops = slow.records("dropped")
                shown = len(slow.records())
                dropped = sum(d["client_slow"] + d["ring_full"] for d in drops)
                if shown + dropped >= n:
                    break
                time.sleep(0.1)
            metrics = weft.metrics()
        finally:
            fast.close()
            slow.close()
        fast_drops = fast.records("dropped")
        self.assertEqual(len(got_fast) + sum(d["client_slow"] + d["ring_full"] for d in fast_drops), n)
        self.assertEqual(sum(d["client_slow"] for d in fast_drops), 0, "the reading client is never slow")
        self.assertGreater(dropped, 0, f"the stalled client must have lost records (shown {shown} of {n})")
        self.assertEqual(shown + dropped, n, f"shown {shown} + dropped {dropped} != sent {n}: a silent loss")
        self.assertGreaterEqual(metrics.sum("weft_tap_dropped_total", reason="client-slow"),
                                sum(d["client_slow"] for d in drops))
        print(f"slow tap client: {shown} shown, {dropped} dropped of {n}; fast client {len(got_fast)}",
              file=sys.stderr)


if __name__ == "__main__":
    main()
