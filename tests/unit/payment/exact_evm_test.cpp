#include <doctest/doctest.h>

#include <string>

#include "flow/payment/eip712.hpp"
#include "flow/payment/exact_evm.hpp"
#include "flow/payment/hex.hpp"

using namespace flow::payment;
using nlohmann::json;

namespace {

constexpr std::string_view kDevKey =
    "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";
constexpr std::int64_t kInsideWindow = 1740000100;

EvmAddress addr(std::string_view text) {
  const auto a = parse_evm_address(text);
  REQUIRE(a.has_value());
  return *a;
}

EvmKey dev_key() {
  auto key = EvmKey::from_hex(kDevKey);
  REQUIRE(key.has_value());
  return std::move(*key);
}

ExactEvmTerms sepolia_terms(EvmTransferMethod method = EvmTransferMethod::eip3009) {
  ExactEvmTerms t;
  t.method = method;
  t.chain_id = 84532;
  t.asset = addr("0x036CbD53842c5426634e7929541eC2318f3dCF7e");
  t.pay_to = addr("0x70997970C51812dc3A010C7d01b50e0d17dc79C8");
  t.amount = 10000;
  t.domain_name = "USDC";
  t.domain_version = "2";
  return t;
}

ExactEvmNonce vector_nonce() {
  ExactEvmNonce n;
  n.nonce.fill(0x01);
  n.valid_after = 1740000000;
  n.valid_before = 1740000300;
  return n;
}

std::string reason(const ExactEvmCheck& check) {
  const auto* r = std::get_if<std::string>(&check);
  return r == nullptr ? "accepted" : *r;
}

// The same signature with one bit of s flipped.
std::string tampered(const std::string& sig) {
  auto bytes = from_hex(sig);
  REQUIRE(bytes.has_value());
  REQUIRE(bytes->size() == 65);
  (*bytes)[40] ^= 0x01;
  return to_hex(*bytes);
}

}  // namespace

TEST_CASE("an EIP-3009 payload has the reference shape, decimal strings and the vector signature") {
  const EvmKey key = dev_key();
  const ExactEvmSigned signed_payload = sign_exact_evm(sepolia_terms(), vector_nonce(), key);
  const json expected = {
      {"signature",
       "0x8b4b5b0522bb74b73e535242f8377baff3750690b35ce42b093f16a354b3c810651454a5b2542a9c3611364e"
       "9653b77b728021f03c6042b1a48ef1f0ffbabc241b"},
      {"authorization",
       {{"from", "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"},
        {"to", "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"},
        {"value", "10000"},
        {"validAfter", "1740000000"},
        {"validBefore", "1740000300"},
        {"nonce", "0x0101010101010101010101010101010101010101010101010101010101010101"}}}};
  CHECK(signed_payload.payload == expected);
  CHECK(to_hex(signed_payload.digest) ==
        "0x9fe080755b322a62d1a4f35186be0bf496683ba2504026c63f1ebc8761c447d8");
  // Every number is a string, never a JSON number.
  for (const auto& [field, value] : signed_payload.payload["authorization"].items()) {
    CAPTURE(field);
    CHECK(value.is_string());
  }
}

TEST_CASE("a Permit2 payload has the reference shape with a decimal uint256 nonce") {
  const EvmKey key = dev_key();
  const ExactEvmSigned signed_payload =
      sign_exact_evm(sepolia_terms(EvmTransferMethod::permit2), vector_nonce(), key);
  const json expected = {
      {"signature",
       "0xb0df5e7a114cdae990cae785d1c3de73f022ea4a50103043bfd105d97719928a5c83fcebaa3a97eebf299076"
       "4c9417ee6bfa01a0e1e4f164000bf0bd4a44a47a1c"},
      {"permit2Authorization",
       {{"from", "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"},
        {"permitted",
         {{"token", "0x036CbD53842c5426634e7929541eC2318f3dCF7e"}, {"amount", "10000"}}},
        {"spender", "0x402085c248EeA27D92E8b30b2C58ed07f9E20001"},
        {"nonce", "454086624460063511464984254936031011189294057512315937409637584344757371137"},
        {"deadline", "1740000300"},
        {"witness",
         {{"to", "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"}, {"validAfter", "1740000000"}}}}}};
  CHECK(signed_payload.payload == expected);
  CHECK(to_hex(signed_payload.digest) ==
        "0x47d2f3eed834f8bc898cd478e909721538d41f7a348c2b114116391de874a58d");
}

