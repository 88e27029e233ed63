// Per-request costs of the HTTP/1 codec, as the proxy pays them (issue 6):
// parsing a typical request head (smuggling pre-scan, Beast, building the
// typed head), serializing it for the upstream, and copying a header list.
#include <string>
#include <string_view>

#include <benchmark/benchmark.h>

#include "http/codec/header_list.h"
#include "http/codec/http1_parser.h"
#include "http/codec/http1_serializer.h"

namespace {

using namespace weft::http;

// What a browser-ish client sends: 9 fields, about 500 bytes.
constexpr std::string_view kRequest =
    "GET /api/v1/items/12345?expand=owner HTTP/1.1\r\n"
    "Host: api.example.internal\r\n"
    "User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36\r\n"
    "Accept: application/json, text/plain, */*\r\n"
    "Accept-Encoding: gzip, deflate, br\r\n"
    "Accept-Language: en-US,en;q=0.9\r\n"
    "Authorization: Bearer eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.abc\r\n"
    "X-Request-Id: 6f1c2a8e-3b0d-4c5e-9f7a-2d8b1e0c4a6f\r\n"
    "Cookie: session=4b1d7c9e2f; theme=dark\r\n"
    "Connection: keep-alive\r\n"
    "\r\n";

// The small request of the end-to-end benchmark (h2load --h1).
constexpr std::string_view kSmallRequest =
    "GET / HTTP/1.1\r\nHost: h1.bench:80\r\nUser-Agent: h2load nghttp2/1.52.0\r\nAccept: */*\r\n\r\n";

void parseLoop(benchmark::State& state, std::string_view request) {
  Http1RequestParser parser;
  for (auto _ : state) {
    size_t consumed = 0;
    auto ev = parser.parse(request, consumed);
    if (ev != Http1Event::kHead) state.SkipWithError("not a head");
    benchmark::DoNotOptimize(parser.requestHead());
    parser.reset();
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * request.size()));
}

void BM_Http1ParseRequest(benchmark::State& state) { parseLoop(state, kRequest); }
BENCHMARK(BM_Http1ParseRequest);

void BM_Http1ParseSmallRequest(benchmark::State& state) { parseLoop(state, kSmallRequest); }
BENCHMARK(BM_Http1ParseSmallRequest);

void BM_Http1SerializeRequest(benchmark::State& state) {
  Http1RequestParser parser;
  size_t consumed = 0;
  parser.parse(kRequest, consumed);
  const RequestHead head = parser.requestHead();
  std::string out;
  for (auto _ : state) {
    out.clear();  // capacity kept, as the pool keeps it per connection
    appendRequestHead(out, head, BodyFraming::kNone, RequestHeadOptions{});
    benchmark::DoNotOptimize(out.data());
  }
}
BENCHMARK(BM_Http1SerializeRequest);

void BM_HeaderListCopy(benchmark::State& state) {
  Http1RequestParser parser;
  size_t consumed = 0;
  parser.parse(kRequest, consumed);
  const HeaderList& headers = parser.requestHead().headers;
  for (auto _ : state) {
    HeaderList copy = headers;
    benchmark::DoNotOptimize(copy);
  }
  state.counters["fields"] = static_cast<double>(headers.size());
}
BENCHMARK(BM_HeaderListCopy);

}  // namespace
