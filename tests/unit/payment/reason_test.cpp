#include <doctest/doctest.h>

#include <array>
#include <set>
#include <string>
#include <string_view>

#include "flow/payment/reason.hpp"

using flow::payment::Reason;
using flow::payment::ReasonCategory;

namespace {

// Today's wire names, frozen in enum order. Agents, dashboards and docs match on them: a rename
// or a reordering fails here. A new reason is appended here and to the enum.
constexpr std::string_view kWireNames[] = {
    "allowed", "unknown_agent", "merchant_denied", "merchant_not_allowed", "network_not_allowed",
    "asset_not_allowed", "unknown_asset", "payto_not_allowed", "unparseable_amount",
    "offer_expired", "no_acceptable_offer", "over_request_cap", "over_agent_max_amount",
    "over_org_cap", "over_agent_cap", "over_merchant_cap", "over_agent_merchant_cap",
    "review_required", "approval_expired", "approval_denied", "ambiguous_path",
    // agent input
    "invalid_control_header", "bad_max_amount", "invalid_idempotency_key", "prepared_offer_unknown",
    "prepared_offer_changed", "already_paid", "payment_in_progress", "idempotency_conflict",
    "idempotency_key_used",
    // the merchant's 402
    "request_not_replayable", "challenge_too_large", "no_payable_offer", "no_rail", "not_x402",
    "bad_base64", "bad_json", "unsupported_version", "missing_field", "no_offers", "too_large",
    "bad_amount", "unknown_network", "unsupported_scheme", "bad_address", "missing_domain",
    "zero_amount", "pay_to_zero_address", "pay_to_is_asset", "pay_to_is_permit2",
    "no_wallet_for_network",
    // payment outcome, ledger
    "payment_rail_failed", "payment_refused", "payment_outcome_unknown", "not_supported",
    "credential_not_rebuildable", "ledger_unavailable",
    // transport
    "bad_request", "header_too_large", "request_timeout", "connect_port_denied", "loop_detected",
    "not_implemented", "upstream_unreachable", "upstream_timeout", "upstream_protocol",
    "too_many_connections", "client_closed", "upstream_closed", "shutting_down",
    "proxy_auth_required",
    // appended since
    "payment_interrupted", "upstream_tls_failed", "client_tls_failed", "agent_denied",
    "approval_used", "approval_mismatch", "reconciled_failed"};

}  // namespace

TEST_CASE("every reason's wire name is today's, in the frozen order") {
  const auto all = flow::payment::reasons();
  REQUIRE(all.size() == std::size(kWireNames));
  for (std::size_t i = 0; i < all.size(); ++i) {
    CAPTURE(i);
    CHECK(static_cast<std::size_t>(all[i].reason) == i);
    CHECK(flow::payment::reason_name(all[i].reason) == kWireNames[i]);
  }
}

TEST_CASE("reason names are unique and map back to their reason") {
  std::set<std::string_view> names;
  for (const auto& info : flow::payment::reasons()) {
    CAPTURE(info.name);
    CHECK(names.insert(info.name).second);
    CHECK(flow::payment::reason_from_name(info.name) == info.reason);
  }
  CHECK_FALSE(flow::payment::reason_from_name("allowed ").has_value());
  CHECK_FALSE(flow::payment::reason_from_name("Allowed").has_value());
  CHECK_FALSE(flow::payment::reason_from_name("").has_value());
  CHECK_FALSE(flow::payment::reason_from_name("none").has_value());
}

TEST_CASE("a reason the proxy answers with carries that answer's status") {
  CHECK(flow::payment::reason_status(Reason::over_request_cap) == 403);
  CHECK(flow::payment::reason_status(Reason::review_required) == 403);
  CHECK(flow::payment::reason_status(Reason::approval_denied) == 403);
  CHECK(flow::payment::reason_status(Reason::approval_expired) == 403);
  CHECK(flow::payment::reason_status(Reason::approval_used) == 409);
  CHECK(flow::payment::reason_status(Reason::approval_mismatch) == 409);
  CHECK(flow::payment::reason_status(Reason::invalid_control_header) == 400);
  CHECK(flow::payment::reason_status(Reason::already_paid) == 409);
  CHECK(flow::payment::reason_status(Reason::no_payable_offer) == 402);
  CHECK(flow::payment::reason_status(Reason::ledger_unavailable) == 503);
  CHECK(flow::payment::reason_status(Reason::payment_rail_failed) == 502);
  CHECK(flow::payment::reason_status(Reason::header_too_large) == 431);
  CHECK(flow::payment::reason_status(Reason::proxy_auth_required) == 407);
  CHECK(flow::payment::reason_status(Reason::agent_denied) == 403);
  // Not answers of their own: the status comes from the merchant or the upstream error.
  CHECK(flow::payment::reason_status(Reason::allowed) == 0);
  CHECK(flow::payment::reason_status(Reason::payment_outcome_unknown) == 0);
  CHECK(flow::payment::reason_status(Reason::zero_amount) == 0);
}

TEST_CASE("each reason has a category with a name") {
  CHECK(flow::payment::reason_category(Reason::merchant_denied) == ReasonCategory::policy);
  CHECK(flow::payment::reason_category(Reason::over_agent_cap) == ReasonCategory::budget);
  CHECK(flow::payment::reason_category(Reason::bad_max_amount) == ReasonCategory::agent_input);
  CHECK(flow::payment::reason_category(Reason::not_x402) == ReasonCategory::merchant);
  CHECK(flow::payment::reason_category(Reason::payment_refused) == ReasonCategory::payment_outcome);
  CHECK(flow::payment::reason_category(Reason::ledger_unavailable) == ReasonCategory::ledger);
  CHECK(flow::payment::reason_category(Reason::upstream_timeout) == ReasonCategory::transport);
  std::set<std::string_view> categories;
  for (const auto& info : flow::payment::reasons()) {
    categories.insert(flow::payment::reason_category_name(info.category));
  }
  CHECK(categories == std::set<std::string_view>{"policy", "budget", "agent_input", "merchant",
                                                 "payment_outcome", "ledger", "transport"});
}
