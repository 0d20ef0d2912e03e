// The approval webhook (admin.webhook in flow.yaml): every approval that opens or is decided is
// POSTed as JSON to the operator's receiver, signed with HMAC-SHA256 over the body
// (`X-402flow-Signature: sha256=<hex>`). Deliveries leave from the loop without ever blocking
// it: one at a time, each try bounded by a timeout, failed tries retried with exponential
// backoff a bounded number of times and then dropped with a log line; events wait in a bounded
// queue, so a dead or slow receiver neither grows memory nor slows the proxy. The secret never
// appears in a log line. docs/admin.md ("The approval webhook") describes the payload.
#pragma once
#include <uv.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "flow/policy/asset_table.hpp"
#include "flow/policy/flow_config.hpp"
#include "flow/policy/policy_store.hpp"
#include "flow/proxy/log_writer.hpp"
#include "flow/proxy/paid/approval_desk.hpp"
#include "flow/storage/approval.hpp"

namespace flow::proxy {

struct WebhookOptions {
  std::string url;                                // http://host[:port][/path]
  std::string secret;                             // the HMAC key (admin.webhook.secret_file)
  std::chrono::milliseconds timeout{5000};        // one try: connect, send, the status line
  int max_tries = 5;                              // then the event is dropped
  std::chrono::milliseconds first_backoff{1000};  // before the 2nd try; doubled after each
  std::size_t max_queue = 1000;                   // events waiting; more are dropped
};

// The approval as the /v1/ API shows it (docs/admin.md, "Objects"), as a JSON object.
using ApprovalRenderer = std::function<std::string(const storage::Approval&)>;

// The contract's approval object: amounts with decimals, symbol and display from `assets`,
// times as ISO 8601 with their _ms twins, `held` as given.
std::string approval_object_json(const storage::Approval& approval,
                                 const policy::AssetTable& assets, std::size_t held);

// "sha256=<lower-case hex of HMAC-SHA256(secret, body)>".
std::string webhook_signature(std::string_view secret, std::string_view body);

// The URL admin.webhook.url may name: http:// with a host; empty when valid, else why not.
std::string webhook_url_problem(std::string_view url);

class ApprovalWebhook final : public ApprovalDesk::Observer {
 public:
  struct Stats {
    std::uint64_t queued = 0;      // events accepted
    std::uint64_t tries = 0;       // POSTs started
    std::uint64_t delivered = 0;   // answered 2xx
    std::uint64_t given_up = 0;    // every try failed
    std::uint64_t overflowed = 0;  // dropped because the queue was full
  };

  // Throws std::invalid_argument when options.url is not a valid webhook URL.
  ApprovalWebhook(uv_loop_t* loop, WebhookOptions options, ApprovalRenderer render, Logger& log);
  ~ApprovalWebhook() override;
  ApprovalWebhook(const ApprovalWebhook&) = delete;
  ApprovalWebhook& operator=(const ApprovalWebhook&) = delete;

  // Listens to `desk` until destroyed (the desk must outlive the webhook).
  void observe(ApprovalDesk& desk);

  void approval_opened(const storage::Approval& approval) override;
  void approval_decided(const storage::Approval& approval) override;

  const Stats& stats() const;
  // Events not yet delivered or given up, the one being sent included.
  std::size_t pending() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
  ApprovalDesk* desk_ = nullptr;
};

class PaymentServices;

// admin.webhook's webhook, listening to the paid path's approval desk, its approvals rendered
// with the current policy's asset table; null without a webhook or without the paid path. Must
// be destroyed before `payments`.
std::unique_ptr<ApprovalWebhook> open_approval_webhook(
    uv_loop_t* loop, const policy::WebhookSettings& settings, std::string secret,
    PaymentServices* payments, std::shared_ptr<policy::PolicyStore> policy, Logger& log);

}  // namespace flow::proxy
