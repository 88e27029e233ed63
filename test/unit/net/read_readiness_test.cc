#include "net/read_readiness.h"

#include <array>
#include <optional>
#include <string>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <gtest/gtest.h>

namespace weft::net {
namespace {

namespace asio = boost::asio;
using asio::ip::tcp;
using namespace std::chrono_literals;

// A connected loopback pair on one single-threaded context.
struct Pair {
  asio::io_context ctx{1};
  tcp::socket reader{ctx};
  tcp::socket writer{ctx};

  Pair() {
    tcp::acceptor acceptor(ctx, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    writer.connect(acceptor.local_endpoint());
    acceptor.accept(reader);
    reader.non_blocking(true);
  }

  void send(std::string_view bytes) { asio::write(writer, asio::buffer(bytes.data(), bytes.size())); }

  // Lets the reactor poll for `d` (the timer keeps it polling when no read
  // is waiting): a pending edge for `reader` is consumed either way.
  void pollFor(std::chrono::milliseconds d) {
    asio::steady_timer t(ctx, d);
    t.async_wait([](auto) {});
    ctx.restart();
    ctx.run_for(d + 5ms);
  }
};

struct Read {
  std::array<char, 64> buf{};
  std::optional<size_t> got;
  void start(tcp::socket& s) {
    s.async_read_some(asio::buffer(buf), [this](boost::system::error_code ec, size_t n) {
      got = ec ? 0 : n;
    });
  }
  std::string text() const { return std::string(buf.data(), got.value_or(0)); }
};

// What a session does with a read: one read, then noteShortRead() with its
// result. Empty when nothing arrived within `d` (the read is cancelled).
std::optional<std::string> readAndNote(Pair& p, std::chrono::milliseconds d) {
  Read r;
  r.start(p.reader);
  p.pollFor(d);
  if (!r.got) {
    p.reader.cancel();
    p.pollFor(5ms);
    return std::nullopt;
  }
  noteShortRead(p.reader, r.buf.size(), *r.got);
  return r.text();
}

// A genuine short read, so that the socket's first one (which only asks
// epoll to report the peer's FIN) is behind the test.
void firstShortRead(Pair& p) {
  p.send("0");
  ASSERT_EQ(readAndNote(p, 50ms), "0");
  EXPECT_FALSE(shortReadNoted(p.reader)) << "the first short read only registers for the peer's FIN";
  p.pollFor(10ms);  // the report epoll_ctl(MOD) may cause
}

TEST(ReadReadiness, OnlyAShortReadIsNoted) {
  Pair p;
  EXPECT_FALSE(shortReadNoted(p.reader));
  noteShortRead(p.reader, 16, 3);
  EXPECT_FALSE(shortReadNoted(p.reader)) << "the first one registers for EPOLLRDHUP";
  noteShortRead(p.reader, 16, 16);  // the buffer filled up: more may be waiting
  EXPECT_FALSE(shortReadNoted(p.reader));
  noteShortRead(p.reader, 16, 0);  // EOF: Asio's own business
  EXPECT_FALSE(shortReadNoted(p.reader));
  noteShortRead(p.reader, 16, 3);
  EXPECT_TRUE(shortReadNoted(p.reader)) << "the mark did not take: Asio's internals are not what read_readiness.cc expects";
}

// The mechanism itself: with the mark set, a read does not try recv() first
// but waits for the socket's next edge — even though bytes are there (a
// lie no caller tells: noteShortRead() is only called after a short read).
// Without the mark the same read completes at once.
TEST(ReadReadiness, AMarkedReadWaitsForTheNextEdgeInsteadOfTryingFirst) {
  Pair p;
  firstShortRead(p);
  p.send("abc");
  p.pollFor(20ms);  // the edge for "abc" is consumed with no read waiting

  noteShortRead(p.reader, 64, 1);
  Read r;
  r.start(p.reader);
  p.pollFor(50ms);
  EXPECT_FALSE(r.got) << "the read tried recv() although it was marked";

  p.send("d");  // a new edge: the queued read runs and gets everything
  p.pollFor(50ms);
  ASSERT_TRUE(r.got);
  EXPECT_EQ(r.text(), "abcd");
  EXPECT_FALSE(shortReadNoted(p.reader)) << "an edge clears the mark";

  // Unmarked, bytes already there are read at once.
  p.send("ef");
  p.pollFor(20ms);
  EXPECT_EQ(readAndNote(p, 20ms), "ef");
}

// What callers rely on: after a genuine short read, later bytes (and the
// peer's FIN) still reach the next read.
TEST(ReadReadiness, AfterAShortReadLaterBytesAndEofStillArrive) {
  Pair p;
  firstShortRead(p);
  p.send("hello");
  ASSERT_EQ(readAndNote(p, 50ms), "hello");
  EXPECT_TRUE(shortReadNoted(p.reader));

  Read second;
  second.start(p.reader);
  p.pollFor(20ms);
  EXPECT_FALSE(second.got);
  p.send("world");
  p.pollFor(50ms);
  ASSERT_TRUE(second.got);
  EXPECT_EQ(second.text(), "world");
  noteShortRead(p.reader, second.buf.size(), *second.got);

  p.writer.shutdown(tcp::socket::shutdown_send);
  EXPECT_EQ(readAndNote(p, 50ms), "") << "the EOF was never read";
}

// The case a plain "short read means empty" rule gets wrong: the peer's
// last bytes and its FIN arrive together. The read that takes the bytes is
// short because the FIN ends them, and the FIN raises no further edge: marked,
// the next read would wait forever (a response delimited by the close, an
// upstream that sends GOAWAY and closes).
TEST(ReadReadiness, BytesArrivingWithTheFinLeaveTheNextReadToFindEof) {
  Pair p;
  firstShortRead(p);
  p.send("last");
  p.writer.shutdown(tcp::socket::shutdown_send);
  p.pollFor(20ms);  // reported together: EPOLLIN | EPOLLRDHUP
  ASSERT_EQ(readAndNote(p, 20ms), "last");
  EXPECT_FALSE(shortReadNoted(p.reader)) << "marked although epoll reported the FIN";
  EXPECT_EQ(readAndNote(p, 50ms), "") << "the EOF was never read";
}

// The same when the bytes and the FIN come after the read was marked and
// queued: the FIN's own report wakes the queued read.
TEST(ReadReadiness, AFinAfterTheMarkIsStillReported) {
  Pair p;
  firstShortRead(p);
  p.send("a");
  ASSERT_EQ(readAndNote(p, 20ms), "a");
  ASSERT_TRUE(shortReadNoted(p.reader));
  Read second;
  second.start(p.reader);  // queued without a recv()
  p.send("bc");
  p.writer.shutdown(tcp::socket::shutdown_send);
  p.pollFor(50ms);
  ASSERT_TRUE(second.got);
  EXPECT_EQ(second.text(), "bc");
  noteShortRead(p.reader, second.buf.size(), *second.got);
  EXPECT_FALSE(shortReadNoted(p.reader));
  EXPECT_EQ(readAndNote(p, 50ms), "") << "the EOF was never read";
}

// A reader that reads by itself: read_some until would_block, then
// asyncWaitReadable(). Returns whether the wait completed within `d`.
bool waitedWithin(Pair& p, std::chrono::milliseconds d) {
  std::array<char, 64> buf{};
  boost::system::error_code ec;
  while (!ec) p.reader.read_some(asio::buffer(buf), ec);
  EXPECT_EQ(ec, asio::error::would_block);
  bool woke = false;
  asyncWaitReadable(p.reader, [&](boost::system::error_code e) { woke = !e; });
  p.pollFor(d);
  if (!woke) {
    p.reader.cancel();
    p.pollFor(5ms);
  }
  return woke;
}

TEST(ReadReadiness, AWaitForReadableCompletesOnlyWhenSomethingArrives) {
  Pair p;
  p.send("first");
  p.pollFor(10ms);  // the edge for "first" is consumed with no wait pending
  EXPECT_FALSE(waitedWithin(p, 50ms)) << "woke with nothing new to read";
  std::array<char, 64> buf{};
  bool woke = false;
  asyncWaitReadable(p.reader, [&](boost::system::error_code e) { woke = !e; });
  p.send("second");
  p.pollFor(50ms);
  EXPECT_TRUE(woke);
  EXPECT_EQ(p.reader.read_some(asio::buffer(buf)), 6u);
}

TEST(ReadReadiness, AWaitForReadableSeesAFin) {
  Pair p;
  bool woke = false;
  std::array<char, 64> buf{};
  boost::system::error_code ec;
  p.reader.read_some(asio::buffer(buf), ec);
  ASSERT_EQ(ec, asio::error::would_block);
  asyncWaitReadable(p.reader, [&](boost::system::error_code e) { woke = !e; });
  p.writer.shutdown(tcp::socket::shutdown_send);
  p.pollFor(50ms);
  EXPECT_TRUE(woke);
  p.reader.read_some(asio::buffer(buf), ec);
  EXPECT_EQ(ec, asio::error::eof);
}

}  // namespace
}  // namespace weft::net
