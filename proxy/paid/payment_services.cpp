#include "flow/proxy/paid/payment_services.hpp"

#include <functional>

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
}

PaymentServices::~PaymentServices() = default;

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
