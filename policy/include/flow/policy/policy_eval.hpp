#pragma once
#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "flow/payment/amount.hpp"
#include "flow/payment/offer.hpp"
#include "flow/policy/budget_window.hpp"
#include "flow/policy/cap_check.hpp"
#include "flow/policy/policy_snapshot.hpp"
#include "flow/policy/reason_code.hpp"
#include "flow/policy/spend_totals.hpp"
#include "flow/policy/unit_amount.hpp"
#include "flow/policy/verdict.hpp"

namespace flow::policy {

// One offer as the challenge parser produced it. An offer whose amount string did not parse
// keeps its place with the parser's error, so the refusal names it (unparseable_amount) rather
// than the offer silently vanishing.
struct OfferCandidate {
  payment::Offer offer;
  payment::AmountError amount_error = payment::AmountError::none;
};

// Everything evaluation needs to know about one 402.
struct PaymentRequest {
  std::string_view agent_id;  // already authenticated (shared mode) or configured (sidecar)
  std::string_view host;      // the merchant's host, without port
  std::string_view path;      // request path; a query is ignored
  std::string_view method;
  std::span<const OfferCandidate> offers;  // in the challenge's order
  // The agent's own ceilings (X-402flow-Max-Amount), parsed with PolicySnapshot::parse_amount.
  // When given, an offer must be in one of these units and not above it.
  std::span<const UnitAmount> agent_max;
  // An approval a person gave for this request (X-402flow-Approval, or a held request woken
  // approved): an offer on its terms (protocol, scheme, network, asset, payTo) at no more than
  // its amount counts as reviewed. Deny rules, caps and the agent's maximum still apply.
  const payment::Offer* approved = nullptr;
};

struct OfferVerdict {
  Verdict verdict = Verdict::deny;
  Reason reason = Reason::no_acceptable_offer;
  std::string rule;  // the rule that decided, e.g. "merchants[weather].pay_to"
};

// What a refusal for an amount or a count exceeded (over_request_cap, over_agent_max_amount, a
// cumulative cap's over_*_cap), so the answer can say it: the limit, the offer's amount, what the
// cap's window already holds and when it makes room again.
struct RefusalFacts {
  // The amount not to pass: a cap's, or the agent's own X-402flow-Max-Amount in the offer's unit.
  // Empty for a count cap, and for an agent maximum that names no amount in the offer's unit.
  std::optional<UnitAmount> limit;
  std::optional<std::uint64_t> limit_count;  // a count cap: payments per window
  UnitAmount offered;                        // the refused offer's amount, in its unit
  // Cumulative caps only: held in the window before this payment, the window, and
  // window_resets_at() at the time of the decision (unix seconds).
  std::optional<SpendTotal> spent;
  std::optional<BudgetWindow> window;
  std::int64_t resets_at = 0;
};

struct Decision {
  Verdict verdict = Verdict::deny;
  Reason reason = Reason::no_acceptable_offer;
  std::string rule;  // the rule that fired
  // The chosen offer (allow/review), or the only offer of a refused single-offer challenge.
  std::optional<std::size_t> offer_index;
  std::optional<payment::Offer> offer;
  std::string symbol;  // the chosen offer's unit and decimals, from the asset table
  unsigned decimals = 0;
  std::string merchant;   // the matched rule's name; empty when no rule matched
  bool observed = false;  // no rule matched and posture allow: record the merchant as observed
  // Every cumulative cap on the chosen offer: the ledger reserves against all of them at once.
  std::vector<CapCheck> caps;
  // One verdict per offer, in the challenge's order (empty when refused before looking at offers).
  std::vector<OfferVerdict> offers;
  std::chrono::seconds approval_ttl{0};  // review: how long an approval stays valid
  // A refusal for an amount or a count: what was exceeded (of the first refused offer).
  std::optional<RefusalFacts> exceeded;
};

// The policy decision for one 402: a pure function of its inputs. `now` is unix seconds (UTC).
// Evaluation never throws on request data; anything it cannot judge is refused (fail closed).
Decision evaluate(const PolicySnapshot& policy, const PaymentRequest& request,
                  const LedgerFacts& ledger, std::int64_t now);

}  // namespace flow::policy