TEST_CASE("the same nonce gives byte-identical payloads, a new nonce a different one") {
  const EvmKey key = dev_key();
  for (auto method : {EvmTransferMethod::eip3009, EvmTransferMethod::permit2}) {
    const auto a = sign_exact_evm(sepolia_terms(method), vector_nonce(), key);
    const auto b = sign_exact_evm(sepolia_terms(method), vector_nonce(), key);
    CHECK(a.payload.dump() == b.payload.dump());
    ExactEvmNonce other = vector_nonce();
    other.nonce[31] = 0x02;
    CHECK(sign_exact_evm(sepolia_terms(method), other, key).payload.dump() != a.payload.dump());
  }
}

TEST_CASE("the pinned Permit2 addresses are valid checksummed addresses") {
  const auto permit2 = parse_evm_address(kPermit2Address);
  const auto spender = parse_evm_address(kX402Permit2Spender);
  REQUIRE(permit2.has_value());
  REQUIRE(spender.has_value());
  CHECK(evm_address_checksummed(*permit2) == kPermit2Address);
  CHECK(evm_address_checksummed(*spender) == kX402Permit2Spender);
}

TEST_CASE("verify accepts a good EIP-3009 payload and reports payer, nonce and amount") {
  const EvmKey key = dev_key();
  const auto s = sign_exact_evm(sepolia_terms(), vector_nonce(), key);
  const auto check = verify_exact_evm(s.payload, sepolia_terms(), kInsideWindow);
  const auto* ok = std::get_if<ExactEvmVerified>(&check);
  REQUIRE_MESSAGE(ok != nullptr, reason(check));
  CHECK(ok->payer == key.address());
  CHECK(ok->nonce.nonce == vector_nonce().nonce);
  CHECK(ok->nonce.valid_after == 1740000000);
  CHECK(ok->nonce.valid_before == 1740000300);
  CHECK(ok->amount == Atomic{10000});
}

TEST_CASE("verify names the first failing EIP-3009 check with the reference reason string") {
  const EvmKey key = dev_key();
  const json payload = sign_exact_evm(sepolia_terms(), vector_nonce(), key).payload;

  ExactEvmTerms wrong_pay_to = sepolia_terms();
  wrong_pay_to.pay_to = addr("0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC");
  CHECK(reason(verify_exact_evm(payload, wrong_pay_to, kInsideWindow)) ==
        "invalid_exact_evm_recipient_mismatch");

  ExactEvmTerms wrong_amount = sepolia_terms();
  wrong_amount.amount = 10001;
  CHECK(reason(verify_exact_evm(payload, wrong_amount, kInsideWindow)) ==
        "invalid_exact_evm_authorization_value");

  CHECK(reason(verify_exact_evm(payload, sepolia_terms(), 1740000301)) ==
        "invalid_exact_evm_payload_authorization_valid_before");
  // Within the settlement margin before validBefore is already too late.
  CHECK(reason(verify_exact_evm(payload, sepolia_terms(), 1740000296)) ==
        "invalid_exact_evm_payload_authorization_valid_before");
  CHECK(reason(verify_exact_evm(payload, sepolia_terms(), 1739999999)) ==
        "invalid_exact_evm_payload_authorization_valid_after");

  json bad_sig = payload;
  bad_sig["signature"] = tampered(payload["signature"].get<std::string>());
  CHECK(reason(verify_exact_evm(bad_sig, sepolia_terms(), kInsideWindow)) ==
        "invalid_exact_evm_signature");

  // A field changed after signing no longer matches the signature.
  json tampered_value = payload;
  tampered_value["authorization"]["value"] = "9999";
  CHECK(reason(verify_exact_evm(tampered_value, sepolia_terms(), kInsideWindow)) ==
        "invalid_exact_evm_signature");

  // Signed for another token contract (the domain's verifyingContract).
  ExactEvmTerms other_asset = sepolia_terms();
  other_asset.asset = addr("0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913");
  CHECK(reason(verify_exact_evm(payload, other_asset, kInsideWindow)) ==
        "invalid_exact_evm_signature");

  json short_sig = payload;
  short_sig["signature"] = "0x1234";
  CHECK(reason(verify_exact_evm(short_sig, sepolia_terms(), kInsideWindow)) ==
        "invalid_exact_evm_signature");
}

