// Fuzzes what the proxy does with a controller's answer: a DiscoveryResponse
// (protobuf bytes, as they arrive on the ADS stream) through
// XdsClientState::onResponse — type checks, EDS/CDS decoding and validation,
// normalisation, ACK/NACK — for a client subscribed to two clusters.
//
// Beyond "does not crash", each outcome is checked: a NACK delivers nothing
// and carries a reason; an ACK or NACK answers the response's nonce; every
// delivered update is for a subscribed cluster, is a whole set of canonical,
// distinct addresses with weight >= 1, and exists == (version != "absent").
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <set>
#include <string>

#include <envoy/service/discovery/v3/discovery.pb.h>

#include "discovery/xds_client_state.h"
#include "net/address.h"

namespace {

void require(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "xds_response_fuzz: %s\n", what);
    std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  envoy::service::discovery::v3::DiscoveryResponse r;
  if (!r.ParseFromArray(data, static_cast<int>(size))) return 0;
  weft::discovery::XdsClientState state;
  const std::set<std::string> names = {"api.test:80", "web.test:8080"};
  for (const auto& n : names) state.subscribe(n);
  state.onStreamStart();
  (void)state.subscriptionRequests();
  auto out = state.onResponse(r, std::chrono::steady_clock::now());
  if (!out.type) {
    require(!out.reply && out.updates.empty(), "an unrequested type was answered or delivered");
    return 0;
  }
  require(out.reply.has_value(), "a response of a requested type got no ACK/NACK");
  require(out.reply->responseNonce == r.nonce(), "the reply does not answer the response's nonce");
  if (out.nacked) {
    require(out.updates.empty(), "a NACKed response delivered updates");
    require(!out.error.empty() && out.reply->errorDetail == out.error, "a NACK without its reason");
    return 0;
  }
  require(out.reply->errorDetail.empty(), "an ACK carries an error");
  for (const auto& u : out.updates) {
    require(names.count(u.name) == 1, "an update for a cluster not subscribed");
    require(u.exists == (u.version != weft::discovery::kAbsentVersion), "existence disagrees with the version");
    require(u.exists || u.endpoints.empty(), "a cluster that does not exist has endpoints");
    std::set<std::string> seen;
    for (const auto& e : u.endpoints) {
      auto parsed = weft::net::parseEndpoint(e.address);
      require(parsed.has_value(), "an endpoint address that does not parse");
      require(weft::net::formatEndpoint(*parsed) == e.address, "an endpoint address that is not canonical");
      require(seen.insert(e.address).second, "an address delivered twice");
      require(e.weight >= 1, "an endpoint weight below 1");
    }
    if (u.protocol) require(*u.protocol == "http1" || *u.protocol == "http2", "a protocol other than http1/http2");
  }
  return 0;
}
