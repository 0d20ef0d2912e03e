#pragma once
// The verdict on one offer, taken alone. Choosing among offers is offer_selection.hpp.
#include <cstdint>
#include <string>
#include <string_view>

#include "cap_scopes.hpp"
#include "flow/policy/policy_eval.hpp"

namespace flow::policy {

// A rule's location without building the string until a decision needs it:
// base + suffix, e.g. "merchants[weather]" + ".pay_to".
struct RuleRef {
  std::string_view base;
  std::string_view suffix;
  std::string str() const { return std::string(base).append(suffix); }
};

struct OfferJudgement {
  Verdict verdict = Verdict::deny;
  Reason reason = Reason::no_acceptable_offer;
  RuleRef rule;
  const AssetEntry* asset = nullptr;  // set once the asset table knows the offer's asset
  // A refusal for an amount or a count: what was exceeded (views into the policy or the
  // request, valid during evaluation).
  const UnitAmount* limit = nullptr;  // the cap's amount, or the agent's own maximum
  const Budget* budget = nullptr;     // a cumulative cap
  SpendTotal spent;                   // held in the cumulative cap's window
};

// What stays the same for every offer of one request.
struct OfferContext {
  const PolicySnapshot& policy;
  const PaymentRequest& request;
  const LedgerFacts& ledger;
  std::int64_t now;
  const MerchantRule* merchant;  // nullptr: no rule matched and posture is allow
  const CapScopes& scopes;
};

// Checks in a fixed order; the first that fails gives the reason: the amount parsed, expiry,
// asset known, networks/assets/payee allowed, per-request caps, the agent's own maximum,
// cumulative caps (advisory), then whether a human must review.
OfferJudgement judge_offer(const OfferContext& ctx, const OfferCandidate& candidate,
                           SpendLookups& spend);

}  // namespace flow::policy
