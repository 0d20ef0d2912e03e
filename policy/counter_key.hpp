#pragma once
// The one place that defines counter keys (CapCheck::counter_key):
//   <scope>|<subject>|<unit>|<window>
//   org|-|USDC|day
//   agent|research-bot|USDC@eip155:8453|rolling:3600s
//   merchant|weather-api|*|week                       (a count of payments in any asset)
//   agent_merchant|research-bot/weather-api|msat|month
// Agent ids and merchant names cannot contain '|' or '/', and symbols and networks cannot
// contain '|' or '@', so every key names exactly one (scope, subject, unit, window). A cap's
// amount is not part of its key: raising a cap keeps its counter.
//
// Keys are complete at load (Budget::counter_key) for every scope but an agent's "*" caps,
// whose merchant is known only per request: those are written from a Prefix and the tail.
#include <array>
#include <string>
#include <string_view>

#include "flow/policy/budget_window.hpp"

namespace flow::policy::counter_key {

inline constexpr std::string_view kAnyUnit = "*";
inline constexpr std::string_view kOrgPrefix = "org|-|";

inline std::string agent_prefix(std::string_view agent) {
  return "agent|" + std::string(agent) + "|";
}
inline std::string merchant_prefix(std::string_view merchant) {
  return "merchant|" + std::string(merchant) + "|";
}
inline std::string agent_merchant_prefix(std::string_view agent, std::string_view merchant) {
  return "agent_merchant|" + std::string(agent) + "/" + std::string(merchant) + "|";
}
inline std::string tail(std::string_view unit, const BudgetWindow& window) {
  return std::string(unit) + "|" + window_key(window);
}

// agent_merchant_prefix() as views of the agent id and merchant name (which must outlive it),
// written straight into a key without building the prefix on its own.
struct AgentMerchantPrefix {
  std::string_view agent;
  std::string_view merchant;

  void write(std::string& out, std::string_view key_tail) const {
    constexpr std::string_view kScope = "agent_merchant|";
    out.clear();
    out.reserve(kScope.size() + agent.size() + merchant.size() + key_tail.size() + 2);
    out.append(kScope).append(agent).append("/").append(merchant).append("|").append(key_tail);
  }
};

}  // namespace flow::policy::counter_key
