#include <doctest/doctest.h>

#include <string>

#include "flow/payment/hex.hpp"
#include "flow/payment/keccak.hpp"

using namespace flow::payment;

namespace {
std::string keccak_hex(std::string_view data) {
  return to_hex(keccak256(data), false);
}
}  // namespace

TEST_CASE("keccak-256 of the empty input is Ethereum's well-known empty hash") {
  CHECK(keccak_hex("") == "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470");
}

TEST_CASE("keccak-256 uses the original Keccak padding, not SHA3-256's") {
  CHECK(keccak_hex("abc") == "4e03657aea45a94fc7d47ba826c8d667c0d1e6e33a64a036ec44f58fa12d6c45");
  // SHA3-256("abc") = 3a985da7...; a digest starting so would mean the 0x06 padding crept in.
  CHECK(keccak_hex("abc").rfind("3a985da7", 0) == std::string::npos);
}

TEST_CASE("keccak-256 handles inputs around and across the 136-byte rate") {
  // 135 bytes: both padding marks fall in the last byte of the only block.
  CHECK(keccak_hex(std::string(135, 'a')) ==
        "34367dc248bbd832f4e3e69dfaac2f92638bd0bbd18f2912ba4ef454919cf446");
  // 136 bytes: a full block, then a block of padding only.
  CHECK(keccak_hex(std::string(136, 'a')) ==
        "a6c4d403279fe3e0af03729caada8374b5ca54d8065329a3ebcaeb4b60aa386e");
  CHECK(keccak_hex(std::string(200, 'a')) ==
        "96ea54061def936c4be90b518992fdc6f12f535068a256229aca54267b4d084d");
}

TEST_CASE("the byte and text overloads of keccak-256 agree") {
  const std::string text = "TransferWithAuthorization";
  const std::vector<std::uint8_t> bytes(text.begin(), text.end());
  CHECK(keccak256(bytes) == keccak256(std::string_view(text)));
}

TEST_CASE("hex round-trips and refuses odd lengths and non-hex digits") {
  const std::vector<std::uint8_t> bytes = {0x00, 0xab, 0xff, 0x10};
  CHECK(to_hex(bytes) == "0x00abff10");
  CHECK(to_hex(bytes, false) == "00abff10");
  CHECK(from_hex("0x00ABff10") == bytes);
  CHECK(from_hex("00abff10") == bytes);
  CHECK(from_hex("0x")->empty());
  CHECK_FALSE(from_hex("0x123").has_value());
  CHECK_FALSE(from_hex("0xzz").has_value());
  CHECK_FALSE(from_hex(" 00").has_value());
}
