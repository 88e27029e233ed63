"""h2c (prior knowledge) through weft to nghttpd and nginx; cross-protocol h1 <-> h2 upstreams."""
import hashlib
import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.environ.get("WEFT_SOURCE") or os.path.join(os.path.dirname(__file__), "..", ".."),
                                "test", "lib"))
from weft_harness import *  # noqa: E402,F403


def via(weft, authority="api.test"):
    """curl arguments that send to weft while :authority / Host stays `authority`."""
    host, _, port = authority.partition(":")
    return [f"--connect-to", f"{host}:{port or 80}:127.0.0.1:{weft.port}"]


class H2cProxy(WeftTestCase):
    def test_curl_to_nghttpd_and_nginx(self):
        nd = self.env.nghttpd()
        ng = self.env.nginx(http2=True)
        weft = self.env.weft(clusters=[cluster("nd.test:80", [nd.addr]), cluster("ng.test:80", [ng.addr])])
        code, hdrs, body, r = curl("http://nd.test/hello", http2=True, extra=via(weft, "nd.test"))
        self.assertEqual(code, 200, r.stderr)
        self.assertEqual(body, b"hello from nghttpd\n")
        code, hdrs, body, r = curl("http://ng.test/echo", http2=True, extra=via(weft, "ng.test"),
                                   headers=["x-test: abc"])
        self.assertEqual(code, 200, r.stderr)
        self.assertIn(b"x-test=abc", body)
        self.assertIn(b"proto=HTTP/2.0", body, "the upstream leg to an h2 client's cluster should be h2")
        self.assertIn(b"host=ng.test", body)

    def test_post_body_echo_and_large_download(self):
        nd = self.env.nghttpd(echo_upload=True)
        digest = nd.add_file("big.bin", 16 << 20)
        weft = self.env.weft(clusters=[cluster("api.test:80", [nd.addr])])
        up = self.env.path("up.bin")
        up_digest = write_pattern_file(up, 3 << 20, seed=7)
        code, _, body, r = curl("http://api.test/echo", http2=True, data=f"@{up}", extra=via(weft))
        self.assertEqual(code, 200, r.stderr)
        self.assertEqual(hashlib.sha256(body).hexdigest(), up_digest, f"echoed body differs ({len(body)} bytes)")
        code, _, body, r = curl("http://api.test/big.bin", http2=True, extra=via(weft))
        self.assertEqual(code, 200, r.stderr)
        self.assertEqual(len(body), 16 << 20)
        self.assertEqual(hashlib.sha256(body).hexdigest(), digest)

    def test_many_concurrent_streams_on_one_connection(self):
        nd = self.env.nghttpd()
        weft = self.env.weft(clusters=[cluster("api.test:80", [nd.addr])])
        streams, r = nghttp_headers(f"http://127.0.0.1:{weft.port}/hello", extra=["-m", "20", "-H", ":authority: api.test"])
        self.assertEqual(r.returncode, 0, r.stderr[-2000:])
        statuses = [dict(h).get(":status") for h in streams.values()]
        self.assertEqual(statuses, ["200"] * 20, f"stream statuses {statuses}")

    def test_h2load_burst(self):
        ng = self.env.nginx(http2=True)
        weft = self.env.weft(clusters=[cluster("api.test:80", [ng.addr])])
        res = h2load(f"http://127.0.0.1:{weft.port}/hello", n=2000, c=4, m=10, headers=[":authority: api.test"])
        self.assertEqual(res.get("succeeded"), 2000, res["raw"][-2000:])
        self.assertEqual(res.get("2xx"), 2000, res["raw"][-2000:])

    def test_h1_client_to_http2_cluster(self):
        ng = self.env.nginx(http2=True)
        weft = self.env.weft(clusters=[cluster("api.test:80", [ng.addr], protocol="http2")])
        for i in range(5):
            status, headers, body = h1_request(weft.port, "GET", "/echo", host="api.test",
                                               headers=[("X-Test", f"v{i}")])
            self.assertEqual(status, 200, body)
            self.assertIn(b"proto=HTTP/2.0", body)
            self.assertIn(f"x-test=v{i}".encode(), body)
            self.assertIn(b"host=api.test", body)
        # A body crosses too (nginx DAV stores it; read it back over h1 -> h2).
        payload = os.urandom(300000)
        status, _, _ = h1_request(weft.port, "PUT", "/dav/x.bin", host="api.test", body=payload)
        self.assertIn(status, (201, 204))
        status, _, got = h1_request(weft.port, "GET", "/dav/x.bin", host="api.test")
        self.assertEqual(got, payload)

    def test_h2_client_to_http1_cluster(self):
        echo = self.env.peer("h1-echo")
        weft = self.env.weft(clusters=[cluster("api.test:80", [echo.addr], protocol="http1")])
        code, _, body, r = curl("http://api.test/path?x=1", http2=True, extra=via(weft),
                                headers=["x-rep: 1", "x-rep: 2"], data="hello-body")
        self.assertEqual(code, 200, r.stderr)
        info = json.loads(body)
        self.assertEqual(info["version"], "HTTP/1.1")
        self.assertEqual(info["target"], "/path?x=1")
        self.assertEqual(info["body_len"], len("hello-body"))
        hosts = [v for k, v in info["headers"] if k.lower() == "host"]
        self.assertEqual(len(hosts), 1, f"Host headers upstream: {hosts}")
        self.assertIn(hosts[0], ("api.test", "api.test:80"))
        self.assertEqual([v for k, v in info["headers"] if k.lower() == "x-rep"], ["1", "2"])

    def test_idle_connections_hold_small_buffers(self):
        # Issue 6 (memory): an idle h2c client connection used to cost 62 KiB
        # here, 32 of them a read buffer sized for a busy connection. It reads
        # into 2 KiB until a read fills that, and goes back to it once no
        # stream is open (33 KiB), and its read, write and timer loops are
        # completion handlers, not three coroutine frames joined by `&&`
        # (22 KiB). It holds no read buffer while it waits (the worker's
        # scratch buffer serves every read), and no coroutine frame waits
        # for it (measured 16.7 KiB, most of it nghttp2's session; nghttpx
        # 24, nginx and haproxy 6).
        ng = self.env.nginx(http2=True)
        ng.add_file("big.bin", 4 << 20)
        weft = self.env.weft(clusters=[cluster("api.test:80", [ng.addr])])
        warm = [H2Client(weft.port) for _ in range(20)]  # pools, upstream connections, allocator pages
        for c in warm:
            self.assertEqual(c.request("GET", "/hello", "api.test")[0], 200)
            c.close()
        time.sleep(0.3)
        before = weft.rss()["VmRSS"]
        clients = []
        try:
            for _ in range(300):
                c = H2Client(weft.port)
                clients.append(c)
                self.assertEqual(c.request("GET", "/hello", "api.test")[0], 200)
            # A busy connection's buffers grow, and shrink when it is idle
            # again: one large download, then a small request on the same
            # connection, and it must still answer.
            status, _, body = clients[0].request("GET", "/files/big.bin", "api.test")
            self.assertEqual((status, len(body)), (200, 4 << 20))
            self.assertEqual(clients[0].request("GET", "/hello", "api.test")[0], 200)
            time.sleep(0.3)
            per_conn = (weft.rss()["VmRSS"] - before) / len(clients)
        finally:
            for c in clients:
                c.close()
        print(f"idle h2c connection: {per_conn:.1f} KiB of weft's RSS each ({len(clients)} connections)")
        self.assertLess(per_conn, 19, f"an idle h2c connection costs {per_conn:.1f} KiB of weft's RSS")


if __name__ == "__main__":
    main()
