// tunnel_bench: new CONNECT tunnels per second, each with a full TLS handshake.
//
// Each of N worker threads loops until the deadline:
//   TCP connect to the proxy (or straight to the TLS origin with --direct),
//   "CONNECT host:port HTTP/1.1" and wait for a 2xx answer (skipped when direct),
//   TLS handshake to the origin through the tunnel (no session cache, no tickets: every handshake
//   is full), "GET <path>" with "Connection: close", read the whole response until the origin
//   closes, close.
// Blocking sockets with send/receive timeouts, so every step is bounded in time.
//
// Output (one line on stdout):
//   tunnels=<ok> errors=<failed> duration_s=<d> rate=<ok per second> p50_ms=<x> p99_ms=<y>
// Exit 0 if at least one tunnel succeeded, 1 otherwise, 2 on bad usage.
//
// Build: g++ -O2 -std=c++20 bench/tunnel_bench.cpp -o tunnel_bench -lssl -lcrypto -lpthread

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

struct Endpoint {
  std::string host;
  int port = 0;
};

struct Options {
  Endpoint target;  // TLS origin
  Endpoint proxy;   // forward proxy (empty host = direct)
  std::string path = "/100b";
  int threads = 8;
  double duration_s = 10.0;
  int timeout_ms = 5000;
  long expect_body = -1;  // -1: accept any body length that matches Content-Length
};

bool parse_endpoint(const std::string& s, Endpoint& ep) {
  auto colon = s.rfind(':');
  if (colon == std::string::npos || colon == 0) return false;
  ep.host = s.substr(0, colon);
  ep.port = std::atoi(s.c_str() + colon + 1);
  return ep.port > 0 && ep.port < 65536;
}

void usage() {
  std::fprintf(
      stderr,
      "usage: tunnel_bench --target HOST:PORT (--proxy HOST:PORT | --direct)\n"
      "                    [--path /100b] [--threads 8] [--duration 10] [--timeout-ms 5000]\n"
      "                    [--expect-body BYTES]\n"
      "HOST must be a numeric IPv4 address (the benchmark only talks to loopback).\n");
}

