#!/usr/bin/python3
"""Small test peers, each run as its own process by weft_harness.Env.peer():

  peers.py h1-echo          --port P   HTTP/1.1 keep-alive server answering every request with JSON
                                       describing it (method, target, headers in order, body length and sha256,
                                       whether the body was chunked); logs one line per request.
  peers.py ws-echo          --port P   WebSocket (RFC 6455) echo server: answers the upgrade, echoes frames.
  peers.py tcp-echo         --port P   echoes raw TCP bytes.
  peers.py sink             --port P   accepts and reads forever, never answers (for timeouts).
  peers.py h2-echo-headers  --port P [--header-table-size N]
                                       h2c (prior knowledge) server answering every stream with its request
                                       headers (non-pseudo, in order, repeats kept) as response headers.
  peers.py grpc-drop        --port P [--messages N] [--interval-ms MS] [--mode fin|rst|goaway]
                                       h2c server that starts a gRPC server-streaming response (valid
                                       EchoResponse messages), sends N messages, then drops the connection
                                       WITHOUT trailers (the grpc-js / Netty behaviour of incident 005).
  peers.py h1-delay         --port P [--delay-ms MS] [--fail-rate F] [--fail-status S] [--name N]
                                       HTTP/1.1 keep-alive server for balancing/retry tests: every request
                                       waits MS ms, then answers 200 (or S, default 503, with probability F;
                                       F=1 always fails) with `X-Backend: N` (default: the port). It records
                                       each request's arrival (time.time()) in memory, and answers
                                       GET /__peer/stats (not counted) with {"name", "count", "by_status",
                                       "arrivals"?} (arrivals only with ?arrivals=1); GET /__peer/set?delay_ms=D
                                       &fail_rate=F changes both at run time. Logs nothing per request.
  peers.py grpc-flaky       --port P [--fail-rate F] [--name N]
                                       h2c gRPC server answering every unary call with one EchoResponse
                                       {message: N} and grpc-status 0, or (with probability F) a trailers-only
                                       grpc-status 14 UNAVAILABLE. Counts calls; an h2 GET /__peer/stats (not
                                       counted) answers {"name", "count", "by_status"}.

Standard library + python3-h2 only; run with /usr/bin/python3.
"""
import argparse
import base64
import hashlib
import http.server
import json
import socket
import socketserver
import struct
import sys
import threading
import time


def log(*a):
    print(*a, flush=True)


# --------------------------------------------------------------------------- h1-echo

class EchoHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def _read_body(self):
        te = self.headers.get("Transfer-Encoding", "")
        if "chunked" in te.lower():
            body = b""
            while True:
                line = self.rfile.readline(65537)
                size = int(line.split(b";")[0].strip(), 16)
                if size == 0:
                    # trailers until the empty line
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass
                    return body, True
                body += self.rfile.read(size)
                self.rfile.readline(3)
        n = int(self.headers.get("Content-Length") or 0)
        return (self.rfile.read(n) if n else b""), False

    def _handle(self):
        body, chunked = self._read_body()
        info = {
            "method": self.command,
            "target": self.path,
            "version": self.request_version,
            "headers": [[k, v] for k, v in self.headers.items()],
            "body_len": len(body),
            "body_sha256": hashlib.sha256(body).hexdigest(),
            "chunked": chunked,
        }
        log(f"REQ {self.command} {self.path} len={len(body)} chunked={chunked}")
        out = json.dumps(info).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.send_header("X-Echo-Server", "h1-echo")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(out)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _handle


