#!/usr/bin/python3
"""Incident 001 replay: stale endpoints after canary promotions (README.md here).

A weft controller (file source) serves the split api.test:80 = api-stable +
api-canary; three weft proxies (2 workers each) route gRPC traffic from three
grpcio load generators (~1 000 calls/s in all) to gRPC instances that record
every arrival. 200 promotion cycles: deploy a canary (8 new instances, weight
shifted to it), promote it (the stable service's endpoints become the
canary's), kill the old stable instances. Must hold: no request reaches an
instance after it was killed, pending + ready + failed == the applied set at
every sample on every worker, the clients see 0 errors.

    /usr/bin/python3 test/incidents/001-stale-endpoints-canary/run.py [--cycles N] [--rate R] [--keep]
Exit status 0 when every check holds.
"""
import argparse
import http.client
import json
import os
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.environ.get("WEFT_SOURCE") or os.path.join(HERE, "..", "..", ".."), "test", "lib"))
from weft_harness import PYTHON, Env, HarnessError, free_port, generate_grpc_stubs, percentile, wait_port  # noqa: E402
from discovery_harness import (Controller, applied, discovery_proxy, invariant_sample,  # noqa: E402
                               worker_views)

APEX = "api.test:80"
STABLE = "api-stable.test:80"
CANARY = "api-canary.test:80"
PER_SERVICE = 8                 # 8 stable + 8 canary = 16 endpoints during a rollout
CANARY_WEIGHTS = [10, 25, 50]   # the weight shifted to the canary, in turn
CONVERGE_BOUND_S = 3.0          # a cycle waits this long for every proxy; beyond, it counts as not converged
IN_FLIGHT_GRACE_S = 0.05        # after every proxy applied the removal: requests already picked may still land


def services_yaml(stable, canary, canary_weight):
    def eps(instances):
        return "[" + ", ".join(f"127.0.0.1:{i['port']}" for i in instances) + "]"
    return (f"services:\n  - name: {STABLE}\n    protocol: http2\n    endpoints: {eps(stable)}\n"
            f"  - name: {CANARY}\n    protocol: http2\n    endpoints: {eps(canary)}\n"
            f"splits:\n  - name: {APEX}\n    protocol: http2\n"
            f"    backends: [{{service: {STABLE}, weight: {100 - canary_weight}}}, "
            f"{{service: {CANARY}, weight: {canary_weight}}}]\n")


class Instances:
    """The instances, spread over several instances.py processes: Python h2 costs CPU per call, and on a
    loaded 2-core machine one process may not get enough of it for 1 000 calls/s."""

    def __init__(self, env, processes=4):
        self.procs = []
        for i in range(processes):
            port = free_port()
            proc = env.start(f"instances{i}", [PYTHON, os.path.join(HERE, "instances.py"), "--control-port", str(port)])
            wait_port(port, proc=proc)
            self.procs.append((port, proc))
        self.owner = {}  # instance port -> control port
        self.turn = 0

    def call(self, port, method, path):
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        try:
            c.request(method, path)
            r = c.getresponse()
            return json.loads(r.read())
        finally:
            c.close()

    def spawn(self, n, prefix):
        out = []
        for _ in range(n):
            port = self.procs[self.turn % len(self.procs)][0]
            self.turn += 1
            for i in self.call(port, "POST", f"/spawn?n=1&prefix={prefix}{self.turn}-")["instances"]:
                self.owner[i["port"]] = port
                out.append(i)
        return out

    def kill(self, instances):
        by_owner = {}
        for i in instances:
            by_owner.setdefault(self.owner[i["port"]], []).append(str(i["port"]))
        times = []

        def one(port, ports):
            times.append(self.call(port, "POST", "/kill?ports=" + ",".join(ports))["killed_at"])
        threads = [threading.Thread(target=one, args=item) for item in by_owner.items()]  # all at once
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return min(times)

    def stats(self):
        return [s for port, _ in self.procs for s in self.call(port, "GET", "/stats")["instances"]]

    def alive(self):
        return all(proc.alive() for _, proc in self.procs)


def wait_all(proxies, addresses, timeout):
    """Seconds until every worker of every proxy holds exactly `addresses` for the apex, or None."""
    t0 = time.monotonic()
    pending = list(proxies)
    while pending and time.monotonic() - t0 < timeout:
        pending = [p for p in pending if not applied(p, APEX, addresses=addresses)]
        if pending:
            time.sleep(0.005)
    return None if pending else time.monotonic() - t0


