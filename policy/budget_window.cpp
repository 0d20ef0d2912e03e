#include "flow/policy/budget_window.hpp"

#include <charconv>
#include <chrono>
#include <utility>

namespace flow::policy {
namespace {

using std::chrono::days;
using std::chrono::sys_days;
using std::chrono::sys_seconds;

sys_days day_of(std::int64_t now) {
  return std::chrono::floor<days>(sys_seconds{std::chrono::seconds{now}});
}

std::int64_t unix_seconds(sys_days day) {
  return std::chrono::duration_cast<std::chrono::seconds>(day.time_since_epoch()).count();
}

}  // namespace

std::string human_duration(std::int64_t seconds) {
  const std::pair<std::int64_t, const char*> units[] = {{86400, "d"}, {3600, "h"}, {60, "m"}};
  for (auto [size, name] : units) {
    if (seconds % size == 0) return std::to_string(seconds / size) + name;
  }
  return std::to_string(seconds) + "s";
}

std::int64_t window_start(const BudgetWindow& window, std::int64_t now) {
  switch (window.kind) {
    case WindowKind::calendar_day:
      return unix_seconds(day_of(now));
    case WindowKind::calendar_week: {
      const sys_days today = day_of(now);
      const std::chrono::weekday wd{today};
      return unix_seconds(today - (wd - std::chrono::Monday));
    }
    case WindowKind::calendar_month: {
      const std::chrono::year_month_day ymd{day_of(now)};
      return unix_seconds(sys_days{ymd.year() / ymd.month() / 1});
    }
    case WindowKind::rolling:
      return now - window.rolling_seconds;
  }
  return now;  // unreachable: every kind is handled above
}

std::int64_t window_end(const BudgetWindow& window, std::int64_t start) {
  switch (window.kind) {
    case WindowKind::calendar_day:
      return unix_seconds(day_of(start) + days{1});
    case WindowKind::calendar_week:
      return unix_seconds(day_of(start) + days{7});
    case WindowKind::calendar_month: {
      const std::chrono::year_month_day ymd{day_of(start)};
      const auto next = ymd.year() / ymd.month() / 1 + std::chrono::months{1};
      return unix_seconds(sys_days{next});
    }
    case WindowKind::rolling:
      return start + window.rolling_seconds;
  }
  return start;  // unreachable: every kind is handled above
}

std::int64_t window_resets_at(const BudgetWindow& window, std::int64_t now) {
  if (window.kind == WindowKind::rolling) return now + window.rolling_seconds;
  return window_end(window, window_start(window, now));
}

std::optional<BudgetWindow> parse_window_key(std::string_view key) {
  if (key == "day") return BudgetWindow{WindowKind::calendar_day, 0};
  if (key == "week") return BudgetWindow{WindowKind::calendar_week, 0};
  if (key == "month") return BudgetWindow{WindowKind::calendar_month, 0};
  constexpr std::string_view kRolling = "rolling:";
  if (!key.starts_with(kRolling) || !key.ends_with('s')) return std::nullopt;
  const std::string_view digits = key.substr(kRolling.size(), key.size() - kRolling.size() - 1);
  std::int64_t seconds = 0;
  const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), seconds);
  if (ec != std::errc{} || end != digits.data() + digits.size() || seconds <= 0) {
    return std::nullopt;
  }
  return BudgetWindow{WindowKind::rolling, seconds};
}

std::string window_key(const BudgetWindow& window) {
  switch (window.kind) {
    case WindowKind::calendar_day:
      return "day";
    case WindowKind::calendar_week:
      return "week";
    case WindowKind::calendar_month:
      return "month";
    case WindowKind::rolling:
      return "rolling:" + std::to_string(window.rolling_seconds) + "s";
  }
  return "unknown";
}

std::string describe_window(const BudgetWindow& window) {
  switch (window.kind) {
    case WindowKind::calendar_day:
      return "per calendar day (UTC)";
    case WindowKind::calendar_week:
      return "per calendar week (from Monday 00:00 UTC)";
    case WindowKind::calendar_month:
      return "per calendar month (UTC)";
    case WindowKind::rolling:
      return "in any rolling " + human_duration(window.rolling_seconds);
  }
  return "unknown";
}

}  // namespace flow::policy
