#!/usr/bin/python3
"""Incident 004 replay: an upstream that closes connections after 100 requests
(nginx keepalive_requests 100, like S3), and one that closes idle connections
sooner than weft would. See README.md. Exit 0 = every check held.
"""
import http.client
import os
import re
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.environ.get("WEFT_SOURCE") or os.path.join(os.path.dirname(__file__), "..", "..", ".."),
                                "test", "lib"))
from weft_harness import Env, HarnessError, WeftProxy, cluster, h2load, weft_bin  # noqa: E402

N = 10_000
CONCURRENCY = 50
HOST = "s3.test"


def sequential(port, n, host):
    """n requests, one after another, over one client keep-alive connection. Returns (errors, examples)."""
    errors, examples = 0, []
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    for i in range(n):
        try:
            conn.putrequest("GET", f"/obj?i={i}", skip_host=True, skip_accept_encoding=True)
            conn.putheader("Host", host)
            conn.endheaders()
            r = conn.getresponse()
            body = r.read()
            if r.status != 200 or body != b"object\n":
                errors += 1
                if len(examples) < 5:
                    examples.append(f"request {i}: {r.status} weft-proxy-error={r.getheader('weft-proxy-error')} "
                                    f"{body[:100]!r}")
            if r.getheader("connection", "").lower() == "close":
                conn.close()
        except (OSError, http.client.HTTPException) as e:
            errors += 1
            if len(examples) < 5:
                examples.append(f"request {i}: {type(e).__name__}: {e}")
            conn.close()
    conn.close()
    return errors, examples


def bursts(port, host, rounds, per_round, pause):
    """`rounds` bursts of `per_round` concurrent requests (one connection each), `pause` seconds apart."""
    errors, examples, lock = [0], [], threading.Lock()

    def one(i):
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            c.putrequest("GET", f"/obj?b={i}", skip_host=True, skip_accept_encoding=True)
            c.putheader("Host", host)
            c.endheaders()
            r = c.getresponse()
            body = r.read()
            c.close()
            if r.status != 200:
                with lock:
                    errors[0] += 1
                    examples.append(f"{r.status} weft-proxy-error={r.getheader('weft-proxy-error')} {body[:100]!r}")
        except (OSError, http.client.HTTPException) as e:
            with lock:
                errors[0] += 1
                examples.append(f"{type(e).__name__}: {e}")

    for _ in range(rounds):
        ts = [threading.Thread(target=one, args=(i,)) for i in range(per_round)]
        for t in ts:
            t.start()
        for t in ts:
            t.join(20)
        time.sleep(pause)
    return errors[0], examples[:5]


def start_weft(env, name, upstream, **cluster_settings):
    w = WeftProxy(env, name=name, workers=2)
    # Two clusters: HTTP/1 clients keep HTTP/1 upstream; h2 clients are sent to HTTP/1 too.
    w.config["clusters"] = [cluster(f"{HOST}:80", [upstream], **cluster_settings),
                            cluster(f"127.0.0.1:{w.port}", [upstream], protocol="http1", **cluster_settings)]
    w.start()
    return w


def access_stats(nginx, since):
    """(requests, connections, max requests on one connection) in nginx's access log after line `since`."""
    lines = nginx.access_lines()[since:]
    conns, max_n = set(), 0
    for l in lines:
        m = re.search(r"conn=(\d+) n=(\d+)", l)
        if m:
            conns.add(m.group(1))
            max_n = max(max_n, int(m.group(2)))
    return len(lines), len(conns), max_n


def retries(weft, reason="not-processed"):
    return weft.metrics().sum("weft_retries_total", reason=reason)


