#include "flow/proxy/network/resolver.hpp"

#include <cstring>

namespace flow::proxy {

struct Resolution::Request {
  uv_getaddrinfo_t req{};
  Callback done;
  Resolution* owner = nullptr;  // cleared when either side goes first
};

std::unique_ptr<Resolution> Resolution::start(uv_loop_t* loop, const std::string& host,
                                              std::uint16_t port, Callback done) {
  auto request = std::make_unique<Request>();
  request->done = std::move(done);
  request->req.data = request.get();
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_ADDRCONFIG;
  const std::string service = std::to_string(port);
  const int rc = uv_getaddrinfo(
      loop, &request->req,
      [](uv_getaddrinfo_t* req, int status, addrinfo* res) {
        std::unique_ptr<Request> r(static_cast<Request*>(req->data));
        if (r->owner != nullptr) r->owner->request_ = nullptr;
        std::vector<sockaddr_storage> addresses;
        for (addrinfo* ai = res; ai != nullptr; ai = ai->ai_next) {
          if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6) continue;
          sockaddr_storage ss{};
          std::memcpy(&ss, ai->ai_addr, ai->ai_addrlen);
          addresses.push_back(ss);
        }
        uv_freeaddrinfo(res);
        // The owner may destroy the Resolution from inside the callback.
        auto callback = std::move(r->done);
        if (callback) callback(status, std::move(addresses));
      },
      host.c_str(), service.c_str(), &hints);
  if (rc != 0) return nullptr;
  std::unique_ptr<Resolution> handle(new Resolution(request.get()));
  request.release()->owner = handle.get();  // freed by the libuv callback
  return handle;
}

Resolution::~Resolution() {
  if (request_ == nullptr) return;  // already completed
  // The request is freed by its callback (which libuv always runs, with UV_ECANCELED when the
  // cancel wins); clearing `done` makes sure nothing reaches the owner after this point.
  request_->done = nullptr;
  request_->owner = nullptr;
  uv_cancel(reinterpret_cast<uv_req_t*>(&request_->req));
}

}  // namespace flow::proxy
