#include "flow/proxy/paid/payment_services.hpp"

#include <stdexcept>
#include <variant>

#include "flow/payment/evm_address.hpp"
#include "flow/payment/key_file.hpp"
#include "flow/storage/decision.hpp"

namespace flow::proxy {

std::vector<Wallet> load_wallets(const std::vector<policy::WalletSpec>& specs) {
  std::vector<Wallet> wallets;
  for (const auto& spec : specs) {
    auto loaded = payment::load_evm_key({spec.key_file, spec.key_env});
    if (auto* error = std::get_if<std::string>(&loaded)) {
      throw std::runtime_error("wallet '" + spec.name + "': " + *error);
    }
    wallets.push_back(Wallet{spec, std::move(std::get<payment::EvmKey>(loaded))});
  }
  return wallets;
}

PaymentServices::PaymentServices(uv_loop_t* loop, std::shared_ptr<policy::PolicyStore> policy,
                                 std::unique_ptr<storage::LedgerWriter> ledger,
                                 std::vector<Wallet> wallets, storage::UrlQueryMode url_query)
    : policy_(std::move(policy)),
      wallets_(std::move(wallets)),
      ledger_(std::move(ledger)),
      url_query_(url_query),
      mailbox_(loop) {}

PaymentServices::~PaymentServices() = default;

const Wallet* PaymentServices::wallet_for(std::string_view network) const {
  for (const Wallet& w : wallets_) {
    if (w.spec.covers(network)) return &w;
  }
  return nullptr;
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
