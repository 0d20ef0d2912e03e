// The paid path end to end: the real proxy with a throwaway wallet and a real SQLite ledger pays
// the real `402flow merchant` (or a test origin that speaks x402 itself) on loopback. Each test
// checks what the agent saw, what the ledger recorded and what the merchant's book holds.
#include <doctest/doctest.h>

#include <atomic>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "flow/payment/base64.hpp"
#include "proxy_expectations.hpp"
#include "support/client_connection.hpp"
#include "support/merchant_process.hpp"
#include "support/paid_proxy.hpp"
#include "support/test_origin.hpp"
#include "support/x402_origin_wire.hpp"

using namespace flow::testing;
using nlohmann::json;

namespace {

constexpr std::string_view kPolygonUsdc = "0x3c499c542cEF5E3811e1192ce70d8cC03d5c3359";

// The default policy with `from` replaced by `to` (one occurrence).
std::string policy_replacing(std::string_view from, std::string_view to) {
  std::string p = default_policy();
  const auto at = p.find(from);
  REQUIRE(at != std::string::npos);
  p.replace(at, from.size(), to);
  return p;
}

// The merchant's log lines for `path` that carried a credential (they name a payer or a
// reason for refusing one), once it logged at least `requests` requests for the path.
std::size_t credentials_seen(const MerchantProcess& merchant, std::string_view path,
                             std::size_t requests) {
  std::size_t n = 0;
  for (const auto& line : wait_merchant_requests(merchant, path, requests)) {
    if (line.contains("payer") || line.contains("reason")) ++n;
  }
  return n;
}

std::size_t book_entries(const json& book, std::string_view route) {
  std::size_t n = 0;
  for (const auto& p : book) n += p.value("route", "") == route ? 1 : 0;
  return n;
}

json only_receipt(const std::vector<json>& receipts) {
  REQUIRE(receipts.size() == 1);
  return receipts.front();
}

// An origin that asks 0.01 USDC for every request without PAYMENT-SIGNATURE and settles every
// request that carries one.
void x402_origin(OriginExchange& ex, TestOrigin* self) {
  ex.body();
  if (ex.request().header("payment-signature")) {
    ex.respond(200, R"({"paid":true})", {{"PAYMENT-RESPONSE", settlement_success()}});
    return;
  }
  ex.respond(402, "{}",
             {{"PAYMENT-REQUIRED", v2_challenge(self->url(ex.request().target), "10000")}});
}

struct Paid {
  MerchantProcess merchant;
  PaidProxy proxy;
  explicit Paid(PaidProxyOptions options = {}) : proxy(std::move(options)) {}
  HttpResponse get(std::string_view path, std::string_view headers = {}) {
    return get_via_proxy(proxy.port(), merchant.authority(), path, headers);
  }
};

void check_settled(Paid& p, const HttpResponse& r, std::string_view route, std::string_view network,
                   std::string_view amount) {
  INFO("route " << route << "\n" << r.head << r.body);
  CHECK(r.status == 200);
  CHECK(r.body.find("forecast") != std::string::npos);
  const std::string receipt_id = header_or_absent(r, "x-402flow-receipt");
  CHECK(receipt_id.rfind("rcpt_", 0) == 0);
  CHECK(header_or_absent(r, "x-402flow-payment-state") == "settled");
  CHECK(header_or_absent(r, "x-402flow-error") == "<absent>");
  const std::string paid = header_or_absent(r, "x-402flow-paid");
  CHECK(paid.rfind(std::string(amount) + "; ", 0) == 0);
  CHECK(paid.find("network=" + std::string(network)) != std::string::npos);

  const json receipt = only_receipt(receipts_for(p.proxy.receipts(), route));
  CHECK(receipt["receipt_id"] == receipt_id);
  CHECK(receipt["state"] == "settled");
  CHECK(receipt["agent"] == "test-agent");
  CHECK(receipt["network"] == network);
  CHECK(receipt["amount_atomic"] == amount);
  CHECK(receipt["payer"] == lower_case(p.proxy.wallet_address()));

  const json book = merchant_book(p.merchant);
  REQUIRE(book_entries(book, route) == 1);
  for (const auto& entry : book) {
    if (entry["route"] != route) continue;
    CHECK(entry["payer"] == p.proxy.wallet_address());
    // v1 names networks the legacy way.
    CHECK(entry["network"] == (route.starts_with("/v1") ? "base" : network));
    CHECK(entry["amount"] == amount);
    CHECK(entry["transaction"] == receipt["settlement_ref"]);
  }
}

// A paid request the merchant refused after the credential: the merchant's 402 with
// payment_refused, a failed attempt, nothing in the book, one credential sent.
void check_refused(Paid& p, const HttpResponse& r, std::string_view route,
                   std::string_view merchant_reason) {
  INFO(r.head << r.body);
  CHECK(r.status == 402);
  CHECK(header_or_absent(r, "x-402flow-error") == "payment_refused");
  CHECK(header_or_absent(r, "x-402flow-detail") == merchant_reason);
  CHECK(header_or_absent(r, "x-402flow-payment-state") == "failed");
  CHECK(header_or_absent(r, "x-402flow-paid") == "<absent>");  // nothing was paid
  CHECK(r.header("payment-required").has_value());             // the merchant's own 402, relayed

  const json receipt = only_receipt(receipts_for(p.proxy.receipts(), route));
  CHECK(receipt["state"] == "failed");
  CHECK(receipt["receipt_id"] == header_or_absent(r, "x-402flow-receipt"));
  CHECK(receipt["failure_reason"] == merchant_reason);
  CHECK(receipt["failure_code"] == "payment_refused");
  CHECK(receipt["encoding"] == 2);

  CHECK(book_entries(merchant_book(p.merchant), route) == 0);
  CHECK(credentials_seen(p.merchant, route, 2) == 1);
  CHECK(merchant_requests(p.merchant, route).size() == 2);
  // The refused credential left the proxy: it stays reserved until it expires.
  const json spend = p.proxy.spend();
  REQUIRE(spend["by_agent"].size() == 1);
  CHECK(spend["by_agent"][0]["in_flight"] == "10000");
}

}  // namespace

