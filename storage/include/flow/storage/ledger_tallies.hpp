// What the ledger has counted over its whole life, for the admin API's /metrics: 402s per
// merchant, decisions per outcome and reason, approvals per state, money settled per asset.
// Counted from the tables (they survive restarts), so a metric read from here never goes down.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "flow/payment/amount.hpp"

namespace flow::storage {

struct LedgerTallies {
  struct Named {
    std::string name;
    std::uint64_t count = 0;
  };
  struct Decisions {
    std::string outcome;  // allow, deny, review
    std::string reason;
    std::uint64_t count = 0;
  };
  struct Paid {
    std::string network;
    std::string asset;
    unsigned decimals = 0;
    payment::Atomic amount = 0;  // settled, in atomic units
  };
  // The merchants with the most challenges (at most `merchant_limit`), most first; the
  // challenges of every other merchant together in `other_challenges`.
  std::vector<Named> challenges_by_merchant;
  std::uint64_t other_challenges = 0;
  std::vector<Decisions> decisions;
  std::vector<Named> approvals_by_state;
  std::vector<Paid> paid;
};

}  // namespace flow::storage
