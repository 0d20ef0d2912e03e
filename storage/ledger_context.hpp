// Internal: what every ledger operation needs inside its transaction.
#pragma once
#include <cstdint>

#include "flow/storage/url_redaction.hpp"
#include "sqlite_connection.hpp"

namespace flow::storage {

struct LedgerContext {
  sql::Connection& db;
  std::int64_t now_ms;  // one reading of the clock per operation
  UrlQueryMode url_query;

  // Whole unix seconds, the unit of CapCheck::window_start and reservations.created_at.
  std::int64_t now_s() const { return now_ms >= 0 ? now_ms / 1000 : -((-now_ms + 999) / 1000); }
};

}  // namespace flow::storage