TEST_CASE("x402 v2 EIP-3009, v2 Permit2 and v1 routes are paid once, receipted and settled") {
  Paid p;
  for (const char* route : {"/v2/weather", "/v2/permit2", "/v1/weather"}) {
    check_settled(p, p.get(route), route, "eip155:8453", "10000");
  }
  CHECK(merchant_book(p.merchant).size() == 3);
  const CommandResult verify = p.proxy.verify();
  CHECK_MESSAGE(verify.status.code == 0, verify.out);
}

TEST_CASE("of several offers the one the policy prefers is paid") {
  SUBCASE("the cheaper offer in the same unit: Polygon, with Base Sepolia not an allowed network") {
    Paid p;
    check_settled(p, p.get("/v2/multi"), "/v2/multi", "eip155:137", "9000");
    CHECK(merchant_book(p.merchant)[0]["asset"] == kPolygonUsdc);
  }
  SUBCASE("Base, when Base is the only network the organization pays on") {
    PaidProxyOptions o;
    o.policy = policy_replacing("networks: [eip155:8453, eip155:137]", "networks: [eip155:8453]");
    Paid p(o);
    check_settled(p, p.get("/v2/multi"), "/v2/multi", "eip155:8453", "10000");
  }
  SUBCASE("Base, when the wallet only holds a key for Base") {
    PaidProxyOptions o;
    o.wallet_networks = {"eip155:8453"};
    Paid p(o);
    check_settled(p, p.get("/v2/multi"), "/v2/multi", "eip155:8453", "10000");
  }
}

TEST_CASE("a price raised on the retry is not paid again") {
  Paid p;
  check_refused(p, p.get("/v2/price-change"), "/v2/price-change",
                "invalid_exact_evm_authorization_value");
}

TEST_CASE("a payee changed on the retry is not paid again") {
  Paid p;
  check_refused(p, p.get("/v2/payto-change"), "/v2/payto-change",
                "invalid_exact_evm_recipient_mismatch");
}

TEST_CASE("a merchant that answers every payment with another 402 is never signed for twice") {
  // "settlement_refused" is no x402 reason that proves nothing moved: the outcome is unknown.
  Paid p;
  const HttpResponse r = p.get("/v2/always-402");
  INFO(r.head << r.body);
  CHECK(r.status == 402);
  CHECK(header_or_absent(r, "x-402flow-payment-state") == "unknown");
  CHECK(header_or_absent(r, "x-402flow-error") == "payment_outcome_unknown");
  CHECK(header_or_absent(r, "x-402flow-detail").find("settlement_refused") != std::string::npos);
  CHECK(only_receipt(receipts_for(p.proxy.receipts(), "/v2/always-402"))["state"] == "unknown");
  CHECK(credentials_seen(p.merchant, "/v2/always-402", 2) == 1);
  CHECK(p.proxy.spend()["by_agent"][0]["unknown"] == "10000");
}

