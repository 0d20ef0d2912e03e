#include "cap_scopes.hpp"

#include "flow/policy/budget_window.hpp"

namespace flow::policy {
namespace {

// Whether `spent + amount` passes `limit`, without overflowing.
bool passes(payment::Atomic spent, payment::Atomic amount, payment::Atomic limit) {
  return amount > limit || spent > limit - amount;
}

}  // namespace

std::string_view CapScope::key(const Budget& budget, std::string& scratch) const {
  if (!budget.counter_key.empty()) return budget.counter_key;
  key_prefix.write(scratch, budget.key_tail);
  return scratch;
}

CapScopes cap_scopes(const OrganizationRules& org, const AgentRule& agent,
                     const MerchantRule* merchant) {
  CapScopes s;
  s[0] = {&org.caps, Reason::over_org_cap, {}};
  s[1] = {&agent.caps, Reason::over_agent_cap, {}};
  if (merchant != nullptr) {
    s[2] = {&merchant->caps, Reason::over_merchant_cap, {}};
    s[3] = {agent.caps_at(merchant->index),
            Reason::over_agent_merchant_cap,
            {agent.id, merchant->name}};
  }
  return s;
}

std::optional<CapRefusal> check_per_request(const CapScopes& scopes, const payment::Offer& offer,
                                            const AssetEntry& asset) {
  for (const CapScope& scope : scopes) {
    if (scope.caps == nullptr) continue;
    for (const UnitAmount& cap : scope.caps->per_request) {
      if (cap.covers(asset) && offer.amount > cap.atomic) {
        return CapRefusal{
            Reason::over_request_cap, scope.caps->where, ".per_request", &cap, nullptr, {}};
      }
    }
  }
  return std::nullopt;
}

SpendTotal SpendLookups::spent(const CapScope& scope, const Budget& budget) {
  for (std::size_t i = 0; i < seen_count_; ++i) {
    if (seen_[i].first == &budget) return seen_[i].second;
  }
  const SpendTotal total =
      totals_.spent(scope.key(budget, key_), window_start(budget.window, now_));
  if (seen_count_ < kRemembered) seen_[seen_count_++] = {&budget, total};
  return total;
}

std::optional<CapRefusal> check_budgets(const CapScopes& scopes, const payment::Offer& offer,
                                        const AssetEntry& asset, SpendLookups& spend) {
  for (const CapScope& scope : scopes) {
    if (scope.caps == nullptr) continue;
    for (const Budget& budget : scope.caps->budgets) {
      if (!budget.applies_to(asset)) continue;
      const SpendTotal spent = spend.spent(scope, budget);
      const bool over_amount =
          budget.amount && passes(spent.amount, offer.amount, budget.amount->atomic);
      const bool over_count = budget.payments && spent.count >= *budget.payments;
      if (over_amount || over_count) {
        return CapRefusal{scope.reason, budget.rule, "", budget.amount ? &*budget.amount : nullptr,
                          &budget,      spent};
      }
    }
  }
  return std::nullopt;
}

std::vector<CapCheck> collect_cap_checks(const CapScopes& scopes, const AssetEntry& asset,
                                         std::int64_t now) {
  std::size_t upper_bound = 0;
  for (const CapScope& scope : scopes) upper_bound += scope.caps ? scope.caps->budgets.size() : 0;
  std::vector<CapCheck> checks;
  checks.reserve(upper_bound);
  for (const CapScope& scope : scopes) {
    if (scope.caps == nullptr) continue;
    for (const Budget& budget : scope.caps->budgets) {
      if (!budget.applies_to(asset)) continue;
      CapCheck& c = checks.emplace_back();
      if (budget.counter_key.empty()) {
        scope.key_prefix.write(c.counter_key, budget.key_tail);
      } else {
        c.counter_key = budget.counter_key;
      }
      c.rule = budget.rule;
      c.reason = scope.reason;
      c.window_start = window_start(budget.window, now);
      c.window = budget.window;
      c.resets_at = window_resets_at(budget.window, now);
      if (budget.amount) c.max_amount = budget.amount->atomic;
      c.max_count = budget.payments;
    }
  }
  return checks;
}

}  // namespace flow::policy
