#pragma once
#include <chrono>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "flow/policy/policy_snapshot.hpp"
#include "flow/policy/tls_settings.hpp"

namespace flow::policy {

using std::chrono::milliseconds;

struct ProxyTimeouts {
  milliseconds header{15'000};        // whole request head must arrive within this
  milliseconds idle{60'000};          // keep-alive idle between requests
  milliseconds connect{10'000};       // upstream TCP connect
  milliseconds upstream{60'000};      // upstream response head, and gaps between body reads
  milliseconds tunnel_idle{300'000};  // CONNECT tunnel with no traffic either way
  milliseconds drain{30'000};         // SIGTERM grace period for in-flight exchanges
  milliseconds pool_idle{30'000};     // idle upstream connection kept in the pool
  milliseconds challenge{10'000};     // a 402's body (the challenge) must arrive within this
};

// How the proxy learns which agent is asking.
enum class AgentIdentity {
  sidecar,  // one agent per proxy: `proxy.agent`, or the FLOW402_AGENT environment variable
  shared,   // each request proves its agent with Proxy-Authorization: Basic (agent id, token)
};
std::string_view agent_identity_name(AgentIdentity identity);

// The `proxy:` section of flow.yaml: listener, limits and timeouts of the pass-through path.
struct ProxySettings {
  std::string listen = "127.0.0.1:8402";
  // The transparent listener (connections redirected by iptables REDIRECT); empty: none.
  std::string transparent;
  std::vector<std::uint16_t> connect_ports{443};
  std::uint32_t max_connections = 1024;
  std::uint32_t max_header_bytes = 32 * 1024;
  std::uint32_t write_high_water = 256 * 1024;
  std::uint32_t pool_max_idle_per_origin = 128;
  ProxyTimeouts timeouts;
  // "-" is stderr; written in flow.yaml, a relative path is relative to the file's directory.
  std::string access_log = "-";
  std::string log_level = "info";
  AgentIdentity identity = AgentIdentity::sidecar;
  std::string agent;  // sidecar mode: the agent id (FLOW402_AGENT overrides it)
  // Request bodies up to this size are kept while they stream, so a 402 can be answered by
  // sending the request again with a payment; a larger request that meets a 402 is not paid.
  std::uint32_t replay_limit = 1024 * 1024;
  std::uint32_t challenge_max_bytes = 64 * 1024;  // a 402 body larger than this is not read
};

// The `ledger:` section: where receipts and budgets live.
struct LedgerSettings {
  // Written in flow.yaml, a relative path is relative to the file's directory; the default is in
  // the working directory, where `402flow receipts` looks by default.
  std::string path = "402flow.db";
  std::string url_query = "hash";  // keep | hash | drop: what receipts keep of a URL's query
};

// One `wallets:` entry. The key itself is loaded by the payment module at start-up; the
// configuration only says where it is.
struct WalletSpec {
  std::string name;
  std::vector<std::string> networks;  // CAIP-2 ids, or "eip155:*" for every EVM chain
  std::string key_file;               // absolute, or relative to flow.yaml's directory
  std::string key_env;                // or: an environment variable holding the key
  bool covers(std::string_view network) const;
};

// `admin.webhook`: where approvals that open or are decided are POSTed, signed.
struct WebhookSettings {
  std::string url;          // http://host[:port][/path]; empty: no webhook
  std::string secret_file;  // the HMAC key's file (owner-only); relative to flow.yaml's directory
  bool enabled() const { return !url.empty(); }
  bool operator==(const WebhookSettings&) const = default;
};

// The `admin:` section: the admin API's listener (health, readiness, metrics).
struct AdminSettings {
  static constexpr std::string_view kDefaultListen = "127.0.0.1:9402";
  static constexpr std::string_view kOff = "off";
  // HOST:PORT, or "off" for no admin listener.
  std::string listen = std::string(kDefaultListen);
  // The bearer token's file (owner-only); written in flow.yaml, relative to the file's directory.
  // FLOW402_ADMIN_TOKEN may give the token instead.
  std::string token_file;
  WebhookSettings webhook;
  // More bearer tokens, each with the name the audit records give whoever uses it
  // (`admin.tokens: [{name: alice, file: alice.token}]`). token_file's is named "admin",
  // FLOW402_ADMIN_TOKEN's "env".
  struct NamedToken {
    std::string name;
    std::string file;  // owner-only, like token_file; relative to flow.yaml's directory
    bool operator==(const NamedToken&) const = default;
  };
  std::vector<NamedToken> tokens;
  bool enabled() const { return listen != kOff; }
  bool operator==(const AdminSettings&) const = default;
};

struct FlowConfig {
  int version = 1;
  ProxySettings proxy;
  LedgerSettings ledger;
  std::vector<WalletSpec> wallets;
  TlsSettings tls;
  AdminSettings admin;
  // The payment policy (organization, review, assets, agents, merchants). Never null: without
  // those sections it is the empty policy, which refuses every payment.
  std::shared_ptr<const PolicySnapshot> policy = PolicySnapshot::empty();
};

// Start-up/configuration failure. The message names file:line:column and what was expected.
class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

FlowConfig parse_flow_config(std::string_view yaml_text, const std::string& source_name);
FlowConfig load_flow_config(const std::string& path);

bool is_valid_log_level(std::string_view level);

}  // namespace flow::policy
