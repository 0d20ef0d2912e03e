#include "flow/proxy/exchange/tunnel.hpp"

#include <functional>

#include "flow/proxy/exchange/client_connection.hpp"
#include "flow/proxy/http/proxy_error.hpp"
#include "flow/proxy/network/client_hello.hpp"
#include "flow/proxy/server.hpp"

namespace flow::proxy {

namespace {
// An HTTP method is at most this long before its space (client_hello.hpp's classifier): more
// undecided bytes than this are not HTTP.
constexpr std::size_t kMaxUndecidedBytes = 64;
}  // namespace

Tunnel::Tunnel(ClientConnection& client, Target target, std::string early_bytes, bool answered)
    : client_(client),
      target_(std::move(target)),
      early_bytes_(std::move(early_bytes)),
      answered_(answered),
      looked_(answered),
      idle_(client.server().loop(), [this] { finish(payment::Reason::upstream_timeout); }) {}

Tunnel::~Tunnel() = default;

void Tunnel::start() {
  Server& server = client_.server();
  start_ns_ = uv_hrtime();
  if (!answered_) ++server.stats().tunnels_total;  // else counted when the connection answered
  ++server.stats().tunnels_active;
  record_.tunnel = true;
  record_.client = client_.peer();
  record_.transparent = client_.transparent();
  record_.method = "CONNECT";
  record_.host = target_.host;
  record_.port = target_.port;
  connector_ =
      std::make_unique<Connector>(server, target_, std::bind_front(&Tunnel::connected, this));
  connector_->start();
}

void Tunnel::connected(Connector::Error error, std::string message,
                       std::unique_ptr<ByteStream> stream) {
  Server& server = client_.server();
  server.reaper().retire(std::move(connector_));
  connect_us_ = (uv_hrtime() - start_ns_) / 1000;
  if (error) {
    if (answered_) {
      // The 200 went out already: closing is all that is left to say.
      record_.status = 200;
      record_.reason = *error;
    } else {
      const ProxyAnswer answer = error_answer(*error, message);
      record_.status = answer.status;
      record_.reason = answer.code;
      client_.stream().write(serialize_answer(answer, Persistence::close));
    }
    finish(error);
    return;
  }
  upstream_ = std::move(stream);
  upstream_->set_handler(this);
  established_ = true;
  record_.status = 200;
  if (!answered_) client_.stream().write("HTTP/1.1 200 Connection Established\r\n\r\n");
  if (!looked_ && hand_over_http()) return;
  if (looked_) send_early_bytes();
  if (client_eof_ && looked_) upstream_->shutdown_after_writes();
  upstream_->start_reading();
  idle_.arm(server.settings().timeouts.tunnel_idle);
  client_.update_reading();
}

void Tunnel::from_client(const char* data, std::size_t len) {
  if (finished_) return;
  idle_.touch();
  if (!established_ || !looked_) {
    // Bytes sent before the tunnel is up (e.g. a ClientHello right behind CONNECT), or before
    // its first bytes said what it carries: bounded by client backpressure below.
    early_bytes_.append(data, len);
    if (established_) {
      if (hand_over_http()) return;
      if (looked_) {
        send_early_bytes();
        if (client_eof_) upstream_->shutdown_after_writes();
      }
    }
  } else {
    record_.request_body_bytes += len;
    upstream_->write(std::string_view(data, len));
  }
  client_.update_reading();
}

bool Tunnel::hand_over_http() {
  const FirstBytes kind = classify_first_bytes(early_bytes_);
  if (kind == FirstBytes::need_more && early_bytes_.size() < kMaxUndecidedBytes && !client_eof_) {
    return false;  // wait for more
  }
  if (kind != FirstBytes::http) {
    looked_ = true;
    return false;
  }
  finished_ = true;
  idle_.disarm();
  Server& server = client_.server();
  --server.stats().tunnels_active;
  ++server.stats().tunnels_carrying_http;
  upstream_->set_handler(nullptr);
  Target origin = target_;
  origin.scheme = "http";
  client_.carry_http(std::move(origin), std::move(upstream_), std::move(early_bytes_));
  return true;
}

void Tunnel::send_early_bytes() {
  if (early_bytes_.empty()) return;
  record_.request_body_bytes += early_bytes_.size();
  upstream_->write(early_bytes_);
  early_bytes_.clear();
  early_bytes_.shrink_to_fit();
}

bool Tunnel::client_backlogged() const {
  if (!established_ || !looked_) {
    return early_bytes_.size() > client_.server().settings().write_high_water;
  }
  return upstream_->above_high_water();
}

void Tunnel::client_eof() {
  client_eof_ = true;
  if (!established_) return;
  if (!looked_) {
    if (hand_over_http()) return;
    send_early_bytes();
  }
  upstream_->shutdown_after_writes();
}

void Tunnel::client_failed() {
  finish(payment::Reason::client_closed);
}

void Tunnel::client_drained() {
  if (established_ && !upstream_eof_) upstream_->start_reading();
}

void Tunnel::abort(payment::Reason error) {
  finish(error);
}

void Tunnel::on_read(ByteStream& /*stream*/, const char* data, std::size_t len) {
  idle_.touch();
  record_.response_body_bytes += len;
  client_.stream().write(std::string_view(data, len));
  if (client_.stream().above_high_water()) upstream_->stop_reading();
}

void Tunnel::on_eof(ByteStream& /*stream*/) {
  upstream_eof_ = true;
  client_.stream().shutdown_after_writes();
}

void Tunnel::on_error(ByteStream& /*stream*/, int /*uv_status*/) {
  finish(payment::Reason::upstream_closed);
}

void Tunnel::on_drained(ByteStream& /*stream*/) {
  client_.update_reading();
}

void Tunnel::on_shutdown(ByteStream& /*stream*/) {
  upstream_shut_ = true;
  maybe_done();
}

void Tunnel::client_shutdown_done() {
  client_shut_ = true;
  maybe_done();
}

void Tunnel::maybe_done() {
  // Both directions have ended and each FIN went out after everything queued before it.
  if (client_eof_ && upstream_eof_ && client_shut_ && upstream_shut_) finish(std::nullopt);
}

void Tunnel::finish(std::optional<payment::Reason> error) {
  if (finished_) return;
  finished_ = true;
  idle_.disarm();
  Server& server = client_.server();
  server.reaper().retire(std::move(connector_));
  --server.stats().tunnels_active;
  if (error) server.stats().count(*error);
  record_.error = error;
  record_.connect_us = connect_us_;
  record_.duration_us = (uv_hrtime() - start_ns_) / 1000;
  server.write_access(record_);
  if (upstream_) upstream_->set_handler(nullptr);
  client_.tunnel_ended();
}

}  // namespace flow::proxy
