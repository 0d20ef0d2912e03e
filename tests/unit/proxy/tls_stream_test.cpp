// TlsStream over real TCP sockets on 127.0.0.1, a real libuv loop and real OpenSSL: against the
// blocking TLS helpers of tests/support (each in a thread) and against itself in one loop.
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <uv.h>

#include <chrono>
#include <cstdio>
#include <functional>
#include <future>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "fake_streams.hpp"
#include "flow/proxy/network/handle_close.hpp"
#include "flow/proxy/network/tcp_stream.hpp"
#include "flow/proxy/network/tls_context.hpp"
#include "flow/proxy/network/tls_stream.hpp"
#include "support/temp_dir.hpp"
#include "support/tls_support.hpp"

namespace {

using namespace flow::proxy;
using namespace std::chrono_literals;
namespace support = flow::testing;

constexpr std::size_t kHighWater = 256 * 1024;

// Records every event of one stream; optionally echoes what it reads.
struct Recorder : StreamHandler {
  std::string data;
  std::optional<int> connected;
  bool eof = false;
  int error = 0;
  int drained = 0;
  bool shut_down = false;
  bool echo = false;
  int events_after_close = 0;

  void on_read(ByteStream& s, const char* d, std::size_t n) override {
    data.append(d, n);
    if (echo) s.write(std::string_view(d, n));
  }
  void on_eof(ByteStream&) override { eof = true; }
  void on_error(ByteStream&, int status) override { error = status; }
  void on_drained(ByteStream&) override { ++drained; }
  void on_connected(ByteStream&, int status) override { connected = status; }
  void on_shutdown(ByteStream&) override { shut_down = true; }
};

// A loop that a test runs until a condition holds; a repeating timer keeps UV_RUN_ONCE from
// blocking when nothing else happens.
struct Loop {
  Loop() {
    uv_loop_init(&loop);
    uv_timer_init(&loop, &wake);
    uv_timer_start(
        &wake, [](uv_timer_t*) {}, 5, 5);
  }
  ~Loop() {
    uv_close(reinterpret_cast<uv_handle_t*>(&wake), nullptr);
    close_loop(&loop);
  }
  bool run_until(const std::function<bool()>& done, std::chrono::milliseconds limit = 10s) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (!done()) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      uv_run(&loop, UV_RUN_ONCE);
    }
    return true;
  }
  void run_for(std::chrono::milliseconds span) {
    run_until([] { return false; }, span);
  }
  uv_loop_t loop{};
  uv_timer_t wake{};
};

// A libuv listener on 127.0.0.1 whose accepted connections wait in `accepted`.
class Listener {
 public:
  explicit Listener(uv_loop_t* loop) : core_(std::make_unique<Core>()) {
    core_->loop = loop;
    uv_tcp_init(loop, &core_->tcp);
    core_->tcp.data = core_.get();
    sockaddr_in addr{};
    uv_ip4_addr("127.0.0.1", 0, &addr);
    REQUIRE(uv_tcp_bind(&core_->tcp, reinterpret_cast<const sockaddr*>(&addr), 0) == 0);
    REQUIRE(uv_listen(reinterpret_cast<uv_stream_t*>(&core_->tcp), 16,
                      [](uv_stream_t* server, int status) {
                        if (status < 0) return;
                        auto* core = static_cast<Core*>(server->data);
                        auto stream = std::make_unique<TcpStream>(core->loop, nullptr, kHighWater);
                        if (stream->accept_from(server) == 0) {
                          core->accepted.push_back(std::move(stream));
                        }
                      }) == 0);
  }
  ~Listener() {
    auto* handle = reinterpret_cast<uv_handle_t*>(&core_->tcp);
    close_handle(handle, std::move(core_));
  }

  std::uint16_t port() const {
    sockaddr_in addr{};
    int len = sizeof addr;
    uv_tcp_getsockname(&core_->tcp, reinterpret_cast<sockaddr*>(&addr), &len);
    return ntohs(addr.sin_port);
  }
  std::unique_ptr<TcpStream> take(Loop& loop) {
    REQUIRE(loop.run_until([&] { return !core_->accepted.empty(); }));
    auto stream = std::move(core_->accepted.front());
    core_->accepted.erase(core_->accepted.begin());
    return stream;
  }

