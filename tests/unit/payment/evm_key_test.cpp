#include <doctest/doctest.h>

#include <string>

#include "flow/payment/evm_address.hpp"
#include "flow/payment/evm_key.hpp"
#include "flow/payment/hex.hpp"
#include "flow/payment/keccak.hpp"

using namespace flow::payment;

namespace {

constexpr std::string_view kDevKey =
    "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";
// secp256k1's group order n, big-endian.
constexpr std::string_view kOrder =
    "fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141";

Hash32 digest_of(std::string_view text) {
  return keccak256(text);
}

// a - b over 32 big-endian bytes (a >= b).
Hash32 sub256(const Hash32& a, const Hash32& b) {
  Hash32 out{};
  int borrow = 0;
  for (std::size_t i = 32; i-- > 0;) {
    int d = a[i] - b[i] - borrow;
    borrow = d < 0 ? 1 : 0;
    if (d < 0) d += 256;
    out[i] = static_cast<std::uint8_t>(d);
  }
  return out;
}

Hash32 order() {
  const auto bytes = from_hex(kOrder);
  Hash32 n{};
  std::copy(bytes->begin(), bytes->end(), n.begin());
  return n;
}

Hash32 s_of(const Signature65& sig) {
  Hash32 s{};
  std::copy(sig.begin() + 32, sig.begin() + 64, s.begin());
  return s;
}

}  // namespace

TEST_CASE("signing the same digest twice gives identical bytes (RFC 6979)") {
  const auto key = EvmKey::from_hex(kDevKey);
  REQUIRE(key.has_value());
  const Hash32 d = digest_of("retry me");
  CHECK(key->sign_digest(d) == key->sign_digest(d));
  CHECK(key->sign_digest(d) != key->sign_digest(digest_of("something else")));
}

TEST_CASE("signatures are low-s with v of 27 or 28, and recover to the signer") {
  const auto key = EvmKey::from_hex(kDevKey);
  REQUIRE(key.has_value());
  const Hash32 half = [] {
    // floor(n / 2): s must not exceed it.
    Hash32 h = order();
    unsigned carry = 0;
    for (auto& byte : h) {
      const unsigned v = (carry << 8) | byte;
      byte = static_cast<std::uint8_t>(v >> 1);
      carry = v & 1u;
    }
    return h;
  }();
  for (int i = 0; i < 32; ++i) {
    const Hash32 d = digest_of("message " + std::to_string(i));
    const Signature65 sig = key->sign_digest(d);
    CHECK(s_of(sig) <= half);
    CHECK((sig[64] == 27 || sig[64] == 28));
    CHECK(recover_signer(d, sig) == key->address());
  }
}

TEST_CASE("recovery accepts v as 0/1 as well as 27/28 and refuses other v") {
  const auto key = EvmKey::from_hex(kDevKey);
  REQUIRE(key.has_value());
  const Hash32 d = digest_of("v forms");
  Signature65 sig = key->sign_digest(d);
  sig[64] = static_cast<std::uint8_t>(sig[64] - 27);
  CHECK(recover_signer(d, sig) == key->address());
  sig[64] = 29;
  CHECK_FALSE(recover_signer(d, sig).has_value());
  sig[64] = 2;
  CHECK_FALSE(recover_signer(d, sig).has_value());
}

TEST_CASE("a high-s signature is refused by recovery even though it is mathematically valid") {
  const auto key = EvmKey::from_hex(kDevKey);
  REQUIRE(key.has_value());
  const Hash32 d = digest_of("malleable");
  Signature65 sig = key->sign_digest(d);
  // (r, n - s) with the recovery id flipped signs the same digest with the same key.
  const Hash32 high_s = sub256(order(), s_of(sig));
  std::copy(high_s.begin(), high_s.end(), sig.begin() + 32);
  sig[64] = sig[64] == 27 ? 28 : 27;
  CHECK_FALSE(recover_signer(d, sig).has_value());
}

TEST_CASE("recovery refuses r or s at or above the curve order, and zero") {
  const auto key = EvmKey::from_hex(kDevKey);
  REQUIRE(key.has_value());
  const Hash32 d = digest_of("ranges");
  const Signature65 good = key->sign_digest(d);
  Signature65 bad = good;
  const Hash32 n = order();
  std::copy(n.begin(), n.end(), bad.begin());  // r = n
  CHECK_FALSE(recover_signer(d, bad).has_value());
  bad = good;
  std::fill(bad.begin(), bad.begin() + 32, std::uint8_t{0});  // r = 0
  CHECK_FALSE(recover_signer(d, bad).has_value());
  bad = good;
  std::fill(bad.begin() + 32, bad.begin() + 64, std::uint8_t{0});  // s = 0
  CHECK_FALSE(recover_signer(d, bad).has_value());
}

