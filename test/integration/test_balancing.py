"""Load balancing (issue 3): a slowed endpoint loses its traffic within 5 s; endpoint weights are honoured.

Real weft (2 workers) in front of Python h1-delay backends (test/lib/peers.py) on
127.0.0.1; load comes from client threads on keep-alive connections, and every
response names its backend (X-Backend), so shares are counted per response and
per time window. Every number is printed.
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

AUTHORITY = "lb.test"
CLUSTER = "lb.test:80"


class Load:
    """`threads` clients, each sending GETs back to back on its own keep-alive connection to weft.

    Records (monotonic end time, status, X-Backend, weft-proxy-error) per response; a
    connection error is recorded with status 0 and the client reconnects."""

    def __init__(self, port, threads, authority=AUTHORITY, path="/lb"):
        self.port, self.authority, self.path = port, authority, path
        self.stop_flag = threading.Event()
        self.lock = threading.Lock()
        self.records = []
        self.threads = [threading.Thread(target=self._run, daemon=True) for _ in range(threads)]

    def start(self):
        self.t0 = time.monotonic()
        for t in self.threads:
            t.start()
        return self

    def stop(self):
        self.stop_flag.set()
        for t in self.threads:
            t.join(15)

    def _run(self):
        conn = None
        local = []
        while not self.stop_flag.is_set():
            try:
                if conn is None:
                    conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
                conn.putrequest("GET", self.path, skip_host=True, skip_accept_encoding=True)
                conn.putheader("Host", self.authority)
                conn.endheaders()
                r = conn.getresponse()
                r.read()
                local.append((time.monotonic(), r.status, r.getheader("X-Backend"), r.getheader("weft-proxy-error")))
                if r.getheader("Connection", "").lower() == "close":
                    conn.close()
                    conn = None
            except (OSError, http.client.HTTPException) as e:
                local.append((time.monotonic(), 0, None, type(e).__name__))
                if conn is not None:
                    conn.close()
                conn = None
                time.sleep(0.01)
            if len(local) >= 200:
                with self.lock:
                    self.records.extend(local)
                local = []
        with self.lock:
            self.records.extend(local)
        if conn is not None:
            conn.close()

    def window(self, start, end):
        """Records whose response ended in [t0+start, t0+end)."""
        with self.lock:
            return [r for r in self.records if self.t0 + start <= r[0] < self.t0 + end]


def shares(records, names):
    ok = [r for r in records if r[1] == 200]
    n = len(ok)
    counts = {b: sum(1 for r in ok if r[2] == b) for b in names}
    return n, counts, {b: (counts[b] / n if n else 0.0) for b in names}


def fmt_shares(n, counts, sh):
    return f"n={n} " + " ".join(f"{b}={counts[b]} ({sh[b] * 100:.1f}%)" for b in counts)


class Balancing(WeftTestCase):
    def backends(self, delays_ms):
        out = []
        for i, d in enumerate(delays_ms):
            out.append(self.env.peer("h1-delay", "--delay-ms", d, "--name", f"b{i}", name=f"b{i}"))
        return out

    def per_second(self, load, names, seconds):
        for s in range(seconds):
            n, c, sh = shares(load.window(s, s + 1), names)
            errs = [r for r in load.window(s, s + 1) if r[1] != 200]
            print(f"  t={s:2d}-{s + 1:2d}s {fmt_shares(n, c, sh)} non-200={len(errs)}")

    def print_ewma(self, weft, bs, names):
        """The latency each worker's balancer saw per endpoint (peak-EWMA, /debug/endpoints)."""
        _, _, dbg = weft.admin("GET", f"/debug/endpoints?cluster={CLUSTER}")
        port_name = {b.addr: n for b, n in zip(bs, names)}
        for c in json.loads(dbg)["clusters"]:
            print(f"worker {c['worker']} peak-EWMA (ms): " +
                  " ".join(f"{port_name.get(e['address'], e['address'])}={e['ewma_ms']:.1f}" for e in c["endpoints"]))

    # Issue 3: "one endpoint slowed to 10x latency gets under 10 % of traffic within 5 s".
    # Four backends at 5 ms; after 2 s of steady load one of them is slowed to 50 ms
    # (10x). From 5 s after the slowdown (for 3 s) it must get < 10 % of the requests.
    def test_slowed_endpoint_loses_traffic_within_5s(self):
        bs = self.backends([5, 5, 5, 5])
        names = [f"b{i}" for i in range(4)]
        weft = self.env.weft(workers=2, clusters=[cluster(CLUSTER, [b.addr for b in bs])])
        load = Load(weft.port, threads=16).start()
        try:
            time.sleep(2.0)
            slow_at = time.monotonic() - load.t0
            status, _, body = h1_request(bs[3].port, "GET", "/__peer/set?delay_ms=50")
            self.assertEqual(status, 200, body)
            time.sleep(8.0)
        finally:
            load.stop()
        print(f"\nslowed b3 from 5 ms to 50 ms at t={slow_at:.2f}s; 16 client threads, weft workers=2")
        self.per_second(load, names, 10)
        before = shares(load.window(0.5, slow_at), names)
        after = shares(load.window(slow_at + 5.0, slow_at + 8.0), names)
        print(f"before slowdown  (t=0.5..{slow_at:.1f}s): {fmt_shares(*before)}")
        print(f"5..8 s after it  (t={slow_at + 5:.1f}..{slow_at + 8:.1f}s): {fmt_shares(*after)}")
        # Python backends add their own overhead: print the latency ratio weft actually saw.
        self.print_ewma(weft, bs, names)
        all_recs = load.window(0, 1e9)
        errors = [r for r in all_recs if r[1] != 200]
        print(f"total responses {len(all_recs)}, non-200 {len(errors)} {errors[:5]}")
        self.assertGreater(after[0], 200, "too few requests in the measurement window to judge")
        self.assertFalse(errors, f"requests failed during the balancing test: {errors[:10]}")
        self.assertLess(after[2]["b3"], 0.10,
                        f"slowed endpoint b3 got {after[2]['b3'] * 100:.1f}% of requests 5-8 s after the slowdown "
                        f"(requirement: < 10 %)")

    # Issue 3: "weights honoured within 5 %". Equal-latency backends (10 ms); each
    # endpoint's share of the requests must be within 5 percentage points of
    # weight / sum(weights). P2C with weight in the cost divides load by
    # in-flight ratio, which is not the same thing as a proportional split:
    # this test measures what weft actually does.
    def check_weights(self, weights, threads=16, seconds=8.0, warmup=2.0):
        bs = self.backends([10] * len(weights))
        names = [f"b{i}" for i in range(len(weights))]
        eps = [{"address": b.addr, "weight": w} for b, w in zip(bs, weights)]
        weft = self.env.weft(workers=2, clusters=[cluster(CLUSTER, eps)])
        load = Load(weft.port, threads=threads).start()
        try:
            time.sleep(seconds)
        finally:
            load.stop()
        total_w = sum(weights)
        expected = {b: w / total_w for b, w in zip(names, weights)}
        print(f"\nweights {weights}, 10 ms backends, {threads} client threads, weft workers=2, "
              f"measured {warmup:.0f}..{seconds:.0f} s")
        self.per_second(load, names, int(seconds))
        n, counts, sh = shares(load.window(warmup, seconds), names)
        print(f"measured: {fmt_shares(n, counts, sh)}")
        self.print_ewma(weft, bs, names)
        print("expected: " + " ".join(f"{b}={expected[b] * 100:.1f}%" for b in names))
        print("deviation (percentage points): " + " ".join(f"{b}={(sh[b] - expected[b]) * 100:+.1f}" for b in names))
        errors = [r for r in load.window(0, 1e9) if r[1] != 200]
        self.assertGreater(n, 500, "too few requests to judge")
        self.assertFalse(errors, f"requests failed: {errors[:10]}")
        bad = {b: round(sh[b] * 100, 1) for b in names if abs(sh[b] - expected[b]) > 0.05}
        self.assertFalse(bad, f"shares (%) outside expected ±5 points: {bad}; expected "
                              f"{ {b: round(expected[b] * 100, 1) for b in names} }")

    def test_weights_1_3(self):
        self.check_weights([1, 3])

    def test_weights_1_2_3_4(self):
        self.check_weights([1, 2, 3, 4])


if __name__ == "__main__":
    main()
