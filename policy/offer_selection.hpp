#pragma once
// Which offer to take when a challenge carries several.
#include <optional>
#include <span>

#include "offer_judgement.hpp"

namespace flow::policy {

// The preference order (docs/policy.md):
//   1. an allowed offer beats one that needs review; refused offers are never chosen;
//   2. within that tier, an offer is dropped when another offer in the same unit (symbol;
//      every deployment of a symbol has the same decimals) costs less — amounts in different
//      units are not compared;
//   3. among the rest, the network ranked first in organization.prefer_networks (networks not
//      listed come after every listed one);
//   4. then the challenge's own order.
std::optional<std::size_t> select_offer(std::span<const OfferJudgement> judgements,
                                        std::span<const OfferCandidate> offers,
                                        const PolicySnapshot& policy);

}  // namespace flow::policy
