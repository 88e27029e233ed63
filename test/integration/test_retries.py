"""Retries never multiply load, yet hide occasional failures (issue 3, incident 004).

Contract under test (DESIGN.md §6, docs): failed responses (502/503/504) are
retried for idempotent methods (and gRPC UNAVAILABLE) within a per-cluster
retry budget of 20 % of requests + 10/s (TTL 10 s); a request that was never
processed may be retried once outside the budget. Metrics:
weft_retries_total{reason} and weft_retry_budget_exhausted_total{cluster}.

Backends are h1-delay peers (test/lib/peers.py) that count every request they
receive (= upstream attempts); clients send back-to-back requests through weft
(2 workers, default retry settings). Every number is printed.
"""
import http.client
import json
import os
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.environ.get("WEFT_SOURCE") or os.path.join(os.path.dirname(__file__), "..", ".."),
                                "test", "lib"))
from weft_harness import *  # noqa: E402,F403

CLUSTER = "retry.test:80"
GRPC_CLUSTER = "grpcretry.test:80"
RATIO = 0.2          # the issue: attempts <= 1.2 x requests + 10 per second (+ not-processed retries)
MIN_PER_SECOND = 10


def run_load(port, threads, seconds, method="GET", authority="retry.test"):
    """Back-to-back requests on keep-alive connections; returns ({(status, proxy-error): n}, elapsed seconds)."""
    counts, lock = {}, threading.Lock()
    stop = threading.Event()

    def client():
        conn, local = None, {}
        while not stop.is_set():
            try:
                if conn is None:
                    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                body = b"x" * 16 if method in ("POST", "PUT") else None
                conn.putrequest(method, "/retry", skip_host=True, skip_accept_encoding=True)
                conn.putheader("Host", authority)
                if body is not None:
                    conn.putheader("Content-Length", str(len(body)))
                conn.endheaders(body)
                r = conn.getresponse()
                r.read()
                key = (r.status, r.getheader("weft-proxy-error"))
                if r.getheader("Connection", "").lower() == "close":
                    conn.close()
                    conn = None
            except (OSError, http.client.HTTPException) as e:
                key = (0, type(e).__name__)
                if conn is not None:
                    conn.close()
                conn = None
                time.sleep(0.01)
            local[key] = local.get(key, 0) + 1
        with lock:
            for k, v in local.items():
                counts[k] = counts.get(k, 0) + v
        if conn is not None:
            conn.close()

    ts = [threading.Thread(target=client, daemon=True) for _ in range(threads)]
    t0 = time.monotonic()
    for t in ts:
        t.start()
    time.sleep(seconds)
    stop.set()
    for t in ts:
        t.join(20)
    return counts, time.monotonic() - t0


def backend_count(peer):
    status, _, body = h1_request(peer.port, "GET", "/__peer/stats", timeout=10)
    assert status == 200, body
    return json.loads(body)


def retry_metrics(weft):
    m = weft.metrics()
    reasons = {}
    for ls, v in m.matching("weft_retries_total").items():
        d = dict(ls)
        if d.get("cluster") == CLUSTER:
            reasons[d.get("reason")] = reasons.get(d.get("reason"), 0) + int(v)
    exhausted = m.sum("weft_retry_budget_exhausted_total", cluster=CLUSTER)
    return reasons, exhausted, m