def run(env, cycles, rate, workers, log=print):
    inst = Instances(env)
    stable = inst.spawn(PER_SERVICE, "s0-")
    ctl = Controller(env, services_yaml(stable, [], 0))
    proxies = [discovery_proxy(env, ctl, f"p{i}", workers=workers) for i in range(3)]
    stubs = generate_grpc_stubs(env)
    addrs = lambda xs: [f"127.0.0.1:{i['port']}" for i in xs]  # noqa: E731

    # First use subscribes; wait for every worker to hold the first set.
    import grpc
    sys.path.insert(0, stubs)
    import echo_pb2
    import echo_pb2_grpc
    for p in proxies:
        with grpc.insecure_channel(p.addr, options=[("grpc.default_authority", APEX)]) as ch:
            echo_pb2_grpc.EchoStub(ch).Echo(echo_pb2.EchoRequest(message="warm"), timeout=10)
    if wait_all(proxies, addrs(stable), 10) is None:
        raise HarnessError(f"first set not applied: {[worker_views(p, APEX) for p in proxies]}")

    stop_file = env.path("stop")
    outs = []
    for i, p in enumerate(proxies):
        out = env.path(f"load{i}.json")
        outs.append(out)
        env.start(f"load{i}", [PYTHON, os.path.join(HERE, "loadgen.py"), "--target", p.addr, "--authority", APEX,
                               "--rate", str(rate / len(proxies)), "--stubs", stubs, "--stop-file", stop_file,
                               "--out", out])
    time.sleep(1.0)

    # Every apex version the controller served, in order, with its set size.
    first = ctl.served()[APEX]
    history = [(first["version"], len(first["endpoints"]))]

    # The invariant sampler: every ~100 ms one proxy, all its workers.
    stop = threading.Event()
    inv = {"samples": 0, "violations": [], "errors": [], "max_pending": 0}

    def sampler():
        k = 0
        while not stop.is_set():
            p = proxies[k % len(proxies)]
            k += 1
            try:
                n, bad = invariant_sample(p, APEX, history)
                inv["samples"] += n
                inv["violations"] += bad
                for v in worker_views(p, APEX):
                    inv["max_pending"] = max(inv["max_pending"], v["pending"])
            except (OSError, HarnessError, KeyError, ValueError) as e:
                inv["errors"].append(repr(e))
            stop.wait(0.1)

    samp = threading.Thread(target=sampler, daemon=True)
    samp.start()

    converge, shift, unconverged, kills = [], [], [], []
    t_begin = time.monotonic()
    try:
        for k in range(1, cycles + 1):
            for p in proxies + [ctl]:
                if not p.proc.alive():
                    raise HarnessError(f"{getattr(p, 'name', 'controller')} exited during cycle {k}")
            if not inst.alive():
                raise HarnessError(f"an instances process exited during cycle {k}")
            canary = inst.spawn(PER_SERVICE, f"c{k}-")
            weight = CANARY_WEIGHTS[k % len(CANARY_WEIGHTS)]
            # 1. deploy the canary and shift weight to it: 16 endpoints.
            old = ctl.served().get(APEX, {}).get("version")
            ctl.write_services(services_yaml(stable, canary, weight))
            version, eps = ctl.wait_version_change(APEX, old)
            history.append((version, len(eps)))
            took = wait_all(proxies, addrs(stable) + addrs(canary), CONVERGE_BOUND_S)
            if took is None:
                unconverged.append((k, "shift"))
            else:
                shift.append(took)
            # 2. promote: the stable service's endpoints are replaced by the canary's.
            old = ctl.served()[APEX]["version"]
            t_write = time.monotonic()
            ctl.write_services(services_yaml(canary, [], 0))
            version, eps = ctl.wait_version_change(APEX, old)
            history.append((version, len(eps)))
            took = wait_all(proxies, addrs(canary), CONVERGE_BOUND_S)
            if took is None:
                unconverged.append((k, "promote"))
            else:
                converge.append(time.monotonic() - t_write)
            # 3. the old stable instances are deleted.
            time.sleep(IN_FLIGHT_GRACE_S)
            kills.append((k, inst.kill(stable)))
            stable = canary
            if k % 50 == 0:
                log(f"cycle {k}/{cycles}: {time.monotonic() - t_begin:.0f} s, invariant samples {inv['samples']}, "
                    f"violations {len(inv['violations'])}")
    finally:
        elapsed = time.monotonic() - t_begin
        time.sleep(1.0)
        stop.set()
        samp.join(10)
        with open(stop_file, "w"):
            pass
    loads = []
    deadline = time.monotonic() + 30
    for out in outs:
        while not os.path.exists(out) and time.monotonic() < deadline:
            time.sleep(0.1)
        if not os.path.exists(out):
            raise HarnessError(f"load generator did not report ({out})")
        with open(out) as f:
            loads.append(json.load(f))

    stats = inst.stats()
    killed = [s for s in stats if s["killed_at"] is not None]
    late = [(s["name"], s["late_count"], round(s["late"][0] - s["killed_at"], 3)) for s in killed if s["late_count"]]
    late_conns = [(s["name"], s["late_connections"]) for s in killed if s["late_connections"]]
    served_before_kill = sum(1 for s in killed if s["count"] > 0)
    codes = {}
    for l in loads:
        for c, n in l["codes"].items():
            codes[c] = codes.get(c, 0) + n
    started = sum(l["started"] for l in loads)
    seconds = max(l["seconds"] for l in loads)
    metrics = [p.metrics() for p in proxies]
    res = {
        "cycles": cycles, "elapsed": elapsed, "killed": len(killed), "served_before_kill": served_before_kill,
        "late": late, "late_connections": late_conns, "invariant": inv, "unconverged": unconverged,
        "converge_p50_ms": percentile(converge, 50) * 1000, "converge_p99_ms": percentile(converge, 99) * 1000,
        "converge_max_ms": max(converge) * 1000 if converge else None,
        "shift_p50_ms": percentile(shift, 50) * 1000,
        "codes": codes, "errors": [e for l in loads for e in l["errors"]][:10], "started": started,
        "achieved_rate": started / seconds, "skipped": sum(l["skipped"] for l in loads),
        "latency_p99_ms": max(l["p99_ms"] for l in loads),
        "resubscribes": sum(m.sum("weft_discovery_resubscribes_total") for m in metrics),
        "nacks": sum(m.sum("weft_xds_nacks_sent_total") for m in metrics),
        "retries": sum(m.sum("weft_retries_total") for m in metrics),
    }
    log(f"{cycles} promotion cycles in {elapsed:.0f} s; instances killed {len(killed)}, of which served traffic "
        f"before their kill: {served_before_kill}")
    log(f"promotion write -> every worker of the 3 proxies applied: p50 {res['converge_p50_ms']:.0f} ms, "
        f"p99 {res['converge_p99_ms']:.0f} ms, max {res['converge_max_ms']:.0f} ms; weight shift p50 "
        f"{res['shift_p50_ms']:.0f} ms; not converged within {CONVERGE_BOUND_S} s: {unconverged[:10]}")
    log(f"requests reaching a killed instance: {late[:10]}; connections to a killed instance: {late_conns[:10]} "
        f"(made before the kill and still in the listen backlog at it: "
        f"{sum(s['accepted_at_kill'] for s in killed)})")
    log(f"invariant: {inv['samples']} worker samples, violations {inv['violations'][:5]}, sampling errors "
        f"{inv['errors'][:3]}, max pending {inv['max_pending']}")
    log(f"client: {started} calls in {seconds:.0f} s = {res['achieved_rate']:.0f}/s (target {rate}/s; "
        f"{res['skipped']} not sent: in-flight cap), status {codes}, p99 {res['latency_p99_ms']:.0f} ms; "
        f"errors {res['errors'][:5]}")
    log(f"proxies: retries {res['retries']:.0f}, self-heal resubscribes {res['resubscribes']:.0f}, "
        f"NACKs {res['nacks']:.0f}")
    return res


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cycles", type=int, default=200)
    ap.add_argument("--rate", type=float, default=1000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()
    env = Env("incident001", keep=args.keep)
    ok = False
    try:
        try:
            r = run(env, args.cycles, args.rate, args.workers)
        except HarnessError as e:
            print(f"FAIL: {e}")
            return 1
        errors = sum(n for c, n in r["codes"].items() if c != "OK")
        checks = {
            "no request reached an instance after it was killed": not r["late"],
            "no connection reached an instance after it was killed": not r["late_connections"],
            "pending + ready + failed == the applied set on every worker at every sample":
                not r["invariant"]["violations"] and r["invariant"]["samples"] > 0 and not r["invariant"]["errors"],
            f"every promotion applied by every proxy within {CONVERGE_BOUND_S} s": not r["unconverged"],
            "the clients saw 0 errors": errors == 0 and r["codes"].get("OK", 0) > 0,
            "killed instances had served traffic (the check is not vacuous)":
                r["served_before_kill"] >= 0.9 * r["killed"],
            f"load reached at least 80 % of {args.rate}/s": r["achieved_rate"] >= 0.8 * args.rate,
        }
        for name, good in checks.items():
            print(f"{'PASS' if good else 'FAIL'}: {name}")
        ok = all(checks.values())
    finally:
        env.close(failed=not ok)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
