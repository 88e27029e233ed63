"""weft controller with the Kubernetes source, against test/lib/fake_kube_apiserver.py.

No API server can be installed here; the fake implements list + watch with
resourceVersion, bookmarks, timeoutSeconds, a compaction window with 410 Gone
(as an ERROR event or as HTTP 410), bearer tokens and https
(docs/controller.md lists where it differs from a real API server). A Python
ADS client subscribes like a proxy.
"""
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.environ.get("WEFT_SOURCE") or os.path.join(os.path.dirname(__file__), "..", ".."),
                                "test", "lib"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from weft_harness import *  # noqa: E402,F403
from controller_harness import FakeKube, WatchingController, kube_service, kube_slice  # noqa: E402
from test_controller_xds import EDS, AdsClient  # noqa: E402

API = "api.default.svc.cluster.local:80"
API_GRPC = "api.default.svc.cluster.local:9000"


def kube_source(kube, extra=""):
    return (f"  kubernetes:\n    api_server: {kube.url}\n    token_file: \"\"\n    ca_file: \"\"\n"
            f"    request_timeout_ms: 5000\n{extra}")


def api_objects(kube, endpoints):
    kube.apply(kube_service("default", "api", [("http", 80, None), ("grpc", 9000, "kubernetes.io/h2c")]))
    kube.apply(kube_slice("default", "api-abc", "api", [("http", 8080), ("grpc", 9090)], endpoints))


