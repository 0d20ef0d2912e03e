#include "flow/proxy/http/proxy_answer.hpp"

namespace flow::proxy {

std::string serialize_answer(const ProxyAnswer& answer, Persistence persistence) {
  HeaderList headers = answer.headers;
  headers.push_back({"Content-Length", std::to_string(answer.body.size())});
  if (persistence == Persistence::close) {
    headers.push_back({"Connection", "close"});
  } else if (persistence == Persistence::keep_alive_http10) {
    headers.push_back({"Connection", "keep-alive"});
  }
  std::string out;
  out.reserve(256 + answer.body.size());
  serialize_response_head(answer.status,
                          answer.phrase.empty() ? default_reason(answer.status) : answer.phrase,
                          headers, out);
  out += answer.body;
  return out;
}

}  // namespace flow::proxy
