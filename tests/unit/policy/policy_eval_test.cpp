// Evaluation: one row per rule that can fire, each naming the reason code and the rule.
#include <doctest/doctest.h>

#include <functional>
#include <set>
#include <string>
#include <vector>

#include "policy_test_support.hpp"

using namespace policy_test;
using flow::policy::reason_code_name;
using flow::policy::ReasonCode;
using flow::policy::Verdict;
using flow::policy::verdict_name;

namespace {

const char* const kPolicy = R"(
organization:
  posture: block
  networks: [eip155:8453, eip155:137, lightning]
  caps:
    per_request: [1 USDC, 100000 msat, 1 EURC]
    budgets:
      - amount: 50 USDC
        per: day
      - payments: 100
        rolling: 1h
review:
  amount_over: 0.50 USDC
  approval_ttl: 10m
assets:
  - network: eip155:8453
    asset: "0x60a3E35Cc302bFA44Cb288Bc5a4F316Fdb1adb42"
    symbol: EURC
    decimals: 6
  - network: eip155:8453
    asset: "0x1111111111111111111111111111111111111111"
    symbol: GOLD
    decimals: 18
agents:
  - id: alice
    caps:
      per_request: 0.80 USDC
      budgets:
        - amount: 10 USDC
          per: week
    merchant_caps:
      weather:
        per_request: 0.04 USDC
        budgets:
          - amount: 1 USDC
            per: month
  - id: bob
  - id: carol
    action: deny
merchants:
  - name: weather
    host: api.weather.example
    action: allow
    networks: [eip155:8453]
    pay_to: ["0x209693Bc6afc0C5328bA36FaF03C514EF312287C"]
    caps:
      per_request: 0.05 USDC
      budgets:
        - amount: 5 USDC
          per: day
  - name: search
    host: "*.search.example"
    action: allow
    assets: [msat]
  - name: search-admin
    host: admin.search.example
    action: deny
  - name: llm
    host: llm.example
    action: review
  - name: open
    host: open.example
    action: allow
)";

struct Row {
  std::string behaviour;
  std::function<void(Ask&, Ledger&)> setup;
  Verdict verdict;
  ReasonCode reason;
  std::string rule;
};

const Atomic k1c = 10'000;  // 0.01 USDC