TEST_CASE("verify refuses malformed EIP-3009 payloads as invalid_exact_evm_payload") {
  const EvmKey key = dev_key();
  const json payload = sign_exact_evm(sepolia_terms(), vector_nonce(), key).payload;
  const auto bad = [&](json p) {
    return reason(verify_exact_evm(p, sepolia_terms(), kInsideWindow));
  };

  json no_auth = payload;
  no_auth.erase("authorization");
  CHECK(bad(no_auth) == "invalid_exact_evm_payload");
  json no_sig = payload;
  no_sig.erase("signature");
  CHECK(bad(no_sig) == "invalid_exact_evm_payload");
  json value_not_decimal = payload;
  value_not_decimal["authorization"]["value"] = "0x2710";
  CHECK(bad(value_not_decimal) == "invalid_exact_evm_payload");
  json bad_checksum = payload;
  bad_checksum["authorization"]["to"] = "0x70997970c51812dc3A010C7d01b50e0d17dc79C8";
  CHECK(bad(bad_checksum) == "invalid_exact_evm_payload");
  json short_nonce = payload;
  short_nonce["authorization"]["nonce"] = "0x0101";
  CHECK(bad(short_nonce) == "invalid_exact_evm_payload");
  CHECK(bad(json::array()) == "invalid_exact_evm_payload");
  CHECK(bad(json("text")) == "invalid_exact_evm_payload");
  // A Permit2 payload against an EIP-3009 offer.
  CHECK(
      bad(sign_exact_evm(sepolia_terms(EvmTransferMethod::permit2), vector_nonce(), key).payload) ==
      "invalid_exact_evm_payload");
}

TEST_CASE("verify accepts lower-case addresses, since only mixed case carries a checksum") {
  const EvmKey key = dev_key();
  json payload = sign_exact_evm(sepolia_terms(), vector_nonce(), key).payload;
  payload["authorization"]["to"] = "0x70997970c51812dc3a010c7d01b50e0d17dc79c8";
  CHECK(reason(verify_exact_evm(payload, sepolia_terms(), kInsideWindow)) == "accepted");
}

