#pragma once
#include <string>
#include <string_view>

#include "flow/proxy/http/proxy_answer.hpp"

namespace flow::proxy {

// Why the proxy answered (or ended an exchange) itself. The name is stable: it appears in the
// JSON error body, the X-402flow-Error header, the access log and the metrics.
enum class ProxyError {
  none,
  bad_request,
  header_too_large,
  request_timeout,
  connect_port_denied,
  loop_detected,
  not_implemented,
  upstream_unreachable,
  upstream_timeout,
  upstream_protocol,  // the origin's bytes were not valid HTTP/1.x
  too_many_connections,
  client_closed,    // the client went away before the exchange ended
  upstream_closed,  // the origin went away after the response head was sent on
  shutting_down,
  proxy_auth_required,  // shared mode: no valid Proxy-Authorization (407)
};
constexpr int kProxyErrorCount = static_cast<int>(ProxyError::proxy_auth_required) + 1;

std::string_view proxy_error_name(ProxyError e);
int proxy_error_status(ProxyError e);

// The proxy's answer for `e`: JSON body {"error", "message"}, X-402flow-Error, code = the name.
// Proxy errors end the connection (`close` is set).
ProxyAnswer error_answer(ProxyError e, std::string_view message);

// error_answer, serialized; "Connection: close" when `close` is set.
std::string error_response(ProxyError e, std::string_view message, bool close);

// JSON string escaping (quotes included) for log lines and error bodies.
void append_json_string(std::string& out, std::string_view s);

}  // namespace flow::proxy
