"""HTTP/2 conformance of weft's downstream h2c session, frame by frame.

h2spec (the usual tool) cannot run here: it is not packaged for Debian and
neither the Go module proxy nor GitHub is reachable from these machines. These
cases are a representative set of h2spec's RFC 9113 / RFC 7541 checks, built
by hand: raw frames on a socket (prior knowledge; built byte by byte, since
they must be able to be wrong), header blocks encoded with python3-hpack (or
by hand where they must be invalid). Each case asserts the error the RFC
requires:

  connection error  -> GOAWAY with that code (then the connection closes)
  stream error      -> RST_STREAM with that code on that stream; a GOAWAY
                       with the same code also conforms (RFC 9113 §5.4.1: an
                       endpoint may treat a stream error as a connection
                       error) and is reported as such

and every malformed case is paired with a valid request on a fresh connection
in test_valid_request_is_answered, so a weft that answered nothing would fail.
"""
import os
import socket
import struct
import sys
import time
import unittest

sys.path.insert(0, os.path.join(os.environ.get("WEFT_SOURCE") or os.path.join(os.path.dirname(__file__), "..", ".."),
                                "test", "lib"))
from weft_harness import *  # noqa: E402,F403

import hpack  # noqa: E402

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
# Frame types and flags (RFC 9113 §6).
DATA, HEADERS, PRIORITY, RST_STREAM, SETTINGS, PUSH_PROMISE, PING, GOAWAY, WINDOW_UPDATE, CONTINUATION = range(10)
END_STREAM, ACK, END_HEADERS, PADDED, PRIO = 0x1, 0x1, 0x4, 0x8, 0x20
# Error codes (RFC 9113 §7).
NO_ERROR, PROTOCOL_ERROR, INTERNAL_ERROR, FLOW_CONTROL_ERROR, SETTINGS_TIMEOUT, STREAM_CLOSED, FRAME_SIZE_ERROR, \
    REFUSED_STREAM, CANCEL, COMPRESSION_ERROR = range(10)
CODE_NAMES = {0: "NO_ERROR", 1: "PROTOCOL_ERROR", 2: "INTERNAL_ERROR", 3: "FLOW_CONTROL_ERROR", 5: "STREAM_CLOSED",
              6: "FRAME_SIZE_ERROR", 7: "REFUSED_STREAM", 8: "CANCEL", 9: "COMPRESSION_ERROR", 11: "ENHANCE_YOUR_CALM"}
# SETTINGS identifiers.
HEADER_TABLE_SIZE, ENABLE_PUSH, MAX_CONCURRENT_STREAMS, INITIAL_WINDOW_SIZE, MAX_FRAME_SIZE = 1, 2, 3, 4, 5

WAIT_S = 5.0  # for any one expected frame (sanitizer builds are slower)
FAST = "conf.test:80"
SLOW = "slow.test:80"  # answers after SLOW_DELAY_MS: its streams stay open meanwhile
SLOW_DELAY_MS = 3000


def frame(ftype, flags, sid, payload=b""):
    return struct.pack(">I", len(payload))[1:] + bytes([ftype, flags]) + struct.pack(">I", sid) + payload


def settings(*pairs):
    return b"".join(struct.pack(">HI", k, v) for k, v in pairs)


def request(path="/", authority=FAST, method="GET", extra=()):
    return [(":method", method), (":scheme", "http"), (":path", path), (":authority", authority), *extra]


