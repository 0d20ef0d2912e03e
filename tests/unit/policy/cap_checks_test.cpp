// The CapCheck list handed to the ledger: which caps, under which keys, from which instant.
#include <doctest/doctest.h>

#include <set>
#include <string>

#include "flow/payment/amount.hpp"
#include "policy_test_support.hpp"

using namespace policy_test;
using flow::policy::CapCheck;
using flow::policy::ReasonCode;

namespace {

const char* const kPolicy = R"(
organization:
  posture: allow
  caps:
    per_request: [1 USDC, 100000 msat]
    budgets:
      - amount: 50 USDC
        per: day
      - amount: 3 USDC on eip155:137
        per: month
      - payments: 100
        rolling: 1h
agents:
  - id: alice
    caps:
      budgets:
        - amount: 10 USDC
          per: week
        - amount: 5000 msat
          rolling: 30m
    merchant_caps:
      weather:
        budgets:
          - amount: 1 USDC
            per: month
      "*":
        budgets:
          - payments: 20
            per: day
merchants:
  - name: weather
    host: api.weather.example
    action: allow
    caps:
      budgets:
        - amount: 5 USDC
          per: day
  - name: search
    host: "*.search.example"
    action: allow
)";

const CapCheck* find(const std::vector<CapCheck>& caps, const std::string& key) {
  for (const auto& c : caps) {
    if (c.counter_key == key) return &c;
  }
  return nullptr;
}

}  // namespace

