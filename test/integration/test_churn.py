"""Endpoint-set churn under load (issue 3), scaled for `make test`: 200 random endpoint-set changes in 20 s.

weft (2 workers) balances one cluster over a pool of 10 live h1-delay backends
and 2 refusing ports. A driver rewrites the config (atomically) with a random
endpoint subset and sends SIGHUP, then waits until every worker's
/debug/endpoints shows the new set (the change is then "applied"). Meanwhile:
  - client threads send requests back to back through weft;
  - a sampler scrapes /metrics every 100 ms and checks, per worker,
    pending + ready + failed == the size of the endpoint set in force (any set
    between the last acknowledged one and the one being applied at the time of
    the scrape);
  - every backend records when each request arrived (wall clock), so after the
    run no request may have reached a backend more than 100 ms after the
    change removing it was applied (until it is added again);
  - weft's RSS is read after the first 10 % of the changes and at the end.
bench/soak/churn.py runs the full version (1 000 changes in 60 s) through run_churn().
"""
import http.client
import json
import os
import random
import signal
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.environ.get("WEFT_SOURCE") or os.path.join(os.path.dirname(__file__), "..", ".."),
                                "test", "lib"))
from weft_harness import *  # noqa: E402,F403

CLUSTER = "churn.test:80"
LATE_BOUND_S = 0.100           # the issue: no request later than 100 ms after removal was applied
RSS_GROWTH_LIMIT_KB = 4096     # "RSS stays flat": growth from the 10 % mark to the end


class ClientLoad:
    def __init__(self, port, threads):
        self.port = port
        self.stop_flag = threading.Event()
        self.lock = threading.Lock()
        self.statuses = {}
        self.examples = []
        self.threads = [threading.Thread(target=self._run, daemon=True) for _ in range(threads)]

    def start(self):
        for t in self.threads:
            t.start()
        return self

    def stop(self):
        self.stop_flag.set()
        for t in self.threads:
            t.join(15)

    def _count(self, key, example):
        with self.lock:
            self.statuses[key] = self.statuses.get(key, 0) + 1
            if key[0] != 200 and len(self.examples) < 20:
                self.examples.append((round(time.time(), 3),) + key + (example,))

    def _run(self):
        conn = None
        while not self.stop_flag.is_set():
            try:
                if conn is None:
                    conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
                conn.putrequest("GET", "/churn", skip_host=True, skip_accept_encoding=True)
                conn.putheader("Host", "churn.test")
                conn.endheaders()
                r = conn.getresponse()
                body = r.read()
                self._count((r.status, r.getheader("weft-proxy-error")), body[:80])
            except (OSError, http.client.HTTPException) as e:
                self._count((0, type(e).__name__), str(e)[:80])
                if conn is not None:
                    conn.close()
                conn = None
                time.sleep(0.01)
        if conn is not None:
            conn.close()


def endpoint_sums(metrics, cluster_name):
    """{worker: pending+ready+failed} and {worker: {state: n}} from weft_balancer_endpoints."""
    sums, detail = {}, {}
    for ls, v in metrics.matching("weft_balancer_endpoints").items():
        d = dict(ls)
        if d.get("cluster") != cluster_name:
            continue
        w = d.get("worker", "?")
        sums[w] = sums.get(w, 0) + v
        detail.setdefault(w, {})[d.get("state")] = v
    return sums, detail


