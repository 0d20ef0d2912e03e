#include "flow/proxy/proxy_stats.hpp"

#include <cstddef>
#include <string_view>

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
  std::string out;
  field(out, "connections_accepted", s.connections_accepted);
  field(out, "connections_rejected", s.connections_rejected);
  field(out, "exchanges_total", s.exchanges_total);
  field(out, "tunnels_total", s.tunnels_total);
  field(out, "upstream_connects", s.upstream_connects);
  field(out, "upstream_reused", s.upstream_reused);
  field(out, "upstream_retries", s.upstream_retries);
  field(out, "request_body_bytes", s.request_body_bytes);
  field(out, "response_body_bytes", s.response_body_bytes);
  std::string errors;
  for (std::size_t i = 0; i < s.errors.size(); ++i) {
    if (s.errors[i] == 0) continue;
    field(errors, proxy_error_name(static_cast<ProxyError>(i)), s.errors[i]);
  }
  out += ",\"errors\":{" + errors + "}";
  return out;
}

}  // namespace flow::proxy
