#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "flow/payment/base64.hpp"
#include "flow/payment/x402_settlement.hpp"
#include "flow/payment/x402_settlement_verdict.hpp"

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

// --- the verdict on a paid request's answer ---

namespace {

SettlementParse evidence_of(const nlohmann::json& settlement) {
  return parse("PAYMENT-RESPONSE", encode_x402_settlement(settlement));
}

nlohmann::json refusal(std::string_view reason, std::string_view transaction = "") {
  return {{"success", false},
          {"errorReason", reason},
          {"transaction", transaction},
          {"network", "eip155:8453"}};
}

// What the x402 specification and the reference facilitators send, with the verdict each must
// give on a 402 refusal without a transaction hash.
struct ExpectedReason {
  const char* name;
  SettlementVerdict verdict;
};
constexpr SettlementVerdict F = SettlementVerdict::failed;
constexpr SettlementVerdict U = SettlementVerdict::unknown;
const ExpectedReason kExpected[] = {
    {"insufficient_funds", F},
    {"invalid_exact_evm_payload_authorization_valid_after", F},
    {"invalid_exact_evm_payload_authorization_valid_before", F},
    {"invalid_exact_evm_payload_authorization_value", F},
    {"invalid_exact_evm_payload_authorization_value_mismatch", F},
    {"invalid_exact_evm_payload_signature", F},
    {"invalid_exact_evm_payload_recipient_mismatch", F},
    {"invalid_network", F},
    {"invalid_payload", F},
    {"invalid_payment_requirements", F},
    {"invalid_scheme", F},
    {"unsupported_scheme", F},
    {"invalid_x402_version", F},
    {"invalid_payment", F},
    {"payment_expired", F},
    {"invalid_transaction_state", U},
    {"unexpected_verify_error", U},
    {"unexpected_settle_error", U},
    {"settle_exact_svm_block_height_exceeded", U},
    {"settle_exact_svm_transaction_confirmation_timed_out", U},
    {"invalid_exact_evm_signature", F},
    {"invalid_exact_evm_recipient_mismatch", F},
    {"invalid_exact_evm_authorization_value", F},
    {"invalid_exact_evm_insufficient_balance", F},
    {"invalid_exact_evm_transaction_simulation_failed", F},
    {"invalid_exact_evm_transaction_failed", U},
    {"invalid_exact_evm_nonce_already_used", U},
    {"permit2_allowance_required", F},
    {"permit2_insufficient_balance", F},
    {"invalid_permit2_signature", F},
    {"permit2_invalid_nonce", U},
    {"permit2_payment_too_early", U},
    {"erc20_approval_tx_failed", U},
    {"smart_wallet_deployment_failed", U},
    {"duplicate_settlement", U},
    {"post_settlement_transfer_not_confirmed", U},
    {"settlement_pending", U},
};

}  // namespace

TEST_CASE("every x402 error reason in the table is judged by its verdict on a 402 refusal") {
  CHECK(x402_error_reasons().size() > 100);
  for (const X402ErrorReason& reason : x402_error_reasons()) {
    CAPTURE(reason.name);
    REQUIRE((reason.verdict == SettlementVerdict::failed ||
             reason.verdict == SettlementVerdict::unknown));
    // Failed is given only to refusals checked before settlement.
    CHECK((reason.verdict == SettlementVerdict::failed) == (reason.stage == "verify"));
    CHECK(x402_error_reason_verdict(reason.name) == reason.verdict);
    const SettlementJudgement judged =
        judge_x402_settlement(402, evidence_of(refusal(reason.name)), "");
    CHECK(judged.verdict == reason.verdict);
    if (reason.verdict == SettlementVerdict::failed) CHECK(judged.reason == reason.name);
    // The same reason as a fresh challenge's error, without evidence, gives the same verdict.
    CHECK(judge_x402_settlement(402, SettlementParse{}, reason.name).verdict == reason.verdict);
    // With a transaction hash nothing is failed: something was broadcast.
    CHECK(judge_x402_settlement(402, evidence_of(refusal(reason.name, "0xfeed")), "").verdict ==
          SettlementVerdict::unknown);
    // A 2xx or a 5xx answer is never a refusal.
    for (int status : {200, 204, 500, 502, 504}) {
      CAPTURE(status);
      CHECK(judge_x402_settlement(status, evidence_of(refusal(reason.name)), "").verdict ==
            SettlementVerdict::unknown);
    }
  }
}

