// The payer's own terms: how long a signed authorization stays valid, and which offers it will
// not sign whatever the parser said.
#include <doctest/doctest.h>

#include <cstdint>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "flow/payment/base64.hpp"
#include "flow/payment/x402_challenge.hpp"
#include "flow/payment/x402_credential.hpp"
#include "flow/payment/x402_payer.hpp"

using namespace flow::payment;
using nlohmann::json;

namespace {

constexpr std::string_view kDevKey =
    "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";
constexpr const char* kUsdcBase = "0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913";
constexpr const char* kPayTo = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8";
constexpr std::int64_t kNow = 1'790'000'000;

json offer_with_timeout(json timeout, bool permit2 = false) {
  json offer = {{"scheme", "exact"}, {"network", "eip155:8453"},
                {"amount", "10000"}, {"asset", kUsdcBase},
                {"payTo", kPayTo},   {"extra", {{"name", "USD Coin"}, {"version", "2"}}}};
  if (!timeout.is_null()) offer["maxTimeoutSeconds"] = std::move(timeout);
  if (permit2) offer["extra"]["assetTransferMethod"] = "permit2";
  return offer;
}

X402Challenge challenge_with(const json& offer) {
  const json required = {{"x402Version", 2},
                         {"resource", {{"url", "https://api.example.com/x"}}},
                         {"accepts", json::array({offer})}};
  const std::string encoded = base64_encode(required.dump());
  const std::vector<HeaderField> headers = {{"PAYMENT-REQUIRED", encoded}};
  auto parsed = parse_x402_challenge(headers, "{}", "https://api.example.com/x");
  REQUIRE_MESSAGE(parsed.challenge.has_value(), parsed.detail);
  REQUIRE(parsed.challenge->accepts.at(0).problem == OfferProblem::none);
  return std::move(*parsed.challenge);
}

EvmKey dev_key() {
  auto key = EvmKey::from_hex(kDevKey);
  REQUIRE(key.has_value());
  return std::move(*key);
}

// The payload the merchant receives in PAYMENT-SIGNATURE.
json signed_payload(const X402Challenge& c, const ExactEvmNonce& nonce) {
  const X402Payment p = pay_x402(c, 0, dev_key(), nonce);
  const auto credential = decode_x402_credential(p.credential.header_value);
  REQUIRE(credential.has_value());
  return (*credential)["payload"];
}

std::int64_t as_time(const json& decimal) {
  REQUIRE(decimal.is_string());
  return std::stoll(decimal.get<std::string>());
}

}  // namespace

TEST_CASE("maxTimeoutSeconds 10^12 is signed as valid for payment.max_validity, not 31,688 years") {
  const X402Challenge c = challenge_with(offer_with_timeout(1'000'000'000'000LL));
  CHECK(c.accepts[0].max_timeout_seconds == 1'000'000'000'000LL);
  const ExactEvmNonce n = fresh_exact_evm_nonce(c.accepts[0], kNow, 600);
  CHECK(n.valid_before == kNow + 600);
  CHECK(n.valid_after <= kNow);

  const json auth = signed_payload(c, n)["authorization"];
  CHECK(as_time(auth["validBefore"]) == kNow + 600);
  CHECK(as_time(auth["validAfter"]) <= kNow);
  // A tighter setting is honoured too.
  CHECK(fresh_exact_evm_nonce(c.accepts[0], kNow, 120).valid_before == kNow + 120);
}

TEST_CASE("a Permit2 deadline is bounded the same way") {
  const X402Challenge c = challenge_with(offer_with_timeout(1'000'000'000'000LL, true));
  const ExactEvmNonce n = fresh_exact_evm_nonce(c.accepts[0], kNow, 600);
  const json auth = signed_payload(c, n)["permit2Authorization"];
  CHECK(as_time(auth["deadline"]) == kNow + 600);
  CHECK(as_time(auth["witness"]["validAfter"]) <= kNow);
}

TEST_CASE("the largest maxTimeoutSeconds does not overflow the clock") {
  const X402Challenge c =
      challenge_with(offer_with_timeout(std::numeric_limits<std::uint64_t>::max()));
  const ExactEvmNonce n = fresh_exact_evm_nonce(c.accepts[0], kNow, 600);
  CHECK(n.valid_before == kNow + 600);
}

TEST_CASE("a shorter maxTimeoutSeconds is kept; absent, zero, negative or not a number is 300 s") {
  CHECK(fresh_exact_evm_nonce(challenge_with(offer_with_timeout(60)).accepts[0], kNow, 600)
            .valid_before == kNow + 60);
  for (const json& unstated : {json(), json(0), json(-5), json(-1e18), json("600000"), json(1.5)}) {
    const X402Challenge c = challenge_with(offer_with_timeout(unstated));
    INFO(unstated.dump());
    const ExactEvmNonce n = fresh_exact_evm_nonce(c.accepts[0], kNow, 600);
    CHECK(n.valid_before == kNow + 300);
    CHECK(n.valid_after == kNow - 600);
  }
  // ... and bounded by max_validity when that is shorter.
  CHECK(fresh_exact_evm_nonce(challenge_with(offer_with_timeout(json())).accepts[0], kNow, 30)
            .valid_before == kNow + 30);
}

