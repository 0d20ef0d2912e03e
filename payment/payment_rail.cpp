#include "flow/payment/payment_rail.hpp"

#include <utility>

namespace flow::payment {

void CancelHandle::cancel() {
  if (!state_ || state_->finished || state_->cancelled) return;
  state_->cancelled = true;
  if (auto abort = std::move(state_->abort)) abort();
}

bool CancelHandle::cancelled() const {
  return state_ && state_->cancelled;
}

SettleCompletion::SettleCompletion(SettleDone done)
    : state_(std::make_shared<CancelHandle::State>()),
      done_(std::make_shared<SettleDone>(std::move(done))) {}

CancelHandle SettleCompletion::handle(std::function<void()> abort) const {
  state_->abort = std::move(abort);
  return CancelHandle(state_);
}

void SettleCompletion::complete(SettleResult result) const {
  if (state_->cancelled || state_->finished) return;
  state_->finished = true;
  state_->abort = nullptr;
  SettleDone done = std::move(*done_);
  if (done) done(std::move(result));
}

RailError rail_error(Reason reason, std::string detail) {
  return RailError{reason, std::move(detail)};
}

SettleResult PaymentRail::credential_now(const SettleRequest& /*request*/) const {
  return rail_error(Reason::not_supported,
                    std::string(name()) + " makes credentials through settle()");
}

std::vector<std::size_t> payable_offers(const PaymentRail& rail, const RailChallenge& challenge) {
  std::vector<std::size_t> payable;
  for (std::size_t i = 0; i < challenge.offers().size(); ++i) {
    if (rail.unpayable_reason(challenge, i).empty()) payable.push_back(i);
  }
  return payable;
}

}  // namespace flow::payment
