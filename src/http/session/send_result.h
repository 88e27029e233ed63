#pragma once
// What became of one attempt to forward an exchange upstream: the result of
// Http2ClientConnection::send() and of every upstream::EndpointPool::send()
// (upstream/endpoint_pool.h says what each outcome promises). One type for
// both, so a pool can hand back its connection's send() as it is, without a
// coroutine frame of its own to translate the result.
//
// SendObserver is the same result for a caller that is not a coroutine
// (Http2ClientConnection::start(), EndpointPool::startNow()).
#include <cstdint>

#include "core/proxy_error.h"

namespace weft::http {

enum class SendOutcome : uint8_t { kOk, kNotProcessed, kFailed, kRetryableResponse };

struct SendResult {
  SendOutcome outcome = SendOutcome::kOk;
  ProxyError error = ProxyError::kNone;
  int connectErrno = 0;  // set when error is connect-failed/connect-timeout
};

// Told once how a send started without waiting ended: from a handler of its
// own, posted when the upstream connection saw the end (never from inside
// that connection's codec callbacks, so it may start the next send at once).
class SendObserver {
 public:
  virtual void sendDone(const SendResult& result) = 0;

 protected:
  ~SendObserver() = default;
};

}  // namespace weft::http
