#include <doctest/doctest.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "flow/payment/base64.hpp"
#include "flow/payment/exact_evm.hpp"
#include "flow/payment/x402_challenge.hpp"
#include "flow/payment/x402_network.hpp"

using namespace flow::payment;
using nlohmann::json;

namespace {

constexpr std::string_view kUrl = "https://api.example.com/weather?city=Oslo";
constexpr const char* kUsdcBaseSepolia = "0x036CbD53842c5426634e7929541eC2318f3dCF7e";
constexpr const char* kPayTo = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8";

json v2_offer() {
  return {{"scheme", "exact"},
          {"network", "eip155:84532"},
          {"amount", "10000"},
          {"asset", kUsdcBaseSepolia},
          {"payTo", kPayTo},
          {"maxTimeoutSeconds", 300},
          {"extra", {{"name", "USDC"}, {"version", "2"}}}};
}

json v2_required(json accepts) {
  return {{"x402Version", 2},
          {"error", "Payment required"},
          {"resource",
           {{"url", "https://api.example.com/weather"},
            {"description", "Weather"},
            {"mimeType", "application/json"}}},
          {"accepts", std::move(accepts)}};
}

json v1_offer(const char* network) {
  return {{"scheme", "exact"},
          {"network", network},
          {"maxAmountRequired", "1000"},
          {"resource", "https://api.example.com/v1/weather"},
          {"description", "Weather"},
          {"mimeType", "application/json"},
          {"payTo", kPayTo},
          {"maxTimeoutSeconds", 60},
          {"asset", "0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913"},
          {"outputSchema", nullptr},
          {"extra", {{"name", "USD Coin"}, {"version", "2"}}}};
}

// Owns the header values the HeaderField views point into.
struct Response {
  std::vector<std::pair<std::string, std::string>> fields;
  std::string body;

  Response& header(std::string name, std::string value) {
    fields.emplace_back(std::move(name), std::move(value));
    return *this;
  }
  ChallengeParse parse(std::string_view url = kUrl) const {
    std::vector<HeaderField> views;
    for (const auto& [n, v] : fields) views.push_back({n, v});
    return parse_x402_challenge(views, body, url);
  }
};

Response with_header(const json& required, std::string name = "PAYMENT-REQUIRED") {
  Response r;
  r.header("content-type", "application/json")
      .header(std::move(name), base64_encode(required.dump()));
  r.body = "{}";
  return r;
}

Response with_body(const json& body) {
  Response r;
  r.header("content-type", "application/json");
  r.body = body.dump();
  return r;
}

// By value: callers pass the temporary result of parse().
X402Challenge challenge_of(const ChallengeParse& parsed) {
  REQUIRE_MESSAGE(parsed.error == ChallengeError::none, parsed.detail);
  REQUIRE(parsed.challenge.has_value());
  return *parsed.challenge;
}

}  // namespace

TEST_CASE("a v2 PAYMENT-REQUIRED header with one EIP-3009 offer is read and normalized") {
  const auto parsed = with_header(v2_required(json::array({v2_offer()}))).parse();
  const auto& c = challenge_of(parsed);
  CHECK(c.version == 2);
  CHECK(c.source == ChallengeSource::payment_required_header);
  CHECK(c.error == "Payment required");
  CHECK(c.resource["url"] == "https://api.example.com/weather");
  CHECK(c.extensions.is_null());
  REQUIRE(c.accepts.size() == 1);
  const auto& r = c.accepts[0];
  CHECK(r.problem == OfferProblem::none);
  CHECK(r.amount_error == AmountError::none);
  CHECK(r.offer.protocol == "x402");
  CHECK(r.offer.protocol_version == 2);
  CHECK(r.offer.scheme == "exact");
  CHECK(r.offer.network == "eip155:84532");
  CHECK(r.network_as_sent == "eip155:84532");
  CHECK(r.chain_id == 84532u);
  CHECK(r.offer.amount == 10000);
  CHECK(r.offer.asset == "0x036cbd53842c5426634e7929541ec2318f3dcf7e");
  CHECK(r.offer.pay_to == "0x70997970c51812dc3a010c7d01b50e0d17dc79c8");
  CHECK(r.offer.resource == "https://api.example.com/weather");
  CHECK(r.offer.expires_at == 0);
  CHECK(r.offer.index == 0);
  CHECK(r.domain_name == "USDC");
  CHECK(r.domain_version == "2");
  CHECK_FALSE(r.permit2);
  CHECK(r.max_timeout_seconds == 300);
  CHECK(r.raw == v2_offer());  // as sent: mixed-case addresses untouched
}

