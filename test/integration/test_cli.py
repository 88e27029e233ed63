"""The operator CLI against a real local mesh (docs/cli.md).

One controller (file source), two proxies discovering `api.test:80` from it
(the second one through a TCP relay the test can cut), h1 backends. Runs each
command — tap, stat, check, log-level, endpoints — and checks its output, its
--json document and its exit code, including `weft check` and `weft
endpoints` failing and naming the proxy that was cut off from the controller
while the services file changed (the staleness check).
"""
import os
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.environ.get("WEFT_SOURCE") or os.path.join(os.path.dirname(__file__), "..", ".."),
                                "test", "lib"))
from weft_harness import *  # noqa: E402,F403
from discovery_harness import Controller, discovery_proxy, wait_applied  # noqa: E402
from cli_harness import TcpRelay, start_cli, wait_until, weft_cli, weft_cli_json  # noqa: E402

AUTH = "api.test:80"


def services(*addrs):
    eps = ", ".join(addrs)
    return f"services:\n  - name: {AUTH}\n    endpoints: [{eps}]\n"


class Load:
    """Background GETs through `proxy` for `host` until stop()."""

    def __init__(self, proxy, host="api.test", pause=0.01):
        self.proxy, self.host, self.pause = proxy, host, pause
        self.stop_flag = threading.Event()
        self.statuses = []
        self.thread = threading.Thread(target=self._run, daemon=True)

    def start(self):
        self.thread.start()
        return self

    def _run(self):
        while not self.stop_flag.is_set():
            try:
                s, _, _ = h1_request(self.proxy.port, "GET", "/load", host=self.host, timeout=5)
            except OSError:
                s = 0
            self.statuses.append(s)
            time.sleep(self.pause)

    def stop(self):
        self.stop_flag.set()
        self.thread.join(10)


