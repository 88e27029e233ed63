#!/usr/bin/python3
"""Fixed-rate gRPC unary load with real gRPC status checking (grpcio).

    loadgen.py --target 127.0.0.1:P --authority api.test:80 --rate R --stubs DIR --stop-file F --out F.json

Sends weft.test.Echo/Echo calls at R per second (open loop: a call is started
on schedule whatever the others do, at most --max-in-flight at once) until the
stop file exists, then waits for the calls in flight and writes JSON: calls
started and finished, status counts, the first errors (time, code, details,
weft-proxy-error), latency percentiles and the achieved rate. grpcio checks
grpc-status itself (h2load would count any 200 as success). Client retries
are off: every failure the proxies let through is counted.
"""
import argparse
import json
import os
import sys
import threading
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--target", required=True)
    ap.add_argument("--authority", required=True)
    ap.add_argument("--rate", type=float, required=True)
    ap.add_argument("--stubs", required=True)
    ap.add_argument("--stop-file", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--max-in-flight", type=int, default=200)
    ap.add_argument("--timeout", type=float, default=10.0)
    args = ap.parse_args()
    sys.path.insert(0, args.stubs)
    import grpc
    import echo_pb2
    import echo_pb2_grpc

    ch = grpc.insecure_channel(args.target, options=[("grpc.enable_retries", 0),
                                                     ("grpc.default_authority", args.authority)])
    stub = echo_pb2_grpc.EchoStub(ch)
    req = echo_pb2.EchoRequest(message="canary")
    lock = threading.Lock()
    slots = threading.Semaphore(args.max_in_flight)
    codes, errors, lat = {}, [], []
    state = {"started": 0, "finished": 0, "skipped": 0}

    def done(fut, t0):
        code = fut.code()
        dt = time.monotonic() - t0
        with lock:
            state["finished"] += 1
            codes[code.name] = codes.get(code.name, 0) + 1
            lat.append(dt)
            if code != grpc.StatusCode.OK and len(errors) < 50:
                md = dict(fut.trailing_metadata() or ())
                errors.append({"t": time.time(), "code": code.name, "details": fut.details(),
                               "weft_proxy_error": md.get("weft-proxy-error")})
        slots.release()

    interval = 1.0 / args.rate
    t_begin = time.monotonic()
    next_t = t_begin
    i = 0
    while True:
        if i % 100 == 0 and os.path.exists(args.stop_file):
            break
        i += 1
        now = time.monotonic()
        if next_t > now:
            time.sleep(next_t - now)
        next_t += interval
        if not slots.acquire(timeout=1.0):
            with lock:
                state["skipped"] += 1  # overload: reported, never hidden
            continue
        t0 = time.monotonic()
        fut = stub.Echo.future(req, timeout=args.timeout)
        with lock:
            state["started"] += 1
        fut.add_done_callback(lambda f, t0=t0: done(f, t0))
    t_end = time.monotonic()
    deadline = time.monotonic() + args.timeout + 5
    while time.monotonic() < deadline:
        with lock:
            if state["finished"] >= state["started"]:
                break
        time.sleep(0.05)
    lat.sort()

    def pct(p):
        return lat[min(len(lat) - 1, int(p / 100 * (len(lat) - 1)))] if lat else None

    with lock:
        out = dict(state, codes=codes, errors=errors, seconds=t_end - t_begin,
                   rate=state["started"] / max(1e-9, t_end - t_begin),
                   p50_ms=(pct(50) or 0) * 1000, p99_ms=(pct(99) or 0) * 1000, max_ms=(lat[-1] if lat else 0) * 1000)
    with open(args.out + ".tmp", "w") as f:
        json.dump(out, f)
    os.replace(args.out + ".tmp", args.out)
    ch.close()


if __name__ == "__main__":
    main()
