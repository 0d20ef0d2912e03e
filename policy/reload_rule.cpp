#include "flow/policy/reload_rule.hpp"

#include <functional>
#include <utility>

namespace flow::policy {
namespace {

// "the new file has no agents (the running configuration has 3); ...".
std::optional<std::string> dropped_all(std::size_t running, std::size_t next, const char* what) {
  if (running == 0 || next != 0) return std::nullopt;
  return std::string("the new file has no ") + what + " (the running configuration has " +
         std::to_string(running) +
         "): refused as a likely truncated or half-written file; to remove them all on purpose, "
         "restart the proxy";
}

using SettingsEqual = std::function<bool(const ProxySettings&, const ProxySettings&)>;

template <typename Member>
std::pair<const char*, SettingsEqual> key(const char* name, Member member) {
  return {name, [member](const ProxySettings& a, const ProxySettings& b) {
            return std::invoke(member, a) == std::invoke(member, b);
          }};
}

template <typename Member>
std::pair<const char*, SettingsEqual> timeout(const char* name, Member member) {
  return {name, [member](const ProxySettings& a, const ProxySettings& b) {
            return std::invoke(member, a.timeouts) == std::invoke(member, b.timeouts);
          }};
}

const std::vector<std::pair<const char*, SettingsEqual>>& proxy_keys() {
  static const std::vector<std::pair<const char*, SettingsEqual>> keys = {
      key("proxy.listen", &ProxySettings::listen),
      key("proxy.transparent", &ProxySettings::transparent),
      key("proxy.connect_ports", &ProxySettings::connect_ports),
      key("proxy.max_connections", &ProxySettings::max_connections),
      key("proxy.max_header_bytes", &ProxySettings::max_header_bytes),
      key("proxy.write_high_water", &ProxySettings::write_high_water),
      key("proxy.pool_max_idle_per_origin", &ProxySettings::pool_max_idle_per_origin),
      key("proxy.access_log", &ProxySettings::access_log),
      key("proxy.log_level", &ProxySettings::log_level),
      key("proxy.identity", &ProxySettings::identity),
      key("proxy.agent", &ProxySettings::agent),
      key("proxy.replay_limit", &ProxySettings::replay_limit),
      key("proxy.challenge_max_bytes", &ProxySettings::challenge_max_bytes),
      timeout("proxy.timeouts.header", &ProxyTimeouts::header),
      timeout("proxy.timeouts.idle", &ProxyTimeouts::idle),
      timeout("proxy.timeouts.connect", &ProxyTimeouts::connect),
      timeout("proxy.timeouts.upstream", &ProxyTimeouts::upstream),
      timeout("proxy.timeouts.tunnel_idle", &ProxyTimeouts::tunnel_idle),
      timeout("proxy.timeouts.drain", &ProxyTimeouts::drain),
      timeout("proxy.timeouts.pool_idle", &ProxyTimeouts::pool_idle),
      timeout("proxy.timeouts.challenge", &ProxyTimeouts::challenge),
  };
  return keys;
}

bool same_wallets(const std::vector<WalletSpec>& a, const std::vector<WalletSpec>& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (a[i].name != b[i].name || a[i].networks != b[i].networks ||
        a[i].key_file != b[i].key_file || a[i].key_env != b[i].key_env) {
      return false;
    }
  }
  return true;
}

}  // namespace

std::optional<std::string> reload_refusal(const FlowConfig& running, const FlowConfig& next) {
  const auto& was = running.policy->definition();
  const auto& now = next.policy->definition();
  if (auto why = dropped_all(was.agents.size(), now.agents.size(), "agents")) return why;
  if (auto why = dropped_all(running.wallets.size(), next.wallets.size(), "wallets")) return why;
  if (auto why = dropped_all(was.merchants.size(), now.merchants.size(), "merchant rules")) {
    return why;
  }
  return std::nullopt;
}

std::vector<std::string> restart_only_changes(const FlowConfig& running, const FlowConfig& next) {
  std::vector<std::string> changed;
  for (const auto& [name, equal] : proxy_keys()) {
    if (!equal(running.proxy, next.proxy)) changed.emplace_back(name);
  }
  if (running.ledger.path != next.ledger.path) changed.emplace_back("ledger.path");
  if (running.ledger.url_query != next.ledger.url_query) changed.emplace_back("ledger.url_query");
  if (!same_wallets(running.wallets, next.wallets)) changed.emplace_back("wallets");
  const TlsSettings& a = running.tls;
  const TlsSettings& b = next.tls;
  if (a.ca_dir != b.ca_dir || a.upstream_ca_file != b.upstream_ca_file ||
      a.intercept_hosts != b.intercept_hosts || a.exclude_hosts != b.exclude_hosts) {
    changed.emplace_back("tls");
  }
  if (running.admin.listen != next.admin.listen) changed.emplace_back("admin.listen");
  if (running.admin.token_file != next.admin.token_file) changed.emplace_back("admin.token_file");
  if (running.admin.webhook != next.admin.webhook) changed.emplace_back("admin.webhook");
  if (running.admin.tokens != next.admin.tokens) changed.emplace_back("admin.tokens");
  return changed;
}

}  // namespace flow::policy
