"""A client that reads a large response slowly: weft must apply back-pressure, not buffer the body."""
import os
import socket
import sys
import time

sys.path.insert(0, os.path.join(os.environ.get("WEFT_SOURCE") or os.path.join(os.path.dirname(__file__), "..", ".."),
                                "test", "lib"))
from weft_harness import *  # noqa: E402,F403

SIZE = 64 << 20
LIMIT_MIB = 32


class SlowClient(WeftTestCase):
    def start_backend_and_weft(self, http2):
        ng = self.env.nginx(http2=http2)
        digest = ng.add_file("big.bin", SIZE)
        weft = self.env.weft(clusters=[cluster("api.test:80", [ng.addr])])
        h1_request(weft.port, "GET", "/hello", host="api.test")
        return ng, digest, weft

    def test_h1_slow_reader(self):
        ng, digest, weft = self.start_backend_and_weft(http2=False)
        before = weft.rss()
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
        s.settimeout(20)
        s.connect(("127.0.0.1", weft.port))
        s.sendall(b"GET /files/big.bin HTTP/1.1\r\nHost: api.test\r\n\r\n")
        # First ~1 MiB quickly, then stall 3 s (an upstream that is not held back
        # would be fully buffered by now), then read the rest at ~40 MiB/s.
        got = b""
        while len(got) < (1 << 20):
            got += s.recv(65536)
        time.sleep(3)
        stalled = weft.rss()
        h = hashlib.sha256()
        head, _, rest = got.partition(b"\r\n\r\n")
        self.assertIn(b" 200 ", head.split(b"\r\n")[0])
        h.update(rest)
        n = len(rest)
        t_end = time.monotonic() + 60
        while n < SIZE and time.monotonic() < t_end:
            chunk = s.recv(256 * 1024)
            if not chunk:
                break
            h.update(chunk)
            n += len(chunk)
            time.sleep(0.005)
        s.close()
        after = weft.rss()
        stall_growth = (stalled["VmRSS"] - before["VmRSS"]) / 1024.0
        growth = (after["VmHWM"] - before["VmHWM"]) / 1024.0
        print(f"slow h1 reader: RSS during stall +{stall_growth:.1f} MiB, peak growth {growth:.1f} MiB")
        self.assertEqual(n, SIZE)
        self.assertEqual(h.hexdigest(), digest)
        self.assertLess(growth, LIMIT_MIB, f"weft's peak RSS grew {growth:.1f} MiB for one slow reader")

    def test_h2_slow_reader(self):
        # nghttp2's flow control: a client that does not open its window stalls the stream.
        import h2.config
        import h2.connection
        import h2.events
        ng, digest, weft = self.start_backend_and_weft(http2=True)
        before = weft.rss()
        s = socket.create_connection(("127.0.0.1", weft.port), timeout=20)
        c = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True, header_encoding=None))
        c.initiate_connection()
        sid = c.get_next_available_stream_id()
        c.send_headers(sid, [(b":method", b"GET"), (b":scheme", b"http"), (b":authority", b"api.test"),
                             (b":path", b"/files/big.bin")], end_stream=True)
        s.sendall(c.data_to_send())
        h = hashlib.sha256()
        n = 0
        status = None
        done = False
        stalled_rss = None
        t_end = time.monotonic() + 60
        while not done and time.monotonic() < t_end:
            data = s.recv(65536)
            if not data:
                break
            for ev in c.receive_data(data):
                if isinstance(ev, h2.events.ResponseReceived):
                    status = dict(ev.headers).get(b":status")
                elif isinstance(ev, h2.events.DataReceived):
                    h.update(ev.data)
                    n += len(ev.data)
                    if stalled_rss is None and n >= (1 << 20):
                        time.sleep(3)
                        stalled_rss = weft.rss()
                    c.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
                elif isinstance(ev, (h2.events.StreamEnded, h2.events.StreamReset)):
                    done = True
            s.sendall(c.data_to_send())
            time.sleep(0.002)
        s.close()
        after = weft.rss()
        growth = (after["VmHWM"] - before["VmHWM"]) / 1024.0
        print(f"slow h2 reader: peak growth {growth:.1f} MiB")
        self.assertEqual(status, b"200")
        self.assertEqual(n, SIZE)
        self.assertEqual(h.hexdigest(), digest)
        self.assertLess(growth, LIMIT_MIB, f"weft's peak RSS grew {growth:.1f} MiB for one slow h2 reader")


if __name__ == "__main__":
    main()
