#pragma once
// N worker threads, each running its own single-threaded io_context
// (DESIGN.md §3). Everything a worker owns is touched only from its thread;
// other threads hand it work with post(). Created and stopped on the main thread.
#include <functional>
#include <memory>
#include <thread>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

namespace weft::net {

class Worker {
 public:
  explicit Worker(size_t index);
  size_t index() const { return index_; }
  boost::asio::io_context& context() { return ctx_; }
  boost::asio::any_io_executor executor() { return ctx_.get_executor(); }

 private:
  friend class WorkerPool;
  size_t index_;
  boost::asio::io_context ctx_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> guard_;
  std::thread thread_;
};

class WorkerPool {
 public:
  explicit WorkerPool(size_t n);
  ~WorkerPool();
  void start();
  // Lets each loop finish its queued work, then joins. Idempotent.
  void stop();
  // Stops the loops at once (pending handlers are dropped), then joins.
  void abort();
  size_t size() const { return workers_.size(); }
  Worker& at(size_t i) { return *workers_[i]; }
  // Runs fn(worker) on every worker's own thread.
  void postAll(const std::function<void(Worker&)>& fn);

 private:
  std::vector<std::unique_ptr<Worker>> workers_;
  bool started_ = false;
};

}  // namespace weft::net
