// Hostile offer terms through the real proxy, the real `402flow merchant` and a real SQLite
// ledger: a validity window of thousands of years is signed as payment.max_validity at most, and
// offers for nothing, to the zero address or to the token contract are never signed.
#include <doctest/doctest.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "flow/payment/unix_clock.hpp"
#include "proxy_expectations.hpp"
#include "support/merchant_process.hpp"
#include "support/paid_proxy.hpp"

using namespace flow::testing;
using nlohmann::json;

namespace {

struct Paid {
  MerchantProcess merchant;
  PaidProxy proxy;
  explicit Paid(PaidProxyOptions options = {}) : proxy(std::move(options)) {}
  HttpResponse get(std::string_view path) {
    return get_via_proxy(proxy.port(), merchant.authority(), path);
  }
};

PaidProxyOptions with_max_validity(std::string_view value) {
  PaidProxyOptions o;
  o.policy = default_policy() + "payment:\n  max_validity: " + std::string(value) + "\n";
  return o;
}

// credential_ref is "<method>:<nonce>:<validAfter>:<validBefore>".
struct Window {
  std::int64_t valid_after = 0;
  std::int64_t valid_before = 0;
};

Window window_of(const std::string& credential_ref) {
  const auto last = credential_ref.rfind(':');
  const auto before_last = credential_ref.rfind(':', last - 1);
  REQUIRE(last != std::string::npos);
  REQUIRE(before_last != std::string::npos);
  return {std::stoll(credential_ref.substr(before_last + 1, last - before_last - 1)),
          std::stoll(credential_ref.substr(last + 1))};
}

// Pays `route` (which asks maxTimeoutSeconds 10^12) and checks the window the ledger recorded
// and the merchant received lies within [signing time, signing time + max_validity].
void check_bounded(Paid& p, std::string_view route, std::int64_t max_validity) {
  const std::int64_t before = flow::payment::unix_now();
  const HttpResponse r = p.get(route);
  const std::int64_t after = flow::payment::unix_now();
  INFO(route << "\n" << r.head << r.body);
  REQUIRE(r.status == 200);
  CHECK(header_or_absent(r, "x-402flow-payment-state") == "settled");

  const auto receipts = receipts_for(p.proxy.receipts(), route);
  REQUIRE(receipts.size() == 1);
  const Window w = window_of(receipts[0]["credential_ref"].get<std::string>());
  CHECK(w.valid_before >= before + max_validity);
  CHECK(w.valid_before <= after + max_validity);
  CHECK(w.valid_after <= before);

  // The credential the merchant verified carries the same bound.
  const json book = merchant_book(p.merchant);
  REQUIRE(book.size() == 1);
  CHECK(book[0]["route"] == route);
  CHECK(std::stoll(book[0]["validBefore"].get<std::string>()) == w.valid_before);
}

// An offer the proxy must not sign: the merchant's 402 comes back naming the reason, no
// credential reaches the merchant, and the ledger records no payment at all.
void check_not_signed(std::string_view route, std::string_view code) {
  Paid p;
  const HttpResponse r = p.get(route);
  INFO(route << "\n" << r.head << r.body);
  CHECK(r.status == 402);
  CHECK(header_or_absent(r, "x-402flow-error") == "no_payable_offer");
  CHECK(header_or_absent(r, "x-402flow-detail") ==
        "no offer this proxy can sign: offer 0: " + std::string(code));
  CHECK(header_or_absent(r, "x-402flow-paid") == "<absent>");
  CHECK(header_or_absent(r, "x-402flow-receipt") == "<absent>");
  CHECK(r.header("payment-required").has_value());  // the merchant's own challenge, relayed

  CHECK(p.proxy.receipts().empty());
  CHECK(merchant_book(p.merchant).empty());
  const auto requests = wait_merchant_requests(p.merchant, route, 1);
  CHECK(requests.size() == 1);  // the unpaid request only: no paid retry
  for (const auto& line : requests) {
    CHECK_FALSE(line.contains("payer"));
    CHECK_FALSE(line.contains("reason"));
  }
  const json spend = p.proxy.spend();
  for (const auto& row : spend["by_agent"]) CHECK(row["in_flight"] == "0");
}

}  // namespace

TEST_CASE("an offer asking for a 10^12-second window is signed valid for 10 minutes by default") {
  Paid p;
  check_bounded(p, "/v2/long-validity", 600);
}

TEST_CASE("a Permit2 offer asking for a 10^12-second window gets a deadline 10 minutes away") {
  Paid p;
  check_bounded(p, "/v2/long-validity-permit2", 600);
}

TEST_CASE("payment.max_validity sets the bound the proxy signs") {
  Paid p(with_max_validity("2m"));
  check_bounded(p, "/v2/long-validity", 120);
}

TEST_CASE("an offer asking for less than max_validity keeps its own window") {
  Paid p;
  check_bounded(p, "/v2/weather", 60);  // the merchant's maxTimeoutSeconds
}

TEST_CASE("an exact offer for amount 0 is not signed and leaves no settled receipt") {
  check_not_signed("/v2/zero-amount", "zero_amount");
}

TEST_CASE("an offer paying the zero address is not signed") {
  check_not_signed("/v2/pay-to-zero", "pay_to_zero_address");
}

TEST_CASE("an offer paying the token contract itself is not signed") {
  check_not_signed("/v2/pay-to-asset", "pay_to_is_asset");
}
