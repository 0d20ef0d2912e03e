#include "flow/payment/x402_settlement_verdict.hpp"

#include "flow/payment/ascii.hpp"

#include <array>
#include <string>

namespace flow::payment {
namespace {

using V = SettlementVerdict;

// Checked before settlement: the facilitator refused the payload, the signature or the payer's
// balance, so no transaction was sent.
constexpr std::string_view kVerify = "verify";
// Reported by or after settlement (a transaction was attempted, broadcast, reverted or timed
// out), or an error that does not say where it happened: not evidence that nothing moved.
constexpr std::string_view kSettle = "settle";

constexpr X402ErrorReason refused(std::string_view name) {
  return {name, V::failed, kVerify};
}
constexpr X402ErrorReason maybe_moved(std::string_view name) {
  return {name, V::unknown, kSettle};
}

// Every reason, grouped by where it comes from. Keep each group's order as its source lists it.
constexpr auto kReasons = std::to_array<X402ErrorReason>({
    // The x402 specification (v1 and v2, "Error Handling").
    refused("insufficient_funds"),
    refused("invalid_exact_evm_payload_authorization_valid_after"),
    refused("invalid_exact_evm_payload_authorization_valid_before"),
    refused("invalid_exact_evm_payload_authorization_value"),
    refused("invalid_exact_evm_payload_authorization_value_mismatch"),
    refused("invalid_exact_evm_payload_signature"),
    refused("invalid_exact_evm_payload_recipient_mismatch"),
    refused("invalid_network"),
    refused("invalid_payload"),
    refused("invalid_payment_requirements"),
    refused("invalid_scheme"),
    refused("unsupported_scheme"),
    refused("invalid_x402_version"),
    refused("invalid_payment"),
    refused("payment_expired"),
    maybe_moved("invalid_transaction_state"),  // the transaction failed or was rejected
    maybe_moved("unexpected_verify_error"),    // the facilitator failed: no verdict
    maybe_moved("unexpected_settle_error"),
    // Legacy SVM reasons of the v1 schema.
    refused("invalid_exact_svm_payload_transaction"),
    refused("invalid_exact_svm_payload_transaction_amount_mismatch"),
    refused("invalid_exact_svm_payload_transaction_create_ata_instruction"),
    refused("invalid_exact_svm_payload_transaction_create_ata_instruction_incorrect_payee"),
    refused("invalid_exact_svm_payload_transaction_create_ata_instruction_incorrect_asset"),
    refused("invalid_exact_svm_payload_transaction_instructions"),
    refused("invalid_exact_svm_payload_transaction_instructions_length"),
    refused("invalid_exact_svm_payload_transaction_instructions_compute_limit_instruction"),
    refused("invalid_exact_svm_payload_transaction_instructions_compute_price_instruction"),
    refused(
        "invalid_exact_svm_payload_transaction_instructions_compute_price_instruction_too_high"),
    refused("invalid_exact_svm_payload_transaction_instruction_not_spl_token_transfer_checked"),
    refused("invalid_exact_svm_payload_transaction_instruction_not_token_2022_transfer_checked"),
    refused("invalid_exact_svm_payload_transaction_not_a_transfer_instruction"),
    refused("invalid_exact_svm_payload_transaction_receiver_ata_not_found"),
    refused("invalid_exact_svm_payload_transaction_sender_ata_not_found"),
    refused("invalid_exact_svm_payload_transaction_simulation_failed"),
    refused("invalid_exact_svm_payload_transaction_transfer_to_incorrect_ata"),
    maybe_moved("settle_exact_svm_block_height_exceeded"),
    maybe_moved("settle_exact_svm_transaction_confirmation_timed_out"),
    // The reference EVM facilitator (exact, EIP-3009).
    refused("asset_not_deployed_contract"),
    refused("invalid_exact_evm_scheme"),
    refused("invalid_exact_evm_network_mismatch"),
    refused("invalid_exact_evm_missing_eip712_domain"),
    refused("invalid_exact_evm_recipient_mismatch"),
    refused("invalid_exact_evm_signature"),
    refused("invalid_exact_evm_authorization_value"),
    refused("invalid_exact_evm_payload_undeployed_smart_wallet"),
    maybe_moved("invalid_exact_evm_transaction_failed"),  // sent and reverted
    refused("invalid_exact_evm_token_name_mismatch"),
    refused("invalid_exact_evm_token_version_mismatch"),
    refused("invalid_exact_evm_eip3009_not_supported"),
    // A spent nonce: this very authorization (ours are random) was already used.
    maybe_moved("invalid_exact_evm_nonce_already_used"),
    refused("invalid_exact_evm_insufficient_balance"),
    refused("invalid_exact_evm_transaction_simulation_failed"),
    // Permit2, checked before settlement.
    refused("invalid_permit2_spender"),
    refused("invalid_permit2_recipient_mismatch"),
    refused("permit2_deadline_expired"),
    refused("permit2_not_yet_valid"),
    refused("permit2_amount_mismatch"),
    refused("permit2_insufficient_amount"),
    refused("permit2_token_mismatch"),
    refused("invalid_permit2_signature"),
    refused("permit2_allowance_required"),
    refused("permit2_simulation_failed"),
    refused("permit2_insufficient_balance"),
    refused("permit2_proxy_not_deployed"),
    // Permit2, from contract reverts at settlement.
    maybe_moved("permit2_invalid_amount"),
    maybe_moved("permit2_invalid_destination"),
    maybe_moved("permit2_invalid_owner"),
    maybe_moved("permit2_payment_too_early"),
    maybe_moved("permit2_invalid_nonce"),
    maybe_moved("permit2_2612_amount_mismatch"),
    // ERC-20 approval gas sponsoring.
    refused("invalid_erc20_approval_extension_format"),
    refused("erc20_approval_from_mismatch"),
    refused("erc20_approval_asset_mismatch"),
    refused("erc20_approval_spender_not_permit2"),
    refused("erc20_approval_tx_wrong_target"),
    refused("erc20_approval_tx_wrong_selector"),
    refused("erc20_approval_tx_wrong_spender"),
    refused("erc20_approval_tx_invalid_calldata"),
    refused("erc20_approval_tx_signer_mismatch"),
    refused("erc20_approval_tx_invalid_signature"),
    refused("erc20_approval_tx_parse_failed"),
    maybe_moved("erc20_approval_tx_failed"),
    // EIP-2612 gas sponsoring.
    refused("invalid_eip2612_extension_format"),
    refused("eip2612_from_mismatch"),
    refused("eip2612_asset_mismatch"),
    refused("eip2612_spender_not_permit2"),
    refused("eip2612_deadline_expired"),
    // Shared by the reference facilitators at settlement.
    refused("unsupported_payload_type"),
    refused("eip6492_factory_not_allowed"),
    maybe_moved("smart_wallet_deployment_failed"),
    // The reference SVM facilitator, checked before settlement.
    refused("invalid_exact_svm_unsupported_scheme"),
    refused("invalid_exact_svm_network_mismatch"),
    refused("invalid_exact_svm_payload_missing_fee_payer"),
    refused("invalid_exact_svm_fee_payer_not_managed_by_facilitator"),
    refused("invalid_exact_svm_payload_transaction_could_not_be_decoded"),
    refused("invalid_exact_svm_payload_signature_invalid"),
    refused("invalid_exact_svm_payload_excessive_signers"),
    refused(
        "invalid_exact_svm_payload_transaction_instructions_compute_limit_instruction_too_high"),
    refused("invalid_exact_svm_payload_unknown_fourth_instruction"),
    refused("invalid_exact_svm_payload_unknown_fifth_instruction"),
    refused("invalid_exact_svm_payload_unknown_sixth_instruction"),
    refused("invalid_exact_svm_payload_unknown_seventh_instruction"),
    refused("invalid_exact_svm_payload_unknown_optional_instruction"),
    refused("invalid_exact_svm_payload_no_transfer_instruction"),
    refused("invalid_exact_svm_payload_transaction_fee_payer_transferring_funds"),
    refused("invalid_exact_svm_payload_mint_mismatch"),
    refused("invalid_exact_svm_payload_recipient_mismatch"),
    refused("invalid_exact_svm_payload_amount_mismatch"),
    refused("invalid_exact_svm_invalid_fee_payer"),
    refused("invalid_exact_svm_transaction_signing_failed"),
    refused("invalid_exact_svm_transaction_simulation_failed"),
    refused("invalid_exact_svm_payload_memo_mismatch"),
    refused("invalid_exact_svm_payload_memo_count"),
    refused("invalid_exact_svm_smart_wallet_fee_payer_not_isolated"),
    refused("invalid_exact_svm_smart_wallet_malformed_compute_budget"),
    refused("invalid_exact_svm_smart_wallet_malformed_compute_limit"),
    refused("invalid_exact_svm_smart_wallet_malformed_compute_price"),
    refused("invalid_exact_svm_smart_wallet_compute_units_too_high"),
    refused("invalid_exact_svm_smart_wallet_priority_fee_too_high"),
    refused("invalid_exact_svm_smart_wallet_unsupported_compute_budget_instruction"),
    refused("invalid_exact_svm_smart_wallet_alt_resolution_not_available"),
    refused("invalid_exact_svm_smart_wallet_alt_resolution_failed"),
    refused("invalid_exact_svm_smart_wallet_verification_not_available"),
    refused("invalid_exact_svm_smart_wallet_compute_budget_violation"),
    refused("invalid_exact_svm_smart_wallet_simulation_failed"),
    refused("invalid_exact_svm_smart_wallet_cannot_derive_destination_ata"),
    refused("invalid_exact_svm_smart_wallet_no_transfer_in_simulation"),
    refused("invalid_exact_svm_smart_wallet_transfer_mismatch"),
    refused("invalid_exact_svm_smart_wallet_multiple_matching_transfers"),
    refused("invalid_exact_svm_smart_wallet_program_not_allowed"),
    // The reference SVM facilitator at settlement.
    maybe_moved("invalid_exact_svm_verification_failed"),
    maybe_moved("invalid_exact_svm_fee_payer_mismatch"),
    maybe_moved("invalid_exact_svm_transaction_failed"),
    maybe_moved("duplicate_settlement"),  // settled already
    maybe_moved("post_settlement_transfer_not_confirmed"),
    // Broadcast, not confirmed (sent with the transaction hash, sometimes with HTTP 500).
    maybe_moved("settlement_pending"),
});

SettlementJudgement unknown(std::string reason) {
  return {SettlementVerdict::unknown, std::move(reason)};
}

std::string reason_text(std::string_view reason) {
  return reason.empty() ? std::string("no reason") : "'" + std::string(reason) + "'";
}

// A refusal (success:false, or a fresh challenge) on a 4xx answer: failed only for a reason
// that proves nothing moved.
SettlementJudgement judge_refusal(std::string_view reason, std::string_view source) {
  if (x402_error_reason_verdict(reason) == SettlementVerdict::failed) {
    return {SettlementVerdict::failed, std::string(reason)};
  }
  const bool known = x402_error_reason_verdict(reason).has_value();
  return unknown(
      std::string(source) + " refused the payment with " + reason_text(reason) + ", " +
      (known ? "a reason given at or after settlement" : "which does not say that nothing moved"));
}

SettlementJudgement judge_evidence(int status, const X402Settlement& s) {
  if (s.success) {
    if (status < 400) return {SettlementVerdict::settled, {}};
    return unknown("the settlement evidence says success but the merchant answered HTTP " +
                   std::to_string(status));
  }
  if (!s.transaction.empty()) {
    return unknown("the merchant reports transaction " + s.transaction + " without success (" +
                   reason_text(s.error_reason) + "): broadcast, not confirmed");
  }
  if (status < 400) {
    return unknown("the merchant answered HTTP " + std::to_string(status) +
                   " with success:false (" + reason_text(s.error_reason) +
                   "); the content was delivered and the signed authorization kept");
  }
  if (status >= 500) {
    return unknown("the merchant answered HTTP " + std::to_string(status) + " (" +
                   reason_text(s.error_reason) + "): settlement may have happened");
  }
  return judge_refusal(s.error_reason, "the merchant");
}

}  // namespace

std::string_view settlement_verdict_name(SettlementVerdict verdict) {
  switch (verdict) {
    case SettlementVerdict::settled:
      return "settled";
    case SettlementVerdict::failed:
      return "failed";
    case SettlementVerdict::unknown:
      return "unknown";
  }
  return "unknown";
}

std::span<const X402ErrorReason> x402_error_reasons() {
  return kReasons;
}

std::optional<SettlementVerdict> x402_error_reason_verdict(std::string_view reason) {
  for (const auto& r : kReasons) {
    if (iequals(r.name, reason)) return r.verdict;
  }
  return std::nullopt;
}

SettlementJudgement judge_x402_settlement(int status, const SettlementParse& evidence,
                                          std::string_view challenge_error) {
  if (evidence.settlement) return judge_evidence(status, *evidence.settlement);
  if (evidence.present) return unknown("unreadable settlement evidence: " + evidence.problem);
  if (status >= 400 && status < 500 && !challenge_error.empty()) {
    return judge_refusal(challenge_error, "the merchant's new challenge");
  }
  if (status == 402) {
    return unknown("the merchant answered the paid request with another 402 without saying why");
  }
  return unknown("no settlement evidence in the merchant's answer (HTTP " + std::to_string(status) +
                 ")");
}

}  // namespace flow::payment
