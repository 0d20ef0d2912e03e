#pragma once
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace flow::payment {

using EvmAddress = std::array<std::uint8_t, 20>;

// "0x" + 40 hex digits. All-lower, all-upper and correctly EIP-55-checksummed mixed case are
// accepted; mixed case with a wrong checksum is refused (a typo, not an address).
std::optional<EvmAddress> parse_evm_address(std::string_view text);
// "0x" + 40 lower-case hex digits: the form offers, policy and the ledger compare.
std::string evm_address_lower(const EvmAddress& address);
// EIP-55 checksummed form, for people.
std::string evm_address_checksummed(const EvmAddress& address);

}  // namespace flow::payment
