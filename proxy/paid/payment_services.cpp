#include "flow/proxy/paid/payment_services.hpp"

#include <algorithm>
#include <chrono>
#include <functional>

#include "flow/payment/unix_clock.hpp"
#include "flow/storage/decision.hpp"

namespace flow::proxy {

payment::SignerRegistry load_signers(const std::vector<policy::WalletSpec>& specs) {
  std::vector<payment::WalletConfig> wallets;
  wallets.reserve(specs.size());
  for (const auto& spec : specs) {
    wallets.push_back({spec.name, spec.networks, {spec.key_file, spec.key_env}});
  }
  return payment::SignerRegistry::load(wallets);
}

PaymentServices::PaymentServices(uv_loop_t* loop, std::shared_ptr<policy::PolicyStore> policy,
                                 std::unique_ptr<storage::LedgerWriter> ledger,
                                 payment::SignerRegistry signers, storage::UrlQueryMode url_query)
    : policy_(std::move(policy)),
      signers_(std::move(signers)),
      ledger_(std::move(ledger)),
      url_query_(url_query),
      mailbox_(loop) {
  rails_ = payment::build_payment_rails(
      signers_, [this](std::function<void()> fn) { (void)mailbox_.post(std::move(fn)); });
  sweep_timer_ = std::make_unique<Timer>(loop, [this] { sweep_expired(); });
  watch_pending_approvals();
}

void PaymentServices::watch_pending_approvals() {
  // Approvals left pending by an earlier run expire on time too (those already past their
  // expiry at the first sweep).
  std::weak_ptr<bool> alive = alive_;
  auto done = mailbox_.on_loop<storage::Result<std::vector<storage::Approval>>>(
      [this, alive](storage::Result<std::vector<storage::Approval>> pending) {
        if (alive.expired() || !pending.ok()) return;
        for (const auto& a : pending.value()) expire_at(a.request.expires_at_ms);
      });
  (void)ledger_->submit<std::vector<storage::Approval>>(
      storage::Durability::batched,
      [](storage::Ledger& ledger) { return ledger.pending_approvals(); }, std::move(done));
}

PaymentServices::~PaymentServices() {
  *alive_ = false;
}

void PaymentServices::expire_at(std::int64_t expires_at_ms) {
  if (expires_at_ms == 0) return;  // never expires
  expiries_.insert(expires_at_ms);
  arm_sweep();
}

void PaymentServices::arm_sweep() {
  if (expiries_.empty()) {
    sweep_timer_->stop();
    return;
  }
  const std::int64_t wait = std::max<std::int64_t>(0, *expiries_.begin() - payment::unix_now_ms());
  sweep_timer_->start(std::chrono::milliseconds(wait));
}

void PaymentServices::sweep_expired() {
  const std::int64_t now = payment::unix_now_ms();
  expiries_.erase(expiries_.begin(), expiries_.upper_bound(now));
  // The ledger's clock decides what has expired; its completion comes back on the loop.
  std::weak_ptr<bool> alive = alive_;
  auto done = mailbox_.on_loop<storage::Result<std::vector<storage::Approval>>>(
      [this, alive](storage::Result<std::vector<storage::Approval>> expired) {
        if (alive.expired() || !expired.ok()) return;
        for (const auto& a : expired.value()) {
          ++counters_.approvals_expired;
          approvals_.decided(a);
        }
      });
  (void)ledger_->submit<std::vector<storage::Approval>>(
      storage::Durability::durable,
      [](storage::Ledger& ledger) { return ledger.expire_approvals(); }, std::move(done));
  arm_sweep();
}

payment::PaymentRail& PaymentServices::rail_for(const payment::RailChallenge& challenge) const {
  // Only a rail of rails_ makes challenges, so the lookup cannot miss.
  return *rails_.find(challenge.rail());
}

std::string PaymentServices::add_prepared(PreparedOffer offer, std::int64_t now) {
  // Expired entries go when new ones come, so the map stays bounded by the request rate.
  for (auto it = prepared_.begin(); it != prepared_.end();) {
    it = it->second.expires_at <= now ? prepared_.erase(it) : std::next(it);
  }
  offer.id = storage::new_record_id("prep_");
  offer.expires_at = now + kPreparedTtl;
  std::string id = offer.id;
  prepared_.emplace(id, std::move(offer));
  return id;
}

std::optional<PreparedOffer> PaymentServices::take_prepared(std::string_view id, std::int64_t now) {
  const auto it = prepared_.find(std::string(id));
  if (it == prepared_.end()) return std::nullopt;
  PreparedOffer offer = std::move(it->second);
  prepared_.erase(it);
  if (offer.expires_at <= now) return std::nullopt;
  return offer;
}

}  // namespace flow::proxy
