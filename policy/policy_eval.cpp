#include "flow/policy/policy_eval.hpp"

#include <algorithm>
#include <array>
#include <span>

#include "cap_scopes.hpp"
#include "flow/policy/request_path.hpp"
#include "offer_judgement.hpp"
#include "offer_selection.hpp"

namespace flow::policy {
namespace {

// The offer a refusal is about: the only one, when the challenge carried one.
void attach_single_offer(Decision& d, const PaymentRequest& request) {
  if (request.offers.size() != 1) return;
  d.offer_index = 0;
  d.offer = request.offers[0].offer;
}

void refuse(Decision& d, Reason reason, std::string rule, const PaymentRequest& request) {
  d.verdict = Verdict::deny;
  d.reason = reason;
  d.rule = std::move(rule);
  attach_single_offer(d, request);
}

// Refused before any offer was looked at: who asks, for what path, from which merchant.
// Returns false, with `d` filled in, when the request is refused.
bool screen_request(Decision& d, const PolicySnapshot& policy, const PaymentRequest& request,
                    const AgentRule* agent, const MerchantRule* merchant) {
  if (agent == nullptr) {
    refuse(d, Reason::unknown_agent, "agents", request);
  } else if (agent->action == AgentAction::deny) {
    refuse(d, Reason::agent_denied, agent->rule + ".action", request);
  } else if (!is_normal_path(request.path)) {
    refuse(d, Reason::ambiguous_path, "request.path", request);
  } else if (merchant != nullptr && merchant->action == MerchantAction::deny) {
    refuse(d, Reason::merchant_denied, merchant->rule + ".action", request);
  } else if (merchant == nullptr && policy.definition().organization.posture == Posture::block) {
    refuse(d, Reason::merchant_not_allowed, "organization.posture", request);
  } else if (request.offers.empty()) {
    refuse(d, Reason::no_acceptable_offer, "challenge", request);
  } else {
    return true;
  }
  return false;
}

// Judgements of a challenge's offers: on the stack for the usual handful.
class Judgements {
 public:
  explicit Judgements(std::size_t n) : count_(n) {
    if (n > local_.size()) heap_.resize(n);
  }
  std::span<OfferJudgement> all() {
    return count_ <= local_.size() ? std::span(local_.data(), count_) : std::span(heap_);
  }

 private:
  std::size_t count_;
  std::array<OfferJudgement, 8> local_{};
  std::vector<OfferJudgement> heap_;
};

// Every offer refused: one shared reason is reported as is, different ones as
// no_acceptable_offer (Decision::offers says why each was refused).
void explain_refusal(Decision& d, std::span<const OfferJudgement> judgements,
                     const PaymentRequest& request) {
  d.verdict = Verdict::deny;
  const bool same = std::all_of(judgements.begin(), judgements.end(), [&](const OfferJudgement& j) {
    return j.reason == judgements[0].reason;
  });
  d.reason = same ? judgements[0].reason : Reason::no_acceptable_offer;
  d.rule = same ? judgements[0].rule.str() : "challenge";
  attach_single_offer(d, request);
  if (d.offer_index && judgements[0].asset != nullptr) {
    d.symbol = judgements[0].asset->symbol;
    d.decimals = judgements[0].asset->decimals;
  }
}

bool is_exceeded(Reason reason) {
  switch (reason) {
    case Reason::over_request_cap:
    case Reason::over_agent_max_amount:
    case Reason::over_org_cap:
    case Reason::over_agent_cap:
    case Reason::over_merchant_cap:
    case Reason::over_agent_merchant_cap:
      return true;
    default:
      return false;
  }
}

// The facts of the first offer refused for `d.reason`, when that is an amount or a count.
void attach_facts(Decision& d, std::span<const OfferJudgement> judgements,
                  const PaymentRequest& request, std::int64_t now) {
  if (!is_exceeded(d.reason)) return;
  for (std::size_t i = 0; i < judgements.size(); ++i) {
    const OfferJudgement& j = judgements[i];
    if (j.reason != d.reason || j.asset == nullptr) continue;
    RefusalFacts f;
    if (j.limit != nullptr) f.limit = *j.limit;
    f.offered = {j.asset->symbol, "", j.asset->decimals, request.offers[i].offer.amount};
    if (j.budget != nullptr) {
      f.limit_count = j.budget->payments;  // a budget has an amount or a count, never both
      f.spent = j.spent;
      f.window = j.budget->window;
      f.resets_at = window_resets_at(j.budget->window, now);
    }
    d.exceeded = std::move(f);
    return;
  }
}

void accept_offer(Decision& d, const OfferJudgement& j, std::size_t index,
                  const OfferContext& ctx) {
  d.verdict = j.verdict;
  d.reason = j.reason;
  d.rule = j.rule.str();
  d.offer_index = index;
  d.offer = ctx.request.offers[index].offer;
  d.symbol = j.asset->symbol;
  d.decimals = j.asset->decimals;
  d.caps = collect_cap_checks(ctx.scopes, *j.asset, ctx.now);
  if (j.verdict == Verdict::review) {
    d.approval_ttl = ctx.policy.definition().review.approval_ttl;
  }
}

}  // namespace

Decision evaluate(const PolicySnapshot& policy, const PaymentRequest& request,
                  const LedgerFacts& ledger, std::int64_t now) {
  Decision d;  // the one object returned on every path
  const AgentRule* agent = policy.find_agent(request.agent_id);
  const MerchantRule* merchant =
      agent ? policy.match_merchant(request.host, request.path, request.method) : nullptr;
  if (!screen_request(d, policy, request, agent, merchant)) return d;

  const CapScopes scopes = cap_scopes(policy.definition().organization, *agent, merchant);
  const OfferContext ctx{policy, request, ledger, now, merchant, scopes};
  Judgements storage(request.offers.size());
  const std::span<OfferJudgement> judgements = storage.all();
  SpendLookups spend(ledger.totals, now);
  for (std::size_t i = 0; i < judgements.size(); ++i) {
    judgements[i] = judge_offer(ctx, request.offers[i], spend);
  }

  if (merchant != nullptr) d.merchant = merchant->name;
  d.observed = merchant == nullptr;
  d.offers.reserve(judgements.size());
  for (const auto& j : judgements) d.offers.push_back({j.verdict, j.reason, j.rule.str()});
  if (const auto chosen = select_offer(judgements, request.offers, policy)) {
    accept_offer(d, judgements[*chosen], *chosen, ctx);
  } else {
    explain_refusal(d, judgements, request);
    attach_facts(d, judgements, request, now);
  }
  return d;
}

}  // namespace flow::policy
