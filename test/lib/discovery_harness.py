"""Harness for the discovery tests: a real `weft controller` (file source) and
`weft proxy` processes driven by it (test/integration/test_discovery*.py,
test/incidents/001-stale-endpoints-canary/).

    ctl = Controller(env, services_yaml)           # xDS + admin on free ports, services.yaml watched
    p = discovery_proxy(env, ctl, "p1", workers=2)  # proxy.yaml with `controller:` set
    ctl.write_services(new_yaml)                    # atomic replace; the controller polls every 200 ms
    wait_applied(p, "api.test:80", version=ctl.version("api.test:80"))

Standard library only; run with /usr/bin/python3.
"""
import http.client
import json
import os
import signal
import time

from weft_harness import HarnessError, WeftProxy, free_port, h1_request, wait_port, weft_bin, Metrics


def admin_get(port, path, timeout=5):
    """(status, body text) of GET `path` on a loopback admin port; one connection per call."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        c.request("GET", path)
        r = c.getresponse()
        return r.status, r.read().decode()
    finally:
        c.close()


class Controller:
    """`weft controller` with a file source. restart() keeps the ports (proxies reconnect to the same address)."""

    def __init__(self, env, services_yaml, name="controller", log_level="info", extra_config=""):
        self.env = env
        self.name = name
        self.xds_port = free_port()
        self.admin_port = free_port()
        self.services_path = env.path(f"{name}-services.yaml")
        self.write_services(services_yaml)
        self.config_path = env.path(f"{name}.yaml")
        with open(self.config_path, "w") as f:
            f.write(f"xds: 127.0.0.1:{self.xds_port}\nadmin: 127.0.0.1:{self.admin_port}\n"
                    f"log_level: {log_level}\n{extra_config}source:\n  file: {os.path.basename(self.services_path)}\n")
        self.starts = 0
        self.proc = None
        self.start()

    @property
    def xds_addr(self):
        return f"127.0.0.1:{self.xds_port}"

    def start(self):
        self.starts += 1
        self.proc = self.env.start(f"{self.name}-{self.starts}", [weft_bin(), "controller", "--config", self.config_path])
        wait_port(self.xds_port, proc=self.proc)
        wait_port(self.admin_port, proc=self.proc)
        return self

    def stop(self):
        """SIGKILL: the controller vanishes without closing streams politely (a crash or a node loss)."""
        self.proc.signal(signal.SIGKILL)
        self.proc.wait(5)
        self.proc.stop()

    def restart(self):
        self.stop()
        return self.start()

    def write_services(self, text):
        tmp = self.services_path + ".tmp"
        with open(tmp, "w") as f:
            f.write(text)
        os.replace(tmp, self.services_path)  # atomic: the poller never sees half a file

    def get(self, path, timeout=5):
        return admin_get(self.admin_port, path, timeout)

    def metrics(self):
        return Metrics(self.get("/metrics")[1])

    def served(self):
        """{cluster: {"version":..., "endpoints": {address: weight}}} from GET /debug/endpoints."""
        status, body = self.get("/debug/endpoints")
        if status != 200:
            raise HarnessError(f"controller /debug/endpoints answered {status}: {body[:200]}")
        return {c["name"]: {"version": c["version"], "endpoints": {e["address"]: e["weight"] for e in c["endpoints"]}}
                for c in json.loads(body)["clusters"]}

    def wait_version_change(self, cluster, old, timeout=5.0):
        """Waits until the controller serves `cluster` at a version other than `old`; returns (version, endpoints)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            s = self.served().get(cluster)
            if s and s["version"] != old:
                return s["version"], s["endpoints"]
            time.sleep(0.01)
        raise HarnessError(f"controller still serves {cluster} at {old} after {timeout}s")


def discovery_proxy(env, ctl, name="weft", workers=1, clusters=(), discovery=None, log_level="info", start=True,
                    extra=None):
    """A WeftProxy whose config names `ctl` as its controller (reconnect_max as configured, default 1 s)."""
    cfg = {"controller": ctl.xds_addr}
    if discovery:
        cfg["discovery"] = discovery
    if extra:
        cfg.update(extra)
    p = WeftProxy(env, clusters=clusters, workers=workers, log_level=log_level, extra=cfg, name=name)
    if start:
        p.start()
    return p


def debug_endpoints(proxy, cluster=None, timeout=5.0):
    """The proxy's /debug/endpoints document ({} entries when the cluster is unknown: 404)."""
    path = "/debug/endpoints" + (f"?cluster={cluster}" if cluster else "")
    status, _, body = h1_request(proxy.admin_port, "GET", path, timeout=timeout)
    if status == 404:
        return {"clusters": []}
    if status != 200:
        raise HarnessError(f"{proxy.name} /debug/endpoints answered {status}")
    return json.loads(body)


def worker_views(proxy, cluster, timeout=5.0):
    """[{version, endpoints: {address}, pending, ready, failed, ...}] — one per worker (outbound)."""
    doc = debug_endpoints(proxy, cluster, timeout)
    out = []
    for c in doc["clusters"]:
        if c.get("direction") != "outbound" or c["name"] != cluster:
            continue
        c = dict(c)
        c["addresses"] = {e["address"] for e in c["endpoints"]}
        out.append(c)
    return out