 private:
  struct Core {
    uv_tcp_t tcp{};
    uv_loop_t* loop = nullptr;
    std::vector<std::unique_ptr<TcpStream>> accepted;
  };
  std::unique_ptr<Core> core_;
};

std::unique_ptr<TcpStream> connect_tcp(Loop& loop, std::uint16_t port, Recorder& recorder) {
  auto stream = std::make_unique<TcpStream>(&loop.loop, &recorder, kHighWater);
  sockaddr_in addr{};
  uv_ip4_addr("127.0.0.1", port, &addr);
  REQUIRE(stream->connect(reinterpret_cast<const sockaddr*>(&addr)) == 0);
  REQUIRE(loop.run_until([&] { return recorder.connected.has_value(); }));
  REQUIRE(*recorder.connected == 0);
  return stream;
}

// Accepts one connection on a blocking listening socket (for the helpers' threads).
support::Fd accept_blocking(const support::Fd& listener) {
  if (!support::wait_for_fd(listener.get(), POLLIN, support::default_deadline())) {
    throw support::TimeoutError("no connection to accept");
  }
  return support::Fd(::accept(listener.get(), nullptr, nullptr));
}

// One identity, its certificate as a CA file, and the contexts of both sides.
struct Pki {
  static std::string write_ca(const support::TlsIdentity& identity, const std::string& path) {
    FILE* out = std::fopen(path.c_str(), "w");
    REQUIRE(out != nullptr);
    PEM_write_X509(out, identity.certificate());
    std::fclose(out);
    return path;
  }
  support::TlsIdentity identity;
  support::TempDir dir;
  std::string ca_file = write_ca(identity, dir.file("ca.pem"));
  std::shared_ptr<TlsClientContext> client = make_client_context(ca_file);
  std::shared_ptr<SSL_CTX> server = make_server_context(identity.certificate(), identity.key());
};

// Both ends in one loop: a client TlsStream and the server TlsStream of the connection it made
// (to its own listener, or to a shared one: the port is part of the session cache's key).
struct Pair {
  Pair(Loop& loop, Pki& pki, std::string host = "localhost",
       std::shared_ptr<TlsClientContext> context = nullptr)
      : Pair(loop, pki, nullptr, std::move(host), std::move(context)) {}
  Pair(Loop& loop, Pki& pki, Listener* shared, std::string host = "localhost",
       std::shared_ptr<TlsClientContext> context = nullptr)
      : own(shared ? nullptr : std::make_unique<Listener>(&loop.loop)),
        listener(shared ? *shared : *own) {
    Recorder tcp_events;
    auto tcp = connect_tcp(loop, listener.port(), tcp_events);
    client = std::make_unique<TlsStream>(
        &loop.loop, std::move(tcp),
        TlsClientRole{context ? context : pki.client, std::move(host), listener.port()},
        &client_events, kHighWater);
    server = std::make_unique<TlsStream>(&loop.loop, listener.take(loop),
                                         TlsServerRole{pki.server.get(), {}, nullptr},
                                         &server_events, kHighWater);
  }
  bool handshake(Loop& loop) {
    return loop.run_until(
        [&] { return client_events.connected.has_value() && server_events.connected.has_value(); });
  }
  std::unique_ptr<Listener> own;
  Listener& listener;
  Recorder client_events;
  Recorder server_events;
  std::unique_ptr<TlsStream> client;
  std::unique_ptr<TlsStream> server;
};

std::string pattern(std::size_t size) {
  std::string out(size, '\0');
  for (std::size_t i = 0; i < size; ++i) out[i] = static_cast<char>('a' + (i * 7 + i / 4096) % 26);
  return out;
}

}  // namespace

