#include "offer_judgement.hpp"

#include <algorithm>
#include <optional>

namespace flow::policy {
namespace {

using Judgement = std::optional<OfferJudgement>;

OfferJudgement deny(Reason reason, RuleRef rule, const AssetEntry* asset = nullptr) {
  return {Verdict::deny, reason, rule, asset, nullptr, nullptr, {}};
}

bool listed(const std::vector<std::string>& list, std::string_view value) {
  return list.empty() || std::find(list.begin(), list.end(), value) != list.end();
}

bool payee_listed(const std::vector<std::string>& list, std::string_view pay_to) {
  return list.empty() || std::any_of(list.begin(), list.end(),
                                     [&](const std::string& p) { return same_address(p, pay_to); });
}

// Networks, assets and payees the organization and the merchant accept. The organization's
// per-request caps double as the list of payable units: every payment needs a ceiling.
Judgement check_accepted(const OfferContext& ctx, const payment::Offer& o, const AssetEntry& a) {
  const OrganizationRules& org = ctx.policy.definition().organization;
  if (!listed(org.networks, o.network)) {
    return deny(Reason::network_not_allowed, {"organization.networks", ""}, &a);
  }
  const MerchantRule* m = ctx.merchant;
  if (m != nullptr && !listed(m->accept.networks, o.network)) {
    return deny(Reason::network_not_allowed, {m->rule, ".networks"}, &a);
  }
  if (m != nullptr && !listed(m->accept.assets, a.symbol)) {
    return deny(Reason::asset_not_allowed, {m->rule, ".assets"}, &a);
  }
  const auto& payable = org.caps.per_request;
  if (std::none_of(payable.begin(), payable.end(),
                   [&](const UnitAmount& u) { return u.covers(a); })) {
    return deny(Reason::asset_not_allowed, {"organization.caps.per_request", ""}, &a);
  }
  if (m != nullptr && !payee_listed(m->accept.pay_to, o.pay_to)) {
    return deny(Reason::payto_not_allowed, {m->rule, ".pay_to"}, &a);
  }
  return std::nullopt;
}

// The agent's own ceiling: when it states any, the offer must be in one of those units.
Judgement check_agent_max(const OfferContext& ctx, const payment::Offer& o, const AssetEntry& a) {
  const auto& max = ctx.request.agent_max;
  if (max.empty()) return std::nullopt;
  const UnitAmount* exceeded = nullptr;
  bool covered = false;
  for (const UnitAmount& m : max) {
    if (!m.covers(a)) continue;
    covered = true;
    if (o.amount > m.atomic && exceeded == nullptr) exceeded = &m;
  }
  if (covered && exceeded == nullptr) return std::nullopt;
  OfferJudgement j = deny(Reason::over_agent_max_amount, {"request.max_amount", ""}, &a);
  j.limit = exceeded;  // nullptr: the agent named no amount in this offer's unit
  return j;
}

OfferJudgement review(RuleRef rule, const AssetEntry& a) {
  return {Verdict::review, Reason::review_required, rule, &a, nullptr, nullptr, {}};
}

// A person approved this offer's terms at this amount or more: review rules are met.
bool approved(const OfferContext& ctx, const payment::Offer& o) {
  const payment::Offer* ok = ctx.request.approved;
  return ok != nullptr && ok->protocol == o.protocol && ok->scheme == o.scheme &&
         ok->network == o.network && ok->asset == o.asset && same_address(ok->pay_to, o.pay_to) &&
         o.amount <= ok->amount;
}

Judgement check_review(const OfferContext& ctx, const payment::Offer& o, const AssetEntry& a) {
  if (approved(ctx, o)) return std::nullopt;
  if (ctx.merchant != nullptr && ctx.merchant->action == MerchantAction::review) {
    return review({ctx.merchant->rule, ".action"}, a);
  }
  const ReviewRules& rules = ctx.policy.definition().review;
  for (const UnitAmount& threshold : rules.amount_over) {
    if (threshold.covers(a) && o.amount > threshold.atomic) {
      return review({"review.amount_over", ""}, a);
    }
  }
  // A payee the operator listed in the merchant's rule is vetted already: not "new".
  const bool listed = ctx.merchant != nullptr && !ctx.merchant->accept.pay_to.empty() &&
                      payee_listed(ctx.merchant->accept.pay_to, o.pay_to);
  if (rules.new_pay_to && !listed && !ctx.ledger.payees.has_paid(o.network, o.pay_to)) {
    return review({"review.new_pay_to", ""}, a);
  }
  return std::nullopt;
}

Judgement as_judgement(const std::optional<CapRefusal>& r, const AssetEntry& a) {
  if (!r) return std::nullopt;
  OfferJudgement j = deny(r->reason, {r->rule, r->rule_suffix}, &a);
  j.limit = r->limit;
  j.budget = r->budget;
  j.spent = r->spent;
  return j;
}

}  // namespace

OfferJudgement judge_offer(const OfferContext& ctx, const OfferCandidate& candidate,
                           SpendLookups& spend) {
  if (candidate.amount_error != payment::AmountError::none) {
    return deny(Reason::unparseable_amount, {"offer.amount", ""});
  }
  const payment::Offer& o = candidate.offer;
  if (o.expires_at != 0 && o.expires_at <= ctx.now) {
    return deny(Reason::offer_expired, {"offer.expires_at", ""});
  }
  const AssetEntry* asset = ctx.policy.assets().find(o.network, o.asset);
  if (asset == nullptr) return deny(Reason::unknown_asset, {"assets", ""});
  const AssetEntry& a = *asset;
  if (auto j = check_accepted(ctx, o, a)) return *j;
  if (auto j = as_judgement(check_per_request(ctx.scopes, o, a), a)) return *j;
  if (auto j = check_agent_max(ctx, o, a)) return *j;
  if (auto j = as_judgement(check_budgets(ctx.scopes, o, a, spend), a)) return *j;
  if (auto j = check_review(ctx, o, a)) return *j;
  const RuleRef allowed_by = ctx.merchant != nullptr ? RuleRef{ctx.merchant->rule, ""}
                                                     : RuleRef{"organization.posture", ""};
  return {Verdict::allow, Reason::allowed, allowed_by, &a, nullptr, nullptr, {}};
}

}  // namespace flow::policy
