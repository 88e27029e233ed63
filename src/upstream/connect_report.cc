#include "upstream/connect_report.h"

#include <boost/asio/error.hpp>

#include "core/metrics.h"
#include "net/errno_name.h"

namespace weft::upstream {

void reportConnect(const PoolOptions& options, const boost::system::error_code& ec, std::string_view kind) {
  int err = net::errnoOf(ec);
  std::string_view result = !ec ? "ok" : ec == boost::asio::error::timed_out ? "timeout" : "error";
  threadCounter("weft_connect_attempts_total", "Upstream connect attempts, by result and errno",
                labels({labelPair("cluster", options.cluster), labelPair("result", result),
                        labelPair("errno", net::errnoName(err)), labelPair("kind", kind)}))
      .inc();
  if (options.onConnect) options.onConnect(err);
}

}  // namespace weft::upstream
