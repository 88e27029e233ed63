#pragma once
// The etcd v3 JSON gateway's messages the etcd source uses (etcd 3.4:
// POST /v3/kv/range and the streaming POST /v3/watch), as plain values.
// Proto3 JSON mapping: bytes are base64, int64 are strings (numbers accepted
// too), default values (type PUT, revision 0) are omitted.
//
// Pure: no I/O, any thread. Every parser takes a peer's bytes and returns a
// value or a reason — never throws, never trusts sizes (fuzzed:
// test/fuzz/etcd_watch/).
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace weft::controller::etcd {

std::string base64Encode(std::string_view raw);
// Strict RFC 4648 with padding; nullopt on any other byte or bad length.
std::optional<std::string> base64Decode(std::string_view text);

// The end of the range of keys that start with `prefix` (etcd's "prefix
// end": the prefix with its last byte below 0xff incremented; "\0" for
// "everything" when no such byte exists).
std::string prefixRangeEnd(std::string_view prefix);

struct KeyValue {
  std::string key, value;
  int64_t modRevision = 0;
  int64_t lease = 0;
};

struct RangeResponse {
  int64_t revision = 0;  // header.revision: the store's revision the read saw
  std::vector<KeyValue> kvs;
  bool more = false;     // a limit cut the result short
};

struct WatchEvent {
  bool isDelete = false;
  KeyValue kv;  // for a DELETE only key and modRevision are meaningful
};

struct WatchMessage {
  int64_t revision = 0;         // header.revision (0 when absent)
  bool created = false;
  bool canceled = false;
  int64_t compactRevision = 0;  // set when canceled because the start revision was compacted
  std::string cancelReason;
  bool isError = false;         // {"error": {...}} instead of {"result": ...}
  std::string errorMessage;
  std::vector<WatchEvent> events;
};

// Request bodies. `revision` 0 reads the latest; `limit` 0 is unlimited.
std::string rangeRequest(std::string_view key, std::string_view rangeEnd, int64_t revision, int64_t limit);
std::string watchCreateRequest(std::string_view key, std::string_view rangeEnd, int64_t startRevision);

// `why` is set on failure.
std::optional<RangeResponse> parseRangeResponse(std::string_view json, std::string* why);
std::optional<WatchMessage> parseWatchMessage(std::string_view json, std::string* why);
// The "message" (or "error") of an error body such as
// {"error":"...","message":"etcdserver: mvcc: required revision has been compacted","code":11}.
std::string errorBodyMessage(std::string_view json);

}  // namespace weft::controller::etcd