TEST_CASE("a denied payment is answered 403 problem+json naming the reason, rule and offer") {
  SUBCASE("over the per-request cap") {
    Paid p;
    const HttpResponse r = p.get("/v2/expensive");
    CHECK(r.status == 403);
    const json body = problem_of(r);
    CHECK(body["code"] == "over_request_cap");
    CHECK(body["rule"] == "organization.caps.per_request");
    REQUIRE(body.contains("offer"));
    CHECK(body["offer"]["amount"] == "5000000");
    CHECK(body["offer"]["network"] == "eip155:8453");
    CHECK(body["offer"]["asset"] == lower_case(std::string(kBaseUsdc)));
    CHECK(body["offer"]["pay_to"] == lower_case(std::string(kMerchantPayTo)));
    CHECK(body["offer"]["merchant"] == "merchant-v2");
    CHECK(credentials_seen(p.merchant, "/v2/expensive", 1) == 0);
    CHECK(merchant_book(p.merchant).empty());
    CHECK(p.proxy.receipts().empty());
  }
  SUBCASE("a merchant no rule allows") {
    PaidProxy proxy;
    TestOrigin origin([&](OriginExchange& ex) { x402_origin(ex, &origin); });
    const HttpResponse r = get_via_proxy(proxy.port(), origin.authority(), "/unlisted/data");
    CHECK(r.status == 403);
    const json body = problem_of(r);
    CHECK(body["code"] == "merchant_not_allowed");
    CHECK(body["rule"] == "organization.posture");
    REQUIRE(body.contains("offer"));
    CHECK(body["offer"]["amount"] == "10000");
    CHECK(body["offer"]["network"] == "eip155:8453");
    CHECK(origin.request_count() == 1);
    for (const auto& req : origin.requests()) CHECK_FALSE(req.header("payment-signature"));
    CHECK(proxy.receipts().empty());
  }
  SUBCASE("a network the organization does not pay on") {
    PaidProxyOptions o;
    o.policy = policy_replacing("networks: [eip155:8453, eip155:137]", "networks: [eip155:137]");
    Paid p(o);
    const HttpResponse r = p.get("/v2/weather");
    CHECK(r.status == 403);
    const json body = problem_of(r);
    CHECK(body["code"] == "network_not_allowed");
    CHECK(body["rule"] == "organization.networks");
    REQUIRE(body.contains("offer"));
    CHECK(body["offer"]["network"] == "eip155:8453");
    CHECK(credentials_seen(p.merchant, "/v2/weather", 1) == 0);
    CHECK(merchant_book(p.merchant).empty());
  }
}

TEST_CASE("a payment held for review is answered 403 with the approval it opened") {
  SUBCASE("an amount over review.amount_over") {
    PaidProxyOptions o;
    o.policy = policy_replacing("per_request: [1 USDC]\n",
                                "per_request: [10 USDC]\nreview:\n  amount_over: 1 USDC\n");
    Paid p(o);
    const HttpResponse r = p.get("/v2/expensive");
    CHECK(r.status == 403);
    const json body = problem_of(r);
    CHECK(body["code"] == "review_required");
    CHECK(body["rule"] == "review.amount_over");
    CHECK(body["offer"]["amount"] == "5000000");
    const std::string approval = body.value("approval_id", "");
    CHECK_FALSE(approval.empty());
    CHECK(header_or_absent(r, "x-402flow-approval") == approval);
    CHECK(credentials_seen(p.merchant, "/v2/expensive", 1) == 0);
    CHECK(merchant_book(p.merchant).empty());
  }
  SUBCASE("a merchant rule whose action is review") {
    PaidProxyOptions o;
    o.policy = default_policy() +
               "  - name: permit2-desk\n    host: 127.0.0.1\n    path: /v2/permit2\n    action: "
               "review\n";
    Paid p(o);
    const HttpResponse r = p.get("/v2/permit2");
    CHECK(r.status == 403);
    const json body = problem_of(r);
    CHECK(body["code"] == "review_required");
    CHECK(body["rule"] == "merchants[permit2-desk].action");
    CHECK_FALSE(body.value("approval_id", "").empty());
    CHECK(header_or_absent(r, "x-402flow-approval") == body.value("approval_id", ""));
    CHECK(merchant_book(p.merchant).empty());
    // The same merchant's other routes are still paid.
    check_settled(p, p.get("/v2/weather"), "/v2/weather", "eip155:8453", "10000");
  }
}

