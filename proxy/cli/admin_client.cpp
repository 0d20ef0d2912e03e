#include "cli/admin_client.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "flow/proxy/http/http_codec.hpp"
#include "flow/proxy/http/target.hpp"
#include "flow/proxy/network/net_address.hpp"

namespace flow::proxy {
namespace {

constexpr int kTimeoutMs = 30'000;
constexpr std::size_t kMaxBody = 64 * 1024 * 1024;

// A socket closed when it goes out of scope.
class Socket {
 public:
  explicit Socket(int fd) : fd_(fd) {}
  ~Socket() {
    if (fd_ >= 0) ::close(fd_);
  }
  Socket(Socket&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  Socket(const Socket&) = delete;
  Socket& operator=(const Socket&) = delete;
  int fd() const { return fd_; }

 private:
  int fd_;
};

Socket connect_to(const AdminEndpoint& endpoint) {
  const auto addr =
      ip_literal(endpoint.host == "localhost" ? "127.0.0.1" : endpoint.host, endpoint.port);
  if (!addr) throw AdminClientError("the admin address must be an IP address: " + endpoint.host);
  Socket s(::socket(addr->ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (s.fd() < 0) throw AdminClientError(std::string("socket: ") + std::strerror(errno));
  const socklen_t len = addr->ss_family == AF_INET6 ? sizeof(sockaddr_in6) : sizeof(sockaddr_in);
  if (::connect(s.fd(), reinterpret_cast<const sockaddr*>(&*addr), len) != 0) {
    throw AdminClientError("cannot reach the admin API at " + endpoint.host + ":" +
                           std::to_string(endpoint.port) + ": " + std::strerror(errno) +
                           " (is `402flow run` running with admin.listen there?)");
  }
  return s;
}

void send_all(const Socket& s, std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::send(s.fd(), data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0)
      throw AdminClientError(std::string("sending to the admin API: ") + std::strerror(errno));
    data.remove_prefix(static_cast<std::size_t>(n));
  }
}

// Collects one response's body.
class ReplySink final : public MessageSink {
 public:
  HeadAction on_head() override { return HeadAction::proceed; }
  void on_body(std::string_view data) override {
    if (body.size() + data.size() > kMaxBody) throw AdminClientError("the answer is too large");
    body.append(data);
  }
  void on_message_end() override { done = true; }
  std::string body;
  bool done = false;
};

AdminReply read_reply(const Socket& s) {
  HttpParser parser(HttpParser::Kind::response, 64 * 1024);
  ReplySink sink;
  parser.set_sink(&sink);
  char buf[16 * 1024];
  while (!sink.done) {
    pollfd p{s.fd(), POLLIN, 0};
    const int ready = ::poll(&p, 1, kTimeoutMs);
    if (ready == 0) throw AdminClientError("the admin API did not answer in time");
    if (ready < 0 && errno == EINTR) continue;
    const ssize_t n = ::recv(s.fd(), buf, sizeof buf, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw AdminClientError(std::string("reading the answer: ") + std::strerror(errno));
    // The sink never pauses after the head: a feed ends with the message or wants more.
    const HttpParser::Result r =
        n == 0 ? parser.finish() : parser.feed(buf, static_cast<std::size_t>(n));
    if (r.status == HttpParser::Status::error) {
      throw AdminClientError("the admin API's answer is not HTTP: " +
                             std::string(parser.error_reason()));
    }
    if (n == 0 && !sink.done) throw AdminClientError("the admin API closed without answering");
  }
  return {parser.response().status, std::move(sink.body)};
}

}  // namespace

AdminEndpoint parse_admin_url(std::string_view url) {
  std::string_view rest = url;
  if (rest.starts_with("https://")) {
    throw AdminClientError("--admin " + std::string(url) + ": the admin API is plain http://");
  }
  if (rest.starts_with("http://")) rest.remove_prefix(7);
  while (rest.ends_with("/")) rest.remove_suffix(1);
  const auto target = parse_listen_address(rest);
  if (!target || target->port == 0) {
    throw AdminClientError("--admin " + std::string(url) +
                           ": expected http://HOST:PORT, e.g. http://127.0.0.1:9402");
  }
  return {target->host, target->port, {}};
}

AdminReply admin_request(const AdminEndpoint& endpoint, std::string_view method,
                         std::string_view target, std::string_view json_body) {
  const Socket s = connect_to(endpoint);
  const bool v6 = endpoint.host.find(':') != std::string::npos;
  std::string request = std::string(method) + " " + std::string(target) +
                        " HTTP/1.1\r\nHost: " + (v6 ? "[" + endpoint.host + "]" : endpoint.host) +
                        ":" + std::to_string(endpoint.port) + "\r\n";
  if (!endpoint.token.empty()) request += "Authorization: Bearer " + endpoint.token + "\r\n";
  if (method == "POST") {
    request +=
        "Content-Type: application/json\r\nContent-Length: " + std::to_string(json_body.size()) +
        "\r\n";
  }
  request += "Connection: close\r\n\r\n";
  request += json_body;
  send_all(s, request);
  return read_reply(s);
}

}  // namespace flow::proxy