TEST_CASE(
    "a client TlsStream echoes through a blocking TLS server, sending early writes after "
    "the handshake") {
  Loop loop;
  Pki pki;
  support::Fd listening = support::listen_loopback();
  const std::uint16_t port = support::local_port(listening.get());
  auto server = std::async(std::launch::async, [&] {
    auto tls =
        support::accept_tls(accept_blocking(listening), pki.identity, support::default_deadline());
    char buf[4096];
    while (std::size_t n = tls->read_some(buf, sizeof buf, support::default_deadline())) {
      tls->write_all(std::string_view(buf, n), support::default_deadline());
    }
    tls->shutdown_write();  // close_notify after the client's
  });

  Recorder tcp_events;
  Recorder events;
  TlsStream client(&loop.loop, connect_tcp(loop, port, tcp_events),
                   TlsClientRole{pki.client, "localhost", port}, &events, kHighWater);
  client.write("written before the handshake");
  CHECK(client.queued() > 0);
  client.start_reading();
  REQUIRE(loop.run_until([&] { return events.connected.has_value(); }));
  CHECK(*events.connected == 0);
  CHECK(client.handshake_done());
  CHECK(client.handshake_error().empty());
  CHECK(client.peer_subject() == "CN=localhost");
  CHECK(client.protocol_version() == "TLSv1.3");
  REQUIRE(loop.run_until([&] { return events.data == "written before the handshake"; }));

  client.write(" and after");
  REQUIRE(loop.run_until([&] { return events.data.size() == 38; }));
  CHECK(events.data == "written before the handshake and after");

  client.shutdown_after_writes();
  REQUIRE(loop.run_until([&] { return events.eof && events.shut_down; }));
  CHECK(client.eof_was_clean());
  CHECK(events.error == 0);
  server.get();  // rethrows a failure of the server thread
}

TEST_CASE(
    "a server TlsStream takes the bytes already read from the client, then completes the "
    "handshake") {
  Loop loop;
  Pki pki;
  Listener listener(&loop.loop);
  const std::uint16_t port = listener.port();
  auto client = std::async(std::launch::async, [&] {
    auto fd = support::connect_loopback(port, support::default_deadline());
    auto tls =
        support::connect_tls(std::move(fd), pki.identity, "localhost", support::default_deadline());
    tls->write_all("ping", support::default_deadline());
    std::string got;
    char buf[64];
    while (got.size() < 4)
      got.append(buf, tls->read_some(buf, sizeof buf, support::default_deadline()));
    tls->shutdown_write();
    return got;
  });

  // Peek the ClientHello the way the interceptor does: read it on the TCP stream first.
  auto tcp = listener.take(loop);
  Recorder peek;
  tcp->set_handler(&peek);
  tcp->start_reading();
  REQUIRE(loop.run_until([&] { return peek.data.size() >= 5; }));
  tcp->stop_reading();
  CHECK(peek.data[0] == 0x16);  // a TLS handshake record

  Recorder events;
  events.echo = true;
  TlsStream server(&loop.loop, std::move(tcp), TlsServerRole{pki.server.get(), peek.data, nullptr},
                   &events, kHighWater);
  server.start_reading();
  REQUIRE(loop.run_until([&] { return events.eof; }, 20s));
  CHECK(*events.connected == 0);
  CHECK(events.data == "ping");
  CHECK(server.eof_was_clean());
  CHECK(client.get() == "ping");
}

TEST_CASE("two TlsStreams in one loop negotiate http/1.1 and carry data both ways") {
  Loop loop;
  Pki pki;
  Pair pair(loop, pki);
  REQUIRE(pair.handshake(loop));
  CHECK(*pair.client_events.connected == 0);
  CHECK(*pair.server_events.connected == 0);
  CHECK(pair.client->alpn() == "http/1.1");
  CHECK(pair.server->alpn() == "http/1.1");
  CHECK(pair.server->peer_subject().empty());  // no client certificate
  CHECK_FALSE(pair.client->session_resumed());

  pair.client->start_reading();
  pair.server->start_reading();
  pair.client->write("GET / HTTP/1.1\r\n\r\n");
  pair.server->write("HTTP/1.1 200 OK\r\n\r\n");
  REQUIRE(loop.run_until([&] {
    return pair.server_events.data.size() == 18 && pair.client_events.data.size() == 19;
  }));
  CHECK(pair.server_events.data == "GET / HTTP/1.1\r\n\r\n");
  CHECK(pair.client_events.data == "HTTP/1.1 200 OK\r\n\r\n");
  CHECK(pair.client->peer_name() == "127.0.0.1:" + std::to_string(pair.listener.port()));

  // close_notify is an end of stream for the reader; the writer sees its shutdown complete.
  pair.client->shutdown_after_writes();
  REQUIRE(loop.run_until([&] { return pair.server_events.eof && pair.client_events.shut_down; }));
  CHECK(pair.server->eof_was_clean());
  pair.client->write("dropped after shutdown");
  CHECK(pair.client->queued() == 0);
}

