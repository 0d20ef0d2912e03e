#pragma once
#include <memory>
#include <string_view>
#include <variant>
#include <vector>

#include "flow/payment/payment_rail.hpp"
#include "flow/payment/signer_registry.hpp"

namespace flow::payment {

// A 402 read by one of the rails: the rail that will pay it and its challenge.
struct RailChallengeRead {
  PaymentRail* rail = nullptr;
  std::shared_ptr<const RailChallenge> challenge;
};

// The rails this proxy pays with, in the order they are tried on a 402.
class PaymentRails {
 public:
  void add(std::unique_ptr<PaymentRail> rail);

  // The first rail that reads the 402 reads it; when none does, the first rail's error.
  std::variant<RailChallengeRead, RailError> read_challenge(const RailAnswer& answer) const;
  // The rail called `name`, or null.
  PaymentRail* find(std::string_view name) const;
  bool empty() const { return rails_.empty(); }

 private:
  std::vector<std::unique_ptr<PaymentRail>> rails_;
};

// Every rail this build pays with, over `signers` (which must outlive them). `post` is where
// their settle() completions run (the proxy's loop). A new rail is added here, not in proxy/.
PaymentRails build_payment_rails(const SignerRegistry& signers, const Post& post);

}  // namespace flow::payment
