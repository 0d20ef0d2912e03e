// The admin commands' HTTP client: one blocking HTTP/1.1 request to the running proxy's admin
// API (loopback, plain HTTP), with the bearer token. Just enough for `402flow approvals`,
// `attempts`, `reconcile` and `decisions`.
#pragma once
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>

namespace flow::proxy {

// The admin API could not be reached or did not answer HTTP.
class AdminClientError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct AdminEndpoint {
  std::string host;  // an IP literal (or localhost)
  std::uint16_t port = 0;
  std::string token;  // empty: none sent
};

// "http://127.0.0.1:9402", "http://127.0.0.1:9402/" or "127.0.0.1:9402"; throws
// AdminClientError naming what is wrong.
AdminEndpoint parse_admin_url(std::string_view url);

struct AdminReply {
  int status = 0;
  std::string body;
};

// Sends one request (Connection: close) and reads the whole answer; throws AdminClientError.
AdminReply admin_request(const AdminEndpoint& endpoint, std::string_view method,
                         std::string_view target, std::string_view json_body = {});

}  // namespace flow::proxy
