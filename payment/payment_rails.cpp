#include "flow/payment/payment_rails.hpp"

#include <optional>
#include <utility>

#include "flow/payment/x402_rail.hpp"

namespace flow::payment {

void PaymentRails::add(std::unique_ptr<PaymentRail> rail) {
  rails_.push_back(std::move(rail));
}

std::variant<RailChallengeRead, RailError> PaymentRails::read_challenge(
    const RailAnswer& answer) const {
  std::optional<RailError> first_error;
  for (const auto& rail : rails_) {
    ChallengeRead read = rail->read_challenge(answer);
    if (auto* challenge = std::get_if<std::shared_ptr<const RailChallenge>>(&read)) {
      return RailChallengeRead{rail.get(), std::move(*challenge)};
    }
    if (!first_error) first_error = std::get<RailError>(std::move(read));
  }
  if (first_error) return std::move(*first_error);
  return rail_error(Reason::no_rail, "no payment rail is configured");
}

PaymentRail* PaymentRails::find(std::string_view name) const {
  for (const auto& rail : rails_) {
    if (rail->name() == name) return rail.get();
  }
  return nullptr;
}

PaymentRails build_payment_rails(const SignerRegistry& signers, const Post& post) {
  PaymentRails rails;
  rails.add(std::make_unique<X402Rail>(signers, post));
  return rails;
}

}  // namespace flow::payment