TEST_CASE("an untrusted certificate fails the client's handshake with the verification reason") {
  Loop loop;
  Pki pki;
  Pki other;  // the client trusts only another identity
  Pair pair(loop, pki, "localhost", other.client);
  REQUIRE(pair.handshake(loop));
  CHECK(*pair.client_events.connected < 0);
  CHECK(pair.client->failed());
  CHECK_FALSE(pair.client->handshake_done());
  CHECK(pair.client->handshake_error().find("certificate verify failed: ") == 0);
  CHECK(pair.client->handshake_error().find("self") != std::string::npos);  // self-signed
  // The server learns from the client's alert.
  CHECK(*pair.server_events.connected < 0);
  CHECK(pair.server->handshake_error().find("TLS handshake failed") == 0);
}

TEST_CASE("a certificate for another name fails with a host name mismatch") {
  Loop loop;
  Pki pki;
  SUBCASE("a DNS name") {
    Pair pair(loop, pki, "wrong.example");
    REQUIRE(pair.handshake(loop));
    CHECK(*pair.client_events.connected < 0);
    CHECK(pair.client->handshake_error() == "certificate verify failed: hostname mismatch");
  }
  SUBCASE("an IP address") {
    Pair pair(loop, pki, "127.0.0.2");
    REQUIRE(pair.handshake(loop));
    CHECK(*pair.client_events.connected < 0);
    CHECK(pair.client->handshake_error() == "certificate verify failed: IP address mismatch");
  }
  SUBCASE("the IP address the certificate names verifies") {
    Pair pair(loop, pki, "127.0.0.1");
    REQUIRE(pair.handshake(loop));
    CHECK(*pair.client_events.connected == 0);
  }
  SUBCASE("an insecure context checks nothing") {
    Pair pair(loop, pki, "wrong.example", make_insecure_client_context());
    REQUIRE(pair.handshake(loop));
    CHECK(*pair.client_events.connected == 0);
  }
}

TEST_CASE("a second connection to the same origin resumes the session") {
  Loop loop;
  Pki pki;
  Listener origin(&loop.loop);
  {
    Pair first(loop, pki, &origin);
    REQUIRE(first.handshake(loop));
    CHECK_FALSE(first.client->session_resumed());
    // The TLS 1.3 tickets arrive after the handshake: the client takes them while reading.
    first.client->start_reading();
    first.server->write("x");
    REQUIRE(loop.run_until([&] { return pki.client->cached_sessions() == 1; }));
  }
  Pair second(loop, pki, &origin);
  REQUIRE(second.handshake(loop));
  CHECK(*second.client_events.connected == 0);
  CHECK(second.client->session_resumed());
  CHECK(second.server->session_resumed());
  CHECK(pki.client->cached_sessions() == 0);  // a TLS 1.3 ticket is used once
  second.client->start_reading();
  second.server->write("x");
  REQUIRE(loop.run_until([&] { return pki.client->cached_sessions() == 1; }));

  // Another port is another origin: no session for it.
  Pair other(loop, pki);
  REQUIRE(other.handshake(loop));
  CHECK_FALSE(other.client->session_resumed());
}

TEST_CASE("a large transfer to a paused reader goes above the high-water mark, then drains") {
  Loop loop;
  Pki pki;
  Pair pair(loop, pki);
  REQUIRE(pair.handshake(loop));
  const std::string payload = pattern(8 * 1024 * 1024);
  for (std::size_t at = 0; at < payload.size(); at += 64 * 1024) {
    pair.client->write(std::string_view(payload).substr(at, 64 * 1024));
  }
  CHECK(pair.client->queued() > kHighWater);
  CHECK(pair.client->above_high_water());

  // The reader does not read: nothing arrives, the writer's queue stays up.
  loop.run_for(100ms);
  CHECK(pair.server_events.data.empty());
  CHECK(pair.client->above_high_water());
  CHECK(pair.client_events.drained == 0);

  pair.server->start_reading();
  REQUIRE(loop.run_until([&] { return pair.server_events.data.size() >= payload.size() / 2; }));
  pair.server->stop_reading();
  const std::size_t at_pause = pair.server_events.data.size();
  loop.run_for(50ms);
  CHECK(pair.server_events.data.size() == at_pause);  // records wait while paused

  pair.server->start_reading();
  REQUIRE(loop.run_until(
      [&] {
        return pair.server_events.data.size() == payload.size() && pair.client_events.drained == 1;
      },
      20s));
  CHECK(pair.server_events.data == payload);
  CHECK(pair.client->queued() == 0);
  CHECK_FALSE(pair.client->above_high_water());
}

