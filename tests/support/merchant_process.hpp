// The real `402flow merchant` binary as a child process on 127.0.0.1:0, its port read from
// --port-file, its per-request log in a private temp dir.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "support/child_process.hpp"
#include "support/socket_io.hpp"
#include "support/temp_dir.hpp"

namespace flow::testing {

class MerchantProcess {
 public:
  // Starts `402flow merchant --listen 127.0.0.1:0 --port-file F <extra_args>` and waits until the
  // port file appears. Throws (with the merchant's stderr) if it exits or never listens.
  explicit MerchantProcess(std::vector<std::string> extra_args = {});

  std::uint16_t port() const { return port_; }
  std::string authority() const { return "127.0.0.1:" + std::to_string(port_); }
  // "http://127.0.0.1:PORT" + path: the resource URL the merchant names for a Host of authority().
  std::string url(const std::string& path) const { return "http://" + authority() + path; }
  pid_t pid() const { return child_->pid(); }

  void send_signal(int signal) { child_->send_signal(signal); }
  std::optional<ExitStatus> wait_exit(std::chrono::milliseconds timeout) {
    return child_->wait_exit(timeout);
  }
  bool running() { return child_->running(); }
  std::string stderr_text() const;

 private:
  TempDir dir_;
  std::unique_ptr<ChildProcess> child_;
  std::uint16_t port_ = 0;
};

}  // namespace flow::testing
