#pragma once
#include <uv.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "flow/payment/offer.hpp"
#include "flow/payment/payment_rails.hpp"
#include "flow/payment/signer_registry.hpp"
#include "flow/policy/flow_config.hpp"
#include "flow/policy/policy_store.hpp"
#include "flow/proxy/network/loop_mailbox.hpp"
#include "flow/proxy/network/timer.hpp"
#include "flow/proxy/paid/approval_desk.hpp"
#include "flow/storage/ledger_writer.hpp"
#include "flow/storage/url_redaction.hpp"

namespace flow::proxy {

// Loads every wallet's key (file permissions checked) into the signer registry the rails pay
// with. Throws std::runtime_error naming the wallet and the problem (never key material): a proxy
// that cannot pay must not start as if it could.
payment::SignerRegistry load_signers(const std::vector<policy::WalletSpec>& specs);

// An offer the agent looked at with `X-402flow-Mode: prepare` and may now execute.
struct PreparedOffer {
  std::string id;
  std::string agent;
  std::string method;
  std::string url;
  payment::Offer offer;
  std::int64_t expires_at = 0;  // unix seconds
};

struct PaymentCounters {
  std::uint64_t challenges = 0;   // 402s read as payment challenges
  std::uint64_t not_payable = 0;  // 402s passed back unpaid (malformed, not replayable, ...)
  std::uint64_t denied = 0;
  std::uint64_t reviews = 0;
  std::uint64_t prepared = 0;
  std::uint64_t credentials_sent = 0;  // paid retries that left the proxy
  std::uint64_t settled = 0;
  std::uint64_t failed = 0;
  std::uint64_t unknown = 0;
  std::uint64_t idempotent_replays = 0;
  std::uint64_t credentials_resent = 0;  // unanswered paid retries sent again (payment-identifier)
  std::uint64_t approvals_opened = 0;    // approvals opened by review verdicts (not reused)
  std::uint64_t approvals_expired = 0;   // pending approvals the expiry sweep expired
  std::uint64_t held_approved = 0;       // held requests woken approved (then decided again)
  std::uint64_t held_denied = 0;         // held requests answered approval_denied
  std::uint64_t held_expired = 0;        // held requests answered approval_expired
  std::uint64_t held_timed_out = 0;      // held requests whose review.hold passed
  // Requests held right now: ApprovalDesk::held() (a gauge, not kept here).
};

// What the paid path needs beyond the pass-through proxy: the policy in force, the ledger's
// writer, the payment rails with the wallets' signers, and the prepared offers. Lives on the loop
// thread; the ledger's completions come back through the mailbox.
class PaymentServices {
 public:
  PaymentServices(uv_loop_t* loop, std::shared_ptr<policy::PolicyStore> policy,
                  std::unique_ptr<storage::LedgerWriter> ledger, payment::SignerRegistry signers,
                  storage::UrlQueryMode url_query);
  ~PaymentServices();
  PaymentServices(const PaymentServices&) = delete;
  PaymentServices& operator=(const PaymentServices&) = delete;

  std::shared_ptr<const policy::PolicySnapshot> policy() const { return policy_->current(); }
  storage::LedgerWriter& ledger() { return *ledger_; }
  const LoopMailbox& mailbox() const { return mailbox_; }
  storage::UrlQueryMode url_query() const { return url_query_; }
  PaymentCounters& counters() { return counters_; }
  // Held exchanges waiting for a person's decision, and whoever decides (the admin API).
  ApprovalDesk& approvals() { return approvals_; }
  // An approval (opened, or held on) expires at `expires_at_ms` (unix ms): at that time the
  // pending approvals past their expiry are expired in the ledger (on the writer) and each is
  // handed to approvals().decided(), which wakes its holders and tells the observers. The
  // approvals pending at start-up are watched the same way.
  void expire_at(std::int64_t expires_at_ms);

  // The rails in the order they read a 402; their settle() completions run on the loop.
  const payment::PaymentRails& rails() const { return rails_; }
  // The rail that read `challenge`.
  payment::PaymentRail& rail_for(const payment::RailChallenge& challenge) const;
  // A rail beyond the ones this build makes (an embedder's, a test's), tried after them.
  void add_rail(std::unique_ptr<payment::PaymentRail> rail) { rails_.add(std::move(rail)); }

  // Prepared offers live in memory for kPreparedTtl: a restart forgets them (the agent then
  // prepares again), which can never cause a payment.
  static constexpr std::int64_t kPreparedTtl = 300;
  std::string add_prepared(PreparedOffer offer, std::int64_t now);
  // Removes and returns it: a prepared id is used once.
  std::optional<PreparedOffer> take_prepared(std::string_view id, std::int64_t now);

 private:
  std::shared_ptr<policy::PolicyStore> policy_;
  // Before ledger_: the writer's jobs sign through these until it stops.
  payment::SignerRegistry signers_;
  payment::PaymentRails rails_;
  std::unique_ptr<storage::LedgerWriter> ledger_;
  storage::UrlQueryMode url_query_;
  LoopMailbox mailbox_;
  PaymentCounters counters_;
  ApprovalDesk approvals_;
  std::unordered_map<std::string, PreparedOffer> prepared_;
  void watch_pending_approvals();
  void sweep_expired();
  void arm_sweep();
  // Expiry times of held approvals still to sweep at, earliest first.
  std::set<std::int64_t> expiries_;
  std::unique_ptr<Timer> sweep_timer_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace flow::proxy
