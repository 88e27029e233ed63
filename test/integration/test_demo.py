"""`weft demo` and `weft sample-server` (issue 5 item 5, docs/demo.md).

- The demo's short run (--duration 25 --no-tty) exits 0, its summary counts
  requests > 0 with 0 errors, every story step ran and held, and no process it
  started is left behind (found by the WEFT_DEMO_DIR marker every child
  inherits; the test first sees the children running, so the scan is real).
- SIGINT during the demo stops everything cleanly (exit 130, nothing left).
- SIGKILL of the demo takes every child with it (PR_SET_PDEATHSIG).
- The sample server speaks real gRPC (grpcio client: unary echo, initial
  metadata, UNIMPLEMENTED for unknown methods) and h2c / HTTP/1.1 (curl),
  and with a short max connection age grpcio keeps succeeding across its GOAWAYs.
"""
import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.environ.get("WEFT_SOURCE") or os.path.join(os.path.dirname(__file__), "..", ".."),
                                "test", "lib"))
from weft_harness import *  # noqa: E402,F403

STEPS = ["a1", "a2", "a3", "a4", "b1", "b2", "c1", "c2", "c3", "d1", "d2"]
# The controller, two proxies and six sample servers run from the start.
MIN_CHILDREN = 9
CLEAR = "\x1b[H\x1b[2J"  # the live view's redraw


def demo_processes(folder):
    """PIDs of live processes whose environment carries WEFT_DEMO_DIR=<folder>."""
    marker = f"WEFT_DEMO_DIR={folder}".encode()
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/environ", "rb") as f:
                env = f.read().split(b"\0")
            with open(f"/proc/{pid}/stat") as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if marker in env and state != "Z":
            found.append(int(pid))
    return found