TEST_CASE("verify accepts a good Permit2 payload and refuses bad ones with Permit2 reasons") {
  const EvmKey key = dev_key();
  const ExactEvmTerms terms = sepolia_terms(EvmTransferMethod::permit2);
  const json payload = sign_exact_evm(terms, vector_nonce(), key).payload;

  const auto check = verify_exact_evm(payload, terms, kInsideWindow);
  const auto* ok = std::get_if<ExactEvmVerified>(&check);
  REQUIRE_MESSAGE(ok != nullptr, reason(check));
  CHECK(ok->payer == key.address());
  CHECK(ok->nonce.nonce == vector_nonce().nonce);
  CHECK(ok->nonce.valid_before == 1740000300);

  ExactEvmTerms wrong_pay_to = terms;
  wrong_pay_to.pay_to = addr("0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC");
  CHECK(reason(verify_exact_evm(payload, wrong_pay_to, kInsideWindow)) ==
        "invalid_permit2_recipient_mismatch");
  ExactEvmTerms wrong_amount = terms;
  wrong_amount.amount = 1;
  CHECK(reason(verify_exact_evm(payload, wrong_amount, kInsideWindow)) ==
        "permit2_amount_mismatch");
  ExactEvmTerms wrong_token = terms;
  wrong_token.asset = addr("0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913");
  CHECK(reason(verify_exact_evm(payload, wrong_token, kInsideWindow)) == "permit2_token_mismatch");
  CHECK(reason(verify_exact_evm(payload, terms, 1740000301)) == "permit2_deadline_expired");
  CHECK(reason(verify_exact_evm(payload, terms, 1739999999)) == "permit2_not_yet_valid");

  json other_spender = payload;
  other_spender["permit2Authorization"]["spender"] = "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC";
  CHECK(reason(verify_exact_evm(other_spender, terms, kInsideWindow)) == "invalid_permit2_spender");

  json bad_sig = payload;
  bad_sig["signature"] = tampered(payload["signature"].get<std::string>());
  CHECK(reason(verify_exact_evm(bad_sig, terms, kInsideWindow)) == "invalid_permit2_signature");

  json other_nonce = payload;
  other_nonce["permit2Authorization"]["nonce"] = "1";
  CHECK(reason(verify_exact_evm(other_nonce, terms, kInsideWindow)) == "invalid_permit2_signature");

  json no_witness = payload;
  no_witness["permit2Authorization"].erase("witness");
  CHECK(reason(verify_exact_evm(no_witness, terms, kInsideWindow)) == "invalid_exact_evm_payload");
}

TEST_CASE("credential refs round-trip and rebuild the identical signature") {
  const EvmKey key = dev_key();
  const ExactEvmNonce n = vector_nonce();
  const std::string ref = encode_credential_ref(EvmTransferMethod::eip3009, n);
  CHECK(ref ==
        "eip3009:0x0101010101010101010101010101010101010101010101010101010101010101:1740000000:"
        "1740000300");
  const auto decoded = decode_credential_ref(ref);
  REQUIRE(decoded.has_value());
  CHECK(decoded->first == EvmTransferMethod::eip3009);
  CHECK(decoded->second.nonce == n.nonce);
  CHECK(decoded->second.valid_after == n.valid_after);
  CHECK(decoded->second.valid_before == n.valid_before);
  CHECK(sign_exact_evm(sepolia_terms(), decoded->second, key).payload ==
        sign_exact_evm(sepolia_terms(), n, key).payload);

  const auto permit2 = decode_credential_ref(encode_credential_ref(EvmTransferMethod::permit2, n));
  REQUIRE(permit2.has_value());
  CHECK(permit2->first == EvmTransferMethod::permit2);
}

TEST_CASE("malformed credential refs are refused") {
  const std::string nonce = "0x" + std::string(64, '1');
  CHECK_FALSE(decode_credential_ref("").has_value());
  CHECK_FALSE(decode_credential_ref("eip3009:" + nonce + ":1").has_value());
  CHECK_FALSE(decode_credential_ref("eip2612:" + nonce + ":1:2").has_value());
  CHECK_FALSE(decode_credential_ref("eip3009:" + nonce.substr(0, 64) + ":1:2").has_value());
  CHECK_FALSE(decode_credential_ref("eip3009:" + std::string(66, '1') + ":1:2").has_value());
  CHECK_FALSE(decode_credential_ref("eip3009:" + nonce + ":1x:2").has_value());
  CHECK_FALSE(decode_credential_ref("eip3009:" + nonce + ":1:2:3").has_value());
  CHECK_FALSE(decode_credential_ref("eip3009:" + nonce + "::2").has_value());
}
