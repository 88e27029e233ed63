#include "cli/demo_mesh.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <fmt/format.h>

#include "cli/admin_client.h"
#include "net/address.h"

namespace weft::cli {

namespace asio = boost::asio;
using asio::ip::tcp;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

namespace {

constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);

asio::awaitable<void> sleepFor(asio::any_io_executor ex, milliseconds d) {
  asio::steady_timer t(ex);
  t.expires_after(d);
  co_await t.async_wait(kTuple);
}

// Writes then renames, so a watcher never reads half a file.
void writeAtomically(const std::string& path, const std::string& text) {
  std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << text;
    if (!out) throw std::runtime_error("cannot write " + tmp);
  }
  std::filesystem::rename(tmp, path);
}

std::string word(std::string_view s, std::string_view key) {
  auto at = s.find(key);
  if (at == std::string_view::npos) return {};
  auto rest = s.substr(at + key.size());
  return std::string(rest.substr(0, rest.find_first_of(" )")));
}

tcp::endpoint endpointOrThrow(const std::string& s, const std::string& what) {
  auto ep = net::parseEndpoint(s);
  if (!ep) throw std::runtime_error(fmt::format("{}: cannot read an address from '{}'", what, s));
  return *ep;
}

}  // namespace

Mesh::Mesh(asio::any_io_executor ex, std::string discovery) : ex_(std::move(ex)), discovery_(std::move(discovery)) {}

Mesh::~Mesh() {
  stopAll();
  // The ChildProcess destructors kill and reap anything left.
}

void Mesh::createFolder() {
  std::string tmpl = (std::filesystem::temp_directory_path() / "weft-demo-XXXXXX").string();
  if (!::mkdtemp(tmpl.data())) throw std::runtime_error("cannot create a temp folder");
  folder_ = tmpl;
  servicesPath_ = folder_ + "/services.yaml";
  // Every child inherits this, so a test (or an operator) can find any
  // process the demo started by its environment.
  ::setenv("WEFT_DEMO_DIR", folder_.c_str(), 1);
}

asio::awaitable<std::string> Mesh::waitForLog(ChildProcess& p, std::string_view marker, milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  for (;;) {
    if (auto line = p.findInLog(marker)) co_return *line;
    if (!p.alive())
      throw std::runtime_error(fmt::format("{} exited with status {} while starting:\n{}", p.name(),
                                           p.exitStatus().value_or(-1), p.logTail(15)));
    if (Clock::now() >= deadline)
      throw std::runtime_error(fmt::format("{} did not start within {} ms:\n{}", p.name(), timeout.count(),
                                           p.logTail(15)));
    if (cancelled_) throw std::runtime_error(fmt::format("interrupted while {} was starting", p.name()));
    co_await sleepFor(ex_, milliseconds(20));
  }
}

asio::awaitable<void> Mesh::startController() {
  writeAtomically(servicesPath_, servicesYaml());
  std::string config = folder_ + "/controller.yaml";
  writeAtomically(config, "xds: 127.0.0.1:0\nadmin: 127.0.0.1:0\nlog_level: info\nsource:\n  file: services.yaml\n");
  controller_ = ChildProcess::spawn("controller", {"controller", "--config", config}, folder_ + "/controller.log");
  // "controller: serving xds on 127.0.0.1:0 (port N), ..." once xDS is open.
  auto rest = co_await waitForLog(*controller_, "(port ", milliseconds(15000));
  auto port = rest.substr(0, rest.find_first_not_of("0123456789"));
  if (port.empty()) throw std::runtime_error("controller: no xDS port in its log line: " + rest);
  xdsAddress_ = "127.0.0.1:" + port;
}

std::vector<std::string> Mesh::addressesOf(std::string_view service) const {
  std::vector<std::string> out;
  auto it = members.find(service);
  if (it == members.end()) return out;
  for (const auto& name : it->second)
    for (const auto& i : instances_)
      if (i->name == name) out.push_back(i->address);
  return out;
}

