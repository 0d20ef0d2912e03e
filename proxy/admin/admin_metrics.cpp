// /metrics: the proxy's counters (ProxyStats), the paid path's (PaymentCounters), the TLS leaf
// cache's and the ledger writer's, named by Prometheus conventions. Every series is written even
// when zero, so that rates start from the first scrape.
#include <chrono>
#include <cstddef>
#include <optional>
#include <utility>
#include <vector>

#include "metrics_scrape.hpp"

#include "flow/payment/reason.hpp"
#include "flow/proxy/admin/admin_server.hpp"
#include "flow/proxy/admin/prometheus_text.hpp"
#include "flow/proxy/exchange/tls_service.hpp"
#include "flow/proxy/paid/payment_services.hpp"
#include "flow/proxy/server.hpp"

namespace flow::proxy {
namespace {

struct Simple {
  const char* name;
  const char* type;
  const char* help;
  std::uint64_t value;
};

void write_simple(PrometheusText& out, std::initializer_list<Simple> metrics) {
  for (const Simple& m : metrics) {
    out.family(m.name, m.type, m.help);
    out.sample(m.name, m.value);
  }
}

void write_proxy(PrometheusText& out, const ProxyStats& s) {
  write_simple(
      out,
      {
          {"flow402_connections_accepted_total", "counter", "Client connections accepted.",
           s.connections_accepted},
          {"flow402_connections_active", "gauge", "Client connections open now.",
           s.connections_active},
          {"flow402_connections_rejected_total", "counter",
           "Client connections refused at the connection limit.", s.connections_rejected},
          {"flow402_transparent_connections_total", "counter",
           "Connections accepted by the transparent listener.", s.transparent_connections},
          {"flow402_exchanges_total", "counter", "Request/response exchanges started.",
           s.exchanges_total},
          {"flow402_exchanges_active", "gauge", "Exchanges in progress now.", s.exchanges_active},
          {"flow402_tunnels_total", "counter", "CONNECT tunnels opened.", s.tunnels_total},
          {"flow402_tunnels_active", "gauge", "CONNECT tunnels open now.", s.tunnels_active},
          {"flow402_tunnels_intercepted_total", "counter",
           "CONNECT tunnels decrypted with a leaf of the interception CA.", s.tunnels_intercepted},
          {"flow402_tunnels_carrying_http_total", "counter",
           "CONNECT tunnels whose first bytes were plain HTTP.", s.tunnels_carrying_http},
          {"flow402_upstream_connects_total", "counter", "Upstream connections opened.",
           s.upstream_connects},
          {"flow402_upstream_reused_total", "counter",
           "Exchanges sent on a pooled upstream connection.", s.upstream_reused},
          {"flow402_upstream_retries_total", "counter",
           "Requests sent again after a pooled connection failed.", s.upstream_retries},
          {"flow402_request_body_bytes_total", "counter", "Request body bytes forwarded.",
           s.request_body_bytes},
          {"flow402_response_body_bytes_total", "counter", "Response body bytes forwarded.",
           s.response_body_bytes},
          {"flow402_upstream_tls_resumed_total", "counter",
           "Upstream TLS handshakes completed with a resumed session.", s.upstream_tls_resumed},
      });
  out.family("flow402_tls_handshakes_total", "counter",
             "TLS handshakes: completed with intercepted clients (side=client), started with "
             "origins (side=upstream).");
  out.sample("flow402_tls_handshakes_total", {"side", "client"}, s.client_tls_handshakes);
  out.sample("flow402_tls_handshakes_total", {"side", "upstream"}, s.upstream_tls_handshakes);
  out.family("flow402_errors_total", "counter",
             "Exchanges, tunnels and connections that ended on an error, by reason code.");
  for (std::size_t i = 0; i < s.errors.size(); ++i) {
    out.sample("flow402_errors_total",
               {"reason", payment::reason_name(static_cast<payment::Reason>(i))}, s.errors[i]);
  }
}

void write_payments(PrometheusText& out, const PaymentCounters& c) {
  write_simple(
      out, {
               {"flow402_payment_challenges_total", "counter",
                "402 answers read as payment challenges.", c.challenges},
               {"flow402_payment_challenges_not_payable_total", "counter",
                "402 answers passed back unpaid (malformed, not replayable, ...).", c.not_payable},
               {"flow402_payment_offers_prepared_total", "counter",
                "Offers prepared for an agent to confirm.", c.prepared},
               {"flow402_payment_credentials_sent_total", "counter",
                "Paid retries that left the proxy with a credential.", c.credentials_sent},
               {"flow402_payment_idempotent_replays_total", "counter",
                "Requests answered from an earlier payment with the same idempotency key.",
                c.idempotent_replays},
               {"flow402_payment_credentials_resent_total", "counter",
                "Unanswered paid retries sent again with the identical credential.",
                c.credentials_resent},
           });
  out.family("flow402_payment_decisions_total", "counter",
             "Policy decisions that did not pay at once: denied, or held for review.");
  out.sample("flow402_payment_decisions_total", {"decision", "deny"}, c.denied);
  out.sample("flow402_payment_decisions_total", {"decision", "review"}, c.reviews);
  out.family("flow402_payments_total", "counter", "Payments sent, by outcome.");
  out.sample("flow402_payments_total", {"outcome", "settled"}, c.settled);
  out.sample("flow402_payments_total", {"outcome", "failed"}, c.failed);
  out.sample("flow402_payments_total", {"outcome", "unknown"}, c.unknown);
}

void write_leaf_cache(PrometheusText& out, const LeafCacheStats* leaves) {
  const LeafCacheStats none{};
  const LeafCacheStats& l = leaves != nullptr ? *leaves : none;
  write_simple(out, {
                        {"flow402_tls_leaf_cache_hits_total", "counter",
                         "Intercepted hosts served a cached leaf certificate.", l.hits},
                        {"flow402_tls_leaf_cache_misses_total", "counter",
                         "Leaf certificates minted (or failed to be).", l.misses},
                        {"flow402_tls_leaf_cache_evictions_total", "counter",
                         "Least recently used leaf certificates dropped for room.", l.evictions},
                        {"flow402_tls_leaf_cache_renewals_total", "counter",
                         "Cached leaf certificates minted again close to expiry.", l.renewals},
                        {"flow402_tls_leaf_cache_failures_total", "counter",
                         "Leaf certificates that could not be minted.", l.failures},
                    });
}

void write_ledger(PrometheusText& out, storage::LedgerWriter& ledger) {
  const storage::WriterStats s = ledger.stats();
  write_simple(out, {
                        {"flow402_ledger_operations_total", "counter",
                         "Ledger operations committed or failed.", s.operations},
                        {"flow402_ledger_batches_total", "counter",
                         "Ledger transactions (group commits).", s.batches},
                        {"flow402_ledger_failed_batches_total", "counter",
                         "Ledger transactions that failed; every operation in them got the error.",
                         s.failed_batches},
                        {"flow402_ledger_queue_depth", "gauge",
                         "Ledger operations waiting for the writer.", s.queued},
                    });
  const auto latency = ledger.commit_latency().snapshot();
  constexpr const char* name = "flow402_ledger_commit_duration_seconds";
  out.family(name, "histogram", "Ledger COMMIT duration, with the WAL fsync when durable.");
  out.histogram(name, storage::CommitLatency::kBounds, latency.cumulative, latency.sum_seconds);
}

// What the ledger counted over its life: 402s per merchant, decisions per reason, approvals per
// state (and the requests held on them now), money settled per asset.
void write_tallies(PrometheusText& out, const storage::LedgerTallies& t, const AdminSources& s) {
  out.family("flow402_merchant_challenges_total", "counter",
             "402 payment challenges per merchant origin (the busiest 50; the rest as other).");
  for (const auto& m : t.challenges_by_merchant) {
    out.sample("flow402_merchant_challenges_total", {"merchant", m.name}, m.count);
  }
  out.sample("flow402_merchant_challenges_total", {"merchant", "other"}, t.other_challenges);
  out.family("flow402_policy_decisions_total", "counter",
             "Policy decisions on payment challenges, by decision and reason.");
  for (const auto& d : t.decisions) {
    out.sample("flow402_policy_decisions_total", {"decision", d.outcome}, {"reason", d.reason},
               d.count);
  }
  out.family("flow402_approvals", "gauge",
             "Approvals in the ledger, by the state they are in now.");
  for (const auto& a : t.approvals_by_state) {
    out.sample("flow402_approvals", {"state", a.name}, a.count);
  }
  out.family("flow402_paid_atomic_total", "counter",
             "Money settled, in the asset's atomic units (USDC: millionths), by network and "
             "asset symbol (the address when the asset table has no symbol).");
  const auto snapshot = s.policy ? s.policy->current() : nullptr;
  for (const auto& p : t.paid) {
    const policy::AssetEntry* entry =
        snapshot ? snapshot->assets().find(p.network, p.asset) : nullptr;
    out.sample("flow402_paid_atomic_total", {"network", p.network},
               {"asset", entry ? entry->symbol : p.asset}, static_cast<double>(p.amount));
  }
}

}  // namespace

std::string admin_metrics_text(const AdminSources& sources, const storage::LedgerTallies* tallies) {
  PrometheusText out;
  write_proxy(out, sources.server->stats());
  write_leaf_cache(out, sources.server->tls().leaf_stats());
  write_payments(out,
                 sources.payments != nullptr ? sources.payments->counters() : PaymentCounters{});
  if (sources.payments != nullptr) write_ledger(out, sources.payments->ledger());
  out.family("flow402_approvals_held", "gauge",
             "Agents' requests held open now, waiting for an approval's decision.");
  out.sample("flow402_approvals_held",
             sources.payments != nullptr ? sources.payments->approvals().held() : 0);
  const PaymentCounters held =
      sources.payments != nullptr ? sources.payments->counters() : PaymentCounters{};
  out.family("flow402_approval_holds_total", "counter",
             "Held requests that stopped waiting, by why: the approval was approved (the request "
             "then went down the paid path), denied, expired, or review.hold passed.");
  out.sample("flow402_approval_holds_total", {"outcome", "approved"}, held.held_approved);
  out.sample("flow402_approval_holds_total", {"outcome", "denied"}, held.held_denied);
  out.sample("flow402_approval_holds_total", {"outcome", "expired"}, held.held_expired);
  out.sample("flow402_approval_holds_total", {"outcome", "timed_out"}, held.held_timed_out);
  write_tallies(out, tallies != nullptr ? *tallies : storage::LedgerTallies{}, sources);
  return out.take();
}

}  // namespace flow::proxy