TEST_CASE("a v2 challenge with several offers keeps each in order with its index") {
  auto second = v2_offer();
  second["network"] = "eip155:8453";
  second["asset"] = "0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913";
  second["amount"] = "20000";
  second["extra"] = {{"name", "USD Coin"}, {"version", "2"}};
  auto third = v2_offer();
  third["network"] = "solana:5eykt4UsFv8P8NJdTREpY1vzqKqZKvdp";
  third["asset"] = "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v";
  third["payTo"] = "9xQeWvG816bUx9EPjHmaT23yvVM2ZWbrrpZb9PusVFin";
  third["extra"] = {{"feePayer", "2wKupLR9q6wXYppw8Gr2NvWxKBUqm4PPJKkQfoxHDBg4"}};
  const auto parsed = with_header(v2_required(json::array({v2_offer(), second, third}))).parse();
  const auto& c = challenge_of(parsed);
  REQUIRE(c.accepts.size() == 3);
  CHECK(c.accepts[1].offer.index == 1);
  CHECK(c.accepts[1].offer.network == "eip155:8453");
  CHECK(c.accepts[1].offer.amount == 20000);
  CHECK(c.accepts[1].domain_name == "USD Coin");
  CHECK(c.accepts[1].problem == OfferProblem::none);
  // Solana "exact" is listed but not signable here; its addresses are not lower-cased.
  CHECK(c.accepts[2].offer.index == 2);
  CHECK(c.accepts[2].problem == OfferProblem::unsupported_scheme);
  CHECK(c.accepts[2].offer.network == "solana:5eykt4UsFv8P8NJdTREpY1vzqKqZKvdp");
  CHECK_FALSE(c.accepts[2].chain_id.has_value());
  CHECK(c.accepts[2].offer.asset == "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v");
}

TEST_CASE("a permit2 offer is flagged and needs no EIP-712 name/version from the merchant") {
  auto offer = v2_offer();
  offer["extra"] = {{"assetTransferMethod", "permit2"}};
  const auto& c = challenge_of(with_header(v2_required(json::array({offer}))).parse());
  CHECK(c.accepts[0].permit2);
  CHECK(c.accepts[0].problem == OfferProblem::none);
}

TEST_CASE("an explicit eip3009 transfer method is the default method") {
  auto offer = v2_offer();
  offer["extra"]["assetTransferMethod"] = "eip3009";
  const auto& c = challenge_of(with_header(v2_required(json::array({offer}))).parse());
  CHECK_FALSE(c.accepts[0].permit2);
  CHECK(c.accepts[0].problem == OfferProblem::none);
}

TEST_CASE("an unknown transfer method is listed but never signed") {
  auto offer = v2_offer();
  offer["extra"]["assetTransferMethod"] = "permit3";
  const auto& c = challenge_of(with_header(v2_required(json::array({offer}))).parse());
  CHECK(c.accepts[0].problem == OfferProblem::unsupported_scheme);
}

TEST_CASE("an EIP-3009 offer without extra.name or extra.version lacks its domain") {
  auto offer = v2_offer();
  offer.erase("extra");
  const auto& c = challenge_of(with_header(v2_required(json::array({offer}))).parse());
  CHECK(c.accepts[0].problem == OfferProblem::missing_domain);
}

TEST_CASE("the PAYMENT-REQUIRED header name is matched in any case") {
  for (const char* name : {"payment-required", "Payment-Required", "PAYMENT-required"}) {
    const auto parsed = with_header(v2_required(json::array({v2_offer()})), name).parse();
    CHECK_MESSAGE(parsed.error == ChallengeError::none, name);
  }
}

TEST_CASE("surrounding whitespace in the header value is not part of the value") {
  Response r;
  r.header("Payment-Required",
           " " + base64_encode(v2_required(json::array({v2_offer()})).dump()) + "\t");
  CHECK(r.parse().error == ChallengeError::none);
}

