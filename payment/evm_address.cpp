#include "flow/payment/evm_address.hpp"

#include <algorithm>

#include "flow/payment/hex.hpp"
#include "flow/payment/keccak.hpp"

namespace flow::payment {
namespace {

bool is_lower_hex_letter(char c) {
  return c >= 'a' && c <= 'f';
}
bool is_upper_hex_letter(char c) {
  return c >= 'A' && c <= 'F';
}

// EIP-55: a letter is upper-case when the matching nibble of keccak(lower-case hex) is >= 8.
std::string checksum_case(const std::string& lower_digits) {
  const auto hash = keccak256(std::string_view(lower_digits));
  std::string out = lower_digits;
  for (std::size_t i = 0; i < out.size(); ++i) {
    const unsigned nib = i % 2 == 0 ? hash[i / 2] >> 4 : hash[i / 2] & 0x0fu;
    if (is_lower_hex_letter(out[i]) && nib >= 8) out[i] = static_cast<char>(out[i] - 'a' + 'A');
  }
  return out;
}

}  // namespace

std::optional<EvmAddress> parse_evm_address(std::string_view text) {
  if (text.size() != 42 || text[0] != '0' || text[1] != 'x') return std::nullopt;
  const std::string_view digits = text.substr(2);
  const auto bytes = from_hex(digits);
  if (!bytes || bytes->size() != 20) return std::nullopt;

  bool has_lower = false;
  bool has_upper = false;
  for (char c : digits) {
    has_lower = has_lower || is_lower_hex_letter(c);
    has_upper = has_upper || is_upper_hex_letter(c);
  }
  EvmAddress address{};
  std::copy(bytes->begin(), bytes->end(), address.begin());
  // Mixed case claims a checksum; a wrong one means a mistyped address, so refuse it.
  if (has_lower && has_upper && evm_address_checksummed(address).substr(2) != digits) {
    return std::nullopt;
  }
  return address;
}

std::string evm_address_lower(const EvmAddress& address) {
  return to_hex(address, true);
}

std::string evm_address_checksummed(const EvmAddress& address) {
  return "0x" + checksum_case(to_hex(address, false));
}

}  // namespace flow::payment
