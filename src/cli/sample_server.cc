#include "cli/sample_server.h"

#include <csignal>
#include <cstdio>
#include <list>
#include <memory>
#include <random>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <fmt/format.h>

#include "cli/grpc_message.h"
#include "core/logging.h"
#include "http/codec/http1_serializer.h"
#include "http/session/exchange.h"
#include "http/session/http1_io.h"
#include "http/session/http1_server.h"
#include "http/session/http2_server.h"
#include "net/address.h"
#include "net/drain.h"

namespace weft::cli {
namespace {

namespace asio = boost::asio;
using asio::ip::tcp;
using namespace asio::experimental::awaitable_operators;
constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);

constexpr std::string_view kPreface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
constexpr size_t kMaxRequestBody = 64 * 1024;
constexpr std::chrono::seconds kBodyTimeout{10};
constexpr std::chrono::seconds kDetectTimeout{10};

bool isEchoMethod(std::string_view path) {
  // weft.demo.Echo is the demo's name; weft.test.Echo (test/proto/echo.proto)
  // lets the integration tests call it with generated grpcio stubs.
  return path == "/weft.demo.Echo/Echo" || path == "/weft.test.Echo/Echo";
}

// Answers every exchange on its own coroutine (the server sessions spawn it).
class SampleHandler final : public http::ExchangeHandler {
 public:
  explicit SampleHandler(const SampleServerOptions& o) : options_(o) {}

  asio::awaitable<void> handle(std::shared_ptr<http::Exchange> ex) override {
    auto executor = co_await asio::this_coro::executor;
    asio::steady_timer timer(executor);
    std::string body;
    bool tooLarge = false;
    // The whole request body, bounded in size and time.
    auto deadline = std::chrono::steady_clock::now() + kBodyTimeout;
    while (!ex->requestBody.drained()) {
      if (ex->requestBody.buffered() == 0) {
        timer.expires_at(deadline);
        auto r = co_await (ex->requestBody.waitReadable() || timer.async_wait(kTuple));
        if (r.index() == 1) {
          ex->cancel(ProxyError::kTimeout);
          co_return;
        }
        continue;
      }
      auto data = ex->requestBody.data();
      if (body.size() + data.size() > kMaxRequestBody) tooLarge = true;
      else body.append(data);
      ex->requestBody.consume(data.size());
    }
    if (ex->requestBody.failed() || ex->cancelled()) co_return;  // the client is gone
    if (options_.delay.count() > 0) {
      timer.expires_after(options_.delay);
      co_await timer.async_wait(kTuple);
      if (ex->cancelled()) co_return;
    }
    if (ex->request.isGrpc()) answerGrpc(*ex, body, tooLarge);
    else answerHttp(*ex, body, tooLarge);
  }

 private:
  void answerHttp(http::Exchange& ex, const std::string& body, bool tooLarge) {
    http::ResponseHead head;
    head.status = tooLarge ? 413 : 200;
    head.headers.add("content-type", "text/plain");
    head.headers.add("x-instance", options_.name);
    std::string out = tooLarge ? "request body too large\n"
                               : fmt::format("{} {} {}\n{}", options_.name, ex.request.method, ex.request.path, body);
    head.contentLength = out.size();
    head.hasBody = ex.request.method != "HEAD";
    ex.response = std::move(head);
    ex.responseStarted();
    if (ex.response.hasBody) ex.responseBody.push(out);
    ex.responseBody.finish();
  }

  void answerGrpc(http::Exchange& ex, const std::string& body, bool tooLarge) {
    http::ResponseHead head;
    head.status = 200;
    head.headers.add("content-type", "application/grpc");
    head.headers.add("x-instance", options_.name);
    std::string_view message;
    auto parsed = tooLarge ? GrpcUnaryParse::kTooLarge : parseGrpcUnary(body, kMaxRequestBody, message);
    int status = 0;
    std::string statusMessage;
    if (ex.request.method != "POST") {
      status = 12;  // UNIMPLEMENTED
      statusMessage = "gRPC needs POST";
    } else if (!isEchoMethod(ex.request.path)) {
      status = 12;
      statusMessage = fmt::format("unknown method {}", ex.request.path);
    } else if (parsed == GrpcUnaryParse::kCompressed) {
      status = 12;
      statusMessage = std::string(grpcUnaryParseName(parsed));
    } else if (parsed == GrpcUnaryParse::kTooLarge) {
      status = 8;  // RESOURCE_EXHAUSTED
      statusMessage = std::string(grpcUnaryParseName(parsed));
    } else if (parsed != GrpcUnaryParse::kOk) {
      status = 13;  // INTERNAL: what gRPC servers answer for a broken frame
      statusMessage = std::string(grpcUnaryParseName(parsed));
    }
    http::HeaderList trailers;
    trailers.add("grpc-status", fmt::format("{}", status));
    if (!statusMessage.empty()) trailers.add("grpc-message", statusMessage);
    if (status != 0) {
      // Trailers-only response, as gRPC servers send for an immediate error.
      for (const auto& f : trailers) head.headers.add(f.name, f.value);
      head.hasBody = false;
      ex.response = std::move(head);
      ex.responseStarted();
      ex.responseBody.finish();
      return;
    }
    // The echo: EchoRequest and EchoResponse share field 1 (message), so the
    // request's bytes are a valid response.
    ex.response = std::move(head);
    ex.responseStarted();
    ex.responseBody.push(encodeGrpcMessage(message));
    ex.responseBody.finish(std::move(trailers));
  }

