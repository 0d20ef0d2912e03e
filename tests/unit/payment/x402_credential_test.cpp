#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "flow/payment/base64.hpp"
#include "flow/payment/x402_credential.hpp"

using namespace flow::payment;
using nlohmann::json;

namespace {

// Key order and spelling as a merchant might send them, including a number and a null.
constexpr std::string_view kV2Required = R"({
  "x402Version": 2,
  "error": "Payment required",
  "resource": {"url": "https://api.example.com/weather", "description": "", "mimeType": ""},
  "accepts": [
    {"scheme": "exact", "network": "eip155:8453", "amount": "20000",
     "asset": "0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913",
     "payTo": "0x70997970C51812dc3A010C7d01b50e0d17dc79C8", "maxTimeoutSeconds": 60,
     "extra": {"name": "USD Coin", "version": "2"}},
    {"scheme": "exact", "network": "eip155:84532", "amount": "10000",
     "payTo": "0x70997970C51812dc3A010C7d01b50e0d17dc79C8",
     "asset": "0x036CbD53842c5426634e7929541eC2318f3dCF7e", "maxTimeoutSeconds": 300,
     "extra": {"version": "2", "name": "USDC", "assetTransferMethod": "eip3009"},
     "outputSchema": null}
  ],
  "extensions": {"payment-identifier": {"info": {"required": false, "id": "order_12345678901234"}}}
})";

X402Challenge parse_header(std::string_view required_json) {
  const auto value = base64_encode(required_json);
  const std::vector<HeaderField> headers{{"PAYMENT-REQUIRED", value}};
  auto parsed = parse_x402_challenge(headers, "{}", "https://api.example.com/weather");
  REQUIRE(parsed.challenge.has_value());
  return std::move(*parsed.challenge);
}

const json kPayload = {{"signature", "0x" + std::string(130, 'a')},
                       {"authorization",
                        {{"from", "0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266"},
                         {"to", "0x70997970c51812dc3a010c7d01b50e0d17dc79c8"},
                         {"value", "10000"},
                         {"validAfter", "0"},
                         {"validBefore", "1740000300"},
                         {"nonce", "0x" + std::string(64, '1')}}}};

}  // namespace

TEST_CASE("a v2 credential echoes the chosen offer exactly as the merchant sent it") {
  const auto challenge = parse_header(kV2Required);
  const auto credential = encode_x402_credential(challenge, 1, kPayload);
  CHECK(credential.header_name == "PAYMENT-SIGNATURE");
  const auto decoded = decode_x402_credential(credential.header_value);
  REQUIRE(decoded.has_value());
  const auto sent = json::parse(kV2Required);
  CHECK((*decoded)["x402Version"] == 2);
  CHECK((*decoded)["accepted"] == sent["accepts"][1]);
  CHECK((*decoded)["accepted"] == challenge.accepts[1].raw);
  // Not the normalized form: addresses keep their case, null stays null.
  CHECK((*decoded)["accepted"]["payTo"] == "0x70997970C51812dc3A010C7d01b50e0d17dc79C8");
  CHECK((*decoded)["accepted"].contains("outputSchema"));
  CHECK((*decoded)["payload"] == kPayload);
}

TEST_CASE("a v2 credential echoes resource and extensions") {
  const auto challenge = parse_header(kV2Required);
  const auto decoded =
      decode_x402_credential(encode_x402_credential(challenge, 0, kPayload).header_value);
  REQUIRE(decoded.has_value());
  const auto sent = json::parse(kV2Required);
  CHECK((*decoded)["resource"] == sent["resource"]);
  CHECK((*decoded)["extensions"] == sent["extensions"]);
  CHECK((*decoded)["accepted"] == sent["accepts"][0]);
  CHECK_FALSE(decoded->contains("error"));
}

TEST_CASE("a v2 credential leaves out resource and extensions the merchant did not send") {
  const auto challenge = parse_header(R"({"x402Version":2,"accepts":[{"scheme":"exact",
      "network":"eip155:8453","amount":"1","asset":"0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913",
      "payTo":"0x70997970C51812dc3A010C7d01b50e0d17dc79C8","extra":{"name":"USD Coin","version":"2"}}]})");
  const auto decoded =
      decode_x402_credential(encode_x402_credential(challenge, 0, kPayload).header_value);
  REQUIRE(decoded.has_value());
  CHECK_FALSE(decoded->contains("resource"));
  CHECK_FALSE(decoded->contains("extensions"));
}

TEST_CASE("a v1 credential is X-PAYMENT with scheme and network as sent") {
  const std::string body = R"({"x402Version":1,"error":"X-PAYMENT header is required",
    "accepts":[{"scheme":"exact","network":"base-sepolia","maxAmountRequired":"1000",
    "resource":"https://api.example.com/v1","description":"","mimeType":"application/json",
    "payTo":"0x70997970C51812dc3A010C7d01b50e0d17dc79C8","maxTimeoutSeconds":60,
    "asset":"0x036CbD53842c5426634e7929541eC2318f3dCF7e","extra":{"name":"USDC","version":"2"}}]})";
  const std::vector<HeaderField> headers{{"Content-Type", "application/json"}};
  const auto parsed = parse_x402_challenge(headers, body, "https://api.example.com/v1");
  REQUIRE(parsed.challenge.has_value());
  const auto credential = encode_x402_credential(*parsed.challenge, 0, kPayload);
  CHECK(credential.header_name == "X-PAYMENT");
  const auto decoded = decode_x402_credential(credential.header_value);
  REQUIRE(decoded.has_value());
  CHECK(*decoded == json{{"x402Version", 1},
                         {"scheme", "exact"},
                         {"network", "base-sepolia"},
                         {"payload", kPayload}});
}

TEST_CASE("a credential header is standard base64 with padding") {
  const auto challenge = parse_header(kV2Required);
  // Try a few payloads so that both the padded and the '+'/'/' cases come up.
  bool saw_padding = false;
  for (int i = 0; i < 6; ++i) {
    json payload = kPayload;
    payload["pad"] = std::string(static_cast<std::size_t>(i), '?');
    const auto value = encode_x402_credential(challenge, 0, payload).header_value;
    CHECK(value.size() % 4 == 0);
    CHECK(value.find_first_of("-_ \r\n") == std::string::npos);
    saw_padding = saw_padding || value.back() == '=';
    const auto decoded = base64_decode(value);
    REQUIRE(decoded.has_value());
    CHECK(json::parse(*decoded)["payload"] == payload);
  }
  CHECK(saw_padding);
}

TEST_CASE("an index outside accepts gives an empty credential rather than throwing") {
  const auto challenge = parse_header(kV2Required);
  const auto credential = encode_x402_credential(challenge, 2, kPayload);
  CHECK(credential.header_name.empty());
  CHECK(credential.header_value.empty());
}

TEST_CASE("decoding a credential refuses what is not standard base64 of a JSON object") {
  CHECK_FALSE(decode_x402_credential("").has_value());
  CHECK_FALSE(decode_x402_credential("e30").has_value());  // "{}" without padding
  CHECK(decode_x402_credential("e30=").has_value());
  CHECK_FALSE(decode_x402_credential(base64_encode(std::string("[1,2]"))).has_value());
  CHECK_FALSE(decode_x402_credential(base64_encode(std::string("{\"a\":"))).has_value());
  CHECK_FALSE(decode_x402_credential("e30=\n").has_value());
}