TEST_CASE("a v1 JSON body with legacy network names maps them to CAIP-2") {
  const json body = {{"x402Version", 1},
                     {"error", "X-PAYMENT header is required"},
                     {"accepts", json::array({v1_offer("base"), v1_offer("base-sepolia"),
                                              v1_offer("polygon"), v1_offer("avalanche-fuji")})}};
  const auto parsed = with_body(body).parse();
  const auto& c = challenge_of(parsed);
  CHECK(c.version == 1);
  CHECK(c.source == ChallengeSource::json_body);
  CHECK(c.error == "X-PAYMENT header is required");
  CHECK(c.resource.is_null());
  REQUIRE(c.accepts.size() == 4);
  CHECK(c.accepts[0].offer.network == "eip155:8453");
  CHECK(c.accepts[0].network_as_sent == "base");
  CHECK(c.accepts[0].chain_id == 8453u);
  CHECK(c.accepts[0].offer.amount == 1000);
  CHECK(c.accepts[0].offer.protocol_version == 1);
  CHECK(c.accepts[0].offer.resource == "https://api.example.com/v1/weather");
  CHECK(c.accepts[0].offer.asset == "0x833589fcd6edb6e08f4c7c32d4f71b54bda02913");
  CHECK(c.accepts[0].max_timeout_seconds == 60);
  CHECK(c.accepts[0].problem == OfferProblem::none);
  CHECK(c.accepts[1].chain_id == 84532u);
  CHECK(c.accepts[2].chain_id == 137u);
  CHECK(c.accepts[3].chain_id == 43113u);
  CHECK(c.accepts[3].offer.network == "eip155:43113");
}

TEST_CASE("a v1 offer reads maxAmountRequired, not amount") {
  auto offer = v1_offer("base");
  offer.erase("maxAmountRequired");
  offer["amount"] = "1000";
  const json body = {{"x402Version", 1}, {"accepts", json::array({offer})}};
  const auto& c = challenge_of(with_body(body).parse());
  CHECK(c.accepts[0].problem == OfferProblem::bad_amount);
  CHECK(c.accepts[0].amount_error == AmountError::empty);
}

TEST_CASE("an h402 body is read as the v1 shape, including its own field names") {
  const json standard = v1_offer("base");
  const json own = {{"scheme", "exact"},
                    {"namespace", "evm"},
                    {"networkId", "8453"},
                    {"amountRequired", "5000"},
                    {"tokenAddress", "0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913"},
                    {"payToAddress", kPayTo},
                    {"resource", "https://h402.example/r"},
                    {"extra", {{"name", "USD Coin"}, {"version", "2"}}}};
  const json body = {{"h402Version", 1}, {"accepts", json::array({standard, own})}};
  const auto& c = challenge_of(with_body(body).parse());
  CHECK(c.version == 1);
  CHECK(c.source == ChallengeSource::h402_body);
  REQUIRE(c.accepts.size() == 2);
  CHECK(c.accepts[0].offer.network == "eip155:8453");
  CHECK(c.accepts[0].problem == OfferProblem::none);
  CHECK(c.accepts[1].offer.network == "eip155:8453");
  CHECK(c.accepts[1].offer.amount == 5000);
  CHECK(c.accepts[1].offer.pay_to == "0x70997970c51812dc3a010c7d01b50e0d17dc79c8");
  CHECK(c.accepts[1].problem == OfferProblem::none);
}

TEST_CASE("WWW-Authenticate: x402 with a bare base64 challenge is read") {
  const auto token = base64_encode(v2_required(json::array({v2_offer()})).dump());
  Response r;
  r.header("WWW-Authenticate", "x402 " + token);
  const auto& c = challenge_of(r.parse());
  CHECK(c.source == ChallengeSource::www_authenticate);
  CHECK(c.version == 2);
  CHECK(c.accepts.size() == 1);
}

