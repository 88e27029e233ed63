#pragma once
// The demo's child processes: each is this same binary (/proc/self/exe)
// re-executed with a subcommand, in its own process group (so a terminal's
// Ctrl-C reaches only the demo, which stops the children in order), with
// PR_SET_PDEATHSIG(SIGKILL) (so nothing outlives a demo that is killed), its
// stdout and stderr in a log file, stdin /dev/null.
//
// Main thread only. Nothing here blocks except stopAll(), which is bounded.
#include <sys/types.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace weft::cli {

class ChildProcess {
 public:
  // Throws std::runtime_error when fork fails.
  static std::unique_ptr<ChildProcess> spawn(std::string name, const std::vector<std::string>& args,
                                             const std::string& logPath);
  ~ChildProcess();  // kills and reaps the process if it is still running

  const std::string& name() const { return name_; }
  pid_t pid() const { return pid_; }
  const std::string& logPath() const { return logPath_; }
  // Reaps without waiting; false once the process has exited.
  bool alive();
  // Exit code, or 128 + signal; nullopt while running.
  std::optional<int> exitStatus() const { return status_; }
  // To the whole process group. SIGTERM/SIGKILL also send SIGCONT so a
  // stopped (paused) process can act on them.
  void signal(int sig);
  // The text after `marker` on the first log line containing it.
  std::optional<std::string> findInLog(std::string_view marker) const;
  std::string logTail(size_t lines) const;

 private:
  ChildProcess(std::string name, pid_t pid, std::string logPath)
      : name_(std::move(name)), pid_(pid), logPath_(std::move(logPath)) {}
  std::string name_;
  pid_t pid_;
  std::string logPath_;
  std::optional<int> status_;
};

// SIGTERM to every child still running, up to `grace` for them to exit,
// then SIGKILL; reaps all. Returns the names of those that needed SIGKILL.
std::vector<std::string> stopAll(const std::vector<ChildProcess*>& children, std::chrono::milliseconds grace);

}  // namespace weft::cli
