#pragma once
#include <optional>
#include <string>
#include <vector>

#include "flow/policy/flow_config.hpp"

namespace flow::policy {

// What a hot reload may change. A valid file replaces the payment policy, with one exception:
// a file that would drop every agent, every wallet or every merchant rule the running
// configuration has is refused (a truncated or half-written save looks exactly like that).
// Removing all of them on purpose takes a restart.
//
// The reason `next` may not replace `running` in a reload, or nullopt when it may.
std::optional<std::string> reload_refusal(const FlowConfig& running, const FlowConfig& next);

// The keys of `proxy:`, `ledger:` and `wallets:` whose values differ between the two files
// ("proxy.listen", "proxy.timeouts.idle", "wallets", ...). They are read at start-up only: a
// reload does not apply them.
std::vector<std::string> restart_only_changes(const FlowConfig& running, const FlowConfig& next);

}  // namespace flow::policy