def run_churn(env, changes, seconds, live=10, dead=2, max_set=8, client_threads=8, workers=2, seed=None,
              log=print):
    """Runs the churn scenario; returns a dict of results (every number the checks need)."""
    seed = seed if seed is not None else random.randrange(1 << 30)
    rng = random.Random(seed)
    log(f"churn: {changes} changes in {seconds}s, {live} live + {dead} refusing endpoints, sets of 1..{max_set}, "
        f"{client_threads} client threads, weft workers={workers}, seed={seed}")
    backends = [env.peer("h1-delay", "--delay-ms", 1, "--name", f"b{i}", name=f"b{i}") for i in range(live)]
    live_addrs = [b.addr for b in backends]
    dead_addrs = [f"127.0.0.1:{free_port()}" for _ in range(dead)]
    pool = live_addrs + dead_addrs

    def random_set(prev):
        while True:
            k = rng.randint(1, max_set)
            s = rng.sample(pool, k)
            if any(a in live_addrs for a in s) and set(s) != set(prev):
                return s

    sets = [random_set([])]
    weft = env.weft(workers=workers, clusters=[cluster(CLUSTER, sets[0])])
    state = {"applied": 0, "pending": 0}  # indices into `sets`
    # Per change: (index, wall time written, wall time acknowledged by every worker)
    timeline = [(0, time.time(), time.time())]
    state_lock = threading.Lock()

    def check_alive():
        if not weft.proc.alive():
            raise HarnessError(f"weft exited with {weft.proc.returncode()} during churn "
                               f"(after {state['pending']} changes)\n{weft.tail(30)}")

    def workers_sets():
        check_alive()
        try:
            status, _, body = weft.admin("GET", f"/debug/endpoints?cluster={CLUSTER}", timeout=5)
        except OSError:
            check_alive()
            raise
        if status != 200:
            return None
        return [{e["address"] for e in c["endpoints"]} for c in json.loads(body)["clusters"]]

    # Wait for the initial set on every worker.
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        ws = workers_sets()
        if ws and len(ws) == workers and all(w == set(sets[0]) for w in ws):
            break
        time.sleep(0.01)

    violations = []
    samples = [0]
    stop = threading.Event()

    def sampler():
        while not stop.is_set():
            t_next = time.monotonic() + 0.1
            with state_lock:
                lo = state["applied"]
            try:
                m = weft.metrics()
            except (OSError, HarnessError) as e:
                violations.append(("scrape failed", str(e)))
                stop.wait(0.1)
                continue
            with state_lock:
                hi = state["pending"]
            allowed = {len(sets[j]) for j in range(lo, hi + 1)}
            sums, detail = endpoint_sums(m, CLUSTER)
            samples[0] += 1
            if len(sums) != workers:
                violations.append((round(time.time(), 3), "workers reporting", sorted(sums), lo, hi))
            for w, s in sums.items():
                negative = any(v < 0 for v in detail[w].values())
                if s not in allowed or negative:
                    violations.append((round(time.time(), 3), f"worker {w}", detail[w], f"sum {s:.0f}",
                                       f"allowed {sorted(allowed)} (sets {lo}..{hi})"))
            stop.wait(max(0.0, t_next - time.monotonic()))

    load = ClientLoad(weft.port, client_threads).start()
    time.sleep(0.5)
    samp = threading.Thread(target=sampler, daemon=True)
    samp.start()
    reloads_before = weft.metrics().sum("weft_config_reloads_total", result="applied")

    rss_warm = None
    ack_lat = []
    unacked = []
    interval = seconds / changes
    t_begin = time.monotonic()
    try:
        for i in range(1, changes + 1):
            target = t_begin + i * interval
            if time.monotonic() < target:
                time.sleep(target - time.monotonic())
            new = random_set(sets[-1])
            eps = [a if rng.random() < 0.7 else {"address": a, "weight": rng.randint(1, 3)} for a in new]
            weft.config["clusters"] = [cluster(CLUSTER, eps)]
            tmp = weft.config_path + ".tmp"
            with open(tmp, "w") as f:
                json.dump(weft.config, f)
            with state_lock:
                sets.append(new)
                state["pending"] = i
            t_write = time.time()
            os.replace(tmp, weft.config_path)  # atomic: the file watcher never sees half a file
            weft.proc.signal(signal.SIGHUP)
            ack_deadline = time.monotonic() + 5
            acked = False
            while time.monotonic() < ack_deadline:
                ws = workers_sets()
                if ws and len(ws) == workers and all(w == set(new) for w in ws):
                    acked = True
                    break
                time.sleep(0.003)
            t_ack = time.time()
            if not acked:
                unacked.append(i)
            ack_lat.append(t_ack - t_write)
            timeline.append((i, t_write, t_ack))
            with state_lock:
                state["applied"] = i
            if i == max(1, changes // 10):
                rss_warm = weft.rss()
    finally:
        elapsed = time.monotonic() - t_begin
        time.sleep(0.3)
        stop.set()
        samp.join(10)
        load.stop()
    check_alive()
    rss_end = weft.rss()
    m = weft.metrics()
    reloads = m.sum("weft_config_reloads_total", result="applied") - reloads_before
    rejected = m.sum("weft_config_reloads_total", result="rejected")

    # Late requests: for each live backend, the intervals in which it was not in the set.
    arrivals = {}
    for b in backends:
        status, _, body = h1_request(b.port, "GET", "/__peer/stats?arrivals=1", timeout=10)
        arrivals[b.addr] = json.loads(body)["arrivals"] if status == 200 else []
    late = []
    worst = 0.0
    removals = 0
    for addr in live_addrs:
        ts = sorted(arrivals[addr])
        in_set = addr in sets[0]
        for idx, t_write, t_ack in timeline[1:]:
            now_in = addr in sets[idx]
            if in_set and not now_in:
                removals += 1
                # removed at change idx; until it is written back (next change that adds it)
                readd = next((tw for j, tw, _ in timeline[idx + 1:] if addr in sets[j]), float("inf"))
                during = [t for t in ts if t_ack < t < readd]
                if during:
                    lateness = max(during) - t_ack
                    worst = max(worst, lateness)
                    bad = [t for t in during if t - t_ack > LATE_BOUND_S]
                    if bad:
                        late.append((addr, idx, len(bad), round(max(bad) - t_ack, 3), round(max(bad) - t_write, 3)))
            in_set = now_in

    res = {
        "seed": seed, "changes": changes, "elapsed": elapsed, "reloads_applied": reloads, "reloads_rejected": rejected,
        "unacked": unacked, "ack_p50_ms": percentile(ack_lat, 50) * 1000, "ack_max_ms": max(ack_lat) * 1000,
        "samples": samples[0], "violations": violations, "removals": removals, "late": late,
        "worst_lateness_ms": worst * 1000, "rss_warm": rss_warm, "rss_end": rss_end,
        "requests": dict(load.statuses), "errors": load.examples,
        "backend_counts": {a.rsplit(":", 1)[1]: len(v) for a, v in arrivals.items()},
    }
    log(f"changes {changes} in {elapsed:.1f}s; reloads applied {reloads:.0f}, rejected {rejected:.0f}; "
        f"acknowledged by every worker: p50 {res['ack_p50_ms']:.1f} ms, max {res['ack_max_ms']:.1f} ms, "
        f"not acknowledged within 5 s: {unacked[:10]}")
    log(f"invariant samples {samples[0]}, violations {len(violations)}: {violations[:10]}")
    log(f"removals of live endpoints {removals}; latest request after a removal was applied: {worst * 1000:.1f} ms; "
        f"requests later than {LATE_BOUND_S * 1000:.0f} ms: {late[:10]}")
    log(f"RSS at {max(1, changes // 10)} changes: {rss_warm}; at the end: {rss_end}")
    log(f"client results (status, weft-proxy-error): {res['requests']}; examples: {res['errors'][:10]}")
    log(f"requests per backend: {res['backend_counts']}")
    return res


class Churn(WeftTestCase):
    def test_churn_200_changes_in_20s(self):
        r = run_churn(self.env, changes=200, seconds=20.0)
        self.assertFalse(r["unacked"], f"changes not applied by every worker within 5 s: {r['unacked'][:10]}")
        self.assertGreater(r["samples"], 100, "too few /metrics samples")
        self.assertFalse(r["violations"], f"pending+ready+failed != endpoint set: {r['violations'][:10]}")
        self.assertGreater(r["removals"], 50, "too few removals of live endpoints to judge")
        self.assertFalse(r["late"], f"requests reached an endpoint > {LATE_BOUND_S * 1000:.0f} ms after its removal "
                                    f"was applied (addr, change, count, s after ack, s after write): {r['late'][:10]}")
        growth = r["rss_end"]["VmRSS"] - r["rss_warm"]["VmRSS"]
        # Release-only: ASan's quarantine keeps up to 256 MiB of freed memory resident.
        self.assertReleaseBound(growth <= RSS_GROWTH_LIMIT_KB, f"RSS grew {growth} kB during churn "
                                                               f"({r['rss_warm']} -> {r['rss_end']})")
        total = sum(r["requests"].values())
        failed = {k: v for k, v in r["requests"].items() if k[0] != 200}
        self.assertGreater(total, 1000, "too little load")
        # Removed endpoints drain: churn alone must not fail requests.
        self.assertFalse(failed, f"requests failed during churn: {failed}; examples {r['errors'][:10]}")


if __name__ == "__main__":
    main()
