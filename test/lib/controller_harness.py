"""Helpers for controller tests with watching sources: a real etcd-server on
loopback (own data dir, free ports), its v3 JSON gateway as a client, and a
`weft controller` started with any source config.

Standard library only; run with /usr/bin/python3 like the rest of the harness.
"""
import base64
import http.client
import json
import os
import time

from weft_harness import HarnessError, Metrics, free_port, wait_port, weft_bin
from discovery_harness import admin_get


def b64(s):
    return base64.b64encode(s.encode() if isinstance(s, str) else s).decode()


class Etcd:
    """etcd 3.4 (Debian etcd-server) on 127.0.0.1, single member, data in the test's folder."""

    def __init__(self, env, name="etcd", client_port=None, data_dir=None):
        self.env = env
        self.name = name
        self.client_port = client_port or free_port()
        self.peer_port = free_port()
        self.data_dir = data_dir or env.path(f"{name}-data")
        self.proc = None

    @property
    def url(self):
        return f"http://127.0.0.1:{self.client_port}"

    def start(self):
        c, p = self.client_port, self.peer_port
        self.proc = self.env.start(self.name, [
            "etcd", "--name", self.name, "--data-dir", self.data_dir,
            "--listen-client-urls", f"http://127.0.0.1:{c}", "--advertise-client-urls", f"http://127.0.0.1:{c}",
            "--listen-peer-urls", f"http://127.0.0.1:{p}", "--initial-advertise-peer-urls", f"http://127.0.0.1:{p}",
            "--initial-cluster", f"{self.name}=http://127.0.0.1:{p}", "--log-level", "warn"])
        wait_port(c, timeout=20, proc=self.proc)
        deadline = time.monotonic() + 20
        while True:  # the port opens before the member has elected itself
            try:
                if self.call("/v3/kv/range", {"key": b64("health-probe")}).get("header"):
                    return self
            except (OSError, HarnessError):
                pass
            if time.monotonic() > deadline:
                raise HarnessError("etcd did not become ready")
            time.sleep(0.1)

    def stop(self):
        self.proc.stop()

    def call(self, path, body, timeout=10):
        conn = http.client.HTTPConnection("127.0.0.1", self.client_port, timeout=timeout)
        try:
            conn.request("POST", path, json.dumps(body), {"Content-Type": "application/json"})
            r = conn.getresponse()
            data = r.read().decode()
        finally:
            conn.close()
        if r.status != 200:
            raise HarnessError(f"etcd {path}: HTTP {r.status}: {data}")
        return json.loads(data)

    def put(self, key, value, lease=None):
        body = {"key": b64(key), "value": b64(value if isinstance(value, str) else json.dumps(value))}
        if lease:
            body["lease"] = str(lease)
        return int(self.call("/v3/kv/put", body)["header"]["revision"])

    def delete(self, key):
        return int(self.call("/v3/kv/deleterange", {"key": b64(key)})["header"]["revision"])

    def grant(self, ttl):
        return int(self.call("/v3/lease/grant", {"TTL": str(ttl)})["ID"])

    def keepalive(self, lease):
        r = self.call("/v3/lease/keepalive", {"ID": str(lease)})
        return int(r["result"].get("TTL", 0))

    def txn_puts(self, kvs):
        ops = [{"request_put": {"key": b64(k), "value": b64(v)}} for k, v in kvs]
        return int(self.call("/v3/kv/txn", {"success": ops})["header"]["revision"])

    def compact(self, revision):
        self.call("/v3/kv/compaction", {"revision": str(revision), "physical": True})

    def revision(self):
        return int(self.call("/v3/kv/range", {"key": b64("revision-probe")})["header"]["revision"])


class WatchingController:
    """`weft controller` with the given source section (a YAML string under `source:`).

    With a watching source the xDS port opens only after the first complete
    read, so start() waits for the admin port only; wait_serving() for xDS.
    """

    def __init__(self, env, source_yaml, name="controller", log_level="debug"):
        self.env = env
        self.name = name
        self.xds_port = free_port()
        self.admin_port = free_port()
        self.config_path = env.path(f"{name}.yaml")
        with open(self.config_path, "w") as f:
            f.write(f"xds: 127.0.0.1:{self.xds_port}\nadmin: 127.0.0.1:{self.admin_port}\n"
                    f"log_level: {log_level}\nsource:\n{source_yaml}")
        self.proc = None

    @property
    def xds_addr(self):
        return f"127.0.0.1:{self.xds_port}"

    def start(self):
        self.proc = self.env.start(self.name, [weft_bin(), "controller", "--config", self.config_path])
        wait_port(self.admin_port, proc=self.proc)
        return self

    def wait_serving(self, timeout=10):
        wait_port(self.xds_port, timeout=timeout, proc=self.proc)
        return self

    def get(self, path):
        return admin_get(self.admin_port, path)

    def metrics(self):
        return Metrics(self.get("/metrics")[1])

    def served(self):
        """{cluster: {address: weight}} from GET /debug/endpoints."""
        status, body = self.get("/debug/endpoints")
        assert status == 200, (status, body)
        return {c["name"]: {e["address"]: e["weight"] for e in c["endpoints"]} for c in json.loads(body)["clusters"]}