TEST_CASE("a signature over another digest recovers to someone else") {
  const auto key = EvmKey::from_hex(kDevKey);
  REQUIRE(key.has_value());
  const Signature65 sig = key->sign_digest(digest_of("one"));
  const auto other = recover_signer(digest_of("two"), sig);
  CHECK(other != key->address());
}

TEST_CASE("keys outside 1..n-1 or of the wrong length are refused") {
  const Hash32 zero{};
  CHECK_FALSE(EvmKey::from_bytes(zero).has_value());
  const Hash32 n = order();
  CHECK_FALSE(EvmKey::from_bytes(n).has_value());
  Hash32 n_plus_one = n;
  n_plus_one[31] = static_cast<std::uint8_t>(n_plus_one[31] + 1);
  CHECK_FALSE(EvmKey::from_bytes(n_plus_one).has_value());
  Hash32 all_ff{};
  all_ff.fill(0xff);
  CHECK_FALSE(EvmKey::from_bytes(all_ff).has_value());
  Hash32 n_minus_one = n;
  n_minus_one[31] = static_cast<std::uint8_t>(n_minus_one[31] - 1);
  CHECK(EvmKey::from_bytes(n_minus_one).has_value());
  const std::uint8_t short_key[31] = {1};
  CHECK_FALSE(EvmKey::from_bytes(short_key).has_value());
}

TEST_CASE("hex keys: prefix optional, whitespace trimmed, malformed text refused") {
  const auto with_prefix = EvmKey::from_hex(kDevKey);
  const auto bare = EvmKey::from_hex(kDevKey.substr(2));
  const auto padded = EvmKey::from_hex("  " + std::string(kDevKey) + "\n");
  REQUIRE(with_prefix.has_value());
  REQUIRE(bare.has_value());
  REQUIRE(padded.has_value());
  CHECK(bare->address() == with_prefix->address());
  CHECK(padded->address() == with_prefix->address());
  CHECK(with_prefix->secret_hex_for_key_file() == kDevKey);

  CHECK_FALSE(EvmKey::from_hex("").has_value());
  CHECK_FALSE(EvmKey::from_hex(kDevKey.substr(0, 65)).has_value());
  CHECK_FALSE(EvmKey::from_hex(std::string(kDevKey) + "00").has_value());
  std::string bad_digit(kDevKey);
  bad_digit[10] = 'g';
  CHECK_FALSE(EvmKey::from_hex(bad_digit).has_value());
  CHECK_FALSE(EvmKey::from_hex("0x" + std::string(64, '0')).has_value());
  CHECK_FALSE(EvmKey::from_hex(std::string("0x") + std::string(kOrder)).has_value());
}

TEST_CASE("generated keys are distinct, valid, and survive a move") {
  EvmKey a = EvmKey::generate();
  EvmKey b = EvmKey::generate();
  CHECK(a.address() != b.address());
  const EvmAddress a_address = a.address();
  const Hash32 d = digest_of("moved");
  EvmKey moved = std::move(a);
  CHECK(moved.address() == a_address);
  CHECK(recover_signer(d, moved.sign_digest(d)) == a_address);
  const auto reloaded = EvmKey::from_hex(moved.secret_hex_for_key_file());
  REQUIRE(reloaded.has_value());
  CHECK(reloaded->address() == a_address);
}

TEST_CASE("EIP-55 checksums match the examples in the EIP") {
  const char* examples[] = {
      "0x52908400098527886E0F7030069857D2E4169EE7", "0x8617E340B3D01FA5F11F306F4090FD50E238070D",
      "0xde709f2102306220921060314715629080e2fb77", "0x27b1fdb04752bbc536007a920d24acb045561c26",
      "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed", "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359",
      "0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB", "0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb",
  };
  for (const char* text : examples) {
    CAPTURE(text);
    const auto a = parse_evm_address(text);
    REQUIRE(a.has_value());
    CHECK(evm_address_checksummed(*a) == text);
  }
}

TEST_CASE("addresses: all-lower and all-upper accepted, a wrong checksum or shape refused") {
  const auto checked = parse_evm_address("0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed");
  REQUIRE(checked.has_value());
  CHECK(parse_evm_address("0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed") == checked);
  CHECK(parse_evm_address("0x5AAEB6053F3E94C9B9A09F33669435E7EF1BEAED") == checked);
  CHECK(evm_address_lower(*checked) == "0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed");
  // One letter's case flipped: a typo.
  CHECK_FALSE(parse_evm_address("0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD").has_value());
  CHECK_FALSE(parse_evm_address("5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed").has_value());
  CHECK_FALSE(parse_evm_address("0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeA").has_value());
  CHECK_FALSE(parse_evm_address("0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAedff").has_value());
  CHECK_FALSE(parse_evm_address("0xZaAeb6053F3E94C9b9A09f33669435E7Ef1BeAed").has_value());
  CHECK_FALSE(parse_evm_address("").has_value());
}
