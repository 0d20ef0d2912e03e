#pragma once
#include <array>
#include <cstdint>
#include <span>
#include <string_view>

namespace flow::payment {

// A 32-byte hash or EIP-712 word (evm_key.hpp declares the same alias).
using Hash32 = std::array<std::uint8_t, 32>;

// Keccak-256 as Ethereum uses it (original Keccak padding 0x01, not SHA3-256's 0x06), built on
// nettle's Keccak-f[1600] permutation.
std::array<std::uint8_t, 32> keccak256(std::span<const std::uint8_t> data);
std::array<std::uint8_t, 32> keccak256(std::string_view data);

}  // namespace flow::payment