TEST_CASE("X-402flow-Max-Amount caps what the agent lets the proxy pay for this request") {
  Paid p;
  SUBCASE("below the price: 403 over_agent_max_amount, not paid") {
    const HttpResponse r = p.get("/v2/weather", "X-402flow-Max-Amount: 0.005 USDC\r\n");
    CHECK(r.status == 403);
    const json body = problem_of(r);
    CHECK(body["code"] == "over_agent_max_amount");
    CHECK(body["rule"] == "request.max_amount");
    CHECK(merchant_book(p.merchant).empty());
  }
  SUBCASE("malformed: 400 bad_max_amount, not paid") {
    const HttpResponse r = p.get("/v2/weather", "X-402flow-Max-Amount: a lot\r\n");
    CHECK(r.status == 400);
    CHECK(problem_of(r)["code"] == "bad_max_amount");
    CHECK(merchant_book(p.merchant).empty());
  }
  SUBCASE("at the price: paid") {
    check_settled(p, p.get("/v2/weather", "X-402flow-Max-Amount: 0.01 USDC\r\n"), "/v2/weather",
                  "eip155:8453", "10000");
  }
}

TEST_CASE("prepare mode answers the offers and a prepared id without paying; the id pays once") {
  Paid p;
  const HttpResponse prepared = p.get("/v2/weather", "X-402flow-Mode: prepare\r\n");
  INFO(prepared.head << prepared.body);
  CHECK(prepared.status == 402);
  CHECK(header_or_absent(prepared, "content-type") == "application/json");
  const json body = json::parse(prepared.body);
  REQUIRE(body["offers"].size() == 1);
  CHECK(body["offers"][0]["amount"] == "10000");
  CHECK(body["decision"]["verdict"] == "allow");
  CHECK(body["decision"]["offer"]["network"] == "eip155:8453");
  const std::string id = body.value("prepared_id", "");
  REQUIRE_FALSE(id.empty());
  CHECK(header_or_absent(prepared, "x-402flow-prepared") == id);
  CHECK(credentials_seen(p.merchant, "/v2/weather", 1) == 0);
  CHECK(merchant_book(p.merchant).empty());
  CHECK(p.proxy.receipts().empty());

  check_settled(p, p.get("/v2/weather", "X-402flow-Prepared: " + id + "\r\n"), "/v2/weather",
                "eip155:8453", "10000");

  SUBCASE("a prepared id is used once") {
    const HttpResponse again = p.get("/v2/weather", "X-402flow-Prepared: " + id + "\r\n");
    CHECK(again.status == 409);
    CHECK(problem_of(again)["code"] == "prepared_offer_unknown");
  }
  SUBCASE("an id that was never prepared") {
    const HttpResponse unknown = p.get("/v2/weather", "X-402flow-Prepared: prep_nonsense\r\n");
    CHECK(unknown.status == 409);
    CHECK(problem_of(unknown)["code"] == "prepared_offer_unknown");
  }
  SUBCASE("an id prepared for another URL") {
    const HttpResponse other = p.get("/v2/weather", "X-402flow-Mode: prepare\r\n");
    const std::string other_id = json::parse(other.body).value("prepared_id", "");
    const HttpResponse r = p.get("/v2/permit2", "X-402flow-Prepared: " + other_id + "\r\n");
    CHECK(r.status == 409);
    CHECK(problem_of(r)["code"] == "prepared_offer_unknown");
  }
  CHECK(merchant_book(p.merchant).size() == 1);
}

TEST_CASE("a prepared offer whose price rose before it was executed is not paid") {
  PaidProxy proxy;
  std::atomic<int> challenges{0};
  TestOrigin origin([&](OriginExchange& ex) {
    ex.body();
    if (ex.request().header("payment-signature")) {
      ex.respond(200, "{}", {{"PAYMENT-RESPONSE", settlement_success()}});
      return;
    }
    const bool first = challenges.fetch_add(1) == 0;
    ex.respond(402, "{}",
               {{"PAYMENT-REQUIRED",
                 v2_challenge(origin.url(ex.request().target), first ? "10000" : "20000")}});
  });
  const HttpResponse prepared = get_via_proxy(proxy.port(), origin.authority(), "/paid/rising",
                                              "X-402flow-Mode: prepare\r\n");
  REQUIRE(prepared.status == 402);
  const std::string id = json::parse(prepared.body).value("prepared_id", "");
  REQUIRE_FALSE(id.empty());

  const HttpResponse r = get_via_proxy(proxy.port(), origin.authority(), "/paid/rising",
                                       "X-402flow-Prepared: " + id + "\r\n");
  CHECK(r.status == 409);
  const json body = problem_of(r);
  CHECK(body["code"] == "prepared_offer_changed");
  CHECK(body["prepared"]["amount"] == "10000");
  CHECK(origin.request_count() == 2);
  for (const auto& req : origin.requests()) CHECK_FALSE(req.header("payment-signature"));
  CHECK(proxy.receipts().empty());
}