class ThreadingHTTPServer(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def run_h1_echo(args):
    srv = ThreadingHTTPServer(("127.0.0.1", args.port), EchoHandler)
    log(f"h1-echo listening on {args.port}")
    srv.serve_forever()


# --------------------------------------------------------------------------- h1-delay

class DelayServer(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 1024  # weft may open many connections at once; the default backlog of 5 drops SYNs


def run_h1_delay(args):
    import random
    name = args.name or str(args.port)
    lock = threading.Lock()
    arrivals = []
    by_status = {}
    knobs = {"delay": args.delay_ms / 1000.0, "fail_rate": args.fail_rate}
    rng = random.Random()

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt, *a):
            pass

        def _handle(self):
            now = time.time()
            n = int(self.headers.get("Content-Length") or 0)
            if n:
                self.rfile.read(n)
            if self.path.startswith("/__peer/set?"):
                # Control, not counted: /__peer/set?delay_ms=50&fail_rate=0.1
                for kv in self.path.split("?", 1)[1].split("&"):
                    k, _, v = kv.partition("=")
                    if k == "delay_ms":
                        knobs["delay"] = float(v) / 1000.0
                    elif k == "fail_rate":
                        knobs["fail_rate"] = float(v)
                log(f"h1-delay {name}: delay={knobs['delay'] * 1000:.1f}ms fail_rate={knobs['fail_rate']}")
                out = json.dumps({"name": name, "delay_ms": knobs["delay"] * 1000,
                                  "fail_rate": knobs["fail_rate"]}).encode()
                status = 200
            elif self.path.startswith("/__peer/stats"):
                with lock:
                    info = {"name": name, "count": len(arrivals), "by_status": dict(by_status)}
                    if "arrivals=1" in self.path:
                        info["arrivals"] = list(arrivals)
                out = json.dumps(info).encode()
                status = 200
            else:
                rate = knobs["fail_rate"]
                fail = rate >= 1.0 or (rate > 0 and rng.random() < rate)
                delay = knobs["delay"]
                status = args.fail_status if fail else 200
                with lock:
                    arrivals.append(now)
                    by_status[status] = by_status.get(status, 0) + 1
                if delay > 0:
                    time.sleep(delay)
                out = f"{name} {status}\n".encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json" if self.path.startswith("/__peer") else "text/plain")
            self.send_header("Content-Length", str(len(out)))
            self.send_header("X-Backend", name)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(out)

        do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _handle

    srv = DelayServer(("127.0.0.1", args.port), Handler)
    log(f"h1-delay {name} listening on {args.port} delay={args.delay_ms}ms fail_rate={args.fail_rate} "
        f"fail_status={args.fail_status}")
    srv.serve_forever()


# --------------------------------------------------------------------------- generic threaded TCP

def serve(port, handler):
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", port))
    ls.listen(256)
    log(f"listening on {port}")
    while True:
        s, peer = ls.accept()
        threading.Thread(target=_guard, args=(handler, s, peer), daemon=True).start()


def _guard(handler, s, peer):
    try:
        handler(s, peer)
    except Exception as e:  # a peer's problem must not kill the server
        log(f"connection {peer}: {type(e).__name__}: {e}")
    finally:
        try:
            s.close()
        except OSError:
            pass


def tcp_echo(s, peer):
    log(f"tcp-echo connection from {peer}")
    while True:
        d = s.recv(65536)
        if not d:
            return
        s.sendall(d)


def sink(s, peer):
    log(f"sink connection from {peer}")
    while s.recv(65536):
        pass


def read_exact(f, n):
    d = f.read(n)
    if len(d) < n:
        raise EOFError
    return d


def ws_echo(s, peer):
    f = s.makefile("rb")
    head = b""
    while b"\r\n\r\n" not in head:
        line = f.readline(65537)
        if not line:
            return
        head += line
    lines = head.decode("latin-1").split("\r\n")
    hdrs = {}
    for l in lines[1:]:
        if ":" in l:
            k, _, v = l.partition(":")
            hdrs[k.strip().lower()] = v.strip()
    key = hdrs.get("sec-websocket-key")
    if "websocket" not in hdrs.get("upgrade", "").lower() or not key:
        s.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        return
    accept = base64.b64encode(hashlib.sha1((key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest())
    s.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
              b"Sec-WebSocket-Accept: " + accept + b"\r\n\r\n")
    log(f"ws-echo upgraded {peer} path={lines[0]}")
    while True:
        b = f.read(2)
        if len(b) < 2:
            return
        opcode = b[0] & 0x0F
        n = b[1] & 0x7F
        if n == 126:
            n = struct.unpack(">H", read_exact(f, 2))[0]
        elif n == 127:
            n = struct.unpack(">Q", read_exact(f, 8))[0]
        key = read_exact(f, 4) if b[1] & 0x80 else b"\0\0\0\0"
        payload = bytes(c ^ key[i % 4] for i, c in enumerate(read_exact(f, n)))
        if opcode == 0x9:
            opcode = 0xA
        hdr = bytes([0x80 | opcode])
        if len(payload) < 126:
            hdr += bytes([len(payload)])
        elif len(payload) < 65536:
            hdr += bytes([126]) + struct.pack(">H", len(payload))
        else:
            hdr += bytes([127]) + struct.pack(">Q", len(payload))
        s.sendall(hdr + payload)
        if opcode == 0x8:
            return


# --------------------------------------------------------------------------- h2 servers

def h2_conn(header_table_size=None):
    import h2.config
    import h2.connection
    import h2.settings
    cfg = h2.config.H2Configuration(client_side=False, header_encoding=None, validate_inbound_headers=False,
                                    normalize_inbound_headers=False, validate_outbound_headers=False,
                                    normalize_outbound_headers=False)
    c = h2.connection.H2Connection(config=cfg)
    c.initiate_connection()
    settings = {h2.settings.SettingCodes.MAX_HEADER_LIST_SIZE: 1 << 20}
    if header_table_size is not None:
        settings[h2.settings.SettingCodes.HEADER_TABLE_SIZE] = header_table_size
    c.update_settings(settings)
    # The decoder also enforces a header list limit of its own.
    c.decoder.max_header_list_size = 1 << 20
    return c


def h2_echo_headers(args):
    import h2.events

    def handle(s, peer):
        c = h2_conn(args.header_table_size)
        s.sendall(c.data_to_send())
        reqs = {}
        while True:
            data = s.recv(65536)
            if not data:
                return
            for ev in c.receive_data(data):
                if isinstance(ev, h2.events.RequestReceived):
                    reqs[ev.stream_id] = ev.headers
                    if ev.stream_ended:
                        respond(c, ev.stream_id, reqs.pop(ev.stream_id))
                elif isinstance(ev, h2.events.DataReceived):
                    c.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
                elif isinstance(ev, h2.events.StreamEnded):
                    if ev.stream_id in reqs:
                        respond(c, ev.stream_id, reqs.pop(ev.stream_id))
            s.sendall(c.data_to_send())

    def respond(c, sid, headers):
        echoed = [(k, v) for k, v in headers if not k.startswith(b":") and k.lower() != b"te"]
        log(f"h2-echo-headers stream {sid}: {len(echoed)} headers, {sum(len(k) + len(v) for k, v in echoed)} bytes")
        body = b"echoed %d headers\n" % len(echoed)
        c.send_headers(sid, [(b":status", b"200"), (b"content-type", b"text/plain"),
                             (b"content-length", str(len(body)).encode())] + echoed)
        c.send_data(sid, body, end_stream=True)

    serve(args.port, handle)


def pb_echo_response(message: str, index: int) -> bytes:
    """An EchoResponse{message, index} encoded by hand (field 1 string, field 3 varint)."""
    m = message.encode()
    assert len(m) < 128
    out = b"\x0a" + bytes([len(m)]) + m
    v = index
    enc = b""
    while True:
        b = v & 0x7F
        v >>= 7
        enc += bytes([b | (0x80 if v else 0)])
        if not v:
            break
    return out + b"\x18" + enc


def grpc_drop(args):
    import h2.events

    def handle(s, peer):
        c = h2_conn()
        s.sendall(c.data_to_send())
        while True:
            data = s.recv(65536)
            if not data:
                return
            started = None
            for ev in c.receive_data(data):
                if isinstance(ev, h2.events.DataReceived):
                    c.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
                if isinstance(ev, h2.events.StreamEnded):
                    started = ev.stream_id
            s.sendall(c.data_to_send())
            if started is None:
                continue
            sid = started
            c.send_headers(sid, [(b":status", b"200"), (b"content-type", b"application/grpc")])
            s.sendall(c.data_to_send())
            for i in range(args.messages):
                msg = pb_echo_response(f"msg-{i}", i)
                c.send_data(sid, b"\x00" + len(msg).to_bytes(4, "big") + msg)
                s.sendall(c.data_to_send())
                time.sleep(args.interval_ms / 1000.0)
            log(f"grpc-drop: stream {sid} sent {args.messages} messages, dropping connection ({args.mode})")
            if args.mode == "goaway":
                c.close_connection(last_stream_id=sid)
                s.sendall(c.data_to_send())
            if args.mode == "rst":
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            else:
                s.shutdown(socket.SHUT_RDWR)
            return

    serve(args.port, handle)


def grpc_flaky(args):
    import random
    import h2.events
    name = args.name or str(args.port)
    lock = threading.Lock()
    stats = {"count": 0, "by_status": {}}
    rng = random.Random()

    def answer(c, sid, path):
        if path.startswith(b"/__peer/stats"):
            with lock:
                body = json.dumps({"name": name, "count": stats["count"],
                                   "by_status": dict(stats["by_status"])}).encode()
            c.send_headers(sid, [(b":status", b"200"), (b"content-type", b"application/json"),
                                 (b"content-length", str(len(body)).encode())])
            c.send_data(sid, body, end_stream=True)
            return
        fail = args.fail_rate >= 1.0 or (args.fail_rate > 0 and rng.random() < args.fail_rate)
        code = 14 if fail else 0
        with lock:
            stats["count"] += 1
            stats["by_status"][code] = stats["by_status"].get(code, 0) + 1
        if fail:
            c.send_headers(sid, [(b":status", b"200"), (b"content-type", b"application/grpc"), (b"grpc-status", b"14"),
                                 (b"grpc-message", b"flaky")], end_stream=True)
            return
        msg = pb_echo_response(name, 0)
        c.send_headers(sid, [(b":status", b"200"), (b"content-type", b"application/grpc")])
        c.send_data(sid, b"\x00" + len(msg).to_bytes(4, "big") + msg)
        c.send_headers(sid, [(b"grpc-status", b"0")], end_stream=True)

    def handle(s, peer):
        c = h2_conn()
        s.sendall(c.data_to_send())
        paths = {}
        while True:
            data = s.recv(65536)
            if not data:
                return
            for ev in c.receive_data(data):
                if isinstance(ev, h2.events.RequestReceived):
                    paths[ev.stream_id] = dict(ev.headers).get(b":path", b"/")
                    if ev.stream_ended:
                        answer(c, ev.stream_id, paths.pop(ev.stream_id))
                elif isinstance(ev, h2.events.DataReceived):
                    c.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
                elif isinstance(ev, h2.events.StreamEnded) and ev.stream_id in paths:
                    answer(c, ev.stream_id, paths.pop(ev.stream_id))
            s.sendall(c.data_to_send())

    log(f"grpc-flaky {name} fail_rate={args.fail_rate}")
    serve(args.port, handle)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("kind", choices=["h1-echo", "ws-echo", "tcp-echo", "sink", "h2-echo-headers", "grpc-drop",
                                         "h1-delay", "grpc-flaky"])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--header-table-size", type=int, default=None)
    ap.add_argument("--messages", type=int, default=3)
    ap.add_argument("--interval-ms", type=int, default=50)
    ap.add_argument("--mode", choices=["fin", "rst", "goaway"], default="fin")
    ap.add_argument("--delay-ms", type=float, default=0.0)
    ap.add_argument("--fail-rate", type=float, default=0.0)
    ap.add_argument("--fail-status", type=int, default=503)
    ap.add_argument("--name", default=None)
    args = ap.parse_args()
    if args.kind == "h1-echo":
        run_h1_echo(args)
    elif args.kind == "ws-echo":
        serve(args.port, ws_echo)
    elif args.kind == "tcp-echo":
        serve(args.port, tcp_echo)
    elif args.kind == "sink":
        serve(args.port, sink)
    elif args.kind == "h2-echo-headers":
        h2_echo_headers(args)
    elif args.kind == "grpc-drop":
        grpc_drop(args)
    elif args.kind == "h1-delay":
        run_h1_delay(args)
    elif args.kind == "grpc-flaky":
        grpc_flaky(args)


if __name__ == "__main__":
    sys.exit(main())
