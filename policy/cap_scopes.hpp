#pragma once
// The caps that apply to one request, scope by scope, and the checks made with them.
#include <array>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "counter_key.hpp"
#include "flow/payment/offer.hpp"
#include "flow/policy/cap_check.hpp"
#include "flow/policy/policy_rules.hpp"
#include "flow/policy/reason_code.hpp"
#include "flow/policy/spend_totals.hpp"

namespace flow::policy {

struct CapScope {
  const CapSet* caps = nullptr;  // nullptr: nothing set at this scope
  Reason reason = Reason::over_org_cap;
  // For budgets without a complete counter_key (an agent's "*" caps): this request's pair.
  counter_key::AgentMerchantPrefix key_prefix;

  // Budget::counter_key, or the key written into `scratch` for this request's pair.
  std::string_view key(const Budget& budget, std::string& scratch) const;
};

// Organization, agent, merchant, agent at merchant: the order in which refusals are reported.
// The scopes keep views into the agent and merchant rules.
using CapScopes = std::array<CapScope, 4>;

CapScopes cap_scopes(const OrganizationRules& org, const AgentRule& agent,
                     const MerchantRule* merchant);

// A cap this offer would pass, with what the refusal's answer says about it (views into the
// policy, valid while it is).
struct CapRefusal {
  Reason reason;
  std::string_view rule;
  std::string_view rule_suffix;
  const UnitAmount* limit = nullptr;  // the amount not to pass; nullptr for a count cap
  const Budget* budget = nullptr;     // a cumulative cap (nullptr: a per-request cap)
  SpendTotal spent;                   // a cumulative cap: held in its window before this offer
};

std::optional<CapRefusal> check_per_request(const CapScopes& scopes, const payment::Offer& offer,
                                            const AssetEntry& asset);

// The ledger's totals asked during one evaluation. Offers in the same unit share counters, so
// each counter is asked for once; a budget object stands for its counter within an evaluation
// (the merchant and agent are fixed).
class SpendLookups {
 public:
  SpendLookups(const SpendTotals& totals, std::int64_t now) : totals_(totals), now_(now) {}
  SpendTotal spent(const CapScope& scope, const Budget& budget);

 private:
  static constexpr std::size_t kRemembered = 16;
  const SpendTotals& totals_;
  std::int64_t now_;
  std::array<std::pair<const Budget*, SpendTotal>, kRemembered> seen_{};
  std::size_t seen_count_ = 0;
  std::string key_;
};

// Advisory: refuses when the ledger's totals show that this payment would pass a cap.
std::optional<CapRefusal> check_budgets(const CapScopes& scopes, const payment::Offer& offer,
                                        const AssetEntry& asset, SpendLookups& spend);

std::vector<CapCheck> collect_cap_checks(const CapScopes& scopes, const AssetEntry& asset,
                                         std::int64_t now);

}  // namespace flow::policy
