#include "flow/payment/signer_registry.hpp"

#include <stdexcept>
#include <utility>
#include <variant>

#include "flow/payment/evm_address.hpp"

namespace flow::payment {

bool EvmSigner::serves(std::string_view rail) const {
  return rail == "x402";
}

std::string EvmSigner::address() const {
  return evm_address_checksummed(key_.address());
}

bool wallet_covers(const std::vector<std::string>& networks, std::string_view network) {
  for (const auto& n : networks) {
    if (n == network) return true;
    if (n == "eip155:*" && network.substr(0, 7) == "eip155:") return true;
  }
  return false;
}

SignerRegistry SignerRegistry::load(const std::vector<WalletConfig>& wallets) {
  SignerRegistry registry;
  for (const auto& wallet : wallets) {
    auto loaded = load_evm_key(wallet.key);
    if (auto* error = std::get_if<std::string>(&loaded)) {
      throw std::runtime_error("wallet '" + wallet.name + "': " + *error);
    }
    registry.add(wallet.name, wallet.networks,
                 std::make_unique<EvmSigner>(std::move(std::get<EvmKey>(loaded))));
  }
  return registry;
}

void SignerRegistry::add(std::string name, std::vector<std::string> networks,
                         std::unique_ptr<const Signer> signer) {
  entries_.push_back({std::move(name), std::move(networks), std::move(signer)});
}

const Signer* SignerRegistry::find(std::string_view rail, std::string_view network) const {
  for (const Entry& e : entries_) {
    if (e.signer->serves(rail) && wallet_covers(e.networks, network)) return e.signer.get();
  }
  return nullptr;
}

}  // namespace flow::payment
