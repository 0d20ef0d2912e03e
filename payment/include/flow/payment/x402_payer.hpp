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

// A fresh payer-chosen part: 32 random bytes of nonce, valid from 10 minutes ago (clock skew
// between us and the merchant's facilitator) until now + maxTimeoutSeconds (300 s when the
// offer states none).
ExactEvmNonce fresh_exact_evm_nonce(const X402Requirement& requirement, std::int64_t now);

// Signs accepts[index] with `key`. The requirement must have exact_evm_terms.
X402Payment pay_x402(const X402Challenge& challenge, std::size_t index, const EvmKey& key,
                     const ExactEvmNonce& nonce);

}  // namespace flow::payment
