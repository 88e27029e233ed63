"""weft proxy driven by a real weft controller (issue 4 item 5; docs/discovery.md).

A `weft controller` with a file source, h1-delay backends that record every
request's arrival, and `weft proxy` processes whose config only names the
controller. Checks: first use of an authority subscribes and routes; an edit
of services.yaml moves the proxy's traffic within 1 s; a removed endpoint gets
no new request once the update is applied; every applied set is exactly the
served one (replace, never merge); the controller's version is what
/debug/endpoints shows; an unknown authority is 503 / gRPC 14
`unknown-service` and starts working when the service appears; CDS protocol
and static per-cluster settings apply; a static cluster wins; self-heal
re-subscribes (in metrics); an unused cluster is unsubscribed and forgotten.
test_discovery_resilience.py has the controller restart and the slow
subscriber.
"""
import os
import sys
import time

sys.path.insert(0, os.path.join(os.environ.get("WEFT_SOURCE") or os.path.join(os.path.dirname(__file__), "..", ".."),
                                "test", "lib"))
from weft_harness import *  # noqa: E402,F403
from discovery_harness import *  # noqa: E402,F403

FOLLOW_BOUND_S = 1.0   # the issue: the proxy's traffic follows an edit within 1 s
IN_FLIGHT_S = 0.05     # a request sent just before the update was applied may still arrive


def services(entries, splits=None):
    """services.yaml text from {name: [addr | (addr, weight)]} (and optional protocol via (name, proto) keys)."""
    out = ["services:"]
    for name, eps in entries.items():
        proto = None
        if isinstance(name, tuple):
            name, proto = name
        out.append(f"  - name: {name}")
        if proto:
            out.append(f"    protocol: {proto}")
        items = [e if isinstance(e, str) else f"{{address: {e[0]}, weight: {e[1]}}}" for e in eps]
        out.append(f"    endpoints: [{', '.join(items)}]")
    if not entries:
        out = ["services: []"]
    return "\n".join(out) + "\n"


