#pragma once
// Downstream HTTP/2 (h2c with prior knowledge): one connection, one Exchange
// per stream, handed to an ExchangeHandler.
//
// Per stream: the request head becomes Exchange::request (version kHttp2,
// :authority falling back to Host), DATA is pushed into requestBody and the
// client's stream window is reopened only as requestBody is consumed (so the
// client's window bounds what we buffer); END_STREAM finishes it with any
// trailers. handler.handle(exchange) runs as its own coroutine on the same
// executor. The response is sent when the exchange has one: a synthesized
// error response (counted in weft_proxy_errors_total) when it failed before a
// head, else the head and then responseBody as DATA (pulled only as the
// client's window allows) and its trailers. A body that fails after the head
// ends a gRPC response with grpc-status 14 trailers, any other response with
// RST_STREAM(INTERNAL_ERROR). A client RST_STREAM cancels the exchange with
// kDownstreamReset.
//
// Connection: drain (options.drain) sends GOAWAY(2^31-1) + PING, then the
// real GOAWAY after the PING ack (or 1 s), lets in-flight streams finish
// within options.drainTimeout and closes. An idle connection (no stream for
// options.idleTimeout) gets GOAWAY and is closed. options.headerTimeout
// bounds every header block (HEADERS to END_HEADERS) and the wait for the
// connection's first complete request: past it the connection gets
// GOAWAY(NO_ERROR, debug "header" | "first_request") and is closed, counted
// in weft_http2_timeouts_total{direction,kind}. Abuse (rapid reset, floods,
// oversized header lists, too many streams) is counted in
// weft_http2_abuse_total{direction,kind}.
//
// Thread: the socket's worker. startHttp2() returns at once: the connection
// lives on its own pending operations, so an idle one keeps no coroutine
// frame (the caller's among them) waiting for it, and `ended` runs when it is
// closed (never if the io_context is destroyed first). serveHttp2()
// suspends until then. `handler` and `options` (its drain signal among them)
// must outlive the connection: it holds a reference to both, not a copy of
// the options on every connection.
#include <functional>
#include <string>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "http/session/exchange.h"
#include "http/session/server_options.h"

namespace weft::http {

void startHttp2(boost::asio::ip::tcp::socket socket, std::string prefix, ExchangeHandler& handler,
                const ServerOptions& options, std::function<void()> ended);

boost::asio::awaitable<void> serveHttp2(boost::asio::ip::tcp::socket socket, std::string prefix,
                                        ExchangeHandler& handler, const ServerOptions& options);

}  // namespace weft::http
