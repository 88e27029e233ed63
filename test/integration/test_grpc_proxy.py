"""gRPC through weft to a Python grpcio server: unary, server-, client- and bidi-streaming, metadata, deadlines."""
import os
import sys
import time

sys.path.insert(0, os.path.join(os.environ.get("WEFT_SOURCE") or os.path.join(os.path.dirname(__file__), "..", ".."),
                                "test", "lib"))
from weft_harness import *  # noqa: E402,F403

import grpc  # noqa: E402

AUTH = "echo.test:80"


class GrpcProxy(WeftTestCase):
    def setUp(self):
        super().setUp()
        self.server = self.env.grpc_server()
        self.weft = self.env.weft(clusters=[cluster(AUTH, [self.server.addr])])
        self.pb, pbg = import_stubs(self.env)
        self.channel = grpc_channel(self.weft.addr, authority=AUTH)
        self.addCleanup(self.channel.close)
        self.stub = pbg.EchoStub(self.channel)

    def test_unary(self):
        for i in range(20):
            r = self.stub.Echo(self.pb.EchoRequest(message=f"hello-{i}", payload=os.urandom(i * 100)), timeout=10)
            self.assertEqual(r.message, f"hello-{i}")
        big = os.urandom(4 << 20)
        r = self.stub.Echo(self.pb.EchoRequest(message="big", payload=big), timeout=30)
        self.assertEqual(r.payload, big, "4 MiB payload changed on the way")

    def test_server_streaming(self):
        got = list(self.stub.ServerStream(self.pb.EchoRequest(message="s", count=200, response_size=1000), timeout=30))
        self.assertEqual([m.index for m in got], list(range(200)))
        self.assertTrue(all(len(m.payload) == 1000 for m in got))

    def test_client_streaming(self):
        msgs = [self.pb.EchoRequest(message=str(i % 10)) for i in range(500)]
        r = self.stub.ClientStream(iter(msgs), timeout=30)
        self.assertEqual(r.index, 500)
        self.assertEqual(r.message, "".join(str(i % 10) for i in range(500)))

    def test_bidi_streaming_interleaved(self):
        # Sends the next request only after the previous response arrived: proves
        # both directions stream (no buffering of the whole request side).
        import queue
        q = queue.Queue()

        def requests():
            for i in range(100):
                yield self.pb.EchoRequest(message=f"m{i}", payload=os.urandom(100))
                if q.get(timeout=10) != i:
                    return

        n = 0
        for resp in self.stub.Bidi(requests(), timeout=60):
            self.assertEqual(resp.message, f"m{n}")
            q.put(resp.index)
            n += 1
        self.assertEqual(n, 100)

    def test_metadata_round_trip(self):
        md = [("x-a", "1"), ("roles", "r1"), ("x-b", "2"), ("roles", "r2"), ("roles", "r3"), ("bin-bin", b"\x00\xff")]
        resp, call = self.stub.EchoMetadata.with_call(self.pb.EchoRequest(message="m", echo_to="both"), metadata=md,
                                                      timeout=10)
        def user(m):
            return [(k, v) for k, v in m if k in ("x-a", "x-b", "roles", "bin-bin")]
        self.assertEqual(user(call.initial_metadata()), md)
        self.assertEqual(user(call.trailing_metadata()), md)

    def test_deadline_exceeded(self):
        t0 = time.monotonic()
        with self.assertRaises(grpc.RpcError) as cm:
            list(self.stub.ServerStream(self.pb.EchoRequest(message="s", count=0, interval_ms=100), timeout=0.5))
        self.assertEqual(cm.exception.code(), grpc.StatusCode.DEADLINE_EXCEEDED, cm.exception.details())
        self.assertLess(time.monotonic() - t0, 5)
        # The proxy still serves afterwards.
        self.assertEqual(self.stub.Echo(self.pb.EchoRequest(message="after"), timeout=10).message, "after")

    def test_cancel_mid_stream_then_reuse(self):
        call = self.stub.ServerStream(self.pb.EchoRequest(message="c", count=0, interval_ms=10), timeout=30)
        for i, _ in enumerate(call):
            if i == 10:
                call.cancel()
                break
        for i in range(5):
            self.assertEqual(self.stub.Echo(self.pb.EchoRequest(message=f"x{i}"), timeout=10).message, f"x{i}")


if __name__ == "__main__":
    main()
