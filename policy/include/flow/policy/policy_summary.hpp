#pragma once
#include <ostream>
#include <string>

#include "flow/policy/flow_config.hpp"

namespace flow::policy {

// What `402flow check` prints for a valid file: the proxy settings, then in plain words what the
// policy lets each agent pay, where, and under which caps and review rules.
void write_config_summary(std::ostream& out, const FlowConfig& config, const std::string& path);

// "per request at most 0.25 USDC; at most 10 USDC per calendar day (UTC)", or "no caps".
std::string describe_caps(const CapSet& caps);

}  // namespace flow::policy