std::vector<Row> rows() {
  return {
      {"a payment within every cap at an allowed merchant is allowed",
       [](Ask& a, Ledger&) {
         a.host = "api.weather.example";
         a.offers = {base_usdc(k1c)};
       },
       Verdict::allow, ReasonCode::allowed, "merchants[weather]"},
      {"an agent not in the policy is refused",
       [](Ask& a, Ledger&) {
         a.agent = "mallory";
         a.offers = {base_usdc(k1c)};
       },
       Verdict::deny, ReasonCode::unknown_agent, "agents"},
      {"an agent whose rule says deny is refused, whatever it asks",
       [](Ask& a, Ledger&) {
         a.agent = "carol";
         a.host = "api.weather.example";
         a.offers = {base_usdc(k1c)};
       },
       Verdict::deny, ReasonCode::agent_denied, "agents[carol].action"},
      {"a merchant whose rule says deny is refused",
       [](Ask& a, Ledger&) {
         a.host = "admin.search.example";
         a.offers = {lightning_msat(10)};
       },
       Verdict::deny, ReasonCode::merchant_denied, "merchants[search-admin].action"},
      {"an unconfigured merchant is refused under posture block",
       [](Ask& a, Ledger&) {
         a.host = "unknown.example";
         a.offers = {base_usdc(k1c)};
       },
       Verdict::deny, ReasonCode::merchant_not_allowed, "organization.posture"},
      {"a path with dot segments is refused before any rule is trusted",
       [](Ask& a, Ledger&) {
         a.path = "/v1/../admin";
         a.offers = {base_usdc(k1c)};
       },
       Verdict::deny, ReasonCode::ambiguous_path, "request.path"},
      {"a challenge without offers is refused", [](Ask& a, Ledger&) { a.offers = {}; },
       Verdict::deny, ReasonCode::no_acceptable_offer, "challenge"},
      {"an offer whose amount did not parse is refused",
       [](Ask& a, Ledger&) {
         a.offers = {base_usdc(0)};
         a.offers[0].amount_error = flow::payment::AmountError::exponent;
       },
       Verdict::deny, ReasonCode::unparseable_amount, "offer.amount"},
      {"an offer at its expiry second is refused",
       [](Ask& a, Ledger&) {
         a.offers = {base_usdc(k1c)};
         a.offers[0].offer.expires_at = kNow;
       },
       Verdict::deny, ReasonCode::offer_expired, "offer.expires_at"},
      {"an asset missing from the asset table is refused",
       [](Ask& a, Ledger&) {
         a.offers = {offer("eip155:8453", "0x2222222222222222222222222222222222222222", 1)};
       },
       Verdict::deny, ReasonCode::unknown_asset, "assets"},
      {"a network outside organization.networks is refused",
       [](Ask& a, Ledger&) { a.offers = {offer("eip155:42161", kArbitrumUsdc, k1c)}; },
       Verdict::deny, ReasonCode::network_not_allowed, "organization.networks"},
      {"a network the merchant does not accept is refused",
       [](Ask& a, Ledger&) {
         a.host = "api.weather.example";
         a.offers = {polygon_usdc(k1c)};
       },
       Verdict::deny, ReasonCode::network_not_allowed, "merchants[weather].networks"},
      {"an asset the merchant does not accept is refused",
       [](Ask& a, Ledger&) {
         a.host = "x.search.example";
         a.offers = {base_usdc(k1c)};
       },
       Verdict::deny, ReasonCode::asset_not_allowed, "merchants[search].assets"},
      {"a known asset without an organization per-request cap is not payable",
       [](Ask& a, Ledger&) {
         a.offers = {offer("eip155:8453", "0x1111111111111111111111111111111111111111", 1)};
       },
       Verdict::deny, ReasonCode::asset_not_allowed, "organization.caps.per_request"},
      {"a payee the merchant does not list is refused",
       [](Ask& a, Ledger&) {
         a.host = "api.weather.example";
         a.offers = {base_usdc(k1c, kOtherPayee)};
       },
       Verdict::deny, ReasonCode::payto_not_allowed, "merchants[weather].pay_to"},
      {"a listed payee matches in any letter case",
       [](Ask& a, Ledger&) {
         a.host = "api.weather.example";
         a.offers = {base_usdc(k1c, "0x209693BC6AFC0C5328BA36FAF03C514EF312287C")};
       },
       Verdict::allow, ReasonCode::allowed, "merchants[weather]"},
      {"an amount over the organization's per-request cap is refused",
       [](Ask& a, Ledger&) { a.offers = {base_usdc(1'000'001)}; }, Verdict::deny,
       ReasonCode::over_request_cap, "organization.caps.per_request"},
      {"an amount over the agent's per-request cap is refused",
       [](Ask& a, Ledger&) { a.offers = {base_usdc(800'001)}; }, Verdict::deny,
       ReasonCode::over_request_cap, "agents[alice].caps.per_request"},
      {"an amount over the merchant's per-request cap is refused",
       [](Ask& a, Ledger&) {
         a.host = "api.weather.example";
         a.offers = {base_usdc(50'001)};
       },
       Verdict::deny, ReasonCode::over_request_cap, "merchants[weather].caps.per_request"},
      {"an amount over the agent's per-request cap at this merchant is refused",
       [](Ask& a, Ledger&) {
         a.host = "api.weather.example";
         a.offers = {base_usdc(40'001)};
       },
       Verdict::deny, ReasonCode::over_request_cap,
       "agents[alice].merchant_caps[weather].per_request"},
      {"an amount over the agent's own X-402flow-Max-Amount is refused",
       [](Ask& a, Ledger&) {
         a.offers = {base_usdc(20'000)};
         a.agent_max = {std::get<flow::policy::UnitAmount>(load("")->parse_amount("0.01 USDC"))};
       },
       Verdict::deny, ReasonCode::over_agent_max_amount, "request.max_amount"},
      {"an agent maximum in another unit refuses the offer (it cannot be compared)",
       [](Ask& a, Ledger&) {
         a.offers = {base_usdc(1)};
         a.agent_max = {std::get<flow::policy::UnitAmount>(load("")->parse_amount("5 msat"))};
       },
       Verdict::deny, ReasonCode::over_agent_max_amount, "request.max_amount"},
      {"a payment that would pass the organization's daily amount is refused",
       [](Ask& a, Ledger& l) {
         a.offers = {base_usdc(20'000)};
         l.totals.set("org|-|USDC|day", {49'990'000, 3});
       },
       Verdict::deny, ReasonCode::over_org_cap, "organization.caps.budgets[0]"},
      {"a payment that exactly reaches the organization's daily amount is allowed",
       [](Ask& a, Ledger& l) {
         a.offers = {base_usdc(10'000)};
         l.totals.set("org|-|USDC|day", {49'990'000, 3});
       },
       Verdict::allow, ReasonCode::allowed, "merchants[open]"},
      {"the 101st payment in an hour is refused by the payment count",
       [](Ask& a, Ledger& l) {
         a.offers = {lightning_msat(5)};
         l.totals.set("org|-|*|rolling:3600s", {0, 100});
       },
       Verdict::deny, ReasonCode::over_org_cap, "organization.caps.budgets[1]"},
      {"a payment that would pass the agent's weekly amount is refused",
       [](Ask& a, Ledger& l) {
         a.offers = {base_usdc(20'000)};
         l.totals.set("agent|alice|USDC|week", {9'990'000, 1});
       },
       Verdict::deny, ReasonCode::over_agent_cap, "agents[alice].caps.budgets[0]"},
      {"a payment that would pass the merchant's daily amount is refused",
       [](Ask& a, Ledger& l) {
         a.host = "api.weather.example";
         a.offers = {base_usdc(20'000)};
         l.totals.set("merchant|weather|USDC|day", {4'990'000, 1});
       },
       Verdict::deny, ReasonCode::over_merchant_cap, "merchants[weather].caps.budgets[0]"},
      {"a payment that would pass the agent's monthly amount at this merchant is refused",
       [](Ask& a, Ledger& l) {
         a.host = "api.weather.example";
         a.offers = {base_usdc(20'000)};
         l.totals.set("agent_merchant|alice/weather|USDC|month", {990'000, 1});
       },
       Verdict::deny, ReasonCode::over_agent_merchant_cap,
       "agents[alice].merchant_caps[weather].budgets[0]"},
      {"another agent's spending does not count against this agent",
       [](Ask& a, Ledger& l) {
         a.offers = {base_usdc(20'000)};
         l.totals.set("agent|bob|USDC|week", {9'990'000, 1});
       },
       Verdict::allow, ReasonCode::allowed, "merchants[open]"},
      {"every payment to a merchant whose action is review needs a human",
       [](Ask& a, Ledger&) {
         a.host = "llm.example";
         a.offers = {base_usdc(k1c)};
       },
       Verdict::review, ReasonCode::review_required, "merchants[llm].action"},
      {"an amount above review.amount_over needs a human",
       [](Ask& a, Ledger&) { a.offers = {base_usdc(500'001)}; }, Verdict::review,
       ReasonCode::review_required, "review.amount_over"},
      {"an amount equal to review.amount_over does not need a human",
       [](Ask& a, Ledger&) { a.offers = {base_usdc(500'000)}; }, Verdict::allow,
       ReasonCode::allowed, "merchants[open]"},
      {"a cap refusal wins over review: no human is asked for what caps forbid",
       [](Ask& a, Ledger&) {
         a.host = "llm.example";
         a.offers = {base_usdc(900'000)};
       },
       Verdict::deny, ReasonCode::over_request_cap, "agents[alice].caps.per_request"},
      {"an approval in hand for the offer's terms meets review",
       [](Ask& a, Ledger&) {
         a.host = "llm.example";
         a.offers = {base_usdc(k1c)};
         a.approved = base_usdc(k1c).offer;
       },
       Verdict::allow, ReasonCode::allowed, "merchants[llm]"},
      {"an approval does not lift a cumulative cap",
       [](Ask& a, Ledger& l) {
         a.offers = {base_usdc(600'000)};
         a.approved = base_usdc(600'000).offer;
         l.totals.set("agent|alice|USDC|week", {9'990'000, 1});
       },
       Verdict::deny, ReasonCode::over_agent_cap, "agents[alice].caps.budgets[0]"},
      {"an approval does not lift a merchant's deny",
       [](Ask& a, Ledger&) {
         a.host = "admin.search.example";
         a.offers = {lightning_msat(10)};
         a.approved = lightning_msat(10).offer;
       },
       Verdict::deny, ReasonCode::merchant_denied, "merchants[search-admin].action"},
  };
}

}  // namespace

TEST_CASE("each policy rule gives its own verdict, reason code and rule name") {
  const auto policy = load(kPolicy);
  for (const Row& row : rows()) {
    CAPTURE(row.behaviour);
    Ask ask;
    Ledger ledger;
    row.setup(ask, ledger);
    const auto d = decide(*policy, ask, ledger);
    CHECK(verdict_name(d.verdict) == verdict_name(row.verdict));
    CHECK(reason_code_name(d.reason) == reason_code_name(row.reason));
    CHECK(d.rule == row.rule);
  }
}

TEST_CASE("every reason code evaluation can give is produced by some rule above") {
  const auto policy = load(kPolicy);
  std::set<ReasonCode> produced;
  for (const Row& row : rows()) produced.insert(row.reason);
  // Given by the approval flow and the ledger, not by evaluation.
  const std::set<ReasonCode> elsewhere{ReasonCode::approval_expired, ReasonCode::approval_denied};
  for (int i = 0; i <= static_cast<int>(ReasonCode::ambiguous_path); ++i) {
    const auto code = static_cast<ReasonCode>(i);
    CAPTURE(reason_code_name(code));
    CHECK((produced.count(code) == 1) != (elsewhere.count(code) == 1));
  }
}

TEST_CASE("review decisions carry the approval time-to-live; others carry none") {
  const auto policy = load(kPolicy);
  Ask review;
  review.host = "llm.example";
  review.offers = {base_usdc(k1c)};
  CHECK(decide(*policy, review).approval_ttl.count() == 600);
  Ask allow;
  allow.offers = {base_usdc(k1c)};
  CHECK(decide(*policy, allow).approval_ttl.count() == 0);
}

TEST_CASE("an approval covers its terms up to its amount, and nothing else") {
  const auto policy = load(kPolicy);
  Ask ask;
  ask.offers = {base_usdc(600'000)};
  ask.approved = base_usdc(600'000).offer;
  CHECK(decide(*policy, ask).verdict == Verdict::allow);
  ask.approved->amount = 700'000;  // approved for more: a cheaper offer is covered
  CHECK(decide(*policy, ask).verdict == Verdict::allow);
  ask.approved->amount = 599'999;  // approved for less: reviewed again
  CHECK(decide(*policy, ask).verdict == Verdict::review);
  ask.approved = base_usdc(600'000, "0x0000000000000000000000000000000000000001").offer;
  CHECK(decide(*policy, ask).verdict == Verdict::review);
  ask.approved = polygon_usdc(600'000).offer;
  CHECK(decide(*policy, ask).verdict == Verdict::review);
  // The agent's own maximum still applies.
  ask.approved = base_usdc(600'000).offer;
  ask.agent_max = {std::get<flow::policy::UnitAmount>(policy->parse_amount("0.5 USDC"))};
  CHECK(decide(*policy, ask).reason == ReasonCode::over_agent_max_amount);
}

TEST_CASE("a decision names the offer, its unit and the matched merchant") {
  const auto policy = load(kPolicy);
  Ask ask;
  ask.host = "API.Weather.Example";
  ask.offers = {base_usdc(12'345)};
  const auto d = decide(*policy, ask);
  REQUIRE(d.offer.has_value());
  CHECK(d.offer->amount == 12'345);
  CHECK(d.offer_index == 0u);
  CHECK(d.symbol == "USDC");
  CHECK(d.decimals == 6);
  CHECK(d.merchant == "weather");
  CHECK_FALSE(d.observed);
}

TEST_CASE("a refused single offer is still named in the decision") {
  const auto policy = load(kPolicy);
  Ask ask;
  ask.offers = {base_usdc(5'000'000)};
  const auto d = decide(*policy, ask);
  CHECK(d.reason == ReasonCode::over_request_cap);
  REQUIRE(d.offer.has_value());
  CHECK(d.offer->amount == 5'000'000);
  CHECK(d.caps.empty());
}

TEST_CASE("posture allow pays an unconfigured merchant within organization caps, as observed") {
  const auto policy = load(R"(
organization:
  posture: allow
  caps:
    per_request: 0.10 USDC
    budgets:
      - amount: 1 USDC
        per: day
agents:
  - id: alice
)");
  Ask ask;
  ask.host = "new-merchant.example";
  ask.offers = {base_usdc(k1c)};
  const auto d = decide(*policy, ask);
  CHECK(d.verdict == Verdict::allow);
  CHECK(d.rule == "organization.posture");
  CHECK(d.observed);
  CHECK(d.merchant.empty());
  REQUIRE(d.caps.size() == 1);
  CHECK(d.caps[0].counter_key == "org|-|USDC|day");

  ask.offers = {base_usdc(100'001)};
  CHECK(decide(*policy, ask).reason == ReasonCode::over_request_cap);
}

TEST_CASE("review.new_pay_to holds the first payment to a payee, not later ones") {
  const auto policy = load(R"(
organization:
  posture: allow
  caps:
    per_request: 1 USDC
review:
  new_pay_to: true
agents:
  - id: alice
)");
  Ask ask;
  ask.offers = {base_usdc(k1c)};
  const auto first = decide(*policy, ask);
  CHECK(first.verdict == Verdict::review);
  CHECK(first.rule == "review.new_pay_to");

  Ledger ledger;
  ledger.payees.add("eip155:8453", "0x209693bc6afc0c5328ba36faf03c514ef312287c");
  const auto later = decide(*policy, ask, ledger);
  CHECK(later.verdict == Verdict::allow);

  Ledger other_network;
  other_network.payees.add("eip155:137", kPayee);
  CHECK(decide(*policy, ask, other_network).verdict == Verdict::review);
}

TEST_CASE("review.new_pay_to does not hold a payee the merchant rule lists in pay_to") {
  const auto policy = load(R"(
organization:
  posture: block
  caps:
    per_request: 1 USDC
review:
  new_pay_to: true
agents:
  - id: alice
merchants:
  - name: vetted
    host: open.example
    action: allow
    pay_to: ["0x209693Bc6afc0C5328bA36FaF03C514EF312287C"]
  - name: unlisted
    host: other.example
    action: allow
)");
  Ask ask;
  ask.offers = {base_usdc(k1c)};
  const auto vetted = decide(*policy, ask);
  CHECK(vetted.verdict == Verdict::allow);
  CHECK(vetted.merchant == "vetted");

  ask.host = "other.example";
  const auto unlisted = decide(*policy, ask);
  CHECK(unlisted.verdict == Verdict::review);
  CHECK(unlisted.rule == "review.new_pay_to");
}

TEST_CASE("an empty policy refuses every payment") {
  const auto policy = load("");
  Ask ask;
  ask.offers = {base_usdc(1)};
  CHECK(decide(*policy, ask).reason == ReasonCode::unknown_agent);
  const auto with_agent = load("agents:\n  - id: alice\norganization:\n  posture: allow\n");
  CHECK(decide(*with_agent, ask).reason == ReasonCode::asset_not_allowed);
}

TEST_CASE("a port in the host does not let a request slip past its merchant rule") {
  const auto policy = load(kPolicy);
  Ask ask;
  ask.host = "admin.search.example:443";
  ask.offers = {lightning_msat(10)};
  CHECK(decide(*policy, ask).reason == ReasonCode::merchant_denied);
}