TEST_CASE("WWW-Authenticate: x402 carrying the challenge in an auth-param is read") {
  const auto v1 = json{{"x402Version", 1}, {"accepts", json::array({v1_offer("base")})}};
  const auto token = base64_encode(v1.dump());
  for (const std::string& value : {
           "x402 challenge=\"" + token + "\"",
           "X402 realm=\"api\", challenge=\"" + token + "\"",
           "x402 data=\"" + token + "\", realm=\"api\"",
           "x402 challenge=" + token,
           "x402 realm = \"api\" , Challenge = \"" + token + "\"",
       }) {
    Response r;
    r.header("www-authenticate", value);
    const auto parsed = r.parse();
    CHECK_MESSAGE(parsed.error == ChallengeError::none, value, " ", parsed.detail);
    if (parsed.challenge) CHECK(parsed.challenge->version == 1);
  }
}

TEST_CASE("WWW-Authenticate: x402 with a bare JSON object is read") {
  Response r;
  r.header("WWW-Authenticate", "x402 " + v2_required(json::array({v2_offer()})).dump());
  const auto& c = challenge_of(r.parse());
  CHECK(c.accepts.size() == 1);
}

TEST_CASE("an x402 challenge is found among other challenges and header lines") {
  const auto token = base64_encode(v2_required(json::array({v2_offer()})).dump());
  Response r;
  r.header("WWW-Authenticate", "Basic realm=\"x\"");
  r.header("WWW-Authenticate",
           "L402 macaroon=\"AgEE\", invoice=\"lnbc1\", x402 challenge=\"" + token + "\", Bearer");
  const auto& c = challenge_of(r.parse());
  CHECK(c.accepts.size() == 1);
}

TEST_CASE("a WWW-Authenticate: x402 hint without data defers to the other sources") {
  SUBCASE("hint alone is not a challenge") {
    Response r;
    r.header("WWW-Authenticate", "x402");
    r.header("WWW-Authenticate", "x402 realm=\"shop\", network=\"base\", asset=\"USDC\"");
    CHECK(r.parse().error == ChallengeError::not_x402);
  }
  SUBCASE("hint next to PAYMENT-REQUIRED") {
    auto r = with_header(v2_required(json::array({v2_offer()})));
    r.header("WWW-Authenticate", "x402");
    CHECK(challenge_of(r.parse()).source == ChallengeSource::payment_required_header);
  }
}

TEST_CASE("a WWW-Authenticate: x402 challenge that is not base64 JSON is refused with a reason") {
  Response r;
  r.header("WWW-Authenticate", "x402 challenge=\"0xdeadbeefcafe\"");
  CHECK(r.parse().error == ChallengeError::bad_base64);
  Response s;
  s.header("WWW-Authenticate", "x402 " + base64_encode(std::string("hello")));
  CHECK(s.parse().error == ChallengeError::bad_json);
}

TEST_CASE("PAYMENT-REQUIRED is preferred over a v1 body and over WWW-Authenticate") {
  auto r = with_header(v2_required(json::array({v2_offer()})));
  r.body = json{{"x402Version", 1}, {"accepts", json::array({v1_offer("base")})}}.dump();
  r.header(
      "WWW-Authenticate",
      "x402 " +
          base64_encode(
              json{{"x402Version", 1}, {"accepts", json::array({v1_offer("polygon")})}}.dump()));
  CHECK(challenge_of(r.parse()).version == 2);
}

TEST_CASE("a JSON body is preferred over WWW-Authenticate") {
  auto r = with_body(json{{"x402Version", 1}, {"accepts", json::array({v1_offer("base")})}});
  r.header("WWW-Authenticate",
           "x402 " + base64_encode(v2_required(json::array({v2_offer()})).dump()));
  CHECK(challenge_of(r.parse()).source == ChallengeSource::json_body);
}

TEST_CASE("a garbled PAYMENT-REQUIRED falls back to a readable v1 body") {
  auto r = with_body(json{{"x402Version", 1}, {"accepts", json::array({v1_offer("base")})}});
  r.header("Payment-Required", "x402");
  CHECK(challenge_of(r.parse()).source == ChallengeSource::json_body);
}

TEST_CASE("a 402 without any x402 challenge is not_x402") {
  Response r;
  r.header("content-type", "text/html");
  r.body = "<html>pay here</html>";
  CHECK(r.parse().error == ChallengeError::not_x402);
  r.body = R"({"error":"payment required"})";
  CHECK(r.parse().error == ChallengeError::not_x402);
  r.body = R"([{"x402Version":1}])";
  CHECK(r.parse().error == ChallengeError::not_x402);
  CHECK(challenge_error_name(ChallengeError::not_x402) == "not_x402");
}

