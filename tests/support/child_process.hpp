// Child processes for integration tests: spawn with stdout/stderr redirected to files, signal,
// wait with a deadline; the child is killed if the test process dies or forgets it.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace flow::testing {

struct ExitStatus {
  bool exited = false;  // false: killed by a signal
  int code = -1;        // exit code when exited
  int signal = 0;       // terminating signal otherwise
  std::string describe() const;
};

struct SpawnOptions {
  std::string stdout_path = "/dev/null";
  std::string stderr_path = "/dev/null";
  // Added to (or replacing entries of) the test's environment. Proxy variables are always removed
  // so tools like curl only use the proxy they are told to use.
  std::vector<std::string> extra_env;
};

class ChildProcess {
 public:
  ChildProcess(const std::vector<std::string>& argv, const SpawnOptions& options);
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  pid_t pid() const { return pid_; }
  bool running();
  void send_signal(int signal);
  // The exit status once the child ended; nullopt if it still runs after `timeout`.
  std::optional<ExitStatus> wait_exit(std::chrono::milliseconds timeout);
  std::optional<ExitStatus> exit_status() const { return status_; }

 private:
  bool reap(bool block);
  pid_t pid_ = -1;
  std::optional<ExitStatus> status_;
};

struct CommandResult {
  ExitStatus status;
  std::string out;
  std::string err;
};

// Runs a command to completion (killed and reported as a failure after `timeout`).
CommandResult run_command(const std::vector<std::string>& argv, std::chrono::milliseconds timeout,
                          const std::vector<std::string>& extra_env = {});

std::string read_file(const std::string& path);

// Full path of `name` found on PATH; empty when absent.
std::string find_executable(std::string_view name);

}  // namespace flow::testing