TEST_CASE(
    "a merchant that drops the connection after the credential leaves the payment unknown; "
    "the agent's retry with the same Idempotency-Key resends the same credential") {
  PaidProxyOptions o;
  o.policy = policy_with_budget();
  Paid p(o);
  const HttpResponse r = p.get("/v2/drop", "Idempotency-Key: drop-1\r\n");
  INFO(r.head << r.body);
  CHECK(r.status == 502);
  CHECK(header_or_absent(r, "x-402flow-payment-state") == "unknown");
  const std::string receipt_id = header_or_absent(r, "x-402flow-receipt");
  CHECK(receipt_id.rfind("rcpt_", 0) == 0);
  CHECK(problem_of(r)["code"] == "payment_outcome_unknown");

  const json receipt = only_receipt(receipts_for(p.proxy.receipts(), "/v2/drop"));
  CHECK(receipt["state"] == "unknown");
  CHECK(receipt["receipt_id"] == receipt_id);
  const json spend = p.proxy.spend();
  REQUIRE(spend["caps"].size() == 1);
  CHECK(spend["caps"][0]["held_amount"] == "10000");  // the budget stays reserved
  CHECK(spend["by_agent"][0]["unknown"] == "10000");
  json book = merchant_book(p.merchant);
  REQUIRE(book.size() == 1);  // the merchant did settle before dropping
  CHECK(credentials_seen(p.merchant, "/v2/drop", 2) == 1);

  // Prepare mode with the same key only looks: it never resends the credential.
  const HttpResponse look =
      p.get("/v2/drop", "Idempotency-Key: drop-1\r\nX-402flow-Mode: prepare\r\n");
  CHECK(look.status == 402);
  CHECK(credentials_seen(p.merchant, "/v2/drop", 3) == 1);
  // The same key on another URL is a conflict, not a replay of this payment.
  const HttpResponse other = p.get("/v2/weather", "Idempotency-Key: drop-1\r\n");
  CHECK(other.status == 409);
  CHECK(problem_of(other)["code"] == "idempotency_conflict");
  CHECK(book_entries(merchant_book(p.merchant), "/v2/weather") == 0);

  const HttpResponse retry = p.get("/v2/drop", "Idempotency-Key: drop-1\r\n");
  INFO(retry.head << retry.body);
  CHECK(retry.status == 200);
  CHECK(header_or_absent(retry, "x-402flow-payment-state") == "settled");
  CHECK(credentials_seen(p.merchant, "/v2/drop", 5) == 2);
  book = merchant_book(p.merchant);
  REQUIRE(book.size() == 1);  // the identical credential: the merchant's cached answer
  const json receipts = receipts_for(p.proxy.receipts(), "/v2/drop");
  REQUIRE_FALSE(receipts.empty());
  for (const auto& row : receipts) CHECK(row["attempt_id"] == receipt["attempt_id"]);
  CHECK(receipts.back()["state"] == "settled");
  CHECK(receipts.back()["settlement_ref"] == book[0]["transaction"]);
  CHECK(receipts.back()["credential_sha256"] == receipt["credential_sha256"]);
  const CommandResult verify = p.proxy.verify();
  CHECK_MESSAGE(verify.status.code == 0, verify.out);
}

TEST_CASE(
    "payment-identifier: an unanswered paid retry is resent with the identical credential and the "
    "merchant answers with its first result") {
  PaidProxyOptions o;
  o.policy = policy_with_budget();
  Paid p(o);
  // The merchant requires the extension, settles, then drops the connection unanswered.
  const HttpResponse r = p.get("/v2/payment-id");
  INFO(r.head << r.body);
  CHECK(r.status == 200);
  CHECK(header_or_absent(r, "x-402flow-payment-state") == "settled");
  CHECK(header_or_absent(r, "x-402flow-paid").find("display=\"0.01 USDC\"") != std::string::npos);
  // Two credentials seen by the merchant (the first dropped, the resend answered), one payment:
  // three requests logged, the unpaid one first.
  CHECK(credentials_seen(p.merchant, "/v2/payment-id", 3) == 2);
  const json book = merchant_book(p.merchant);
  REQUIRE(book.size() == 1);
  const json receipt = only_receipt(receipts_for(p.proxy.receipts(), "/v2/payment-id"));
  CHECK(receipt["state"] == "settled");
  CHECK(receipt["settlement_ref"] == book[0]["transaction"]);
  CHECK(p.proxy.spend()["caps"][0]["held_amount"] == "10000");  // counted once
  const CommandResult verify = p.proxy.verify();
  CHECK_MESSAGE(verify.status.code == 0, verify.out);
}