class CliMesh(WeftTestCase):
    def setUp(self):
        super().setUp()
        env = self.env
        self.b1 = env.peer("h1-echo", name="b1")
        self.b2 = env.peer("h1-echo", name="b2")
        self.b3 = env.peer("h1-echo", name="b3")
        self.ctl = Controller(env, services(self.b1.addr, self.b2.addr))
        self.ctl_admin = f"127.0.0.1:{self.ctl.admin_port}"
        self.relay = TcpRelay(self.ctl.xds_addr)
        self.p1 = discovery_proxy(env, self.ctl, "p1", workers=2)
        # p2 reaches the controller only through the relay.
        self.p2 = WeftProxy(env, workers=1, name="p2", extra={"controller": self.relay.addr})
        self.p2.start()
        self.p1_admin = f"127.0.0.1:{self.p1.admin_port}"
        self.p2_admin = f"127.0.0.1:{self.p2.admin_port}"
        version = self.ctl.served()[AUTH]["version"]
        for p in (self.p1, self.p2):
            s, _, _ = h1_request(p.port, "GET", "/first", host="api.test")  # subscribes on first use
            self.assertEqual(s, 200)
            wait_applied(p, AUTH, version=version, timeout=10)

    def tearDown(self):
        self.relay.kill()
        super().tearDown()

    # ------------------------------------------------------------------ tap
    def test_tap_shows_requests_and_filters(self):
        tap = start_cli("tap", "--proxy", self.p1_admin, "--count", "3", "--path", "/tapped", "--duration", "30s")
        time.sleep(1.0)  # attached (the stream's start line is written at once)
        h1_request(self.p1.port, "GET", "/untapped", host="api.test")
        for i in range(3):
            s, _, _ = h1_request(self.p1.port, "GET", f"/tapped/{i}", host="api.test")
            self.assertEqual(s, 200)
        out, err = tap.communicate(timeout=30)
        self.assertEqual(tap.returncode, 0, err)
        lines = [l for l in out.splitlines() if l.strip()]
        self.assertEqual(len(lines), 3, out)
        # One line per request; across workers the order is by start time.
        self.assertEqual(sorted(l.split()[3] for l in lines), [f"api.test/tapped/{i}" for i in range(3)], out)
        for line in lines:
            self.assertRegex(line, r"^\d\d:\d\d:\d\d\.\d{3} out GET    api\.test/tapped/\d  200  [0-9.]+ms  -> ")
            self.assertIn(" 200 ", line)
            self.assertTrue(self.b1.addr in line or self.b2.addr in line, line)
        self.assertNotIn("untapped", out)
        self.assertIn("3 request(s) shown, 0 dropped", err)

    def test_tap_json_errors_only(self):
        tap = start_cli("tap", "--proxy", self.p1_admin, "--errors", "--json", "--count", "1", "--duration", "30s")
        time.sleep(1.0)
        h1_request(self.p1.port, "GET", "/ok", host="api.test")
        s, h, _ = h1_request(self.p1.port, "GET", "/nowhere", host="nowhere.test")
        self.assertEqual(s, 503)
        out, err = tap.communicate(timeout=30)
        self.assertEqual(tap.returncode, 0, err)
        recs = [json.loads(l) for l in out.splitlines() if l.strip()]
        self.assertEqual(len(recs), 1, out)
        r = recs[0]
        self.assertEqual(r["type"], "request")
        self.assertEqual(r["authority"], "nowhere.test")
        self.assertEqual(r["path"], "/nowhere")
        self.assertEqual(r["status"], 503)
        self.assertEqual(r["proxy_error"], "unknown-service")
        self.assertIsNone(r["endpoint"])

    def test_tap_exit_codes(self):
        r = weft_cli("tap", "--proxy", f"127.0.0.1:{free_port()}", "--count", "1")
        self.assertEqual(r.returncode, 3, r.stderr)
        self.assertIn("connect", r.stderr)
        r = weft_cli("tap", "--proxy", self.p1_admin, "--status", "9zz", "--count", "1")
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("status must be", r.stderr)
        r = weft_cli("tap", "--proxy", self.p1_admin, "--duration", "soon")
        self.assertEqual(r.returncode, 2, r.stderr)
        r = weft_cli("tap", "--proxy", self.p1_admin, "--duration", "1s")
        self.assertEqual(r.returncode, 0, r.stderr)

    # ------------------------------------------------------------------ stat
    def test_stat_per_authority_and_endpoint(self):
        loads = [Load(self.p1).start(), Load(self.p2).start()]
        try:
            time.sleep(0.5)
            doc = weft_cli_json("stat", "--proxy", self.p1_admin, "--proxy", self.p2_admin, "--interval", "2s")
            text = weft_cli("stat", "--proxy", self.p1_admin, "--proxy", self.p2_admin, "--interval", "1s",
                            check_rc=0).stdout
        finally:
            for l in loads:
                l.stop()
        self.assertEqual(doc["errors"], [])
        a = [x for x in doc["authorities"] if x["authority"] == AUTH and x["direction"] == "outbound"]
        self.assertEqual(len(a), 1, doc)
        a = a[0]
        sent = sum(1 for l in loads for s in l.statuses if s == 200)
        self.assertGreater(a["requests"], 10, a)
        self.assertLessEqual(a["total"], sent + 2 + 5, a)  # the two first requests, and no double counting
        self.assertGreater(a["rps"], 5)
        self.assertEqual(a["success_rate"], 1.0)
        for q in ("p50_seconds", "p95_seconds", "p99_seconds"):
            self.assertIsNotNone(a[q])
            self.assertGreater(a[q], 0)
            self.assertLess(a[q], 5)
        self.assertLessEqual(a["p50_seconds"], a["p99_seconds"])
        eps = {e["endpoint"]: e for e in a["endpoints"]}
        self.assertEqual(set(eps), {self.b1.addr, self.b2.addr}, eps)
        self.assertEqual(sum(e["requests"] for e in eps.values()), a["requests"])
        self.assertIn("AUTHORITY / ENDPOINT", text)
        self.assertIn(AUTH, text)
        self.assertIn(self.b1.addr, text)

    def test_stat_success_rate_counts_failures(self):
        bad = self.env.peer("h1-delay", "--fail-rate", "1.0", "--fail-status", "500", name="bad")
        p = self.env.weft(clusters=[cluster("flaky.test:80", [bad.addr], max_retries=0)], name="p3")
        load = Load(p, host="flaky.test").start()
        try:
            time.sleep(0.3)
            doc = weft_cli_json("stat", "--proxy", f"127.0.0.1:{p.admin_port}", "--authority", "flaky.test",
                                "--interval", "1s")
        finally:
            load.stop()
        self.assertEqual(len(doc["authorities"]), 1, doc)
        a = doc["authorities"][0]
        self.assertEqual(a["authority"], "flaky.test:80")
        self.assertGreater(a["requests"], 0)
        self.assertEqual(a["success_rate"], 0.0)
        self.assertEqual(a["failures"], a["requests"])

    def test_stat_watch_iterations_and_unreachable(self):
        r = weft_cli("stat", "--proxy", self.p1_admin, "--watch", "--iterations", "2", "--interval", "300ms",
                     "--json", check_rc=0)
        self.assertEqual(len([l for l in r.stdout.splitlines() if l.startswith("{")]), 2)
        r = weft_cli("stat", "--proxy", f"127.0.0.1:{free_port()}")
        self.assertEqual(r.returncode, 3)
        self.assertIn("connect", r.stderr)

    # ------------------------------------------------------------------ log-level
    def test_log_level_get_set(self):
        self.assertEqual(weft_cli("log-level", "--proxy", self.p1_admin, check_rc=0).stdout.strip(), "info")
        r = weft_cli("log-level", "--proxy", self.p1_admin, "debug", check_rc=0)
        self.assertIn("debug", r.stdout)
        self.assertEqual(weft_cli_json("log-level", "--proxy", self.p1_admin)["level"], "debug")
        r = weft_cli("log-level", "--proxy", self.p1_admin, "chatty")
        self.assertEqual(r.returncode, 2)
        self.assertIn("unknown level", r.stderr)
        self.assertEqual(weft_cli("log-level", "--proxy", self.ctl_admin, check_rc=0).stdout.strip(), "info")
        r = weft_cli("log-level", "--proxy", f"127.0.0.1:{free_port()}")
        self.assertEqual(r.returncode, 3)

    # ------------------------------------------------------------------ endpoints + check
    def test_endpoints_in_sync(self):
        doc = weft_cli_json("endpoints", AUTH, "--controller", self.ctl_admin, "--proxy", self.p1_admin, "--proxy",
                            self.p2_admin)
        self.assertFalse(doc["diverged"])
        self.assertEqual({e["address"] for e in doc["controller"]["endpoints"]}, {self.b1.addr, self.b2.addr})
        self.assertEqual(len(doc["proxies"]), 2)
        self.assertEqual(len(doc["proxies"][0]["workers"]), 2)  # p1 has two workers
        for p in doc["proxies"]:
            for w in p["workers"]:
                self.assertEqual(w["version"], doc["controller"]["version"])
                self.assertEqual({e["address"] for e in w["endpoints"]}, {self.b1.addr, self.b2.addr})
                self.assertTrue(all(e["state"] in ("ready", "pending") for e in w["endpoints"]))
        text = weft_cli("endpoints", "api.test", "--controller", self.ctl_admin, "--proxy", self.p1_admin,
                        check_rc=0).stdout
        self.assertIn("✓ in sync", text)
        self.assertNotIn("DIVERGED", text)

    def test_check_healthy_mesh(self):
        r = weft_cli("check", "--config", self.p1.config_path, "--controller", self.ctl_admin, "--proxy",
                     self.p2_admin, check_rc=0)
        self.assertIn("Status check results are ✓", r.stdout)
        self.assertIn(f"✓ controller xDS port {self.ctl.xds_addr} accepts connections", r.stdout)
        self.assertIn(f"✓ proxy {self.p1_admin} is ready", r.stdout)
        self.assertIn(f"✓ proxy {self.p2_admin} is ready", r.stdout)
        self.assertIn(f"✓ outbound listener {self.p1.addr} accepts connections", r.stdout)
        doc = weft_cli_json("check", "--controller", self.ctl_admin, "--proxy", self.p1_admin, "--proxy",
                            self.p2_admin)
        self.assertTrue(doc["ok"])
        self.assertTrue(all(c["ok"] for c in doc["checks"]))
        self.assertTrue(any("current version" in c["name"] for c in doc["checks"]))

    def test_check_and_endpoints_name_the_stale_proxy(self):
        old = self.ctl.served()[AUTH]["version"]
        self.relay.kill()  # p2 is cut off from the controller
        wait_until(lambda: self.p2.metrics().sum("weft_discovery_connected") == 0, timeout=10,
                   what="p2 to notice it lost the controller")
        self.ctl.write_services(services(self.b1.addr, self.b3.addr))
        new, _ = self.ctl.wait_version_change(AUTH, old, timeout=5)
        wait_applied(self.p1, AUTH, version=new, timeout=5)
        # p2 keeps serving its last set (DESIGN.md §6) — and is stale.
        s, _, _ = h1_request(self.p2.port, "GET", "/still-served", host="api.test")
        self.assertEqual(s, 200)

        r = weft_cli("check", "--controller", self.ctl_admin, "--proxy", self.p1_admin, "--proxy", self.p2_admin)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn(f"✗ proxy {self.p2_admin} is up to date with the controller (it is STALE)", r.stdout)
        self.assertIn(f"{AUTH} (worker 0) at version {old}", r.stdout)
        self.assertIn(f"the controller serves {new}", r.stdout)
        self.assertIn(f"✗ proxy {self.p2_admin} is connected to the controller", r.stdout)
        self.assertIn(f"✓ proxy {self.p1_admin} has the controller's current version", r.stdout)
        self.assertNotIn(f"✗ proxy {self.p1_admin}", r.stdout)
        self.assertIn("hint:", r.stdout)
        self.assertIn("Status check results are ✗", r.stdout)

        doc = weft_cli_json("check", "--controller", self.ctl_admin, "--proxy", self.p1_admin, "--proxy",
                            self.p2_admin, rc=1)
        failed = [c for c in doc["checks"] if not c["ok"]]
        self.assertTrue(failed)
        self.assertTrue(all(self.p2_admin in c["name"] for c in failed), failed)

        r = weft_cli("endpoints", AUTH, "--controller", self.ctl_admin, "--proxy", self.p1_admin, "--proxy",
                     self.p2_admin)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("divergence found", r.stdout)
        doc = weft_cli_json("endpoints", AUTH, "--controller", self.ctl_admin, "--proxy", self.p1_admin, "--proxy",
                            self.p2_admin, rc=1)
        self.assertTrue(doc["diverged"])
        by = {p["address"]: p for p in doc["proxies"]}
        self.assertFalse(any(w["diverged"] for w in by[self.p1_admin]["workers"]))
        w = by[self.p2_admin]["workers"][0]
        self.assertTrue(w["diverged"])
        self.assertEqual(w["version"], old)
        self.assertEqual(w["missing"], [self.b3.addr])
        self.assertEqual(w["extra"], [self.b2.addr])

    def test_check_names_a_dead_proxy_and_bad_config(self):
        self.p2.stop()
        r = weft_cli("check", "--controller", self.ctl_admin, "--proxy", self.p1_admin, "--proxy", self.p2_admin)
        self.assertEqual(r.returncode, 1)
        self.assertIn(f"✗ proxy {self.p2_admin} is live", r.stdout)
        self.assertIn("Connection refused", r.stdout)
        bad = self.env.path("bad.yaml")
        with open(bad, "w") as f:
            f.write("outbound: 127.0.0.1:1\nworkers: lots\n")
        r = weft_cli("check", "--config", bad)
        self.assertEqual(r.returncode, 1)
        self.assertIn(f"✗ proxy config {bad} is valid", r.stdout)
        self.assertIn("workers", r.stdout)
        r = weft_cli("check", "--controller", f"127.0.0.1:{free_port()}", "--xds", f"127.0.0.1:{free_port()}")
        self.assertEqual(r.returncode, 1)
        self.assertIn("✗ controller admin", r.stdout)
        self.assertIn("✗ controller xDS port", r.stdout)
        self.assertEqual(weft_cli("check").returncode, 2)


if __name__ == "__main__":
    main()
