// A CONNECT the proxy answers itself, then reads the first bytes of (ClientConnection's
// `opening` state): a tunnel to a host it may decrypt, or to a port CONNECT may not splice to.
// The first bytes decide: a TLS ClientHello for a host it intercepts is terminated with a leaf
// of the CA and served as HTTPS exchanges; plain HTTP is served as exchanges; anything else is
// spliced (or, on a port CONNECT may not splice to, refused by closing: the 200 is out).
#include <variant>

#include "flow/proxy/exchange/client_connection.hpp"
#include "flow/proxy/exchange/exchange.hpp"
#include "flow/proxy/exchange/tunnel.hpp"
#include "flow/proxy/http/proxy_error.hpp"
#include "flow/proxy/network/client_hello.hpp"
#include "flow/proxy/network/tls_stream.hpp"
#include "flow/proxy/server.hpp"

namespace flow::proxy {

void ClientConnection::open_tunnel(Target target) {
  connect_target_ = std::move(target);
  state_ = State::opening;
  ++server_.stats().tunnels_total;
  deadline_.arm(server_.settings().timeouts.header);
  stream_->write("HTTP/1.1 200 Connection Established\r\n\r\n");
  look_into_tunnel();
  if (state_ == State::opening) update_reading();
}

void ClientConnection::look_into_tunnel() {
  std::optional<payment::Reason> refusal;
  if (!transparent_ && !server_.connect_port_allowed(connect_target_.port)) {
    refusal = payment::Reason::connect_port_denied;
  }
  switch (classify_first_bytes(input_)) {
    case FirstBytes::need_more:
      if (client_eof_) end_opening(payment::Reason::client_closed, "the tunnel ended unused");
      return;
    case FirstBytes::http: {
      ++server_.stats().tunnels_carrying_http;
      Target origin = connect_target_;
      origin.scheme = "http";
      carry_http(std::move(origin), nullptr, std::move(input_));
      return;
    }
    case FirstBytes::other:
      splice_opened(refusal);
      return;
    case FirstBytes::tls_client_hello:
      break;
  }
  const ClientHelloRead read = read_client_hello(input_);
  if (read.status == ClientHelloStatus::need_more) {
    if (client_eof_) end_opening(payment::Reason::client_closed, "the tunnel ended mid-hello");
    return;
  }
  // A hello this reader cannot follow is not decrypted: the origin may understand it.
  const std::string name = read.status == ClientHelloStatus::ok
                               ? read.hello.sni.value_or(connect_target_.host)
                               : connect_target_.host;
  if (read.status != ClientHelloStatus::ok ||
      !server_.tls().decide(server_.policy()->definition(), name).intercept) {
    splice_opened(refusal);
    return;
  }
  intercept(name);
}

void ClientConnection::intercept(const std::string& name) {
  auto leaf = server_.tls().leaf(name);
  if (const auto* error = std::get_if<LeafError>(&leaf)) {
    end_opening(payment::Reason::client_tls_failed,
                "no certificate for " + name + ": " + std::string(leaf_error_name(*error)));
    return;
  }
  state_ = State::handshake;
  ++server_.stats().tunnels_intercepted;
  origin_ = connect_target_;
  origin_->scheme = "https";
  if (transparent_) origin_->host = name;  // the SNI: what the client verifies and asks for
  TlsServerRole role{server_.tls().leaf_context(), std::move(input_),
                     std::get<std::shared_ptr<const ServerLeaf>>(std::move(leaf))};
  input_.clear();
  std::unique_ptr<ByteStream> accepted = std::move(stream_);
  stream_ = std::make_unique<TlsStream>(server_.loop(), std::move(accepted), std::move(role), this,
                                        server_.settings().write_high_water);
  stream_->start_reading();
}

void ClientConnection::on_connected(ByteStream& /*stream*/, int status) {
  if (state_ != State::handshake) return;
  if (status != 0) {
    const auto& tls = static_cast<const TlsStream&>(*stream_);
    end_opening(payment::Reason::client_tls_failed,
                "TLS with the client failed for " + origin_->host + ": " + tls.handshake_error());
    return;
  }
  ++server_.stats().client_tls_handshakes;
  serve_tunnel_requests();
}

void ClientConnection::splice_opened(std::optional<payment::Reason> refusal) {
  if (refusal) {
    end_opening(*refusal, "CONNECT to port " + std::to_string(connect_target_.port) +
                              " carries no HTTP, and splicing to it is not allowed "
                              "(proxy.connect_ports / --connect-ports)");
    return;
  }
  deadline_.disarm();
  state_ = State::tunnel;
  std::string bytes = std::move(input_);
  input_.clear();
  tunnel_ = std::make_unique<Tunnel>(*this, connect_target_, std::move(bytes), true);
  tunnel_->start();
  if (state_ == State::tunnel && client_eof_ && tunnel_) tunnel_->client_eof();
}

void ClientConnection::end_opening(payment::Reason reason, std::string_view detail) {
  server_.stats().count(reason);
  std::string fields = "\"client\":\"" + peer_ + "\",\"host\":\"" + connect_target_.host +
                       "\",\"reason\":\"" + std::string(payment::reason_name(reason)) +
                       "\",\"detail\":";
  append_json_string(fields, detail);
  server_.log().info("tunnel closed", fields);
  AccessRecord record;
  record.tunnel = true;
  record.client = peer_;
  record.agent = agent_;
  record.method = "CONNECT";
  record.host = connect_target_.host;
  record.port = connect_target_.port;
  // A CONNECT was answered before its first bytes (closing is the refusal); a transparent
  // connection was answered nothing.
  record.status = transparent_ ? 0 : 200;
  record.transparent = transparent_;
  record.reason = reason;
  record.error = reason;
  server_.write_access(record);
  close_now();
}

void ClientConnection::carry_http(Target origin, std::unique_ptr<ByteStream> upstream,
                                  std::string bytes) {
  if (tunnel_) server_.reaper().retire(std::move(tunnel_));
  if (upstream) {
    // The tunnel's own connection serves the first request (and stays pooled for later ones).
    server_.pool().put(std::make_unique<UpstreamConnection>(
        std::move(upstream), origin.pool_key(),
        response_head_limit(server_.settings().max_header_bytes)));
  }
  origin_ = std::move(origin);
  input_ = std::move(bytes);
  serve_tunnel_requests();
}

void ClientConnection::serve_tunnel_requests() {
  parser_.reset();
  parser_paused_ = false;
  state_ = State::idle;
  deadline_.arm(server_.settings().timeouts.header);
  process_input();
  if (client_eof_ && state_ == State::idle) close_now();
}

}  // namespace flow::proxy