TEST_CASE(
    "a resent credential the merchant calls spent stays unknown with its budget held, never "
    "failed") {
  // A real facilitator answers the second use of a settled nonce with nonce_already_used: the
  // first try of this very credential spent it, so the money most likely moved.
  std::atomic<int> paid_tries{0};
  TestOrigin origin([&](OriginExchange& ex) {
    ex.body();
    if (!ex.request().header("payment-signature")) {
      ex.respond(402, "{}",
                 {{"PAYMENT-REQUIRED", v2_challenge(origin.url(ex.request().target), "10000")}});
      return;
    }
    if (paid_tries++ == 0) {
      ex.drop();  // the first paid try: settled (say), but no answer
      return;
    }
    const json refused = {{"success", false},
                          {"errorReason", "invalid_exact_evm_nonce_already_used"},
                          {"transaction", ""},
                          {"network", "eip155:8453"}};
    ex.respond(402, "{}",
               {{"PAYMENT-REQUIRED", v2_challenge(origin.url(ex.request().target), "10000")},
                {"PAYMENT-RESPONSE", flow::payment::base64_encode(refused.dump())}});
  });
  PaidProxy proxy;
  const HttpResponse first =
      get_via_proxy(proxy.port(), origin.authority(), "/paid/spent", "Idempotency-Key: k-1\r\n");
  INFO(first.head << first.body);
  CHECK(first.status == 502);
  CHECK(header_or_absent(first, "x-402flow-payment-state") == "unknown");

  const HttpResponse retry =
      get_via_proxy(proxy.port(), origin.authority(), "/paid/spent", "Idempotency-Key: k-1\r\n");
  INFO(retry.head << retry.body);
  CHECK(retry.status == 402);
  CHECK(header_or_absent(retry, "x-402flow-payment-state") == "unknown");
  CHECK(header_or_absent(retry, "x-402flow-error") == "payment_outcome_unknown");
  CHECK(paid_tries.load() == 2);
  const json receipts = receipts_for(proxy.receipts(), "/paid/spent");
  REQUIRE_FALSE(receipts.empty());
  for (const auto& row : receipts) CHECK(row["state"] == "unknown");
  const json spend = proxy.spend();
  CHECK(spend["by_agent"][0]["unknown"] == "10000");  // still held: not released as failed
}

TEST_CASE(
    "a second 402 that says why fails the payment; one that gives no verdict leaves it unknown") {
  TestOrigin origin([&](OriginExchange& ex) {
    ex.body();
    const std::string url = origin.url(ex.request().target);
    if (!ex.request().header("payment-signature")) {
      ex.respond(402, "{}", {{"PAYMENT-REQUIRED", v2_challenge(url, "10000")}});
      return;
    }
    if (ex.request().target == "/paid/says-why") {
      json again = json::parse(flow::payment::base64_decode(v2_challenge(url, "10000")).value());
      again["error"] = "insufficient_funds";
      ex.respond(402, "{}", {{"PAYMENT-REQUIRED", flow::payment::base64_encode(again.dump())}});
      return;
    }
    ex.respond(402, "payment required", {{"Content-Type", "text/plain"}});
  });
  PaidProxy proxy;
  const HttpResponse why = get_via_proxy(proxy.port(), origin.authority(), "/paid/says-why");
  INFO(why.head << why.body);
  CHECK(why.status == 402);
  CHECK(header_or_absent(why, "x-402flow-payment-state") == "failed");
  CHECK(header_or_absent(why, "x-402flow-detail") == "insufficient_funds");

  const HttpResponse silent = get_via_proxy(proxy.port(), origin.authority(), "/paid/silent");
  INFO(silent.head << silent.body);
  CHECK(silent.status == 402);
  CHECK(header_or_absent(silent, "x-402flow-payment-state") == "unknown");
  CHECK(silent.body == "payment required");  // the merchant's own answer, relayed

  CHECK(only_receipt(receipts_for(proxy.receipts(), "/paid/says-why"))["state"] == "failed");
  CHECK(only_receipt(receipts_for(proxy.receipts(), "/paid/silent"))["state"] == "unknown");
}

TEST_CASE("an Idempotency-Key that already paid is answered 409 already_paid with its receipt") {
  Paid p;
  const HttpResponse first = p.get("/v2/weather", "Idempotency-Key: order-7\r\n");
  check_settled(p, first, "/v2/weather", "eip155:8453", "10000");
  const HttpResponse again = p.get("/v2/weather", "Idempotency-Key: order-7\r\n");
  CHECK(again.status == 409);
  const json body = problem_of(again);
  CHECK(body["code"] == "already_paid");
  CHECK(body["receipt_id"] == header_or_absent(first, "x-402flow-receipt"));
  CHECK(header_or_absent(again, "x-402flow-receipt") ==
        header_or_absent(first, "x-402flow-receipt"));
  CHECK(merchant_book(p.merchant).size() == 1);
  CHECK(credentials_seen(p.merchant, "/v2/weather", 3) == 1);
  // Another key is another payment.
  CHECK(p.get("/v2/weather", "Idempotency-Key: order-8\r\n").status == 200);
  CHECK(merchant_book(p.merchant).size() == 2);
}

