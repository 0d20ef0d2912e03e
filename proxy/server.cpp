#include "flow/proxy/server.hpp"

#include <algorithm>
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
  if (listener_) {
    auto* handle = reinterpret_cast<uv_handle_t*>(listener_.get());
    close_handle(handle, std::move(listener_));
  }
  reaper_.reap_now();
}

void Server::start() {
  // check_start (run and check) refused a bad address already; this keeps the server safe alone.
  auto resolved = listen_sockaddr(settings_);
  if (auto* error = std::get_if<std::string>(&resolved)) throw std::runtime_error(*error);
  auto addr = std::get<sockaddr_storage>(resolved);
  listener_ = std::make_unique<uv_tcp_t>();
  uv_tcp_init(loop_, listener_.get());
  listener_->data = this;
  int rc = uv_tcp_bind(listener_.get(), reinterpret_cast<sockaddr*>(&addr), 0);
  if (rc == 0) {
    rc = uv_listen(reinterpret_cast<uv_stream_t*>(listener_.get()), 511,
                   [](uv_stream_t* s, int status) {
                     static_cast<Server*>(s->data)->on_new_connection(status);
                   });
  }
  if (rc != 0) {
    throw std::runtime_error("cannot listen on " + settings_.listen + ": " + uv_strerror(rc));
  }
  int len = sizeof bound_;
  uv_tcp_getsockname(listener_.get(), reinterpret_cast<sockaddr*>(&bound_), &len);
}

std::string Server::bound_address() const {
  return format_sockaddr(reinterpret_cast<const sockaddr*>(&bound_));
}

std::shared_ptr<const policy::PolicySnapshot> Server::policy() const {
  return policy_source_ ? policy_source_() : policy::PolicySnapshot::empty();
}

bool Server::connect_port_allowed(std::uint16_t port) const {
  return std::find(settings_.connect_ports.begin(), settings_.connect_ports.end(), port) !=
         settings_.connect_ports.end();
}

bool Server::is_own_endpoint(const sockaddr* addr) const {
  return is_own_listener(addr, std::span<const sockaddr_storage>(&bound_, 1));
}

void Server::on_new_connection(int status) {
  if (status < 0) {
    log_.warn("accept failed", "\"error\":\"" + std::string(uv_err_name(status)) + "\"");
    return;
  }
  auto socket = std::make_unique<TcpStream>(loop_, nullptr, settings_.write_high_water);
  if (socket->accept_from(reinterpret_cast<uv_stream_t*>(listener_.get())) != 0) return;
  auto conn = std::make_unique<ClientConnection>(*this, std::move(socket));
  ClientConnection* raw = conn.get();
  connections_.push_back(std::move(conn));
  index_.emplace(raw, std::prev(connections_.end()));
  ++stats_.connections_accepted;
  if (stats_.connections_active >= settings_.max_connections) {
    ++stats_.connections_rejected;
    ++stats_.connections_active;  // balanced in connection_closed
    raw->reject(payment::Reason::too_many_connections,
                "the proxy is at its connection limit (" +
                    std::to_string(settings_.max_connections) + "); retry later");
    return;
  }
  ++stats_.connections_active;
  raw->start_accepted();
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
  if (listener_) {
    auto* handle = reinterpret_cast<uv_handle_t*>(listener_.get());
    close_handle(handle, std::move(listener_));
  }
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
