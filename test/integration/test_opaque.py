"""Opaque TCP: bytes that are not HTTP, arriving at the outbound listener, go to the `opaque` target unchanged."""
import os
import socket
import sys
import threading

sys.path.insert(0, os.path.join(os.environ.get("WEFT_SOURCE") or os.path.join(os.path.dirname(__file__), "..", ".."),
                                "test", "lib"))
from weft_harness import *  # noqa: E402,F403


def exchange(port, payload, results, idx):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            def send():
                for i in range(0, len(payload), 16384):
                    s.sendall(payload[i:i + 16384])
            t = threading.Thread(target=send)
            t.start()
            got = b""
            while len(got) < len(payload):
                chunk = s.recv(65536)
                if not chunk:
                    break
                got += chunk
            t.join()
            results[idx] = got
    except OSError as e:
        results[idx] = e


class Opaque(WeftTestCase):
    def test_binary_protocol_echo(self):
        echo = self.env.peer("tcp-echo")
        weft = self.env.weft(opaque=echo.addr)
        # A TLS ClientHello-like start and random bytes: nothing like an HTTP request line.
        payloads = [b"\x16\x03\x01\x02\x00\x01" + os.urandom(2 << 20)] + \
                   [b"\x00\xffbinary-protocol" + os.urandom(50000) for _ in range(7)]
        results = [None] * len(payloads)
        threads = [threading.Thread(target=exchange, args=(weft.port, p, results, i)) for i, p in enumerate(payloads)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        for i, (p, r) in enumerate(zip(payloads, results)):
            self.assertIsInstance(r, bytes, f"connection {i}: {r}")
            self.assertEqual(len(r), len(p), f"connection {i}: echoed {len(r)} of {len(p)} bytes")
            self.assertEqual(r, p, f"connection {i}: bytes changed")

    def test_http_still_routed_when_opaque_set(self):
        echo = self.env.peer("tcp-echo")
        ng = self.env.nginx()
        weft = self.env.weft(opaque=echo.addr, clusters=[cluster("api.test:80", [ng.addr])])
        status, _, body = h1_request(weft.port, "GET", "/hello", host="api.test")
        self.assertEqual(status, 200)
        self.assertEqual(body, b"hello from nginx\n")


if __name__ == "__main__":
    main()
