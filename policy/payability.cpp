#include "payability.hpp"

#include <algorithm>

namespace flow::policy {

std::string rail_gap(const FlowConfig& config, std::string_view network) {
  if (network == "lightning") return "no Lightning rail in this build";
  if (network.substr(0, 7) != "eip155:") return "this build pays on EVM (eip155) networks only";
  if (config.wallets.empty()) return "no wallet configured";
  const bool wallet = std::any_of(config.wallets.begin(), config.wallets.end(),
                                  [&](const WalletSpec& w) { return w.covers(network); });
  return wallet ? std::string() : "no wallet for " + std::string(network);
}

bool network_allowed(const OrganizationRules& org, std::string_view network) {
  const auto& nets = org.networks;
  return nets.empty() || std::find(nets.begin(), nets.end(), network) != nets.end();
}

bool is_payable(const FlowConfig& config, const AssetEntry& e) {
  const OrganizationRules& org = config.policy->definition().organization;
  if (!network_allowed(org, e.network) || !rail_gap(config, e.network).empty()) return false;
  return std::any_of(org.caps.per_request.begin(), org.caps.per_request.end(),
                     [&](const UnitAmount& u) { return u.covers(e); });
}

}  // namespace flow::policy