TEST_CASE("validity_seconds: the offer's wish, bounded; an unset bound is the 10-minute default") {
  CHECK(validity_seconds(60, 600) == 60);
  CHECK(validity_seconds(1'000'000'000'000LL, 600) == 600);
  CHECK(validity_seconds(std::numeric_limits<std::int64_t>::max(), 86400) == 86400);
  CHECK(validity_seconds(0, 600) == 300);
  CHECK(validity_seconds(-1, 600) == 300);
  CHECK(validity_seconds(0, 100) == 100);
  CHECK(validity_seconds(1'000'000, 0) == kDefaultMaxValiditySeconds);
  CHECK(validity_seconds(1'000'000, -7) == kDefaultMaxValiditySeconds);
}

TEST_CASE("validAfter is never in the future, whatever the offer states") {
  json offer = offer_with_timeout(60);
  offer["validAfter"] = "99999999999";
  offer["extra"]["validAfter"] = "99999999999";
  const X402Challenge c = challenge_with(offer);
  for (int i = 0; i < 3; ++i) {
    const ExactEvmNonce n = fresh_exact_evm_nonce(c.accepts[0], kNow, 600);
    CHECK(n.valid_after <= kNow);
    CHECK(n.valid_before > kNow);
  }
  CHECK(fresh_exact_evm_nonce(c.accepts[0], 100, 600).valid_after == 0);
}

TEST_CASE("the signer refuses a zero amount, the zero payee or the token as payee on its own") {
  // Built by hand, as if a parser had missed them: exact_evm_terms still refuses.
  const X402Challenge c = challenge_with(offer_with_timeout(60));
  REQUIRE(exact_evm_terms(c.accepts[0]).has_value());
  X402Requirement zero = c.accepts[0];
  zero.offer.amount = 0;
  CHECK_FALSE(exact_evm_terms(zero).has_value());
  X402Requirement burn = c.accepts[0];
  burn.offer.pay_to = "0x0000000000000000000000000000000000000000";
  CHECK_FALSE(exact_evm_terms(burn).has_value());
  X402Requirement token = c.accepts[0];
  token.offer.pay_to = token.offer.asset;
  CHECK_FALSE(exact_evm_terms(token).has_value());
}

TEST_CASE("payment-identifier: advertised, the credential echoes it with the nonce's id") {
  X402Challenge c = challenge_with(offer_with_timeout(60));
  const ExactEvmNonce nonce = fresh_exact_evm_nonce(c.accepts[0], kNow, 600);
  SUBCASE("not advertised: no extensions at all") {
    CHECK_FALSE(advertises_payment_identifier(c));
    const auto body =
        decode_x402_credential(pay_x402(c, 0, dev_key(), nonce).credential.header_value);
    REQUIRE(body.has_value());
    CHECK_FALSE(body->contains("extensions"));
  }
  SUBCASE("advertised: info.id added, required and schema kept as sent") {
    c.extensions = {
        {"payment-identifier", {{"info", {{"required", true}}}, {"schema", {{"type", "object"}}}}},
        {"bazaar", {{"info", {{"x", 1}}}}}};
    REQUIRE(advertises_payment_identifier(c));
    const X402Payment first = pay_x402(c, 0, dev_key(), nonce);
    const auto body = decode_x402_credential(first.credential.header_value);
    REQUIRE(body.has_value());
    const json& ext = (*body)["extensions"]["payment-identifier"];
    const std::string id = ext["info"]["id"].get<std::string>();
    CHECK(id == payment_identifier_for(nonce));
    CHECK(id.size() == 68);
    CHECK(id.rfind("pay_", 0) == 0);
    CHECK(ext["info"]["required"] == true);
    CHECK(ext["schema"] == json{{"type", "object"}});
    CHECK((*body)["extensions"]["bazaar"] == json{{"info", {{"x", 1}}}});
    // Rebuilt from its credential_ref (the same nonce): byte for byte the same credential.
    CHECK(pay_x402(c, 0, dev_key(), nonce).credential.header_value ==
          first.credential.header_value);
    // Another nonce, another id.
    const ExactEvmNonce other = fresh_exact_evm_nonce(c.accepts[0], kNow, 600);
    CHECK(payment_identifier_for(other) != id);
  }
  SUBCASE("an extension that is not an object is not advertised") {
    c.extensions = {{"payment-identifier", true}};
    CHECK_FALSE(advertises_payment_identifier(c));
    c.version = 1;
    c.extensions = {{"payment-identifier", json::object()}};
    CHECK_FALSE(advertises_payment_identifier(c));
  }
}
