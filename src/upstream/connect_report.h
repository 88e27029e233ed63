#pragma once
// One place that records an upstream connect attempt: the
// weft_connect_attempts_total{cluster,result,errno,kind} counter and the
// pool observer (PoolOptions::onConnect) that drives the endpoint state
// machine. Worker thread only.
#include <string_view>

#include <boost/system/error_code.hpp>

#include "upstream/endpoint_pool.h"

namespace weft::upstream {

// `kind`: "probe" for readiness probes, "pool" for connections made to carry requests.
void reportConnect(const PoolOptions& options, const boost::system::error_code& ec, std::string_view kind);

}  // namespace weft::upstream
