#pragma once
// The naming and address rules of services.yaml, shared by every source (file,
// etcd, Kubernetes) so that a service or an address means the same whatever
// it came from. Pure; any thread; no I/O.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace weft::controller {

// The upstream protocol a service speaks, when the source knows it.
enum class Protocol { kUnspecified, kHttp1, kHttp2 };
std::string_view protocolName(Protocol p);  // "", "http1", "http2"

// On failure the functions below return nullopt with the reason in `why`.
inline constexpr uint32_t kMaxEndpointWeight = 1'000'000;
// An authority host[:port] (no whitespace, '/' or '"'), normalised: lowercased, ":80" added.
std::optional<std::string> normalizeServiceName(std::string_view name, std::string* why);
// A numeric "ip:port" / "[v6]:port" with a port above 0, in canonical spelling.
std::optional<std::string> canonicalEndpointAddress(std::string_view address, std::string* why);
// "http1" | "http2".
std::optional<Protocol> parseProtocol(std::string_view name);

}  // namespace weft::controller
