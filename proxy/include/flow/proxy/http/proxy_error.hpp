#pragma once
#include <optional>
#include <string>
#include <string_view>

#include "flow/payment/reason.hpp"
#include "flow/proxy/http/proxy_answer.hpp"

namespace flow::proxy {

// How an exchange, a tunnel or a connection ended when the proxy answered (or ended it) itself.
// Each error but none is a payment::Reason of the transport category (reason_of), whose stable
// name appears in the JSON error body, the X-402flow-Error header, the access log and the
// metrics. The enum stays: it also says "none", and indexes ProxyStats' counters.
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

// Nothing for none.
std::optional<payment::Reason> reason_of(ProxyError e);
std::string_view proxy_error_name(ProxyError e);  // the reason's name; "none" for none
int proxy_error_status(ProxyError e);             // the reason's status; 0 for none

// The proxy's answer for `e`: JSON body {"error", "message"}, X-402flow-Error, code = the name.
// Proxy errors end the connection (`close` is set).
ProxyAnswer error_answer(ProxyError e, std::string_view message);

// error_answer, serialized; "Connection: close" when `close` is set.
std::string error_response(ProxyError e, std::string_view message, bool close);

// JSON string escaping (quotes included) for log lines and error bodies.
void append_json_string(std::string& out, std::string_view s);

}  // namespace flow::proxy
