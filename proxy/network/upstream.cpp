#include "flow/proxy/network/upstream.hpp"

#include "flow/proxy/network/net_address.hpp"
#include "flow/proxy/network/tcp_stream.hpp"
#include "flow/proxy/network/tls_stream.hpp"
#include "flow/proxy/server.hpp"

namespace flow::proxy {

std::size_t response_head_limit(std::size_t max_header_bytes) {
  return std::max<std::size_t>(64 * 1024, max_header_bytes);
}

// An idle pooled connection watches its socket: the origin closing it (or sending anything)
// makes it unusable.
struct UpstreamPool::Entry : public StreamHandler, public Retirable {
  Entry(UpstreamPool& p, std::unique_ptr<UpstreamConnection> c, std::uint64_t now)
      : pool(p), conn(std::move(c)), since(now) {}
  UpstreamPool& pool;
  std::unique_ptr<UpstreamConnection> conn;
  std::uint64_t since;

  void on_read(ByteStream&, const char*, std::size_t) override { pool.drop(this); }
  void on_eof(ByteStream&) override { pool.drop(this); }
  void on_error(ByteStream&, int) override { pool.drop(this); }
};

UpstreamPool::UpstreamPool(Server& server, std::size_t max_idle_per_origin,
                           std::chrono::milliseconds idle)
    : server_(server),
      max_idle_per_origin_(max_idle_per_origin),
      idle_(idle),
      sweep_(server.loop(), [this] { expire(); }) {}

UpstreamPool::~UpstreamPool() {
  clear();
}

std::unique_ptr<UpstreamConnection> UpstreamPool::take(const std::string& key) {
  auto it = idle_by_key_.find(key);
  if (it == idle_by_key_.end() || it->second.empty()) return nullptr;
  // Most recently used first: it is the least likely to have been closed by the origin.
  std::unique_ptr<Entry> entry = std::move(it->second.back());
  it->second.pop_back();
  if (it->second.empty()) idle_by_key_.erase(it);
  auto conn = std::move(entry->conn);
  conn->stream->set_handler(nullptr);
  return conn;
}

void UpstreamPool::put(std::unique_ptr<UpstreamConnection> conn) {
  if (server_.draining() || max_idle_per_origin_ == 0 || conn->stream->failed()) return;
  auto& list = idle_by_key_[conn->key];
  if (list.size() >= max_idle_per_origin_) return;  // conn is closed on return
  conn->parser.reset();
  auto entry = std::make_unique<Entry>(*this, std::move(conn), uv_now(server_.loop()));
  entry->conn->stream->set_handler(entry.get());
  entry->conn->stream->start_reading();
  list.push_back(std::move(entry));
  if (!sweep_.active()) sweep_.start(idle_);
}

std::size_t UpstreamPool::idle_count() const {
  std::size_t n = 0;
  for (const auto& [key, list] : idle_by_key_) n += list.size();
  return n;
}

void UpstreamPool::clear() {
  for (auto& [key, list] : idle_by_key_) {
    for (auto& e : list) e->conn->stream->set_handler(nullptr);
  }
  idle_by_key_.clear();
  sweep_.stop();
}

void UpstreamPool::drop(Entry* entry) {
  auto it = idle_by_key_.find(entry->conn->key);
  if (it == idle_by_key_.end()) return;
  auto& list = it->second;
  for (auto e = list.begin(); e != list.end(); ++e) {
    if (e->get() != entry) continue;
    entry->conn->stream->set_handler(nullptr);
    // We are inside the entry's own callback: destroy it on the next loop iteration.
    server_.reaper().retire(std::move(*e));
    list.erase(e);
    break;
  }
  if (list.empty()) idle_by_key_.erase(it);
}

void UpstreamPool::expire() {
  const std::uint64_t now = uv_now(server_.loop());
  const auto limit = static_cast<std::uint64_t>(idle_.count());
  for (auto it = idle_by_key_.begin(); it != idle_by_key_.end();) {
    auto& list = it->second;
    std::erase_if(list, [&](const std::unique_ptr<Entry>& e) { return now - e->since >= limit; });
    it = list.empty() ? idle_by_key_.erase(it) : std::next(it);
  }
  if (!idle_by_key_.empty()) sweep_.start(idle_ / 2 + std::chrono::milliseconds(1));
}

Connector::Connector(Server& server, Target target, Done done)
    : server_(server),
      target_(std::move(target)),
      done_(std::move(done)),
      timeout_(server.loop(), [this] {
        complete(payment::Reason::upstream_timeout,
                 "connecting to " + target_.authority() + " timed out after " +
                     std::to_string(server_.settings().timeouts.connect.count()) + " ms");
      }) {}

Connector::~Connector() = default;

void Connector::start() {
  timeout_.start(server_.settings().timeouts.connect);
  // A transparent connection goes to the address the client connected to, not to whatever the
  // name resolves to now.
  const std::string& where = target_.address.empty() ? target_.host : target_.address;
  if (auto literal = ip_literal(where, target_.port)) {
    addresses_.push_back(*literal);
    try_next();
    return;
  }
  resolution_ = Resolution::start(server_.loop(), target_.host, target_.port,
                                  [this](int status, std::vector<sockaddr_storage> addresses) {
                                    resolved(status, std::move(addresses));
                                  });
  if (!resolution_) {
    complete(payment::Reason::upstream_unreachable, "cannot resolve " + target_.host);
  }
}

void Connector::resolved(int status, std::vector<sockaddr_storage> addresses) {
  if (status != 0 || addresses.empty()) {
    complete(payment::Reason::upstream_unreachable,
             "cannot resolve " + target_.host + ": " +
                 (status != 0 ? uv_strerror(status) : "no address"));
    return;
  }
  addresses_ = std::move(addresses);
  try_next();
}

void Connector::try_next() {
  while (next_ < addresses_.size()) {
    const auto* addr = reinterpret_cast<const sockaddr*>(&addresses_[next_++]);
    if (server_.is_own_endpoint(addr)) {
      complete(payment::Reason::loop_detected,
               target_.authority() + " is this proxy's own address; the request would loop");
      return;
    }
    stream_ =
        std::make_unique<TcpStream>(server_.loop(), this, server_.settings().write_high_water);
    last_status_ = stream_->connect(addr);
    if (last_status_ == 0) {
      ++server_.stats().upstream_connects;
      return;  // on_connected continues
    }
    stream_.reset();
  }
  complete(payment::Reason::upstream_unreachable,
           "cannot connect to " + target_.authority() + ": " +
               (last_status_ != 0 ? uv_strerror(last_status_) : "no address"));
}

void Connector::on_connected(ByteStream& /*stream*/, int status) {
  if (tls_) {
    if (status == 0) {
      if (tls_->session_resumed()) ++server_.stats().upstream_tls_resumed;
      complete(std::nullopt, {});
    } else {
      complete(payment::Reason::upstream_tls_failed,
               "TLS with " + target_.authority() + " failed: " + tls_->handshake_error());
    }
    return;
  }
  if (status == 0) {
    if (target_.scheme == "https") {
      start_tls();
    } else {
      complete(std::nullopt, {});
    }
    return;
  }
  last_status_ = status;
  stream_.reset();
  try_next();
}

void Connector::start_tls() {
  ++server_.stats().upstream_tls_handshakes;
  TlsClientRole role{server_.upstream_tls(target_.host), target_.host, target_.port};
  tls_ = std::make_unique<TlsStream>(server_.loop(), std::move(stream_), std::move(role), this,
                                     server_.settings().write_high_water);
}

void Connector::complete(Error error, std::string message) {
  timeout_.stop();
  resolution_.reset();
  if (error) {
    stream_.reset();
    tls_.reset();
  }
  std::unique_ptr<ByteStream> stream;
  if (tls_) {
    stream = std::move(tls_);
  } else {
    stream = std::move(stream_);
  }
  if (stream) stream->set_handler(nullptr);
  // The owner may destroy this connector from inside `done`: touch nothing afterwards.
  auto done = std::move(done_);
  if (done) done(error, std::move(message), std::move(stream));
}

}  // namespace flow::proxy
