#pragma once
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

#include "flow/payment/reason.hpp"

namespace flow::storage {

// Why a ledger operation did not happen. Business outcomes (a cap refusal, an existing
// idempotency key) are not errors: they are ordinary values of the operation's result type.
// The names are stable: they appear in logs, metrics and problem+json details. They are the
// ledger's own diagnosis; what the agent is told is their reason_of (ledger_unavailable).
enum class LedgerErrorCode {
  storage_failed,  // SQLite reported an error: I/O, full disk, corruption, busy past the timeout
  not_found,       // no attempt or approval with that id
  illegal_transition,  // the state machine does not allow that move
  invalid_argument,    // a malformed request (empty agent, a "hash" that is not one, ...)
  amount_overflow,     // a total would not fit in 128 bits
  queue_full,          // the writer's queue is at its limit
  shutting_down,       // the writer no longer accepts work
  wrong_thread,        // a synchronous call from the writer's own thread would deadlock
};
std::string_view ledger_error_name(LedgerErrorCode code);
// The taxonomy's reason for any ledger error: the ledger could not do its part.
constexpr payment::Reason reason_of(LedgerErrorCode /*code*/) {
  return payment::Reason::ledger_unavailable;
}

struct LedgerError {
  LedgerErrorCode code = LedgerErrorCode::storage_failed;
  std::string detail;
  // "illegal_transition: attempt 7: settled -> signed"
  std::string describe() const;
};

// A value or the reason there is none. Deliberately small: ok(), value(), error().
template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::in_place_index<0>, std::move(value)) {}
  Result(LedgerError error) : v_(std::in_place_index<1>, std::move(error)) {}

  bool ok() const { return v_.index() == 0; }
  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  const LedgerError& error() const { return std::get<1>(v_); }

 private:
  std::variant<T, LedgerError> v_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(LedgerError error) : error_(std::move(error)) {}

  bool ok() const { return !error_.has_value(); }
  const LedgerError& error() const { return *error_; }

 private:
  std::optional<LedgerError> error_;
};

inline LedgerError ledger_error(LedgerErrorCode code, std::string detail) {
  return LedgerError{code, std::move(detail)};
}

}  // namespace flow::storage