class Conn:
    """One raw h2c connection to weft: preface + SETTINGS, then frames both ways."""

    def __init__(self, port, client_settings=b"", handshake=True, preface=PREFACE):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=WAIT_S)
        self.buf = b""
        self.enc = hpack.Encoder()
        self.dec = hpack.Decoder()
        self.seen = []  # (type, flags, sid, payload) in arrival order
        self.closed = False
        if preface is not None:
            self.s.sendall(preface + (frame(SETTINGS, 0, 0, client_settings) if handshake else b""))
        if handshake:
            f = self.wait(lambda f: f[0] == SETTINGS and not f[1] & ACK)
            assert f is not None, f"no SETTINGS from weft: {self.describe()}"
            self.server_settings = {k: v for k, v in struct.iter_unpack(">HI", f[3])}
            self.send(frame(SETTINGS, ACK, 0))

    def close(self):
        self.s.close()

    def send(self, *frames):
        try:
            self.s.sendall(b"".join(frames))
        except OSError:
            self.closed = True  # the peer already hung up; what it sent before is still readable

    def block(self, headers):
        """A valid HPACK header block for `headers` (names sent as given)."""
        return self.enc.encode([(n.encode() if isinstance(n, str) else n, v.encode() if isinstance(v, str) else v)
                                for n, v in headers], huffman=False)

    def headers(self, sid, headers, flags=END_HEADERS | END_STREAM):
        self.send(frame(HEADERS, flags, sid, self.block(headers)))

    def next(self, deadline):
        while True:
            if len(self.buf) >= 9:
                length = int.from_bytes(self.buf[:3], "big")
                if len(self.buf) >= 9 + length:
                    ftype, flags = self.buf[3], self.buf[4]
                    sid = int.from_bytes(self.buf[5:9], "big") & 0x7fffffff
                    payload = self.buf[9:9 + length]
                    self.buf = self.buf[9 + length:]
                    out = (ftype, flags, sid, payload)
                    self.seen.append(out)
                    return out
            left = deadline - time.monotonic()
            if left <= 0 or self.closed:
                return None
            self.s.settimeout(left)
            try:
                data = self.s.recv(65536)
            except socket.timeout:
                return None
            except OSError:
                data = b""
            if not data:
                self.closed = True
                if len(self.buf) < 9:
                    return None
                continue
            self.buf += data

    def wait(self, pred, timeout=WAIT_S):
        deadline = time.monotonic() + timeout
        while True:
            f = self.next(deadline)
            if f is None or pred(f):
                return f

    def describe(self):
        names = {DATA: "DATA", HEADERS: "HEADERS", PRIORITY: "PRIORITY", RST_STREAM: "RST_STREAM",
                 SETTINGS: "SETTINGS", PUSH_PROMISE: "PUSH_PROMISE", PING: "PING", GOAWAY: "GOAWAY",
                 WINDOW_UPDATE: "WINDOW_UPDATE", CONTINUATION: "CONTINUATION"}
        parts = []
        for t, fl, sid, p in self.seen:
            d = f"{names.get(t, t)}(sid={sid},flags={fl:#x},len={len(p)}"
            if t in (RST_STREAM, GOAWAY):
                code = struct.unpack(">I", p[:4] if t == RST_STREAM else p[4:8])[0]
                d += f",{CODE_NAMES.get(code, code)}"
            parts.append(d + ")")
        return "received: " + (", ".join(parts) or "nothing") + ("; connection closed" if self.closed else "")


