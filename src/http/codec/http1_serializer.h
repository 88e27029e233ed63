#pragma once
// HTTP/1.1 head serialization and chunk framing (no I/O): appends wire bytes
// to a caller-owned buffer so a session can write head + first body bytes in
// one syscall.
//
// Framing is decided from the typed head (contentLength / hasBody), never from
// header fields: any Content-Length, Transfer-Encoding, Host or other
// hop-by-hop field left in `headers` is dropped, and fields whose name or value
// could split the message (CR, LF, NUL, bad name characters) are skipped.
// Pure functions; any thread.
#include <cstdint>
#include <string>
#include <string_view>

#include "http/codec/message.h"

namespace weft::http {

enum class BodyFraming : uint8_t {
  kNone,           // no body bytes follow the head
  kContentLength,  // exactly contentLength bytes
  kChunked,        // chunked transfer coding (trailers possible)
  kUntilClose,     // response only: the body ends when the connection closes
};

// Framing for a request sent upstream over HTTP/1.1.
BodyFraming requestFraming(const RequestHead& head);

struct RequestHeadOptions {
  bool close = false;        // send Connection: close (last request on this connection)
  bool upgrade = false;      // send Connection: Upgrade + Upgrade: head.upgradeProtocol
};

void appendRequestHead(std::string& out, const RequestHead& head, BodyFraming framing,
                       const RequestHeadOptions& options = {});

struct ResponseHeadOptions {
  bool close = false;             // Connection: close
  bool http10KeepAlive = false;   // Connection: keep-alive (for an HTTP/1.0 client)
  std::string_view upgradeProtocol = {};  // for 101: Connection: Upgrade + Upgrade
  bool headRequest = false;       // keep Content-Length although no body follows
};

// Framing for a response sent to a client of `clientVersion` answering
// `method` (a HEAD request, 1xx, 204 and 304 never carry a body).
BodyFraming responseFraming(const ResponseHead& head, std::string_view method, Version clientVersion);

void appendResponseHead(std::string& out, const ResponseHead& head, BodyFraming framing,
                        const ResponseHeadOptions& options = {});

// "<hex size>\r\n" — the caller writes the data and then kCrlf.
void appendChunkHeader(std::string& out, size_t size);
inline constexpr std::string_view kCrlf = "\r\n";
// "0\r\n" + trailers + "\r\n".
void appendLastChunk(std::string& out, const HeaderList& trailers = {});

// Reason phrase for a status code ("OK", "Not Found", ...; "" if unknown).
std::string_view reasonPhrase(int status);

}  // namespace weft::http
