#include "flow/payment/reason.hpp"

#include <array>

namespace flow::payment {
namespace {

using enum ReasonCategory;
using R = Reason;

// The one table: name, answer status and category of every reason, in enum order.
constexpr std::array kReasons = std::to_array<ReasonInfo>({
    {R::allowed, "allowed", 0, policy},
    {R::unknown_agent, "unknown_agent", 403, policy},
    {R::merchant_denied, "merchant_denied", 403, policy},
    {R::merchant_not_allowed, "merchant_not_allowed", 403, policy},
    {R::network_not_allowed, "network_not_allowed", 403, policy},
    {R::asset_not_allowed, "asset_not_allowed", 403, policy},
    {R::unknown_asset, "unknown_asset", 403, policy},
    {R::payto_not_allowed, "payto_not_allowed", 403, policy},
    {R::unparseable_amount, "unparseable_amount", 403, policy},
    {R::offer_expired, "offer_expired", 403, policy},
    {R::no_acceptable_offer, "no_acceptable_offer", 403, policy},
    {R::over_request_cap, "over_request_cap", 403, budget},
    {R::over_agent_max_amount, "over_agent_max_amount", 403, budget},
    {R::over_org_cap, "over_org_cap", 403, budget},
    {R::over_agent_cap, "over_agent_cap", 403, budget},
    {R::over_merchant_cap, "over_merchant_cap", 403, budget},
    {R::over_agent_merchant_cap, "over_agent_merchant_cap", 403, budget},
    {R::review_required, "review_required", 403, policy},
    {R::approval_expired, "approval_expired", 403, policy},
    {R::approval_denied, "approval_denied", 403, policy},
    {R::ambiguous_path, "ambiguous_path", 403, policy},

    {R::invalid_control_header, "invalid_control_header", 400, agent_input},
    {R::bad_max_amount, "bad_max_amount", 400, agent_input},
    {R::invalid_idempotency_key, "invalid_idempotency_key", 400, agent_input},
    {R::prepared_offer_unknown, "prepared_offer_unknown", 409, agent_input},
    {R::prepared_offer_changed, "prepared_offer_changed", 409, agent_input},
    {R::already_paid, "already_paid", 409, agent_input},
    {R::payment_in_progress, "payment_in_progress", 409, agent_input},
    {R::idempotency_conflict, "idempotency_conflict", 409, agent_input},
    {R::idempotency_key_used, "idempotency_key_used", 409, agent_input},

    {R::request_not_replayable, "request_not_replayable", 402, merchant},
    {R::challenge_too_large, "challenge_too_large", 402, merchant},
    {R::no_payable_offer, "no_payable_offer", 402, merchant},
    {R::no_rail, "no_rail", 402, merchant},
    {R::not_x402, "not_x402", 402, merchant},
    {R::bad_base64, "bad_base64", 402, merchant},
    {R::bad_json, "bad_json", 402, merchant},
    {R::unsupported_version, "unsupported_version", 402, merchant},
    {R::missing_field, "missing_field", 402, merchant},
    {R::no_offers, "no_offers", 402, merchant},
    {R::too_large, "too_large", 402, merchant},
    {R::bad_amount, "bad_amount", 0, merchant},
    {R::unknown_network, "unknown_network", 0, merchant},
    {R::unsupported_scheme, "unsupported_scheme", 0, merchant},
    {R::bad_address, "bad_address", 0, merchant},
    {R::missing_domain, "missing_domain", 0, merchant},
    {R::zero_amount, "zero_amount", 0, merchant},
    {R::pay_to_zero_address, "pay_to_zero_address", 0, merchant},
    {R::pay_to_is_asset, "pay_to_is_asset", 0, merchant},
    {R::pay_to_is_permit2, "pay_to_is_permit2", 0, merchant},
    {R::no_wallet_for_network, "no_wallet_for_network", 0, merchant},

    {R::payment_rail_failed, "payment_rail_failed", 502, payment_outcome},
    {R::payment_refused, "payment_refused", 0, payment_outcome},
    {R::payment_outcome_unknown, "payment_outcome_unknown", 0, payment_outcome},
    {R::not_supported, "not_supported", 0, payment_outcome},
    {R::credential_not_rebuildable, "credential_not_rebuildable", 0, payment_outcome},

    {R::ledger_unavailable, "ledger_unavailable", 503, ledger},

    {R::bad_request, "bad_request", 400, transport},
    {R::header_too_large, "header_too_large", 431, transport},
    {R::request_timeout, "request_timeout", 408, transport},
    {R::connect_port_denied, "connect_port_denied", 403, transport},
    {R::loop_detected, "loop_detected", 508, transport},
    {R::not_implemented, "not_implemented", 501, transport},
    {R::upstream_unreachable, "upstream_unreachable", 502, transport},
    {R::upstream_timeout, "upstream_timeout", 504, transport},
    {R::upstream_protocol, "upstream_protocol", 502, transport},
    {R::too_many_connections, "too_many_connections", 503, transport},
    {R::client_closed, "client_closed", 0, transport},
    {R::upstream_closed, "upstream_closed", 502, transport},
    {R::shutting_down, "shutting_down", 503, transport},
    {R::proxy_auth_required, "proxy_auth_required", 407, transport},

    {R::payment_interrupted, "payment_interrupted", 0, payment_outcome},
    {R::upstream_tls_failed, "upstream_tls_failed", 502, transport},
    {R::client_tls_failed, "client_tls_failed", 0, transport},
    {R::agent_denied, "agent_denied", 403, policy},
    {R::approval_used, "approval_used", 409, agent_input},
    {R::approval_mismatch, "approval_mismatch", 409, agent_input},
    {R::reconciled_failed, "reconciled_failed", 0, payment_outcome},
});

constexpr bool in_enum_order() {
  for (std::size_t i = 0; i < kReasons.size(); ++i) {
    if (static_cast<std::size_t>(kReasons[i].reason) != i) return false;
  }
  return true;
}
static_assert(in_enum_order(), "kReasons lists every Reason once, in enum order");
static_assert(kReasons.size() == kReasonCount,
              "a new Reason is appended to the enum and to kReasons, and kReasonCount names it");

}  // namespace

std::span<const ReasonInfo> reasons() {
  return kReasons;
}

const ReasonInfo& reason_info(Reason reason) {
  return kReasons.at(static_cast<std::size_t>(reason));
}

std::string_view reason_name(Reason reason) {
  return reason_info(reason).name;
}

std::optional<Reason> reason_from_name(std::string_view name) {
  for (const ReasonInfo& info : kReasons) {
    if (info.name == name) return info.reason;
  }
  return std::nullopt;
}

int reason_status(Reason reason) {
  return reason_info(reason).status;
}

ReasonCategory reason_category(Reason reason) {
  return reason_info(reason).category;
}

std::string_view reason_category_name(ReasonCategory category) {
  static constexpr std::array<std::string_view, 7> kCategories = {
      "policy", "budget", "agent_input", "merchant", "payment_outcome", "ledger", "transport"};
  return kCategories.at(static_cast<std::size_t>(category));
}

}  // namespace flow::payment
