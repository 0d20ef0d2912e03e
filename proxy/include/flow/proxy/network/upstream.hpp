#pragma once
#include <uv.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "flow/payment/reason.hpp"
#include "flow/proxy/http/http_codec.hpp"
#include "flow/proxy/http/target.hpp"
#include "flow/proxy/network/byte_stream.hpp"
#include "flow/proxy/network/reaper.hpp"
#include "flow/proxy/network/resolver.hpp"
#include "flow/proxy/network/timer.hpp"

namespace flow::proxy {

class Server;
class TcpStream;
class TlsStream;

// A connection to an origin, with its response parser. Lent to one exchange at a time; kept
// in the pool between exchanges.
struct UpstreamConnection : public Retirable {
  UpstreamConnection(std::unique_ptr<ByteStream> s, std::string k, std::size_t max_head_bytes)
      : stream(std::move(s)),
        parser(HttpParser::Kind::response, max_head_bytes),
        key(std::move(k)) {}
  std::unique_ptr<ByteStream> stream;
  HttpParser parser;
  std::string key;         // Target::pool_key()
  std::uint64_t uses = 0;  // exchanges served, including the current one
};

// The most response head bytes read from an origin: the client's limit, and at least 64 KiB
// (origins send more headers than clients).
std::size_t response_head_limit(std::size_t max_header_bytes);

// Idle upstream connections per origin. An idle connection is watched: a close or any byte
// from the origin removes it. Entries older than the pool idle timeout are closed.
class UpstreamPool {
 public:
  UpstreamPool(Server& server, std::size_t max_idle_per_origin, std::chrono::milliseconds idle);
  ~UpstreamPool();
  UpstreamPool(const UpstreamPool&) = delete;
  UpstreamPool& operator=(const UpstreamPool&) = delete;

  std::unique_ptr<UpstreamConnection> take(const std::string& key);
  void put(std::unique_ptr<UpstreamConnection> conn);
  std::size_t idle_count() const;
  void clear();

 private:
  struct Entry;
  void expire();
  void drop(Entry* entry);

  Server& server_;
  std::size_t max_idle_per_origin_;
  std::chrono::milliseconds idle_;
  std::unordered_map<std::string, std::list<std::unique_ptr<Entry>>> idle_by_key_;
  Timer sweep_;
};

// Resolves a target and opens a TCP connection to it, trying each address in turn within one
// connect timeout. Refuses addresses that are the proxy's own listener (a loop). For an https
// target it then runs TLS over it (verified, SNI and host name set: Server::upstream_tls), within
// the same timeout; a failed handshake is upstream_tls_failed naming OpenSSL's reason, never a
// plain connection instead. What it hands over is a ByteStream, TCP or TLS alike.
class Connector : public StreamHandler, public Retirable {
 public:
  // Why connecting failed (upstream_unreachable, upstream_timeout, loop_detected or
  // upstream_tls_failed); empty: it did not.
  using Error = std::optional<payment::Reason>;
  // On success `error` is empty and `stream` is connected (its handler must be replaced).
  using Done =
      std::function<void(Error error, std::string message, std::unique_ptr<ByteStream> stream)>;
  Connector(Server& server, Target target, Done done);
  ~Connector() override;
  void start();

  void on_read(ByteStream&, const char*, std::size_t) override {}
  void on_eof(ByteStream&) override {}
  void on_error(ByteStream&, int) override {}
  void on_connected(ByteStream& stream, int status) override;

 private:
  void resolved(int status, std::vector<sockaddr_storage> addresses);
  void try_next();
  void start_tls();
  void complete(Error error, std::string message);

  Server& server_;
  Target target_;
  Done done_;
  std::unique_ptr<Resolution> resolution_;
  std::vector<sockaddr_storage> addresses_;
  std::size_t next_ = 0;
  int last_status_ = 0;
  std::unique_ptr<TcpStream> stream_;
  std::unique_ptr<TlsStream> tls_;  // https: the handshake over stream_ (which it then owns)
  Timer timeout_;
};

}  // namespace flow::proxy
