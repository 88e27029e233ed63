"""Helpers for the CLI tests (test/integration/test_cli*.py, test_tap.py):
running `weft <command>` and a TCP relay a test can cut.

    r = weft_cli("check", "--controller", ctl_admin, "--proxy", p.admin_addr)
    assert r.returncode == 1 and "STALE" in r.stdout

    relay = TcpRelay(ctl.xds_addr)    # proxy -> relay -> controller
    relay.kill()                      # the proxy is cut off; connects are refused from now on

Standard library only; run with /usr/bin/python3.
"""
import json
import socket
import subprocess
import threading
import time

from weft_harness import weft_bin


def weft_cli(*args, timeout=60, check_rc=None):
    """Runs `weft ARGS...`; returns the CompletedProcess (text stdout/stderr)."""
    r = subprocess.run([weft_bin(), *map(str, args)], capture_output=True, text=True, timeout=timeout)
    if check_rc is not None and r.returncode != check_rc:
        raise AssertionError(f"weft {' '.join(map(str, args))}: exit {r.returncode}, want {check_rc}\n"
                             f"stdout:\n{r.stdout}\nstderr:\n{r.stderr}")
    return r


def weft_cli_json(*args, timeout=60, rc=0):
    r = weft_cli(*args, "--json", timeout=timeout, check_rc=rc)
    return json.loads(r.stdout)


def start_cli(*args):
    """`weft ARGS...` in the background (stdout/stderr piped, text)."""
    return subprocess.Popen([weft_bin(), *map(str, args)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


class TcpRelay:
    """Forwards connections from a free 127.0.0.1 port to `target` ("host:port") until kill()."""

    def __init__(self, target):
        host, port = target.rsplit(":", 1)
        self.target = (host, int(port))
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.port = self.listener.getsockname()[1]
        self.addr = f"127.0.0.1:{self.port}"
        self.lock = threading.Lock()
        self.socks = []
        self.dead = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.dead:
            try:
                c, _ = self.listener.accept()
            except OSError:
                return
            try:
                u = socket.create_connection(self.target, timeout=5)
            except OSError:
                c.close()
                continue
            with self.lock:
                if self.dead:
                    c.close()
                    u.close()
                    return
                self.socks += [c, u]
            threading.Thread(target=self._pipe, args=(c, u), daemon=True).start()
            threading.Thread(target=self._pipe, args=(u, c), daemon=True).start()

    @staticmethod
    def _pipe(a, b):
        try:
            while True:
                data = a.recv(65536)
                if not data:
                    break
                b.sendall(data)
        except OSError:
            pass
        finally:
            for s in (a, b):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def kill(self):
        """Closes the listener and every relayed connection: later connects are refused."""
        with self.lock:
            self.dead = True
            socks, self.socks = self.socks, []
        try:
            self.listener.close()
        except OSError:
            pass
        for s in socks:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()


def wait_until(pred, timeout=10.0, poll=0.05, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(poll)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")