TEST_CASE("malformed PAYMENT-REQUIRED values are refused with a stable error") {
  const auto encoded = base64_encode(v2_required(json::array({v2_offer()})).dump());
  SUBCASE("not base64") {
    Response r;
    r.header("PAYMENT-REQUIRED", "%%%not-base64%%%");
    const auto p = r.parse();
    CHECK(p.error == ChallengeError::bad_base64);
    CHECK_FALSE(p.challenge.has_value());
    CHECK(p.detail.find("PAYMENT-REQUIRED") != std::string::npos);
  }
  SUBCASE("base64url") {
    // Pick a document whose standard encoding uses '+' or '/', then re-alphabet it.
    auto required = v2_required(json::array({v2_offer()}));
    std::string url;
    for (int i = 0; i < 64; ++i) {
      required["error"] = std::string(static_cast<std::size_t>(i), '?') + ">";
      url = base64_encode(required.dump());
      if (url.find_first_of("+/") != std::string::npos) break;
    }
    REQUIRE(url.find_first_of("+/") != std::string::npos);
    for (auto& c : url) c = c == '+' ? '-' : c == '/' ? '_' : c;
    Response r;
    r.header("PAYMENT-REQUIRED", url);
    CHECK(r.parse().error == ChallengeError::bad_base64);
  }
  SUBCASE("missing padding") {
    auto unpadded = encoded;
    while (!unpadded.empty() && unpadded.back() == '=') unpadded.pop_back();
    if (unpadded.size() == encoded.size()) unpadded.pop_back();
    Response r;
    r.header("PAYMENT-REQUIRED", unpadded);
    CHECK(r.parse().error == ChallengeError::bad_base64);
  }
  SUBCASE("bad JSON") {
    Response r;
    r.header("PAYMENT-REQUIRED", base64_encode(std::string(R"({"x402Version":2,)")));
    CHECK(r.parse().error == ChallengeError::bad_json);
  }
  SUBCASE("a JSON array") {
    Response r;
    r.header("PAYMENT-REQUIRED", base64_encode(json::array({v2_required(json::array())}).dump()));
    CHECK(r.parse().error == ChallengeError::bad_json);
  }
  SUBCASE("missing accepts") {
    auto required = v2_required(json::array());
    required.erase("accepts");
    const auto p = with_header(required).parse();
    CHECK(p.error == ChallengeError::missing_field);
    CHECK(p.detail.find("accepts") != std::string::npos);
  }
  SUBCASE("accepts not an array") {
    CHECK(with_header(v2_required(json::object())).parse().error == ChallengeError::missing_field);
  }
  SUBCASE("an offer that is not an object") {
    const auto p = with_header(v2_required(json::array({v2_offer(), "exact"}))).parse();
    CHECK(p.error == ChallengeError::missing_field);
    CHECK(p.detail.find("accepts[1]") != std::string::npos);
  }
  SUBCASE("empty accepts") {
    CHECK(with_header(v2_required(json::array())).parse().error == ChallengeError::no_offers);
  }
  SUBCASE("x402Version 3") {
    auto required = v2_required(json::array({v2_offer()}));
    required["x402Version"] = 3;
    CHECK(with_header(required).parse().error == ChallengeError::unsupported_version);
  }
  SUBCASE("x402Version as a string") {
    auto required = v2_required(json::array({v2_offer()}));
    required["x402Version"] = "2";
    CHECK(with_header(required).parse().error == ChallengeError::missing_field);
  }
  SUBCASE("x402Version missing") {
    auto required = v2_required(json::array({v2_offer()}));
    required.erase("x402Version");
    CHECK(with_header(required).parse().error == ChallengeError::missing_field);
  }
  SUBCASE("nesting beyond any real challenge") {
    auto required = v2_required(json::array({v2_offer()}));
    json deep = json::array();
    for (int i = 0; i < 200; ++i) deep = json::array({deep});
    required["accepts"][0]["extra"]["schema"] = deep;
    CHECK(with_header(required).parse().error == ChallengeError::bad_json);
  }
}

