#!/usr/bin/python3
"""A fake Kubernetes API server for the controller's Kubernetes source.

Standard library only. Serves Services (core/v1) and EndpointSlices
(discovery.k8s.io/v1), cluster-wide and per namespace, with the list + watch
semantics a client relies on:

- one cluster-wide resourceVersion counter, incremented by every write;
  each object carries the resourceVersion of its last write;
- list: `metadata.resourceVersion` of the list, `limit` + `continue` paging
  (a consistent snapshot at the first page's version; a continue token
  older than the compaction point answers 410 Expired);
- watch (`?watch=1`): newline-delimited JSON events (ADDED, MODIFIED,
  DELETED, BOOKMARK, ERROR) in a chunked response, starting after the given
  resourceVersion; no resourceVersion (or "0") starts with synthetic ADDED
  events for every current object; `allowWatchBookmarks=true` sends
  BOOKMARK events (only metadata.resourceVersion) every `bookmark_interval`
  seconds; `timeoutSeconds` ends the watch cleanly;
- a compaction window: events at or below the compaction point are gone; a
  watch from such a resourceVersion answers 410 Gone, either as an ERROR
  event with a Status object of code 410 in a 200 response (what current
  API servers do) or as an HTTP 410 response (`gone_as_http`);
- bearer-token authentication (401 otherwise) and https (--cert/--key).

Control API for tests (not Kubernetes), JSON bodies:
  POST /control/apply    {"object": {...}}           create or update (kind from the object)
  POST /control/delete   {"kind", "namespace", "name"}
  POST /control/compact  {}                          compact at the current resourceVersion
  POST /control/config   {"gone_as_http": bool, "bookmark_interval": seconds, "window": events,
                          "hold_watches": bool}   (held watch requests wait until released)
  POST /control/drop     {}                          cut every open watch (connection loss)
  GET  /control/state    -> {"resourceVersion", "watches", "requests": [paths...]}

Usage: fake_kube_apiserver.py --port P [--token T] [--cert C --key K] [--port-file F]
"""
import argparse
import copy
import json
import socket
import ssl
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

KINDS = {
    # path segment -> (kind, apiVersion, list kind, api prefix)
    "services": ("Service", "v1", "ServiceList", "/api/v1"),
    "endpointslices": ("EndpointSlice", "discovery.k8s.io/v1", "EndpointSliceList", "/apis/discovery.k8s.io/v1"),
}
KIND_TO_RESOURCE = {"Service": "services", "EndpointSlice": "endpointslices"}


class Store:
    def __init__(self):
        self.lock = threading.Condition()
        self.rv = 100  # real servers start anywhere; clients must treat it as opaque
        self.objects = {"services": {}, "endpointslices": {}}  # (ns, name) -> object
        self.events = []  # (rv, resource, type, object)
        self.compacted = 0  # events with rv <= compacted are gone
        self.window = 10_000
        self.gone_as_http = False
        self.bookmark_interval = 1.0
        self.watches = 0
        self.hold_watches = False
        self.held = 0
        self.drop_generation = 0
        self.requests = []

    def _record(self, resource, type_, obj):
        self.events.append((self.rv, resource, type_, obj))
        if len(self.events) > self.window:
            drop = len(self.events) - self.window
            self.compacted = self.events[drop - 1][0]
            del self.events[:drop]
        self.lock.notify_all()

    def apply(self, obj):
        resource = KIND_TO_RESOURCE[obj["kind"]]
        meta = obj.setdefault("metadata", {})
        key = (meta.get("namespace", "default"), meta["name"])
        meta["namespace"] = key[0]
        with self.lock:
            self.rv += 1
            meta["resourceVersion"] = str(self.rv)
            type_ = "MODIFIED" if key in self.objects[resource] else "ADDED"
            self.objects[resource][key] = copy.deepcopy(obj)
            self._record(resource, type_, copy.deepcopy(obj))
            return self.rv

    def delete(self, kind, ns, name):
        resource = KIND_TO_RESOURCE[kind]
        with self.lock:
            obj = self.objects[resource].pop((ns, name), None)
            if obj is None:
                return None
            self.rv += 1
            obj["metadata"]["resourceVersion"] = str(self.rv)
            self._record(resource, "DELETED", obj)
            return self.rv

    def compact(self):
        with self.lock:
            self.compacted = self.rv
            self.events = []
            return self.rv


