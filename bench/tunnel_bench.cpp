// tunnel_bench: new CONNECT tunnels per second, each with a full TLS handshake; or requests per
// second on kept-alive TLS connections through a proxy (--requests).
//
// Each of N worker threads loops until the deadline:
//   TCP connect to the proxy (or straight to the TLS origin with --direct),
//   "CONNECT host:port HTTP/1.1" and wait for a 2xx answer (skipped when direct),
//   TLS handshake through the tunnel (no session cache, no tickets: every handshake is full) with
//   whoever answers it: the origin when the proxy splices, the proxy itself when it intercepts,
//   "GET <path>" with "Connection: close", read the whole response until the peer closes, close.
// With --requests N (N > 1, or 0 for "until the deadline") a connection is kept alive instead: N
// GETs one after the other on it, each read by its Content-Length, then close and open the next.
// In that mode the measurement window opens once every thread has its first connection up, and
// the figures are per request.
// Without --ca the server's certificate is not checked (a self-signed test origin); with --ca FILE
// it must chain to a certificate in FILE and name --sni (default localhost): the client trusts
// an intercepting proxy's CA the way a configured client would.
// Blocking sockets with send/receive timeouts, so every step is bounded in time.
//
// Output (one line on stdout):
//   tunnels=<ok> errors=<failed> duration_s=<d> rate=<ok per second> p50_ms=<x> p99_ms=<y>
// and with --requests: tunnels=<connections opened> requests=<ok> errors=<failed requests and
// connections> duration_s=<d> rate=<requests per second> p50_ms=<x> p99_ms=<y> (per request).
// Exit 0 if at least one tunnel (request) succeeded, 1 otherwise, 2 on bad usage.
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
#include <barrier>
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
  std::string ca_file;    // trust anchors for the server's certificate; empty: no verification
  std::string sni = "localhost";
  long requests = 1;  // per connection: 1 = Connection: close; 0 = keep alive until the deadline
  bool keep_alive() const { return requests != 1; }
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
      "                    [--expect-body BYTES] [--ca FILE] [--sni NAME] [--requests N]\n"
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

// Reads one response on a kept-alive connection: the head, then exactly Content-Length bytes of
// body (required: the origin sends static files). A byte beyond it is an error (no pipelining).
bool read_keepalive_response(SSL* ssl, long expect_body) {
  std::string buf;
  char chunk[16384];
  size_t head_end = std::string::npos;
  long content_length = -1;
  for (;;) {
    if (head_end != std::string::npos &&
        static_cast<long>(buf.size() - head_end - 4) >= content_length)
      break;
    int n = SSL_read(ssl, chunk, sizeof chunk);
    if (n <= 0) return false;
    buf.append(chunk, static_cast<size_t>(n));
    if (head_end != std::string::npos) continue;
    head_end = buf.find("\r\n\r\n");
    if (head_end == std::string::npos) {
      if (buf.size() > 65536) return false;
      continue;
    }
    if (buf.size() < 12 || buf.compare(0, 5, "HTTP/") != 0 || buf.compare(9, 3, "200") != 0)
      return false;
    std::string head = buf.substr(0, head_end);
    for (auto& ch : head) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    auto p = head.find("\r\ncontent-length:");
    if (p == std::string::npos) return false;
    content_length = std::strtol(head.c_str() + p + 17, nullptr, 10);
  }
  long body = static_cast<long>(buf.size() - head_end - 4);
  if (body != content_length) return false;
  return expect_body < 0 || body == expect_body;
}

struct ThreadResult {
  long ok = 0;           // tunnels (or, with --requests, requests) that succeeded
  long errors = 0;       // failed tunnels, requests or connections
  long connections = 0;  // connections opened (--requests)
  std::vector<double> latencies_ms;
};

// A TCP connection with TLS on it, through the proxy's tunnel or straight to the origin.
struct TlsConnection {
  int fd = -1;
  SSL* ssl = nullptr;
  explicit operator bool() const { return ssl != nullptr; }
};

