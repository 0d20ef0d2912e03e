#include "flow/storage/result.hpp"

namespace flow::storage {

std::string_view ledger_error_name(LedgerErrorCode code) {
  switch (code) {
    case LedgerErrorCode::storage_failed:
      return "storage_failed";
    case LedgerErrorCode::not_found:
      return "not_found";
    case LedgerErrorCode::illegal_transition:
      return "illegal_transition";
    case LedgerErrorCode::invalid_argument:
      return "invalid_argument";
    case LedgerErrorCode::amount_overflow:
      return "amount_overflow";
    case LedgerErrorCode::queue_full:
      return "queue_full";
    case LedgerErrorCode::shutting_down:
      return "shutting_down";
    case LedgerErrorCode::wrong_thread:
      return "wrong_thread";
  }
  return "unknown";
}

std::string LedgerError::describe() const {
  std::string out(ledger_error_name(code));
  if (!detail.empty()) out += ": " + detail;
  return out;
}

}  // namespace flow::storage
