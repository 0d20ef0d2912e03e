#include "flow/proxy/paid/approval_desk.hpp"

#include <algorithm>
#include <utility>

namespace flow::proxy {

ApprovalDesk::Ticket& ApprovalDesk::Ticket::operator=(Ticket&& other) noexcept {
  if (this != &other) {
    reset();
    desk_ = std::exchange(other.desk_, nullptr);
    id_ = std::move(other.id_);
    seq_ = other.seq_;
  }
  return *this;
}

void ApprovalDesk::Ticket::reset() {
  if (desk_ != nullptr) std::exchange(desk_, nullptr)->forget(id_, seq_);
}

ApprovalDesk::Ticket ApprovalDesk::wait(const std::string& approval_id, Wake wake) {
  const std::uint64_t seq = next_seq_++;
  waiting_[approval_id].push_back({seq, std::move(wake)});
  ++held_;
  return Ticket(this, approval_id, seq);
}

void ApprovalDesk::forget(const std::string& id, std::uint64_t seq) {
  const auto it = waiting_.find(id);
  if (it == waiting_.end()) return;
  auto& waiters = it->second;
  const auto w =
      std::find_if(waiters.begin(), waiters.end(), [seq](const Waiter& x) { return x.seq == seq; });
  if (w == waiters.end()) return;
  waiters.erase(w);
  --held_;
  if (waiters.empty()) waiting_.erase(it);
}

void ApprovalDesk::decided(const storage::Approval& approval) {
  const auto it = waiting_.find(approval.id);
  if (it != waiting_.end()) {
    // Taken out first: a woken exchange may end (destroying its ticket) or wait again.
    std::vector<Waiter> waiters = std::move(it->second);
    waiting_.erase(it);
    held_ -= waiters.size();
    for (auto& w : waiters) w.wake(approval);
  }
  for (Observer* o : observers_) o->approval_decided(approval);
}

void ApprovalDesk::opened(const storage::Approval& approval) {
  for (Observer* o : observers_) o->approval_opened(approval);
}

void ApprovalDesk::remove_observer(Observer* observer) {
  observers_.erase(std::remove(observers_.begin(), observers_.end(), observer), observers_.end());
}

std::size_t ApprovalDesk::held_for(const std::string& approval_id) const {
  const auto it = waiting_.find(approval_id);
  return it == waiting_.end() ? 0 : it->second.size();
}

}  // namespace flow::proxy
