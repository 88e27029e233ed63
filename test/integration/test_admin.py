"""The admin server: /live, /ready, /metrics, /proxy-log-level, /shutdown."""
import os
import sys
import time

sys.path.insert(0, os.path.join(os.environ.get("WEFT_SOURCE") or os.path.join(os.path.dirname(__file__), "..", ".."),
                                "test", "lib"))
from weft_harness import *  # noqa: E402,F403


class Admin(WeftTestCase):
    def test_live_ready_metrics(self):
        ng = self.env.nginx()
        weft = self.env.weft(clusters=[cluster("api.test:80", [ng.addr])])
        self.assertEqual(weft.admin("GET", "/live")[0], 200)
        self.assertEqual(weft.admin("GET", "/ready")[0], 200)
        for _ in range(7):
            self.assertEqual(h1_request(weft.port, "GET", "/hello", host="api.test")[0], 200)
        status, headers, body = weft.admin("GET", "/metrics")
        self.assertEqual(status, 200)
        self.assertIn("text/plain", header(headers, "content-type") or "")
        text = body.decode()
        m = Metrics(text)
        weft_names = {n for n in m.names() if n.startswith("weft_")}
        self.assertTrue(weft_names, text[:2000])
        self.assertFalse({n for n in m.names() if not n.startswith("weft_")}, "metric names must start with weft_")
        self.assertIn("# TYPE weft_requests_total counter", text)
        self.assertGreaterEqual(m.sum("weft_requests_total", cluster="api.test:80"), 7, text[:3000])
        self.assertEqual(weft.admin("GET", "/no-such-admin-path")[0], 404)

    def test_log_level_get_put(self):
        weft = self.env.weft(clusters=[])
        status, _, body = weft.admin("GET", "/proxy-log-level")
        self.assertEqual(status, 200)
        self.assertEqual(body.decode().strip(), "info")
        status, _, body = weft.admin("PUT", "/proxy-log-level", body=b"debug")
        self.assertIn(status, (200, 204), body)
        self.assertEqual(weft.admin("GET", "/proxy-log-level")[2].decode().strip(), "debug")
        status, _, body = weft.admin("PUT", "/proxy-log-level", body=b"loud")
        self.assertEqual(status, 400, body)
        self.assertEqual(weft.admin("GET", "/proxy-log-level")[2].decode().strip(), "debug")

    def test_shutdown(self):
        weft = self.env.weft(clusters=[])
        status, _, _ = weft.admin("POST", "/shutdown")
        self.assertIn(status, (200, 202, 204))
        code = weft.proc.wait(15)
        self.assertEqual(code, 0, f"weft exited with {code} after POST /shutdown\n{weft.tail()}")

    def test_sigterm_exits_cleanly(self):
        weft = self.env.weft(clusters=[])
        weft.proc.signal(signal.SIGTERM)
        code = weft.proc.wait(15)
        self.assertEqual(code, 0, f"weft exited with {code} after SIGTERM\n{weft.tail()}")


if __name__ == "__main__":
    main()
