#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "flow/storage/payment_attempt.hpp"

namespace flow::storage {

// What opening the ledger as its owner found and changed.
//  - attempts left signed or submitted by a process that stopped are marked unknown: money may
//    have moved, so they stay counted against caps and get an "unknown" receipt;
//  - attempts left reserved are released: `signed` is committed before a credential is handed
//    to the network, so a reserved attempt's credential never left the process.
struct RecoveryReport {
  std::vector<Attempt> marked_unknown;
  std::vector<std::int64_t> released;
  std::vector<Attempt> awaiting_reconciliation;  // every unknown attempt, including older ones

  bool empty() const {
    return marked_unknown.empty() && released.empty() && awaiting_reconciliation.empty();
  }
  // One line for the log: counts and attempt ids (capped at 20 ids per list).
  std::string summary() const;
};

}  // namespace flow::storage