def applied(proxy, cluster, version=None, addresses=None, workers=None):
    """True when every worker of `proxy` has applied `cluster` at `version` (and/or with exactly `addresses`)."""
    views = worker_views(proxy, cluster, timeout=2.0)
    n = workers if workers is not None else proxy.config["workers"]
    if len(views) != n:
        return False
    for v in views:
        if version is not None and v["version"] != version:
            return False
        if addresses is not None and v["addresses"] != set(addresses):
            return False
    return True


def wait_applied(proxy, cluster, version=None, addresses=None, timeout=5.0, poll=0.005):
    """Waits until applied(); returns the seconds it took. Raises HarnessError on timeout."""
    t0 = time.monotonic()
    deadline = t0 + timeout
    while time.monotonic() < deadline:
        try:
            if applied(proxy, cluster, version, addresses):
                return time.monotonic() - t0
        except OSError:
            if not proxy.proc.alive():
                raise HarnessError(f"{proxy.name} exited\n{proxy.tail(30)}")
        time.sleep(poll)
    raise HarnessError(f"{proxy.name}: {cluster} not at version={version} addresses={addresses} after {timeout}s: "
                       f"{[(v['version'], sorted(v['addresses'])) for v in worker_views(proxy, cluster)]}")


def balancer_sums(metrics, cluster):
    """{worker: (pending, ready, failed)} from weft_balancer_endpoints."""
    out = {}
    for ls, v in metrics.matching("weft_balancer_endpoints").items():
        d = dict(ls)
        if d.get("cluster") != cluster:
            continue
        p, r, f = out.get(d.get("worker"), (0, 0, 0))
        s = d.get("state")
        out[d.get("worker")] = (p + (v if s == "pending" else 0), r + (v if s == "ready" else 0),
                                f + (v if s == "failed" else 0))
    return out


def invariant_sample(proxy, cluster, history=None):
    """One paired sample of the state invariant for every worker of `proxy`.

    Reads /debug/endpoints, then /metrics, then /debug/endpoints again. For each
    worker the gauge sum pending + ready + failed must equal the size of a set
    the worker held during the scrape: its set before or after, or — when the
    driver passes `history`, the [(version, size)] it wrote, in order — any set
    between those two versions (a slow scrape on a loaded machine can span
    several updates). Returns (workers checked, [violation, ...])."""
    before = {str(v["worker"]): v for v in worker_views(proxy, cluster)}
    sums = balancer_sums(proxy.metrics(), cluster)
    after = {str(v["worker"]): v for v in worker_views(proxy, cluster)}
    history = list(history or [])  # read after the scrape: it may have grown meanwhile
    order = {v: i for i, (v, _) in enumerate(history)}
    bad = []
    for w, (p, r, f) in sums.items():
        allowed = set()
        for view in (before.get(w), after.get(w)):
            if view:
                allowed.add(len(view["addresses"]))
        if before.get(w) and after.get(w):
            lo, hi = order.get(before[w]["version"]), order.get(after[w]["version"])
            if lo is not None:
                # hi unknown: the worker is already at a version the driver has not recorded yet
                allowed |= {size for _, size in history[lo:(hi + 1 if hi is not None else len(history))]}
        if min(p, r, f) < 0 or (p + r + f) not in allowed:
            bad.append({"worker": w, "pending": p, "ready": r, "failed": f, "allowed": sorted(allowed),
                        "versions": [before.get(w, {}).get("version"), after.get(w, {}).get("version")]})
    return len(sums), bad


class H1Load:
    """Client threads sending GET / with `Host: host` back to back through one or more proxies.

    Records every result as (t_sent, t_done, proxy_index, status, backend, weft-proxy-error) (wall clock)."""

    def __init__(self, proxies, host, threads_per_proxy=2, pause=0.0):
        import threading
        self.proxies = list(proxies)
        self.host = host
        self.pause = pause
        self.stop_flag = threading.Event()
        self.lock = threading.Lock()
        self.results = []
        self.threads = [threading.Thread(target=self._run, args=(i,), daemon=True)
                        for i in range(len(self.proxies)) for _ in range(threads_per_proxy)]

    def start(self):
        for t in self.threads:
            t.start()
        return self

    def stop(self):
        self.stop_flag.set()
        for t in self.threads:
            t.join(15)
        return self

    def _run(self, i):
        port = self.proxies[i].port
        conn = None
        while not self.stop_flag.is_set():
            t0 = time.time()
            try:
                if conn is None:
                    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                status, headers, _ = h1_request(port, "GET", "/load", host=self.host, conn=conn)
                rec = (t0, time.time(), i, status, _header(headers, "x-backend"), _header(headers, "weft-proxy-error"))
            except (OSError, http.client.HTTPException) as e:
                rec = (t0, time.time(), i, 0, None, type(e).__name__)
                if conn is not None:
                    conn.close()
                conn = None
            with self.lock:
                self.results.append(rec)
            if self.pause:
                time.sleep(self.pause)
        if conn is not None:
            conn.close()

    def snapshot(self):
        with self.lock:
            return list(self.results)

    def failures(self):
        return [r for r in self.snapshot() if r[3] != 200]


def _header(headers, name):
    for k, v in headers:
        if k.lower() == name:
            return v
    return None


def arrivals(backend):
    """Wall-clock arrival times recorded by an h1-delay peer."""
    status, _, body = h1_request(backend.port, "GET", "/__peer/stats?arrivals=1", timeout=10)
    if status != 200:
        raise HarnessError(f"{backend.name} stats answered {status}")
    return json.loads(body)["arrivals"]
