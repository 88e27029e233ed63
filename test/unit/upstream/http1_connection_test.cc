#include "upstream/http1_connection.h"

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/write.hpp>

namespace weft::upstream {
namespace {

using boost::asio::ip::tcp;
using namespace std::chrono_literals;

struct RecordingObserver final : http::SendObserver {
  void sendDone(const http::SendResult& r) override { results.push_back(r); }
  std::vector<http::SendResult> results;
};

// One pooled connection and the server's end of it, on loopback: the test
// writes the server's bytes itself and watches what startBodyless() makes
// of them.
class Http1ConnectionTest : public ::testing::Test {
 protected:
  Http1ConnectionTest() : acceptor_(io_, tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), 0)), server_(io_) {
    tcp::socket client(io_);
    client.connect(acceptor_.local_endpoint());
    acceptor_.accept(server_);
    shared_->open = 1;
    conn_ = std::make_shared<Http1Connection>(std::move(client), shared_, nullptr);
  }

  std::shared_ptr<http::Exchange> get(std::string method = "GET") {
    auto ex = std::make_shared<http::Exchange>(io_.get_executor());
    ex->request.method = std::move(method);
    ex->request.authority = "up.test";
    ex->request.path = "/";
    ex->requestBody.finish();
    return ex;
  }

  // Sends `ex` on the connection, answers with `reply` (then closes the
  // server's end if `close`), and runs until the observer is told.
  http::SendResult exchange(const std::shared_ptr<http::Exchange>& ex, std::string_view reply, bool close = false) {
    conn_->prepareRequest(ex->request, http::BodyFraming::kNone, std::nullopt);
    conn_->startBodyless(ex, observer_, true, false);
    for (int i = 0; i < 100 && request_.find("\r\n\r\n") == std::string::npos; ++i) {
      io_.restart();
      io_.run_for(5ms);
      boost::system::error_code ec;
      char buf[4096];
      server_.non_blocking(true);
      size_t n = server_.read_some(boost::asio::buffer(buf), ec);
      if (!ec) request_.append(buf, n);
    }
    server_.non_blocking(false);
    boost::asio::write(server_, boost::asio::buffer(reply.data(), reply.size()));
    if (close) server_.close();
    for (int i = 0; i < 400 && observer_->results.empty(); ++i) {
      io_.restart();
      io_.run_for(5ms);
    }
    EXPECT_EQ(observer_->results.size(), 1u);
    return observer_->results.empty() ? http::SendResult{http::SendOutcome::kFailed, ProxyError::kTimeout}
                                      : observer_->results.back();
  }

  static std::string body(http::Exchange& ex) { return std::string(ex.responseBody.data()); }

  boost::asio::io_context io_;
  tcp::acceptor acceptor_;
  tcp::socket server_;
  std::shared_ptr<Http1PoolShared> shared_ = std::make_shared<Http1PoolShared>();
  std::shared_ptr<Http1Connection> conn_;
  std::shared_ptr<RecordingObserver> observer_ = std::make_shared<RecordingObserver>();
  std::string request_;
};

