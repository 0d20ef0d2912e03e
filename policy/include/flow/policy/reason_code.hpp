#pragma once
#include <optional>
#include <string_view>

namespace flow::policy {

// Why a payment was allowed, refused or held. One enum with stable string names: the names
// appear in problem+json answers, logs, metrics and receipts alike, so never rename one.
enum class ReasonCode {
  allowed,
  // who is asking
  unknown_agent,
  // which merchant
  merchant_denied,       // a merchant rule says deny
  merchant_not_allowed,  // organization posture is block and no rule allows the merchant
  // what is offered
  network_not_allowed,
  asset_not_allowed,
  unknown_asset,  // no (network, asset) entry in the assets table: decimals unknown
  payto_not_allowed,
  unparseable_amount,
  offer_expired,
  no_acceptable_offer,  // several offers, none allowed
  // how much
  over_request_cap,       // a per-request cap at any scope
  over_agent_max_amount,  // the agent's own X-402flow-Max-Amount
  over_org_cap,           // a cumulative cap (amount or count) at organization scope
  over_agent_cap,
  over_merchant_cap,
  over_agent_merchant_cap,
  // humans
  review_required,
  approval_expired,
  approval_denied,
  // added after the first contract (append only)
  ambiguous_path,  // the request path could be read as another path (dot segments, ...)
};

std::string_view reason_code_name(ReasonCode code);
std::optional<ReasonCode> reason_code_from_name(std::string_view name);

}  // namespace flow::policy
