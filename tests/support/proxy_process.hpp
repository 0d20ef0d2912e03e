// The real `402flow run` binary as a child process on 127.0.0.1:0, with its port read from
// --port-file, its access log in a private temp dir and its memory use read from /proc.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "support/child_process.hpp"
#include "support/socket_io.hpp"
#include "support/temp_dir.hpp"

namespace flow::testing {

// Path of the binary under test (FLOW_BINARY, set by CMake to $<TARGET_FILE:402flow>).
std::string flow_binary();

// The port of a port file ("HOST:PORT\n"); nullopt while it is missing or incomplete.
std::optional<std::uint16_t> read_port_file(const std::string& path);

struct MemoryUsage {
  std::size_t rss_kib = 0;  // VmRSS
  std::size_t hwm_kib = 0;  // VmHWM: peak resident set size
};

class ProxyProcess {
 public:
  // Starts `402flow run --listen 127.0.0.1:0 --port-file F --access-log F <extra_args>` and waits
  // until the port file appears. Unless extra_args name --admin, the admin API listens on
  // 127.0.0.1:0 too (admin_port()), so that proxies never compete for its default port. Throws
  // (with the proxy's stderr) if it exits or never listens.
  explicit ProxyProcess(std::vector<std::string> extra_args = {},
                        std::vector<std::string> extra_env = {});
  ~ProxyProcess() = default;

  std::uint16_t port() const { return port_; }
  std::string authority() const { return "127.0.0.1:" + std::to_string(port_); }
  // The admin API's port; 0 when it is off.
  std::uint16_t admin_port() const { return admin_port_; }
  pid_t pid() const { return child_->pid(); }

  void send_signal(int signal) { child_->send_signal(signal); }
  std::optional<ExitStatus> wait_exit(std::chrono::milliseconds timeout) {
    return child_->wait_exit(timeout);
  }
  bool running() { return child_->running(); }

  MemoryUsage memory_usage() const;
  std::string stderr_text() const;

  // Complete lines of the access log so far.
  std::vector<std::string> access_log_lines() const;
  // Waits until the access log holds at least `count` lines and returns them parsed; throws
  // when the deadline passes (message lists what was there).
  std::vector<nlohmann::json> wait_for_access_log(std::size_t count, Deadline deadline) const;

 private:
  TempDir dir_;
  std::unique_ptr<ChildProcess> child_;
  std::uint16_t port_ = 0;
  std::uint16_t admin_port_ = 0;
};

}  // namespace flow::testing
