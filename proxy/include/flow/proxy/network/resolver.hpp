#pragma once
#include <uv.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace flow::proxy {

// Asynchronous name resolution through libuv's thread pool (getaddrinfo), IPv4 and IPv6.
// The callback never runs after the returned handle is destroyed.
class Resolution {
 public:
  using Callback = std::function<void(int uv_status, std::vector<sockaddr_storage> addresses)>;
  static std::unique_ptr<Resolution> start(uv_loop_t* loop, const std::string& host,
                                           std::uint16_t port, Callback done);
  ~Resolution();
  Resolution(const Resolution&) = delete;
  Resolution& operator=(const Resolution&) = delete;

 private:
  struct Request;
  explicit Resolution(Request* request) : request_(request) {}
  Request* request_;  // freed by the libuv callback
};

}  // namespace flow::proxy
