// HttpServer's deferred answers: a handler answers later (from a completion on the loop), the
// answers on one connection stay in request order, and a client gone meanwhile is harmless.
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>

#include "flow/proxy/http/http_server.hpp"
#include "flow/proxy/log_writer.hpp"
#include "flow/proxy/network/timer.hpp"

using namespace flow::proxy;

namespace {

// /slow is answered 50 ms later by a timer; anything else at once.
class LaterService final : public HttpService {
 public:
  explicit LaterService(uv_loop_t* loop)
      : timer_(loop, [this] {
          ServedAnswer answer;
          answer.status = 200;
          answer.body = "slow";
          if (pending_) pending_->respond(answer);
          ++answered_later;
        }) {}

  void handle(const ServedRequest& request, ServedAnswer& answer) override {
    if (request.path == "/slow") {
      pending_ = answer.defer();
      timer_.start(std::chrono::milliseconds(50));
      return;
    }
    answer.status = 200;
    answer.body = "fast";
  }

  std::shared_ptr<Responder> pending_;
  int answered_later = 0;

 private:
  Timer timer_;
};

int connect_to(std::uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  return fd;
}

HttpServerOptions loopback_options() {
  HttpServerOptions o;
  o.listen = "127.0.0.1:0";
  return o;
}

std::uint16_t port_of(const HttpServer& server) {
  const std::string bound = server.bound_address();
  return static_cast<std::uint16_t>(std::stoi(bound.substr(bound.rfind(':') + 1)));
}

}  // namespace

TEST_CASE("a deferred answer goes out when it is ready, before the pipelined answers after it") {
  uv_loop_t loop;
  uv_loop_init(&loop);
  {
    LogWriter writer(&loop, STDERR_FILENO, false);
    Logger log(writer, LogLevel::error);
    LaterService service(&loop);
    HttpServer server(&loop, loopback_options(), service, log);
    server.start();
    const std::uint16_t port = port_of(server);
    std::string received;
    std::atomic<bool> done{false};
    std::thread client([&] {
      const int fd = connect_to(port);
      const std::string requests =
          "GET /slow HTTP/1.1\r\nHost: x\r\n\r\nGET /fast HTTP/1.1\r\nHost: x\r\n"
          "Connection: close\r\n\r\n";
      REQUIRE(::send(fd, requests.data(), requests.size(), 0) ==
              static_cast<ssize_t>(requests.size()));
      char buf[4096];
      for (ssize_t n; (n = ::recv(fd, buf, sizeof buf, 0)) > 0;) received.append(buf, n);
      ::close(fd);
      done = true;
    });
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!done && std::chrono::steady_clock::now() < until) uv_run(&loop, UV_RUN_NOWAIT);
    client.join();
    CHECK(service.answered_later == 1);
    const auto slow = received.find("slow");
    const auto fast = received.find("fast");
    REQUIRE(slow != std::string::npos);
    REQUIRE(fast != std::string::npos);
    CHECK(slow < fast);
    CHECK(received.rfind("HTTP/1.1 200", 0) == 0);
    server.stop();
  }
  uv_run(&loop, UV_RUN_DEFAULT);
  CHECK(uv_loop_close(&loop) == 0);
}

TEST_CASE("a deferred answer whose client reset the connection is dropped harmlessly") {
  uv_loop_t loop;
  uv_loop_init(&loop);
  {
    LogWriter writer(&loop, STDERR_FILENO, false);
    Logger log(writer, LogLevel::error);
    LaterService service(&loop);
    HttpServer server(&loop, loopback_options(), service, log);
    server.start();
    const int fd = connect_to(port_of(server));
    const std::string request = "GET /slow HTTP/1.1\r\nHost: x\r\n\r\n";
    REQUIRE(::send(fd, request.data(), request.size(), 0) == static_cast<ssize_t>(request.size()));
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!service.pending_ && std::chrono::steady_clock::now() < until) {
      uv_run(&loop, UV_RUN_NOWAIT);
    }
    REQUIRE(service.pending_);
    CHECK(service.pending_->connected());
    linger reset{1, 0};  // close with RST: the server sees an error, not a polite FIN
    ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &reset, sizeof reset);
    ::close(fd);
    while (service.pending_->connected() && std::chrono::steady_clock::now() < until) {
      uv_run(&loop, UV_RUN_NOWAIT);
    }
    CHECK_FALSE(service.pending_->connected());
    // The timer still answers; nothing is written anywhere and nothing breaks.
    while (service.answered_later == 0 && std::chrono::steady_clock::now() < until) {
      uv_run(&loop, UV_RUN_NOWAIT);
    }
    CHECK(service.answered_later == 1);
    server.stop();
  }
  uv_run(&loop, UV_RUN_DEFAULT);
  CHECK(uv_loop_close(&loop) == 0);
}
