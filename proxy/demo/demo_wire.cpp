// The demo's HTTP client side: reading one answer by its framing, over a plain socket or TLS.
#include "demo/demo_wire.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cstdlib>
#include <sstream>

#include "flow/payment/ascii.hpp"

namespace flow::proxy {

int connect_proxy(int proxy_port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<std::uint16_t>(proxy_port));
  timeval tv{20, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

std::string header_value(const std::string& response, const std::string& name) {
  std::istringstream in(response);
  std::string line;
  while (std::getline(in, line) && line != "\r") {
    const auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string key = line.substr(0, colon);
    key = payment::ascii_lower(key);
    if (key == name) {
      std::string value = line.substr(colon + 1);
      while (!value.empty() && (value.front() == ' ')) value.erase(0, 1);
      while (!value.empty() && (value.back() == '\r' || value.back() == ' ')) value.pop_back();
      return value;
    }
  }
  return {};
}

namespace {

// Reads from `read` until `buffer` holds at least `size` bytes; false at EOF, error or timeout.
bool read_at_least(const ReadSome& read, std::string& buffer, std::size_t size) {
  char chunk[4096];
  while (buffer.size() < size) {
    const long n = read(chunk, sizeof chunk);
    if (n <= 0) return false;
    buffer.append(chunk, static_cast<std::size_t>(n));
  }
  return true;
}

// Reads until `buffer` contains `marker` at or after `from`; returns its position.
std::size_t read_until(const ReadSome& fd, std::string& buffer, std::string_view marker,
                       std::size_t from) {
  for (;;) {
    const auto at = buffer.find(marker, from);
    if (at != std::string::npos) return at;
    if (!read_at_least(fd, buffer, buffer.size() + 1)) return std::string::npos;
  }
}

// A chunked body starting at `at`: reads until the last chunk and the trailers have arrived.
void read_chunked(const ReadSome& fd, std::string& buffer, std::size_t at) {
  for (;;) {
    const auto line_end = read_until(fd, buffer, "\r\n", at);
    if (line_end == std::string::npos) return;
    const auto size = std::strtoull(buffer.c_str() + at, nullptr, 16);
    if (size == 0) {
      // Trailers (usually none) end with an empty line.
      if (buffer.compare(line_end, 4, "\r\n\r\n") != 0)
        read_until(fd, buffer, "\r\n\r\n", line_end);
      return;
    }
    at = line_end + 2 + size + 2;
    if (!read_at_least(fd, buffer, at)) return;
  }
}

}  // namespace

// Reads one HTTP answer by its framing (Content-Length or chunked), so an answer on a
// connection that stays open is complete as soon as its last byte arrives; only an answer
// framed by the end of the connection is read to EOF.
std::string read_answer(const ReadSome& fd) {
  std::string buffer;
  const auto head_end = read_until(fd, buffer, "\r\n\r\n", 0);
  if (head_end == std::string::npos) return buffer;
  const std::string head = buffer.substr(0, head_end + 2);
  const std::size_t body_start = head_end + 4;
  const int status = head.size() > 12 ? std::atoi(head.c_str() + 9) : 0;
  if (status / 100 == 1 || status == 204 || status == 304) return buffer.substr(0, body_start);
  const std::string encoding = header_value(head, "transfer-encoding");
  if (encoding.find("chunked") != std::string::npos) {
    read_chunked(fd, buffer, body_start);
    return buffer;
  }
  const std::string length = header_value(head, "content-length");
  if (!length.empty()) {
    read_at_least(fd, buffer, body_start + std::strtoull(length.c_str(), nullptr, 10));
    return buffer;
  }
  while (read_at_least(fd, buffer, buffer.size() + 1)) {
  }
  return buffer;
}

std::string read_head(const ReadSome& read) {
  std::string buffer;
  const auto head_end = read_until(read, buffer, "\r\n\r\n", 0);
  return head_end == std::string::npos ? buffer : buffer.substr(0, head_end + 4);
}

}  // namespace flow::proxy