class Retries(WeftTestCase):
    # Issue 3: "an upstream answering 100 % 503 -> upstream attempts <= 1.2 x requests
    # + 10 per second (plus the transparent not-processed retries)". 10 s = one budget TTL.
    # With 2 workers (the default here: one per core) the bound is the proxy's, whatever
    # the budget's internal split; with 1 worker it isolates the budget itself.
    def test_all_503_attempts_bounded_by_budget(self):
        self.check_all_503(workers=2)

    def test_all_503_attempts_bounded_by_budget_1_worker(self):
        self.check_all_503(workers=1)

    def check_all_503(self, workers):
        b = self.env.peer("h1-delay", "--fail-rate", 1, "--name", "always503", name="always503")
        weft = self.env.weft(workers=workers, clusters=[cluster(CLUSTER, [b.addr])])
        counts, elapsed = run_load(weft.port, threads=4, seconds=10.0)
        time.sleep(0.3)  # retries in flight land
        requests = sum(counts.values())
        stats = backend_count(b)
        attempts = stats["count"]
        reasons, exhausted, m = retry_metrics(weft)
        not_processed = reasons.get("not-processed", 0)
        bound = (1 + RATIO) * requests + MIN_PER_SECOND * elapsed + not_processed
        print(f"\n100 % 503 backend, weft workers={workers}, {elapsed:.1f}s: client requests {requests} {counts}")
        print(f"upstream attempts (backend count) {attempts} = {attempts / max(requests, 1):.3f} x requests; "
              f"bound 1.2 x {requests} + 10/s x {elapsed:.1f}s + {not_processed} not-processed = {bound:.0f}")
        print(f"weft_retries_total by reason {reasons}; weft_retry_budget_exhausted_total {exhausted:.0f}; "
              f"extra attempts {attempts - requests} (allowed {bound - requests:.0f})")
        self.assertGreater(requests, 500, "too little load to judge")
        self.assertEqual(set(counts), {(503, None)}, f"every client request should get the backend's 503: {counts}")
        self.assertGreater(reasons.get("status", 0), 0, "no status retries at all: is the retry policy wired?")
        self.assertGreater(exhausted, 0, "the budget never ran out although every attempt failed")
        self.assertLessEqual(attempts, bound, f"{attempts} upstream attempts for {requests} requests in {elapsed:.1f}s "
                                              f"exceed 1.2 x requests + 10/s + not-processed = {bound:.0f}")

    # Non-idempotent requests that reached the server are never retried.
    def test_post_to_503_not_retried(self):
        b = self.env.peer("h1-delay", "--fail-rate", 1, "--name", "always503", name="always503")
        weft = self.env.weft(workers=2, clusters=[cluster(CLUSTER, [b.addr])])
        counts, elapsed = run_load(weft.port, threads=2, seconds=3.0, method="POST")
        time.sleep(0.3)
        requests = sum(counts.values())
        attempts = backend_count(b)["count"]
        reasons, _, _ = retry_metrics(weft)
        print(f"\nPOST to a 100 % 503 backend: {requests} requests {counts}, {attempts} upstream attempts, "
              f"retries {reasons}")
        self.assertGreater(requests, 50)
        self.assertEqual(attempts, requests + reasons.get("not-processed", 0),
                         "a POST that reached the server was sent again")

    # PUT is idempotent (docs/configuration.md#retries): a small body, sent with the head in
    # one write, is replayable, so a 503 is retried like a GET's. The budget's floor accrues
    # over time (10/s), so 20 back-to-back requests at start-up would be rationed by it; this
    # cluster's floor is raised so the budget cannot be the limit and every PUT must be retried.
    def test_put_with_small_body_retried(self):
        b = self.env.peer("h1-delay", "--fail-rate", 1, "--name", "always503", name="always503")
        weft = self.env.weft(workers=1, clusters=[cluster(CLUSTER, [b.addr],
                                                          retry_budget={"min_per_second": 100000})])
        statuses = []
        for _ in range(20):
            status, _, _ = h1_request(weft.port, "PUT", "/retry", host="retry.test", body=b"hello")
            statuses.append(status)
        attempts = backend_count(b)["count"]
        reasons, exhausted, _ = retry_metrics(weft)
        print(f"\n20 PUTs (5-byte body) to a 100 % 503 backend: statuses {sorted(set(statuses))}, "
              f"{attempts} upstream attempts, retries {reasons}, budget exhausted {exhausted:.0f}")
        self.assertEqual(set(statuses), {503})
        self.assertGreaterEqual(reasons.get("status", 0), 20, "PUTs with a small body were not retried")
        self.assertGreaterEqual(attempts, 40, "PUTs with a small body were not retried")

    def error_rate_check(self, label, backends, seconds=8.0):
        weft = self.env.weft(workers=2, clusters=[cluster(CLUSTER, [b.addr for b in backends])])
        counts, elapsed = run_load(weft.port, threads=8, seconds=seconds)
        time.sleep(0.3)
        requests = sum(counts.values())
        errors = sum(v for k, v in counts.items() if k[0] != 200)
        per_backend = {}
        for b in backends:
            s = backend_count(b)
            per_backend[s["name"]] = (s["count"], s["by_status"])
        attempts = sum(c for c, _ in per_backend.values())
        failed_attempts = sum(int(bs.get("503", 0)) for _, bs in per_backend.values())
        reasons, exhausted, m = retry_metrics(weft)
        ejections = m.sum("weft_endpoint_ejections_total", cluster=CLUSTER)
        rate = errors / max(requests, 1)
        print(f"\n{label}, {elapsed:.1f}s: client requests {requests}, client-visible errors {errors} "
              f"({rate * 100:.3f} %) {counts}")
        print(f"upstream attempts {attempts} ({failed_attempts} answered 503 = "
              f"{failed_attempts / max(attempts, 1) * 100:.2f} % of attempts); retries {reasons}; "
              f"budget exhausted {exhausted:.0f}; ejections {ejections:.0f}")
        print(f"per backend (requests, by status): {per_backend}")
        self.assertGreater(requests, 1000, "too little load to judge")
        self.assertLess(rate, 0.01, f"client-visible error rate {rate * 100:.3f} % (requirement: < 1 %) {counts}")

    # Issue 3: "with 10 % failing, the client-visible error rate falls below 1 %" —
    # one endpoint of ten always answers 503.
    def test_one_of_ten_failing_hidden(self):
        bs = [self.env.peer("h1-delay", "--delay-ms", 1, "--fail-rate", 1 if i == 0 else 0, "--name", f"b{i}",
                            name=f"b{i}") for i in range(10)]
        self.error_rate_check("1 of 10 backends always 503", bs)

    # ... and every attempt fails with probability 10 % (ten backends, each 10 % random 503).
    def test_ten_percent_random_failures_hidden(self):
        bs = [self.env.peer("h1-delay", "--delay-ms", 1, "--fail-rate", 0.1, "--name", f"b{i}", name=f"b{i}")
              for i in range(10)]
        self.error_rate_check("10 backends, each 10 % random 503", bs)

    # gRPC: retried by status (UNAVAILABLE), whatever the method (all gRPC calls are POST).
    def grpc_load(self, weft, threads, seconds):
        import grpc
        pb, pbg = import_stubs(self.env)
        counts, lock, stop = {}, threading.Lock(), threading.Event()

        def client():
            ch = grpc_channel(weft.addr, authority=GRPC_CLUSTER)
            stub = pbg.EchoStub(ch)
            local = {}
            while not stop.is_set():
                try:
                    stub.Echo(pb.EchoRequest(message="x"), timeout=10)
                    key = "OK"
                except grpc.RpcError as e:
                    key = e.code().name
                local[key] = local.get(key, 0) + 1
            ch.close()
            with lock:
                for k, v in local.items():
                    counts[k] = counts.get(k, 0) + v

        ts = [threading.Thread(target=client, daemon=True) for _ in range(threads)]
        t0 = time.monotonic()
        for t in ts:
            t.start()
        time.sleep(seconds)
        stop.set()
        for t in ts:
            t.join(20)
        return counts, time.monotonic() - t0

    def grpc_stats(self, peer):
        c = H2Client(peer.port)
        try:
            status, _, body = c.request("GET", "/__peer/stats", peer.addr)
        finally:
            c.close()
        self.assertEqual(status, 200, body)
        return json.loads(body)

    def test_grpc_all_unavailable_attempts_bounded_by_budget(self):
        g = self.env.peer("grpc-flaky", "--fail-rate", 1, "--name", "g-unavailable", name="g-unavailable")
        weft = self.env.weft(workers=2, clusters=[cluster(GRPC_CLUSTER, [g.addr], protocol="http2")])
        counts, elapsed = self.grpc_load(weft, threads=4, seconds=10.0)
        time.sleep(0.3)
        requests = sum(counts.values())
        attempts = self.grpc_stats(g)["count"]
        m = weft.metrics()
        reasons = {dict(ls).get("reason"): int(v) for ls, v in m.matching("weft_retries_total").items()
                   if dict(ls).get("cluster") == GRPC_CLUSTER}
        exhausted = m.sum("weft_retry_budget_exhausted_total", cluster=GRPC_CLUSTER)
        not_processed = reasons.get("not-processed", 0)
        bound = (1 + RATIO) * requests + MIN_PER_SECOND * elapsed + not_processed
        print(f"\ngRPC, 100 % UNAVAILABLE backend, weft workers=2, {elapsed:.1f}s: calls {requests} {counts}")
        print(f"upstream attempts {attempts} = {attempts / max(requests, 1):.3f} x calls; bound {bound:.0f}; "
              f"retries {reasons}; budget exhausted {exhausted:.0f}")
        self.assertGreater(requests, 500, "too little load to judge")
        self.assertEqual(set(counts), {"UNAVAILABLE"}, counts)
        self.assertGreater(reasons.get("status", 0), 0, "no status retries of UNAVAILABLE at all")
        self.assertLessEqual(attempts, bound, f"{attempts} upstream attempts for {requests} calls in {elapsed:.1f}s "
                                              f"exceed 1.2 x calls + 10/s + not-processed = {bound:.0f}")

    def test_grpc_ten_percent_unavailable_hidden(self):
        gs = [self.env.peer("grpc-flaky", "--fail-rate", 0.1, "--name", f"g{i}", name=f"g{i}") for i in range(10)]
        weft = self.env.weft(workers=2, clusters=[cluster(GRPC_CLUSTER, [g.addr for g in gs], protocol="http2")])
        counts, elapsed = self.grpc_load(weft, threads=8, seconds=8.0)
        time.sleep(0.3)
        requests = sum(counts.values())
        errors = requests - counts.get("OK", 0)
        per = {s["name"]: (s["count"], s["by_status"]) for s in (self.grpc_stats(g) for g in gs)}
        attempts = sum(c for c, _ in per.values())
        failed = sum(int(bs.get("14", 0)) for _, bs in per.values())
        rate = errors / max(requests, 1)
        print(f"\ngRPC, 10 backends each 10 % UNAVAILABLE, {elapsed:.1f}s: calls {requests}, client-visible errors "
              f"{errors} ({rate * 100:.3f} %) {counts}; upstream attempts {attempts}, {failed} UNAVAILABLE "
              f"({failed / max(attempts, 1) * 100:.2f} %)")
        self.assertGreater(requests, 1000, "too little load to judge")
        self.assertLess(rate, 0.01, f"client-visible error rate {rate * 100:.3f} % (requirement: < 1 %) {counts}")


if __name__ == "__main__":
    main()