namespace flow::proxy {

// The ledger's last tallies and the scrapes waiting for a fresh read. The read's completion
// finds `owner` null once the scrape (the admin server) is gone.
struct MetricsScrape::Cache {
  MetricsScrape* owner = nullptr;
  std::optional<storage::LedgerTallies> tallies;
  std::chrono::steady_clock::time_point read_at;
  std::vector<std::shared_ptr<Responder>> waiting;
};

MetricsScrape::MetricsScrape(const AdminSources& sources)
    : sources_(sources), cache_(std::make_shared<Cache>()) {
  cache_->owner = this;
}

MetricsScrape::~MetricsScrape() {
  cache_->owner = nullptr;
}

void MetricsScrape::serve(ServedAnswer& answer) {
  const bool fresh =
      cache_->tallies && std::chrono::steady_clock::now() - cache_->read_at < kTalliesMaxAge;
  if (sources_.payments == nullptr || fresh) return answer_now(answer);
  cache_->waiting.push_back(answer.defer());
  if (cache_->waiting.size() == 1) read_tallies();
}

void MetricsScrape::answer_now(ServedAnswer& answer) const {
  answer.status = 200;
  answer.content_type = kPrometheusContentType;
  answer.body = admin_metrics_text(sources_, cache_->tallies ? &*cache_->tallies : nullptr);
}

// A failed read leaves the last tallies in place; the waiting scrapes are answered either way.
void MetricsScrape::read_tallies() {
  using Tallies = storage::Result<storage::LedgerTallies>;
  auto done = sources_.payments->mailbox().on_loop<Tallies>(
      std::function<void(Tallies)>([cache = cache_](Tallies result) {
        if (cache->owner == nullptr) return;
        if (result.ok()) {
          cache->tallies = std::move(result).value();
          cache->read_at = std::chrono::steady_clock::now();
        }
        cache->owner->answer_waiting();
      }));
  auto queued = sources_.payments->ledger().submit<storage::LedgerTallies>(
      storage::Durability::batched,
      [](storage::Ledger& ledger) { return ledger.tallies(kMetricsMerchantLimit); },
      std::move(done));
  if (!queued.ok()) answer_waiting();
}

void MetricsScrape::answer_waiting() {
  ServedAnswer answer;
  answer_now(answer);
  for (auto& responder : std::exchange(cache_->waiting, {})) responder->respond(answer);
}

}  // namespace flow::proxy
