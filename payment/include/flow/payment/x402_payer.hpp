#pragma once
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "flow/payment/evm_key.hpp"
#include "flow/payment/exact_evm.hpp"
#include "flow/payment/x402_challenge.hpp"
#include "flow/payment/x402_credential.hpp"

namespace flow::payment {

// The x402 payer: turns the offer policy chose into the retry header. Pure: the caller brings
// the key, the clock and the nonce, so a retry with the same nonce rebuilds the same bytes.
struct X402Payment {
  X402Credential credential;
  std::string payer;              // lower-case hex address of the wallet
  std::string credential_ref;     // encode_credential_ref(): rebuilds this exact credential
  std::string credential_sha256;  // lower-case hex SHA-256 of the header value, for the ledger
};

// The signing terms of an offer, or nothing when this payer cannot sign it (any OfferProblem,
// a scheme other than exact, a network without an EVM chain id).
std::optional<ExactEvmTerms> exact_evm_terms(const X402Requirement& requirement);

// The longest validity window signed when the caller names none (payment.max_validity's default).
inline constexpr std::int64_t kDefaultMaxValiditySeconds = 600;

// How long an authorization for an offer asking `offered` seconds (maxTimeoutSeconds; 300 when
// 0 or absent) stays valid: never longer than `max_validity` (kDefaultMaxValiditySeconds when 0
// or negative).
std::int64_t validity_seconds(std::int64_t offered, std::int64_t max_validity);

// A fresh payer-chosen part: 32 random bytes of nonce, valid from 10 minutes ago (clock skew
// between us and the merchant's facilitator; never later than `now`, whatever the offer says)
// until now + validity_seconds(maxTimeoutSeconds, max_validity). EIP-3009 signs these as
// validAfter/validBefore, Permit2 as witness.validAfter/deadline.
ExactEvmNonce fresh_exact_evm_nonce(const X402Requirement& requirement, std::int64_t now,
                                    std::int64_t max_validity);

// Signs accepts[index] with `key`. The requirement must have exact_evm_terms.
// The `payment-identifier` id of a payment: "pay_" and the nonce in hex (68 characters). It is
// a function of the nonce alone, so a credential rebuilt from its credential_ref carries the
// same id, and the merchant recognises the resend as the payment it has seen.
std::string payment_identifier_for(const ExactEvmNonce& nonce);

// The merchant's advertised `payment-identifier` extension gets the nonce's id.
X402Payment pay_x402(const X402Challenge& challenge, std::size_t index, const EvmKey& key,
                     const ExactEvmNonce& nonce);

}  // namespace flow::payment