TEST_CASE("the reasons the specification and the reference facilitators name have fixed verdicts") {
  for (const auto& [name, verdict] : kExpected) {
    CAPTURE(name);
    CHECK(x402_error_reason_verdict(name) == verdict);
  }
  CHECK(x402_error_reason_verdict("INVALID_EXACT_EVM_PAYLOAD_SIGNATURE") ==
        SettlementVerdict::failed);
  CHECK(x402_error_reason_verdict("PERMIT2_ALLOWANCE_REQUIRED") == SettlementVerdict::failed);
  CHECK_FALSE(x402_error_reason_verdict("settlement_refused").has_value());
  CHECK_FALSE(x402_error_reason_verdict("").has_value());
}

TEST_CASE("no reason appears twice in the table") {
  const auto reasons = x402_error_reasons();
  for (std::size_t i = 0; i < reasons.size(); ++i) {
    for (std::size_t j = i + 1; j < reasons.size(); ++j) {
      CAPTURE(reasons[i].name);
      CHECK(reasons[i].name != reasons[j].name);
    }
  }
}

TEST_CASE("only success:true below 400 settles") {
  const nlohmann::json ok = {{"success", true}, {"transaction", "0xabc"}, {"network", "base"}};
  CHECK(judge_x402_settlement(200, evidence_of(ok), "").verdict == SettlementVerdict::settled);
  CHECK(judge_x402_settlement(204, evidence_of(ok), "").verdict == SettlementVerdict::settled);
  CHECK(judge_x402_settlement(402, evidence_of(ok), "").verdict == SettlementVerdict::unknown);
  CHECK(judge_x402_settlement(500, evidence_of(ok), "").verdict == SettlementVerdict::unknown);
}

TEST_CASE("a 200 with success:false is unknown: the content was delivered, the credential kept") {
  const auto judged = judge_x402_settlement(200, evidence_of({{"success", false}}), "");
  CHECK(judged.verdict == SettlementVerdict::unknown);
  CHECK(judged.reason.find("HTTP 200") != std::string::npos);
}

TEST_CASE("settlement_pending with a transaction hash is unknown whatever the status") {
  for (int status : {200, 402, 500}) {
    CAPTURE(status);
    const auto judged =
        judge_x402_settlement(status, evidence_of(refusal("settlement_pending", "0x1234abcd")), "");
    CHECK(judged.verdict == SettlementVerdict::unknown);
    CHECK(judged.reason.find("0x1234abcd") != std::string::npos);
  }
}

TEST_CASE("an unknown, missing or unreadable reason is unknown, never failed") {
  CHECK(judge_x402_settlement(402, evidence_of(refusal("settlement_refused")), "").verdict ==
        SettlementVerdict::unknown);
  CHECK(judge_x402_settlement(402, evidence_of({{"success", false}}), "").verdict ==
        SettlementVerdict::unknown);
  CHECK(judge_x402_settlement(402, SettlementParse{}, "Payment required").verdict ==
        SettlementVerdict::unknown);
  CHECK(judge_x402_settlement(402, SettlementParse{}, "").verdict == SettlementVerdict::unknown);
  SettlementParse unreadable;
  unreadable.present = true;
  unreadable.problem = "PAYMENT-RESPONSE: not standard base64";
  CHECK(judge_x402_settlement(402, unreadable, "insufficient_funds").verdict ==
        SettlementVerdict::unknown);
}

TEST_CASE("a merchant or facilitator error and a silent answer are unknown") {
  for (int status : {200, 500, 502, 503, 504}) {
    CAPTURE(status);
    CHECK(judge_x402_settlement(status, SettlementParse{}, "").verdict ==
          SettlementVerdict::unknown);
  }
  CHECK(judge_x402_settlement(502, SettlementParse{}, "invalid_exact_evm_payload_signature")
            .verdict == SettlementVerdict::unknown);
}

TEST_CASE("a 402 refusal whose reason proves nothing moved is failed with that reason") {
  const auto judged =
      judge_x402_settlement(402, evidence_of(refusal("invalid_exact_evm_payload_signature")), "");
  CHECK(judged.verdict == SettlementVerdict::failed);
  CHECK(judged.reason == "invalid_exact_evm_payload_signature");
  CHECK(
      judge_x402_settlement(412, evidence_of(refusal("permit2_allowance_required")), "").verdict ==
      SettlementVerdict::failed);
  CHECK(judge_x402_settlement(402, SettlementParse{}, "insufficient_funds").verdict ==
        SettlementVerdict::failed);
}