TEST_CASE("a request body is replayed byte for byte on the paid retry, up to proxy.replay_limit") {
  PaidProxyOptions o;
  o.replay_limit = 4096;
  PaidProxy proxy(o);
  TestOrigin origin([&](OriginExchange& ex) { x402_origin(ex, &origin); });
  std::string body(4000, '\0');
  for (std::size_t i = 0; i < body.size(); ++i) body[i] = static_cast<char>((i * 31 + 7) % 251);

  SUBCASE("within the limit: paid, the same bytes twice") {
    const HttpResponse r = send_via_proxy(
        proxy.port(), proxied_request("POST", origin.authority(), "/paid/upload",
                                      "Content-Type: application/octet-stream\r\n", body));
    INFO(r.head << r.body);
    CHECK(r.status == 200);
    CHECK(header_or_absent(r, "x-402flow-payment-state") == "settled");
    REQUIRE(origin.wait_for_requests(2, default_deadline()));
    const auto requests = origin.requests();
    REQUIRE(requests.size() == 2);
    CHECK_FALSE(requests[0].header("payment-signature"));
    CHECK(requests[1].header("payment-signature"));
    CHECK(requests[0].body == body);
    CHECK(requests[1].body == body);
    CHECK(requests[1].method == "POST");
    CHECK(header_or_absent(requests[1], "content-type") == "application/octet-stream");
  }
  SUBCASE("a chunked body within the limit: the same bytes twice") {
    const std::string raw = "POST " + origin.url("/paid/chunked") +
                            " HTTP/1.1\r\nHost: " + origin.authority() +
                            "\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n" +
                            chunked_body({body.substr(0, 1000), body.substr(1000)});
    const HttpResponse r = send_via_proxy(proxy.port(), raw);
    CHECK(r.status == 200);
    const auto requests = origin.requests();
    REQUIRE(requests.size() == 2);
    CHECK(requests[0].body == body);
    CHECK(requests[1].body == body);
  }
  SUBCASE("over the limit: the merchant's 402 with request_not_replayable, not paid") {
    body.append(200, 'x');
    const HttpResponse r = send_via_proxy(
        proxy.port(), proxied_request("POST", origin.authority(), "/paid/upload", {}, body));
    INFO(r.head << r.body);
    CHECK(r.status == 402);
    CHECK(header_or_absent(r, "x-402flow-error") == "request_not_replayable");
    CHECK(r.header("payment-required").has_value());
    CHECK(r.body == "{}");
    CHECK(origin.request_count() == 1);
    CHECK(proxy.receipts().empty());
  }
}