def main():
    try:
        weft_bin()
    except HarnessError as e:
        print(f"FAIL: {e}")
        return 1
    env = Env("incident-004")
    failures = []
    ok = False
    try:
        obj = 'location = /obj { default_type text/plain; return 200 "object\\n"; }'
        s3 = env.nginx(name="s3", keepalive_requests=100, extra_locations=obj)
        idle = env.nginx(name="idle", keepalive_requests=1000, keepalive_timeout="1s", extra_locations=obj)

        def load(weft, label, check_premise):
            mark = len(s3.access_lines())
            t0 = time.monotonic()
            errs, ex = sequential(weft.port, N, HOST)
            print(f"  {label}: {N} sequential requests: {errs} errors ({time.monotonic() - t0:.1f}s)")
            if errs:
                failures.append(f"{label} sequential: {errs} errors, e.g. {ex}")
            for h1 in (True, False):
                res = h2load(f"http://127.0.0.1:{weft.port}/obj", n=N, c=CONCURRENCY, m=1, h1=h1, timeout=180)
                kind = "h1" if h1 else "h2c"
                print(f"  {label}: {N} requests over {CONCURRENCY} {kind} connections: "
                      f"{res.get('succeeded')} succeeded, {res.get('failed')} failed, {res.get('errored')} errored, "
                      f"{res.get('2xx')} 2xx, {res.get('5xx')} 5xx")
                if res.get("2xx") != N or res.get("failed") != 0 or res.get("errored") != 0:
                    failures.append(f"{label} concurrent {kind}: {res['raw'][-1500:]}")
            reqs, conns, max_n = access_stats(s3, mark)
            print(f"  {label}: nginx saw {reqs} requests on {conns} connections, at most {max_n} per connection")
            if check_premise and max_n != 100:
                failures.append(f"{label}: premise not met: nginx served at most {max_n} requests per connection "
                                f"(expected it to close at exactly 100)")
            if max_n > 100:
                failures.append(f"{label}: nginx served {max_n} requests on one connection despite keepalive_requests 100")

        print("phase 1: nginx closes every connection after 100 requests (Connection: close on the 100th)")
        w1 = start_weft(env, "weft-1", s3.addr)
        load(w1, "phase 1", check_premise=True)
        m = w1.metrics()
        print(f"  phase 1: weft_retries_total by reason: {m.matching('weft_retries_total')}")
        errors = m.sum("weft_proxy_errors_total")
        if errors:
            failures.append(f"phase 1: weft synthesized {errors} errors: {m.matching('weft_proxy_errors_total')}")
        w1.stop()

        print("phase 2: the same with max_requests_per_connection: 100 in weft")
        w2 = start_weft(env, "weft-2", s3.addr, max_requests_per_connection=100)
        load(w2, "phase 2", check_premise=False)
        m = w2.metrics()
        if "weft_retries_total" not in m.names() and not re.search(r"weft_retries_total", m.text):
            print("  phase 2: weft_retries_total has no series yet (no retry happened; counters appear on first use)")
        r = m.sum("weft_retries_total", reason="not-processed")
        print(f"  phase 2: not-processed retries: {r:.0f}; proxy errors: {m.sum('weft_proxy_errors_total'):.0f}")
        if r:
            failures.append(f"phase 2: {r:.0f} reuse retries were needed although weft knew the 100-request limit")
        if m.sum("weft_proxy_errors_total"):
            failures.append(f"phase 2: weft synthesized errors: {m.matching('weft_proxy_errors_total')}")
        w2.stop()

        print("phase 3: weft's own max_requests_per_connection: 100 against an nginx that would allow 1000")
        roomy = env.nginx(name="roomy", keepalive_requests=1000, extra_locations=obj)
        w3 = start_weft(env, "weft-3", roomy.addr, max_requests_per_connection=100)
        errs, ex = sequential(w3.port, 2000, HOST)
        res = h2load(f"http://127.0.0.1:{w3.port}/obj", n=2000, c=10, m=1, h1=True, timeout=120)
        reqs, conns, max_n = access_stats(roomy, 0)
        print(f"  phase 3: {errs} sequential errors, h2load {res.get('2xx')} 2xx; nginx saw {reqs} requests on "
              f"{conns} connections, at most {max_n} per connection")
        if errs or res.get("2xx") != 2000:
            failures.append(f"phase 3: errors: sequential {errs} {ex}; h2load {res['raw'][-800:]}")
        if max_n > 100:
            failures.append(f"phase 3: weft sent {max_n} requests on one upstream connection with "
                            f"max_requests_per_connection: 100")
        w3.stop()

        print("phase 4: nginx closes idle connections after 1 s, weft would keep them 10 s")
        w4 = start_weft(env, "weft-4", idle.addr, idle_timeout="10s")
        errs, ex = bursts(w4.port, HOST, rounds=8, per_round=CONCURRENCY, pause=1.3)
        r = retries(w4)
        print(f"  phase 4: 8 bursts of {CONCURRENCY} after idle pauses: {errs} errors, {r:.0f} not-processed retries")
        if errs:
            failures.append(f"phase 4: {errs} requests failed on connections nginx had closed: {ex}")
        w4.stop()

        if failures:
            print("FAIL:\n" + "\n".join(failures))
            return 1
        print("PASS")
        ok = True
        return 0
    except HarnessError as e:
        print(f"FAIL: {e}")
        return 1
    finally:
        env.close(failed=not ok)


if __name__ == "__main__":
    sys.exit(main())
