#pragma once
// What this build can pay with a configuration's wallets: shared by `check`'s summary and its
// warnings.
#include <string>
#include <string_view>

#include "flow/policy/flow_config.hpp"

namespace flow::policy {

// Why this build cannot pay on `network` with `config`'s wallets, or empty when it can. The
// only payment rail in this build is x402 on EVM chains, paid by a configured wallet.
std::string rail_gap(const FlowConfig& config, std::string_view network);

bool network_allowed(const OrganizationRules& org, std::string_view network);

// Payable at all: a rail and a wallet, on an allowed network, in a unit with an organization
// per-request cap.
bool is_payable(const FlowConfig& config, const AssetEntry& asset);

}  // namespace flow::policy
