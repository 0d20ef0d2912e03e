// Where held exchanges wait for a person's decision, and where that decision arrives.
//
// A review verdict with `review.hold` parks its exchange (PaidAttempt::State::awaiting_approval)
// and waits here under the approval's id. Whoever resolves the approval in the ledger (the admin
// API, on the loop, once the resolution is durable) calls decided(); start-up expiry and the
// desk's own sweep call it for expired ones. Every waiter of that id is woken once, in the order
// it started waiting, and then forgotten. Observers (the webhook) hear every opened and decided
// approval. Loop thread only.
#pragma once
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "flow/storage/approval.hpp"

namespace flow::proxy {

class ApprovalDesk {
 public:
  using Wake = std::function<void(const storage::Approval&)>;

  // Told of approvals as they open and as they are decided (approved, denied, expired).
  class Observer {
   public:
    virtual ~Observer() = default;
    virtual void approval_opened(const storage::Approval& approval) = 0;
    virtual void approval_decided(const storage::Approval& approval) = 0;
  };

  // A waiter's place at the desk: destroying it (the exchange ended, or its hold timed out)
  // stops the wake-up. Move-only.
  class Ticket {
   public:
    Ticket() = default;
    Ticket(ApprovalDesk* desk, std::string id, std::uint64_t seq)
        : desk_(desk), id_(std::move(id)), seq_(seq) {}
    Ticket(Ticket&& other) noexcept { *this = std::move(other); }
    Ticket& operator=(Ticket&& other) noexcept;
    Ticket(const Ticket&) = delete;
    Ticket& operator=(const Ticket&) = delete;
    ~Ticket() { reset(); }
    void reset();
    explicit operator bool() const { return desk_ != nullptr; }

   private:
    ApprovalDesk* desk_ = nullptr;
    std::string id_;
    std::uint64_t seq_ = 0;
  };

  ApprovalDesk() = default;
  ApprovalDesk(const ApprovalDesk&) = delete;
  ApprovalDesk& operator=(const ApprovalDesk&) = delete;

  // Waits for `approval_id` to be decided. The ticket must not outlive the desk.
  [[nodiscard]] Ticket wait(const std::string& approval_id, Wake wake);
  // The approval left `pending` (durably): wakes its waiters and tells the observers.
  void decided(const storage::Approval& approval);
  // An approval was opened (durably): tells the observers.
  void opened(const storage::Approval& approval);

  void add_observer(Observer* observer) { observers_.push_back(observer); }
  void remove_observer(Observer* observer);

  // Exchanges held right now, over every approval.
  std::size_t held() const { return held_; }
  // Exchanges held for this approval.
  std::size_t held_for(const std::string& approval_id) const;

 private:
  struct Waiter {
    std::uint64_t seq;
    Wake wake;
  };
  void forget(const std::string& id, std::uint64_t seq);

  std::unordered_map<std::string, std::vector<Waiter>> waiting_;
  std::vector<Observer*> observers_;
  std::uint64_t next_seq_ = 1;
  std::size_t held_ = 0;
};

}  // namespace flow::proxy
