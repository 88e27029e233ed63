#!/usr/bin/python3
"""Many gRPC "instances" (pods) in one process, for the incident 001 replay.

    instances.py --control-port P

Every instance is its own h2c listener on 127.0.0.1 (port picked by the
kernel) answering every unary call with an EchoResponse{message: <instance
name>} and grpc-status 0, and recording each request's arrival (wall clock).
A control server on P (HTTP/1.1, one request per connection):

    POST /spawn?n=N&prefix=X   -> {"instances": [{"name", "port"}]}   N new instances
    POST /kill?ports=a,b,...   -> {"killed_at": t}                    kill them
    GET  /stats                -> {"instances": [{"name", "port", "count", "first", "last",
                                                  "killed_at", "late", "late_connections",
                                                  "accepted_at_kill"}]}

Killing an instance is what deleting a pod does to its traffic: its open
connections get GOAWAY and are closed, and from then on it serves nothing.
Its listener stays open for the rest of the run *only to witness*: any
connection or request that still reaches it is recorded (`late_connections`,
`late` = arrival times) and refused (RST_STREAM REFUSED_STREAM, then close).
A correct mesh never sends anything there once the removal is applied.

Standard library + python3-h2; run with /usr/bin/python3.
"""
import argparse
import asyncio
import json
import os
import resource
import socket
import sys
import time
import urllib.parse

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "lib"))
from peers import h2_conn, pb_echo_response  # noqa: E402

import h2.errors  # noqa: E402
import h2.exceptions  # noqa: E402
import h2.events  # noqa: E402


class Instance:
    def __init__(self, name):
        self.name = name
        self.port = None
        self.server = None
        self.listener = None  # the listening socket, ours, so that kill() can empty its backlog
        self.count = 0
        self.first = None
        self.last = None
        self.killed_at = None
        self.late = []
        self.late_connections = 0
        self.accepted_at_kill = 0  # connections made before the kill, still in the backlog at it
        self.transports = set()
        msg = pb_echo_response(name, 0)
        self.body = b"\x00" + len(msg).to_bytes(4, "big") + msg

    def stats(self):
        return {"name": self.name, "port": self.port, "count": self.count, "first": self.first, "last": self.last,
                "killed_at": self.killed_at, "late": self.late[:50], "late_count": len(self.late),
                "late_connections": self.late_connections, "accepted_at_kill": self.accepted_at_kill}


class H2Protocol(asyncio.Protocol):
    def __init__(self, inst):
        self.inst = inst
        self.conn = h2_conn()
        self.transport = None

    def connection_made(self, transport):
        self.transport = transport
        if self.inst.killed_at is not None:
            self.inst.late_connections += 1
        self.inst.transports.add(transport)
        transport.write(self.conn.data_to_send())

    def connection_lost(self, exc):
        self.inst.transports.discard(self.transport)

    def data_received(self, data):
        try:
            events = self.conn.receive_data(data)
        except Exception:  # noqa: BLE001 — a broken peer: drop the connection
            self.transport.abort()
            return
        for ev in events:
            if isinstance(ev, h2.events.RequestReceived):
                now = time.time()
                inst = self.inst
                if inst.killed_at is not None:
                    inst.late.append(now)
                    self.conn.reset_stream(ev.stream_id, h2.errors.ErrorCodes.REFUSED_STREAM)
                    continue
                inst.count += 1
                if inst.first is None:
                    inst.first = now
                inst.last = now
                sid = ev.stream_id
                try:
                    self.conn.send_headers(sid, [(b":status", b"200"), (b"content-type", b"application/grpc")])
                    self.conn.send_data(sid, inst.body)
                    self.conn.send_headers(sid, [(b"grpc-status", b"0")], end_stream=True)
                except h2.exceptions.StreamClosedError:
                    pass  # the client cancelled it (RST_STREAM in the same read): nothing to answer
            elif isinstance(ev, h2.events.DataReceived):
                self.conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
        out = self.conn.data_to_send()
        if out:
            self.transport.write(out)

    def goaway(self):
        try:
            self.conn.close_connection()
            self.transport.write(self.conn.data_to_send())
        except Exception:  # noqa: BLE001
            pass


class Control:
    def __init__(self):
        self.instances = {}  # port -> Instance
        self.serial = 0

    async def spawn(self, n, prefix):
        loop = asyncio.get_running_loop()
        out = []
        for _ in range(n):
            self.serial += 1
            inst = Instance(f"{prefix}{self.serial}")

            def factory(inst=inst):
                p = H2Protocol(inst)
                return p

            inst.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            inst.listener.bind(("127.0.0.1", 0))
            inst.listener.listen(512)
            inst.listener.setblocking(False)
            inst.server = await loop.create_server(factory, sock=inst.listener, backlog=512)  # it listens again
            inst.port = inst.listener.getsockname()[1]
            self.instances[inst.port] = inst
            out.append({"name": inst.name, "port": inst.port})
        return out

    async def kill(self, ports):
        loop = asyncio.get_running_loop()
        victims = [self.instances[p] for p in ports if p in self.instances and self.instances[p].killed_at is None]
        # A connection the kernel completed before the kill is an open
        # connection at the kill, even if this loop (busy on a loaded machine)
        # has not accepted it yet: take every such one from the backlog first,
        # so that it gets the kill's GOAWAY like the others and only a
        # connection made after the kill counts as late.
        for inst in victims:
            while True:
                try:
                    sock, _ = inst.listener.accept()
                except (BlockingIOError, InterruptedError):
                    break
                sock.setblocking(False)
                inst.accepted_at_kill += 1
                await loop.connect_accepted_socket(lambda inst=inst: H2Protocol(inst), sock)
        now = time.time()
        for inst in victims:
            inst.killed_at = now
            for t in list(inst.transports):
                proto = t.get_protocol()
                if isinstance(proto, H2Protocol):
                    proto.goaway()
        await asyncio.sleep(0.05)
        for port in ports:
            inst = self.instances.get(port)
            if inst is None:
                continue
            for t in list(inst.transports):
                t.close()
        return now

    async def handle_control(self, reader, writer):
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            line = head.split(b"\r\n", 1)[0].decode()
            method, target, _ = line.split(" ", 2)
            url = urllib.parse.urlsplit(target)
            q = dict(urllib.parse.parse_qsl(url.query))
            if url.path == "/spawn":
                body = {"instances": await self.spawn(int(q.get("n", "1")), q.get("prefix", "i"))}
            elif url.path == "/kill":
                ports = [int(p) for p in q.get("ports", "").split(",") if p]
                body = {"killed_at": await self.kill(ports)}
            elif url.path == "/stats":
                body = {"instances": [i.stats() for i in self.instances.values()]}
            else:
                body = {"error": "not found"}
            data = json.dumps(body).encode()
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n"
                         b"Content-Length: " + str(len(data)).encode() + b"\r\n\r\n" + data)
            await writer.drain()
        except asyncio.IncompleteReadError:
            pass  # a readiness probe connects and closes without a request
        except Exception as e:  # noqa: BLE001
            print(f"control error: {e!r}", flush=True)
        finally:
            writer.close()


async def main_async(port):
    ctl = Control()
    server = await asyncio.start_server(ctl.handle_control, "127.0.0.1", port)
    print(f"instances: control on {port}", flush=True)
    async with server:
        await server.serve_forever()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--control-port", type=int, required=True)
    args = ap.parse_args()
    # Every killed instance keeps its listener (a witness) for the whole run.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    asyncio.run(main_async(args.control_port))


if __name__ == "__main__":
    main()