class ControllerKubernetes(WeftTestCase):
    def client(self, ctl, names):
        c = AdsClient(self.env, ctl.xds_port)
        self.addCleanup(c.close)
        c.subscribe_eds(names)
        return c

    def wait_served(self, ctl, name, want, timeout):
        t0 = time.monotonic()
        last = None
        while time.monotonic() - t0 < timeout:
            last = ctl.served().get(name)
            if last == want:
                return time.monotonic() - t0
            time.sleep(0.02)
        raise AssertionError(f"{name}: never {want} within {timeout}s (last {last})")

    def wait_eds(self, ads, name, want, timeout):
        return ads.wait_set(name, want, timeout, cds_names=[API, API_GRPC])  # CDS pushes: the listing changed

    def test_services_and_slices_map_to_clusters_and_follow_the_watch(self):
        kube = FakeKube(self.env)
        api_objects(kube, [("10.0.0.1", True, True, False),
                           ("10.0.0.2", None, None, None),      # conditions absent = ready
                           ("10.0.0.3", False, False, False),   # not ready: never served
                           ("10.0.0.4", False, True, True)])    # serving but terminating: only as fallback
        kube.apply(kube_service("other", "db", [("", 5432, None)]))
        kube.apply(kube_slice("other", "db-1", "db", [("", 5432)], [("10.1.0.1", True, True, False)]))
        kube.apply(kube_service("default", "ext", [("", 80, None)], type_="ExternalName"))
        kube.apply(kube_service("default", "dns", [("dns", 53, None)]))  # UDP-only below
        kube.apply({**kube_service("default", "udp", []),
                    "spec": {"ports": [{"name": "dns", "port": 53, "protocol": "UDP"}]}})
        ctl = WatchingController(self.env, kube_source(kube)).start().wait_serving()
        self.assertEqual(ctl.get("/ready")[0], 200)
        served = ctl.served()
        self.assertEqual(served[API], {"10.0.0.1:8080": 1, "10.0.0.2:8080": 1})
        self.assertEqual(served[API_GRPC], {"10.0.0.1:9090": 1, "10.0.0.2:9090": 1})  # named port resolved per slice
        self.assertEqual(served["db.other.svc.cluster.local:5432"], {"10.1.0.1:5432": 1})
        self.assertEqual(served["dns.default.svc.cluster.local:53"], {})  # exists, no endpoints
        self.assertNotIn("ext.default.svc.cluster.local:80", served)
        self.assertNotIn("udp.default.svc.cluster.local:53", served)

        ads = self.client(ctl, [API, API_GRPC])
        got = ads.recv_eds(5, [API, API_GRPC])
        self.assertEqual(got[API][1], {"10.0.0.1:8080": 1, "10.0.0.2:8080": 1})
        # CDS carries the protocol from appProtocol.
        ads.send("type.googleapis.com/envoy.config.cluster.v3.Cluster", [API, API_GRPC])
        r = ads.recv(5)
        self.assertEqual(ads.clusters(r)[API_GRPC].get("protocol"), "http2")
        ads.ack(r, [API, API_GRPC])

        # A slice update: one whole new set within 1 s.
        t0 = time.monotonic()
        kube.apply(kube_slice("default", "api-abc", "api", [("http", 8080), ("grpc", 9090)],
                              [("10.0.0.1", True, True, False), ("10.0.0.5", True, True, False)]))
        self.wait_eds(ads, API, {"10.0.0.1:8080": 1, "10.0.0.5:8080": 1}, 1.0)
        print(f"slice update seen over xDS after {(time.monotonic() - t0) * 1000:.0f} ms")

        # Every ready endpoint terminating but still serving: served until they stop (KEP-1669).
        kube.apply(kube_slice("default", "api-abc", "api", [("http", 8080), ("grpc", 9090)],
                              [("10.0.0.1", False, True, True), ("10.0.0.5", False, False, True)]))
        self.wait_eds(ads, API, {"10.0.0.1:8080": 1}, 1.0)
        # A second slice with a ready endpoint: only the ready one.
        kube.apply(kube_slice("default", "api-def", "api", [("http", 8080)], [("10.0.0.6", True, True, False)]))
        self.wait_eds(ads, API, {"10.0.0.6:8080": 1}, 1.0)
        self.assertEqual(ctl.served()[API_GRPC], {"10.0.0.1:9090": 1})  # api-def has no grpc port

        # Deleting the Service removes its clusters (an empty set over EDS, absent from the controller).
        kube.delete("Service", "default", "api")
        self.wait_eds(ads, API, {}, 1.0)
        self.assertNotIn(API, ctl.served())
        m = ctl.metrics()
        self.assertEqual(m.sum("weft_controller_source_relists_total"), 2)  # services + slices, once each
        self.assertGreaterEqual(m.sum("weft_controller_source_events_total", type="modified"), 2)
        self.assertGreaterEqual(m.sum("weft_controller_source_events_total", type="deleted"), 1)

    def test_namespace_filter(self):
        kube = FakeKube(self.env)
        api_objects(kube, [("10.0.0.1", True, True, False)])
        kube.apply(kube_service("prod", "web", [("http", 80, None)]))
        kube.apply(kube_slice("prod", "web-1", "web", [("http", 8000)], [("10.2.0.1", True, True, False)]))
        ctl = WatchingController(self.env, kube_source(kube, "    namespaces: [prod]\n")).start().wait_serving()
        self.assertEqual(ctl.served(), {"web.prod.svc.cluster.local:80": {"10.2.0.1:8000": 1}})
        kube.apply(kube_slice("prod", "web-1", "web", [("http", 8000)], [("10.2.0.2", True, True, False)]))
        kube.apply(kube_slice("default", "api-abc", "api", [("http", 8080)], [("10.0.0.9", True, True, False)]))
        self.wait_served(ctl, "web.prod.svc.cluster.local:80", {"10.2.0.2:8000": 1}, 1.0)
        self.assertEqual(set(ctl.served()), {"web.prod.svc.cluster.local:80"})
        paths = [p for p in kube.state()["requests"]]
        self.assertTrue(all("/namespaces/prod/" in p for p in paths), paths)

    def _gone_relists(self, gone_as_http):
        kube = FakeKube(self.env)
        kube.control("config", {"gone_as_http": gone_as_http})
        api_objects(kube, [("10.0.0.1", True, True, False)])
        ctl = WatchingController(self.env, kube_source(kube)).start().wait_serving()
        kube.wait_watches(2)
        # Cut the watches and hold the controller's next ones; meanwhile the
        # history moves on and is compacted past the controller's resourceVersion.
        kube.control("config", {"hold_watches": True})
        kube.control("drop")
        deadline = time.monotonic() + 15
        while kube.state()["held"] < 2:
            self.assertLess(time.monotonic(), deadline, "the controller did not come back to watch")
            time.sleep(0.05)
        kube.apply(kube_slice("default", "api-abc", "api", [("http", 8080), ("grpc", 9090)],
                              [("10.0.0.7", True, True, False)]))
        kube.control("compact")
        kube.control("config", {"hold_watches": False})
        self.wait_served(ctl, API, {"10.0.0.7:8080": 1}, 5)
        m = ctl.metrics()
        self.assertEqual(m.sum("weft_controller_source_relists_total", reason="gone"), 2, ctl.proc.tail(30))
        self.assertIn("410" if gone_as_http else "too old resource version", ctl.proc.tail(60))
        # Watching again after the relist.
        kube.apply(kube_slice("default", "api-abc", "api", [("http", 8080)], [("10.0.0.8", True, True, False)]))
        self.wait_served(ctl, API, {"10.0.0.8:8080": 1}, 1.0)

    def test_gone_as_error_event_relists(self):
        self._gone_relists(gone_as_http=False)

    def test_gone_as_http_410_relists(self):
        self._gone_relists(gone_as_http=True)

    def test_watch_timeouts_and_bookmarks_resume_without_relisting(self):
        kube = FakeKube(self.env)
        kube.control("config", {"bookmark_interval": 0.3})
        api_objects(kube, [("10.0.0.1", True, True, False)])
        ctl = WatchingController(self.env, kube_source(kube, "    watch_timeout_seconds: 2\n")).start().wait_serving()
        list_rv = int(kube.state()["resourceVersion"])
        # Writes to the other resource advance the resourceVersion; bookmarks carry it to the idle watch.
        for i in range(3):
            kube.apply(kube_service("default", f"s{i}", [("http", 80, None)]))
        time.sleep(5)  # at least two watch timeouts
        kube.apply(kube_slice("default", "api-abc", "api", [("http", 8080)], [("10.0.0.2", True, True, False)]))
        self.wait_served(ctl, API, {"10.0.0.2:8080": 1}, 1.0)
        m = ctl.metrics()
        self.assertEqual(m.sum("weft_controller_source_relists_total"), 2)  # never relisted
        self.assertGreater(m.sum("weft_controller_source_events_total", type="bookmark"), 0)
        watches = [p for p in kube.state()["requests"] if "endpointslices?watch=1" in p]
        self.assertGreaterEqual(len(watches), 3, watches)  # resumed after every timeout
        rvs = [int(p.split("resourceVersion=")[1].split("&")[0]) for p in watches]
        self.assertTrue(all("allowWatchBookmarks=true" in p and "timeoutSeconds=2" in p for p in watches), watches)
        # A resumed slice watch starts beyond the list's version: bookmarks advanced it.
        self.assertGreater(max(rvs), list_rv, watches)
        self.assertEqual(rvs, sorted(rvs))

    def test_connection_loss_resumes_the_watch(self):
        kube = FakeKube(self.env)
        api_objects(kube, [("10.0.0.1", True, True, False)])
        ctl = WatchingController(self.env, kube_source(kube)).start().wait_serving()
        kube.wait_watches(2)
        kube.control("drop")
        kube.apply(kube_slice("default", "api-abc", "api", [("http", 8080)], [("10.0.0.3", True, True, False)]))
        self.wait_served(ctl, API, {"10.0.0.3:8080": 1}, 5)
        m = ctl.metrics()
        self.assertEqual(m.sum("weft_controller_source_relists_total"), 2)  # resumed from its resourceVersion
        self.assertGreater(m.sum("weft_controller_source_errors_total"), 0)

    def test_https_with_token_and_ca(self):
        cert, key = self.env.path("server.pem"), self.env.path("server-key.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert,
                        "-days", "1", "-subj", "/CN=fake-kube", "-addext", "subjectAltName=IP:127.0.0.1"],
                       check=True, capture_output=True, timeout=60)
        token_path = self.env.path("token")
        with open(token_path, "w") as f:
            f.write("s3cret\n")
        kube = FakeKube(self.env, token="s3cret", cert=cert, key=key)
        api_objects(kube, [("10.0.0.1", True, True, False)])
        good = (f"  kubernetes:\n    api_server: {kube.url}\n    token_file: {token_path}\n    ca_file: {cert}\n")
        ctl = WatchingController(self.env, good).start().wait_serving()
        self.assertEqual(ctl.served()[API], {"10.0.0.1:8080": 1})
        kube.apply(kube_slice("default", "api-abc", "api", [("http", 8080)], [("10.0.0.2", True, True, False)]))
        self.wait_served(ctl, API, {"10.0.0.2:8080": 1}, 1.0)

        # An untrusted server certificate: no connection, counted as a TLS failure, never ready.
        other_cert, other_key = self.env.path("other.pem"), self.env.path("other-key.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", other_key, "-out",
                        other_cert, "-days", "1", "-subj", "/CN=other", "-addext", "subjectAltName=IP:127.0.0.1"],
                       check=True, capture_output=True, timeout=60)
        bad_ca = WatchingController(self.env, good.replace(f"ca_file: {cert}", f"ca_file: {other_cert}"),
                                    name="bad-ca").start()
        # A wrong token: 401, counted, never ready.
        wrong = self.env.path("wrong-token")
        with open(wrong, "w") as f:
            f.write("nope")
        bad_token = WatchingController(self.env, good.replace(token_path, wrong), name="bad-token").start()
        deadline = time.monotonic() + 10
        while (bad_ca.metrics().sum("weft_controller_source_errors_total", reason="tls") < 1 or
               bad_token.metrics().sum("weft_controller_source_errors_total", reason="http") < 1):
            self.assertLess(time.monotonic(), deadline, bad_ca.proc.tail(10) + bad_token.proc.tail(10))
            time.sleep(0.1)
        self.assertEqual(bad_ca.get("/ready")[0], 503)
        self.assertEqual(bad_token.get("/ready")[0], 503)
        self.assertIn("HTTP 401", bad_token.proc.tail(20))

    def test_lists_are_paged(self):
        kube = FakeKube(self.env)
        kube.apply(kube_service("default", "big", [("http", 80, None)]))
        n = 1100  # three pages of 500
        for i in range(n):
            kube.apply(kube_slice("default", f"big-{i:04d}", "big", [("http", 8000)],
                                  [(f"10.{i // 250}.{i % 250}.1", True, True, False)]))
        ctl = WatchingController(self.env, kube_source(kube), log_level="info").start().wait_serving(timeout=20)
        self.assertEqual(len(ctl.served()["big.default.svc.cluster.local:80"]), n)
        pages = [p for p in kube.state()["requests"] if p.startswith("/apis/discovery.k8s.io/v1/endpointslices?limit=")]
        self.assertEqual(len(pages), 3, pages)
        self.assertEqual(sum("continue=" in p for p in pages), 2, pages)

    def test_not_in_a_cluster_exits_2(self):
        path = self.env.path("c.yaml")
        with open(path, "w") as f:
            f.write(f"xds: 127.0.0.1:{free_port()}\nadmin: 127.0.0.1:{free_port()}\nsource:\n  kubernetes: {{}}\n")
        env = {k: v for k, v in os.environ.items() if not k.startswith("KUBERNETES_")}
        r = subprocess.run([weft_bin(), "controller", "--config", path], capture_output=True, text=True, timeout=10,
                           env=env)
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("KUBERNETES_SERVICE_HOST", r.stderr)


if __name__ == "__main__":
    main()
