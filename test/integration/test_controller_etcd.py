"""weft controller with the etcd v3 source, against a real etcd-server on loopback.

A Python ADS client (from test_controller_xds) subscribes like a proxy and
checks: the initial list, watch updates (each change seen within 1 s), an
invalid value rejected and counted while the last good value keeps serving,
an instance whose lease expires gone from the xDS answer within TTL + 1 s of
its last keep-alive, xDS held back until the first complete read, serving
through an etcd outage and relisting after it, and a watch canceled by
compaction answered with a relist.
"""
import os
import signal
import sys
import time

sys.path.insert(0, os.path.join(os.environ.get("WEFT_SOURCE") or os.path.join(os.path.dirname(__file__), "..", ".."),
                                "test", "lib"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from weft_harness import *  # noqa: E402,F403
from controller_harness import Etcd, HoldingProxy, WatchingController  # noqa: E402
from test_controller_xds import AdsClient  # noqa: E402
from discovery_harness import discovery_proxy, wait_applied, worker_views  # noqa: E402

PREFIX = "/weft/"


def etcd_source(etcd, prefix=PREFIX):
    return f"  etcd:\n    endpoints: [{etcd.url}]\n    prefix: {prefix}\n    request_timeout_ms: 3000\n"


def inst(service, instance):
    return f"{PREFIX}services/{service}/{instance}"


class ControllerEtcd(WeftTestCase):
    def client(self, ctl, names):
        c = AdsClient(self.env, ctl.xds_port)
        self.addCleanup(c.close)
        c.subscribe_eds(names)
        return c

    def wait_eds(self, ads, name, want, timeout):
        return ads.wait_set(name, want, timeout)

    def test_list_watch_invalid_values_and_lease_expiry(self):
        etcd = Etcd(self.env).start()
        etcd.put(inst("api.test:80", "a"), {"address": "127.0.0.1:9001"})
        etcd.put(inst("api.test:80", "b"), {"address": "127.0.0.1:9002", "weight": 2})
        etcd.put(f"{PREFIX}services/idle.test:80", {"protocol": "http2"})
        etcd.put(f"{PREFIX}splits/apex.test:80",
                 {"backends": [{"service": "api.test:80", "weight": 1}, {"service": "idle.test:80", "weight": 1}]})
        ctl = WatchingController(self.env, etcd_source(etcd)).start().wait_serving()
        self.assertEqual(ctl.get("/ready")[0], 200)
        self.assertEqual(ctl.served(), {"api.test:80": {"127.0.0.1:9001": 1, "127.0.0.1:9002": 2}, "idle.test:80": {},
                                        "apex.test:80": {"127.0.0.1:9001": 1, "127.0.0.1:9002": 2}})
        ads = self.client(ctl, ["api.test:80", "apex.test:80"])
        got = ads.recv_eds(5, ["api.test:80", "apex.test:80"])
        self.assertEqual(got["api.test:80"][1], {"127.0.0.1:9001": 1, "127.0.0.1:9002": 2})

        # A new instance: one new whole set, within 1 s.
        t0 = time.monotonic()
        etcd.put(inst("api.test:80", "c"), {"address": "127.0.0.1:9003"})
        took = self.wait_eds(ads, "api.test:80", {"127.0.0.1:9001": 1, "127.0.0.1:9002": 2, "127.0.0.1:9003": 1}, 1.0)
        print(f"put seen over xDS after {(time.monotonic() - t0) * 1000:.0f} ms")
        self.assertLess(took, 1.0)

        # Invalid values: rejected, counted; the key keeps its last good value.
        rejected0 = ctl.metrics().sum("weft_controller_source_rejected_total", reason="invalid")
        etcd.put(inst("api.test:80", "c"), "not json")
        etcd.put(inst("api.test:80", "c"), {"address": "999.0.0.1:1"})
        etcd.put(f"{PREFIX}nonsense", "{}")
        deadline = time.monotonic() + 3
        while ctl.metrics().sum("weft_controller_source_rejected_total", reason="invalid") < rejected0 + 3:
            self.assertLess(time.monotonic(), deadline, "invalid values were not counted")
            time.sleep(0.05)
        self.assertEqual(ctl.served()["api.test:80"], {"127.0.0.1:9001": 1, "127.0.0.1:9002": 2, "127.0.0.1:9003": 1})
        self.assertIn("rejected", ctl.proc.tail(200))

        # A deleted key goes away.
        etcd.delete(inst("api.test:80", "c"))
        self.wait_eds(ads, "api.test:80", {"127.0.0.1:9001": 1, "127.0.0.1:9002": 2}, 1.0)

        # Lease: registered with TTL 2 s, kept alive, then abandoned.
        ttl = 2
        lease = etcd.grant(ttl)
        etcd.put(inst("api.test:80", "leased"), {"address": "127.0.0.1:9004"}, lease=lease)
        self.wait_eds(ads, "api.test:80", {"127.0.0.1:9001": 1, "127.0.0.1:9002": 2, "127.0.0.1:9004": 1}, 1.0)
        for _ in range(3):  # alive for longer than one TTL: keep-alive works
            time.sleep(ttl / 2)
            self.assertGreater(etcd.keepalive(lease), 0)
        self.assertIn("127.0.0.1:9004", ctl.served()["api.test:80"])
        last_keepalive = time.monotonic()
        took = self.wait_eds(ads, "api.test:80", {"127.0.0.1:9001": 1, "127.0.0.1:9002": 2}, ttl + 3)
        gone_after = time.monotonic() - last_keepalive
        print(f"leased instance gone from xDS {gone_after:.2f} s after its last keep-alive (TTL {ttl} s)")
        self.assertLessEqual(gone_after, ttl + 1.0)
        self.assertGreaterEqual(gone_after, ttl - 0.5)  # not earlier than the lease allows
        m = ctl.metrics()
        self.assertGreaterEqual(m.sum("weft_controller_source_events_total", type="delete"), 2)
        self.assertEqual(m.sum("weft_controller_source_synced"), 1)
        self.assertEqual(m.sum("weft_controller_source_connected"), 1)

    def test_waits_for_etcd_then_survives_an_outage_and_relists(self):
        etcd = Etcd(self.env)
        ctl = WatchingController(self.env, etcd_source(etcd)).start()
        # No etcd yet: alive, not ready, no xDS (serving nothing would wipe every proxy's sets).
        time.sleep(1.0)
        self.assertEqual(ctl.get("/live")[0], 200)
        self.assertEqual(ctl.get("/ready")[0], 503)
        with self.assertRaises(OSError):
            socket.create_connection(("127.0.0.1", ctl.xds_port), timeout=1).close()
        self.assertGreater(ctl.metrics().sum("weft_controller_source_errors_total"), 0)

        etcd.start()
        etcd.put(inst("a.test:80", "1"), {"address": "127.0.0.1:9101"})
        ctl.wait_serving(timeout=15)  # backoff is capped at 10 s
        self.assertEqual(ctl.get("/ready")[0], 200)
        ads = self.client(ctl, ["a.test:80"])
        # The controller may have listed before the put (then the watch brings it): wait for the set.
        self.wait_eds(ads, "a.test:80", {"127.0.0.1:9101": 1}, 5)

        # etcd goes away: the controller keeps serving what it had (no empty set is pushed).
        etcd.stop()
        self.assertIsNone(ads.recv(2.0))
        self.assertEqual(ctl.served(), {"a.test:80": {"127.0.0.1:9101": 1}})
        self.assertEqual(ctl.metrics().sum("weft_controller_source_connected"), 0)

        # etcd is back with the same data plus a change: the controller relists and watches again.
        etcd2 = Etcd(self.env, name="etcd2", client_port=etcd.client_port, data_dir=etcd.data_dir)
        etcd2.peer_port = etcd.peer_port
        etcd2.start()
        etcd2.put(inst("a.test:80", "2"), {"address": "127.0.0.1:9102"})
        self.wait_eds(ads, "a.test:80", {"127.0.0.1:9101": 1, "127.0.0.1:9102": 1}, 15)
        self.assertGreaterEqual(ctl.metrics().sum("weft_controller_source_relists_total", reason="reconnect"), 1)
        etcd2.delete(inst("a.test:80", "1"))  # and the new watch works
        self.wait_eds(ads, "a.test:80", {"127.0.0.1:9102": 1}, 1.0)

    def test_compacted_watch_relists(self):
        """A watch whose start revision was compacted is canceled with compact_revision: relist.

        A proxy in front of etcd holds the controller's watch request back
        after its list (revision R); meanwhile a key is written and the
        history compacted past R. Released, etcd cancels the watch with
        compact_revision, and the controller must relist and serve the new key.
        """
        etcd = Etcd(self.env).start()
        etcd.put(inst("a.test:80", "i0"), {"address": "127.0.0.1:9200"})
        proxy = HoldingProxy(etcd.client_port, b"POST /v3/watch")
        self.addCleanup(proxy.close)
        proxy.hold.set()
        ctl = WatchingController(self.env, f"  etcd:\n    endpoints: [http://127.0.0.1:{proxy.port}]\n"
                                 f"    prefix: {PREFIX}\n    request_timeout_ms: 30000\n").start().wait_serving()
        ads = self.client(ctl, ["a.test:80", "late.test:80"])
        ads.recv_eds(5, ["a.test:80", "late.test:80"])
        self.assertTrue(proxy.held.wait(10), "the controller never sent its watch")
        etcd.put(inst("late.test:80", "x"), {"address": "127.0.0.1:9300"})
        etcd.put(inst("late.test:80", "x"), {"address": "127.0.0.1:9301"})
        etcd.compact(etcd.revision())
        proxy.release()
        self.wait_eds(ads, "late.test:80", {"127.0.0.1:9301": 1}, 5)
        m = ctl.metrics()
        self.assertEqual(m.sum("weft_controller_source_relists_total", reason="compacted"), 1)
        self.assertEqual(m.sum("weft_controller_source_relists_total", reason="reconnect"), 0)
        self.assertIn("compacted", ctl.proc.tail(50))
        # The watch after the relist is live.
        etcd.put(inst("late.test:80", "y"), {"address": "127.0.0.1:9302"})
        self.wait_eds(ads, "late.test:80", {"127.0.0.1:9301": 1, "127.0.0.1:9302": 1}, 1.0)

    def test_lease_expiry_reaches_every_proxy(self):
        """Issue 4: an instance whose lease expires is gone from every proxy within TTL + 1 s."""
        etcd = Etcd(self.env).start()
        stays, leased = self.env.nginx(), self.env.nginx()
        etcd.put(inst("api.test:80", "stays"), {"address": stays.addr})
        ttl = 2
        lease = etcd.grant(ttl)
        etcd.put(inst("api.test:80", "leased"), {"address": leased.addr}, lease=lease)
        ctl = WatchingController(self.env, etcd_source(etcd)).start().wait_serving()
        proxies = [discovery_proxy(self.env, ctl, name=f"p{i}", workers=2) for i in range(2)]
        for p in proxies:
            status, _, _ = h1_request(p.port, "GET", "/hello", host="api.test")  # first use subscribes
            self.assertEqual(status, 200)
            wait_applied(p, "api.test:80", addresses={stays.addr, leased.addr}, timeout=5)
        self.assertGreater(etcd.keepalive(lease), 0)
        last_keepalive = time.monotonic()
        gone = {}
        deadline = last_keepalive + ttl + 3
        while len(gone) < len(proxies) and time.monotonic() < deadline:
            for p in proxies:
                if p.name not in gone and all(v["addresses"] == {stays.addr} for v in worker_views(p, "api.test:80"))\
                        and len(worker_views(p, "api.test:80")) == 2:
                    gone[p.name] = time.monotonic() - last_keepalive
            time.sleep(0.02)
        print("leased instance gone from each proxy's every worker after its last keep-alive:",
              {k: f"{v:.2f} s" for k, v in gone.items()}, f"(TTL {ttl} s)")
        self.assertEqual(set(gone), {p.name for p in proxies}, "some proxy still has the expired instance")
        for name, after in gone.items():
            self.assertLessEqual(after, ttl + 1.0, name)
            self.assertGreaterEqual(after, ttl - 0.5, name)  # not before the lease could expire
        for p in proxies:  # and traffic keeps flowing to what is left
            status, _, _ = h1_request(p.port, "GET", "/hello", host="api.test")
            self.assertEqual(status, 200)

    def test_bad_etcd_config_exits_2(self):
        for source, needle in [("  etcd: {prefix: /x/}\n", "source.etcd.endpoints"),
                               ("  etcd: {endpoints: [ftp://x]}\n", "source.etcd.endpoints[0]"),
                               ("  etcd: {endpoints: [http://127.0.0.1:1]}\n  file: s.yaml\n", "source:"),
                               ("  etcd: {endpoints: [https://127.0.0.1:1], ca_file: /nonexistent}\n", "nonexistent")]:
            path = self.env.path("bad.yaml")
            with open(path, "w") as f:
                f.write(f"xds: 127.0.0.1:{free_port()}\nadmin: 127.0.0.1:{free_port()}\nsource:\n{source}")
            r = subprocess.run([weft_bin(), "controller", "--config", path], capture_output=True, text=True,
                               timeout=10)
            self.assertEqual(r.returncode, 2, (source, r.stderr))
            self.assertIn(needle, r.stderr)


if __name__ == "__main__":
    main()