int connect_to(const Endpoint& ep, int timeout_ms) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  timeval tv{};
  tv.tv_sec = timeout_ms / 1000;
  tv.tv_usec = (timeout_ms % 1000) * 1000;
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);  // also bounds connect() on Linux
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(static_cast<uint16_t>(ep.port));
  if (::inet_pton(AF_INET, ep.host.c_str(), &sa.sin_addr) != 1) {
    ::close(fd);
    return -1;
  }
  if (::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

bool send_all(int fd, const std::string& s) {
  size_t off = 0;
  while (off < s.size()) {
    ssize_t n = ::send(fd, s.data() + off, s.size() - off, MSG_NOSIGNAL);
    if (n <= 0) return false;
    off += static_cast<size_t>(n);
  }
  return true;
}

bool recv_exact(int fd, char* buf, size_t len) {
  size_t got = 0;
  while (got < len) {
    ssize_t n = ::recv(fd, buf + got, len - got, 0);
    if (n <= 0) return false;
    got += static_cast<size_t>(n);
  }
  return true;
}

// Reads the proxy's answer to CONNECT up to and including the blank line, and not one byte more
// (the TLS stream follows). Peeks first: the answer normally arrives whole, and then it takes two
// syscalls, which keeps the client's own cost small next to the proxy's. A head split over segments
// is finished byte by byte.
bool read_connect_reply(int fd) {
  char buf[8192];
  ssize_t n = ::recv(fd, buf, sizeof buf, MSG_PEEK);
  if (n <= 0) return false;
  std::string head;
  auto end = std::string_view(buf, static_cast<size_t>(n)).find("\r\n\r\n");
  if (end != std::string_view::npos) {
    if (!recv_exact(fd, buf, end + 4)) return false;
    head.assign(buf, end + 4);
  } else {
    // Everything peeked is head (nothing follows it before our ClientHello): take it, then read the
    // rest.
    if (!recv_exact(fd, buf, static_cast<size_t>(n))) return false;
    head.assign(buf, static_cast<size_t>(n));
    char c;
    while (head.size() < 4 || head.compare(head.size() - 4, 4, "\r\n\r\n") != 0) {
      if (head.size() >= sizeof buf || ::recv(fd, &c, 1, 0) != 1) return false;
      head.push_back(c);
    }
  }
  // "HTTP/1.x 2xx"
  return head.size() > 12 && head.compare(0, 5, "HTTP/") == 0 && head[9] == '2';
}

// Reads a whole HTTP response over TLS until the peer closes; checks status 200 and the body
// length.
bool read_https_response(SSL* ssl, long expect_body) {
  std::string buf;
  buf.reserve(4096);
  char chunk[16384];
  size_t head_end = std::string::npos;
  long content_length = -1;
  for (;;) {
    int n = SSL_read(ssl, chunk, sizeof chunk);
    if (n <= 0) {
      int err = SSL_get_error(ssl, n);
      if (err == SSL_ERROR_ZERO_RETURN) break;                       // close_notify
      if (err == SSL_ERROR_SYSCALL && ERR_peek_error() == 0) break;  // plain EOF
      if (err == SSL_ERROR_SSL) {  // unexpected EOF (OpenSSL 3 reports it as SSL error)
        ERR_clear_error();
        if (head_end != std::string::npos) break;
      }
      return false;
    }
    buf.append(chunk, static_cast<size_t>(n));
    if (head_end == std::string::npos) {
      head_end = buf.find("\r\n\r\n");
      if (head_end != std::string::npos) {
        if (buf.size() < 12 || buf.compare(0, 5, "HTTP/") != 0 || buf.compare(9, 3, "200") != 0)
          return false;
        std::string head = buf.substr(0, head_end);
        for (auto& ch : head) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
        auto p = head.find("\r\ncontent-length:");
        if (p != std::string::npos)
          content_length = std::strtol(head.c_str() + p + 17, nullptr, 10);
      } else if (buf.size() > 65536) {
        return false;
      }
    }
    if (head_end != std::string::npos && content_length >= 0 &&
        static_cast<long>(buf.size() - head_end - 4) > content_length) {
      return false;  // more than announced
    }
  }
  if (head_end == std::string::npos) return false;
  long body = static_cast<long>(buf.size() - head_end - 4);
  if (content_length >= 0 && body != content_length) return false;
  if (expect_body >= 0 && body != expect_body) return false;
  return true;
}

struct ThreadResult {
  long ok = 0;
  long errors = 0;
  std::vector<double> latencies_ms;
};

// One tunnel, start to finish. Returns true on success.
bool one_tunnel(const Options& o, SSL_CTX* ctx, const std::string& connect_req,
                const std::string& get_req) {
  bool via_proxy = !o.proxy.host.empty();
  int fd = connect_to(via_proxy ? o.proxy : o.target, o.timeout_ms);
  if (fd < 0) return false;
  bool ok = false;
  SSL* ssl = nullptr;
  do {
    if (via_proxy && (!send_all(fd, connect_req) || !read_connect_reply(fd))) break;
    ssl = SSL_new(ctx);
    if (!ssl) break;
    SSL_set_fd(ssl, fd);
    static char sni[] = "localhost";
    SSL_ctrl(ssl, SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name, sni);  // SNI
    if (SSL_connect(ssl) != 1) break;
    if (SSL_write(ssl, get_req.data(), static_cast<int>(get_req.size())) !=
        static_cast<int>(get_req.size()))
      break;
    ok = read_https_response(ssl, o.expect_body);
  } while (false);
  if (ssl) SSL_free(ssl);  // no SSL_shutdown: the origin has already closed (Connection: close)
  ERR_clear_error();
  ::close(fd);
  return ok;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  bool direct = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) {
        usage();
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--target") {
      if (!parse_endpoint(next(), o.target)) {
        usage();
        return 2;
      }
    } else if (a == "--proxy") {
      if (!parse_endpoint(next(), o.proxy)) {
        usage();
        return 2;
      }
    } else if (a == "--direct") {
      direct = true;
    } else if (a == "--path") {
      o.path = next();
    } else if (a == "--threads") {
      o.threads = std::atoi(next().c_str());
    } else if (a == "--duration") {
      o.duration_s = std::atof(next().c_str());
    } else if (a == "--timeout-ms") {
      o.timeout_ms = std::atoi(next().c_str());
    } else if (a == "--expect-body") {
      o.expect_body = std::atol(next().c_str());
    } else {
      usage();
      return 2;
    }
  }
  if (o.target.host.empty() || (o.proxy.host.empty() != direct) || o.threads < 1 ||
      o.threads > 1024 || !(o.duration_s > 0 && o.duration_s <= 3600) || o.timeout_ms < 1) {
    usage();
    return 2;
  }

  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  if (!ctx) return 1;
  SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);  // self-signed test certificate
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
  SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET | SSL_OP_IGNORE_UNEXPECTED_EOF);

  std::string authority = o.target.host + ":" + std::to_string(o.target.port);
  std::string connect_req = "CONNECT " + authority + " HTTP/1.1\r\nHost: " + authority + "\r\n\r\n";
  std::string get_req = "GET " + o.path + " HTTP/1.1\r\nHost: " + authority +
                        "\r\nUser-Agent: 402flow-tunnel-bench\r\nConnection: close\r\n\r\n";

  const auto start = Clock::now();
  const auto deadline = start + std::chrono::duration_cast<Clock::duration>(
                                    std::chrono::duration<double>(o.duration_s));
  std::vector<ThreadResult> results(static_cast<size_t>(o.threads));
  std::vector<std::thread> workers;
  for (int t = 0; t < o.threads; ++t) {
    workers.emplace_back([&, t] {
      ThreadResult& r = results[static_cast<size_t>(t)];
      while (Clock::now() < deadline) {
        auto t0 = Clock::now();
        bool ok = one_tunnel(o, ctx, connect_req, get_req);
        auto t1 = Clock::now();
        if (t1 > deadline) break;  // finished after the window: not counted either way
        if (ok) {
          ++r.ok;
          r.latencies_ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
        } else {
          ++r.errors;
          std::this_thread::sleep_for(
              std::chrono::milliseconds(1));  // no hot spin on a refusing peer
        }
      }
    });
  }
  for (auto& w : workers) w.join();
  SSL_CTX_free(ctx);

  long ok = 0, errors = 0;
  std::vector<double> lat;
  for (auto& r : results) {
    ok += r.ok;
    errors += r.errors;
    lat.insert(lat.end(), r.latencies_ms.begin(), r.latencies_ms.end());
  }
  std::sort(lat.begin(), lat.end());
  auto pct = [&](double p) -> double {
    if (lat.empty()) return 0.0;
    size_t idx = static_cast<size_t>(p / 100.0 * static_cast<double>(lat.size() - 1) + 0.5);
    return lat[std::min(idx, lat.size() - 1)];
  };
  std::printf("tunnels=%ld errors=%ld duration_s=%.3f rate=%.1f p50_ms=%.3f p99_ms=%.3f\n", ok,
              errors, o.duration_s, static_cast<double>(ok) / o.duration_s, pct(50), pct(99));
  return ok > 0 ? 0 : 1;
}
