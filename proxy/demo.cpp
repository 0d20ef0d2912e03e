#include "flow/proxy/demo.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <thread>

#include "flow/proxy/proxy_runner.hpp"

namespace flow::proxy {
namespace {

// A small blocking origin on 127.0.0.1 in its own thread: answers every request with a fixed
// body until stopped.
class DemoOrigin {
 public:
  DemoOrigin() {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        ::listen(fd_, 16) != 0 ||
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      std::perror("demo origin");
      std::exit(1);
    }
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { serve(); });
  }
  ~DemoOrigin() {
    ::shutdown(fd_, SHUT_RDWR);
    ::close(fd_);
    thread_.join();
  }
  int port() const { return port_; }

 private:
  void serve() {
    while (true) {
      const int c = ::accept(fd_, nullptr, nullptr);
      if (c < 0) return;
      std::string request;
      char buf[4096];
      while (true) {
        const ssize_t n = ::recv(c, buf, sizeof buf, 0);
        if (n <= 0) break;
        request.append(buf, static_cast<std::size_t>(n));
        const auto end = request.find("\r\n\r\n");
        if (end == std::string::npos) continue;
        const std::string body = "hello from the demo origin\n";
        const std::string response =
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: " +
            std::to_string(body.size()) + "\r\n\r\n" + body;
        if (::send(c, response.data(), response.size(), MSG_NOSIGNAL) < 0) break;
        request.erase(0, end + 4);
      }
      ::close(c);
    }
  }
  int fd_ = -1;
  int port_ = 0;
  std::thread thread_;
};

// Sends one raw request to the proxy and returns everything it answers until it closes.
std::string exchange_via_proxy(int proxy_port, const std::string& request) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<std::uint16_t>(proxy_port));
  std::string response;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
      ::send(fd, request.data(), request.size(), MSG_NOSIGNAL) ==
          static_cast<ssize_t>(request.size())) {
    char buf[4096];
    ssize_t n;
    while ((n = ::recv(fd, buf, sizeof buf, 0)) > 0)
      response.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return response;
}

void show(const char* title, const std::string& request, const std::string& response) {
  std::printf("\n== %s\n-- request sent to the proxy:\n%s-- answer:\n%s\n", title, request.c_str(),
              response.c_str());
}

}  // namespace

int run_demo() {
  DemoOrigin origin;
  char log_path[] = "/tmp/402flow-demo-XXXXXX";
  const int log_fd = ::mkstemp(log_path);
  if (log_fd < 0) {
    std::perror("mkstemp");
    return 1;
  }
  ::close(log_fd);

  RunOptions options;
  options.settings.listen = "127.0.0.1:0";
  options.settings.access_log = log_path;
  options.settings.log_level = "warn";
  std::thread client;
  options.on_listening = [&](const std::string& bound) {
    const int proxy_port = std::atoi(bound.substr(bound.rfind(':') + 1).c_str());
    client = std::thread([proxy_port, origin_port = origin.port(), bound] {
      std::printf("402flow demo: proxy on %s, demo origin on 127.0.0.1:%d\n", bound.c_str(),
                  origin_port);
      const std::string host = "127.0.0.1:" + std::to_string(origin_port);
      const std::string get = "GET http://" + host + "/hello HTTP/1.1\r\nHost: " + host +
                              "\r\nProxy-Connection: keep-alive\r\nConnection: close\r\n\r\n";
      show("a request forwarded to the origin", get, exchange_via_proxy(proxy_port, get));
      const std::string bad = "GET /hello HTTP/1.1\r\nHost: " + host + "\r\n\r\n";
      show("a request the proxy refuses (origin-form target)", bad,
           exchange_via_proxy(proxy_port, bad));
      const std::string connect = "CONNECT " + host + " HTTP/1.1\r\nHost: " + host + "\r\n\r\n";
      show("CONNECT to a port that is not allowed", connect,
           exchange_via_proxy(proxy_port, connect));
      request_stop();
    });
  };
  const int rc = run_proxy(options);
  if (client.joinable()) client.join();
  std::printf("== access log (one JSON line per exchange):\n");
  std::ifstream log(log_path);
  std::string line;
  while (std::getline(log, line)) std::printf("%s\n", line.c_str());
  ::unlink(log_path);
  std::printf(
      "\nTry it yourself:\n  ./build/402flow run --listen 127.0.0.1:8402 &\n"
      "  curl -x http://127.0.0.1:8402 http://<some-http-host>/\n");
  return rc;
}

}  // namespace flow::proxy
