#!/usr/bin/python3
"""The gRPC peer of the tests: implements weft.test.Echo (test/proto/echo.proto).

  grpc_echo_server.py --port P --stubs DIR [--max-connection-age-ms N --max-connection-age-grace-ms N]
                      [--hpack-table-size N]

DIR holds echo_pb2.py / echo_pb2_grpc.py (weft_harness.generate_grpc_stubs).
Logs one line per RPC. Run with /usr/bin/python3 (grpcio 1.51).
"""
import argparse
import sys
import time
from concurrent import futures

# Keys gRPC itself owns or that may not appear in response metadata.
RESERVED = {"user-agent", "te", "content-type", "grpc-accept-encoding", "grpc-encoding", "grpc-timeout",
            "grpc-status", "grpc-message", "grpc-status-details-bin", "grpc-previous-rpc-attempts"}


def log(*a):
    print(*a, flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--stubs", required=True)
    ap.add_argument("--max-connection-age-ms", type=int, default=None)
    ap.add_argument("--max-connection-age-grace-ms", type=int, default=None)
    ap.add_argument("--threads", type=int, default=32)
    ap.add_argument("--hpack-table-size", type=int, default=None,
                    help="HPACK dynamic table size for the server's decoder (advertised) and encoder")
    args = ap.parse_args()
    sys.path.insert(0, args.stubs)
    import grpc
    import echo_pb2
    import echo_pb2_grpc

    def payload_of(size):
        pattern = b"0123456789abcdef"
        return (pattern * (size // len(pattern) + 1))[:size]

    class Echo(echo_pb2_grpc.EchoServicer):
        def Echo(self, request, context):
            return echo_pb2.EchoResponse(message=request.message, payload=request.payload or payload_of(request.response_size))

        def EchoMetadata(self, request, context):
            md = [(k, v) for k, v in context.invocation_metadata() if not k.startswith(":") and k not in RESERVED]
            log(f"EchoMetadata: {len(md)} entries, {sum(len(k) + len(v) for k, v in md)} bytes, to={request.echo_to}")
            where = request.echo_to or "trailing"
            if where in ("initial", "both"):
                context.send_initial_metadata(md)
            if where in ("trailing", "both"):
                context.set_trailing_metadata(md)
            return echo_pb2.EchoResponse(message=request.message, index=len(md))

        def ServerStream(self, request, context):
            i = 0
            while request.count == 0 or i < request.count:
                if not context.is_active():
                    log(f"ServerStream: client gone after {i} messages")
                    return
                yield echo_pb2.EchoResponse(message=f"{request.message}-{i}", index=i,
                                            payload=payload_of(request.response_size))
                i += 1
                if request.interval_ms:
                    time.sleep(request.interval_ms / 1000.0)
            log(f"ServerStream: sent {i} messages")

        def ClientStream(self, request_iterator, context):
            msgs = [r.message for r in request_iterator]
            return echo_pb2.EchoResponse(message="".join(msgs), index=len(msgs))

        def Bidi(self, request_iterator, context):
            for i, r in enumerate(request_iterator):
                yield echo_pb2.EchoResponse(message=r.message, index=i, payload=r.payload)

    options = [("grpc.max_metadata_size", 1 << 20), ("grpc.max_receive_message_length", 64 << 20),
               ("grpc.so_reuseport", 0)]
    if args.max_connection_age_ms is not None:
        options.append(("grpc.max_connection_age_ms", args.max_connection_age_ms))
    if args.max_connection_age_grace_ms is not None:
        options.append(("grpc.max_connection_age_grace_ms", args.max_connection_age_grace_ms))
    if args.hpack_table_size is not None:
        options.append(("grpc.http2.hpack_table_size.decoder", args.hpack_table_size))
        options.append(("grpc.http2.hpack_table_size.encoder", args.hpack_table_size))
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=args.threads), options=options)
    echo_pb2_grpc.add_EchoServicer_to_server(Echo(), server)
    if server.add_insecure_port(f"127.0.0.1:{args.port}") == 0:
        log(f"cannot bind 127.0.0.1:{args.port}")
        return 1
    server.start()
    log(f"grpc echo server listening on {args.port} options={options}")
    server.wait_for_termination()
    return 0


if __name__ == "__main__":
    sys.exit(main())
