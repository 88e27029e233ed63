#pragma once
// The downstream HTTP/1.x server session: one coroutine per client connection
// on the worker that accepted it, parked while requests without a body are
// served by completion handlers (http1_server.cc says how).
//
// Requests are handled one at a time, in order (pipelined requests wait in the
// read buffer until the previous response is written). For each request an
// Exchange is handed to `handler.start()`, inside the session's event; the
// request body is streamed into exchange->requestBody with back-pressure (at
// most the pipe's high water is buffered), and the response (or the error
// response for exchange->error()) is written back, chunked when its length is
// unknown. `Expect: 100-continue` is answered when the handler first reads the
// body. A 101 answer to an Upgrade request turns the connection into a raw
// tunnel through the two pipes. Malformed requests get a 400 with
// `weft-proxy-error: malformed-request`, are counted, and end the connection.
//
// Lifetime: `handler` and `options` (and options.drain) must outlive the
// coroutine. Exchanges may outlive the session (the handler holds them); the
// session cancels any exchange it abandons (kDownstreamReset).
// Never throws to the caller.
#include <string>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "http/session/exchange.h"
#include "http/session/server_options.h"

namespace weft::http {

// Serves one downstream HTTP/1.x connection until the client closes, the idle
// timeout, or drain. `prefix` holds bytes protocol detection already read from
// the socket (parsed first).
boost::asio::awaitable<void> serveHttp1(boost::asio::ip::tcp::socket socket, std::string prefix,
                                        ExchangeHandler& handler, const ServerOptions& options);

}  // namespace weft::http
