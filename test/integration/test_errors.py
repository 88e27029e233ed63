"""Errors weft synthesizes: connect failures, unknown authority, no endpoints, timeouts — for HTTP/1, h2 and gRPC."""
import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.environ.get("WEFT_SOURCE") or os.path.join(os.path.dirname(__file__), "..", ".."),
                                "test", "lib"))
from weft_harness import *  # noqa: E402,F403

import grpc  # noqa: E402


def trailer(call, name):
    for k, v in (call.trailing_metadata() or ()):
        if k == name:
            return v
    for k, v in (call.initial_metadata() or ()):
        if k == name:
            return v
    return None


FAILFAST_S = 1.0


class Errors(WeftTestCase):
    def setUp(self):
        super().setUp()
        self.dead = free_port()  # nothing listens here: connects are refused
        self.sink = self.env.peer("sink")
        self.gone = self.env.peer("h1-echo", name="gone")
        self.weft = self.env.weft(clusters=[
            cluster("down.test:80", [f"127.0.0.1:{self.dead}"], connect_timeout="500ms",
                    failfast_timeout=f"{int(FAILFAST_S * 1000)}ms"),
            cluster("gone.test:80", [self.gone.addr]),
            cluster("empty.test:80", []),
            cluster("slow.test:80", [self.sink.addr], request_timeout="500ms"),
            cluster("slowgrpc.test:80", [self.sink.addr], protocol="http2"),
        ])
        self.pb, self.pbg = import_stubs(self.env)

    def grpc_call(self, authority, timeout=10):
        ch = grpc_channel(self.weft.addr, authority=authority)
        self.addCleanup(ch.close)
        stub = self.pbg.EchoStub(ch)
        with self.assertRaises(grpc.RpcError) as cm:
            stub.Echo(self.pb.EchoRequest(message="x"), timeout=timeout)
        return cm.exception

    # An endpoint that never accepted a connection is never "ready": the balancer
    # waits up to failfast_timeout for a ready endpoint, then fails fast with 503 /
    # UNAVAILABLE (DESIGN.md §6). The refused connects are visible by errno.
    def assert_failfast_quickly(self, took):
        self.assertLess(took, FAILFAST_S + 1.5, f"failfast_timeout {FAILFAST_S}s took {took:.1f}s")

    def test_never_ready_endpoint_fails_fast_h1(self):
        t0 = time.monotonic()
        status, headers, body = h1_request(self.weft.port, "GET", "/", host="down.test")
        self.assert_failfast_quickly(time.monotonic() - t0)
        self.assertEqual(status, 503, body)
        self.assertEqual(header(headers, "weft-proxy-error"), "failfast", headers)
        m = self.weft.metrics()
        self.assertGreaterEqual(m.sum("weft_proxy_errors_total", code="failfast"), 1, m.text)
        errnos = {dict(ls).get("errno") for ls in m.matching("weft_connect_attempts_total")
                  if dict(ls).get("cluster") == "down.test:80"}
        print(f"connect attempt errno labels: {errnos}")
        self.assertIn("ECONNREFUSED", errnos, m.text)
        status, _, body = self.weft.admin("GET", "/debug/endpoints?cluster=down.test:80")
        self.assertEqual(status, 200, body)
        doc = json.loads(body)
        states = [(e["state"], e["last_error"]) for c in doc["clusters"] for e in c["endpoints"]]
        self.assertTrue(states and all(s in ("failed", "pending") for s, _ in states), states)
        self.assertIn("ECONNREFUSED", {err for _, err in states}, states)

    def test_never_ready_endpoint_fails_fast_h2(self):
        code, headers, body, r = curl("http://down.test/", http2=True,
                                      extra=["--connect-to", f"down.test:80:127.0.0.1:{self.weft.port}"])
        self.assertEqual(code, 503, r.stderr)
        self.assertEqual(header(headers, "weft-proxy-error"), "failfast", headers)

    def test_never_ready_endpoint_fails_fast_grpc(self):
        e = self.grpc_call("down.test:80")
        self.assertEqual(e.code(), grpc.StatusCode.UNAVAILABLE, e.details())
        self.assertEqual(trailer(e, "weft-proxy-error"), "failfast", e.trailing_metadata())

    # An endpoint that was ready and then went away: the request that finds out
    # (its connect is refused) gets 502 connect-failed; the endpoint turns failed.
    def test_endpoint_gone_after_ready_h1(self):
        status, _, body = h1_request(self.weft.port, "GET", "/", host="gone.test")
        self.assertEqual(status, 200, body)
        self.gone.stop()
        status, headers, body = h1_request(self.weft.port, "GET", "/", host="gone.test")
        self.assertEqual(status, 502, body)
        self.assertEqual(header(headers, "weft-proxy-error"), "connect-failed", headers)
        m = self.weft.metrics()
        self.assertGreaterEqual(m.sum("weft_proxy_errors_total", code="connect-failed"), 1, m.text)
        self.assertGreaterEqual(m.sum("weft_connect_attempts_total", cluster="gone.test:80", errno="ECONNREFUSED"), 1,
                                m.text)
        # The state machine saw it: no ready endpoint remains.
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            m = self.weft.metrics()
            if m.sum("weft_balancer_endpoints", cluster="gone.test:80", state="ready") == 0:
                break
            time.sleep(0.05)
        self.assertEqual(m.sum("weft_balancer_endpoints", cluster="gone.test:80", state="ready"), 0, m.text)

    def test_unknown_authority(self):
        status, headers, body = h1_request(self.weft.port, "GET", "/", host="nowhere.test")
        self.assertEqual(status, 503, body)
        self.assertEqual(header(headers, "weft-proxy-error"), "unknown-service")
        e = self.grpc_call("nowhere.test:80")
        self.assertEqual(e.code(), grpc.StatusCode.UNAVAILABLE, e.details())
        self.assertEqual(trailer(e, "weft-proxy-error"), "unknown-service")
        m = self.weft.metrics()
        self.assertGreaterEqual(m.sum("weft_proxy_errors_total", code="unknown-service"), 2, m.text)

    def test_no_endpoints(self):
        status, headers, body = h1_request(self.weft.port, "GET", "/", host="empty.test")
        self.assertEqual(status, 503, body)
        self.assertEqual(header(headers, "weft-proxy-error"), "no-endpoints")
        e = self.grpc_call("empty.test:80")
        self.assertEqual(e.code(), grpc.StatusCode.UNAVAILABLE, e.details())

    def test_request_timeout(self):
        t0 = time.monotonic()
        status, headers, body = h1_request(self.weft.port, "GET", "/", host="slow.test", timeout=10)
        took = time.monotonic() - t0
        self.assertEqual(status, 504, body)
        self.assertEqual(header(headers, "weft-proxy-error"), "timeout")
        self.assertLess(took, 3, f"request_timeout 500ms took {took:.1f}s")

    def test_grpc_timeout_header_becomes_deadline_exceeded(self):
        # The client's own deadline also fires; weft must not turn it into anything but DEADLINE_EXCEEDED.
        e = self.grpc_call("slowgrpc.test:80", timeout=0.5)
        self.assertEqual(e.code(), grpc.StatusCode.DEADLINE_EXCEEDED, e.details())

    def test_proxy_keeps_serving_after_errors(self):
        for _ in range(20):
            h1_request(self.weft.port, "GET", "/", host="down.test")
        self.assertTrue(self.weft.proc.alive())
        status, _, _ = self.weft.admin("GET", "/live")
        self.assertEqual(status, 200)


if __name__ == "__main__":
    main()