def status_body(code, reason, message):
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": message,
            "reason": reason, "code": code}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fake-kube-apiserver"

    def log_message(self, fmt, *args):
        sys.stderr.write("%s %s\n" % (time.strftime("%H:%M:%S"), fmt % args))

    @property
    def store(self):
        return self.server.store

    def send_json(self, code, body):
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def read_json(self):
        n = int(self.headers.get("Content-Length") or 0)
        return json.loads(self.rfile.read(n) or b"{}")

    # ------------------------------------------------------------------ control
    def do_POST(self):
        path = urllib.parse.urlsplit(self.path).path
        body = self.read_json()
        s = self.store
        if path == "/control/apply":
            return self.send_json(200, {"resourceVersion": str(s.apply(body["object"]))})
        if path == "/control/delete":
            rv = s.delete(body["kind"], body.get("namespace", "default"), body["name"])
            return self.send_json(200 if rv else 404, {"resourceVersion": str(rv or "")})
        if path == "/control/compact":
            return self.send_json(200, {"resourceVersion": str(s.compact())})
        if path == "/control/config":
            with s.lock:
                if "gone_as_http" in body:
                    s.gone_as_http = bool(body["gone_as_http"])
                if "bookmark_interval" in body:
                    s.bookmark_interval = float(body["bookmark_interval"])
                if "window" in body:
                    s.window = int(body["window"])
                if "hold_watches" in body:
                    s.hold_watches = bool(body["hold_watches"])
                    s.lock.notify_all()
            return self.send_json(200, {})
        if path == "/control/drop":
            with s.lock:
                s.drop_generation += 1
                s.lock.notify_all()
            return self.send_json(200, {})
        self.send_json(404, status_body(404, "NotFound", "no such control path"))

    # ------------------------------------------------------------------ API
    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        q = dict(urllib.parse.parse_qsl(url.query))
        s = self.store
        if url.path == "/control/state":
            with s.lock:
                return self.send_json(200, {"resourceVersion": str(s.rv), "watches": s.watches, "held": s.held,
                                            "requests": list(s.requests)})
        with s.lock:
            s.requests.append(self.path)
        token = self.server.token
        if token and self.headers.get("Authorization") != f"Bearer {token}":
            return self.send_json(401, status_body(401, "Unauthorized", "Unauthorized"))
        route = self.route(url.path)
        if not route:
            return self.send_json(404, status_body(404, "NotFound", f"the server could not find {url.path}"))
        resource, ns = route
        if q.get("watch") in ("1", "true"):
            return self.watch(resource, ns, q)
        return self.list(resource, ns, q)

    def route(self, path):
        for resource, (_, _, _, prefix) in KINDS.items():
            if path == f"{prefix}/{resource}":
                return resource, None
            head = f"{prefix}/namespaces/"
            if path.startswith(head) and path.endswith(f"/{resource}"):
                ns = path[len(head):-len(resource) - 1]
                if ns and "/" not in ns:
                    return resource, ns
        return None

    def list(self, resource, ns, q):
        s = self.store
        kind, api_version, list_kind, _ = KINDS[resource]
        limit = int(q.get("limit") or 0)
        with s.lock:
            if q.get("continue"):
                try:
                    snap_rv, offset = (int(x) for x in q["continue"].split(":"))
                except ValueError:
                    return self.send_json(400, status_body(400, "BadRequest", "invalid continue token"))
                if snap_rv <= s.compacted:
                    return self.send_json(410, status_body(
                        410, "Expired", "The provided continue parameter is too old to display a consistent list "
                                        "result. You can start a new list without the continue parameter."))
                items = self.items_at(resource, ns, snap_rv)
            else:
                snap_rv, offset = s.rv, 0
                items = sorted((o for (n, _), o in s.objects[resource].items() if ns is None or n == ns),
                               key=lambda o: (o["metadata"]["namespace"], o["metadata"]["name"]))
            page = items[offset:offset + limit] if limit else items[offset:]
            meta = {"resourceVersion": str(snap_rv)}
            if limit and offset + limit < len(items):
                meta["continue"] = f"{snap_rv}:{offset + limit}"
        self.send_json(200, {"kind": list_kind, "apiVersion": api_version, "metadata": meta,
                             "items": [copy.deepcopy(o) for o in page]})

    def items_at(self, resource, ns, rv):
        """The objects as they were at `rv`: today's objects with the later events undone."""
        s = self.store
        objs = {k: o for k, o in s.objects[resource].items()}
        for ev_rv, ev_res, type_, obj in reversed(s.events):
            if ev_rv <= rv:
                break
            if ev_res != resource:
                continue
            key = (obj["metadata"]["namespace"], obj["metadata"]["name"])
            prev = None
            for e2_rv, e2_res, t2, o2 in reversed(s.events):
                if e2_rv < ev_rv and e2_res == resource and \
                        (o2["metadata"]["namespace"], o2["metadata"]["name"]) == key:
                    prev = None if t2 == "DELETED" else o2
                    break
            if prev is None:
                objs.pop(key, None)
            else:
                objs[key] = prev
        return sorted((o for (n, _), o in objs.items() if ns is None or n == ns),
                      key=lambda o: (o["metadata"]["namespace"], o["metadata"]["name"]))

    def write_chunk(self, obj):
        data = (json.dumps(obj) + "\n").encode()
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def watch(self, resource, ns, q):
        s = self.store
        kind, api_version, _, _ = KINDS[resource]
        rv_text = q.get("resourceVersion", "")
        timeout = float(q.get("timeoutSeconds") or 1800)
        bookmarks = q.get("allowWatchBookmarks") in ("true", "1")
        with s.lock:
            if s.hold_watches:  # tests: let something happen before this watch starts
                s.held += 1
                while s.hold_watches:
                    s.lock.wait()
                s.held -= 1
            initial = []
            if rv_text in ("", "0"):
                start = s.rv
                initial = [o for (n, _), o in sorted(s.objects[resource].items()) if ns is None or n == ns]
            else:
                try:
                    start = int(rv_text)
                except ValueError:
                    return self.send_json(400, status_body(400, "BadRequest", "invalid resourceVersion"))
                if start < s.compacted:
                    msg = f"too old resource version: {start} ({s.compacted + 1})"
                    if s.gone_as_http:
                        return self.send_json(410, status_body(410, "Gone", msg))
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Transfer-Encoding", "chunked")
                    self.end_headers()
                    self.write_chunk({"type": "ERROR", "object": status_body(410, "Expired", msg)})
                    self.wfile.write(b"0\r\n\r\n")
                    return
            s.watches += 1
            drop_gen = s.drop_generation
        try:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for o in initial:
                self.write_chunk({"type": "ADDED", "object": copy.deepcopy(o)})
            sent = start
            end = time.monotonic() + timeout
            next_bookmark = time.monotonic() + s.bookmark_interval
            while True:
                with s.lock:
                    while True:
                        if s.drop_generation != drop_gen:
                            # Connection loss: no final chunk, just gone.
                            self.connection.shutdown(socket.SHUT_RDWR)
                            return
                        if sent < s.compacted:
                            break  # events this watcher has not seen are gone
                        pending = [e for e in s.events if e[0] > sent and e[1] == resource]
                        now = time.monotonic()
                        if pending or now >= end or (bookmarks and now >= next_bookmark):
                            break
                        s.lock.wait(min(end, next_bookmark if bookmarks else end) - now)
                    gone = sent < s.compacted
                    compacted = s.compacted
                    current = s.rv  # every event up to here has been looked at
                if gone:
                    self.write_chunk({"type": "ERROR", "object": status_body(
                        410, "Expired", f"too old resource version: {sent} ({compacted + 1})")})
                    self.wfile.write(b"0\r\n\r\n")
                    self.wfile.flush()
                    return
                for ev_rv, _, type_, obj in pending:
                    if ns is None or obj["metadata"]["namespace"] == ns:
                        self.write_chunk({"type": type_, "object": obj})
                sent = current
                if time.monotonic() >= end:
                    self.wfile.write(b"0\r\n\r\n")
                    self.wfile.flush()
                    return
                if bookmarks and time.monotonic() >= next_bookmark:
                    self.write_chunk({"type": "BOOKMARK", "object": {
                        "kind": kind, "apiVersion": api_version, "metadata": {"resourceVersion": str(sent)}}})
                    next_bookmark = time.monotonic() + s.bookmark_interval
        except (BrokenPipeError, ConnectionResetError, OSError):
            return
        finally:
            with s.lock:
                s.watches -= 1
            self.close_connection = True


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--token", default="")
    ap.add_argument("--cert")
    ap.add_argument("--key")
    ap.add_argument("--port-file")
    args = ap.parse_args()
    srv = Server(("127.0.0.1", args.port), Handler)
    srv.store = Store()
    srv.token = args.token
    if args.cert:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(args.cert, args.key)
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    if args.port_file:
        with open(args.port_file, "w") as f:
            f.write(str(srv.server_address[1]))
    srv.serve_forever()


if __name__ == "__main__":
    main()
