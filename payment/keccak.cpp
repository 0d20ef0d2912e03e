#include "flow/payment/keccak.hpp"

#include <cstring>

#include <nettle/sha3.h>

namespace flow::payment {
namespace {

// Keccak-256: capacity 512 bits, so 1088 bits (136 bytes, 17 lanes) are absorbed per permutation.
constexpr std::size_t kRate = 136;
constexpr std::size_t kLanes = kRate / 8;

// Keccak lanes are little-endian 64-bit words whatever the host's byte order.
std::uint64_t load_le64(const std::uint8_t* p) {
  std::uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

void absorb_block(sha3_state& state, const std::uint8_t* block) {
  for (std::size_t i = 0; i < kLanes; ++i) state.a[i] ^= load_le64(block + 8 * i);
  nettle_sha3_permute(&state);
}

}  // namespace

std::array<std::uint8_t, 32> keccak256(std::span<const std::uint8_t> data) {
  sha3_state state{};
  std::size_t offset = 0;
  for (; data.size() - offset >= kRate; offset += kRate) absorb_block(state, data.data() + offset);

  // Final block: the tail, then the original Keccak pad10*1 with domain bits 0x01 (SHA3-256
  // would put 0x06 here). When the tail is 135 bytes both marks land in the same byte (0x81).
  std::uint8_t last[kRate] = {};
  const std::size_t tail = data.size() - offset;
  if (tail > 0) std::memcpy(last, data.data() + offset, tail);
  last[tail] ^= 0x01;
  last[kRate - 1] ^= 0x80;
  absorb_block(state, last);

  std::array<std::uint8_t, 32> out{};
  for (std::size_t i = 0; i < out.size(); ++i) {
    out[i] = static_cast<std::uint8_t>(state.a[i / 8] >> (8 * (i % 8)));
  }
  return out;
}

std::array<std::uint8_t, 32> keccak256(std::string_view data) {
  return keccak256(std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(data.data()),
                                                 data.size()));
}

}  // namespace flow::payment