TEST_CASE("an amount that is not a decimal integer string keeps the offer but marks it") {
  const auto amount_case = [](json amount) {
    auto offer = v2_offer();
    offer["amount"] = std::move(amount);
    const auto parsed = with_header(v2_required(json::array({offer}))).parse();
    REQUIRE(parsed.challenge.has_value());
    REQUIRE(parsed.challenge->accepts.size() == 1);
    return parsed.challenge->accepts[0];
  };
  const auto number = amount_case(10000);
  CHECK(number.problem == OfferProblem::bad_amount);
  CHECK(number.amount_error == AmountError::not_a_number);
  CHECK(number.raw["amount"] == 10000);
  const auto decimal = amount_case("1.5");
  CHECK(decimal.problem == OfferProblem::bad_amount);
  CHECK(decimal.amount_error == AmountError::not_a_number);
  const auto negative = amount_case("-1");
  CHECK(negative.problem == OfferProblem::bad_amount);
  CHECK(negative.amount_error == AmountError::negative);
  const auto overflow = amount_case("340282366920938463463374607431768211456");
  CHECK(overflow.problem == OfferProblem::bad_amount);
  CHECK(overflow.amount_error == AmountError::overflow);
  const auto exponent = amount_case("1e6");
  CHECK(exponent.amount_error == AmountError::exponent);
  const auto largest = amount_case("340282366920938463463374607431768211455");
  CHECK(largest.problem == OfferProblem::none);
  CHECK(largest.offer.amount == ~Atomic{0});
  CHECK(offer_problem_name(OfferProblem::bad_amount) == "bad_amount");
}

TEST_CASE("an unknown network keeps the offer, named as sent") {
  auto unknown = v1_offer("base-goerli");
  const json body = {{"x402Version", 1}, {"accepts", json::array({unknown, v1_offer("base")})}};
  const auto& c = challenge_of(with_body(body).parse());
  REQUIRE(c.accepts.size() == 2);
  CHECK(c.accepts[0].problem == OfferProblem::unknown_network);
  CHECK(c.accepts[0].offer.network == "base-goerli");
  CHECK(c.accepts[0].network_as_sent == "base-goerli");
  CHECK_FALSE(c.accepts[0].chain_id.has_value());
  CHECK(c.accepts[1].problem == OfferProblem::none);

  auto malformed = v2_offer();
  malformed["network"] = "eip155:0x2105";
  const auto& d = challenge_of(with_header(v2_required(json::array({malformed}))).parse());
  CHECK(d.accepts[0].problem == OfferProblem::unknown_network);
  CHECK(d.accepts[0].offer.network == "eip155:0x2105");
}

TEST_CASE("schemes other than exact on EVM are listed as unsupported") {
  auto upto = v2_offer();
  upto["scheme"] = "upto";
  auto no_scheme = v2_offer();
  no_scheme.erase("scheme");
  auto solana = v1_offer("solana-devnet");
  solana["payTo"] = "9xQeWvG816bUx9EPjHmaT23yvVM2ZWbrrpZb9PusVFin";
  const auto& c =
      challenge_of(with_header(v2_required(json::array({upto, no_scheme, solana}))).parse());
  CHECK(c.accepts[0].problem == OfferProblem::unsupported_scheme);
  CHECK(c.accepts[1].problem == OfferProblem::unsupported_scheme);
  CHECK(c.accepts[2].problem == OfferProblem::unsupported_scheme);
  CHECK(c.accepts[2].offer.network == "solana:EtWTRABZaYq6iMfeYKouRu166VU2xqa1");
  CHECK(c.accepts[2].offer.pay_to == "9xQeWvG816bUx9EPjHmaT23yvVM2ZWbrrpZb9PusVFin");
}

TEST_CASE("an EVM offer whose payTo or asset is not 0x + 40 hex is a bad address") {
  for (const json& bad : {json("0x70997970C51812dc3A010C7d01b50e0d17dc79C"),
                          json("70997970C51812dc3A010C7d01b50e0d17dc79C8aa"),
                          json("0X70997970C51812dc3A010C7d01b50e0d17dc79C8"),
                          json("0x70997970C51812dc3A010C7d01b50e0d17dc79Cg"), json(12), json()}) {
    auto offer = v2_offer();
    offer["payTo"] = bad;
    const auto& c = challenge_of(with_header(v2_required(json::array({offer}))).parse());
    CHECK_MESSAGE(c.accepts[0].problem == OfferProblem::bad_address, bad.dump());
  }
  auto offer = v2_offer();
  offer.erase("asset");
  const auto& c = challenge_of(with_header(v2_required(json::array({offer}))).parse());
  CHECK(c.accepts[0].problem == OfferProblem::bad_address);
}

