#pragma once
#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "flow/payment/evm_address.hpp"

namespace flow::payment {

using Hash32 = std::array<std::uint8_t, 32>;
// r ‖ s ‖ v, v = 27 or 28 (the form x402 and EIP-3009 contracts expect).
using Signature65 = std::array<std::uint8_t, 65>;

// A secp256k1 private key for EVM payments. The secret never leaves this object except through
// signatures: no accessor returns it, the memory is wiped on destruction, and there is no
// operator<< or to_string. Move-only.
class EvmKey {
 public:
  // A valid scalar (non-zero, below the curve order), or nothing.
  static std::optional<EvmKey> from_bytes(std::span<const std::uint8_t> secret32);
  // "0x" + 64 hex digits (or 64 hex digits), surrounding whitespace ignored.
  static std::optional<EvmKey> from_hex(std::string_view text);
  // A fresh key from the operating system's CSPRNG.
  static EvmKey generate();

  EvmKey(EvmKey&& other) noexcept;
  EvmKey& operator=(EvmKey&& other) noexcept;
  EvmKey(const EvmKey&) = delete;
  EvmKey& operator=(const EvmKey&) = delete;
  ~EvmKey();

  const EvmAddress& address() const { return address_; }
  // ECDSA over a 32-byte digest: RFC 6979 deterministic nonce, low-s, v = 27 + recovery id.
  // Signing the same digest twice gives the same bytes (a retried credential is identical).
  Signature65 sign_digest(const Hash32& digest) const;
  // "0x" + 64 lower-case hex digits: only for writing a new key file (keygen).
  std::string secret_hex_for_key_file() const;

 private:
  EvmKey() = default;
  std::array<std::uint8_t, 32> secret_{};
  EvmAddress address_{};
};

// The address that signed `digest`, or nothing for a malformed signature (v not 27/28 or 0/1,
// r or s out of range, high s refused).
std::optional<EvmAddress> recover_signer(const Hash32& digest, const Signature65& signature);

}  // namespace flow::payment