TEST_CASE("writes made before the handshake count as queued and drain after it") {
  Loop loop;
  Pki pki;
  Pair pair(loop, pki);
  const std::string payload = pattern(kHighWater + 1);
  pair.client->write(payload);
  CHECK(pair.client->queued() >= payload.size());
  CHECK(pair.client->above_high_water());
  pair.server->start_reading();
  REQUIRE(loop.run_until([&] {
    return pair.server_events.data.size() == payload.size() && pair.client_events.drained == 1;
  }));
  CHECK(pair.server_events.data == payload);
}

TEST_CASE("a peer that resets the connection mid-handshake fails the handshake") {
  Loop loop;
  Pki pki;
  support::Fd listening = support::listen_loopback();
  const std::uint16_t port = support::local_port(listening.get());
  auto peer = std::async(std::launch::async, [&] {
    support::Fd fd = accept_blocking(listening);
    char buf[512];
    support::wait_for_fd(fd.get(), POLLIN, support::default_deadline());
    const auto got = ::recv(fd.get(), buf, sizeof buf, 0);  // part of the ClientHello
    linger reset{1, 0};
    ::setsockopt(fd.get(), SOL_SOCKET, SO_LINGER, &reset, sizeof reset);
    return got;  // closing with linger 0 sends RST
  });
  Recorder tcp_events;
  Recorder events;
  TlsStream client(&loop.loop, connect_tcp(loop, port, tcp_events),
                   TlsClientRole{pki.client, "localhost", port}, &events, kHighWater);
  REQUIRE(loop.run_until([&] { return events.connected.has_value(); }));
  CHECK(peer.get() > 0);
  CHECK(*events.connected < 0);
  CHECK_FALSE(client.handshake_error().empty());
  CHECK(client.failed());
}