TEST_CASE("more than kMaxOffers offers is too large; exactly kMaxOffers is fine") {
  json many = json::array();
  for (std::size_t i = 0; i < kMaxOffers; ++i) many.push_back(v2_offer());
  CHECK(challenge_of(with_header(v2_required(many)).parse()).accepts.size() == kMaxOffers);
  many.push_back(v2_offer());
  const auto p = with_header(v2_required(many)).parse();
  CHECK(p.error == ChallengeError::too_large);
  CHECK_FALSE(p.challenge.has_value());
}

TEST_CASE("resource and extensions are kept exactly as sent") {
  auto required = v2_required(json::array({v2_offer()}));
  required["extensions"] = {
      {"payment-identifier",
       {{"info", {{"required", true}, {"id", "pay_0123456789abcdef"}}}, {"schema", {{"a", 1.5}}}}},
      {"bazaar", {{"discoverable", true}}}};
  const auto& c = challenge_of(with_header(required).parse());
  CHECK(c.resource == required["resource"]);
  CHECK(c.extensions == required["extensions"]);
}

TEST_CASE("the request URL is the offer's resource when the challenge names none") {
  auto required = v2_required(json::array({v2_offer()}));
  required.erase("resource");
  const auto& c = challenge_of(with_header(required).parse());
  CHECK(c.resource.is_null());
  CHECK(c.accepts[0].offer.resource == kUrl);

  auto offer = v1_offer("base");
  offer.erase("resource");
  const auto& d =
      challenge_of(with_body({{"x402Version", 1}, {"accepts", json::array({offer})}}).parse());
  CHECK(d.accepts[0].offer.resource == kUrl);
}

TEST_CASE("a maxTimeoutSeconds that is not a non-negative integer reads as not stated") {
  for (const json& t : {json(-5), json(1.5), json("300"), json()}) {
    auto offer = v2_offer();
    offer["maxTimeoutSeconds"] = t;
    const auto& c = challenge_of(with_header(v2_required(json::array({offer}))).parse());
    CHECK(c.accepts[0].max_timeout_seconds == 0);
  }
}

// The network table and CAIP-2 checks behind Offer::network (x402_network.hpp).
TEST_CASE("legacy v1 network names map to CAIP-2 and their chain ids") {
  const std::pair<const char*, std::uint64_t> table[] = {
      {"base", 8453},       {"base-sepolia", 84532},   {"polygon", 137}, {"polygon-amoy", 80002},
      {"avalanche", 43114}, {"avalanche-fuji", 43113}, {"sei", 1329},    {"sei-testnet", 1328},
      {"ethereum", 1},      {"sepolia", 11155111}};
  for (const auto& [name, id] : table) {
    const auto network = normalize_x402_network(name);
    REQUIRE_MESSAGE(network.has_value(), name);
    CHECK(network->caip2 == "eip155:" + std::to_string(id));
    CHECK(network->evm_chain_id == id);
  }
  const auto solana = normalize_x402_network("solana");
  REQUIRE(solana.has_value());
  CHECK(solana->caip2 == "solana:5eykt4UsFv8P8NJdTREpY1vzqKqZKvdp");
  CHECK_FALSE(solana->evm_chain_id.has_value());
  CHECK(normalize_x402_network("solana-devnet")->caip2 ==
        "solana:EtWTRABZaYq6iMfeYKouRu166VU2xqa1");
}

TEST_CASE("CAIP-2 identifiers pass through when well-formed") {
  CHECK(normalize_x402_network("eip155:8453")->evm_chain_id == 8453u);
  CHECK(normalize_x402_network("eip155:18446744073709551615")->evm_chain_id ==
        18446744073709551615u);
  CHECK(normalize_x402_network("cosmos:cosmoshub-4")->caip2 == "cosmos:cosmoshub-4");
  CHECK(normalize_x402_network("bip122:000000000019d6689c085ae165831e93").has_value());
  CHECK(normalize_x402_network("abc:" + std::string(32, 'x')).has_value());
}

