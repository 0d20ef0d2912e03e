#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace flow::policy {

// The period a cumulative cap counts over. Calendar windows are in UTC and restart at a fixed
// instant; a rolling window always looks back the same length from now.
enum class WindowKind {
  calendar_day,    // from 00:00 UTC today
  calendar_week,   // from Monday 00:00 UTC (ISO 8601 weeks)
  calendar_month,  // from the 1st of this month, 00:00 UTC
  rolling,         // the last `rolling_seconds` seconds
};

struct BudgetWindow {
  WindowKind kind = WindowKind::calendar_day;
  std::int64_t rolling_seconds = 0;  // only for `rolling`; positive
};

// The first second (unix time) that counts towards the window containing `now`.
std::int64_t window_start(const BudgetWindow& window, std::int64_t now);

// The first second after the window that starts at `start` (a window_start() result): when a
// calendar window resets. A rolling window never resets at once (money leaves it as it ages):
// its "end" is the instant it was measured at, `start` + its length.
std::int64_t window_end(const BudgetWindow& window, std::int64_t start);

// When a window that is full at `now` makes room again: a calendar window's end; for a rolling
// window, the latest instant by which everything held at `now` has aged out (`now` + its
// length; room may come sooner, as older payments leave it).
std::int64_t window_resets_at(const BudgetWindow& window, std::int64_t now);

// Stable label for counter keys: "day", "week", "month", "rolling:3600s".
std::string window_key(const BudgetWindow& window);
// The window a window_key() names, or nothing for any other text.
std::optional<BudgetWindow> parse_window_key(std::string_view key);
// For people: "per calendar day (UTC)", "in any rolling 1h".
std::string describe_window(const BudgetWindow& window);
// For people: 86400 -> "1d", 900 -> "15m", 90 -> "90s".
std::string human_duration(std::int64_t seconds);

}  // namespace flow::policy
