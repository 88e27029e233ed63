#!/usr/bin/python3
"""Incident 005 replay: server-streaming gRPC whose upstream connection is
severed (grpcio max_connection_age, and a raw h2 server that drops the
connection with no trailers). Through weft the client must see UNAVAILABLE,
never INTERNAL/UNKNOWN. See README.md. Exit 0 = every check held.
"""
import os
import sys
import time

sys.path.insert(0, os.path.join(os.environ.get("WEFT_SOURCE") or os.path.join(os.path.dirname(__file__), "..", "..", ".."),
                                "test", "lib"))
from weft_harness import Env, HarnessError, cluster, grpc_channel, import_stubs, weft_bin  # noqa: E402

import grpc  # noqa: E402

AGE_MS = 1000
GRACE_MS = 300
CYCLES = 20
CONTROL_CYCLES = 4


def md_value(md, key):
    for k, v in (md or ()):
        if k == key:
            return v
    return None


def stream_once(stub, pb, timeout=15):
    """Runs one ServerStream until it ends. Returns (messages, code, details, trailers dict)."""
    call = stub.ServerStream(pb.EchoRequest(message="age", count=0, interval_ms=20), timeout=timeout)
    n = 0
    try:
        for _ in call:
            n += 1
        return n, grpc.StatusCode.OK, "", dict(call.trailing_metadata() or ())
    except grpc.RpcError as e:
        return n, e.code(), e.details(), dict(e.trailing_metadata() or ())


def run_cycles(stub, pb, cycles, label):
    out = []
    for i in range(cycles):
        t0 = time.monotonic()
        n, code, details, trailers = stream_once(stub, pb)
        out.append((n, code, details, trailers))
        print(f"  {label} cycle {i:2d}: {n:3d} messages in {time.monotonic() - t0:4.1f}s, then {code.name} "
              f"{details!r} weft-proxy-error={trailers.get('weft-proxy-error')}")
    return out


def part_max_connection_age(env, pb, pbg, failures):
    print(f"part 1: grpcio server with max_connection_age {AGE_MS} ms, grace {GRACE_MS} ms")
    server = env.grpc_server("--max-connection-age-ms", AGE_MS, "--max-connection-age-grace-ms", GRACE_MS,
                             name="grpc-aged")
    ch = grpc_channel(server.addr, authority="aged.test:80")
    direct = run_cycles(pbg.EchoStub(ch), pb, CONTROL_CYCLES, "direct")
    ch.close()
    direct_codes = {c for _, c, _, _ in direct}
    direct_details = {d for _, _, d, _ in direct}
    if direct_codes != {grpc.StatusCode.UNAVAILABLE}:
        failures.append(f"control: directly the client saw {direct_codes}, expected UNAVAILABLE only; "
                        f"the replay's premise does not hold")
        return
    weft = env.weft(clusters=[cluster("aged.test:80", [server.addr])], name="weft-aged")
    ch = grpc_channel(weft.addr, authority="aged.test:80")
    through = run_cycles(pbg.EchoStub(ch), pb, CYCLES, "weft")
    ch.close()
    for i, (n, code, details, trailers) in enumerate(through):
        if code != grpc.StatusCode.UNAVAILABLE:
            failures.append(f"max-age cycle {i}: client saw {code.name} {details!r} (want UNAVAILABLE); "
                            f"trailers {trailers}")
        if n < 1:
            failures.append(f"max-age cycle {i}: no message before the stream ended ({code.name} {details!r}): "
                            f"weft did not move to a new upstream connection after the GOAWAY")
        if code == grpc.StatusCode.UNAVAILABLE and "weft-proxy-error" not in trailers and details not in direct_details:
            failures.append(f"max-age cycle {i}: the server's own status message came through changed: {details!r}, "
                            f"directly it is one of {sorted(direct_details)}")
    proxy_made = sum(1 for _, _, _, t in through if "weft-proxy-error" in t)
    print(f"  {proxy_made} of {CYCLES} stream ends were synthesized by weft, "
          f"{CYCLES - proxy_made} carried the server's own trailers")
    if not weft.proc.alive():
        failures.append("weft died during the max-age cycles")


def part_dropped_connection(env, pb, pbg, failures):
    for mode, messages in (("fin", 3), ("rst", 3), ("goaway", 3), ("fin", 0)):
        label = f"drop mode={mode} messages={messages}"
        print(f"part 2: raw h2 server sends {messages} messages then drops the connection ({mode}), no trailers")
        srv = env.peer("grpc-drop", "--messages", messages, "--interval-ms", 30, "--mode", mode,
                       name=f"drop-{mode}-{messages}")
        ch = grpc_channel(srv.addr, authority="drop.test:80")
        n, code, details, _ = stream_once(pbg.EchoStub(ch), pb)
        ch.close()
        print(f"  direct: {n} messages then {code.name} {details!r}")
        if code != grpc.StatusCode.UNAVAILABLE or n != messages:
            failures.append(f"{label} control: directly the client saw {n} messages then {code.name} {details!r}; "
                            f"the replay's premise does not hold")
            continue
        weft = env.weft(clusters=[cluster("drop.test:80", [srv.addr])], name=f"weft-drop-{mode}-{messages}")
        ch = grpc_channel(weft.addr, authority="drop.test:80")
        for i, (n, code, details, trailers) in enumerate(run_cycles(pbg.EchoStub(ch), pb, 5, "weft")):
            if code != grpc.StatusCode.UNAVAILABLE:
                failures.append(f"{label} cycle {i}: client saw {code.name} {details!r} (want UNAVAILABLE); "
                                f"trailers {trailers}")
            if n != messages:
                failures.append(f"{label} cycle {i}: {n} of the {messages} messages sent before the drop arrived")
            if trailers.get("weft-proxy-error") != "upstream-reset":
                failures.append(f"{label} cycle {i}: weft-proxy-error trailer is {trailers.get('weft-proxy-error')!r}, "
                                f"want 'upstream-reset' (trailers {trailers})")
        ch.close()
        m = weft.metrics()
        counted = m.sum("weft_proxy_errors_total", code="upstream-reset")
        print(f"  weft_proxy_errors_total{{code=upstream-reset}} = {counted:.0f}")
        if counted < 5:
            failures.append(f"{label}: weft_proxy_errors_total{{code=\"upstream-reset\"}} is {counted}, want >= 5")
        weft.stop()


def main():
    try:
        weft_bin()
    except HarnessError as e:
        print(f"FAIL: {e}")
        return 1
    env = Env("incident-005")
    failures = []
    ok = False
    try:
        pb, pbg = import_stubs(env)
        part_max_connection_age(env, pb, pbg, failures)
        part_dropped_connection(env, pb, pbg, failures)
        if failures:
            print("FAIL:\n" + "\n".join(failures))
            return 1
        print("PASS: every severed stream reached the client as UNAVAILABLE")
        ok = True
        return 0
    except HarnessError as e:
        print(f"FAIL: {e}")
        return 1
    finally:
        env.close(failed=not ok)


if __name__ == "__main__":
    sys.exit(main())
