#include "flow/payment/x402_payer.hpp"

#include <openssl/rand.h>
#include <openssl/sha.h>

#include <algorithm>
#include <cstdlib>

#include "flow/payment/hex.hpp"

namespace flow::payment {
namespace {

constexpr std::int64_t kValidAfterSkew = 600;
constexpr std::int64_t kDefaultTimeout = 300;

std::string sha256_hex(std::string_view data) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), digest);
  return to_hex(digest, false);
}

}  // namespace

std::optional<ExactEvmTerms> exact_evm_terms(const X402Requirement& r) {
  if (r.problem != OfferProblem::none || r.amount_error != AmountError::none) return std::nullopt;
  if (r.offer.scheme != "exact" || !r.chain_id) return std::nullopt;
  const auto asset = parse_evm_address(r.offer.asset);
  const auto pay_to = parse_evm_address(r.offer.pay_to);
  if (!asset || !pay_to) return std::nullopt;
  // The parser names these (OfferProblem); the signer refuses them too, whatever built `r`.
  if (r.offer.amount == 0 || *pay_to == EvmAddress{} || *pay_to == *asset) return std::nullopt;
  ExactEvmTerms terms;
  terms.method = r.permit2 ? EvmTransferMethod::permit2 : EvmTransferMethod::eip3009;
  terms.chain_id = *r.chain_id;
  terms.asset = *asset;
  terms.pay_to = *pay_to;
  terms.amount = r.offer.amount;
  terms.domain_name = r.domain_name;
  terms.domain_version = r.domain_version;
  if (terms.method == EvmTransferMethod::eip3009 &&
      (terms.domain_name.empty() || terms.domain_version.empty())) {
    return std::nullopt;
  }
  return terms;
}

std::int64_t validity_seconds(std::int64_t offered, std::int64_t max_validity) {
  const std::int64_t cap = max_validity > 0 ? max_validity : kDefaultMaxValiditySeconds;
  const std::int64_t asked = offered > 0 ? offered : kDefaultTimeout;
  return std::min(asked, cap);
}

ExactEvmNonce fresh_exact_evm_nonce(const X402Requirement& r, std::int64_t now,
                                    std::int64_t max_validity) {
  ExactEvmNonce n;
  if (RAND_bytes(n.nonce.data(), static_cast<int>(n.nonce.size())) != 1) {
    // Without randomness there is no safe nonce: a repeated nonce would be refused on chain at
    // best. This is not a data-path condition any caller can handle.
    std::abort();
  }
  // Only our clock sets the window: validAfter in the past (the facilitator's clock may lag), and
  // validBefore no later than max_validity ahead, however long the merchant asks for (a signed
  // authorization can be submitted by whoever holds it until then).
  n.valid_after = now > kValidAfterSkew ? now - kValidAfterSkew : 0;
  n.valid_before = now + validity_seconds(r.max_timeout_seconds, max_validity);
  return n;
}

std::string payment_identifier_for(const ExactEvmNonce& nonce) {
  return "pay_" + to_hex(nonce.nonce, false);
}

X402Payment pay_x402(const X402Challenge& challenge, std::size_t index, const EvmKey& key,
                     const ExactEvmNonce& nonce) {
  const X402Requirement& r = challenge.accepts.at(index);
  const ExactEvmTerms terms = *exact_evm_terms(r);
  const ExactEvmSigned signed_payload = sign_exact_evm(terms, nonce, key);
  X402Payment p;
  const std::string payment_id =
      advertises_payment_identifier(challenge) ? payment_identifier_for(nonce) : std::string();
  p.credential = encode_x402_credential(challenge, index, signed_payload.payload, payment_id);
  p.payer = evm_address_lower(key.address());
  p.credential_ref = encode_credential_ref(terms.method, nonce);
  p.credential_sha256 = sha256_hex(p.credential.header_value);
  return p;
}

}  // namespace flow::payment
