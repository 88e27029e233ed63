"""`weft proxy --config`: --check-config, and exit 2 with a message naming the file and key for bad configs."""
import os
import sys

sys.path.insert(0, os.path.join(os.environ.get("WEFT_SOURCE") or os.path.join(os.path.dirname(__file__), "..", ".."),
                                "test", "lib"))
from weft_harness import *  # noqa: E402,F403

GOOD = """outbound: 127.0.0.1:{port}
admin: 127.0.0.1:{admin}
workers: 1
clusters:
  - name: api.test:80
    protocol: http2
    endpoints: [127.0.0.1:9001, {{address: 127.0.0.1:9002, weight: 2}}]
    max_requests_per_connection: 100
    connect_timeout: 250ms
"""

BAD = {
    # name: (yaml, words the message must contain)
    "unknown-top-level-key": ("outbound: 127.0.0.1:1\noutbund: 127.0.0.1:2\n", ["outbund"]),
    "bad-address": ("outbound: localhost-no-port\n", ["outbound"]),
    "bad-protocol": ("outbound: 127.0.0.1:1\nclusters:\n  - name: a.test:80\n    protocol: http3\n    endpoints: []\n",
                     ["clusters[0].protocol", "http3"]),
    "bad-duration": ("outbound: 127.0.0.1:1\nclusters:\n  - name: a.test:80\n    connect_timeout: soon\n",
                     ["clusters[0].connect_timeout"]),
    "bad-endpoint": ("outbound: 127.0.0.1:1\nclusters:\n  - name: a.test:80\n    endpoints: [127.0.0.1:1, nope]\n",
                     ["clusters[0].endpoints[1]"]),
    "zero-workers": ("outbound: 127.0.0.1:1\nworkers: 0\n", ["workers"]),
    "duplicate-cluster": ("outbound: 127.0.0.1:1\nclusters:\n  - name: a.test:80\n  - name: a.test\n",
                          ["clusters[1].name"]),
    "not-yaml": ("outbound: [unclosed\n", ["line"]),
    "empty": ("", []),
}


class Config(WeftTestCase):
    def write(self, name, text):
        p = self.env.path(f"{name}.yaml")
        with open(p, "w") as f:
            f.write(text)
        return p

    def test_check_config_accepts_good_config(self):
        p = self.write("good", GOOD.format(port=free_port(), admin=free_port()))
        r = run([weft_bin(), "proxy", "--config", p, "--check-config"], timeout=20)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

    def test_bad_configs_exit_2_naming_file_and_key(self):
        failures = []
        for name, (text, words) in BAD.items():
            p = self.write(name, text)
            for extra in (["--check-config"], []):
                try:
                    r = run([weft_bin(), "proxy", "--config", p] + extra, timeout=20)
                except subprocess.TimeoutExpired:
                    failures.append(f"{name} {extra}: weft did not exit (started with a bad config?)")
                    continue
                msg = r.stdout + r.stderr
                if r.returncode != 2:
                    failures.append(f"{name} {extra}: exit {r.returncode}, want 2: {msg.strip()}")
                for w in [p] + words:
                    if w not in msg:
                        failures.append(f"{name} {extra}: message does not name {w!r}: {msg.strip()}")
            print(f"{name}: {msg.strip()}")
        self.assertFalse(failures, "\n" + "\n".join(failures))

    def test_static_proxy_never_maps_grpc_and_a_controller_loads_the_xds_module(self):
        # A static config runs without weft-xds.so (gRPC stays out of the
        # process: idle RSS, docs/benchmarks.md); naming a controller loads it,
        # and when it cannot be loaded the config is refused naming `controller`.
        port, admin = free_port(), free_port()
        static = self.write("static", f"outbound: 127.0.0.1:{port}\nadmin: 127.0.0.1:{admin}\nworkers: 1\n")
        env = dict(os.environ, WEFT_XDS_MODULE="/nonexistent/weft-xds.so")
        proc = subprocess.Popen([weft_bin(), "proxy", "--config", static], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            wait_port(admin, timeout=10)
            with open(f"/proc/{proc.pid}/maps") as f:
                maps = f.read()
            self.assertNotIn("libgrpc", maps)
            self.assertNotIn("libprotobuf", maps)
            self.assertNotIn("weft-xds.so", maps)
        finally:
            proc.terminate()
            proc.wait(10)
        with_controller = self.write("ctl", f"outbound: 127.0.0.1:{free_port()}\nadmin: 127.0.0.1:{free_port()}\n"
                                            f"controller: 127.0.0.1:{free_port()}\n")
        r = run([weft_bin(), "proxy", "--config", with_controller], timeout=20, env=env)
        self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
        for w in (with_controller, "controller", "cannot load the xDS module", "/nonexistent/weft-xds.so"):
            self.assertIn(w, r.stderr)
        r = run([weft_bin(), "controller", "--config", with_controller], timeout=20, env=env)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("cannot load the xDS module", r.stderr)

    def test_proxy_runs_on_the_allocator_it_was_built_with(self):
        # The executable links mimalloc (CMake WEFT_MIMALLOC; not in sanitizer
        # builds): it must be mapped and must be what serves malloc, which the
        # start-up line reports from a run-time lookup (core/allocator.h).
        want = os.environ.get("WEFT_ALLOCATOR")
        if not want:
            self.fail("WEFT_ALLOCATOR is not set: run through ctest (test/CMakeLists.txt sets it)")
        admin = free_port()
        p = self.write("alloc", f"outbound: 127.0.0.1:{free_port()}\nadmin: 127.0.0.1:{admin}\nworkers: 1\n")
        log = self.env.path("alloc.log")
        with open(log, "w") as out:
            proc = subprocess.Popen([weft_bin(), "proxy", "--config", p], stdout=out, stderr=subprocess.STDOUT)
        try:
            wait_port(admin, timeout=10)
            with open(f"/proc/{proc.pid}/maps") as f:
                maps = f.read()
            deadline = time.time() + 10
            line = ""
            while time.time() < deadline and not line:
                with open(log) as f:
                    line = next((l for l in f if "weft proxy listening:" in l), "")
                time.sleep(0.1)
        finally:
            proc.terminate()
            proc.wait(10)
        self.assertIn(f"allocator={want}", line)
        if want == "mimalloc":
            self.assertIn("libmimalloc", maps)
        else:
            self.assertNotIn("libmimalloc", maps)

    def test_missing_file(self):
        p = self.env.path("does-not-exist.yaml")
        r = run([weft_bin(), "proxy", "--config", p], timeout=20)
        self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
        self.assertIn(p, r.stdout + r.stderr)


if __name__ == "__main__":
    main()
