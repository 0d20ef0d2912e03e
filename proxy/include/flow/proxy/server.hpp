#pragma once
#include <uv.h>

#include <array>
#include <functional>
#include <list>
#include <memory>
#include <string>
#include <unordered_map>

#include "flow/policy/flow_config.hpp"
#include "flow/policy/policy_snapshot.hpp"
#include "flow/proxy/exchange/access_log.hpp"
#include "flow/proxy/exchange/exchange_hooks.hpp"
#include "flow/proxy/exchange/tls_service.hpp"
#include "flow/proxy/log_writer.hpp"
#include "flow/proxy/network/reaper.hpp"
#include "flow/proxy/network/timer.hpp"
#include "flow/proxy/network/upstream.hpp"
#include "flow/proxy/proxy_stats.hpp"

namespace flow::proxy {

class ClientConnection;
class Exchange;

// The forward proxy on one libuv loop: the listener, every client connection, the upstream
// pool, the counters and the logs. Everything here runs on the loop thread.
class Server {
 public:
  Server(uv_loop_t* loop, policy::ProxySettings settings, Logger& log, LogWriter& access_log);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds and listens (and, with proxy.transparent, the transparent listener too). Throws
  // std::runtime_error with an operator-facing message on failure (bad address, non-loopback
  // without agent authentication, port in use).
  void start();
  // "127.0.0.1:8402" with the port actually bound.
  std::string bound_address() const;
  // The transparent listener's address with the port bound; empty when there is none.
  std::string transparent_address() const;
  // Stops accepting and closes idle connections; in-flight exchanges finish, then `on_drained`
  // runs (or at the drain timeout, after the rest were closed).
  void begin_drain(std::function<void()> on_drained);
  bool draining() const { return draining_; }

  uv_loop_t* loop() const { return loop_; }
  const policy::ProxySettings& settings() const { return settings_; }
  UpstreamPool& pool() { return pool_; }
  ProxyStats& stats() { return stats_; }
  Logger& log() { return log_; }
  Reaper& reaper() { return reaper_; }
  void write_access(const AccessRecord& record) { write_access_record(access_log_, record); }
  bool connect_port_allowed(std::uint16_t port) const;
  // Interception and origination (set_tls; without it, interception is off and origins are
  // verified against the system store alone).
  TlsService& tls();
  void set_tls(std::unique_ptr<TlsService> tls) { tls_ = std::move(tls); }
  // The client context for TLS to origin `host` (TlsService::upstream under the current policy).
  std::shared_ptr<TlsClientContext> upstream_tls(std::string_view host);
  // True when `addr` is one of this proxy's own listening endpoints (a request that would loop).
  bool is_own_endpoint(const sockaddr* addr) const;

  // What governs each exchange at its named stages (the paid path): made for every exchange;
  // none set, exchanges only forward.
  using HooksFactory = std::function<std::unique_ptr<ExchangeHooks>(Exchange&)>;
  void set_hooks_factory(HooksFactory factory) { hooks_factory_ = std::move(factory); }
  std::unique_ptr<ExchangeHooks> make_hooks(Exchange& exchange) const {
    return hooks_factory_ ? hooks_factory_(exchange) : nullptr;
  }
  // The policy in force, for agent authentication (shared mode).
  std::shared_ptr<const policy::PolicySnapshot> policy() const;
  void set_policy_source(std::function<std::shared_ptr<const policy::PolicySnapshot>()> source) {
    policy_source_ = std::move(source);
  }

  // A connection has closed: it is destroyed on the next loop iteration.
  void connection_closed(ClientConnection* connection);

 private:
  // Binds `listener` to `addr` and listens; `transparent`: accepted connections are redirected
  // ones (on_transparent_connection). Throws naming `what` on failure.
  void listen_on(uv_tcp_t& listener, const sockaddr_storage& addr, bool transparent,
                 const std::string& what);
  // Accepts one connection from `listener` into the connection list; null when none was accepted.
  ClientConnection* accept_from(uv_tcp_t& listener);
  // Over the connection limit: the connection has been refused (counted as active until closed).
  bool at_connection_limit(ClientConnection& connection);
  void on_new_connection(int status);
  void on_transparent_connection(int status);
  void close_listeners();
  void check_drained();

  uv_loop_t* loop_;
  policy::ProxySettings settings_;
  Logger& log_;
  LogWriter& access_log_;
  ProxyStats stats_;
  Reaper reaper_;
  UpstreamPool pool_;
  std::unique_ptr<uv_tcp_t> listener_;
  std::unique_ptr<uv_tcp_t> transparent_listener_;
  // The bound addresses: [0] the listener, [1] the transparent listener (when own_count_ is 2).
  std::array<sockaddr_storage, 2> own_{};
  std::size_t own_count_ = 0;
  std::list<std::unique_ptr<ClientConnection>> connections_;
  std::unordered_map<ClientConnection*, std::list<std::unique_ptr<ClientConnection>>::iterator>
      index_;  // O(1) removal when a connection closes
  bool draining_ = false;
  HooksFactory hooks_factory_;
  std::unique_ptr<TlsService> tls_;
  std::function<std::shared_ptr<const policy::PolicySnapshot>()> policy_source_;
  std::function<void()> on_drained_;
  Timer drain_timer_;
};

}  // namespace flow::proxy