  const SampleServerOptions& options_;
};

// One accepted connection: its own drain signal, started by the age timer or
// by server shutdown.
struct Connection {
  explicit Connection(asio::any_io_executor ex) : ageTimer(ex) {}
  net::DrainSignal drain;
  asio::steady_timer ageTimer;
};

class SampleServer {
 public:
  SampleServer(asio::io_context& ctx, const SampleServerOptions& o)
      : ctx_(ctx), options_(o), handler_(o), acceptor_(ctx), rng_(std::random_device{}()) {}

  void listen() {
    auto ep = net::parseEndpoint(options_.listen);
    if (!ep) throw std::runtime_error(fmt::format("--listen: '{}' is not ip:port", options_.listen));
    acceptor_.open(ep->protocol());
    acceptor_.set_option(tcp::acceptor::reuse_address(true));
    acceptor_.bind(*ep);
    acceptor_.listen(options_.backlog);
  }
  tcp::endpoint localEndpoint() const { return acceptor_.local_endpoint(); }

  asio::awaitable<void> acceptLoop() {
    for (;;) {
      auto [ec, socket] = co_await acceptor_.async_accept(kTuple);
      if (ec == asio::error::operation_aborted || !acceptor_.is_open()) co_return;
      if (ec) continue;  // e.g. EMFILE: try again with the next connection
      socket.set_option(tcp::no_delay(true), ec);
      asio::co_spawn(ctx_, serve(std::move(socket)), asio::detached);
    }
  }

  // Stops accepting and drains every open connection; done() once all closed.
  void shutdown() {
    boost::system::error_code ec;
    acceptor_.close(ec);
    shuttingDown_ = true;
    for (auto& c : connections_) c->drain.start();
  }
  bool done() const { return shuttingDown_ && connections_.empty(); }

 private:
  asio::awaitable<void> serve(tcp::socket socket) {
    auto conn = std::make_shared<Connection>(ctx_.get_executor());
    connections_.push_front(conn);
    auto self = connections_.begin();
    if (shuttingDown_) conn->drain.start();
    http::ServerOptions so;
    so.direction = "sample";
    so.drain = &conn->drain;
    so.drainTimeout = shuttingDown_ ? options_.drainTimeout : options_.maxConnectionAgeGrace;
    if (options_.maxConnectionAge) {
      // gRPC's jitter (±10 %) keeps connections opened together from aging
      // out together.
      auto age = options_.maxConnectionAge->count();
      std::uniform_int_distribution<long> jitter(-age / 10, age / 10);
      conn->ageTimer.expires_after(std::chrono::milliseconds(age + jitter(rng_)));
      std::weak_ptr<Connection> weak = conn;
      conn->ageTimer.async_wait([weak](boost::system::error_code ec) {
        if (auto c = weak.lock(); c && !ec) c->drain.start();
      });
    }
    std::string prefix;
    if (co_await detect(socket, prefix)) {
      if (prefix.starts_with(kPreface)) co_await http::serveHttp2(std::move(socket), std::move(prefix), handler_, so);
      else co_await http::serveHttp1(std::move(socket), std::move(prefix), handler_, so);
    }
    conn->ageTimer.cancel();
    connections_.erase(self);
  }

  // Reads until the bytes either are the HTTP/2 preface or cannot be.
  asio::awaitable<bool> detect(tcp::socket& socket, std::string& prefix) {
    asio::steady_timer timer(ctx_);
    auto deadline = std::chrono::steady_clock::now() + kDetectTimeout;
    while (prefix.size() < kPreface.size() && kPreface.starts_with(prefix)) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) co_return false;
      auto st = co_await http::h1io::readSome(socket, prefix, timer, left, 4096);
      if (st != http::h1io::IoStatus::kOk) co_return false;
    }
    co_return true;
  }

  asio::io_context& ctx_;
  const SampleServerOptions& options_;
  SampleHandler handler_;
  tcp::acceptor acceptor_;
  std::list<std::shared_ptr<Connection>> connections_;
  bool shuttingDown_ = false;
  std::mt19937 rng_;
};

}  // namespace

int runSampleServer(const SampleServerOptions& options) {
  ::signal(SIGPIPE, SIG_IGN);
  asio::io_context ctx(1);
  SampleServer server(ctx, options);
  try {
    server.listen();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "sample-server %s: cannot listen on %s: %s\n", options.name.c_str(), options.listen.c_str(),
                 e.what());
    return 1;
  }
  std::printf("sample-server %s listening on %s\n", options.name.c_str(),
              net::formatEndpoint(server.localEndpoint()).c_str());
  std::fflush(stdout);

  asio::signal_set signals(ctx, SIGINT, SIGTERM);
  asio::steady_timer poll(ctx);
  auto deadline = std::make_shared<std::chrono::steady_clock::time_point>();
  std::function<void()> waitDone = [&] {
    if (server.done() || std::chrono::steady_clock::now() >= *deadline) {
      ctx.stop();
      return;
    }
    poll.expires_after(std::chrono::milliseconds(20));
    poll.async_wait([&](boost::system::error_code ec) {
      if (!ec) waitDone();
    });
  };
  signals.async_wait([&](boost::system::error_code ec, int) {
    if (ec) return;
    server.shutdown();
    // The sessions' own drain timeout cuts what is left; this is a backstop.
    *deadline = std::chrono::steady_clock::now() + options.drainTimeout + std::chrono::seconds(1);
    waitDone();
  });
  asio::co_spawn(ctx, server.acceptLoop(), asio::detached);
  ctx.run();
  return 0;
}

}  // namespace weft::cli
