#include "flow/proxy/server.hpp"

#include <algorithm>
#include <cerrno>
#include <span>
#include <stdexcept>

#include "flow/proxy/exchange/client_connection.hpp"
#include "flow/proxy/http/target.hpp"
#include "flow/proxy/network/handle_close.hpp"
#include "flow/proxy/network/net_address.hpp"
#include "flow/proxy/network/original_dst.hpp"
#include "flow/proxy/network/tcp_stream.hpp"
#include "flow/proxy/start_check.hpp"

namespace flow::proxy {
namespace {

// The original destination as a connection target: the IP literal and port.
Target original_target(const sockaddr* destination) {
  Target target;
  char text[INET6_ADDRSTRLEN] = {};
  if (destination->sa_family == AF_INET) {
    uv_ip4_name(reinterpret_cast<const sockaddr_in*>(destination), text, sizeof text);
  } else {
    uv_ip6_name(reinterpret_cast<const sockaddr_in6*>(destination), text, sizeof text);
  }
  target.host = text;
  target.port = sockaddr_port(destination);
  return target;
}

}  // namespace

Server::Server(uv_loop_t* loop, policy::ProxySettings settings, Logger& log, LogWriter& access_log)
    : loop_(loop),
      settings_(std::move(settings)),
      log_(log),
      access_log_(access_log),
      reaper_(loop),
      pool_(*this, settings_.pool_max_idle_per_origin, settings_.timeouts.pool_idle),
      drain_timer_(loop, [this] {
        log_.warn("drain timeout reached: closing the remaining connections");
        std::vector<ClientConnection*> snapshot;
        for (auto& c : connections_) snapshot.push_back(c.get());
        for (auto* c : snapshot) c->close_now();
        check_drained();
      }) {}

Server::~Server() {
  index_.clear();
  connections_.clear();
  pool_.clear();
  close_listeners();
  reaper_.reap_now();
}

void Server::close_listeners() {
  for (auto* listener : {&listener_, &transparent_listener_}) {
    if (!*listener) continue;
    auto* handle = reinterpret_cast<uv_handle_t*>(listener->get());
    close_handle(handle, std::move(*listener));
  }
}

void Server::start() {
  // check_start (run and check) refused a bad address already; this keeps the server safe alone.
  auto resolved = listen_sockaddr(settings_);
  if (auto* error = std::get_if<std::string>(&resolved)) throw std::runtime_error(*error);
  listener_ = std::make_unique<uv_tcp_t>();
  listen_on(*listener_, std::get<sockaddr_storage>(resolved), false, settings_.listen);
  if (settings_.transparent.empty()) return;
  auto transparent = transparent_sockaddr(settings_);
  if (auto* error = std::get_if<std::string>(&transparent)) throw std::runtime_error(*error);
  transparent_listener_ = std::make_unique<uv_tcp_t>();
  listen_on(*transparent_listener_, std::get<sockaddr_storage>(transparent), true,
            settings_.transparent);
}

void Server::listen_on(uv_tcp_t& listener, const sockaddr_storage& addr, bool transparent,
                       const std::string& what) {
  uv_tcp_init(loop_, &listener);
  listener.data = this;
  int rc = uv_tcp_bind(&listener, reinterpret_cast<const sockaddr*>(&addr), 0);
  if (rc == 0) {
    const uv_connection_cb on_accept =
        transparent
            ? [](uv_stream_t* s,
                 int status) { static_cast<Server*>(s->data)->on_transparent_connection(status); }
            : [](uv_stream_t* s, int status) {
                static_cast<Server*>(s->data)->on_new_connection(status);
              };
    rc = uv_listen(reinterpret_cast<uv_stream_t*>(&listener), 511, on_accept);
  }
  if (rc != 0) throw std::runtime_error("cannot listen on " + what + ": " + uv_strerror(rc));
  int len = sizeof(sockaddr_storage);
  uv_tcp_getsockname(&listener, reinterpret_cast<sockaddr*>(&own_[own_count_]), &len);
  ++own_count_;
}

std::string Server::bound_address() const {
  return format_sockaddr(reinterpret_cast<const sockaddr*>(&own_[0]));
}

std::string Server::transparent_address() const {
  if (own_count_ < 2) return {};
  return format_sockaddr(reinterpret_cast<const sockaddr*>(&own_[1]));
}

std::shared_ptr<const policy::PolicySnapshot> Server::policy() const {
  return policy_source_ ? policy_source_() : policy::PolicySnapshot::empty();
}

bool Server::connect_port_allowed(std::uint16_t port) const {
  return std::find(settings_.connect_ports.begin(), settings_.connect_ports.end(), port) !=
         settings_.connect_ports.end();
}

bool Server::is_own_endpoint(const sockaddr* addr) const {
  return is_own_listener(addr, std::span<const sockaddr_storage>(own_.data(), own_count_));
}

ClientConnection* Server::accept_from(uv_tcp_t& listener) {
  auto socket = std::make_unique<TcpStream>(loop_, nullptr, settings_.write_high_water);
  if (socket->accept_from(reinterpret_cast<uv_stream_t*>(&listener)) != 0) return nullptr;
  auto conn = std::make_unique<ClientConnection>(*this, std::move(socket));
  ClientConnection* raw = conn.get();
  connections_.push_back(std::move(conn));
  index_.emplace(raw, std::prev(connections_.end()));
  ++stats_.connections_accepted;
  ++stats_.connections_active;  // balanced in connection_closed
  return raw;
}

bool Server::at_connection_limit(ClientConnection& connection) {
  if (stats_.connections_active <= settings_.max_connections) return false;
  ++stats_.connections_rejected;
  connection.reject(payment::Reason::too_many_connections,
                    "the proxy is at its connection limit (" +
                        std::to_string(settings_.max_connections) + "); retry later");
  return true;
}

void Server::on_new_connection(int status) {
  if (status < 0) {
    log_.warn("accept failed", "\"error\":\"" + std::string(uv_err_name(status)) + "\"");
    return;
  }
  ClientConnection* conn = accept_from(*listener_);
  if (conn == nullptr || at_connection_limit(*conn)) return;
  conn->start_accepted();
}

// A connection iptables REDIRECT sent here: served for the destination the client connected
// to, unless that is the proxy itself (a direct connection to this port, or a rule that
// redirects the proxy's own traffic), which would loop.
void Server::on_transparent_connection(int status) {
  if (status < 0) {
    log_.warn("accept failed", "\"error\":\"" + std::string(uv_err_name(status)) + "\"");
    return;
  }
  ClientConnection* conn = accept_from(*transparent_listener_);
  if (conn == nullptr) return;
  const auto* tcp = static_cast<const TcpStream&>(conn->stream()).tcp();
  const OriginalDestination found = original_destination(tcp);
  if (const auto* error = std::get_if<OriginalDstError>(&found)) {
    // ENOENT: nothing rewrote the connection, so the client addressed this port itself.
    conn->refuse_transparent(Target{},
                             error->code == ENOENT ? payment::Reason::loop_detected
                                                   : payment::Reason::upstream_unreachable,
                             "the original destination is unknown: " + error->message);
    return;
  }
  const auto& addr = std::get<sockaddr_storage>(found);
  const auto* destination = reinterpret_cast<const sockaddr*>(&addr);
  Target target = original_target(destination);
  if (is_own_endpoint(destination)) {
    conn->refuse_transparent(std::move(target), payment::Reason::loop_detected,
                             "the original destination " + format_sockaddr(destination) +
                                 " is this proxy's own listener; serving it would loop");
    return;
  }
  if (at_connection_limit(*conn)) return;
  conn->start_transparent(std::move(target));
}

void Server::connection_closed(ClientConnection* connection) {
  auto found = index_.find(connection);
  if (found == index_.end()) return;
  auto it = found->second;
  index_.erase(found);
  --stats_.connections_active;
  reaper_.retire(std::move(*it));
  connections_.erase(it);
  if (draining_) check_drained();
}

void Server::begin_drain(std::function<void()> on_drained) {
  if (draining_) return;
  draining_ = true;
  on_drained_ = std::move(on_drained);
  log_.info("draining: no new connections; waiting for in-flight exchanges",
            "\"connections\":" + std::to_string(connections_.size()));
  close_listeners();
  pool_.clear();
  // begin_drain may close connections, which removes them from the list: iterate a snapshot.
  std::vector<ClientConnection*> snapshot;
  for (auto& c : connections_) snapshot.push_back(c.get());
  for (auto* c : snapshot) c->begin_drain();
  drain_timer_.start(settings_.timeouts.drain);
  check_drained();
}

void Server::check_drained() {
  if (!draining_ || !connections_.empty() || !on_drained_) return;
  drain_timer_.stop();
  auto done = std::move(on_drained_);
  on_drained_ = nullptr;
  done();
}

TlsService& Server::tls() {
  if (!tls_) tls_ = std::make_unique<TlsService>(policy::TlsSettings{}, nullptr);
  return *tls_;
}

std::shared_ptr<TlsClientContext> Server::upstream_tls(std::string_view host) {
  return tls().upstream(policy()->definition(), host);
}

}  // namespace flow::proxy
