#pragma once
#include <string>
#include <vector>

#include "flow/policy/flow_config.hpp"

namespace flow::policy {

// Something in a valid flow.yaml that will not do what it seems to: `check` prints it, `run`
// starts anyway (exit codes do not change).
struct ConfigWarning {
  std::string code;     // stable: sidecar_agent_not_listed, no_agents, review_never_met, ...
  std::string rule;     // where in flow.yaml: "proxy.agent", "review.amount_over", ...
  std::string message;  // for people
};

// The warnings for `config` as `run` would start with it (the effective sidecar agent):
// - sidecar_agent_not_listed: sidecar mode, and the agent (proxy.agent, FLOW402_AGENT, --agent)
//   is unset or not under `agents`: every payment is refused (unknown_agent).
// - no_agents: `agents` is empty (an empty policy): every payment is refused.
// - review_never_met: a review rule no payment can meet. review.amount_over in a unit whose
//   every payable asset is capped at or below it by the organization (a per-request cap or a
//   cumulative amount), or in a unit this build cannot pay with the configured wallets;
//   review.new_pay_to when no payment can go to an unlisted payee (posture block and every
//   paying merchant rule lists pay_to), or when nothing is payable at all.
std::vector<ConfigWarning> config_warnings(const FlowConfig& config);

}  // namespace flow::policy