std::string Mesh::servicesYaml() const {
  auto list = [](const std::vector<std::string>& v) {
    std::string s = "[";
    for (size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + v[i];
    return s + "]";
  };
  std::string y = "# weft demo: the controller's file source, rewritten by each story step\nservices:\n";
  for (auto svc : {kWeb, kApiStable, kApiCanary, kEcho})
    y += fmt::format("  - name: {}\n    endpoints: {}\n", svc, list(addressesOf(svc)));
  y += fmt::format("splits:\n  - name: {}\n    backends: [{{service: {}, weight: {}}}, {{service: {}, weight: {}}}]\n",
                   kApi, kApiStable, stableWeight, kApiCanary, canaryWeight);
  return y;
}

std::string Mesh::proxyConfig(bool withClusters) const {
  std::string y = "outbound: 127.0.0.1:0\nadmin: 127.0.0.1:0\nworkers: 1\nlog_level: info\n";
  if (useController()) y += fmt::format("controller: {}\n", xdsAddress_);
  if (!withClusters) return y;
  // Static mode: the same state as the services file, with the split
  // flattened the way the controller does it (each backend's share spread
  // over its endpoints).
  auto eps = [](const std::vector<std::string>& addrs, int weight) {
    std::string s;
    for (const auto& a : addrs) s += fmt::format("{}{{address: {}, weight: {}}}", s.empty() ? "" : ", ", a, weight);
    return s;
  };
  y += "clusters:\n";
  y += fmt::format("  - name: {}\n    endpoints: [{}]\n", kWeb, eps(addressesOf(kWeb), 1));
  auto stable = addressesOf(kApiStable), canary = addressesOf(kApiCanary);
  std::string api;
  if (stableWeight > 0 && !stable.empty()) api = eps(stable, std::max<int>(1, stableWeight * 1000 / static_cast<int>(stable.size())));
  if (canaryWeight > 0 && !canary.empty()) {
    auto c = eps(canary, std::max<int>(1, canaryWeight * 1000 / static_cast<int>(canary.size())));
    api += (api.empty() ? "" : ", ") + c;
  }
  y += fmt::format("  - name: {}\n    endpoints: [{}]\n", kApi, api);
  y += fmt::format("  - name: {}\n    endpoints: [{}]\n", kEcho, eps(addressesOf(kEcho), 1));
  return y;
}

asio::awaitable<void> Mesh::startProxies(size_t n) {
  for (size_t i = 0; i < n; ++i) {
    Proxy p;
    p.name = fmt::format("proxy-{}", static_cast<char>('a' + i));
    p.configPath = fmt::format("{}/{}.yaml", folder_, p.name);
    writeAtomically(p.configPath, proxyConfig(!useController()));
    p.proc = ChildProcess::spawn(p.name, {"proxy", "--config", p.configPath}, fmt::format("{}/{}.log", folder_, p.name));
    auto line = co_await waitForLog(*p.proc, "weft proxy listening:", milliseconds(15000));
    p.outbound = endpointOrThrow(word(line, "outbound="), p.name + " outbound");
    p.admin = endpointOrThrow(word(line, "admin="), p.name + " admin");
    proxies_.push_back(std::move(p));
  }
  snapshots_.assign(proxies_.size(), {});
}

asio::awaitable<Instance*> Mesh::startInstance(std::string name, std::string role, std::vector<std::string> args) {
  auto inst = std::make_unique<Instance>();
  inst->name = name;
  inst->role = std::move(role);
  std::vector<std::string> argv = {"sample-server", "--listen", "127.0.0.1:0", "--name", name};
  argv.insert(argv.end(), args.begin(), args.end());
  inst->proc = ChildProcess::spawn(name, argv, fmt::format("{}/{}.log", folder_, name));
  auto line = co_await waitForLog(*inst->proc, "listening on ", milliseconds(10000));
  auto ep = endpointOrThrow(line, name);
  inst->address = net::formatEndpoint(ep);
  inst->port = ep.port();
  instances_.push_back(std::move(inst));
  co_return instances_.back().get();
}

void Mesh::publish() {
  if (useController()) {
    writeAtomically(servicesPath_, servicesYaml());
    return;
  }
  auto y = proxyConfig(true);
  for (auto& p : proxies_) {
    writeAtomically(p.configPath, y);
    p.proc->signal(SIGHUP);
  }
}

std::set<std::string> Mesh::expectedAddresses(std::string_view cluster) const {
  std::set<std::string> out;
  auto add = [&](std::string_view svc) {
    for (auto& a : addressesOf(svc)) out.insert(a);
  };
  if (cluster == kApi) {
    if (stableWeight > 0) add(kApiStable);
    if (canaryWeight > 0) add(kApiCanary);
  } else {
    add(cluster);
  }
  return out;
}

std::map<std::string, double> Mesh::expectedShares(std::string_view cluster) const {
  std::map<std::string, double> out;
  auto spread = [&](std::string_view svc, double share) {
    auto addrs = addressesOf(svc);
    for (auto& a : addrs) out[a] += share / static_cast<double>(addrs.size());
  };
  if (cluster == kApi) {
    double total = stableWeight + canaryWeight;
    if (stableWeight > 0) spread(kApiStable, stableWeight / total);
    if (canaryWeight > 0) spread(kApiCanary, canaryWeight / total);
  } else {
    spread(cluster, 1.0);
  }
  return out;
}

asio::awaitable<std::optional<double>> Mesh::waitConverged(std::string_view cluster, milliseconds timeout,
                                                           std::set<std::string> notReady) {
  auto start = Clock::now();
  auto want = expectedAddresses(cluster);
  auto shares = expectedShares(cluster);
  std::string name(cluster);
  for (;;) {
    co_await scrape();
    bool all = true;
    for (const auto& s : snapshots_) {
      auto it = s.clusters.find(name);
      if (!s.ok || it == s.clusters.end() || it->second.size() != want.size()) {
        all = false;
        break;
      }
      double total = 0;
      for (const auto& [addr, view] : it->second) total += view.weight;
      for (const auto& [addr, view] : it->second)
        all = all && want.count(addr) && (view.state == "ready" || notReady.count(addr)) &&
              std::abs(view.weight / total - shares[addr]) <= 0.01;
    }
    if (all) co_return std::chrono::duration<double>(Clock::now() - start).count();
    if (Clock::now() - start >= timeout || cancelled_) co_return std::nullopt;
    co_await sleepFor(ex_, milliseconds(50));
  }
}

asio::awaitable<void> Mesh::stopInstance(Instance& i) {
  i.proc->signal(SIGTERM);
  auto deadline = Clock::now() + std::chrono::seconds(5);
  while (i.proc->alive() && Clock::now() < deadline) co_await sleepFor(ex_, milliseconds(20));
  if (i.proc->alive()) {
    i.proc->signal(SIGKILL);
    while (i.proc->alive()) co_await sleepFor(ex_, milliseconds(5));
  }
  i.state = Instance::State::kStopped;
}

void Mesh::darken(Instance& i) {
  i.proc->signal(SIGSTOP);
  i.state = Instance::State::kDark;
}

bool Mesh::blackhole(Instance& i) {
  darken(i);
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return false;
  heldSockets_.push_back(fd);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(i.port);
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  // The kernel completes this handshake itself (the queue has room for one)
  // even though the process is stopped.
  if (::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0 && errno != EINPROGRESS) return false;
  pollfd p{fd, POLLOUT, 0};
  if (::poll(&p, 1, 1000) != 1) return false;
  int err = 0;
  socklen_t len = sizeof err;
  ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
  return err == 0;
}

namespace {
using AdminPair = std::pair<AdminResult, AdminResult>;  // /debug/endpoints, /metrics

// Runs on the scrape thread: the shared admin client blocks (poll deadlines).
asio::awaitable<std::vector<AdminPair>> fetchAdmin(std::vector<std::string> admins) {
  std::vector<AdminPair> out;
  for (const auto& a : admins) {
    AdminClient client(a, milliseconds(2000));
    auto eps = client.get("/debug/endpoints");
    auto met = client.get("/metrics");
    out.emplace_back(std::move(eps), std::move(met));
  }
  co_return out;
}

std::string describe(std::string_view what, const AdminResult& r) {
  return fmt::format("{}: {}", what, r.reached() ? fmt::format("HTTP {}", r.status) : r.error);
}
}  // namespace

asio::awaitable<void> Mesh::scrape() {
  std::vector<std::string> admins;
  for (const auto& p : proxies_) admins.push_back(net::formatEndpoint(p.admin));
  // The blocking requests run on their own thread so the load loops on this
  // one keep their pace and their latencies stay honest.
  auto raw = co_await asio::co_spawn(scrapeThread_, fetchAdmin(std::move(admins)), asio::use_awaitable);
  for (size_t i = 0; i < raw.size() && i < snapshots_.size(); ++i) {
    ProxySnapshot s;
    const auto& [eps, met] = raw[i];
    if (!eps.ok()) s.error = describe("/debug/endpoints", eps);
    else if (!met.ok()) s.error = describe("/metrics", met);
    else if (parseEndpointsJson(eps.body, s, s.error)) {
      s.metrics = parsePrometheus(met.body);
      s.ok = true;
    }
    snapshots_[i] = std::move(s);
  }
}

std::vector<tcp::endpoint> Mesh::proxyEndpoints() const {
  std::vector<tcp::endpoint> out;
  for (const auto& p : proxies_) out.push_back(p.outbound);
  return out;
}

Instance* Mesh::find(std::string_view name) {
  for (auto& i : instances_)
    if (i->name == name) return i.get();
  return nullptr;
}

std::string Mesh::deadControlPlane() {
  if (controller_ && !controller_->alive())
    return fmt::format("controller (status {})", controller_->exitStatus().value_or(-1));
  for (auto& p : proxies_)
    if (!p.proc->alive()) return fmt::format("{} (status {})", p.name, p.proc->exitStatus().value_or(-1));
  return {};
}

std::vector<ChildProcess*> Mesh::children() const {
  std::vector<ChildProcess*> out;
  // Traffic sources first, control plane last: the order stopAll() uses.
  for (const auto& p : proxies_) out.push_back(p.proc.get());
  for (const auto& i : instances_) out.push_back(i->proc.get());
  if (controller_) out.push_back(controller_.get());
  return out;
}

std::vector<std::string> Mesh::stopAll() {
  if (stopped_) return {};
  stopped_ = true;
  for (auto& i : instances_)
    if (i->state != Instance::State::kStopped) i->state = Instance::State::kStopped;
  for (int fd : heldSockets_) ::close(fd);
  heldSockets_.clear();
  return cli::stopAll(children(), milliseconds(5000));
}

std::optional<int> pendingConnections(uint16_t port) {
  std::ifstream in("/proc/net/tcp");
  std::string line;
  std::getline(in, line);  // header
  std::optional<int> queued;
  int synRecv = 0;
  auto wantLocal = fmt::format("0100007F:{:04X}", port);
  while (std::getline(in, line)) {
    std::istringstream f(line);
    std::string sl, local, remote, state, queues;
    if (!(f >> sl >> local >> remote >> state >> queues)) continue;
    if (local != wantLocal) continue;
    if (state == "0A") {  // LISTEN: rx_queue is the accept queue's length
      auto colon = queues.find(':');
      if (colon != std::string::npos) queued = static_cast<int>(std::stoul(queues.substr(colon + 1), nullptr, 16));
    } else if (state == "03") {  // SYN_RECV
      ++synRecv;
    }
  }
  if (!queued) return std::nullopt;
  return *queued + synRecv;
}

std::optional<uint64_t> listenDrops() {
  // Two "TcpExt:" lines: names, then values.
  std::ifstream in("/proc/net/netstat");
  std::string names, values;
  while (std::getline(in, names)) {
    if (!names.starts_with("TcpExt:")) continue;
    if (!std::getline(in, values)) return std::nullopt;
    std::istringstream n(names), v(values);
    std::string name, value;
    while (n >> name && v >> value)
      if (name == "ListenDrops") return std::stoull(value);
    return std::nullopt;
  }
  return std::nullopt;
}

}  // namespace weft::cli
