#include "flow/policy/reason_code.hpp"

#include <array>
#include <utility>

namespace flow::policy {
namespace {

constexpr std::array<std::pair<ReasonCode, std::string_view>, 21> kNames{{
    {ReasonCode::allowed, "allowed"},
    {ReasonCode::unknown_agent, "unknown_agent"},
    {ReasonCode::merchant_denied, "merchant_denied"},
    {ReasonCode::merchant_not_allowed, "merchant_not_allowed"},
    {ReasonCode::network_not_allowed, "network_not_allowed"},
    {ReasonCode::asset_not_allowed, "asset_not_allowed"},
    {ReasonCode::unknown_asset, "unknown_asset"},
    {ReasonCode::payto_not_allowed, "payto_not_allowed"},
    {ReasonCode::unparseable_amount, "unparseable_amount"},
    {ReasonCode::offer_expired, "offer_expired"},
    {ReasonCode::no_acceptable_offer, "no_acceptable_offer"},
    {ReasonCode::over_request_cap, "over_request_cap"},
    {ReasonCode::over_agent_max_amount, "over_agent_max_amount"},
    {ReasonCode::over_org_cap, "over_org_cap"},
    {ReasonCode::over_agent_cap, "over_agent_cap"},
    {ReasonCode::over_merchant_cap, "over_merchant_cap"},
    {ReasonCode::over_agent_merchant_cap, "over_agent_merchant_cap"},
    {ReasonCode::review_required, "review_required"},
    {ReasonCode::approval_expired, "approval_expired"},
    {ReasonCode::approval_denied, "approval_denied"},
    {ReasonCode::ambiguous_path, "ambiguous_path"},
}};

}  // namespace

std::string_view reason_code_name(ReasonCode code) {
  for (const auto& [c, name] : kNames) {
    if (c == code) return name;
  }
  return "unknown";
}

std::optional<ReasonCode> reason_code_from_name(std::string_view name) {
  for (const auto& [c, n] : kNames) {
    if (n == name) return c;
  }
  return std::nullopt;
}

}  // namespace flow::policy
