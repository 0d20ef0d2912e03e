#include <doctest/doctest.h>

#include "flow/payment/amount.hpp"

using namespace flow::payment;

TEST_CASE("human decimals convert exactly to atomic units") {
  CHECK(parse_decimal("0.05", 6).value == 50000);
  CHECK(parse_decimal("1", 6).value == 1000000);
  CHECK(parse_decimal("12.345678", 6).value == 12345678);
  CHECK(parse_decimal(".5", 6).value == 500000);
  CHECK(parse_decimal("0.050000000", 6).value == 50000);  // zeros past the precision are exact
  CHECK(parse_decimal("7", 0).value == 7);
}

TEST_CASE("malformed or inexact decimals are refused with a reason") {
  CHECK(parse_decimal("0.0000001", 6).error == AmountError::too_many_decimals);
  CHECK(parse_decimal("-1", 6).error == AmountError::negative);
  CHECK(parse_decimal("1e6", 6).error == AmountError::exponent);
  CHECK(parse_decimal("1E-3", 6).error == AmountError::exponent);
  CHECK(parse_decimal("", 6).error == AmountError::empty);
  CHECK(parse_decimal("1.", 6).error == AmountError::not_a_number);
  CHECK(parse_decimal("0x10", 6).error == AmountError::not_a_number);
  CHECK(parse_decimal(" 1", 6).error == AmountError::not_a_number);
  CHECK(parse_decimal("1.2.3", 6).error == AmountError::not_a_number);
}

TEST_CASE("amounts past 2^128 overflow instead of wrapping") {
  // 2^128 - 1 = 340282366920938463463374607431768211455
  const auto max = parse_atomic("340282366920938463463374607431768211455");
  REQUIRE(max.ok());
  CHECK(format_atomic(max.value) == "340282366920938463463374607431768211455");
  CHECK(parse_atomic("340282366920938463463374607431768211456").error == AmountError::overflow);
  CHECK(parse_decimal("340282366920938463463374607431768.211456", 6).error ==
        AmountError::overflow);
  CHECK(parse_decimal("340282366920938463463374607431768.211455", 6).ok());
}

TEST_CASE("atomic strings from merchants are digits only") {
  CHECK(parse_atomic("10000").value == 10000);
  CHECK(parse_atomic("10000.0").error == AmountError::not_a_number);
  CHECK(parse_atomic("-5").error == AmountError::negative);
  CHECK(parse_atomic("1e4").error == AmountError::exponent);
}

TEST_CASE("atomic units format back as exact decimals") {
  CHECK(format_decimal(50000, 6) == "0.05");
  CHECK(format_decimal(1000000, 6) == "1");
  CHECK(format_decimal(1, 6) == "0.000001");
  CHECK(flow::payment::format_display(10000, 6, "USDC") == "0.01 USDC");
  CHECK(flow::payment::format_display(10000, 6, "").empty());
  CHECK(format_decimal(0, 6) == "0");
  CHECK(format_decimal(123, 0) == "123");
}
