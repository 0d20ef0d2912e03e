#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "flow/payment/amount.hpp"
#include "flow/payment/evm_address.hpp"
#include "flow/payment/keccak.hpp"

namespace flow::payment {

// EIP-712 typed-data hashing for the two ways x402 "exact" moves an EVM token: EIP-3009
// TransferWithAuthorization on the token itself, and Uniswap Permit2's PermitWitnessTransferFrom
// with the x402 proxy's Witness. Pure functions; every word is 32 bytes, big-endian.

// The encoded type strings, exactly as the token and Permit2 contracts hash them. Permit2's
// referenced structs follow the primary type in alphabetical order (EIP-712 encodeType).
inline constexpr std::string_view kEip712DomainType =
    "EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)";
inline constexpr std::string_view kPermit2DomainType =
    "EIP712Domain(string name,uint256 chainId,address verifyingContract)";
inline constexpr std::string_view kTransferWithAuthorizationType =
    "TransferWithAuthorization(address from,address to,uint256 value,uint256 validAfter,"
    "uint256 validBefore,bytes32 nonce)";
inline constexpr std::string_view kTokenPermissionsType =
    "TokenPermissions(address token,uint256 amount)";
inline constexpr std::string_view kWitnessType = "Witness(address to,uint256 validAfter)";
inline constexpr std::string_view kPermitWitnessTransferFromType =
    "PermitWitnessTransferFrom(TokenPermissions permitted,address spender,uint256 nonce,"
    "uint256 deadline,Witness witness)TokenPermissions(address token,uint256 amount)"
    "Witness(address to,uint256 validAfter)";

// keccak256 of a type string.
Hash32 eip712_type_hash(std::string_view type);

// --- uint256 words ---
Hash32 uint256_word(Atomic value);
Hash32 address_word(const EvmAddress& address);
// A uint256 written in decimal (digits only, no sign, no leading "+"; leading zeros allowed), or
// nothing when empty, not decimal, or 2^256 or more. Permit2 nonces travel in this form.
std::optional<Hash32> uint256_from_decimal(std::string_view digits);
// The shortest decimal form ("0" for zero).
std::string uint256_to_decimal(const Hash32& word);
// The value when it fits in 128 bits.
std::optional<Atomic> uint256_to_atomic(const Hash32& word);

// --- domains ---
struct Eip712Domain {
  std::string name;
  std::string version;
  std::uint64_t chain_id = 0;
  EvmAddress verifying_contract{};
};
// EIP712Domain(name, version, chainId, verifyingContract): the EIP-3009 token's domain.
Hash32 domain_separator(const Eip712Domain& domain);
// EIP712Domain(name "Permit2", chainId, verifyingContract): Permit2 has no version field.
Hash32 permit2_domain_separator(std::uint64_t chain_id, const EvmAddress& permit2_contract);

// --- messages ---
// Numbers are uint256 words (uint256_word) rather than narrower integers: a payload may carry
// any uint256, and a verifier must hash exactly what it carries.
struct TransferWithAuthorization {
  EvmAddress from{};
  EvmAddress to{};
  Hash32 value{};
  Hash32 valid_after{};
  Hash32 valid_before{};
  Hash32 nonce{};  // bytes32
};
Hash32 struct_hash(const TransferWithAuthorization& message);

struct PermitWitnessTransferFrom {
  EvmAddress token{};  // permitted.token
  Hash32 amount{};     // permitted.amount
  EvmAddress spender{};
  Hash32 nonce{};  // uint256
  Hash32 deadline{};
  EvmAddress witness_to{};
  Hash32 witness_valid_after{};
};
Hash32 struct_hash(const PermitWitnessTransferFrom& message);

// keccak256(0x19 0x01 ‖ domainSeparator ‖ structHash): what the key signs.
Hash32 eip712_digest(const Hash32& domain_separator, const Hash32& struct_hash);

}  // namespace flow::payment
