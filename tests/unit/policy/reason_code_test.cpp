#include <doctest/doctest.h>

#include <set>
#include <string>

#include "flow/policy/reason_code.hpp"

using flow::policy::ReasonCode;

TEST_CASE("every reason code has a distinct name that maps back to it") {
  std::set<std::string> names;
  const int last = static_cast<int>(ReasonCode::ambiguous_path);
  for (int i = 0; i <= last; ++i) {
    const auto code = static_cast<ReasonCode>(i);
    const auto name = flow::policy::reason_code_name(code);
    CAPTURE(i);
    CHECK(name != "unknown");
    CHECK(flow::policy::reason_code_from_name(name) == code);
    names.insert(std::string(name));
  }
  CHECK(names.size() == static_cast<std::size_t>(last + 1));
  CHECK_FALSE(flow::policy::reason_code_from_name("allowed ").has_value());
}

TEST_CASE("codes added later are appended, so earlier values keep their numbers") {
  CHECK(static_cast<int>(ReasonCode::approval_denied) == 19);
  CHECK(static_cast<int>(ReasonCode::ambiguous_path) == 20);
  CHECK(flow::policy::reason_code_name(ReasonCode::ambiguous_path) == "ambiguous_path");
}
