// The admin API's listener (admin.listen, `run --admin`): GET /livez and /readyz for probes, and
// with the bearer token (when one is configured) GET /metrics in Prometheus text format. It runs
// on the proxy's own loop, on the shared HttpServer. docs/admin.md describes every endpoint and
// metric.
#pragma once
#include <uv.h>

#include <array>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "flow/policy/policy_store.hpp"
#include "flow/proxy/log_writer.hpp"

namespace flow::proxy {

class Server;
class PaymentServices;

// A bearer token, kept only as its SHA-256 so that a comparison takes the same time whatever the
// candidate (CRYPTO_memcmp over digests of equal length).
class AdminToken {
 public:
  explicit AdminToken(std::string_view token);
  bool matches(std::string_view candidate) const;

 private:
  std::array<unsigned char, 32> digest_{};
};

// What the admin API reads. Everything lives on the loop the admin server runs on.
struct AdminSources {
  Server* server = nullptr;             // stats, TLS leaf cache, draining
  PaymentServices* payments = nullptr;  // null: no wallet configured (pass-through only)
  bool wallets_configured = false;
  std::shared_ptr<policy::PolicyStore> policy;
};

class AdminServer {
 public:
  // `token`: null when none is configured (a loopback listener then serves everything openly).
  AdminServer(uv_loop_t* loop, std::string listen, std::optional<AdminToken> token,
              AdminSources sources, Logger& log);
  ~AdminServer();
  AdminServer(const AdminServer&) = delete;
  AdminServer& operator=(const AdminServer&) = delete;

  // Binds and listens; throws ListenError (http_server.hpp) naming the address on failure.
  void start();
  // The paid path, once open (it is opened after the listeners are bound).
  void attach_payments(PaymentServices* payments);
  std::string bound_address() const;
  void stop();

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

// The /metrics body: every counter the proxy keeps, in Prometheus text format 0.0.4.
std::string admin_metrics_text(const AdminSources& sources);

}  // namespace flow::proxy
