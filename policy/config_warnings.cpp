#include "flow/policy/config_warnings.hpp"

#include <algorithm>
#include <optional>

#include "payability.hpp"

namespace flow::policy {
namespace {

void sidecar_agent(const FlowConfig& config, std::vector<ConfigWarning>& out) {
  const ProxySettings& p = config.proxy;
  const PolicyDefinition& d = config.policy->definition();
  if (p.identity != AgentIdentity::sidecar || d.agents.empty()) return;  // no_agents says it
  if (p.agent.empty()) {
    out.push_back({"sidecar_agent_not_listed", "proxy.agent",
                   "sidecar mode names no agent (proxy.agent, FLOW402_AGENT or --agent): every "
                   "payment is refused (unknown_agent)"});
    return;
  }
  if (config.policy->find_agent(p.agent) != nullptr) return;
  out.push_back({"sidecar_agent_not_listed", "proxy.agent",
                 "the sidecar agent '" + p.agent +
                     "' is not listed under agents: every payment is refused (unknown_agent)"});
}

void no_agents(const FlowConfig& config, std::vector<ConfigWarning>& out) {
  if (!config.policy->definition().agents.empty()) return;
  out.push_back({"no_agents", "agents",
                 "no agents are listed: every payment is refused (unknown_agent); only "
                 "pass-through traffic flows"});
}

// The most one payment in `asset` can be under the organization's caps: the smallest
// per-request cap or cumulative amount that covers it. Nothing when no per-request cap covers it
// (then it is not payable at all).
std::optional<payment::Atomic> org_ceiling(const OrganizationRules& org, const AssetEntry& a) {
  std::optional<payment::Atomic> ceiling;
  auto lower = [&](payment::Atomic v) { ceiling = ceiling ? std::min(*ceiling, v) : v; };
  for (const UnitAmount& u : org.caps.per_request) {
    if (u.covers(a)) lower(u.atomic);
  }
  if (!ceiling) return std::nullopt;
  for (const Budget& b : org.caps.budgets) {
    if (b.amount && b.amount->covers(a)) lower(b.amount->atomic);
  }
  return ceiling;
}

// review.amount_over T is met by a payment above T: none can be when every payable asset T
// covers is capped at or below T (or when T covers no payable asset).
void amount_over_never_met(const FlowConfig& config, std::vector<ConfigWarning>& out) {
  const PolicyDefinition& d = config.policy->definition();
  for (const UnitAmount& t : d.review.amount_over) {
    bool payable = false;
    bool reachable = false;
    for (const AssetEntry& a : d.assets.entries()) {
      if (!t.covers(a) || !is_payable(config, a)) continue;
      payable = true;
      const auto ceiling = org_ceiling(d.organization, a);
      if (ceiling && *ceiling > t.atomic) reachable = true;
    }
    if (reachable) continue;
    out.push_back({"review_never_met", "review.amount_over",
                   "review.amount_over " + t.to_string() + " can never be met: " +
                       (payable ? "the organization's caps stop every payment in " + t.symbol +
                                      " at or below it"
                                : std::string("nothing in ") + t.symbol +
                                      " is payable (no wallet, rail, allowed network or "
                                      "organization.caps.per_request for it)")});
  }
}

bool anything_payable(const FlowConfig& config) {
  const auto& entries = config.policy->definition().assets.entries();
  return std::any_of(entries.begin(), entries.end(),
                     [&](const AssetEntry& a) { return is_payable(config, a); });
}

// review.new_pay_to reviews a payee the ledger has not paid, unless the merchant's rule lists
// it: with posture block and every paying rule listing its payees, no payee is ever "new".
void new_pay_to_never_met(const FlowConfig& config, std::vector<ConfigWarning>& out) {
  const PolicyDefinition& d = config.policy->definition();
  if (!d.review.new_pay_to) return;
  if (!anything_payable(config)) {
    out.push_back({"review_never_met", "review.new_pay_to",
                   "review.new_pay_to can never be met: nothing is payable (no wallet covers an "
                   "allowed network with an organization per-request cap)"});
    return;
  }
  if (d.organization.posture != Posture::block) return;
  const bool all_listed = std::all_of(d.merchants.begin(), d.merchants.end(), [](const auto& m) {
    return m.action == MerchantAction::deny || !m.accept.pay_to.empty();
  });
  if (!all_listed) return;
  out.push_back({"review_never_met", "review.new_pay_to",
                 "review.new_pay_to can never be met: posture is block and every merchant rule "
                 "that pays lists its pay_to, and a listed payee is never new"});
}

}  // namespace

std::vector<ConfigWarning> config_warnings(const FlowConfig& config) {
  std::vector<ConfigWarning> out;
  no_agents(config, out);
  sidecar_agent(config, out);
  amount_over_never_met(config, out);
  new_pay_to_never_met(config, out);
  return out;
}

}  // namespace flow::policy
