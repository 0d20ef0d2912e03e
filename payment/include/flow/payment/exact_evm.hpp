#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

#include <nlohmann/json.hpp>

#include "flow/payment/amount.hpp"
#include "flow/payment/evm_address.hpp"
#include "flow/payment/evm_key.hpp"

namespace flow::payment {

// Scheme "exact" on an EVM chain: what is signed, and how (EIP-3009 or Permit2).
enum class EvmTransferMethod { eip3009, permit2 };

// The Permit2 contract and the x402 Permit2 proxy (spender), as PROTOCOLS.md gives them.
inline constexpr std::string_view kPermit2Address = "0x000000000022D473030F116dDEE9F6B43aC78BA3";
inline constexpr std::string_view kX402Permit2Spender =
    "0x402085c248EeA27D92E8b30b2C58ed07f9E20001";

struct ExactEvmTerms {
  EvmTransferMethod method = EvmTransferMethod::eip3009;
  std::uint64_t chain_id = 0;
  EvmAddress asset{};          // token contract (EIP-712 verifyingContract for EIP-3009)
  EvmAddress pay_to{};         // `to`
  Atomic amount = 0;           // `value` / permitted.amount
  std::string domain_name;     // extra.name (EIP-3009 domain); unused for Permit2
  std::string domain_version;  // extra.version
};

// The parts of an authorization that are chosen by the payer rather than the merchant. Keeping
// them (the ledger's credential_ref) rebuilds the identical signature: same nonce, same bytes.
struct ExactEvmNonce {
  Hash32 nonce{};  // EIP-3009 bytes32 nonce, or the Permit2 uint256 nonce (big-endian)
  std::int64_t valid_after = 0;   // EIP-3009 validAfter / Permit2 witness.validAfter
  std::int64_t valid_before = 0;  // EIP-3009 validBefore / Permit2 deadline
};

// "<method>:<nonce hex>:<valid_after>:<valid_before>", e.g.
// "eip3009:0x01..01:1740000000:1740000300".
std::string encode_credential_ref(EvmTransferMethod method, const ExactEvmNonce& n);
std::optional<std::pair<EvmTransferMethod, ExactEvmNonce>> decode_credential_ref(
    std::string_view ref);

struct ExactEvmSigned {
  // x402 `payload`: {signature, authorization} or {signature, permit2Authorization}
  nlohmann::json payload;
  Hash32 digest{};  // the EIP-712 digest that was signed
};

// Signs the terms. Every number in the payload is a decimal string and every address 0x-hex,
// as the reference implementations send them (addresses EIP-55 checksummed, signature and
// EIP-3009 nonce lower-case hex; the Permit2 nonce is the decimal of the 32 nonce bytes read
// big-endian). A negative valid_after/valid_before is signed as 0.
ExactEvmSigned sign_exact_evm(const ExactEvmTerms& terms, const ExactEvmNonce& nonce,
                              const EvmKey& key);

// --- the merchant's side ---

// Reason strings follow the reference facilitator's (PROTOCOLS.md): invalid_exact_evm_signature,
// invalid_exact_evm_recipient_mismatch, invalid_exact_evm_authorization_value,
// invalid_exact_evm_payload_authorization_valid_before, ..._valid_after,
// invalid_exact_evm_payload (malformed JSON shape).
// Permit2 payloads are refused with the reference facilitator's Permit2 reasons instead:
// invalid_permit2_spender, invalid_permit2_recipient_mismatch, permit2_deadline_expired,
// permit2_not_yet_valid, permit2_amount_mismatch, permit2_token_mismatch,
// invalid_permit2_signature. A payload of the other method than terms.method is
// invalid_exact_evm_payload. Like the reference, a validBefore/deadline less than 6 s after `now`
// counts as expired (the transfer must still be mineable when settled).
struct ExactEvmVerified {
  EvmAddress payer{};
  ExactEvmNonce nonce;
  Atomic amount = 0;
};
using ExactEvmCheck = std::variant<ExactEvmVerified, std::string /*reason*/>;

// Checks a payload against what the merchant asked for: the recovered signer is `from`, the
// recipient and amount match, now is inside the validity window. Nonce reuse is the caller's
// business (it keeps the set of spent nonces).
ExactEvmCheck verify_exact_evm(const nlohmann::json& payload, const ExactEvmTerms& terms,
                               std::int64_t now);

}  // namespace flow::payment
