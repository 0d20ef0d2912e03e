// The paid path under test: a throwaway wallet made with `402flow keygen`, a flow.yaml written
// into a private temp dir, `402flow run` on a real SQLite ledger, and readers for what the
// ledger (`402flow receipts --json`, `402flow spend --json`) and the merchant recorded.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "support/child_process.hpp"
#include "support/http_wire.hpp"
#include "support/merchant_process.hpp"
#include "support/proxy_process.hpp"
#include "support/temp_dir.hpp"

namespace flow::testing {

// The policy sections every paid test starts from: block posture, payments on Base and Polygon,
// 1 USDC per request, agent "test-agent"; the merchant's /v1 and /v2 routes and a test origin's
// /paid routes are allowed (all on 127.0.0.1), anything else on 127.0.0.1 is not.
std::string default_policy();
// default_policy() plus a daily organization budget of 50 USDC, so `402flow spend` shows held
// money.
std::string policy_with_budget();

struct PaidProxyOptions {
  std::string identity = "sidecar";
  std::string agent = "test-agent";  // proxy.agent; empty: not written
  std::size_t replay_limit = 65536;
  std::string policy = default_policy();  // YAML after `wallets:`
  std::vector<std::string> wallet_networks = {"eip155:8453", "eip155:137", "eip155:84532"};
  std::vector<std::string> extra_args;  // to `402flow run`
  std::vector<std::string> extra_env;
  bool autostart = true;  // false: call start() yourself
};

class PaidProxy {
 public:
  explicit PaidProxy(PaidProxyOptions options = {});

  // (Re)starts `402flow run -c flow.yaml --db ledger.db` on the same ledger and wallet.
  void start(const std::vector<std::string>& extra_env = {});
  // SIGKILLs the running proxy (it may be stopped) and forgets it.
  void kill();

  ProxyProcess& process() { return *proxy_; }
  std::uint16_t port() const { return proxy_->port(); }
  pid_t pid() const { return proxy_->pid(); }
  const std::string& db() const { return db_; }
  const std::string& config() const { return config_; }
  const std::string& wallet_address() const { return address_; }
  std::string path(std::string_view name) const { return dir_.file(name); }

  nlohmann::json receipts() const;  // `402flow receipts --db F --json`
  nlohmann::json spend() const;     // `402flow spend --db F --json`
  CommandResult verify() const;     // `402flow receipts verify --db F`
  // `402flow <args...> --db F`: a ledger command's text output, as the operator reads it.
  CommandResult ledger_command(std::vector<std::string> args) const;

 private:
  PaidProxyOptions options_;
  TempDir dir_;
  std::string db_;
  std::string config_;
  std::string key_file_;
  std::string address_;
  std::unique_ptr<ProxyProcess> proxy_;
};

// "<METHOD> http://<authority><path> HTTP/1.1" with Host, `extra_headers` (CRLF-terminated
// lines), Connection: close and, when given, a Content-Length framed body.
std::string proxied_request(std::string_view method, std::string_view authority,
                            std::string_view path, std::string_view extra_headers = {},
                            std::string_view body = {});
// Sends one request to the proxy on a fresh connection and reads the answer.
HttpResponse send_via_proxy(std::uint16_t proxy_port, std::string_view raw);
HttpResponse get_via_proxy(std::uint16_t proxy_port, std::string_view authority,
                           std::string_view path, std::string_view extra_headers = {});

// The merchant's book of recorded payments (GET /_merchant/payments, asked directly).
nlohmann::json merchant_book(const MerchantProcess& merchant);
// The merchant's per-request log lines for `path`, parsed.
std::vector<nlohmann::json> merchant_requests(const MerchantProcess& merchant,
                                              std::string_view path);

// Waits (bounded) until the merchant logged at least `count` requests for `path` (its log is
// written in batches), then returns them all.
std::vector<nlohmann::json> wait_merchant_requests(const MerchantProcess& merchant,
                                                   std::string_view path, std::size_t count);

// The receipts (from PaidProxy::receipts) whose url ends with `path`.
std::vector<nlohmann::json> receipts_for(const nlohmann::json& receipts, std::string_view path);

std::string lower_case(std::string s);

}  // namespace flow::testing
