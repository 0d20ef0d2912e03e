#pragma once
#include <string>
#include <string_view>

#include "flow/payment/reason.hpp"
#include "flow/proxy/http/proxy_answer.hpp"

namespace flow::proxy {

// The answer for an error of the proxy's own (a payment::Reason, in practice of the transport
// category: bad_request, upstream_timeout, ...): JSON body {"error", "message"} with the reason's
// name, X-402flow-Error, the reason's status, code = the reason. These answers end the connection
// (`close` is set); proxy_auth_required adds the Proxy-Authenticate challenge.
ProxyAnswer error_answer(payment::Reason reason, std::string_view message);

// error_answer, serialized; "Connection: close" when `close` is set.
std::string error_response(payment::Reason reason, std::string_view message, bool close);

// JSON string escaping (quotes included) for log lines and error bodies.
void append_json_string(std::string& out, std::string_view s);

}  // namespace flow::proxy
