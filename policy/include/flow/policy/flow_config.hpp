#pragma once
#include <chrono>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "flow/policy/policy_snapshot.hpp"

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
};

// The `proxy:` section of flow.yaml: listener, limits and timeouts of the pass-through path.
struct ProxySettings {
  std::string listen = "127.0.0.1:8402";
  std::vector<std::uint16_t> connect_ports{443};
  std::uint32_t max_connections = 1024;
  std::uint32_t max_header_bytes = 32 * 1024;
  std::uint32_t write_high_water = 256 * 1024;
  std::uint32_t pool_max_idle_per_origin = 128;
  ProxyTimeouts timeouts;
  std::string access_log = "-";
  std::string log_level = "info";
};

struct FlowConfig {
  int version = 1;
  ProxySettings proxy;
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