TEST_CASE("every cumulative cap on the chosen offer is listed, scope by scope") {
  const auto policy = load(kPolicy);
  Ask ask;
  ask.host = "api.weather.example";
  ask.offers = {base_usdc(10'000)};
  const auto d = decide(*policy, ask);
  REQUIRE(d.verdict == flow::policy::Verdict::allow);
  std::vector<std::string> keys;
  for (const auto& c : d.caps) keys.push_back(c.counter_key);
  CHECK(keys == std::vector<std::string>{"org|-|USDC|day", "org|-|*|rolling:3600s",
                                         "agent|alice|USDC|week", "merchant|weather|USDC|day",
                                         "agent_merchant|alice/weather|USDC|month"});
}

TEST_CASE("a cap check carries its limit, rule, refusal reason and window start") {
  const auto policy = load(kPolicy);
  Ask ask;
  ask.host = "api.weather.example";
  ask.offers = {base_usdc(10'000)};
  const auto d = decide(*policy, ask);

  const CapCheck* org_day = find(d.caps, "org|-|USDC|day");
  REQUIRE(org_day != nullptr);
  CHECK(org_day->rule == "organization.caps.budgets[0]");
  CHECK(org_day->reason == ReasonCode::over_org_cap);
  CHECK(org_day->window_start == 1741737600);  // 2025-03-12T00:00:00Z
  REQUIRE(org_day->max_amount.has_value());
  CHECK(flow::payment::format_atomic(*org_day->max_amount) == "50000000");
  CHECK_FALSE(org_day->max_count.has_value());

  const CapCheck* org_hour = find(d.caps, "org|-|*|rolling:3600s");
  REQUIRE(org_hour != nullptr);
  CHECK(org_hour->window_start == kNow - 3600);
  CHECK(org_hour->max_count == 100u);
  CHECK_FALSE(org_hour->max_amount.has_value());

  const CapCheck* week = find(d.caps, "agent|alice|USDC|week");
  REQUIRE(week != nullptr);
  CHECK(week->reason == ReasonCode::over_agent_cap);
  CHECK(week->window_start == 1741564800);  // Monday 2025-03-10T00:00:00Z

  const CapCheck* merchant = find(d.caps, "merchant|weather|USDC|day");
  REQUIRE(merchant != nullptr);
  CHECK(merchant->reason == ReasonCode::over_merchant_cap);
  CHECK(merchant->rule == "merchants[weather].caps.budgets[0]");

  const CapCheck* pair = find(d.caps, "agent_merchant|alice/weather|USDC|month");
  REQUIRE(pair != nullptr);
  CHECK(pair->reason == ReasonCode::over_agent_merchant_cap);
  CHECK(pair->rule == "agents[alice].merchant_caps[weather].budgets[0]");
  CHECK(pair->window_start == 1740787200);  // 2025-03-01T00:00:00Z
}

TEST_CASE("caps in another unit, or on another network, are left out") {
  const auto policy = load(kPolicy);
  Ask ask;
  ask.host = "x.search.example";
  ask.offers = {lightning_msat(1000)};
  const auto d = decide(*policy, ask);
  std::set<std::string> keys;
  for (const auto& c : d.caps) keys.insert(c.counter_key);
  CHECK(keys == std::set<std::string>{"org|-|*|rolling:3600s", "agent|alice|msat|rolling:1800s",
                                      "agent_merchant|alice/search|*|day"});

  ask.offers = {polygon_usdc(1000)};
  const auto polygon = decide(*policy, ask);
  CHECK(find(polygon.caps, "org|-|USDC@eip155:137|month") != nullptr);
  ask.offers = {base_usdc(1000)};
  CHECK(find(decide(*policy, ask).caps, "org|-|USDC@eip155:137|month") == nullptr);
}

TEST_CASE("a USDC cap adds up USDC on every network under one counter") {
  const auto policy = load(kPolicy);
  Ask ask;
  ask.offers = {base_usdc(1000)};
  const auto base = decide(*policy, ask);
  ask.offers = {polygon_usdc(1000)};
  const auto polygon = decide(*policy, ask);
  CHECK(find(base.caps, "org|-|USDC|day") != nullptr);
  CHECK(find(polygon.caps, "org|-|USDC|day") != nullptr);
}

TEST_CASE("counter keys are unique within a decision and stable across reloads and amounts") {
  const auto policy = load(kPolicy);
  Ask ask;
  ask.host = "api.weather.example";
  ask.offers = {base_usdc(10'000)};
  const auto d = decide(*policy, ask);
  std::set<std::string> unique;
  for (const auto& c : d.caps) unique.insert(c.counter_key);
  CHECK(unique.size() == d.caps.size());

  // Raising a cap keeps its counter: the amount is not part of the key.
  std::string raised = kPolicy;
  raised.replace(raised.find("amount: 50 USDC"), 15, "amount: 80 USDC");
  const auto after = decide(*load(raised), ask);
  REQUIRE(after.caps.size() == d.caps.size());
  for (std::size_t i = 0; i < d.caps.size(); ++i) {
    CHECK(after.caps[i].counter_key == d.caps[i].counter_key);
  }
  CHECK(flow::payment::format_atomic(*after.caps[0].max_amount) == "80000000");
}

TEST_CASE("the agent's each-merchant caps count each merchant separately") {
  const auto policy = load(kPolicy);
  Ask ask;
  ask.host = "a.search.example";
  ask.offers = {lightning_msat(10)};
  Ledger ledger;
  ledger.totals.set("agent_merchant|alice/search|*|day", {0, 20});
  const auto d = decide(*policy, ask, ledger);
  CHECK(d.reason == ReasonCode::over_agent_merchant_cap);
  CHECK(d.rule == "agents[alice].merchant_caps[*].budgets[0]");

  ask.host = "api.weather.example";
  ask.offers = {base_usdc(10)};
  // weather has its own entry, which replaces "*": the search counter does not apply there.
  CHECK(decide(*policy, ask, ledger).verdict == flow::policy::Verdict::allow);
}

TEST_CASE("refused and reviewed decisions: refused carry no cap checks, reviewed do") {
  const auto policy = load(std::string(kPolicy) + "review:\n  amount_over: 0.01 USDC\n");
  Ask ask;
  ask.offers = {base_usdc(20'000)};
  const auto review = decide(*policy, ask);
  CHECK(review.verdict == flow::policy::Verdict::review);
  CHECK_FALSE(review.caps.empty());
  ask.offers = {base_usdc(2'000'000)};
  CHECK(decide(*policy, ask).caps.empty());
}
