#pragma once
#include <optional>
// Shared by the policy tests: policies from YAML text, offers, a ledger in memory, fixed clocks.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "flow/payment/offer.hpp"
#include "flow/policy/flow_config.hpp"
#include "flow/policy/policy_eval.hpp"
#include "flow/policy/spend_totals.hpp"

namespace policy_test {

using flow::payment::Atomic;

inline constexpr const char* kBaseUsdc = "0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913";
inline constexpr const char* kPolygonUsdc = "0x3c499c542cEF5E3811e1192ce70d8cC03d5c3359";
inline constexpr const char* kArbitrumUsdc = "0xaf88d065e77c8cC2239327C5EDb3A432268e5831";
inline constexpr const char* kBaseEurc = "0x60a3E35Cc302bFA44Cb288Bc5a4F316Fdb1adb42";
inline constexpr const char* kPayee = "0x209693Bc6afc0C5328bA36FaF03C514EF312287C";
inline constexpr const char* kOtherPayee = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8";

// 2025-03-12T10:00:00Z, a Wednesday.
inline constexpr std::int64_t kNow = 1741773600;

// Every flow.yaml names its version; policy snippets get `version: 1` appended (at the end, so
// the lines and columns of their errors stay where the snippet puts them).
inline std::string versioned(const std::string& yaml) {
  if (yaml.rfind("version:", 0) == 0 || yaml.find("\nversion:") != std::string::npos) return yaml;
  return yaml + (yaml.empty() || yaml.back() == '\n' ? "" : "\n") + "version: 1\n";
}

inline std::shared_ptr<const flow::policy::PolicySnapshot> load(const std::string& yaml) {
  return flow::policy::parse_flow_config(versioned(yaml), "flow.yaml").policy;
}

// The ConfigError text, or "no error".
inline std::string error_of(const std::string& yaml) {
  try {
    flow::policy::parse_flow_config(versioned(yaml), "flow.yaml");
  } catch (const flow::policy::ConfigError& e) {
    return e.what();
  }
  return "no error";
}

inline flow::policy::OfferCandidate offer(std::string network, std::string asset, Atomic amount,
                                          std::string pay_to = kPayee) {
  flow::policy::OfferCandidate c;
  c.offer.protocol = "x402";
  c.offer.protocol_version = 2;
  c.offer.scheme = "exact";
  c.offer.network = std::move(network);
  c.offer.asset = std::move(asset);
  c.offer.amount = amount;
  c.offer.pay_to = std::move(pay_to);
  c.offer.resource = "https://merchant.example/resource";
  return c;
}

inline flow::policy::OfferCandidate base_usdc(Atomic amount, std::string pay_to = kPayee) {
  return offer("eip155:8453", kBaseUsdc, amount, std::move(pay_to));
}
inline flow::policy::OfferCandidate polygon_usdc(Atomic amount) {
  return offer("eip155:137", kPolygonUsdc, amount);
}
inline flow::policy::OfferCandidate lightning_msat(Atomic amount) {
  return offer("lightning", "msat", amount, "02aa...node");
}

struct Ledger {
  flow::policy::SpendTotalsMap totals;
  flow::policy::PayeeSet payees;
  flow::policy::LedgerFacts facts() const { return {totals, payees}; }
};

struct Ask {
  std::string agent = "alice";
  std::string host = "open.example";
  std::string path = "/v1/resource";
  std::string method = "GET";
  std::vector<flow::policy::OfferCandidate> offers;
  std::vector<flow::policy::UnitAmount> agent_max;
  std::optional<flow::payment::Offer> approved;  // an approval in hand
};

inline flow::policy::Decision decide(const flow::policy::PolicySnapshot& policy, const Ask& ask,
                                     const Ledger& ledger = {}, std::int64_t now = kNow) {
  flow::policy::PaymentRequest request;
  request.agent_id = ask.agent;
  request.host = ask.host;
  request.path = ask.path;
  request.method = ask.method;
  request.offers = ask.offers;
  request.agent_max = ask.agent_max;
  request.approved = ask.approved ? &*ask.approved : nullptr;
  return flow::policy::evaluate(policy, request, ledger.facts(), now);
}

}  // namespace policy_test
