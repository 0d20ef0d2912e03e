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
#include <vector>

#include "flow/policy/policy_store.hpp"
#include "flow/proxy/log_writer.hpp"
#include "flow/storage/ledger_tallies.hpp"

namespace flow::proxy {

class Server;
class PaymentServices;

// A bearer token, kept only as its SHA-256 so that a comparison takes the same time whatever the
// candidate (CRYPTO_memcmp over digests of equal length), and the name audit records give
// whoever presents it.
class AdminToken {
 public:
  AdminToken(std::string name, std::string_view token);
  bool matches(std::string_view candidate) const;
  const std::string& name() const { return name_; }

 private:
  std::string name_;
  std::array<unsigned char, 32> digest_{};
};

class PolicyReloader;

// What the admin API reads. Everything lives on the loop the admin server runs on.
struct AdminSources {
  Server* server = nullptr;             // stats, TLS leaf cache, draining
  PaymentServices* payments = nullptr;  // null: no wallet configured (pass-through only)
  bool wallets_configured = false;
  std::shared_ptr<policy::PolicyStore> policy;
  PolicyReloader* reloader = nullptr;  // null: no configuration file (nothing to reload)
};

class AdminServer {
 public:
  // `tokens`: empty when none is configured (a loopback listener then serves everything openly,
  // and audit records name the actor "loopback").
  AdminServer(uv_loop_t* loop, std::string listen, std::vector<AdminToken> tokens,
              AdminSources sources, Logger& log);
  ~AdminServer();
  AdminServer(const AdminServer&) = delete;
  AdminServer& operator=(const AdminServer&) = delete;

  // Binds and listens; throws ListenError (http_server.hpp) naming the address on failure.
  void start();
  // The paid path, once open (it is opened after the listeners are bound).
  void attach_payments(PaymentServices* payments);
  // The policy reloader, once it exists (null again before it goes).
  void attach_reloader(PolicyReloader* reloader);
  std::string bound_address() const;
  void stop();

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

// The /metrics body: every counter the proxy keeps, and with `tallies` what the ledger counted
// (null: no ledger; those families are then written empty), in Prometheus text format 0.0.4.
std::string admin_metrics_text(const AdminSources& sources,
                               const storage::LedgerTallies* tallies = nullptr);

// How many merchants /metrics names one by one; the others are summed as merchant="other".
inline constexpr std::size_t kMetricsMerchantLimit = 50;

}  // namespace flow::proxy