class Discovery(WeftTestCase):
    def backends(self, n):
        return [self.env.peer("h1-delay", "--delay-ms", 1, "--name", f"b{i}", name=f"b{i}") for i in range(n)]

    def get(self, proxy, host, timeout=10):
        status, headers, body = h1_request(proxy.port, "GET", "/", host=host, timeout=timeout)
        return status, header(headers, "x-backend"), header(headers, "weft-proxy-error")

    def test_first_use_edits_removal_and_whole_set_replacement(self):
        b = self.backends(4)
        ctl = Controller(self.env, services({"api.test:80": [b[0].addr, b[1].addr]}))
        p = discovery_proxy(self.env, ctl, "p", workers=2)

        # First use: subscribes, waits for the answer (bounded), routes.
        t0 = time.monotonic()
        status, backend, err = self.get(p, "api.test")
        first = time.monotonic() - t0
        print(f"first request (subscribe + answer + connect): {first * 1000:.0f} ms")
        self.assertEqual((status, err), (200, None))
        self.assertIn(backend, {"b0", "b1"})
        self.assertLess(first, 3.0)  # within failfast_timeout
        served = ctl.served()["api.test:80"]
        wait_applied(p, "api.test:80", version=served["version"], addresses=served["endpoints"])
        doc = debug_endpoints(p, "api.test:80")
        for v in worker_views(p, "api.test:80"):
            self.assertEqual(v["source"], "discovery")
            self.assertEqual(v["discovery_state"], "applied")
            self.assertEqual(v["version"], served["version"])  # the controller's version_info, not config-N
            self.assertLess(v["age_seconds"], 30)
        self.assertTrue(doc["discovery"]["connected"])
        self.assertEqual([(c["name"], c["version"], c["endpoints"]) for c in doc["discovery"]["clusters"]],
                         [("api.test:80", served["version"], 2)])

        # Edits under load: traffic follows within 1 s, removed endpoints get nothing new.
        load = H1Load([p], "api.test", threads_per_proxy=3).start()
        self.addCleanup(load.stop)
        time.sleep(0.5)
        steps = [[b[1].addr, b[2].addr], [b[2].addr, b[3].addr], [b[3].addr], [b[0].addr, b[3].addr]]
        history = [{b[0].addr, b[1].addr}]
        timeline = []
        for step in steps:
            old_version = ctl.served()["api.test:80"]["version"]
            t_write = time.time()
            ctl.write_services(services({"api.test:80": step}))
            version, eps = ctl.wait_version_change("api.test:80", old_version)
            self.assertEqual(set(eps), set(step))
            took = wait_applied(p, "api.test:80", version=version, addresses=step, timeout=5)
            t_applied = time.time()
            timeline.append((set(step), t_write, t_applied))
            follow = t_applied - t_write
            print(f"edit -> every worker applied {sorted(step)}: {follow * 1000:.0f} ms (poll {took * 1000:.0f} ms)")
            self.assertLess(follow, FOLLOW_BOUND_S, f"traffic did not follow within {FOLLOW_BOUND_S}s")
            # Whole-set replacement: exactly the served set on every worker, nothing kept from before.
            for v in worker_views(p, "api.test:80"):
                self.assertEqual(v["addresses"], set(step))
                self.assertEqual(v["pending"] + v["ready"] + v["failed"], len(step))
            history.append(set(step))
            time.sleep(0.6)
        load.stop()
        results = load.snapshot()
        self.assertEqual(load.failures(), [], "requests failed during the edits")
        self.assertGreater(len(results), 100)

        # No backend got a request while it was out of the applied set (beyond in-flight ones).
        late = []
        for be in b:
            ts = arrivals(be)
            for i, (members, t_write, t_applied) in enumerate(timeline):
                if be.addr in members:
                    continue
                until = next((tw for m, tw, _ in timeline[i + 1:] if be.addr in m), float("inf"))
                bad = [t for t in ts if t_applied + IN_FLIGHT_S < t < until]
                if bad:
                    late.append((be.name, i, len(bad), round(bad[0] - t_applied, 3)))
        self.assertEqual(late, [], "requests reached endpoints after their removal was applied")
        # Traffic really moved: the last step's backends served requests after it was applied.
        last_applied = timeline[-1][2]
        served_by = {r[4] for r in results if r[0] > last_applied + IN_FLIGHT_S}
        self.assertTrue(served_by and served_by <= {"b0", "b3"}, served_by)

        m = p.metrics()
        self.assertEqual(m.sum("weft_discovery_connected"), 1)
        self.assertGreaterEqual(m.sum("weft_discovery_updates_total", cluster="api.test:80"), 1 + len(steps))
        self.assertEqual(m.sum("weft_discovery_cluster_endpoints", cluster="api.test:80"), 2)
        self.assertEqual(m.sum("weft_xds_nacks_sent_total"), 0)

    def test_unknown_authority_is_unknown_service_then_appears(self):
        b = self.backends(1)
        ctl = Controller(self.env, services({"api.test:80": [b[0].addr]}))
        p = discovery_proxy(self.env, ctl, "p", workers=2)
        t0 = time.monotonic()
        status, _, err = self.get(p, "nope.test")
        took = time.monotonic() - t0
        self.assertEqual((status, err), (503, "unknown-service"))
        self.assertLess(took, 2.0, "an unknown service must fail fast once the controller has answered")
        status, _, err = self.get(p, "nope.test")
        self.assertEqual((status, err), (503, "unknown-service"))

        # gRPC: UNAVAILABLE with the code in the trailers.
        import grpc
        echo_pb2, echo_grpc = import_stubs(self.env)
        with grpc_channel(p.addr, authority="nope-grpc.test:80") as ch:
            stub = echo_grpc.EchoStub(ch)
            with self.assertRaises(grpc.RpcError) as cm:
                stub.Echo(echo_pb2.EchoRequest(message="x"), timeout=10)
            self.assertEqual(cm.exception.code(), grpc.StatusCode.UNAVAILABLE)
            md = dict(cm.exception.trailing_metadata() or ())
            self.assertEqual(md.get("weft-proxy-error"), "unknown-service")
        views = worker_views(p, "nope.test:80")
        self.assertTrue(views and all(v["discovery_state"] == "unknown-service" for v in views), views)
        self.assertTrue(all(v["version"] == "absent" for v in views), views)
        m = p.metrics()
        self.assertGreaterEqual(m.sum("weft_requests_unrouted_total"), 3)
        self.assertGreaterEqual(m.sum("weft_proxy_errors_total", code="unknown-service"), 3)

        # The service appears in the controller: the kept subscription brings it in.
        t_write = time.monotonic()
        ctl.write_services(services({"api.test:80": [b[0].addr], "nope.test:80": [b[0].addr]}))
        wait_applied(p, "nope.test:80", addresses=[b[0].addr], timeout=5)
        print(f"a new service reached every worker {1000 * (time.monotonic() - t_write):.0f} ms after the edit")
        self.assertEqual(self.get(p, "nope.test")[:1], (200,))

        # Garbage authorities are unknown at once and never subscribed.
        status, _, err = self.get(p, "x!y.test")
        self.assertEqual((status, err), (503, "unknown-service"))
        names = {c["name"] for c in debug_endpoints(p)["discovery"]["clusters"]}
        self.assertEqual(names, {"nope.test:80", "nope-grpc.test:80"})

    def test_settings_protocol_and_static_precedence(self):
        b = self.backends(2)
        h2 = self.env.nghttpd()
        ctl = Controller(self.env, services({("h2.test:80", "http2"): [h2.addr], "api.test:80": [b[0].addr],
                                             "static.test:80": [b[0].addr], "pinned.test:80": [h2.addr]}))
        p = discovery_proxy(self.env, ctl, "p", workers=1, clusters=[
            {"name": "static.test:80", "endpoints": [b[1].addr]},        # static: wins over the controller
            {"name": "api.test:80", "failfast_timeout": "700ms"},         # settings for a discovered cluster
            {"name": "pinned.test:80", "protocol": "http1"},              # the config's protocol beats CDS
        ])
        # CDS protocol: an HTTP/1 client's request goes to the h2c-only nghttpd as HTTP/2.
        status, headers, _ = h1_request(p.port, "GET", "/", host="h2.test")
        self.assertIn(status, (200, 404), headers)
        v = worker_views(p, "h2.test:80")[0]
        self.assertEqual(v["protocol"], "http2")
        self.get(p, "pinned.test")
        self.assertEqual(worker_views(p, "pinned.test:80")[0]["protocol"], "http1")
        # Static wins: served by b1, never subscribed.
        self.assertEqual(self.get(p, "static.test")[:2], (200, "b1"))
        v = worker_views(p, "static.test:80")[0]
        self.assertEqual(v["source"], "static")
        self.assertNotIn("static.test:80", {c["name"] for c in debug_endpoints(p)["discovery"]["clusters"]})
        # A discovered cluster takes its config entry's failfast_timeout.
        self.assertEqual(self.get(p, "api.test")[:2], (200, "b0"))
        dead = f"127.0.0.1:{free_port()}"
        ctl.write_services(services({"api.test:80": [dead], "h2.test:80": [h2.addr]}))
        wait_applied(p, "api.test:80", addresses=[dead], timeout=5)
        t0 = time.monotonic()
        status, _, err = self.get(p, "api.test")
        took = time.monotonic() - t0
        self.assertEqual((status, err), (503, "failfast"))
        self.assertLess(took, 2.5, "the config entry's failfast_timeout (700 ms) must apply, not the default 3 s")

    def test_self_heal_resubscribes_when_every_endpoint_fails(self):
        dead = f"127.0.0.1:{free_port()}"
        ctl = Controller(self.env, services({"dead.test:80": [dead]}))
        p = discovery_proxy(self.env, ctl, "p", workers=2,
                            clusters=[{"name": "dead.test:80", "failfast_timeout": "500ms"}])
        status, _, err = self.get(p, "dead.test")
        self.assertEqual((status, err), (503, "failfast"))
        version = ctl.served()["dead.test:80"]["version"]
        before = p.metrics().sum("weft_discovery_resubscribes_total", cluster="dead.test:80")
        time.sleep(3.0)
        m = p.metrics()
        n = m.sum("weft_discovery_resubscribes_total", cluster="dead.test:80") - before
        print(f"self-heal resubscribes in 3 s with failfast 500 ms and 2 workers: {n:.0f}")
        self.assertGreaterEqual(n, 1, "no self-heal re-subscription for a cluster whose endpoints all fail")
        self.assertLessEqual(n, 4, "re-subscriptions must be rate-limited (once per failfast, at most 1/s)")
        # Each answer is the controller's whole current set (same version: nothing changed).
        self.assertGreaterEqual(m.sum("weft_discovery_updates_total", cluster="dead.test:80"), 1 + n)
        wait_applied(p, "dead.test:80", version=version, addresses=[dead])
        # The controller really saw them as subscription changes on the stream.
        self.assertGreaterEqual(ctl.metrics().sum("weft_xds_pushes_total", type="eds"), 1 + n)

    def test_unused_cluster_is_unsubscribed_and_forgotten(self):
        b = self.backends(1)
        ctl = Controller(self.env, services({"api.test:80": [b[0].addr], "idle.test:80": [b[0].addr]}))
        p = discovery_proxy(self.env, ctl, "p", workers=2, discovery={"unused_timeout": "2s"})
        self.assertEqual(self.get(p, "api.test")[0], 200)
        self.assertEqual(self.get(p, "idle.test")[0], 200)
        # api.test stays in use (a request every 300 ms), idle.test is left alone.
        t_end = time.monotonic() + 4.0
        while time.monotonic() < t_end:
            self.assertEqual(self.get(p, "api.test")[0], 200)
            time.sleep(0.3)
        self.assertEqual(worker_views(p, "idle.test:80"), [], "an unused cluster must be forgotten by every worker")
        self.assertEqual(len(worker_views(p, "api.test:80")), 2)
        names = {c["name"] for c in debug_endpoints(p)["discovery"]["clusters"]}
        self.assertEqual(names, {"api.test:80"})
        self.assertEqual(p.metrics().sum("weft_discovery_cluster_endpoints", cluster="idle.test:80"), -1)
        # Used again: subscribed again and served.
        self.assertEqual(self.get(p, "idle.test")[0], 200)
        wait_applied(p, "idle.test:80", addresses=[b[0].addr])

    def test_dns_fallback_for_authorities_the_controller_does_not_know(self):
        b = self.backends(2)
        ctl = Controller(self.env, services({"api.test:80": [b[1].addr]}))
        # A slow resolver (CI) must still end in unknown-service, not in the failfast bound.
        p = discovery_proxy(self.env, ctl, "p", workers=2, discovery={"dns_fallback": True, "dns_refresh": "300ms"},
                            clusters=[{"name": "no-such-host.invalid:80", "failfast_timeout": "10s"}])
        host = f"localhost:{b[0].port}"
        status, backend, err = self.get(p, host)
        self.assertEqual((status, backend, err), (200, "b0", None))
        views = worker_views(p, host)
        self.assertEqual(len(views), 2)
        for v in views:
            self.assertEqual(v["source"], "dns")
            self.assertTrue(v["version"].startswith("dns:"), v["version"])
            self.assertIn(b[0].addr, v["addresses"])  # localhost -> 127.0.0.1 (and ::1 where it resolves)
        # Unknown to the controller and to DNS: unknown-service.
        status, _, err = self.get(p, "no-such-host.invalid")
        self.assertEqual((status, err), (503, "unknown-service"))
        self.assertGreaterEqual(p.metrics().sum("weft_discovery_dns_resolutions_total", result="ok"), 1)

        # The controller learns the name: its set replaces the DNS one, and DNS stays out of it.
        ctl.write_services(services({"api.test:80": [b[1].addr], host: [b[1].addr]}))
        wait_applied(p, host, addresses=[b[1].addr], timeout=5)
        time.sleep(1.0)  # several DNS refresh periods
        for v in worker_views(p, host):
            self.assertEqual((v["source"], v["addresses"]), ("discovery", {b[1].addr}))
        self.assertEqual(self.get(p, host)[:2], (200, "b1"))


if __name__ == "__main__":
    main()