TEST_CASE("malformed CAIP-2 identifiers and unknown legacy names are refused") {
  for (const std::string& bad : {std::string(""),
                                 std::string("Base"),
                                 std::string("base-goerli"),
                                 std::string("eip155"),
                                 std::string("eip155:"),
                                 std::string(":8453"),
                                 std::string("ab:1"),
                                 std::string("abcdefghi:1"),
                                 std::string("EIP155:8453"),
                                 std::string("eip155:0x2105"),
                                 std::string("eip155:08453"),
                                 std::string("eip155:0"),
                                 std::string("eip155:-1"),
                                 std::string("eip155:+1"),
                                 std::string("eip155:18446744073709551616"),
                                 std::string("eip155:8453:1"),
                                 std::string("abc:" + std::string(33, 'x')),
                                 std::string("abc:a b"),
                                 std::string("abc:a.b"),
                                 std::string("ab_c:x")}) {
    CHECK_FALSE_MESSAGE(normalize_x402_network(bad).has_value(), bad);
  }
}

TEST_CASE("an exact offer for amount 0 is listed but refused as zero_amount") {
  auto zero = v2_offer();
  zero["amount"] = "0";
  auto v1_zero = v1_offer("base");
  v1_zero["maxAmountRequired"] = "000";
  const auto& c = challenge_of(with_header(v2_required(json::array({zero, v2_offer()}))).parse());
  CHECK(c.accepts[0].problem == OfferProblem::zero_amount);
  CHECK(c.accepts[0].amount_error == AmountError::none);
  CHECK(c.accepts[1].problem == OfferProblem::none);
  const auto& d =
      challenge_of(with_body({{"x402Version", 1}, {"accepts", json::array({v1_zero})}}).parse());
  CHECK(d.accepts[0].problem == OfferProblem::zero_amount);
  CHECK(offer_problem_name(OfferProblem::zero_amount) == "zero_amount");
}

TEST_CASE("an offer paying the zero address is refused as pay_to_zero_address") {
  auto offer = v2_offer();
  offer["payTo"] = "0x0000000000000000000000000000000000000000";
  const auto& c = challenge_of(with_header(v2_required(json::array({offer}))).parse());
  CHECK(c.accepts[0].problem == OfferProblem::pay_to_zero_address);
  auto v1 = v1_offer("base");
  v1["payTo"] = "0x0000000000000000000000000000000000000000";
  const auto& d =
      challenge_of(with_body({{"x402Version", 1}, {"accepts", json::array({v1})}}).parse());
  CHECK(d.accepts[0].problem == OfferProblem::pay_to_zero_address);
  CHECK(offer_problem_name(OfferProblem::pay_to_zero_address) == "pay_to_zero_address");
}

TEST_CASE("an offer paying the token contract itself is refused as pay_to_is_asset") {
  auto offer = v2_offer();
  // Same address, other case: compared as addresses, not as text.
  offer["payTo"] = "0x036cbd53842c5426634e7929541ec2318f3dcf7e";
  auto permit2 = v2_offer();
  permit2["payTo"] = kUsdcBaseSepolia;
  permit2["extra"]["assetTransferMethod"] = "permit2";
  const auto& c = challenge_of(with_header(v2_required(json::array({offer, permit2}))).parse());
  CHECK(c.accepts[0].problem == OfferProblem::pay_to_is_asset);
  CHECK(c.accepts[1].problem == OfferProblem::pay_to_is_asset);
  CHECK(offer_problem_name(OfferProblem::pay_to_is_asset) == "pay_to_is_asset");
}

TEST_CASE("an offer paying the Permit2 contract or x402's Permit2 proxy is refused") {
  for (const std::string_view contract : {kPermit2Address, kX402Permit2Spender}) {
    auto offer = v2_offer();
    offer["payTo"] = std::string(contract);
    const auto& c = challenge_of(with_header(v2_required(json::array({offer}))).parse());
    CHECK_MESSAGE(c.accepts[0].problem == OfferProblem::pay_to_is_permit2, contract);
  }
  CHECK(offer_problem_name(OfferProblem::pay_to_is_permit2) == "pay_to_is_permit2");
}
