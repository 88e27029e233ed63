#pragma once
// Symbolic errno names ("ECONNREFUSED") for metric labels and logs: stable,
// low-cardinality and what operators search for. Pure; any thread.
#include <string>

#include <boost/system/error_code.hpp>

namespace weft::net {

// 0 → "none"; unknown numbers → "E<number>".
std::string errnoName(int err);
// The errno behind an Asio error (timed_out → ETIMEDOUT); 0 when it has none.
int errnoOf(const boost::system::error_code& ec);

}  // namespace weft::net