void close_connection(TlsConnection& c) {
  if (c.ssl) SSL_free(c.ssl);  // no SSL_shutdown: the peer has closed, or is told by the close
  ERR_clear_error();
  if (c.fd >= 0) ::close(c.fd);
  c = TlsConnection{};
}

// TCP connect, CONNECT (unless direct), full TLS handshake; the certificate is checked when --ca is
// given. An empty connection on any failure.
TlsConnection open_connection(const Options& o, SSL_CTX* ctx, const std::string& connect_req) {
  bool via_proxy = !o.proxy.host.empty();
  TlsConnection c;
  c.fd = connect_to(via_proxy ? o.proxy : o.target, o.timeout_ms);
  if (c.fd < 0) return c;
  if (via_proxy && (!send_all(c.fd, connect_req) || !read_connect_reply(c.fd))) {
    close_connection(c);
    return c;
  }
  c.ssl = SSL_new(ctx);
  if (!c.ssl) {
    close_connection(c);
    return c;
  }
  SSL_set_fd(c.ssl, c.fd);
  SSL_set_tlsext_host_name(c.ssl, o.sni.c_str());
  if (!o.ca_file.empty()) SSL_set1_host(c.ssl, o.sni.c_str());
  if (SSL_connect(c.ssl) != 1) close_connection(c);
  return c;
}

bool send_request(SSL* ssl, const std::string& req) {
  return SSL_write(ssl, req.data(), static_cast<int>(req.size())) == static_cast<int>(req.size());
}

// One tunnel, start to finish, one request with Connection: close. Returns true on success.
bool one_tunnel(const Options& o, SSL_CTX* ctx, const std::string& connect_req,
                const std::string& get_req) {
  TlsConnection c = open_connection(o, ctx, connect_req);
  bool ok = c && send_request(c.ssl, get_req) && read_https_response(c.ssl, o.expect_body);
  close_connection(c);
  return ok;
}

double ms_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

// Default mode: new tunnels one after the other until the deadline.
void run_tunnels(const Options& o, SSL_CTX* ctx, const std::string& connect_req,
                 const std::string& get_req, Clock::time_point deadline, ThreadResult& r) {
  while (Clock::now() < deadline) {
    auto t0 = Clock::now();
    bool ok = one_tunnel(o, ctx, connect_req, get_req);
    auto t1 = Clock::now();
    if (t1 > deadline) break;  // finished after the window: not counted either way
    if (ok) {
      ++r.ok;
      r.latencies_ms.push_back(ms_between(t0, t1));
    } else {
      ++r.errors;
      std::this_thread::sleep_for(std::chrono::milliseconds(1));  // no hot spin on a refusing peer
    }
  }
}

// The measurement window of the keep-alive mode: it opens when every thread has its first
// connection up (or has failed to), run once by the barrier before any thread is released.
struct OpenWindow {
  Clock::time_point* start;
  Clock::time_point* deadline;
  Clock::duration length;
  void operator()() noexcept {
    *start = Clock::now();
    *deadline = *start + length;
  }
};
using StartLine = std::barrier<OpenWindow>;

// --requests: GETs on a kept-alive connection; a new connection after N of them or after a failure.
void run_keepalive(const Options& o, SSL_CTX* ctx, const std::string& connect_req,
                   const std::string& get_req, StartLine& start_line,
                   const Clock::time_point& deadline, ThreadResult& r) {
  TlsConnection c = open_connection(o, ctx, connect_req);
  if (c) ++r.connections;
  start_line.arrive_and_wait();
  long on_this = 0;
  while (Clock::now() < deadline) {
    if (!c) {
      c = open_connection(o, ctx, connect_req);
      on_this = 0;
      if (!c) {
        ++r.errors;
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
        continue;
      }
      ++r.connections;
    }
    auto t0 = Clock::now();
    bool ok = send_request(c.ssl, get_req) && read_keepalive_response(c.ssl, o.expect_body);
    auto t1 = Clock::now();
    ++on_this;
    if (!ok || (o.requests > 0 && on_this >= o.requests)) close_connection(c);
    if (t1 > deadline) break;  // finished after the window: not counted either way
    if (ok) {
      ++r.ok;
      r.latencies_ms.push_back(ms_between(t0, t1));
    } else {
      ++r.errors;
    }
  }
  close_connection(c);
}

