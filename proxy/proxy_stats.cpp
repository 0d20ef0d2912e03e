#include "flow/proxy/proxy_stats.hpp"

#include <cstddef>
#include <string_view>
#include <utility>

namespace flow::proxy {
namespace {

void field(std::string& out, std::string_view name, std::uint64_t value) {
  if (!out.empty()) out += ',';
  out += '"';
  out += name;
  out += "\":";
  out += std::to_string(value);
}

}  // namespace

std::string stats_fields(const ProxyStats& s) {
  static constexpr std::pair<std::string_view, std::uint64_t ProxyStats::*> kTotals[] = {
      {"connections_accepted", &ProxyStats::connections_accepted},
      {"connections_rejected", &ProxyStats::connections_rejected},
      {"exchanges_total", &ProxyStats::exchanges_total},
      {"tunnels_total", &ProxyStats::tunnels_total},
      {"upstream_connects", &ProxyStats::upstream_connects},
      {"upstream_reused", &ProxyStats::upstream_reused},
      {"upstream_retries", &ProxyStats::upstream_retries},
      {"request_body_bytes", &ProxyStats::request_body_bytes},
      {"response_body_bytes", &ProxyStats::response_body_bytes},
      {"tunnels_intercepted", &ProxyStats::tunnels_intercepted},
      {"tunnels_carrying_http", &ProxyStats::tunnels_carrying_http},
      {"transparent_connections", &ProxyStats::transparent_connections},
      {"client_tls_handshakes", &ProxyStats::client_tls_handshakes},
      {"upstream_tls_handshakes", &ProxyStats::upstream_tls_handshakes},
      {"upstream_tls_resumed", &ProxyStats::upstream_tls_resumed},
  };
  std::string out;
  for (const auto& [name, member] : kTotals) field(out, name, s.*member);
  std::string errors;
  for (std::size_t i = 0; i < s.errors.size(); ++i) {
    if (s.errors[i] == 0) continue;
    field(errors, payment::reason_name(static_cast<payment::Reason>(i)), s.errors[i]);
  }
  out += ",\"errors\":{" + errors + "}";
  return out;
}

}  // namespace flow::proxy
