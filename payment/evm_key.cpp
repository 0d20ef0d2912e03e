#include "flow/payment/evm_key.hpp"

#include "flow/payment/ascii.hpp"

#include <cstring>
#include <stdexcept>

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <secp256k1.h>
#include <secp256k1_recovery.h>

#include "flow/payment/keccak.hpp"

namespace flow::payment {
namespace {

// One context for the process. Signing and recovery only read it, so threads may share it once
// it exists; randomizing it once at creation blinds the signing computations against side
// channels. A function-local static makes the creation itself thread-safe.
const secp256k1_context* context() {
  static const secp256k1_context* const ctx = [] {
    secp256k1_context* c = secp256k1_context_create(SECP256K1_CONTEXT_NONE);
    unsigned char seed[32];
    // Blinding is defence in depth: without it the context still signs correctly, so a failed
    // CSPRNG or randomization is no reason to refuse to sign.
    const bool blinded =
        RAND_bytes(seed, sizeof seed) == 1 && secp256k1_context_randomize(c, seed) == 1;
    static_cast<void>(blinded);
    OPENSSL_cleanse(seed, sizeof seed);
    return c;
  }();
  return ctx;
}

// The last 20 bytes of keccak(X ‖ Y), the uncompressed public key without its 0x04 tag.
EvmAddress address_of(const secp256k1_pubkey& pubkey) {
  unsigned char serialized[65];
  std::size_t len = sizeof serialized;
  secp256k1_ec_pubkey_serialize(context(), serialized, &len, &pubkey, SECP256K1_EC_UNCOMPRESSED);
  const auto hash = keccak256(std::span<const std::uint8_t>(serialized + 1, 64));
  EvmAddress address{};
  std::memcpy(address.data(), hash.data() + 12, address.size());
  return address;
}

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

}  // namespace

std::optional<EvmKey> EvmKey::from_bytes(std::span<const std::uint8_t> secret32) {
  if (secret32.size() != 32) return std::nullopt;
  // Refuses zero and anything at or above the curve order.
  if (secp256k1_ec_seckey_verify(context(), secret32.data()) != 1) return std::nullopt;
  secp256k1_pubkey pubkey;
  if (secp256k1_ec_pubkey_create(context(), &pubkey, secret32.data()) != 1) return std::nullopt;
  EvmKey key;
  std::memcpy(key.secret_.data(), secret32.data(), 32);
  key.address_ = address_of(pubkey);
  return key;
}

std::optional<EvmKey> EvmKey::from_hex(std::string_view text) {
  while (!text.empty() && is_space(text.front())) text.remove_prefix(1);
  while (!text.empty() && is_space(text.back())) text.remove_suffix(1);
  if (text.size() == 66 && text[0] == '0' && (text[1] == 'x' || text[1] == 'X')) {
    text.remove_prefix(2);
  }
  if (text.size() != 64) return std::nullopt;
  // Decoded into a fixed buffer that is wiped afterwards, not a vector that may leave copies.
  std::array<std::uint8_t, 32> secret{};
  bool ok = true;
  for (std::size_t i = 0; i < 32; ++i) {
    const int hi = hex_digit_value(text[2 * i]);
    const int lo = hex_digit_value(text[2 * i + 1]);
    ok = ok && hi >= 0 && lo >= 0;
    secret[i] = static_cast<std::uint8_t>((hi << 4 | lo) & 0xff);
  }
  std::optional<EvmKey> key = ok ? from_bytes(secret) : std::nullopt;
  OPENSSL_cleanse(secret.data(), secret.size());
  return key;
}

EvmKey EvmKey::generate() {
  std::array<std::uint8_t, 32> secret{};
  // A random 32 bytes is a valid scalar with overwhelming probability; the loop covers the rest.
  for (int attempt = 0; attempt < 16; ++attempt) {
    if (RAND_bytes(secret.data(), static_cast<int>(secret.size())) != 1) break;
    auto key = from_bytes(secret);
    OPENSSL_cleanse(secret.data(), secret.size());
    if (key) return std::move(*key);
  }
  OPENSSL_cleanse(secret.data(), secret.size());
  // Only keygen calls this, at start-up: an exception is the house rule there.
  throw std::runtime_error("the system random number generator failed; no key was generated");
}

EvmKey::EvmKey(EvmKey&& other) noexcept : secret_(other.secret_), address_(other.address_) {
  OPENSSL_cleanse(other.secret_.data(), other.secret_.size());
}

EvmKey& EvmKey::operator=(EvmKey&& other) noexcept {
  if (this != &other) {
    secret_ = other.secret_;
    address_ = other.address_;
    OPENSSL_cleanse(other.secret_.data(), other.secret_.size());
  }
  return *this;
}

EvmKey::~EvmKey() {
  OPENSSL_cleanse(secret_.data(), secret_.size());
}

Signature65 EvmKey::sign_digest(const Hash32& digest) const {
  Signature65 out{};
  secp256k1_ecdsa_recoverable_signature sig;
  // A null nonce function selects RFC 6979, so the same digest always gives the same signature;
  // libsecp256k1 only produces low-s signatures. Fails only for a moved-from (zeroed) key, which
  // then yields an all-zero signature that no verifier accepts.
  if (secp256k1_ecdsa_sign_recoverable(context(), &sig, digest.data(), secret_.data(), nullptr,
                                       nullptr) != 1) {
    return out;
  }
  int recid = 0;
  secp256k1_ecdsa_recoverable_signature_serialize_compact(context(), out.data(), &recid, &sig);
  out[64] = static_cast<std::uint8_t>(27 + recid);
  return out;
}

std::string EvmKey::secret_hex_for_key_file() const {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out = "0x";
  out.reserve(66);
  for (std::uint8_t b : secret_) {
    out.push_back(kDigits[b >> 4]);
    out.push_back(kDigits[b & 0x0f]);
  }
  return out;
}

std::optional<EvmAddress> recover_signer(const Hash32& digest, const Signature65& signature) {
  const std::uint8_t v = signature[64];
  int recid = 0;
  if (v == 27 || v == 28) {
    recid = v - 27;
  } else if (v == 0 || v == 1) {
    recid = v;
  } else {
    return std::nullopt;
  }
  secp256k1_ecdsa_recoverable_signature sig;
  // Refuses r or s at or above the curve order.
  if (secp256k1_ecdsa_recoverable_signature_parse_compact(context(), &sig, signature.data(),
                                                          recid) != 1) {
    return std::nullopt;
  }
  // A high-s signature is the malleated twin of a valid one; EIP-2 and the token contracts
  // refuse it, so a payment carrying one would fail on chain.
  secp256k1_ecdsa_signature plain;
  secp256k1_ecdsa_recoverable_signature_convert(context(), &plain, &sig);
  secp256k1_ecdsa_signature normalized;
  if (secp256k1_ecdsa_signature_normalize(context(), &normalized, &plain) == 1) return std::nullopt;
  secp256k1_pubkey pubkey;
  if (secp256k1_ecdsa_recover(context(), &pubkey, &sig, digest.data()) != 1) return std::nullopt;
  return address_of(pubkey);
}

}  // namespace flow::payment
