#pragma once
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "flow/payment/evm_key.hpp"
#include "flow/payment/key_file.hpp"

namespace flow::payment {

// What a wallet pays with: one key, usable by the rails it names. The secret never leaves the
// signer; what it shows is public (an address, a node id).
class Signer {
 public:
  virtual ~Signer() = default;
  // Whether `rail` ("x402", later "l402", "mpp", ...) can pay with this signer.
  virtual bool serves(std::string_view rail) const = 0;
  // The public identity payments come from (an EVM address, EIP-55 checksummed), for logs.
  virtual std::string address() const = 0;
};

// A secp256k1 key that signs EVM payloads (x402 "exact" over EIP-3009 and Permit2).
class EvmSigner final : public Signer {
 public:
  explicit EvmSigner(EvmKey key) : key_(std::move(key)) {}
  bool serves(std::string_view rail) const override;
  std::string address() const override;
  const EvmKey& key() const { return key_; }

 private:
  EvmKey key_;
};

// True when a wallet listing `networks` (CAIP-2 ids, or "eip155:*" for every EVM chain) pays on
// `network`.
bool wallet_covers(const std::vector<std::string>& networks, std::string_view network);

// A wallet as configured (flow.yaml `wallets:`), before its key is loaded.
struct WalletConfig {
  std::string name;
  std::vector<std::string> networks;
  KeySource key;
};

// The configured wallets' signers, looked up by (rail, network). Immutable once built and safe
// to read from any thread (the ledger's writer signs with it).
class SignerRegistry {
 public:
  struct Entry {
    std::string name;
    std::vector<std::string> networks;
    std::unique_ptr<const Signer> signer;
  };

  SignerRegistry() = default;
  // Loads every wallet's key (file permissions checked). Throws std::runtime_error naming the
  // wallet and the problem, never key material: a proxy that cannot pay must not start as if
  // it could.
  static SignerRegistry load(const std::vector<WalletConfig>& wallets);

  void add(std::string name, std::vector<std::string> networks,
           std::unique_ptr<const Signer> signer);

  // The first wallet whose networks cover `network` and whose signer serves `rail`, or null.
  const Signer* find(std::string_view rail, std::string_view network) const;
  // The same, when the caller needs a particular kind of signer (null for another kind).
  template <class S>
  const S* find_as(std::string_view rail, std::string_view network) const {
    return dynamic_cast<const S*>(find(rail, network));
  }

  const std::vector<Entry>& entries() const { return entries_; }
  bool empty() const { return entries_.empty(); }

 private:
  std::vector<Entry> entries_;
};

}  // namespace flow::payment