SSL_CTX* make_client_context(const Options& o) {
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  if (!ctx) return nullptr;
  if (o.ca_file.empty()) {
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);  // self-signed test certificate
  } else {
    if (SSL_CTX_load_verify_locations(ctx, o.ca_file.c_str(), nullptr) != 1) {
      std::fprintf(stderr, "tunnel_bench: cannot read CA file %s\n", o.ca_file.c_str());
      SSL_CTX_free(ctx);
      return nullptr;
    }
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  }
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
  SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET | SSL_OP_IGNORE_UNEXPECTED_EOF);
  return ctx;
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
    } else if (a == "--ca") {
      o.ca_file = next();
    } else if (a == "--sni") {
      o.sni = next();
    } else if (a == "--requests") {
      o.requests = std::atol(next().c_str());
    } else {
      usage();
      return 2;
    }
  }
  if (o.target.host.empty() || (o.proxy.host.empty() != direct) || o.threads < 1 ||
      o.threads > 1024 || !(o.duration_s > 0 && o.duration_s <= 3600) || o.timeout_ms < 1 ||
      o.requests < 0 || o.sni.empty()) {
    usage();
    return 2;
  }

  SSL_CTX* ctx = make_client_context(o);
  if (!ctx) return 1;

  std::string authority = o.target.host + ":" + std::to_string(o.target.port);
  std::string connect_req = "CONNECT " + authority + " HTTP/1.1\r\nHost: " + authority + "\r\n\r\n";
  std::string get_req = "GET " + o.path + " HTTP/1.1\r\nHost: " + authority +
                        "\r\nUser-Agent: 402flow-tunnel-bench\r\n" +
                        (o.keep_alive() ? "" : "Connection: close\r\n") + "\r\n";

  const auto window =
      std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(o.duration_s));
  Clock::time_point start = Clock::now();
  Clock::time_point deadline = start + window;  // keep-alive: set again when the window opens
  StartLine start_line(o.threads, OpenWindow{&start, &deadline, window});
  std::vector<ThreadResult> results(static_cast<size_t>(o.threads));
  std::vector<std::thread> workers;
  for (int t = 0; t < o.threads; ++t) {
    workers.emplace_back([&, t] {
      ThreadResult& r = results[static_cast<size_t>(t)];
      if (o.keep_alive()) {
        run_keepalive(o, ctx, connect_req, get_req, start_line, deadline, r);
      } else {
        run_tunnels(o, ctx, connect_req, get_req, deadline, r);
      }
    });
  }
  for (auto& w : workers) w.join();
  SSL_CTX_free(ctx);

  long ok = 0, errors = 0, connections = 0;
  std::vector<double> lat;
  for (auto& r : results) {
    ok += r.ok;
    errors += r.errors;
    connections += r.connections;
    lat.insert(lat.end(), r.latencies_ms.begin(), r.latencies_ms.end());
  }
  std::sort(lat.begin(), lat.end());
  auto pct = [&](double p) -> double {
    if (lat.empty()) return 0.0;
    size_t idx = static_cast<size_t>(p / 100.0 * static_cast<double>(lat.size() - 1) + 0.5);
    return lat[std::min(idx, lat.size() - 1)];
  };
  if (o.keep_alive()) {
    std::printf(
        "tunnels=%ld requests=%ld errors=%ld duration_s=%.3f rate=%.1f p50_ms=%.3f "
        "p99_ms=%.3f\n",
        connections, ok, errors, o.duration_s, static_cast<double>(ok) / o.duration_s, pct(50),
        pct(99));
  } else {
    std::printf("tunnels=%ld errors=%ld duration_s=%.3f rate=%.1f p50_ms=%.3f p99_ms=%.3f\n", ok,
                errors, o.duration_s, static_cast<double>(ok) / o.duration_s, pct(50), pct(99));
  }
  return ok > 0 ? 0 : 1;
}
