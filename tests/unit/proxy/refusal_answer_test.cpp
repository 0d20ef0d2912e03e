// The refusal answers of the paid path (payment_answer.hpp), one per kind, as the agent reads
// them: the fields and the Retry-After of a budget refusal, whether it came from policy or from
// the ledger's reservation (a cap that filled up between policy and reservation).
#include <doctest/doctest.h>

#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "flow/proxy/paid/payment_answer.hpp"

using flow::payment::Reason;
using nlohmann::json;

namespace {

// 2025-03-12T10:00:00Z, a Wednesday.
constexpr std::int64_t kNow = 1741773600;

std::optional<std::string> header(const flow::proxy::ProxyAnswer& a, std::string_view name) {
  for (const auto& h : a.headers) {
    if (h.name == name) return h.value;
  }
  return std::nullopt;
}

flow::proxy::RefusalContext context() {
  return {{{"decision_id", "dec_1"}, {"rule", "merchants[weather]"}, {"reason", "allowed"}},
          "bot",
          "api.weather.example",
          "",
          kNow};
}

flow::policy::Decision allowed_usdc(flow::payment::Atomic amount) {
  flow::policy::Decision d;
  d.verdict = flow::policy::Verdict::allow;
  d.reason = Reason::allowed;
  d.rule = "merchants[weather]";
  d.offer = flow::payment::Offer{};
  d.offer->amount = amount;
  d.symbol = "USDC";
  d.decimals = 6;
  return d;
}

}  // namespace

TEST_CASE(
    "a ledger refusal is answered like a policy one: cap, spent, window, reset, Retry-After") {
  flow::storage::CapRefusal refusal;
  refusal.reason = Reason::over_agent_cap;
  refusal.rule = "agents[bot].caps.budgets[0]";
  refusal.limit = flow::storage::CapLimit::amount;
  refusal.held_amount = 4'995'000;
  refusal.held_count = 12;
  refusal.max_amount = 5'000'000;
  refusal.window = {flow::policy::WindowKind::calendar_day, 0};
  refusal.resets_at = kNow + 14 * 3600;
  const auto a = flow::proxy::reservation_refusal(refusal, allowed_usdc(10'000), context());
  CHECK(a.status == 403);
  CHECK(a.code == Reason::over_agent_cap);
  CHECK(header(a, "Retry-After") == std::to_string(14 * 3600));
  const json body = json::parse(a.body);
  CHECK(body["code"] == "over_agent_cap");
  // The ledger's rule and reason, not the allowing decision's.
  CHECK(body["rule"] == "agents[bot].caps.budgets[0]");
  CHECK(body["reason"] == "over_agent_cap");
  CHECK(body["decision_id"] == "dec_1");
  CHECK(body["cap"] == json{{"amount", "5000000"}, {"display", "5 USDC"}});
  CHECK(body["spent"] == json{{"amount", "4995000"}, {"display", "4.995 USDC"}, {"payments", 12}});
  CHECK(body["offer_amount"]["display"] == "0.01 USDC");
  CHECK(body["window"] == "day");
  CHECK(body["resets_at"] == "2025-03-13T00:00:00Z");
  CHECK(body["retry_after"] == 14 * 3600);
  CHECK(body["detail"] ==
        "this payment of 0.01 USDC would exceed agents[bot].caps.budgets[0]: at most 5 USDC per "
        "calendar day (UTC), 4.995 USDC already spent; it resets at 2025-03-13T00:00:00Z (in "
        "14h); not paid");
}

TEST_CASE("a ledger refusal of a count cap shows counts, not amounts") {
  flow::storage::CapRefusal refusal;
  refusal.reason = Reason::over_merchant_cap;
  refusal.rule = "merchants[weather].caps.budgets[1]";
  refusal.limit = flow::storage::CapLimit::count;
  refusal.held_count = 100;
  refusal.max_count = 100;
  refusal.window = {flow::policy::WindowKind::rolling, 3600};
  refusal.resets_at = kNow + 3600;
  const auto a = flow::proxy::reservation_refusal(refusal, allowed_usdc(10'000), context());
  const json body = json::parse(a.body);
  CHECK(body["cap"] == json{{"payments", 100}});
  CHECK(body["spent"] == json{{"payments", 100}});
  CHECK(body["window"] == "rolling:3600s");
  CHECK(header(a, "Retry-After") == "3600");
  CHECK(body.value("detail", "").find("room comes back as earlier payments age out") !=
        std::string::npos);
}

TEST_CASE("a window that has just reset is answered with Retry-After of at least a second") {
  flow::policy::RefusalFacts f;
  f.limit = flow::policy::UnitAmount{"USDC", "", 6, 1'000'000};
  f.offered = {"USDC", "", 6, 10'000};
  f.spent = flow::policy::SpendTotal{1'000'000, 3};
  f.window = flow::policy::BudgetWindow{flow::policy::WindowKind::calendar_day, 0};
  f.resets_at = kNow;
  const auto a = flow::proxy::budget_refusal(Reason::over_org_cap, "organization.caps.budgets[0]",
                                             f, context());
  CHECK(header(a, "Retry-After") == "1");
}

TEST_CASE("a policy refusal without facts keeps the plain answer, naming reason, rule and host") {
  flow::policy::Decision d;
  d.verdict = flow::policy::Verdict::deny;
  d.reason = Reason::payto_not_allowed;
  d.rule = "merchants[weather].pay_to";
  const auto a = flow::proxy::policy_refusal(d, context());
  CHECK(a.status == 403);
  const json body = json::parse(a.body);
  CHECK(body["code"] == "payto_not_allowed");
  CHECK(body["host"] == "api.weather.example");
  CHECK(body.value("detail", "").find("(rule merchants[weather].pay_to)") != std::string::npos);
  CHECK_FALSE(header(a, "Retry-After").has_value());
}