TEST_F(Http1ConnectionTest, InterimResponsesAreDroppedAndTheConnectionGoesBackIdle) {
  auto ex = get();
  auto r = exchange(ex,
                    "HTTP/1.1 100 Continue\r\n\r\n"
                    "HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n"
                    "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
  EXPECT_EQ(r.outcome, http::SendOutcome::kOk);
  EXPECT_EQ(request_, "GET / HTTP/1.1\r\nHost: up.test\r\n\r\n");
  EXPECT_EQ(ex->response.status, 200);
  EXPECT_TRUE(ex->response.headers.get("link").empty()) << "the 103's fields are not the response's";
  EXPECT_EQ(body(*ex), "ok");
  EXPECT_TRUE(ex->responseBody.ended());
  EXPECT_FALSE(ex->responseBody.failed());
  ASSERT_EQ(shared_->idle.size(), 1u);
  EXPECT_EQ(shared_->idle[0], conn_);
  EXPECT_FALSE(conn_->closed);
}

TEST_F(Http1ConnectionTest, ABodyUntilCloseEndsWithTheConnection) {
  auto ex = get();
  auto r = exchange(ex, "HTTP/1.1 200 OK\r\n\r\nuntil the end", true);
  EXPECT_EQ(r.outcome, http::SendOutcome::kOk);
  EXPECT_EQ(body(*ex), "until the end");
  EXPECT_TRUE(ex->responseBody.ended());
  EXPECT_FALSE(ex->responseBody.failed()) << "EOF is this body's end, not a failure";
  EXPECT_TRUE(conn_->closed);
  EXPECT_TRUE(shared_->idle.empty());
  EXPECT_EQ(shared_->open, 0u);
}

TEST_F(Http1ConnectionTest, ARetryableResponseIsDiscardedUnseen) {
  auto ex = get();
  ex->mayRetryResponse = true;
  auto r = exchange(ex, "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 4\r\n\r\nbusy");
  EXPECT_EQ(r.outcome, http::SendOutcome::kRetryableResponse);
  EXPECT_FALSE(ex->hasResponse()) << "the client never sees it";
  EXPECT_TRUE(conn_->closed) << "its body was not read: never reused";
}

TEST_F(Http1ConnectionTest, AnUnaskedSwitchFailsTheBody) {
  auto ex = get();
  auto r = exchange(ex, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n");
  EXPECT_EQ(r.outcome, http::SendOutcome::kOk);
  EXPECT_EQ(ex->response.status, 101);
  EXPECT_EQ(ex->responseBody.error(), ProxyError::kUpstreamProtocol);
  EXPECT_TRUE(conn_->closed);
}

TEST_F(Http1ConnectionTest, AMalformedHeadIsAProtocolErrorBeforeTheResponse) {
  auto ex = get();
  auto r = exchange(ex, "HTTP/1.1 2OO OK\r\n\r\n");
  EXPECT_EQ(r.outcome, http::SendOutcome::kFailed);
  EXPECT_EQ(r.error, ProxyError::kUpstreamProtocol);
  EXPECT_FALSE(ex->hasResponse());
  EXPECT_TRUE(conn_->closed);
}

TEST_F(Http1ConnectionTest, BytesBeyondTheResponseMeanTheConnectionIsNotReused) {
  auto ex = get();
  auto r = exchange(ex, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\n");
  EXPECT_EQ(r.outcome, http::SendOutcome::kOk);
  EXPECT_EQ(body(*ex), "ok");
  EXPECT_FALSE(ex->responseBody.failed());
  EXPECT_TRUE(conn_->closed) << "a response nobody asked for follows: the connection is out of step";
}

TEST_F(Http1ConnectionTest, AHeadResponseHasNoBodyWhateverItsLength) {
  auto ex = get("HEAD");
  auto r = exchange(ex, "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n");
  EXPECT_EQ(r.outcome, http::SendOutcome::kOk);
  EXPECT_EQ(body(*ex), "");
  EXPECT_TRUE(ex->responseBody.ended());
  EXPECT_EQ(shared_->idle.size(), 1u);
}

// A connection waiting for room in a full response pipe is held by that
// wait, like any pending operation: a worker that shuts down (its
// io_context destroyed) releases it, and it unhooks itself from the pipe.
TEST(Http1Connection, AWaitForRoomIsReleasedWithItsWorker) {
  auto io = std::make_unique<boost::asio::io_context>();
  std::optional<tcp::socket> server(std::in_place, *io);
  std::shared_ptr<Http1Connection> conn;
  auto shared = std::make_shared<Http1PoolShared>();
  {
    tcp::acceptor acceptor(*io, tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), 0));
    tcp::socket client(*io);
    client.connect(acceptor.local_endpoint());
    acceptor.accept(*server);
    shared->open = 1;
    conn = std::make_shared<Http1Connection>(std::move(client), shared, nullptr);
  }
  std::weak_ptr<Http1Connection> weak = conn;
  auto ex = std::make_shared<http::Exchange>(io->get_executor());
  ex->request.method = "GET";
  ex->request.authority = "up.test";
  ex->request.path = "/big";
  ex->requestBody.finish();
  auto observer = std::make_shared<RecordingObserver>();
  conn->prepareRequest(ex->request, http::BodyFraming::kNone, std::nullopt);
  conn->startBodyless(ex, observer, true, false);
  conn.reset();  // from here on only its own operations hold it

  constexpr size_t kBody = 4 * 1024 * 1024;
  std::string reply = "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(kBody) + "\r\n\r\n";
  reply.append(kBody, 'z');
  size_t written = 0;
  server->non_blocking(true);
  auto& pipe = ex->responseBody;
  for (int i = 0; i < 400 && pipe.buffered() < pipe.highWater(); ++i) {
    boost::system::error_code ec;
    written += server->write_some(boost::asio::buffer(reply.data() + written, reply.size() - written), ec);
    io->restart();
    io->run_for(5ms);
  }
  ASSERT_GE(pipe.buffered(), pipe.highWater()) << "nobody reads: the pipe fills";
  io->restart();
  io->run_for(50ms);
  EXPECT_FALSE(weak.expired()) << "waiting for room, held by that wait";
  EXPECT_TRUE(observer->results.empty());

  server.reset();
  io.reset();  // the worker goes: pending operations are destroyed, not run
  EXPECT_TRUE(weak.expired()) << "the wait released the connection";
  EXPECT_TRUE(observer->results.empty()) << "nothing ran after the worker was gone";
  pipe.consume(pipe.buffered());  // no listener left to call
}

}  // namespace
}  // namespace weft::upstream
