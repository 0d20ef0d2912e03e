#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "flow/payment/base64.hpp"
#include "flow/payment/x402_settlement.hpp"

using namespace flow::payment;

namespace {

SettlementParse parse(std::string_view name, const std::string& value) {
  const std::vector<HeaderField> headers{{"content-type", "application/json"}, {name, value}};
  return parse_x402_settlement(headers);
}

}  // namespace

TEST_CASE("a v2 PAYMENT-RESPONSE with success yields the transaction, network and payer") {
  const std::string json =
      R"({"success":true,"transaction":"0xabc","network":"eip155:84532",)"
      R"("payer":"0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266","amount":"10000"})";
  const auto result = parse("PAYMENT-RESPONSE", base64_encode(json));
  CHECK(result.present);
  REQUIRE(result.settlement.has_value());
  CHECK(result.settlement->success);
  CHECK(result.settlement->transaction == "0xabc");
  CHECK(result.settlement->network == "eip155:84532");
  CHECK(result.settlement->payer == "0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266");
  CHECK(result.settlement->error_reason.empty());
  CHECK(result.settlement->raw_json == json);
  CHECK(result.problem.empty());
}

TEST_CASE("a v1 X-PAYMENT-RESPONSE is read the same way, header names in any case") {
  const auto result =
      parse("x-payment-response",
            base64_encode(std::string(R"({"success":true,"transaction":"0x1","network":"base"})")));
  REQUIRE(result.settlement.has_value());
  CHECK(result.settlement->network == "base");
  CHECK(result.settlement->payer.empty());
}

TEST_CASE("a failed settlement carries errorReason") {
  const auto result =
      parse("Payment-Response",
            base64_encode(std::string(R"({"success":false,"errorReason":)"
                                      R"("invalid_exact_evm_nonce_already_used",)"
                                      R"("transaction":"","network":"eip155:8453"})")));
  REQUIRE(result.settlement.has_value());
  CHECK_FALSE(result.settlement->success);
  CHECK(result.settlement->error_reason == "invalid_exact_evm_nonce_already_used");
}

TEST_CASE("a failed settlement with only errorMessage reports that message") {
  const auto result = parse(
      "PAYMENT-RESPONSE",
      base64_encode(std::string(R"({"success":false,"errorMessage":"facilitator timed out"})")));
  REQUIRE(result.settlement.has_value());
  CHECK(result.settlement->error_reason == "facilitator timed out");
}

TEST_CASE("PAYMENT-RESPONSE is preferred over X-PAYMENT-RESPONSE") {
  // HeaderField borrows: the encoded values must outlive the call.
  const auto v1 =
      base64_encode(std::string(R"({"success":true,"transaction":"v1","network":"base"})"));
  const auto v2 =
      base64_encode(std::string(R"({"success":true,"transaction":"v2","network":"eip155:8453"})"));
  const std::vector<HeaderField> headers{{"X-PAYMENT-RESPONSE", v1}, {"PAYMENT-RESPONSE", v2}};
  const auto result = parse_x402_settlement(headers);
  REQUIRE(result.settlement.has_value());
  CHECK(result.settlement->transaction == "v2");
}

TEST_CASE("no settlement header means not present, without a problem") {
  const std::vector<HeaderField> headers{{"content-type", "text/plain"}};
  const auto result = parse_x402_settlement(headers);
  CHECK_FALSE(result.present);
  CHECK_FALSE(result.settlement.has_value());
  CHECK(result.problem.empty());
}

TEST_CASE("malformed settlement headers are present but unreadable, with a reason") {
  SUBCASE("not base64") {
    const auto r = parse("PAYMENT-RESPONSE", "not base64!");
    CHECK(r.present);
    CHECK_FALSE(r.settlement.has_value());
    CHECK(r.problem.find("base64") != std::string::npos);
  }
  SUBCASE("base64url") {
    // {"success":true,"x":"??>"} has '+' or '/' in standard base64
    const auto standard = base64_encode(std::string(R"({"success":true,"t":"??>?"})"));
    std::string url = standard;
    for (auto& c : url) c = c == '+' ? '-' : c == '/' ? '_' : c;
    REQUIRE(url != standard);
    CHECK_FALSE(parse("PAYMENT-RESPONSE", url).settlement.has_value());
  }
  SUBCASE("not JSON") {
    const auto r = parse("PAYMENT-RESPONSE", base64_encode(std::string("success")));
    CHECK(r.present);
    CHECK(r.problem.find("JSON") != std::string::npos);
  }
  SUBCASE("a JSON array") {
    CHECK_FALSE(
        parse("PAYMENT-RESPONSE", base64_encode(std::string("[true]"))).settlement.has_value());
  }
  SUBCASE("success missing") {
    const auto r =
        parse("PAYMENT-RESPONSE", base64_encode(std::string(R"({"transaction":"0x1"})")));
    CHECK(r.problem.find("success") != std::string::npos);
  }
  SUBCASE("success as a string") {
    CHECK_FALSE(parse("PAYMENT-RESPONSE", base64_encode(std::string(R"({"success":"true"})")))
                    .settlement.has_value());
  }
  SUBCASE("transaction as a number") {
    const auto r = parse("PAYMENT-RESPONSE",
                         base64_encode(std::string(R"({"success":true,"transaction":12})")));
    CHECK_FALSE(r.settlement.has_value());
    CHECK(r.problem.find("transaction") != std::string::npos);
  }
}

TEST_CASE("an encoded settlement reads back") {
  const nlohmann::json body = {
      {"success", true}, {"transaction", "0xdead"}, {"network", "eip155:84532"}, {"payer", "0x01"}};
  const auto result = parse("PAYMENT-RESPONSE", encode_x402_settlement(body));
  REQUIRE(result.settlement.has_value());
  CHECK(result.settlement->transaction == "0xdead");
  CHECK(nlohmann::json::parse(result.settlement->raw_json) == body);
}
