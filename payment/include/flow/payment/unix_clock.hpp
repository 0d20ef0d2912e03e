// The wall clock as offers, policy windows and the ledger count it: unix seconds and
// milliseconds. The lowest module that reads it; the others include this.
#pragma once

#include <chrono>
#include <cstdint>

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

}  // namespace flow::payment
