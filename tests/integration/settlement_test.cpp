// What the real proxy records when the merchant's answer to a paid request is not a verdict:
// the real `402flow merchant`'s hostile routes, the real SQLite ledger, and a daily budget that
// has room for one 0.01 USDC payment only. A payment whose outcome is unknown keeps its budget,
// so a merchant cannot collect more signed authorizations than the budget allows.
#include <doctest/doctest.h>

#include <string>

#include <nlohmann/json.hpp>

#include "proxy_expectations.hpp"
#include "support/merchant_process.hpp"
#include "support/paid_proxy.hpp"

using namespace flow::testing;
using nlohmann::json;

namespace {

// The default policy plus a daily organization budget of 0.015 USDC: room for one 0.01 payment.
PaidProxyOptions one_payment_a_day() {
  PaidProxyOptions o;
  std::string p = default_policy();
  const std::string caps = "    per_request: [1 USDC]\n";
  p.replace(p.find(caps), caps.size(),
            caps + "    budgets:\n      - amount: 0.015 USDC\n        per: day\n");
  o.policy = p;
  return o;
}

struct Budgeted {
  MerchantProcess merchant;
  PaidProxy proxy{one_payment_a_day()};
  HttpResponse get(std::string_view path) {
    return get_via_proxy(proxy.port(), merchant.authority(), path);
  }
};

json receipt_for(const json& receipts, std::string_view route) {
  for (const auto& r : receipts) {
    if (r.value("url", "").find(route) != std::string::npos) return r;
  }
  FAIL("no receipt for " << route);
  return {};
}

// The agent's totals in `402flow spend --json`.
json agent_row(const json& spend) {
  REQUIRE(spend["by_agent"].size() == 1);
  return spend["by_agent"][0];
}

// The budget is held: a second purchase that would exceed it is refused, and nothing is sent.
void check_budget_held(Budgeted& b) {
  const HttpResponse again = b.get("/v2/weather");
  INFO(again.head << again.body);
  CHECK(again.status == 403);
  CHECK(header_or_absent(again, "x-402flow-error") == "over_org_cap");
  const json spend = b.proxy.spend();
  REQUIRE(spend["caps"].size() >= 1);
  CHECK(spend["caps"][0]["held_amount"] == "10000");
}

void check_unknown(Budgeted& b, const HttpResponse& r, std::string_view route) {
  INFO(r.head << r.body);
  CHECK(header_or_absent(r, "x-402flow-payment-state") == "unknown");
  CHECK(header_or_absent(r, "x-402flow-error") == "payment_outcome_unknown");
  CHECK(header_or_absent(r, "x-402flow-paid") == "<absent>");
  const json receipt = receipt_for(b.proxy.receipts(), route);
  CHECK(receipt["state"] == "unknown");
  CHECK(agent_row(b.proxy.spend())["unknown"] == "10000");
  check_budget_held(b);
}

}  // namespace

TEST_CASE("a 200 with success:false is unknown and keeps its budget: no second authorization") {
  Budgeted b;
  const HttpResponse r = b.get("/v2/unsettled-200");
  CHECK(r.status == 200);
  CHECK(r.body.find("forecast") != std::string::npos);  // the content was delivered
  check_unknown(b, r, "/v2/unsettled-200");
}

TEST_CASE("settlement_pending with a transaction hash is unknown, the hash kept as its reference") {
  Budgeted b;
  const HttpResponse r = b.get("/v2/settlement-pending");
  CHECK(r.status == 402);
  check_unknown(b, r, "/v2/settlement-pending");
  const json receipt = receipt_for(b.proxy.receipts(), "/v2/settlement-pending");
  CHECK(receipt["settlement_ref"].get<std::string>().starts_with("0x"));
  CHECK(receipt["settlement_ref"].get<std::string>().size() == 66);
}

TEST_CASE("a 502 after the merchant settled is unknown and keeps its budget") {
  Budgeted b;
  const HttpResponse r = b.get("/v2/settled-502");
  CHECK(r.status == 502);
  check_unknown(b, r, "/v2/settled-502");
}

TEST_CASE("a rejected signature is failed, and its budget is held until the credential expires") {
  Budgeted b;
  const HttpResponse r = b.get("/v2/bad-signature");
  INFO(r.head << r.body);
  CHECK(r.status == 402);
  CHECK(header_or_absent(r, "x-402flow-payment-state") == "failed");
  CHECK(header_or_absent(r, "x-402flow-error") == "payment_refused");
  CHECK(header_or_absent(r, "x-402flow-detail") == "invalid_exact_evm_payload_signature");
  CHECK(receipt_for(b.proxy.receipts(), "/v2/bad-signature")["state"] == "failed");
  // The merchant still holds a signature valid for maxTimeoutSeconds: it stays reserved.
  CHECK(agent_row(b.proxy.spend())["in_flight"] == "10000");
  check_budget_held(b);
}
