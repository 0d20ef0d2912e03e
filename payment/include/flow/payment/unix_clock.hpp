// The wall clock as offers, policy windows and the ledger count it: unix seconds and
// milliseconds. The lowest module that reads it; the others include this.
#pragma once

#include <chrono>
#include <cstdint>
#include <ctime>
#include <optional>
#include <string>
#include <string_view>

namespace flow::payment {

inline std::int64_t unix_now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

inline std::int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// RFC 3339 in UTC, to the second: "2026-01-01T00:00:00Z".
inline std::string format_utc(std::int64_t unix_seconds) {
  const auto seconds = static_cast<std::time_t>(unix_seconds);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &utc);
  return buf;
}

// The other way: "2026-01-01T12:00:00Z" (the Z optional) or "2026-01-01" (midnight UTC) in unix
// milliseconds; nothing for anything else.
inline std::optional<std::int64_t> parse_utc_ms(std::string_view text) {
  std::tm t{};
  const std::string s(text);
  const char* end = strptime(s.c_str(), "%Y-%m-%dT%H:%M:%S", &t);
  if (end == nullptr) {
    t = {};
    end = strptime(s.c_str(), "%Y-%m-%d", &t);
  }
  if (end == nullptr || !(*end == '\0' || (end[0] == 'Z' && end[1] == '\0'))) return std::nullopt;
  return static_cast<std::int64_t>(timegm(&t)) * 1000;
}

}  // namespace flow::payment
