#include <doctest/doctest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "flow/payment/base64.hpp"

using namespace flow::payment;

TEST_CASE("base64 encodes the RFC 4648 test vectors with padding") {
  CHECK(base64_encode(std::string_view("")) == "");
  CHECK(base64_encode(std::string_view("f")) == "Zg==");
  CHECK(base64_encode(std::string_view("fo")) == "Zm8=");
  CHECK(base64_encode(std::string_view("foo")) == "Zm9v");
  CHECK(base64_encode(std::string_view("foob")) == "Zm9vYg==");
  CHECK(base64_encode(std::string_view("fooba")) == "Zm9vYmE=");
  CHECK(base64_encode(std::string_view("foobar")) == "Zm9vYmFy");
}

TEST_CASE("base64 decodes the RFC 4648 test vectors") {
  CHECK(base64_decode("") == std::string());
  CHECK(base64_decode("Zg==") == std::string("f"));
  CHECK(base64_decode("Zm8=") == std::string("fo"));
  CHECK(base64_decode("Zm9v") == std::string("foo"));
  CHECK(base64_decode("Zm9vYmFy") == std::string("foobar"));
}

TEST_CASE("every byte value survives an encode/decode round trip, using + and /") {
  std::vector<std::uint8_t> bytes;
  for (int i = 0; i < 256; ++i) bytes.push_back(static_cast<std::uint8_t>(255 - i));
  for (std::size_t len = 0; len <= bytes.size(); len += 37) {
    const std::span<const std::uint8_t> part(bytes.data(), len);
    const auto text = base64_encode(part);
    const auto back = base64_decode(text);
    REQUIRE(back.has_value());
    CHECK(*back == std::string(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(len)));
  }
  CHECK(base64_encode(std::string_view("\xfb\xff")) == "+/8=");
}

TEST_CASE("base64 decoding refuses the URL-safe alphabet") {
  CHECK_FALSE(base64_decode("-_8=").has_value());
  CHECK_FALSE(base64_decode("ab-c").has_value());
  CHECK_FALSE(base64_decode("ab_c").has_value());
}

TEST_CASE("base64 decoding refuses missing or misplaced padding") {
  CHECK_FALSE(base64_decode("Zg").has_value());
  CHECK_FALSE(base64_decode("Zm8").has_value());
  CHECK_FALSE(base64_decode("Zg=").has_value());
  CHECK_FALSE(base64_decode("Zg===").has_value());
  CHECK_FALSE(base64_decode("Z===").has_value());
  CHECK_FALSE(base64_decode("====").has_value());
  CHECK_FALSE(base64_decode("Zg==Zg==").has_value());  // padding only at the very end
  CHECK_FALSE(base64_decode("Zm=v").has_value());
}

TEST_CASE("base64 decoding refuses whitespace anywhere") {
  CHECK_FALSE(base64_decode("Zm9v Zm9v").has_value());
  CHECK_FALSE(base64_decode("Zm9v\nYmFy").has_value());
  CHECK_FALSE(base64_decode(" Zm9v").has_value());
  CHECK_FALSE(base64_decode("Zm9v\r\n").has_value());
}

TEST_CASE("base64 decoding refuses non-zero pad bits, so each byte string has one text") {
  CHECK(base64_decode("Zg==").has_value());
  CHECK_FALSE(base64_decode("Zh==").has_value());
  CHECK_FALSE(base64_decode("Zm9=").has_value());
  CHECK(base64_decode("Zm8=").has_value());
}

TEST_CASE("base64 decoding refuses bytes outside the alphabet") {
  CHECK_FALSE(base64_decode("Zm9*").has_value());
  CHECK_FALSE(base64_decode(std::string_view("Zm9\0", 4)).has_value());
  CHECK_FALSE(base64_decode("Zm9\xc3").has_value());
}
