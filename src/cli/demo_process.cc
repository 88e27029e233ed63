#include "cli/demo_process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <deque>
#include <fstream>
#include <stdexcept>
#include <thread>

namespace weft::cli {

std::unique_ptr<ChildProcess> ChildProcess::spawn(std::string name, const std::vector<std::string>& args,
                                                  const std::string& logPath) {
  // Everything the child needs is prepared before fork: between fork and
  // exec only async-signal-safe calls are allowed.
  std::vector<std::string> argvStore;
  argvStore.reserve(args.size() + 1);
  argvStore.push_back("weft");
  for (const auto& a : args) argvStore.push_back(a);
  std::vector<char*> argv;
  for (auto& a : argvStore) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t parent = ::getpid();
  pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
  if (pid == 0) {
    ::setpgid(0, 0);
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);  // the demo died before prctl took effect
    // Dispositions set to "ignore" survive exec; the children expect defaults.
    ::signal(SIGPIPE, SIG_DFL);
    ::signal(SIGINT, SIG_DFL);
    ::signal(SIGTERM, SIG_DFL);
    ::signal(SIGHUP, SIG_DFL);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    int log = ::open(logPath.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    int null = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (log < 0 || null < 0) ::_exit(126);
    ::dup2(null, 0);
    ::dup2(log, 1);
    ::dup2(log, 2);
    ::execv("/proc/self/exe", argv.data());
    ::_exit(127);
  }
  ::setpgid(pid, pid);  // also here: no race with a signal sent right after spawn
  return std::unique_ptr<ChildProcess>(new ChildProcess(std::move(name), pid, logPath));
}

ChildProcess::~ChildProcess() {
  if (!status_) {
    signal(SIGKILL);
    int st = 0;
    ::waitpid(pid_, &st, 0);
  }
}

bool ChildProcess::alive() {
  if (status_) return false;
  int st = 0;
  pid_t r = ::waitpid(pid_, &st, WNOHANG);
  if (r == 0) return true;
  if (r == pid_) status_ = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  else status_ = -1;  // not our child any more (cannot happen): treat as gone
  return false;
}

void ChildProcess::signal(int sig) {
  if (status_) return;
  ::kill(-pid_, sig);
  if (sig == SIGTERM || sig == SIGKILL) ::kill(-pid_, SIGCONT);
}

std::optional<std::string> ChildProcess::findInLog(std::string_view marker) const {
  std::ifstream in(logPath_);
  std::string line;
  while (std::getline(in, line)) {
    auto at = line.find(marker);
    if (at != std::string::npos) return line.substr(at + marker.size());
  }
  return std::nullopt;
}

std::string ChildProcess::logTail(size_t lines) const {
  std::ifstream in(logPath_);
  std::deque<std::string> last;
  std::string line;
  while (std::getline(in, line)) {
    last.push_back(line);
    if (last.size() > lines) last.pop_front();
  }
  std::string out;
  for (auto& l : last) out += "    " + l + "\n";
  return out;
}

std::vector<std::string> stopAll(const std::vector<ChildProcess*>& children, std::chrono::milliseconds grace) {
  for (auto* c : children)
    if (c->alive()) c->signal(SIGTERM);
  auto deadline = std::chrono::steady_clock::now() + grace;
  for (;;) {
    bool any = false;
    for (auto* c : children) any = c->alive() || any;
    if (!any || std::chrono::steady_clock::now() >= deadline) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  std::vector<std::string> killed;
  for (auto* c : children) {
    if (!c->alive()) continue;
    killed.push_back(c->name());
    c->signal(SIGKILL);
    while (c->alive()) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return killed;
}

}  // namespace weft::cli
