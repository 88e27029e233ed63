"""WebSocket: the HTTP/1.1 Upgrade passes through weft and frames flow both ways afterwards."""
import os
import socket
import sys

sys.path.insert(0, os.path.join(os.environ.get("WEFT_SOURCE") or os.path.join(os.path.dirname(__file__), "..", ".."),
                                "test", "lib"))
from weft_harness import *  # noqa: E402,F403


class WebSocket(WeftTestCase):
    def test_upgrade_and_echo(self):
        ws = self.env.peer("ws-echo")
        weft = self.env.weft(clusters=[cluster("ws.test:80", [ws.addr])])
        key = base64.b64encode(os.urandom(16)).decode()
        s = socket.create_connection(("127.0.0.1", weft.port), timeout=10)
        try:
            s.sendall((f"GET /chat HTTP/1.1\r\nHost: ws.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                       f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
            f = s.makefile("rb")
            status_line = f.readline()
            headers = {}
            while True:
                line = f.readline()
                if line in (b"\r\n", b""):
                    break
                k, _, v = line.decode().partition(":")
                headers[k.strip().lower()] = v.strip()
            self.assertIn(b" 101 ", status_line, f"{status_line!r} {headers}")
            self.assertEqual(headers.get("sec-websocket-accept"), ws_accept_key(key))
            self.assertEqual(headers.get("upgrade", "").lower(), "websocket")
            for i in range(20):
                msg = f"message {i}".encode()
                s.sendall(ws_frame(msg))
                self.assertEqual(ws_read_frame(f), (0x1, msg))
            big = os.urandom(300000)
            s.sendall(ws_frame(big, opcode=0x2))
            self.assertEqual(ws_read_frame(f), (0x2, big))
            s.sendall(ws_frame(b"", opcode=0x9))
            self.assertEqual(ws_read_frame(f)[0], 0xA)
            s.sendall(ws_frame(b"\x03\xe8", opcode=0x8))
            self.assertEqual(ws_read_frame(f)[0], 0x8)
        finally:
            s.close()

    def test_upgrade_refused_by_upstream_is_a_normal_response(self):
        ng = self.env.nginx()
        weft = self.env.weft(clusters=[cluster("ws.test:80", [ng.addr])])
        # nginx serving /hello ignores Upgrade: the answer is a plain 200 and the connection stays HTTP.
        status, headers, body = h1_request(weft.port, "GET", "/hello", host="ws.test", headers=[
            ("Upgrade", "websocket"), ("Connection", "Upgrade"), ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
            ("Sec-WebSocket-Version", "13")])
        self.assertEqual(status, 200)
        self.assertEqual(body, b"hello from nginx\n")


if __name__ == "__main__":
    main()
