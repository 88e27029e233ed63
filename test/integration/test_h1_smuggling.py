"""HTTP/1 request smuggling and malformed framing: each case gets 400, is counted, and never reaches the upstream."""
import os
import sys
import time

sys.path.insert(0, os.path.join(os.environ.get("WEFT_SOURCE") or os.path.join(os.path.dirname(__file__), "..", ".."),
                                "test", "lib"))
from weft_harness import *  # noqa: E402,F403

H = b"Host: api.test\r\n"
CASES = {
    "content-length-and-transfer-encoding":
        b"POST /a HTTP/1.1\r\n" + H + b"Content-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\n" + H + b"\r\n",
    "two-different-content-lengths":
        b"POST /a HTTP/1.1\r\n" + H + b"Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
    "content-length-list-different":
        b"POST /a HTTP/1.1\r\n" + H + b"Content-Length: 5, 6\r\n\r\nhello!",
    "obs-fold":
        b"GET /a HTTP/1.1\r\n" + H + b"X-Folded: a\r\n b\r\n\r\n",
    "bare-cr-in-value":
        b"GET /a HTTP/1.1\r\n" + H + b"X-Bad: a\rb\r\n\r\n",
    "space-before-colon":
        b"GET /a HTTP/1.1\r\n" + H + b"X-Spaced : a\r\n\r\n",
    "bad-chunk-size":
        b"POST /a HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
    "chunk-size-overflow":
        b"POST /a HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\nffffffffffffffffff1\r\nhello\r\n0\r\n\r\n",
    "negative-content-length":
        b"POST /a HTTP/1.1\r\n" + H + b"Content-Length: -1\r\n\r\n",
    "two-host-headers":
        b"GET /a HTTP/1.1\r\n" + H + b"Host: other.test\r\n\r\n",
}


class Smuggling(WeftTestCase):
    def test_each_case_rejected_counted_and_not_forwarded(self):
        echo = self.env.peer("h1-echo")
        weft = self.env.weft(clusters=[cluster("api.test:80", [echo.addr]), cluster("other.test:80", [echo.addr])])
        # Control: a well-formed request does reach the echo server.
        status, _, _ = h1_request(weft.port, "POST", "/ok", host="api.test", body=b"hello")
        self.assertEqual(status, 200)
        failures = []
        for name, data in CASES.items():
            before = weft.metrics().sum("weft_http_rejected_requests_total")
            resp = raw_exchange(weft.port, data, timeout=3)
            status = parse_status_line(resp)
            head = resp.split(b"\r\n\r\n")[0].decode("latin-1")
            after = weft.metrics().sum("weft_http_rejected_requests_total")
            problems = []
            if status != 400:
                problems.append(f"status {status} (want 400)")
            if resp.count(b"HTTP/1.") > 1:
                problems.append("more than one response: a second request was smuggled through")
            if "weft-proxy-error: malformed-request" not in head.lower():
                problems.append("no weft-proxy-error: malformed-request header")
            if after - before < 1:
                problems.append(f"weft_http_rejected_requests_total went {before} -> {after}")
            if problems:
                failures.append(f"{name}: {'; '.join(problems)}\n    sent {data!r}\n    got  {resp[:300]!r}")
            print(f"{name}: status {status}, rejected counter {before} -> {after}")
        time.sleep(0.2)
        with open(echo.log_path) as f:
            reached = [l for l in f.read().splitlines() if l.startswith("REQ")]
        if len(reached) != 1:
            failures.append(f"the upstream saw {len(reached) - 1} malformed request(s): {reached[1:]}")
        self.assertFalse(failures, "\n" + "\n".join(failures))


if __name__ == "__main__":
    main()
