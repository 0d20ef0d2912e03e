#pragma once
// The policy sections of flow.yaml, validated and normalized. Loaded once into a PolicySnapshot
// and never modified afterwards. docs/policy.md describes every field.
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "flow/policy/asset_table.hpp"
#include "flow/policy/budget_window.hpp"
#include "flow/policy/unit_amount.hpp"
#include "flow/policy/verdict.hpp"

namespace flow::policy {

// What happens to a merchant no rule matches.
enum class Posture {
  allow,  // pay it within the organization's caps, and record it as observed
  block,  // refuse (merchant_not_allowed)
};

// A merchant rule's `action:` is the verdict it gives.
using MerchantAction = Verdict;

std::string_view posture_name(Posture p);

// A cumulative cap: an amount in one unit, or a number of payments in any asset, per window.
struct Budget {
  BudgetWindow window;
  std::optional<UnitAmount> amount;
  std::optional<std::uint64_t> payments;
  std::string rule;         // where it is set: "agents[alice].caps.budgets[0]"
  std::string key_tail;     // the unit and window part of the counter key: "USDC|day"
  std::string counter_key;  // the whole key; empty for an agent's "*" caps (merchant varies)

  bool applies_to(const AssetEntry& asset) const { return !amount || amount->covers(asset); }
};

// The caps of one scope (organization, agent, merchant, or an agent at a merchant).
struct CapSet {
  std::string where;                    // "organization.caps", "merchants[weather].caps", ...
  std::vector<UnitAmount> per_request;  // every entry that covers an offer's unit applies
  std::vector<Budget> budgets;

  bool empty() const { return per_request.empty() && budgets.empty(); }
};

// Restrictions on what an offer may be. An empty list does not restrict.
struct OfferConstraints {
  std::vector<std::string> networks;
  std::vector<std::string> assets;  // symbols
  std::vector<std::string> pay_to;  // EVM addresses stored lower-case
};

struct OrganizationRules {
  Posture posture = Posture::block;
  std::vector<std::string> networks;         // allowed networks; empty: every table network
  std::vector<std::string> prefer_networks;  // tie-break order between offers
  CapSet caps;
};

// Which allowed payments still need a human.
struct ReviewRules {
  std::vector<UnitAmount> amount_over;  // an offer above one of these (same unit) is reviewed
  bool new_pay_to = false;              // the first payment to a payee the ledger has not paid
  std::chrono::seconds approval_ttl{std::chrono::minutes{15}};
  // How long a reviewed request waits (its connection parked) for the decision; 0 answers
  // 403 review_required at once.
  std::chrono::seconds hold{0};
};

// review.hold's bound: a parked exchange holds a connection and its memory.
inline constexpr std::chrono::seconds kMaxReviewHold{std::chrono::hours{1}};

// How the proxy signs what it pays (`payment:` in flow.yaml).
struct PaymentRules {
  // The longest an authorization may stay valid: validBefore (Permit2: deadline) is at most this
  // far ahead of signing, whatever maxTimeoutSeconds the offer asks for.
  std::chrono::seconds max_validity{std::chrono::minutes{10}};
};

// payment.max_validity's bounds: a facilitator needs a few seconds to settle; a day is already
// longer than any merchant needs to settle a request it answers.
inline constexpr std::chrono::seconds kMinMaxValidity{10};
inline constexpr std::chrono::seconds kMaxMaxValidity{std::chrono::hours{24}};

struct AgentMerchantCaps {
  std::string merchant;  // a merchant rule's name
  std::size_t merchant_index = 0;
  CapSet caps;
};

// An agent rule's `action:`: whether the agent may pay at all.
enum class AgentAction {
  allow,  // the default: its payments are judged by the rest of the policy
  deny,   // every payment it asks for is refused (agent_denied); pass-through is unaffected
};

struct AgentRule {
  std::string id;
  AgentAction action = AgentAction::allow;
  std::vector<std::string> token_sha256;  // lower-case hex; empty: sidecar mode only
  CapSet caps;
  std::vector<AgentMerchantCaps> merchant_caps;  // this agent at one named merchant
  std::optional<CapSet> each_merchant_caps;      // "*": this agent at each configured merchant
  std::string rule;                              // "agents[alice]"

  const CapSet* caps_at(std::size_t merchant_index) const;
};

struct MerchantRule {
  std::string name;                  // unique; defaults to the host pattern
  std::string host;                  // lower-case: "api.example.com", or "*.example.com"
  std::string path_prefix;           // empty: any path
  std::vector<std::string> methods;  // upper-case; empty: any method
  MerchantAction action = MerchantAction::allow;
  OfferConstraints accept;
  CapSet caps;
  // Upstream TLS to this merchant is not verified (tests against a self-signed merchant only):
  // logged and shown by `check` loudly.
  bool insecure_upstream = false;
  std::string rule;       // "merchants[weather-api]"
  std::size_t index = 0;  // position in the file: the last tie-break between rules

  bool wildcard() const { return host.starts_with("*."); }
  std::string_view wildcard_suffix() const {  // ".example.com"
    return std::string_view(host).substr(1);
  }
};

struct PolicyDefinition {
  AssetTable assets = AssetTable::with_built_ins();
  OrganizationRules organization;
  ReviewRules review;
  PaymentRules payment;
  std::vector<AgentRule> agents;
  std::vector<MerchantRule> merchants;
};

}  // namespace flow::policy
