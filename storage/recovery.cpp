#include "recovery.hpp"

#include <string>

#include "attempt_lifecycle.hpp"
#include "attempt_store.hpp"

namespace flow::storage {
namespace {

void append_ids(std::string& out, const std::vector<std::int64_t>& ids) {
  constexpr std::size_t kShown = 20;
  out += " [";
  for (std::size_t i = 0; i < ids.size() && i < kShown; ++i) {
    if (i != 0) out += ", ";
    out += std::to_string(ids[i]);
  }
  if (ids.size() > kShown) out += ", ... " + std::to_string(ids.size() - kShown) + " more";
  out += "]";
}

std::vector<std::int64_t> ids_of(const std::vector<Attempt>& attempts) {
  std::vector<std::int64_t> ids;
  ids.reserve(attempts.size());
  for (const auto& a : attempts) ids.push_back(a.id);
  return ids;
}

}  // namespace

std::string RecoveryReport::summary() const {
  if (empty()) return "ledger recovery: nothing was in flight";
  std::string out = "ledger recovery: ";
  out += std::to_string(marked_unknown.size()) + " attempt(s) in flight marked unknown";
  if (!marked_unknown.empty()) append_ids(out, ids_of(marked_unknown));
  out += " (still counted against caps); " + std::to_string(released.size()) +
         " unsigned reservation(s) released";
  if (!released.empty()) append_ids(out, released);
  out += "; " + std::to_string(awaiting_reconciliation.size()) +
         " attempt(s) with an unknown outcome await reconciliation";
  if (!awaiting_reconciliation.empty()) append_ids(out, ids_of(awaiting_reconciliation));
  return out;
}

Result<RecoveryReport> recover_in_flight(LedgerContext& ctx) {
  RecoveryReport report;
  for (AttemptState state : {AttemptState::signed_, AttemptState::submitted}) {
    auto stranded = attempt_store::in_state(ctx, state);
    if (!stranded.ok()) return stranded.error();
    for (const Attempt& a : stranded.value()) {
      Outcome unknown;
      unknown.state = AttemptState::unknown;
      unknown.failure_code = payment::Reason::payment_interrupted;
      unknown.failure_reason = "interrupted: 402flow stopped while the payment was " +
                               std::string(attempt_state_name(state)) +
                               "; the merchant may have been paid";
      auto receipt = attempt_lifecycle::finalize(ctx, a.id, unknown);
      if (!receipt.ok()) return receipt.error();
      report.marked_unknown.push_back(std::move(receipt).value().attempt);
    }
  }
  auto reserved = attempt_store::in_state(ctx, AttemptState::reserved);
  if (!reserved.ok()) return reserved.error();
  for (const Attempt& a : reserved.value()) {
    auto released = attempt_lifecycle::release(
        ctx, a.id, payment::Reason::payment_interrupted,
        "released at start-up: 402flow stopped before a credential was produced");
    if (!released.ok()) return released.error();
    report.released.push_back(a.id);
  }
  auto unknown = attempt_store::in_state(ctx, AttemptState::unknown);
  if (!unknown.ok()) return unknown.error();
  report.awaiting_reconciliation = std::move(unknown).value();
  return report;
}

}  // namespace flow::storage
