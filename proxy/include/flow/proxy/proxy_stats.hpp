#pragma once
#include <array>
#include <cstddef>
#include <cstdint>
#include <string>

#include "flow/payment/reason.hpp"

namespace flow::proxy {

// Counted where things happen. Today the "stopped" log line reports the totals (stats_fields);
// the admin API's metrics will read the same counters.
struct ProxyStats {
  std::uint64_t connections_accepted = 0;
  std::uint64_t connections_active = 0;
  std::uint64_t connections_rejected = 0;
  std::uint64_t exchanges_total = 0;
  std::uint64_t exchanges_active = 0;
  std::uint64_t tunnels_total = 0;
  std::uint64_t tunnels_active = 0;
  std::uint64_t upstream_connects = 0;
  std::uint64_t upstream_reused = 0;
  std::uint64_t upstream_retries = 0;
  std::uint64_t request_body_bytes = 0;
  std::uint64_t response_body_bytes = 0;
  // CONNECT tunnels decrypted (TLS terminated with a leaf of the CA), and those whose first
  // bytes were plain HTTP: both run exchanges rather than a splice.
  std::uint64_t tunnels_intercepted = 0;
  std::uint64_t tunnels_carrying_http = 0;
  std::uint64_t transparent_connections = 0;  // accepted by the transparent listener
  std::uint64_t client_tls_handshakes = 0;    // completed with intercepted clients
  std::uint64_t upstream_tls_handshakes = 0;  // started with origins (https targets)
  std::uint64_t upstream_tls_resumed = 0;     // of those, completed with a resumed session
  std::array<std::uint64_t, payment::kReasonCount> errors{};  // indexed by Reason

  // An exchange, tunnel or connection that ended on `reason` (the transport category).
  void count(payment::Reason reason) { ++errors[static_cast<std::size_t>(reason)]; }
};

// The totals as JSON log fields: "connections_accepted":N,... and "errors":{"code":N,...} for
// every reason counted at least once, in the taxonomy's order.
std::string stats_fields(const ProxyStats& stats);

}  // namespace flow::proxy
