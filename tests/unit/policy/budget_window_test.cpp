// Window starts in UTC. Expected instants were computed independently (calendar.timegm).
#include <doctest/doctest.h>

#include <cstdint>
#include <string>

#include "flow/policy/budget_window.hpp"

using flow::policy::BudgetWindow;
using flow::policy::window_key;
using flow::policy::window_start;
using flow::policy::WindowKind;

namespace {

struct Case {
  std::string behaviour;
  WindowKind kind;
  std::int64_t now;
  std::int64_t start;
};

}  // namespace

TEST_CASE("calendar windows start at UTC midnight, Monday 00:00 and the 1st 00:00") {
  const Case cases[] = {
      {"mid-day counts from that day's midnight", WindowKind::calendar_day, 1741773600, 1741737600},
      {"midnight itself starts a new day", WindowKind::calendar_day, 1741737600, 1741737600},
      {"one second before midnight is still the previous day", WindowKind::calendar_day, 1741737599,
       1741651200},
      {"a Wednesday counts from Monday", WindowKind::calendar_week, 1741773600, 1741564800},
      {"Monday 00:00 starts a new week", WindowKind::calendar_week, 1741564800, 1741564800},
      {"Sunday 23:59:59 belongs to the week that began the Monday before",
       WindowKind::calendar_week, 1742169599, 1741564800},
      {"the next Monday starts the next week", WindowKind::calendar_week, 1742169600, 1742169600},
      {"New Year's Eve 2023, a Sunday, is in the week of Monday Dec 25", WindowKind::calendar_week,
       1704067199, 1703462400},
      {"a week can span two years: Wed 2025-01-01 counts from Mon 2024-12-30",
       WindowKind::calendar_week, 1735689600, 1735516800},
      {"the Unix epoch (a Thursday) counts from Monday 1969-12-29", WindowKind::calendar_week, 0,
       -259200},
      {"Feb 29 of a leap year is in February", WindowKind::calendar_month, 1709251199, 1706745600},
      {"March 1 after a leap day starts March", WindowKind::calendar_month, 1709251200, 1709251200},
      {"Dec 31 23:59:59 is in December", WindowKind::calendar_month, 1704067199, 1701388800},
      {"Jan 1 00:00 starts January of the new year", WindowKind::calendar_month, 1704067200,
       1704067200},
      {"the leap day itself counts from its own midnight", WindowKind::calendar_day, 1709251199,
       1709164800},
      {"a leap-day week counts from Monday Feb 26", WindowKind::calendar_week, 1709251199,
       1708905600},
  };
  for (const Case& c : cases) {
    CAPTURE(c.behaviour);
    CHECK(window_start(BudgetWindow{c.kind, 0}, c.now) == c.start);
  }
}

TEST_CASE("a rolling window looks back its length from now") {
  CHECK(window_start({WindowKind::rolling, 3600}, 1741773600) == 1741770000);
  CHECK(window_start({WindowKind::rolling, 86400}, 1741773600) == 1741687200);
}

TEST_CASE("window keys name the kind and, for rolling windows, the length") {
  CHECK(window_key({WindowKind::calendar_day, 0}) == "day");
  CHECK(window_key({WindowKind::calendar_week, 0}) == "week");
  CHECK(window_key({WindowKind::calendar_month, 0}) == "month");
  CHECK(window_key({WindowKind::rolling, 3600}) == "rolling:3600s");
  CHECK(window_key({WindowKind::rolling, 86400}) != window_key({WindowKind::rolling, 3600}));
}

TEST_CASE(
    "a calendar window ends (resets) at the next window's start; a rolling one at start + length") {
  using flow::policy::window_end;
  CHECK(window_end({WindowKind::calendar_day, 0}, 1741737600) == 1741824000);
  CHECK(window_end({WindowKind::calendar_week, 0}, 1741564800) == 1742169600);
  CHECK(window_end({WindowKind::calendar_month, 0}, 1733011200) == 1735689600);  // Dec -> Jan
  CHECK(window_end({WindowKind::calendar_month, 0}, 1706745600) == 1709251200);  // leap Feb
  CHECK(window_end({WindowKind::rolling, 3600}, 1741737600) == 1741741200);
}

TEST_CASE("a window key reads back as its window; anything else is refused") {
  using flow::policy::parse_window_key;
  for (const BudgetWindow w :
       {BudgetWindow{WindowKind::calendar_day, 0}, BudgetWindow{WindowKind::calendar_week, 0},
        BudgetWindow{WindowKind::calendar_month, 0}, BudgetWindow{WindowKind::rolling, 3600}}) {
    const auto back = parse_window_key(window_key(w));
    REQUIRE(back.has_value());
    CHECK(back->kind == w.kind);
    CHECK(back->rolling_seconds == w.rolling_seconds);
  }
  for (const char* bad :
       {"", "days", "rolling:", "rolling:0s", "rolling:-5s", "rolling:12", "rolling:1hs"}) {
    CHECK_FALSE(parse_window_key(bad).has_value());
  }
}