TEST_CASE("a peer that stalls mid-handshake costs no CPU and leaves the handshake pending") {
  Loop loop;
  Pki pki;
  Listener listener(&loop.loop);
  Recorder tcp_events;
  Recorder events;
  TlsStream client(&loop.loop, connect_tcp(loop, listener.port(), tcp_events),
                   TlsClientRole{pki.client, "localhost", listener.port()}, &events, kHighWater);
  auto silent = listener.take(loop);  // accepted, never answers
  rusage before{};
  getrusage(RUSAGE_SELF, &before);
  loop.run_for(300ms);
  rusage after{};
  getrusage(RUSAGE_SELF, &after);
  const auto cpu_us = [](const rusage& r) {
    return (r.ru_utime.tv_sec + r.ru_stime.tv_sec) * 1'000'000L + r.ru_utime.tv_usec +
           r.ru_stime.tv_usec;
  };
  CHECK(cpu_us(after) - cpu_us(before) < 100'000);
  CHECK_FALSE(events.connected.has_value());
  CHECK_FALSE(client.failed());
  // The owner's timer gives up: close() is final and quiet.
  client.close();
  client.close();
  loop.run_for(20ms);
  CHECK_FALSE(events.connected.has_value());
}

TEST_CASE("records split into single bytes are reassembled, in both directions") {
  Loop loop;  // the streams' deferred work would run here; the fakes carry the bytes
  Pki pki;
  auto client_inner = std::make_unique<testing::FakeByteStream>();
  auto server_inner = std::make_unique<testing::FakeByteStream>();
  testing::FakeByteStream& to_server = *client_inner;
  testing::FakeByteStream& to_client = *server_inner;
  Recorder client_events;
  Recorder server_events;
  server_events.echo = true;
  TlsStream client(&loop.loop, std::move(client_inner), TlsClientRole{pki.client, "localhost", 1},
                   &client_events, kHighWater);
  TlsStream server(&loop.loop, std::move(server_inner),
                   TlsServerRole{pki.server.get(), {}, nullptr}, &server_events, kHighWater);
  client.write("hello through byte-sized pieces");
  client.start_reading();
  server.start_reading();
  const auto trickle = [](testing::FakeByteStream& from, testing::FakeByteStream& into) {
    const std::string bytes = from.take_written();
    for (char c : bytes) REQUIRE(into.inject_read(std::string_view(&c, 1)));
    return !bytes.empty();
  };
  for (int round = 0; round < 20; ++round) {
    const bool sent = trickle(to_server, to_client);
    const bool answered = trickle(to_client, to_server);
    if (!sent && !answered) break;
  }
  CHECK(*client_events.connected == 0);
  CHECK(*server_events.connected == 0);
  CHECK(server_events.data == "hello through byte-sized pieces");
  CHECK(client_events.data == "hello through byte-sized pieces");
}

TEST_CASE("garbage instead of a ClientHello fails the server's handshake, reported from the loop") {
  Loop loop;
  Pki pki;
  auto inner = std::make_unique<testing::FakeByteStream>();
  testing::FakeByteStream& wire = *inner;
  Recorder events;
  TlsStream server(&loop.loop, std::move(inner),
                   TlsServerRole{pki.server.get(), "GET / HTTP/1.1\r\nHost: x\r\n\r\n", nullptr},
                   &events, kHighWater);
  CHECK_FALSE(events.connected.has_value());  // never from inside the constructor
  REQUIRE(loop.run_until([&] { return events.connected.has_value(); }));
  CHECK(*events.connected < 0);
  CHECK(server.handshake_error().find("TLS handshake failed: ") == 0);
  CHECK_FALSE(wire.reading());
  CHECK(wire.inject_read("more") == false);
}

TEST_CASE("a client's renegotiation is refused") {
  Loop loop;
  Pki pki;
  auto inner = std::make_unique<testing::FakeByteStream>();
  testing::FakeByteStream& wire = *inner;
  Recorder events;
  events.echo = true;
  TlsStream server(&loop.loop, std::move(inner), TlsServerRole{pki.server.get(), {}, nullptr},
                   &events, kHighWater);
  server.start_reading();

  // A TLS 1.2 client on memory BIOs, driven by hand.
  std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> ctx(SSL_CTX_new(TLS_client_method()),
                                                        &SSL_CTX_free);
  SSL_CTX_set_max_proto_version(ctx.get(), TLS1_2_VERSION);
  std::unique_ptr<SSL, decltype(&SSL_free)> ssl(SSL_new(ctx.get()), &SSL_free);
  BIO* in = BIO_new(BIO_s_mem());
  BIO* out = BIO_new(BIO_s_mem());
  SSL_set_bio(ssl.get(), in, out);
  SSL_set_connect_state(ssl.get());
  const auto exchange = [&] {
    char buf[16384];
    for (int round = 0; round < 10; ++round) {
      int n = 0;
      while ((n = BIO_read(out, buf, sizeof buf)) > 0) wire.inject_read(std::string_view(buf, n));
      const std::string back = wire.take_written();
      if (back.empty()) return;
      BIO_write(in, back.data(), static_cast<int>(back.size()));
      SSL_do_handshake(ssl.get());
    }
  };
  SSL_do_handshake(ssl.get());
  exchange();
  REQUIRE(SSL_is_init_finished(ssl.get()) == 1);
  REQUIRE(*events.connected == 0);
  CHECK(server.protocol_version() == "TLSv1.2");

  REQUIRE(SSL_renegotiate(ssl.get()) == 1);
  SSL_do_handshake(ssl.get());
  exchange();
  CHECK(SSL_renegotiate_pending(ssl.get()) == 1);  // the server never answered it
  // The server answered no_renegotiation; an OpenSSL client then gives up with a fatal alert,
  // which the server reports as an error of the session (never a second handshake).
  CHECK(events.error == UV_EPROTO);
  CHECK(server.failure() == "TLS read failed: sslv3 alert handshake failure");
}
