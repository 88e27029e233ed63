#!/usr/bin/python3
"""Incident 002 replay: repeated gRPC metadata keys, header blocks split over
CONTINUATION frames, HPACK dynamic table sizes 0, 256 and 4096.

See README.md in this folder. Exit 0 = every check held; otherwise the
failures are listed with what was sent and what came back.
"""
import hashlib
import os
import re
import sys
import time

sys.path.insert(0, os.path.join(os.environ.get("WEFT_SOURCE") or os.path.join(os.path.dirname(__file__), "..", "..", ".."),
                                "test", "lib"))
from weft_harness import (Env, HarnessError, cluster, grpc_channel, h1_request, import_stubs,  # noqa: E402
                          nghttp_headers, weft_bin)

TABLE_SIZES = (0, 256, 4096)
REPEATS = 5               # requests per connection and table size: the dynamic table carries state across them
KEYS = ("actorscopes", "originatorscopes", "roles")
ENTRIES = 240


def build_metadata(seed):
    """~240 repeated text entries plus repeated binary entries; > 16 KiB of header block."""
    md = []
    for i in range(ENTRIES):
        key = KEYS[i % len(KEYS)]
        length = 40 + (i * 37 + seed) % 120
        body = hashlib.sha256(f"{seed}/{i}".encode()).hexdigest() * 4
        # Some values repeat exactly (dynamic-table hits), most are new (evictions).
        value = f"{key}:{i % 7 if i % 5 == 0 else i}:" + body[:length]
        md.append((key, value))
    for i in range(20):
        md.append(("scopes-bin", hashlib.sha256(f"bin{seed}/{i}".encode()).digest() + bytes([0, 255, i])))
    return md


def block_bytes(md):
    return sum(len(k) + len(v) + 32 for k, v in md)


def describe_difference(sent, got):
    """None when `got` equals `sent` (same entries, same order, byte-equal); else the first difference."""
    if got == sent:
        return None
    if len(got) != len(sent):
        return f"{len(sent)} entries sent, {len(got)} received"
    for i, (a, b) in enumerate(zip(sent, got)):
        if a != b:
            return f"entry {i}: sent {a[0]}: {a[1]!r:.80}, received {b[0]}: {b[1]!r:.80}"
    return "differs"


def self_test_checker():
    """The comparison must catch a dropped entry, a swap of two repeated entries and a one-byte change."""
    md = build_metadata(1)
    dropped = md[:100] + md[101:]
    swapped = list(md)
    swapped[3], swapped[6] = swapped[6], swapped[3]  # both 'actorscopes': only order distinguishes them
    changed = list(md)
    changed[200] = (changed[200][0], changed[200][1][:-1] + "x")
    problems = []
    for name, bad in (("dropped", dropped), ("swapped", swapped), ("changed", changed)):
        if describe_difference(md, bad) is None:
            problems.append(f"checker missed a {name} entry")
    if describe_difference(md, list(md)) is not None:
        problems.append("checker reports a difference for identical lists")
    return problems


def ours(md):
    names = set(KEYS) | {"scopes-bin"}
    return [(k, v) for k, v in md if k in names]


def grpc_round(env, stub, pb, label, table_size, failures):
    for r in range(REPEATS):
        md = build_metadata(seed=table_size * 100 + r)
        try:
            _, call = stub.EchoMetadata.with_call(pb.EchoRequest(message="m", echo_to="both"), metadata=md, timeout=15)
        except Exception as e:  # grpc.RpcError: the incident's symptom (502 / UNAVAILABLE / INTERNAL)
            code = e.code() if hasattr(e, "code") else None
            failures.append(f"{label} table={table_size} request {r}: RPC failed {code} {getattr(e, 'details', lambda: e)()}"
                            f" (sent {len(md)} entries, {block_bytes(md)} bytes)")
            continue
        for where, got in (("initial metadata", call.initial_metadata()), ("trailers", call.trailing_metadata())):
            d = describe_difference(md, ours(got))
            if d:
                failures.append(f"{label} table={table_size} request {r} {where}: {d}")
    print(f"  {label}: table size {table_size}: {REPEATS} requests, {len(md)} entries, ~{block_bytes(md)} bytes each way")


