#include "net/worker_pool.h"

#include <boost/asio/post.hpp>

#include "core/logging.h"

namespace weft::net {

// Each context is driven by exactly one thread, and every socket and timer it
// owns is touched only from that thread (DESIGN.md §3), so Asio's
// per-descriptor locks guard nothing: UNSAFE_IO drops them (two lock/unlock
// pairs per socket operation and per ready event). The scheduler's lock and
// the reactor's registration lock stay: other threads post() work to the
// worker and timers are queued under the registration lock. It also puts Asio
// in its one-thread mode (handlers posted from a handler are queued privately
// and merged once it returns), as a hint of 1 did.
Worker::Worker(size_t index) : index_(index), ctx_(BOOST_ASIO_CONCURRENCY_HINT_UNSAFE_IO), guard_(ctx_.get_executor()) {}

WorkerPool::WorkerPool(size_t n) {
  for (size_t i = 0; i < n; ++i) workers_.push_back(std::make_unique<Worker>(i));
}

WorkerPool::~WorkerPool() { abort(); }

void WorkerPool::start() {
  if (started_) return;
  started_ = true;
  for (auto& w : workers_) {
    w->thread_ = std::thread([w = w.get()] {
      try {
        w->ctx_.run();
      } catch (const std::exception& e) {
        WEFT_LOG_ERROR("worker {} stopped by exception: {}", w->index_, e.what());
      }
    });
  }
}

void WorkerPool::stop() {
  for (auto& w : workers_) w->guard_.reset();
  for (auto& w : workers_)
    if (w->thread_.joinable()) w->thread_.join();
}

void WorkerPool::abort() {
  for (auto& w : workers_) {
    w->guard_.reset();
    w->ctx_.stop();
  }
  for (auto& w : workers_)
    if (w->thread_.joinable()) w->thread_.join();
}

void WorkerPool::postAll(const std::function<void(Worker&)>& fn) {
  for (auto& w : workers_) boost::asio::post(w->ctx_, [fn, w = w.get()] { fn(*w); });
}

}  // namespace weft::net