class HoldingProxy:
    """A TCP forwarder on loopback that can hold back requests starting with a prefix.

    While `hold` is set, a connection whose first bytes start with
    `hold_prefix` (e.g. b"POST /v3/watch") is accepted but not forwarded
    until release() — a deterministic way to let something happen upstream
    between a client's two requests.
    """

    def __init__(self, upstream_port, hold_prefix):
        import socket
        import threading
        self.upstream_port = upstream_port
        self.hold_prefix = hold_prefix
        self.hold = threading.Event()
        self.released = threading.Event()
        self.held = threading.Event()  # a connection is being held now
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def release(self):
        self.hold.clear()
        self.released.set()

    def close(self):
        self.closed = True
        self.sock.close()

    def _accept(self):
        import threading
        while not self.closed:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _serve(self, c):
        import socket
        import threading
        try:
            first = c.recv(65536)
            if not first:
                c.close()
                return
            if self.hold.is_set() and first.startswith(self.hold_prefix):
                self.held.set()
                self.released.wait(60)
            u = socket.create_connection(("127.0.0.1", self.upstream_port), timeout=10)
            u.settimeout(None)
            u.sendall(first)
        except OSError:
            c.close()
            return

        def pump(a, b):
            try:
                while True:
                    d = a.recv(65536)
                    if not d:
                        break
                    b.sendall(d)
            except OSError:
                pass
            for s in (a, b):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

        t = threading.Thread(target=pump, args=(u, c), daemon=True)
        t.start()
        pump(c, u)
        t.join(10)
        c.close()
        u.close()


FAKE_KUBE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fake_kube_apiserver.py")


class FakeKube:
    """test/lib/fake_kube_apiserver.py as a process, plus its control API."""

    def __init__(self, env, name="kube", token="", cert=None, key=None):
        self.env = env
        self.port = free_port()
        self.tls = bool(cert)
        argv = ["/usr/bin/python3", FAKE_KUBE, "--port", str(self.port)]
        if token:
            argv += ["--token", token]
        if cert:
            argv += ["--cert", cert, "--key", key]
        self.proc = env.start(name, argv)
        wait_port(self.port, proc=self.proc)

    @property
    def url(self):
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    def _conn(self):
        if self.tls:
            import ssl
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            return http.client.HTTPSConnection("127.0.0.1", self.port, timeout=10, context=ctx)
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)

    def control(self, path, body=None, method="POST"):
        c = self._conn()
        try:
            c.request(method, "/control/" + path, json.dumps(body or {}) if method == "POST" else None,
                      {"Content-Type": "application/json"})
            r = c.getresponse()
            data = r.read().decode()
        finally:
            c.close()
        if r.status not in (200, 404):
            raise HarnessError(f"fake kube {path}: {r.status} {data}")
        return json.loads(data)

    def apply(self, obj):
        return int(self.control("apply", {"object": obj})["resourceVersion"])

    def delete(self, kind, ns, name):
        return self.control("delete", {"kind": kind, "namespace": ns, "name": name})

    def state(self):
        return self.control("state", method="GET")

    def wait_watches(self, n, timeout=10):
        deadline = time.monotonic() + timeout
        while self.state()["watches"] < n:
            if time.monotonic() > deadline:
                raise HarnessError(f"fewer than {n} watches open on the fake API server")
            time.sleep(0.05)


def kube_service(ns, name, ports, type_=None):
    """ports: [(name, port, appProtocol or None)]"""
    spec = {"ports": [dict({"name": n, "port": p, "protocol": "TCP", "targetPort": n or p},
                           **({"appProtocol": a} if a else {})) for n, p, a in ports]}
    if type_:
        spec["type"] = type_
    return {"kind": "Service", "apiVersion": "v1", "metadata": {"namespace": ns, "name": name}, "spec": spec}


def kube_slice(ns, name, service, ports, endpoints, address_type="IPv4"):
    """ports: [(name, port)]; endpoints: [(ip, ready, serving, terminating)] (None = condition absent)."""
    eps = []
    for ip, ready, serving, terminating in endpoints:
        cond = {k: v for k, v in (("ready", ready), ("serving", serving), ("terminating", terminating))
                if v is not None}
        eps.append({"addresses": [ip], "conditions": cond})
    return {"kind": "EndpointSlice", "apiVersion": "discovery.k8s.io/v1",
            "metadata": {"namespace": ns, "name": name, "labels": {"kubernetes.io/service-name": service}},
            "addressType": address_type, "ports": [{"name": n, "port": p, "protocol": "TCP"} for n, p in ports],
            "endpoints": eps}
