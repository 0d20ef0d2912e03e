// A refusal for an amount or a count says what was exceeded: the limit, the offer's amount, what
// the window already holds and when it makes room again.
#include <doctest/doctest.h>

#include <string>
#include <variant>

#include "flow/policy/budget_window.hpp"
#include "policy_test_support.hpp"

using namespace policy_test;
using flow::policy::ReasonCode;
using flow::policy::Verdict;
using flow::policy::WindowKind;

namespace {

const char* const kPolicy = R"(
organization:
  posture: block
  caps:
    per_request: 1 USDC
    budgets:
      - amount: 50 USDC
        per: day
agents:
  - id: alice
    caps:
      per_request: 0.80 USDC
      budgets:
        - payments: 3
          rolling: 1h
  - id: blocked
    action: deny
merchants:
  - name: weather
    host: api.weather.example
    action: allow
    caps:
      budgets:
        - amount: 5 USDC
          per: week
)";

Ask weather(Atomic amount) {
  Ask a;
  a.host = "api.weather.example";
  a.offers = {base_usdc(amount)};
  return a;
}

}  // namespace

TEST_CASE("a full amount cap names the cap, the amount spent, the window and its reset") {
  const auto policy = load(kPolicy);
  Ledger ledger;
  ledger.totals.set("org|-|USDC|day", {49'990'000, 7});
  const auto d = decide(*policy, weather(20'000), ledger);
  REQUIRE(d.reason == ReasonCode::over_org_cap);
  REQUIRE(d.exceeded.has_value());
  const auto& f = *d.exceeded;
  REQUIRE(f.limit.has_value());
  CHECK(f.limit->symbol == "USDC");
  CHECK(f.limit->atomic == 50'000'000);
  CHECK_FALSE(f.limit_count.has_value());
  CHECK(f.offered.atomic == 20'000);
  CHECK(f.offered.symbol == "USDC");
  CHECK(f.offered.decimals == 6);
  REQUIRE(f.spent.has_value());
  CHECK(f.spent->amount == 49'990'000);
  CHECK(f.spent->count == 7);
  REQUIRE(f.window.has_value());
  CHECK(f.window->kind == WindowKind::calendar_day);
  // kNow is 2025-03-12T10:00:00Z: the day resets at midnight UTC, 14 hours later.
  CHECK(f.resets_at == kNow + 14 * 3600);
}

TEST_CASE("a full count cap names the count, the payments made and a rolling window's bound") {
  const auto policy = load(kPolicy);
  Ledger ledger;
  ledger.totals.set("agent|alice|*|rolling:3600s", {0, 3});
  const auto d = decide(*policy, weather(10'000), ledger);
  REQUIRE(d.reason == ReasonCode::over_agent_cap);
  REQUIRE(d.exceeded.has_value());
  const auto& f = *d.exceeded;
  CHECK_FALSE(f.limit.has_value());
  CHECK(f.limit_count == 3u);
  CHECK(f.spent->count == 3);
  CHECK(f.window->kind == WindowKind::rolling);
  // Everything held now has aged out of a rolling hour an hour from now, at the latest.
  CHECK(f.resets_at == kNow + 3600);
}

TEST_CASE("a weekly merchant cap resets on the next Monday") {
  const auto policy = load(kPolicy);
  Ledger ledger;
  ledger.totals.set("merchant|weather|USDC|week", {4'995'000, 2});
  const auto d = decide(*policy, weather(10'000), ledger);
  REQUIRE(d.reason == ReasonCode::over_merchant_cap);
  REQUIRE(d.exceeded.has_value());
  // Wednesday 10:00 -> Monday 2025-03-17T00:00:00Z.
  CHECK(d.exceeded->resets_at == 1742169600);
  CHECK(d.exceeded->limit->atomic == 5'000'000);
}

TEST_CASE("a per-request refusal names the cap and the offer, without a window") {
  const auto policy = load(kPolicy);
  const auto d = decide(*policy, weather(900'000));
  REQUIRE(d.reason == ReasonCode::over_request_cap);
  REQUIRE(d.exceeded.has_value());
  CHECK(d.exceeded->limit->atomic == 800'000);  // alice's 0.80 USDC, below the org's 1 USDC
  CHECK(d.exceeded->offered.atomic == 900'000);
  CHECK_FALSE(d.exceeded->window.has_value());
  CHECK_FALSE(d.exceeded->spent.has_value());
}

TEST_CASE("the agent's own maximum is named in the offer's unit, or not at all") {
  const auto policy = load(kPolicy);
  Ask ask = weather(20'000);
  ask.agent_max = {std::get<flow::policy::UnitAmount>(policy->parse_amount("0.01 USDC"))};
  auto d = decide(*policy, ask);
  REQUIRE(d.reason == ReasonCode::over_agent_max_amount);
  REQUIRE(d.exceeded.has_value());
  REQUIRE(d.exceeded->limit.has_value());
  CHECK(d.exceeded->limit->atomic == 10'000);
  CHECK(d.exceeded->offered.atomic == 20'000);

  // A maximum in another unit names no amount for this offer.
  ask.agent_max = {std::get<flow::policy::UnitAmount>(policy->parse_amount("500 msat"))};
  d = decide(*policy, ask);
  REQUIRE(d.reason == ReasonCode::over_agent_max_amount);
  REQUIRE(d.exceeded.has_value());
  CHECK_FALSE(d.exceeded->limit.has_value());
  CHECK(d.exceeded->offered.atomic == 20'000);
}

TEST_CASE("refusals that are not about an amount carry no facts, and allowed payments none") {
  const auto policy = load(kPolicy);
  CHECK_FALSE(decide(*policy, weather(10'000)).exceeded.has_value());
  Ask unknown = weather(10'000);
  unknown.host = "elsewhere.example";
  const auto d = decide(*policy, unknown);
  CHECK(d.reason == ReasonCode::merchant_not_allowed);
  CHECK_FALSE(d.exceeded.has_value());
}

TEST_CASE("an agent with action deny is refused before its caps or the merchant are looked at") {
  const auto policy = load(kPolicy);
  Ask ask = weather(10'000);
  ask.agent = "blocked";
  const auto d = decide(*policy, ask);
  CHECK(d.verdict == Verdict::deny);
  CHECK(d.reason == ReasonCode::agent_denied);
  CHECK(d.rule == "agents[blocked].action");
  // The same request from an allowed agent pays.
  CHECK(decide(*policy, weather(10'000)).verdict == Verdict::allow);
}

TEST_CASE("an agent's action is allow or deny, nothing else") {
  CHECK(error_of("agents:\n  - id: a\n    action: review\n")
            .find("agents[a].action must be allow or deny, got 'review'") != std::string::npos);
  CHECK(error_of("agents:\n  - id: a\n    action: allow\n") == "no error");
}

TEST_CASE("window_resets_at: calendar windows end, rolling ones look a length ahead") {
  using flow::policy::BudgetWindow;
  using flow::policy::window_resets_at;
  CHECK(window_resets_at(BudgetWindow{WindowKind::calendar_day, 0}, kNow) == 1741824000);
  CHECK(window_resets_at(BudgetWindow{WindowKind::calendar_month, 0}, kNow) == 1743465600);
  CHECK(window_resets_at(BudgetWindow{WindowKind::rolling, 900}, kNow) == kNow + 900);
}
