#include "flow/payment/eip712.hpp"

#include <algorithm>
#include <cstring>
#include <vector>

namespace flow::payment {
namespace {

// abi.encode of a list of 32-byte words, hashed: how EIP-712 hashes a struct.
Hash32 hash_words(std::initializer_list<Hash32> words) {
  std::vector<std::uint8_t> buf;
  buf.reserve(words.size() * 32);
  for (const auto& w : words) buf.insert(buf.end(), w.begin(), w.end());
  return keccak256(buf);
}

// word = word * 10 + digit over 32 big-endian bytes; false when the result passes 2^256 - 1.
bool mul10_add(Hash32& word, unsigned digit) {
  unsigned carry = digit;
  for (std::size_t i = word.size(); i-- > 0;) {
    const unsigned v = word[i] * 10u + carry;
    word[i] = static_cast<std::uint8_t>(v & 0xffu);
    carry = v >> 8;
  }
  return carry == 0;
}

// word /= 10, returning the remainder.
unsigned div10(Hash32& word) {
  unsigned rem = 0;
  for (auto& byte : word) {
    const unsigned v = (rem << 8) | byte;
    byte = static_cast<std::uint8_t>(v / 10);
    rem = v % 10;
  }
  return rem;
}

bool is_zero(const Hash32& word) {
  return std::all_of(word.begin(), word.end(), [](std::uint8_t b) { return b == 0; });
}

}  // namespace

Hash32 eip712_type_hash(std::string_view type) {
  return keccak256(type);
}

Hash32 uint256_word(Atomic value) {
  Hash32 w{};
  for (std::size_t i = 0; i < 16; ++i) {
    w[31 - i] = static_cast<std::uint8_t>(value & 0xffu);
    value >>= 8;
  }
  return w;
}

Hash32 address_word(const EvmAddress& address) {
  Hash32 w{};
  std::copy(address.begin(), address.end(), w.begin() + 12);
  return w;
}

std::optional<Hash32> uint256_from_decimal(std::string_view digits) {
  if (digits.empty()) return std::nullopt;
  Hash32 w{};
  for (char c : digits) {
    if (c < '0' || c > '9') return std::nullopt;
    if (!mul10_add(w, static_cast<unsigned>(c - '0'))) return std::nullopt;
  }
  return w;
}

std::string uint256_to_decimal(const Hash32& word) {
  if (is_zero(word)) return "0";
  Hash32 rest = word;
  std::string out;
  while (!is_zero(rest)) out.push_back(static_cast<char>('0' + div10(rest)));
  std::reverse(out.begin(), out.end());
  return out;
}

std::optional<Atomic> uint256_to_atomic(const Hash32& word) {
  if (std::any_of(word.begin(), word.begin() + 16, [](std::uint8_t b) { return b != 0; })) {
    return std::nullopt;
  }
  Atomic v = 0;
  for (std::size_t i = 16; i < 32; ++i) v = (v << 8) | word[i];
  return v;
}

Hash32 domain_separator(const Eip712Domain& domain) {
  return hash_words({eip712_type_hash(kEip712DomainType), keccak256(domain.name),
                     keccak256(domain.version), uint256_word(domain.chain_id),
                     address_word(domain.verifying_contract)});
}

Hash32 permit2_domain_separator(std::uint64_t chain_id, const EvmAddress& permit2_contract) {
  return hash_words({eip712_type_hash(kPermit2DomainType), keccak256(std::string_view("Permit2")),
                     uint256_word(chain_id), address_word(permit2_contract)});
}

Hash32 struct_hash(const TransferWithAuthorization& m) {
  return hash_words({eip712_type_hash(kTransferWithAuthorizationType), address_word(m.from),
                     address_word(m.to), m.value, m.valid_after, m.valid_before, m.nonce});
}

Hash32 struct_hash(const PermitWitnessTransferFrom& m) {
  const Hash32 permitted =
      hash_words({eip712_type_hash(kTokenPermissionsType), address_word(m.token), m.amount});
  const Hash32 witness = hash_words(
      {eip712_type_hash(kWitnessType), address_word(m.witness_to), m.witness_valid_after});
  return hash_words({eip712_type_hash(kPermitWitnessTransferFromType), permitted,
                     address_word(m.spender), m.nonce, m.deadline, witness});
}

Hash32 eip712_digest(const Hash32& domain_separator, const Hash32& struct_hash) {
  std::uint8_t buf[2 + 32 + 32];
  buf[0] = 0x19;
  buf[1] = 0x01;
  std::memcpy(buf + 2, domain_separator.data(), 32);
  std::memcpy(buf + 34, struct_hash.data(), 32);
  return keccak256(std::span<const std::uint8_t>(buf, sizeof buf));
}

}  // namespace flow::payment
