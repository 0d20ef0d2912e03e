#include "offer_selection.hpp"

#include <array>
#include <string_view>
#include <utility>
#include <vector>

namespace flow::policy {
namespace {

std::optional<Verdict> best_tier(std::span<const OfferJudgement> judgements) {
  std::optional<Verdict> tier;
  for (const auto& j : judgements) {
    if (j.verdict == Verdict::allow) return Verdict::allow;
    if (j.verdict == Verdict::review) tier = Verdict::review;
  }
  return tier;
}

// The cheapest amount per unit (symbol) among the offers of the tier. A challenge carries a
// handful of units: they live inline, with a vector only past that.
class Cheapest {
 public:
  payment::Atomic& slot(std::string_view symbol, payment::Atomic amount) {
    for (std::size_t i = 0; i < inline_count_; ++i) {
      if (inline_[i].first == symbol) return inline_[i].second;
    }
    for (auto& [s, a] : overflow_) {
      if (s == symbol) return a;
    }
    if (inline_count_ < inline_.size()) {
      inline_[inline_count_] = {symbol, amount};
      return inline_[inline_count_++].second;
    }
    return overflow_.emplace_back(symbol, amount).second;
  }

 private:
  std::array<std::pair<std::string_view, payment::Atomic>, 8> inline_{};
  std::size_t inline_count_ = 0;
  std::vector<std::pair<std::string_view, payment::Atomic>> overflow_;
};

}  // namespace

std::optional<std::size_t> select_offer(std::span<const OfferJudgement> judgements,
                                        std::span<const OfferCandidate> offers,
                                        const PolicySnapshot& policy) {
  const auto tier = best_tier(judgements);
  if (!tier) return std::nullopt;
  Cheapest cheapest;
  for (std::size_t i = 0; i < judgements.size(); ++i) {
    if (judgements[i].verdict != *tier) continue;
    const payment::Atomic amount = offers[i].offer.amount;
    payment::Atomic& slot = cheapest.slot(judgements[i].asset->symbol, amount);
    if (amount < slot) slot = amount;
  }
  std::optional<std::size_t> best;
  std::size_t best_rank = 0;
  for (std::size_t i = 0; i < judgements.size(); ++i) {
    if (judgements[i].verdict != *tier) continue;
    const payment::Offer& o = offers[i].offer;
    if (o.amount > cheapest.slot(judgements[i].asset->symbol, o.amount)) continue;
    const std::size_t rank = policy.network_rank(o.network);
    if (!best || rank < best_rank) {
      best = i;
      best_rank = rank;
    }
  }
  return best;
}

}  // namespace flow::policy