class H2Conformance(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        weft_bin()
        cls.env = Env("h2-conformance")
        try:
            fast = cls.env.peer("h1-echo")
            slow = cls.env.peer("h1-delay", "--delay-ms", SLOW_DELAY_MS)
            cls.weft = cls.env.weft(clusters=[cluster(FAST, [fast.addr], protocol="http1"),
                                              cluster(SLOW, [slow.addr], protocol="http1")],
                                    extra={"max_concurrent_streams": 5})
        except Exception:
            cls.env.close(failed=True)
            raise
        cls.ok = True

    @classmethod
    def tearDownClass(cls):
        cls.env.close(failed=not cls.ok)

    def setUp(self):
        self.conns = []

    def tearDown(self):
        for c in self.conns:
            c.close()
        outcome = getattr(self, "_outcome", None)
        if outcome is not None and not getattr(outcome, "success", True):
            type(self).ok = False

    def conn(self, **kw):
        c = Conn(self.weft.port, **kw)
        self.conns.append(c)
        return c

    # ---- expectations -------------------------------------------------------------------------------
    def expect_goaway(self, c, code, what):
        f = c.wait(lambda f: f[0] == GOAWAY)
        self.assertIsNotNone(f, f"{what}: expected GOAWAY({CODE_NAMES[code]}); {c.describe()}")
        got = struct.unpack(">I", f[3][4:8])[0]
        self.assertEqual(got, code, f"{what}: GOAWAY({CODE_NAMES.get(got, got)}), RFC requires {CODE_NAMES[code]}; "
                                    f"{c.describe()}")
        # After a connection error the connection closes.
        c.wait(lambda f: False, timeout=WAIT_S)
        self.assertTrue(c.closed, f"{what}: still open after GOAWAY; {c.describe()}")

    def expect_stream_error(self, c, sid, code, what, answered=False):
        f = c.wait(lambda f: (f[0] == RST_STREAM and f[2] == sid) or f[0] == GOAWAY)
        self.assertIsNotNone(f, f"{what}: expected RST_STREAM({CODE_NAMES[code]}) on stream {sid}; {c.describe()}")
        if f[0] == RST_STREAM:
            got = struct.unpack(">I", f[3][:4])[0]
            self.assertEqual(got, code, f"{what}: RST_STREAM({CODE_NAMES.get(got, got)}), RFC requires "
                                        f"{CODE_NAMES[code]}; {c.describe()}")
        else:
            got = struct.unpack(">I", f[3][4:8])[0]
            self.assertEqual(got, code, f"{what}: GOAWAY({CODE_NAMES.get(got, got)}) for a stream error, RFC "
                                        f"requires {CODE_NAMES[code]}; {c.describe()}")
            print(f"  ({what}: answered as a connection error, which RFC 9113 §5.4.1 allows)")
        # Nothing of that stream reached the upstream as a request: no response HEADERS for it.
        self.assertTrue(answered or not any(t == HEADERS and s == sid for t, _, s, _ in c.seen),
                         f"{what}: stream {sid} got a response; {c.describe()}")

    def expect_response(self, c, sid, what):
        f = c.wait(lambda f: f[2] == sid and f[0] in (HEADERS, RST_STREAM) or f[0] == GOAWAY)
        self.assertIsNotNone(f, f"{what}: no response on stream {sid}; {c.describe()}")
        self.assertEqual(f[0], HEADERS, f"{what}: {c.describe()}")
        payload = f[3]
        if f[1] & PADDED:
            payload = payload[1:len(payload) - payload[0]]
        if f[1] & PRIO:
            payload = payload[5:]
        return dict((k.decode() if isinstance(k, bytes) else k, v.decode() if isinstance(v, bytes) else v)
                    for k, v in c.dec.decode(payload, raw=True))

    def assert_still_usable(self, c, sid, what):
        """After a stream error the connection must still serve a new stream."""
        c.headers(sid, request("/after"))
        h = self.expect_response(c, sid, what + " (then a valid request)")
        self.assertEqual(h.get(":status"), "200", f"{what}: {h}")

    # ---- baseline ------------------------------------------------------------------------------------
    def test_valid_request_is_answered(self):
        c = self.conn()
        self.assertIn(MAX_CONCURRENT_STREAMS, c.server_settings)
        self.assertTrue(any(t == SETTINGS and fl & ACK for t, fl, _, _ in c.seen) or
                        c.wait(lambda f: f[0] == SETTINGS and f[1] & ACK) is not None,
                        f"our SETTINGS never acknowledged (RFC 9113 §6.5.3); {c.describe()}")
        c.headers(1, request("/hello"))
        h = self.expect_response(c, 1, "GET /hello")
        self.assertEqual(h.get(":status"), "200")

    # ---- 3.4 connection preface ----------------------------------------------------------------------
    def test_preface_not_followed_by_settings(self):
        c = self.conn(handshake=False)
        c.send(frame(PING, 0, 0, b"12345678"))
        self.expect_goaway(c, PROTOCOL_ERROR, "preface followed by PING instead of SETTINGS")

    def test_invalid_preface(self):
        # Detection sees "PRI * HTTP/2.0" and hands over to h2; the rest is wrong.
        c = self.conn(handshake=False, preface=b"PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n" + frame(SETTINGS, 0, 0))
        c.wait(lambda f: f[0] == GOAWAY)
        c.wait(lambda f: False, timeout=WAIT_S)
        self.assertTrue(c.closed, f"invalid preface: connection still open; {c.describe()}")
        self.assertFalse(any(t == HEADERS for t, _, _, _ in c.seen))
        goaways = [p for t, _, _, p in c.seen if t == GOAWAY]
        if goaways:
            self.assertEqual(struct.unpack(">I", goaways[0][4:8])[0], PROTOCOL_ERROR, c.describe())

    # ---- 4.2 frame size ------------------------------------------------------------------------------
    def test_data_frame_larger_than_max_frame_size(self):
        c = self.conn()
        c.headers(1, request("/upload", method="POST"), flags=END_HEADERS)
        c.send(frame(DATA, END_STREAM, 1, b"x" * 16385))
        self.expect_stream_error(c, 1, FRAME_SIZE_ERROR, "DATA of 2^14+1 octets")

    def test_headers_frame_larger_than_max_frame_size(self):
        c = self.conn()
        block = c.block(request("/big", extra=[("x-pad", "p" * 16400)]))
        c.send(frame(HEADERS, END_HEADERS | END_STREAM, 1, block))
        self.expect_goaway(c, FRAME_SIZE_ERROR, "HEADERS over SETTINGS_MAX_FRAME_SIZE")

    def test_ping_with_wrong_length(self):
        c = self.conn()
        c.send(frame(PING, 0, 0, b"1234567"))
        self.expect_goaway(c, FRAME_SIZE_ERROR, "PING of 7 octets")

    def test_settings_length_not_multiple_of_six(self):
        c = self.conn()
        c.send(frame(SETTINGS, 0, 0, b"\x00\x03\x00\x00\x00"))
        self.expect_goaway(c, FRAME_SIZE_ERROR, "SETTINGS of 5 octets")

    def test_window_update_with_wrong_length(self):
        c = self.conn()
        c.send(frame(WINDOW_UPDATE, 0, 0, b"\x00\x00\x01"))
        self.expect_goaway(c, FRAME_SIZE_ERROR, "WINDOW_UPDATE of 3 octets")

    def test_rst_stream_with_wrong_length(self):
        c = self.conn()
        c.headers(1, request("/", authority=SLOW))
        c.send(frame(RST_STREAM, 0, 1, b"\x00\x00\x00"))
        self.expect_goaway(c, FRAME_SIZE_ERROR, "RST_STREAM of 3 octets")

    def test_priority_with_wrong_length(self):
        c = self.conn()
        c.send(frame(PRIORITY, 0, 1, b"\x00\x00\x00\x03"))
        self.expect_stream_error(c, 1, FRAME_SIZE_ERROR, "PRIORITY of 4 octets")

    # ---- 5.1 stream states ---------------------------------------------------------------------------
    def test_data_on_idle_stream(self):
        c = self.conn()
        c.send(frame(DATA, END_STREAM, 1, b"hello"))
        self.expect_goaway(c, PROTOCOL_ERROR, "DATA on idle stream 1")

    def test_rst_stream_on_idle_stream(self):
        c = self.conn()
        c.send(frame(RST_STREAM, 0, 1, struct.pack(">I", CANCEL)))
        self.expect_goaway(c, PROTOCOL_ERROR, "RST_STREAM on idle stream 1")

    def test_window_update_on_idle_stream(self):
        c = self.conn()
        c.send(frame(WINDOW_UPDATE, 0, 1, struct.pack(">I", 100)))
        self.expect_goaway(c, PROTOCOL_ERROR, "WINDOW_UPDATE on idle stream 1")

    def test_data_on_half_closed_remote_stream(self):
        c = self.conn()
        c.headers(1, request("/", authority=SLOW))  # END_STREAM: half-closed (remote) while weft waits
        c.send(frame(DATA, 0, 1, b"late"))
        self.expect_stream_error(c, 1, STREAM_CLOSED, "DATA after END_STREAM")

    def test_headers_on_half_closed_remote_stream(self):
        c = self.conn()
        c.headers(1, request("/", authority=SLOW))
        c.headers(1, [("x-late", "1")])
        self.expect_stream_error(c, 1, STREAM_CLOSED, "HEADERS after END_STREAM")

    def test_data_on_closed_stream(self):
        c = self.conn()
        c.headers(1, request("/hello"))
        self.expect_response(c, 1, "GET /hello")
        c.wait(lambda f: f[2] == 1 and f[1] & END_STREAM)
        c.send(frame(DATA, 0, 1, b"late"))
        self.expect_stream_error(c, 1, STREAM_CLOSED, "DATA on a closed stream", answered=True)

    def test_even_stream_id(self):
        c = self.conn()
        c.headers(2, request())
        self.expect_goaway(c, PROTOCOL_ERROR, "HEADERS on even stream 2")

    def test_decreasing_stream_id(self):
        c = self.conn()
        c.headers(5, request("/", authority=SLOW))
        c.headers(3, request())
        self.expect_goaway(c, PROTOCOL_ERROR, "HEADERS on stream 3 after stream 5")

    def test_streams_beyond_max_concurrent_streams_are_refused(self):
        c = self.conn()
        limit = c.server_settings[MAX_CONCURRENT_STREAMS]
        self.assertEqual(limit, 5)
        for i in range(limit + 1):
            c.headers(1 + 2 * i, request("/", authority=SLOW))
        # §5.1.2: a stream error PROTOCOL_ERROR or REFUSED_STREAM (or, §5.4.1, a connection error).
        sid = 1 + 2 * limit
        f = c.wait(lambda f: (f[0] == RST_STREAM and f[2] == sid) or f[0] == GOAWAY)
        self.assertIsNotNone(f, f"stream {limit + 1} over the limit: {c.describe()}")
        code = struct.unpack(">I", f[3][:4] if f[0] == RST_STREAM else f[3][4:8])[0]
        self.assertIn(code, (REFUSED_STREAM, PROTOCOL_ERROR) if f[0] == RST_STREAM else (PROTOCOL_ERROR,),
                      c.describe())
        self.assertFalse(any(t == HEADERS and s == sid for t, _, s, _ in c.seen), c.describe())

    # ---- 6.2 / 6.10 header blocks and CONTINUATION ---------------------------------------------------
    def test_headers_without_end_headers_then_other_frame(self):
        c = self.conn()
        block = c.block(request())
        c.send(frame(HEADERS, END_STREAM, 1, block[:2]), frame(PING, 0, 0, b"12345678"))
        self.expect_goaway(c, PROTOCOL_ERROR, "HEADERS without END_HEADERS, then PING")

    def test_continuation_on_another_stream(self):
        c = self.conn()
        block = c.block(request())
        c.send(frame(HEADERS, END_STREAM, 1, block[:2]), frame(CONTINUATION, END_HEADERS, 3, block[2:]))
        self.expect_goaway(c, PROTOCOL_ERROR, "CONTINUATION on stream 3 after HEADERS on stream 1")

    def test_continuation_without_headers(self):
        c = self.conn()
        c.send(frame(CONTINUATION, END_HEADERS, 1, c.block(request())))
        self.expect_goaway(c, PROTOCOL_ERROR, "CONTINUATION without a preceding HEADERS")

    def test_headers_split_over_continuation_is_answered(self):
        c = self.conn()
        block = c.block(request("/split"))
        c.send(frame(HEADERS, END_STREAM, 1, block[:3]), frame(CONTINUATION, 0, 1, block[3:6]),
               frame(CONTINUATION, END_HEADERS, 1, block[6:]))
        self.assertEqual(self.expect_response(c, 1, "HEADERS + 2 CONTINUATION").get(":status"), "200")

    def test_headers_on_stream_zero(self):
        c = self.conn()
        c.headers(0, request())
        self.expect_goaway(c, PROTOCOL_ERROR, "HEADERS on stream 0")

    # ---- 6.3 PRIORITY --------------------------------------------------------------------------------
    def test_priority_self_dependency(self):
        c = self.conn()
        c.send(frame(PRIORITY, 0, 1, struct.pack(">IB", 1, 16)))
        self.expect_stream_error(c, 1, PROTOCOL_ERROR, "PRIORITY with stream 1 depending on itself")

    def test_headers_priority_self_dependency(self):
        c = self.conn()
        c.send(frame(HEADERS, END_HEADERS | END_STREAM | PRIO, 1, struct.pack(">IB", 1, 16) + c.block(request())))
        self.expect_stream_error(c, 1, PROTOCOL_ERROR, "HEADERS with stream 1 depending on itself")

    # ---- 6.4 RST_STREAM ------------------------------------------------------------------------------
    def test_rst_stream_on_stream_zero(self):
        c = self.conn()
        c.send(frame(RST_STREAM, 0, 0, struct.pack(">I", CANCEL)))
        self.expect_goaway(c, PROTOCOL_ERROR, "RST_STREAM on stream 0")

    # ---- 6.5 SETTINGS --------------------------------------------------------------------------------
    def test_settings_enable_push_2(self):
        c = self.conn()
        c.send(frame(SETTINGS, 0, 0, settings((ENABLE_PUSH, 2))))
        self.expect_goaway(c, PROTOCOL_ERROR, "SETTINGS_ENABLE_PUSH = 2")

    def test_settings_initial_window_size_too_large(self):
        c = self.conn()
        c.send(frame(SETTINGS, 0, 0, settings((INITIAL_WINDOW_SIZE, 2 ** 31))))
        self.expect_goaway(c, FLOW_CONTROL_ERROR, "SETTINGS_INITIAL_WINDOW_SIZE = 2^31")

    def test_settings_max_frame_size_too_small(self):
        c = self.conn()
        c.send(frame(SETTINGS, 0, 0, settings((MAX_FRAME_SIZE, 16383))))
        self.expect_goaway(c, PROTOCOL_ERROR, "SETTINGS_MAX_FRAME_SIZE = 16383")

    def test_settings_max_frame_size_too_large(self):
        c = self.conn()
        c.send(frame(SETTINGS, 0, 0, settings((MAX_FRAME_SIZE, 2 ** 24))))
        self.expect_goaway(c, PROTOCOL_ERROR, "SETTINGS_MAX_FRAME_SIZE = 2^24")

    def test_settings_ack_with_payload(self):
        c = self.conn()
        c.send(frame(SETTINGS, ACK, 0, settings((MAX_CONCURRENT_STREAMS, 10))))
        self.expect_goaway(c, FRAME_SIZE_ERROR, "SETTINGS ACK with a payload")

    def test_settings_on_a_stream(self):
        c = self.conn()
        c.send(frame(SETTINGS, 0, 1, settings((MAX_CONCURRENT_STREAMS, 10))))
        self.expect_goaway(c, PROTOCOL_ERROR, "SETTINGS on stream 1")

    def test_unknown_setting_is_ignored(self):
        c = self.conn()
        c.send(frame(SETTINGS, 0, 0, settings((0xff, 1))))
        f = c.wait(lambda f: f[0] == SETTINGS and f[1] & ACK or f[0] == GOAWAY)
        self.assertTrue(f is not None and f[0] == SETTINGS, f"unknown setting must be ACKed and ignored; "
                                                            f"{c.describe()}")
        c.headers(1, request())
        self.assertEqual(self.expect_response(c, 1, "after an unknown setting").get(":status"), "200")

    # ---- 6.7 PING ------------------------------------------------------------------------------------
    def test_ping_is_acknowledged_with_the_same_payload(self):
        c = self.conn()
        c.send(frame(PING, 0, 0, b"h2-ping!"))
        f = c.wait(lambda f: f[0] == PING)
        self.assertIsNotNone(f, c.describe())
        self.assertTrue(f[1] & ACK, c.describe())
        self.assertEqual(f[3], b"h2-ping!")

    def test_ping_ack_from_client_is_not_answered(self):
        c = self.conn()
        c.send(frame(PING, ACK, 0, b"unasked!"), frame(PING, 0, 0, b"asked!!!"))
        f = c.wait(lambda f: f[0] == PING)
        self.assertIsNotNone(f, c.describe())
        self.assertEqual(f[3], b"asked!!!", f"weft answered a PING ACK; {c.describe()}")

    def test_ping_on_a_stream(self):
        c = self.conn()
        c.send(frame(PING, 0, 1, b"12345678"))
        self.expect_goaway(c, PROTOCOL_ERROR, "PING on stream 1")

    # ---- 6.8 GOAWAY ----------------------------------------------------------------------------------
    def test_goaway_on_a_stream(self):
        c = self.conn()
        c.send(frame(GOAWAY, 0, 1, struct.pack(">II", 0, NO_ERROR)))
        self.expect_goaway(c, PROTOCOL_ERROR, "GOAWAY on stream 1")

    # ---- 6.9 WINDOW_UPDATE and flow control ----------------------------------------------------------
    def test_window_update_zero_on_connection(self):
        c = self.conn()
        c.send(frame(WINDOW_UPDATE, 0, 0, struct.pack(">I", 0)))
        self.expect_goaway(c, PROTOCOL_ERROR, "WINDOW_UPDATE of 0 on the connection")

    def test_window_update_zero_on_stream(self):
        c = self.conn()
        c.headers(1, request("/", authority=SLOW))
        c.send(frame(WINDOW_UPDATE, 0, 1, struct.pack(">I", 0)))
        self.expect_stream_error(c, 1, PROTOCOL_ERROR, "WINDOW_UPDATE of 0 on stream 1")

    def test_connection_window_overflow(self):
        c = self.conn()
        c.send(frame(WINDOW_UPDATE, 0, 0, struct.pack(">I", 2 ** 31 - 1)))
        self.expect_goaway(c, FLOW_CONTROL_ERROR, "connection window beyond 2^31-1")

    def test_stream_window_overflow(self):
        c = self.conn()
        c.headers(1, request("/", authority=SLOW))
        c.send(frame(WINDOW_UPDATE, 0, 1, struct.pack(">I", 2 ** 31 - 1)))
        self.expect_stream_error(c, 1, FLOW_CONTROL_ERROR, "stream window beyond 2^31-1")

    def test_initial_window_size_one_limits_data(self):
        c = self.conn(client_settings=settings((INITIAL_WINDOW_SIZE, 1)))
        c.headers(1, request("/hello"))
        self.expect_response(c, 1, "GET with a 1-octet window")
        f = c.wait(lambda f: f[0] == DATA and f[2] == 1)
        self.assertIsNotNone(f, c.describe())
        self.assertEqual(len(f[3]), 1, f"DATA beyond the 1-octet stream window; {c.describe()}")
        more = c.wait(lambda f: f[0] == DATA and f[2] == 1, timeout=0.5)
        self.assertIsNone(more, f"more DATA without a WINDOW_UPDATE; {c.describe()}")

    # ---- 8.1-8.3 HTTP semantics: malformed requests are stream errors ----------------------------------
    def malformed(self, headers, what, raw_block=None):
        c = self.conn()
        if raw_block is not None:
            c.send(frame(HEADERS, END_HEADERS | END_STREAM, 1, raw_block))
        else:
            c.headers(1, headers)
        self.expect_stream_error(c, 1, PROTOCOL_ERROR, what)
        if not c.closed:
            self.assert_still_usable(c, 3, what)

    def test_missing_method(self):
        self.malformed([(":scheme", "http"), (":path", "/"), (":authority", FAST)], "no :method")

    def test_missing_path(self):
        self.malformed([(":method", "GET"), (":scheme", "http"), (":authority", FAST)], "no :path")

    def test_missing_scheme(self):
        self.malformed([(":method", "GET"), (":path", "/"), (":authority", FAST)], "no :scheme")

    def test_empty_path(self):
        self.malformed([(":method", "GET"), (":scheme", "http"), (":path", ""), (":authority", FAST)], "empty :path")

    def test_duplicate_path(self):
        self.malformed(request("/a") + [(":path", "/b")], "two :path")

    def test_duplicate_method(self):
        self.malformed(request() + [(":method", "POST")], "two :method")

    def test_pseudo_header_after_regular_header(self):
        self.malformed([(":method", "GET"), (":scheme", "http"), ("x-regular", "1"), (":path", "/"),
                        (":authority", FAST)], ":path after a regular field")

    def test_unknown_pseudo_header(self):
        self.malformed(request(extra=[(":foo", "bar")]), "unknown pseudo-header :foo")

    def test_response_pseudo_header_in_request(self):
        self.malformed(request(extra=[(":status", "200")]), ":status in a request")

    def test_connection_specific_header(self):
        self.malformed(request(extra=[("connection", "keep-alive")]), "connection: keep-alive")

    def test_transfer_encoding_header(self):
        self.malformed(request(extra=[("transfer-encoding", "chunked")]), "transfer-encoding")

    def test_uppercase_header_name(self):
        self.malformed(request(extra=[("X-Upper", "1")]), "uppercase field name")

    def test_te_other_than_trailers(self):
        self.malformed(request(extra=[("te", "gzip")]), "te: gzip")

    def test_te_trailers_is_accepted(self):
        c = self.conn()
        c.headers(1, request(extra=[("te", "trailers")]))
        self.assertEqual(self.expect_response(c, 1, "te: trailers").get(":status"), "200")

    def test_pseudo_header_in_trailers(self):
        c = self.conn()
        c.headers(1, request("/upload", method="POST"), flags=END_HEADERS)
        c.send(frame(DATA, 0, 1, b"body"))
        c.headers(1, [(":path", "/x")])
        self.expect_stream_error(c, 1, PROTOCOL_ERROR, "pseudo-header in trailers")

    def test_content_length_mismatch(self):
        c = self.conn()
        c.headers(1, request("/upload", method="POST", extra=[("content-length", "10")]), flags=END_HEADERS)
        c.send(frame(DATA, END_STREAM, 1, b"short"))
        self.expect_stream_error(c, 1, PROTOCOL_ERROR, "content-length 10 with 5 octets of DATA")

    # ---- RFC 7541 HPACK ------------------------------------------------------------------------------
    def test_hpack_index_zero(self):
        c = self.conn()
        c.send(frame(HEADERS, END_HEADERS | END_STREAM, 1, b"\x80"))
        self.expect_goaway(c, COMPRESSION_ERROR, "HPACK indexed field 0")

    def test_hpack_index_beyond_tables(self):
        c = self.conn()
        # 61 static entries, empty dynamic table: index 70 does not exist.
        c.send(frame(HEADERS, END_HEADERS | END_STREAM, 1, b"\x82\x86\x84" + bytes([0x80 | 70])))
        self.expect_goaway(c, COMPRESSION_ERROR, "HPACK index 70 with an empty dynamic table")

    def test_hpack_table_size_update_beyond_settings(self):
        c = self.conn()
        limit = c.server_settings.get(HEADER_TABLE_SIZE, 4096)
        self.assertLess(limit, 8192)
        # 001xxxxx, 5-bit prefix: 8192 = 31 + 8161 -> 0x3f, 0xe1, 0x3f.
        c.send(frame(HEADERS, END_HEADERS | END_STREAM, 1, b"\x3f\xe1\x3f" + c.block(request())))
        self.expect_goaway(c, COMPRESSION_ERROR, f"dynamic table size update to 8192 > SETTINGS {limit}")

    def test_hpack_table_size_update_after_a_field(self):
        c = self.conn()
        c.send(frame(HEADERS, END_HEADERS | END_STREAM, 1, b"\x82\x20" + b"\x86\x84"))
        self.expect_goaway(c, COMPRESSION_ERROR, "dynamic table size update after the first field")

    def test_hpack_table_size_update_to_zero_is_accepted(self):
        c = self.conn()
        c.send(frame(HEADERS, END_HEADERS | END_STREAM, 1, b"\x20" + hpack.Encoder().encode(
            [(":method", "GET"), (":scheme", "http"), (":path", "/"), (":authority", FAST)], huffman=False)))
        self.assertEqual(self.expect_response(c, 1, "table size update to 0").get(":status"), "200")

    def test_hpack_huffman_eos_padding_is_rejected(self):
        c = self.conn()
        # A Huffman string literal that contains the EOS symbol (30 one-bits) is a decoding error (§5.2).
        bad = b"\x82\x86\x84" + b"\x01" + bytes([0x84]) + b"\xff\xff\xff\xff"
        c.send(frame(HEADERS, END_HEADERS | END_STREAM, 1, bad))
        self.expect_goaway(c, COMPRESSION_ERROR, "Huffman literal with EOS")


if __name__ == "__main__":
    main()