def nghttp_round(url, authority, table_size, label, failures, want_continuation):
    for r in range(2):
        md = [(k, v) for k, v in build_metadata(seed=7000 + table_size + r) if not k.endswith("-bin")]
        args = [f"{k}: {v}" for k, v in md]
        streams, res = nghttp_headers(url, headers=args + [f":authority: {authority}"], header_table_size=table_size,
                                      encoder_table_size=table_size, timeout=20)
        if res.returncode != 0 or len(streams) != 1:
            failures.append(f"{label} table={table_size}: nghttp exit {res.returncode}, streams {list(streams)}: "
                            f"{(res.stderr or res.stdout)[-1500:]}")
            continue
        got = next(iter(streams.values()))
        status = dict(got).get(":status")
        if status != "200":
            failures.append(f"{label} table={table_size}: :status {status}; headers {got[:8]}")
            continue
        d = describe_difference(md, ours(got))
        if d:
            failures.append(f"{label} table={table_size} nghttp request {r}: {d}")
        # nghttp -v reports HEADERS + CONTINUATION as one "recv HEADERS frame <length=N>" with N the whole
        # block; nghttp allows frames of at most 16384 bytes, so N > 16384 proves CONTINUATION frames crossed.
        lengths = [int(x) for x in re.findall(r"recv HEADERS frame <length=(\d+)", res.stdout)]
        if want_continuation and not any(n > 16384 for n in lengths):
            failures.append(f"{label} table={table_size}: response header blocks of {lengths} bytes: "
                            f"none needed CONTINUATION, the replay did not cover it")
    print(f"  {label}: nghttp table size {table_size}: ok so far ({len(failures)} failures total)")


def h1_round(weft, host, table_size, failures):
    """HTTP/1.1 client, HTTP/2 upstream: the same repeated headers cross both codecs."""
    md = [(k, v) for k, v in build_metadata(seed=9000 + table_size) if not k.endswith("-bin")]
    try:
        status, headers, body = h1_request(weft.port, "GET", "/", host=host, headers=md, timeout=15)
    except OSError as e:
        failures.append(f"h1->h2 table={table_size}: {e}")
        return
    if status != 200:
        failures.append(f"h1->h2 table={table_size}: status {status} {dict(headers).get('weft-proxy-error')} {body[:200]!r}")
        return
    d = describe_difference(md, ours([(k.lower(), v) for k, v in headers]))
    if d:
        failures.append(f"h1->h2 table={table_size}: {d}")
    print(f"  weft: h1 client -> h2 upstream, table size {table_size}: checked")


def main():
    failures = self_test_checker()
    if failures:
        print("FAIL: the checker itself is broken:\n" + "\n".join(failures))
        return 1
    try:
        weft_bin()
    except HarnessError as e:
        print(f"FAIL: {e}")
        return 1
    env = Env("incident-002")
    ok = False
    try:
        pb, pbg = import_stubs(env)
        servers = {n: env.grpc_server("--hpack-table-size", n, name=f"grpc-{n}") for n in TABLE_SIZES}
        h2echo = {n: env.peer("h2-echo-headers", "--header-table-size", n, name=f"h2echo-{n}") for n in TABLE_SIZES}
        clusters = [cluster(f"meta-{n}.test:80", [servers[n].addr]) for n in TABLE_SIZES] + \
                   [cluster(f"h2echo-{n}.test:80", [h2echo[n].addr]) for n in TABLE_SIZES] + \
                   [cluster(f"h1to2-{n}.test:80", [h2echo[n].addr], protocol="http2") for n in TABLE_SIZES]
        md = build_metadata(0)
        print(f"metadata: {len(md)} entries ({sum(1 for k, _ in md if k == 'roles')} x roles), "
              f"header block ~{block_bytes(md)} bytes (> 16384: needs CONTINUATION)")
        assert block_bytes(md) > 16384

        failures = []
        print("control: direct to the peers (no proxy)")
        for n in TABLE_SIZES:
            opts = [("grpc.http2.hpack_table_size.decoder", n), ("grpc.http2.hpack_table_size.encoder", n)]
            ch = grpc_channel(servers[n].addr, authority=f"meta-{n}.test:80", options=opts)
            grpc_round(env, pbg.EchoStub(ch), pb, "direct grpc", n, failures)
            ch.close()
            nghttp_round(f"http://{h2echo[n].addr}/", f"h2echo-{n}.test", n, "direct", failures, want_continuation=True)
        if failures:
            print("FAIL: the control run (no proxy) already fails, so the replay proves nothing:\n" + "\n".join(failures))
            return 1

        weft = env.weft(clusters=clusters)
        print(f"through weft ({weft.addr})")
        for n in TABLE_SIZES:
            opts = [("grpc.http2.hpack_table_size.decoder", n), ("grpc.http2.hpack_table_size.encoder", n)]
            ch = grpc_channel(weft.addr, authority=f"meta-{n}.test:80", options=opts)
            grpc_round(env, pbg.EchoStub(ch), pb, "weft grpc", n, failures)
            ch.close()
            nghttp_round(f"http://{weft.addr}/", f"h2echo-{n}.test", n, "weft", failures, want_continuation=True)
            h1_round(weft, f"h1to2-{n}.test", n, failures)
        time.sleep(0.1)
        if not weft.proc.alive():
            failures.append(f"weft died (exit {weft.proc.returncode()})")
        if failures:
            print("FAIL:\n" + "\n".join(failures))
            return 1
        print("PASS: every header block arrived complete, in order and byte-equal, for table sizes "
              f"{', '.join(map(str, TABLE_SIZES))}")
        ok = True
        return 0
    except HarnessError as e:
        print(f"FAIL: {e}")
        return 1
    finally:
        env.close(failed=not ok)


if __name__ == "__main__":
    sys.exit(main())
