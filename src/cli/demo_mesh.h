#pragma once
// The demo's mesh on loopback: a temp folder with its configs and logs, the
// `weft controller` (file source), the `weft proxy` instances and the
// `weft sample-server` instances, all child processes (demo_process.h), plus
// the discovery state the story edits and the proxies' view of it.
//
// Discovery modes: `controller` — the state is written to the controller's
// services.yaml (atomically) and the proxies learn it over xDS; `static` —
// the state is written into each proxy's own config as static clusters and
// the proxies are sent SIGHUP (live reload).
//
// Main thread only. The awaitables suspend on the executor; nothing blocks
// except stopAll(), which is bounded.
#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/thread_pool.hpp>

#include "cli/demo_process.h"
#include "cli/demo_view.h"

namespace weft::cli {

// Cluster names the demo uses (authorities, as the proxies route them).
inline constexpr std::string_view kWeb = "web.demo:80";
inline constexpr std::string_view kApi = "api.demo:80";  // a traffic split
inline constexpr std::string_view kApiStable = "api-stable.demo:80";
inline constexpr std::string_view kApiCanary = "api-canary.demo:80";
inline constexpr std::string_view kEcho = "echo.demo:80";

struct Instance {
  enum class State { kRunning, kDark, kStopped };
  std::string name;
  std::string address;  // "127.0.0.1:PORT"
  uint16_t port = 0;
  std::string role;     // shown in the view, e.g. "web", "api v1"
  std::unique_ptr<ChildProcess> proc;
  State state = State::kRunning;
};

class Mesh {
 public:
  Mesh(boost::asio::any_io_executor ex, std::string discovery);
  ~Mesh();

  // The temp folder; throws std::runtime_error when it cannot be created.
  void createFolder();
  const std::string& folder() const { return folder_; }
  bool useController() const { return discovery_ == "controller"; }

  // Start-up; each throws std::runtime_error (with the child's log tail) when
  // a process does not come up within its deadline.
  boost::asio::awaitable<void> startController();
  boost::asio::awaitable<void> startProxies(size_t n);
  boost::asio::awaitable<Instance*> startInstance(std::string name, std::string role, std::vector<std::string> args);

  // --- discovery state (published by publish()) ---
  std::map<std::string, std::vector<std::string>, std::less<>> members;  // service → instance names
  int stableWeight = 100;
  int canaryWeight = 0;
  void publish();
  // What `cluster` should hold once the last publish() is applied, and each
  // address's share of its traffic (the split's weights spread over each
  // backend's endpoints).
  std::set<std::string> expectedAddresses(std::string_view cluster) const;
  std::map<std::string, double> expectedShares(std::string_view cluster) const;
  // Until every proxy's set for `cluster` equals expectedAddresses(), with
  // the weights of expectedShares() (±1 %) and every endpoint ready (but those in `notReady`, which only need to be
  // listed); seconds taken, or nullopt on timeout.
  boost::asio::awaitable<std::optional<double>> waitConverged(std::string_view cluster,
                                                              std::chrono::milliseconds timeout,
                                                              std::set<std::string> notReady = {});

  // SIGTERM (the sample server drains), up to 5 s, then SIGKILL.
  boost::asio::awaitable<void> stopInstance(Instance& i);
  // SIGSTOP: the process stops answering without a FIN or RST.
  void darken(Instance& i);
  // Turns an instance started with `--backlog 0` into a blackhole: SIGSTOP,
  // then one connection of our own fills its accept queue, so the kernel
  // drops every further SYN to it silently (no RST, no ICMP) — what a
  // deleted pod's IP does (incident 003). False if the queue could not be filled.
  bool blackhole(Instance& i);

  // Refreshes snapshots() from every proxy's admin API (through the shared
  // AdminClient, on a scrape thread of its own).
  boost::asio::awaitable<void> scrape();
  const std::vector<ProxySnapshot>& snapshots() const { return snapshots_; }
  std::vector<boost::asio::ip::tcp::endpoint> proxyEndpoints() const;
  size_t proxyCount() const { return proxies_.size(); }

  Instance* find(std::string_view name);
  const std::vector<std::unique_ptr<Instance>>& instances() const { return instances_; }
  // The name and status of a control-plane process (controller or proxy)
  // that is no longer running; empty while all run.
  std::string deadControlPlane();
  // Makes waits end early (Ctrl-C): waitConverged() answers nullopt,
  // starting a process throws.
  void cancel() { cancelled_ = true; }
  bool cancelled() const { return cancelled_; }
  // Stops every child still running (bounded); idempotent. Returns the
  // names of children that had to be killed.
  std::vector<std::string> stopAll();
  // Every child process ever started, running or not.
  std::vector<ChildProcess*> children() const;

 private:
  struct Proxy {
    std::string name;
    std::string configPath;
    boost::asio::ip::tcp::endpoint outbound, admin;
    std::unique_ptr<ChildProcess> proc;
  };
  boost::asio::awaitable<std::string> waitForLog(ChildProcess& p, std::string_view marker,
                                                 std::chrono::milliseconds timeout);
  std::string proxyConfig(bool withClusters) const;
  std::string servicesYaml() const;
  std::vector<std::string> addressesOf(std::string_view service) const;

  boost::asio::any_io_executor ex_;
  std::string discovery_;
  std::string folder_;
  std::string servicesPath_;
  std::unique_ptr<ChildProcess> controller_;
  std::string xdsAddress_;
  std::vector<Proxy> proxies_;
  std::vector<std::unique_ptr<Instance>> instances_;
  std::vector<ProxySnapshot> snapshots_;
  bool stopped_ = false;
  bool cancelled_ = false;
  std::vector<int> heldSockets_;  // blackhole() fillers, closed by stopAll()
  // Admin scrapes (blocking AdminClient calls); last, so it is joined first.
  boost::asio::thread_pool scrapeThread_{1};
};

// Connections waiting in the accept queue of the socket listening on
// 127.0.0.1:`port`, plus half-open ones (SYN received) to it, from
// /proc/net/tcp. A stopped process accepts nothing, so every connect made to
// it after it stopped stays counted here. nullopt: no such listener.
std::optional<int> pendingConnections(uint16_t port);
// The kernel's count of SYNs dropped at full listen queues (TcpExt
// ListenDrops), machine-wide; nullopt when unreadable.
std::optional<uint64_t> listenDrops();

}  // namespace weft::cli
