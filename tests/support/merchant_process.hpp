// The real `402flow merchant` binary as a child process on 127.0.0.1:0, its port read from
// --port-file, its per-request log in a private temp dir; over HTTP, or over HTTPS with a
// certificate made for the test.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "support/child_process.hpp"
#include "support/client_connection.hpp"
#include "support/socket_io.hpp"
#include "support/temp_dir.hpp"
#include "support/tls_support.hpp"

namespace flow::testing {

struct MerchantProcessOptions {
  std::vector<std::string> extra_args;
  // HTTPS: a self-signed certificate for 127.0.0.1 and localhost (TlsIdentity) is written to the
  // merchant's temp dir and passed as --tls-cert/--tls-key.
  bool tls = false;
};

class MerchantProcess {
 public:
  // Starts `402flow merchant --listen 127.0.0.1:0 --port-file F <extra_args>` and waits until the
  // port file appears. Throws (with the merchant's stderr) if it exits or never listens.
  explicit MerchantProcess(std::vector<std::string> extra_args = {});
  explicit MerchantProcess(MerchantProcessOptions options);

  std::uint16_t port() const { return port_; }
  std::string authority() const { return "127.0.0.1:" + std::to_string(port_); }
  bool tls() const { return identity_ != nullptr; }
  // "http://127.0.0.1:PORT" + path ("https://" over TLS): the resource URL the merchant names for
  // a Host of authority().
  std::string url(const std::string& path) const {
    return (tls() ? "https://" : "http://") + authority() + path;
  }
  // Over TLS: the certificate the merchant serves, and the file holding it (PEM): what a client
  // trusts (connect_tls, `curl --cacert`). Throws std::logic_error over plain HTTP.
  const TlsIdentity& tls_identity() const;
  std::string ca_file() const;
  // A connection to the merchant; over TLS with the handshake done, the certificate checked
  // against `host`.
  ClientConnection connect(std::string_view host = "127.0.0.1",
                           Deadline deadline = default_deadline()) const;
  pid_t pid() const { return child_->pid(); }

  void send_signal(int signal) { child_->send_signal(signal); }
  std::optional<ExitStatus> wait_exit(std::chrono::milliseconds timeout) {
    return child_->wait_exit(timeout);
  }
  bool running() { return child_->running(); }
  std::string stderr_text() const;

 private:
  TempDir dir_;
  std::unique_ptr<TlsIdentity> identity_;  // over TLS
  std::unique_ptr<ChildProcess> child_;
  std::uint16_t port_ = 0;
};

}  // namespace flow::testing
