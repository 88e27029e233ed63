#!/usr/bin/python3
"""Endpoint-set churn soak (issue 3): 1 000 random endpoint-set changes in 60 s under load.

The full-size version of test/integration/test_churn.py (which runs 200 changes
in 20 s inside `make test`); both use run_churn() from that file, so the checks
are the same: per-worker pending + ready + failed == the endpoint set in force
(sampled every 100 ms), no request reaching an endpoint more than 100 ms after
its removal was applied, RSS flat, no failed client requests.

  /usr/bin/python3 bench/soak/churn.py [--weft build/bin/weft] [--changes 1000] [--seconds 60] [--seed N]
Exit status 0 when every check holds, 1 otherwise.
"""
import argparse
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(SOURCE, "test", "lib"))
sys.path.insert(0, os.path.join(SOURCE, "test", "integration"))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--weft", default=None)
    ap.add_argument("--changes", type=int, default=1000)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--client-threads", type=int, default=8)
    ap.add_argument("--rss-growth-kb", type=int, default=4096)
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()
    if args.weft:
        os.environ["WEFT_BIN"] = os.path.abspath(args.weft)
    from weft_harness import Env, HarnessError  # noqa: E402
    from test_churn import LATE_BOUND_S, run_churn  # noqa: E402

    env = Env("churn-soak", keep=args.keep)
    ok = False
    try:
        try:
            r = run_churn(env, changes=args.changes, seconds=args.seconds, seed=args.seed,
                          client_threads=args.client_threads)
        except HarnessError as e:
            print(f"FAIL: {e}")
            return 1
        growth = r["rss_end"]["VmRSS"] - r["rss_warm"]["VmRSS"]
        failed = {k: v for k, v in r["requests"].items() if k[0] != 200}
        checks = {
            "every change applied by every worker within 5 s": not r["unacked"],
            "invariant pending+ready+failed == set size at every sample": not r["violations"],
            f"no request > {LATE_BOUND_S * 1000:.0f} ms after removal applied": not r["late"],
            f"RSS growth {growth} kB <= {args.rss_growth_kb} kB": growth <= args.rss_growth_kb,
            "no failed client requests": not failed,
        }
        for name, good in checks.items():
            print(f"{'PASS' if good else 'FAIL'}: {name}")
        ok = all(checks.values())
    finally:
        env.close(failed=not ok)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