class DemoRun:
    """`weft demo` as a child, its output collected into a file; with tty=True on a pseudo-terminal
    (drained by a thread, so the demo never blocks on it)."""

    def __init__(self, env, *args, tty=False):
        self.log_path = env.path("demo.out")
        self.log = open(self.log_path, "wb")
        self.reader = None
        if tty:
            master, slave = os.openpty()
            self.p = subprocess.Popen([weft_bin(), "demo", *args], stdout=slave, stderr=slave,
                                      stdin=subprocess.DEVNULL, start_new_session=True)
            os.close(slave)
            self.reader = threading.Thread(target=self._drain, args=(master,), daemon=True)
            self.reader.start()
        else:
            self.p = subprocess.Popen([weft_bin(), "demo", *args], stdout=self.log, stderr=subprocess.STDOUT,
                                      stdin=subprocess.DEVNULL, start_new_session=True)

    def _drain(self, fd):
        while True:
            try:
                data = os.read(fd, 65536)
            except OSError:  # EIO once the demo (the last writer) exits
                break
            if not data:
                break
            self.log.write(data)
            self.log.flush()
        os.close(fd)

    def output(self):
        self.log.flush()
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def wait_for(self, pattern, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            m = re.search(pattern, self.output())
            if m:
                return m
            if self.p.poll() is not None:
                break
            time.sleep(0.1)
        raise AssertionError(f"no {pattern!r} in the demo's output after {timeout}s:\n{self.output()}")

    def folder(self):
        self.dir = self.wait_for(r"demo: working folder (\S+)", 15).group(1)
        return self.dir

    def wait_children(self, folder, timeout=30):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            pids = demo_processes(folder)
            if len(pids) >= MIN_CHILDREN:
                return pids
            time.sleep(0.1)
        raise AssertionError(f"only {len(demo_processes(folder))} demo children seen:\n{self.output()}")

    def close(self):
        if self.p.poll() is None:
            self.p.kill()
            self.p.wait(10)
        if self.reader:
            self.reader.join(5)
        self.log.close()
        # A demo that failed (or was killed) keeps its folder for debugging;
        # the test's own logs already hold its output.
        if getattr(self, "dir", None):
            shutil.rmtree(self.dir, ignore_errors=True)


def assert_nothing_left(test, folder, run, timeout=5.0):
    deadline = time.monotonic() + timeout
    while demo_processes(folder) and time.monotonic() < deadline:
        time.sleep(0.05)
    left = demo_processes(folder)
    for pid in left:  # never leave them running, even when failing
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    test.assertEqual(left, [], f"processes left behind by the demo: {left}\n{run.output()}")


class DemoTest(WeftTestCase):
    def run_demo(self, *args, tty=False):
        run = DemoRun(self.env, *args, tty=tty)
        self.addCleanup(run.close)
        return run

    def test_short_demo_plays_every_step_without_errors(self):
        run = self.run_demo("--duration", "25", "--no-tty")
        folder = run.folder()
        t0 = time.monotonic()
        children = run.wait_children(folder)
        print(f"demo children running: {len(children)}")
        rc = run.p.wait(90)
        took = time.monotonic() - t0
        out = run.output()
        print(out)
        self.assertEqual(rc, 0, out)
        m = re.search(r"demo: result requests=(\d+) errors=(\d+) p99_ms=([\d.]+) steps=(\d+)/(\d+) leftovers=(\d)", out)
        self.assertIsNotNone(m, out)
        requests, errors, p99, ok_steps, all_steps, leftovers = (float(x) for x in m.groups())
        print(f"requests={requests:.0f} errors={errors:.0f} p99={p99} ms steps={ok_steps:.0f}/{all_steps:.0f} "
              f"run {took:.1f} s")
        # 2 proxies x 3 protocols at up to 40/s each for ~22 s of traffic.
        self.assertGreater(requests, 1000)
        self.assertEqual(errors, 0)
        self.assertEqual(ok_steps, all_steps)
        self.assertEqual(all_steps, len(STEPS))
        self.assertEqual(leftovers, 0)
        for step in STEPS:
            self.assertRegex(out, rf"✓ \({step}\)", f"step {step} did not run and hold")
        # Traffic reached the instances the story moves it to.
        per_instance = dict(re.findall(r"(\S+)=(\d+)", re.search(r"per instance:(.*)", out).group(1)))
        for name in ("web-4", "web-5", "api-v2-a", "api-v2-b", "echo-3", "echo-4"):
            self.assertGreater(int(per_instance.get(name, 0)), 0, f"{name} got no traffic")
        assert_nothing_left(self, folder, run)
        self.assertFalse(os.path.exists(folder), "the temp folder was not removed")

    def test_sigint_stops_everything(self):
        # On a terminal: the live view is redrawn once a second.
        run = self.run_demo("--duration", "60", tty=True)
        folder = run.folder()
        run.wait_children(folder)
        run.wait_for(r"proxy-b.*req/s", 30)
        time.sleep(3)
        redraws = run.output().count(CLEAR)
        print(f"live view redraws before SIGINT: {redraws}")
        self.assertGreaterEqual(redraws, 3, run.output()[-3000:])
        view = run.output().split(CLEAR)[-1]
        for text in ("service", "instance", "web-1", "api-v1-a", "echo-2", "ready", "HTTP/1.1", "gRPC", "story"):
            self.assertIn(text, view)
        run.p.send_signal(signal.SIGINT)
        t0 = time.monotonic()
        rc = run.p.wait(20)
        print(f"exit {rc} {time.monotonic() - t0:.2f} s after SIGINT")
        out = run.output()
        self.assertEqual(rc, 130, out)
        self.assertIn("demo: interrupted", out)
        m = re.search(r"demo: result requests=(\d+) errors=(\d+) .* leftovers=(\d)", out)
        self.assertIsNotNone(m, out)
        self.assertGreater(int(m.group(1)), 0)
        self.assertEqual(int(m.group(3)), 0)
        assert_nothing_left(self, folder, run)
        self.assertFalse(os.path.exists(folder), "the temp folder was not removed")

    def test_killed_demo_takes_its_children(self):
        run = self.run_demo("--duration", "60", "--no-tty")
        folder = run.folder()
        run.wait_children(folder)
        run.p.kill()
        run.p.wait(10)
        assert_nothing_left(self, folder, run, timeout=5.0)


class SampleServerTest(WeftTestCase):
    def start(self, name, *args):
        p = self.env.start(name, [weft_bin(), "sample-server", "--listen", "127.0.0.1:0", "--name", name, *args])
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            m = re.search(r"listening on (127\.0\.0\.1:\d+)", tail_file(p.log_path))
            if m:
                return m.group(1)
            time.sleep(0.05)
        raise AssertionError(p.tail())

    def test_grpc_echo_with_grpcio(self):
        import grpc
        addr = self.start("s-grpc")
        pb, pbg = import_stubs(self.env)
        ch = grpc_channel(addr)
        stub = pbg.EchoStub(ch)
        resp, call = stub.Echo.with_call(pb.EchoRequest(message="hello"), timeout=5)
        self.assertEqual(resp.message, "hello")
        self.assertIn(("x-instance", "s-grpc"), call.initial_metadata())
        self.assertEqual(call.code(), grpc.StatusCode.OK)
        with self.assertRaises(grpc.RpcError) as e:
            stub.EchoMetadata(pb.EchoRequest(message="x"), timeout=5)
        self.assertEqual(e.exception.code(), grpc.StatusCode.UNIMPLEMENTED)
        ch.close()

    def test_http1_and_h2c(self):
        addr = self.start("s-http")
        code, hdrs, body, _ = curl(f"http://{addr}/a/b")
        self.assertEqual(code, 200)
        self.assertEqual(header(hdrs, "x-instance"), "s-http")
        self.assertTrue(body.startswith(b"s-http GET /a/b"), body)
        code, hdrs, body, r = curl(f"http://{addr}/h2", http2=True, extra=["-w", "%{http_version}"])
        self.assertEqual(header(hdrs, "x-instance"), "s-http")
        self.assertTrue(body.startswith(b"s-http GET /h2"), body)
        self.assertTrue(r.stdout.endswith("2"), f"not HTTP/2: {r.stdout}")

    def test_grpc_survives_max_connection_age(self):
        import grpc
        addr = self.start("s-aged", "--max-connection-age", "300ms", "--max-connection-age-grace", "2s")
        pb, pbg = import_stubs(self.env)
        ch = grpc_channel(addr)
        stub = pbg.EchoStub(ch)
        codes = {}
        deadline = time.monotonic() + 3
        n = 0
        while time.monotonic() < deadline:
            try:
                stub.Echo(pb.EchoRequest(message=f"m{n}"), timeout=5)
                codes["OK"] = codes.get("OK", 0) + 1
            except grpc.RpcError as e:
                codes[e.code().name] = codes.get(e.code().name, 0) + 1
            n += 1
            time.sleep(0.01)
        ch.close()
        print(f"calls over 3 s through 300 ms connection ages: {codes}")
        self.assertGreater(codes.get("OK", 0), 50)
        self.assertNotIn("INTERNAL", codes)
        # grpcio retries transparently what a GOAWAY refused; nothing fails.
        self.assertEqual(set(codes), {"OK"}, codes)


if __name__ == "__main__":
    main()