TEST_CASE("a 402 the proxy cannot pay is relayed with X-402flow-Error naming why") {
  PaidProxy proxy;
  struct Case {
    const char* path;
    Headers headers;
    std::string body;
    const char* error;
  };
  const std::string no_accepts = flow::payment::base64_encode(
      R"({"x402Version":2,"resource":{"url":"http://x/"},"error":"pay"})");
  std::string fractional;
  {
    auto c = json::parse(flow::payment::base64_decode(v2_challenge("http://x/", "1.5")).value());
    fractional = flow::payment::base64_encode(c.dump());
  }
  const std::vector<Case> cases = {
      {"/paid/bad-base64", {{"PAYMENT-REQUIRED", "not base64 at all!"}}, "{}", "bad_base64"},
      {"/paid/no-accepts", {{"PAYMENT-REQUIRED", no_accepts}}, "{}", "missing_field"},
      {"/paid/fractional", {{"PAYMENT-REQUIRED", fractional}}, "{}", "no_payable_offer"},
      {"/paid/not-x402", {{"Content-Type", "text/plain"}}, "subscribe at example.com", "not_x402"},
  };
  TestOrigin origin([&](OriginExchange& ex) {
    for (const auto& c : cases) {
      if (ex.request().target == c.path) {
        ex.respond(402, c.body, c.headers);
        return;
      }
    }
    ex.respond(404, "");
  });
  for (const auto& c : cases) {
    const HttpResponse r = get_via_proxy(proxy.port(), origin.authority(), c.path);
    INFO(c.path << "\n" << r.head << r.body);
    CHECK(r.status == 402);
    CHECK(header_or_absent(r, "x-402flow-error") == c.error);
    CHECK_FALSE(header_or_absent(r, "x-402flow-detail").empty());
    CHECK(r.body == c.body);  // the merchant's own body, untouched
    for (const auto& h : c.headers) CHECK(header_or_absent(r, h.name) == h.value);
  }
  const std::string detail = header_or_absent(
      get_via_proxy(proxy.port(), origin.authority(), "/paid/fractional"), "x-402flow-detail");
  CHECK(detail.find("bad_amount") != std::string::npos);
  for (const auto& req : origin.requests()) CHECK_FALSE(req.header("payment-signature"));
  CHECK(proxy.receipts().empty());
}

TEST_CASE("agent control headers never reach the origin, on the first request or the paid retry") {
  PaidProxy proxy;
  TestOrigin origin([&](OriginExchange& ex) { x402_origin(ex, &origin); });
  const HttpResponse r = get_via_proxy(proxy.port(), origin.authority(), "/paid/private",
                                       "x-402FLOW-max-AMOUNT: 0.5 USDC\r\n"
                                       "Idempotency-Key: ctl-1\r\nX-Other: kept\r\n");
  CHECK(r.status == 200);
  REQUIRE(origin.request_count() == 2);
  for (const auto& req : origin.requests()) {
    INFO(req.head);
    for (const auto& h : req.headers) {
      CHECK(lower_case(h.name).rfind("x-402flow-", 0) != 0);
    }
    CHECK(header_or_absent(req, "x-other") == "kept");
  }
}

TEST_CASE(
    "a second request with the Idempotency-Key of a payment still in flight is not sent "
    "the credential again") {
  PaidProxy proxy;
  Gate release;
  std::atomic<int> credentials{0};
  TestOrigin origin([&](OriginExchange& ex) {
    ex.body();
    if (!ex.request().header("payment-signature")) {
      ex.respond(402, "{}",
                 {{"PAYMENT-REQUIRED", v2_challenge(origin.url(ex.request().target), "10000")}});
      return;
    }
    if (credentials.fetch_add(1) == 0) ex.wait(release, default_deadline());
    ex.respond(200, R"({"paid":true})", {{"PAYMENT-RESPONSE", settlement_success()}});
  });
  const std::string request =
      proxied_request("GET", origin.authority(), "/paid/slow", "Idempotency-Key: in-flight-1\r\n");
  ClientConnection first(proxy.port());
  first.send(request);
  REQUIRE(origin.wait_for_requests(2, default_deadline()));  // the challenge, then the payment

  const HttpResponse second = send_via_proxy(proxy.port(), request);
  INFO(second.head << second.body);
  CHECK(second.status == 409);
  CHECK(problem_of(second)["code"] == "payment_in_progress");
  release.open();
  const HttpResponse answer = first.read_response();
  CHECK(answer.status == 200);
  CHECK(header_or_absent(answer, "x-402flow-payment-state") == "settled");
  CHECK(credentials.load() == 1);
  const json receipts = proxy.receipts();
  REQUIRE(receipts.size() == 1);
  CHECK(receipts[0]["state"] == "settled");
}

TEST_CASE(
    "a 402 that arrives before the request body is complete is paid once the whole body "
    "is in, and the retry carries all of it") {
  PaidProxy proxy;
  TestOrigin origin([&](OriginExchange& ex) {
    if (ex.request().header("payment-signature")) {
      ex.body();
      ex.respond(200, R"({"paid":true})", {{"PAYMENT-RESPONSE", settlement_success()}});
      return;
    }
    // Answer on the head alone, without waiting for the body.
    ex.respond(402, "{}",
               {{"PAYMENT-REQUIRED", v2_challenge(origin.url(ex.request().target), "10000")}});
    ex.close_after();
  });
  const std::string first_half(3000, 'a');
  const std::string second_half(2000, 'b');
  ClientConnection client(proxy.port());
  client.send("POST " + origin.url("/paid/early") + " HTTP/1.1\r\nHost: " + origin.authority() +
              "\r\nConnection: close\r\nContent-Length: 5000\r\n\r\n" + first_half);
  REQUIRE(origin.wait_for_requests(1, default_deadline()));
  client.send(second_half);
  const HttpResponse r = client.read_response();
  INFO(r.head << r.body);
  CHECK(r.status == 200);
  CHECK(header_or_absent(r, "x-402flow-payment-state") == "settled");
  const auto requests = origin.requests();
  REQUIRE(requests.size() == 2);
  CHECK(requests[1].header("payment-signature"));
  CHECK(requests[1].body == first_half + second_half);
}
