#include <doctest/doctest.h>

#include "flow/policy/duration.hpp"

using flow::policy::parse_duration;
using std::chrono::milliseconds;

TEST_CASE("durations accept ms, s, m, h and bare seconds") {
  CHECK(parse_duration("250ms") == milliseconds(250));
  CHECK(parse_duration("10s") == milliseconds(10'000));
  CHECK(parse_duration("2m") == milliseconds(120'000));
  CHECK(parse_duration("1h") == milliseconds(3'600'000));
  CHECK(parse_duration("7") == milliseconds(7'000));
}

TEST_CASE("malformed durations are refused") {
  for (const char* bad : {"", "-1s", "1.5s", "10 s", "s", "10d", "99999999999999999999s"}) {
    CAPTURE(bad);
    CHECK_FALSE(parse_duration(bad).has_value());
  }
}
