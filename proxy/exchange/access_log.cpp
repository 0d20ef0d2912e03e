#include "flow/proxy/exchange/access_log.hpp"

#include "flow/proxy/http/proxy_error.hpp"

namespace flow::proxy {

void write_access_record(LogWriter& writer, const AccessRecord& r) {
  std::string line;
  line.reserve(320);
  line += "{\"ts\":\"";
  append_timestamp(line);
  line += "\",\"type\":\"access\",\"client\":";
  append_json_string(line, r.client);
  line += ",\"method\":";
  append_json_string(line, r.method);
  line += ",\"host\":";
  append_json_string(line, r.host);
  line += ",\"port\":";
  line += std::to_string(r.port);
  if (r.transparent) line += ",\"mode\":\"transparent\"";
  if (!r.tunnel) {
    line += ",\"path\":";
    append_json_string(line, r.path);
    if (!r.scheme.empty()) {
      line += ",\"scheme\":";
      append_json_string(line, r.scheme);
    }
    if (r.in_tunnel) line += ",\"in_tunnel\":true";
  }
  line += ",\"status\":";
  line += std::to_string(r.status);
  if (r.tunnel) {
    line += ",\"bytes_up\":";
    line += std::to_string(r.request_body_bytes);
    line += ",\"bytes_down\":";
    line += std::to_string(r.response_body_bytes);
  } else {
    line += ",\"req_body_bytes\":";
    line += std::to_string(r.request_body_bytes);
    line += ",\"resp_body_bytes\":";
    line += std::to_string(r.response_body_bytes);
    line += ",\"upstream_reused\":";
    line += r.upstream_reused ? "true" : "false";
    line += ",\"ttfb_us\":";
    line += std::to_string(r.ttfb_us);
  }
  line += ",\"duration_us\":";
  line += std::to_string(r.duration_us);
  line += ",\"connect_us\":";
  line += std::to_string(r.connect_us);
  if (!r.agent.empty()) {
    line += ",\"agent\":";
    append_json_string(line, r.agent);
  }
  if (!r.payment.empty()) {
    line += ",\"payment\":";
    append_json_string(line, r.payment);
    line += ",\"payment_us\":";
    line += std::to_string(r.payment_us);
  }
  if (!r.receipt.empty()) {
    line += ",\"receipt\":";
    append_json_string(line, r.receipt);
  }
  if (!r.reason.empty()) {
    line += ",\"reason\":";
    append_json_string(line, r.reason.name());
  }
  if (r.error) {
    line += ",\"error\":\"";
    line += payment::reason_name(*r.error);
    line += '"';
  }
  line += "}\n";
  writer.append(line);
}

}  // namespace flow::proxy
