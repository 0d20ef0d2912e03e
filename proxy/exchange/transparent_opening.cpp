// Transparent mode (ClientConnection): a connection iptables REDIRECT sent to the transparent
// listener enters the same `opening` state as a CONNECT the proxy answered itself
// (tunnel_opening.cpp), with its original destination as the authority and nothing written.
#include "flow/proxy/exchange/client_connection.hpp"
#include "flow/proxy/http/http_message.hpp"
#include "flow/proxy/server.hpp"

namespace flow::proxy {

void ClientConnection::start_transparent(Target original_destination) {
  peer_ = stream_->peer_name();
  transparent_ = true;
  agent_ = server_.settings().agent;  // sidecar mode: redirected clients never authenticate
  connect_target_ = std::move(original_destination);
  connect_target_.address = connect_target_.host;
  state_ = State::opening;
  ++server_.stats().transparent_connections;
  deadline_.arm(server_.settings().timeouts.header);
  update_reading();
}

void ClientConnection::refuse_transparent(Target original_destination, payment::Reason reason,
                                          std::string_view detail) {
  peer_ = stream_->peer_name();
  transparent_ = true;
  agent_ = server_.settings().agent;
  connect_target_ = std::move(original_destination);
  ++server_.stats().transparent_connections;
  end_opening(reason, detail);
}

void ClientConnection::name_origin_from_host() {
  if (!origin_ || origin_->scheme != "http") return;
  const Header* host = find_header(parser_.request().headers, "host");
  const auto named = host ? parse_host_header(host->value) : std::nullopt;
  origin_->host = named ? named->host : connect_target_.host;
}

}  // namespace flow::proxy
