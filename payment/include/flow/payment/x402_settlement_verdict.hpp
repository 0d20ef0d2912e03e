#pragma once
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "flow/payment/settlement_verdict.hpp"
#include "flow/payment/x402_settlement.hpp"

namespace flow::payment {

// One x402 error reason as facilitators and merchants send it (errorReason in the settlement
// evidence, or the `error` of a fresh challenge), with what it proves.
struct X402ErrorReason {
  std::string_view name;
  SettlementVerdict verdict;  // failed or unknown
  std::string_view stage;     // "verify" (checked before settlement) or "settle"
};

// Every reason this build knows: the x402 specification's list, the reference facilitators'
// EVM, Permit2, gas-sponsoring and SVM reasons, and `settlement_pending`. Only reasons checked
// before settlement that reject the payload, the signature or the balance are `failed`.
std::span<const X402ErrorReason> x402_error_reasons();

// The verdict a reason alone gives (compared case-insensitively), or nothing for a reason this
// build does not know, which callers treat as unknown.
std::optional<SettlementVerdict> x402_error_reason_verdict(std::string_view reason);

struct SettlementJudgement {
  SettlementVerdict verdict = SettlementVerdict::unknown;
  std::string reason;  // for failed and unknown: why, for the ledger and the agent
};

// Judges the merchant's answer to a paid request from its status, its settlement evidence
// (PAYMENT-RESPONSE / X-PAYMENT-RESPONSE) and, for a fresh 402 challenge without evidence, the
// challenge's `error`. Fails closed: only success:true below 400 settles, and only a 4xx refusal
// whose reason says nothing moved, with no transaction hash, fails.
SettlementJudgement judge_x402_settlement(int status, const SettlementParse& evidence,
                                          std::string_view challenge_error);

}  // namespace flow::payment
