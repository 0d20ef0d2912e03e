#include "flow/proxy/exchange/client_connection.hpp"

#include "flow/proxy/exchange/agent_identity.hpp"

#include "flow/proxy/exchange/exchange.hpp"
#include "flow/proxy/exchange/tunnel.hpp"
#include "flow/proxy/http/proxy_error.hpp"
#include "flow/proxy/network/client_hello.hpp"
#include "flow/proxy/server.hpp"

namespace flow::proxy {
namespace {
// After the final answer and FIN, how long to wait for the peer's own close.
constexpr std::chrono::milliseconds kLingerAfterFin{2000};
}  // namespace

ClientConnection::ClientConnection(Server& server, std::unique_ptr<ByteStream> stream)
    : server_(server),
      stream_(std::move(stream)),
      parser_(HttpParser::Kind::request, server.settings().max_header_bytes),
      deadline_(server.loop(), [this] { on_deadline(); }) {
  stream_->set_handler(this);
  parser_.set_sink(this);
}

ClientConnection::~ClientConnection() = default;

void ClientConnection::start_accepted() {
  peer_ = stream_->peer_name();
  // The first request head must arrive within the header timeout, counted from accept;
  // between keep-alive requests the (longer) idle timeout applies instead.
  state_ = State::idle;
  deadline_.arm(server_.settings().timeouts.header);
  stream_->start_reading();
}

void ClientConnection::reject(payment::Reason error, std::string_view message) {
  peer_ = stream_->peer_name();
  refuse(error, message);
}

void ClientConnection::arm_idle() {
  state_ = State::idle;
  deadline_.arm(server_.settings().timeouts.idle);
}

void ClientConnection::begin_drain() {
  draining_ = true;
  if (state_ == State::idle) close_now();
}

bool ClientConnection::parsing_allowed() const {
  return !parser_paused_ &&
         (state_ == State::idle || state_ == State::reading_head || state_ == State::exchange);
}

void ClientConnection::on_read(ByteStream& /*stream*/, const char* data, std::size_t len) {
  switch (state_) {
    case State::closing:
    case State::closed:
      return;  // the answer is out; the peer's last bytes are discarded
    case State::tunnel:
      tunnel_->from_client(data, len);
      return;
    case State::opening:
      input_.append(data, len);
      look_into_tunnel();
      return;
    case State::handshake:
      return;  // the TLS stream delivers nothing before its handshake is done
    case State::exchange:
      if (exchange_ && !exchange_->request_complete()) deadline_.touch();
      break;
    case State::idle:
    case State::reading_head:
      break;
  }
  if (!input_.empty() || processing_ || !parsing_allowed()) {
    input_.append(data, len);
    process_input();
    return;
  }
  // Fast path: parse straight from the read buffer; keep only what the parser left.
  processing_ = true;
  std::size_t pos = 0;
  while (pos < len && parsing_allowed()) pos += step(data + pos, len - pos);
  processing_ = false;
  if (pos < len &&
      (state_ == State::exchange || state_ == State::reading_head || state_ == State::idle)) {
    input_.append(data + pos, len - pos);
  }
  process_input();
}

void ClientConnection::process_input() {
  if (processing_) return;
  processing_ = true;
  std::size_t pos = 0;
  while (pos < input_.size() && parsing_allowed()) {
    pos += step(input_.data() + pos, input_.size() - pos);
  }
  if (state_ == State::closing || state_ == State::closed || state_ == State::tunnel ||
      state_ == State::handshake) {
    input_.clear();
  } else {
    input_.erase(0, pos);
  }
  processing_ = false;
  update_reading();
}

std::size_t ClientConnection::step(const char* data, std::size_t len) {
  if (state_ == State::idle) {
    state_ = State::reading_head;
    deadline_.arm(server_.settings().timeouts.header);  // absolute: reads do not extend it
  }
  const HttpParser::Result r = parser_.feed(data, len);
  switch (r.status) {
    case HttpParser::Status::need_more:
      return len;
    case HttpParser::Status::paused_head:
      parser_paused_ = true;
      if (state_ == State::reading_head && parser_.is_connect()) {
        start_tunnel(data + r.consumed, len - r.consumed);
        return len;
      }
      return r.consumed;  // the exchange failed at once; the connection is closing
    case HttpParser::Status::paused_end:
      parser_paused_ = true;
      if (state_ == State::exchange) deadline_.disarm();
      // May end the exchange, which resumes the parser for a pipelined request.
      if (exchange_) exchange_->on_request_end();
      return r.consumed;
    case HttpParser::Status::error:
      parse_error();
      return len;
  }
  return len;
}

MessageSink::HeadAction ClientConnection::on_head() {
  // Inside a tunnel the agent is the one its CONNECT named (requests in it carry no
  // Proxy-Authorization).
  if (server_.settings().identity == policy::AgentIdentity::shared && !origin_) {
    auto id = identify_agent(server_.settings(), *server_.policy(), parser_.request().headers);
    if (!id.ok) {
      fail(payment::Reason::proxy_auth_required, id.problem);
      return HeadAction::pause;
    }
    agent_ = std::move(id.agent);
  } else if (agent_.empty()) {
    agent_ = server_.settings().agent;
  }
  if (parser_.is_connect()) return HeadAction::pause;
  if (transparent_) name_origin_from_host();
  start_exchange();
  // The exchange may have failed at once (bad target): stop parsing this connection.
  return state_ == State::exchange ? HeadAction::proceed : HeadAction::pause;
}

void ClientConnection::on_body(std::string_view data) {
  if (exchange_) exchange_->on_request_body(data);
}

void ClientConnection::on_message_end() {
  // Handled in step() once llhttp has returned: ending an exchange may reset the parser.
}

void ClientConnection::start_exchange() {
  state_ = State::exchange;
  ++requests_;
  deadline_.arm(server_.settings().timeouts.idle);  // request body gaps
  exchange_ = std::make_unique<Exchange>(server_, *this, parser_);
  exchange_->start();
}

void ClientConnection::start_tunnel(const char* early, std::size_t early_len) {
  deadline_.disarm();
  const auto target = parse_authority(parser_.request().target);
  if (!target) {
    fail(payment::Reason::bad_request,
         "CONNECT needs an authority target HOST:PORT, got '" + parser_.request().target + "'");
    return;
  }
  std::string early_bytes(early, early_len);
  early_bytes += input_;
  input_.clear();
  // A tunnel that may be decrypted, or that may only carry HTTP (a port CONNECT may not splice
  // to), is answered at once and looked into; any other connects first (502 when it cannot).
  if (!server_.connect_port_allowed(target->port) ||
      server_.tls().decide(server_.policy()->definition(), target->host).intercept) {
    input_ = std::move(early_bytes);
    open_tunnel(*target);
    return;
  }
  state_ = State::tunnel;
  tunnel_ = std::make_unique<Tunnel>(*this, *target, std::move(early_bytes));
  tunnel_->start();
}

void ClientConnection::parse_error() {
  const payment::Reason error = parser_.error() == ParseError::head_too_large
                                    ? payment::Reason::header_too_large
                                    : payment::Reason::bad_request;
  std::string message = "malformed request: ";
  message += parser_.error_reason();
  if (exchange_) {
    exchange_->on_request_malformed(error, message);  // ends the exchange and the connection
    if (state_ != State::closing && state_ != State::closed) close_now();
    return;
  }
  fail(error, message);
}

void ClientConnection::fail(payment::Reason error, std::string_view message) {
  server_.log().debug("request refused", "\"client\":\"" + peer_ + "\",\"error\":\"" +
                                             std::string(payment::reason_name(error)) + "\"");
  refuse(error, message);
}

void ClientConnection::refuse(payment::Reason error, std::string_view message) {
  server_.stats().count(error);
  const ProxyAnswer answer = error_answer(error, message);
  AccessRecord record;
  record.client = peer_;
  record.method = parser_.request().method;
  record.status = answer.status;
  record.reason = answer.code;
  record.response_body_bytes = answer.body.size();
  record.error = error;
  server_.write_access(record);
  stream_->write(serialize_answer(answer, Persistence::close));
  close_gracefully();
}

void ClientConnection::exchange_ended(bool keep_alive) {
  server_.reaper().retire(std::move(exchange_));
  if (state_ == State::closed || state_ == State::closing) return;
  if (!keep_alive || draining_ || client_eof_) {
    close_gracefully();
    return;
  }
  arm_idle();
  parser_.resume();
  parser_paused_ = false;
  process_input();  // a pipelined request may be waiting
}

void ClientConnection::tunnel_ended() {
  server_.reaper().retire(std::move(tunnel_));
  close_now();
}

void ClientConnection::update_reading() {
  bool want = true;
  switch (state_) {
    case State::exchange:
      want = !(exchange_ && exchange_->request_backlogged()) &&
             input_.size() < server_.settings().max_header_bytes;
      break;
    case State::tunnel:
      want = tunnel_ && !tunnel_->client_backlogged();
      break;
    case State::opening:
      want = input_.size() < client_hello_max_bytes;
      break;
    case State::closed:
      want = false;
      break;
    default:
      break;
  }
  if (client_eof_) want = false;
  if (want) {
    stream_->start_reading();
  } else {
    stream_->stop_reading();
  }
}

PersistenceWish ClientConnection::persistence_wish() const {
  return {parser_.keep_alive(), parser_.request().version.at_least_1_1()};
}

void ClientConnection::write(const uv_buf_t* bufs, unsigned count) {
  stream_->write(bufs, count);
}

bool ClientConnection::write_backlogged() const {
  return stream_->above_high_water();
}

bool ClientConnection::ended() const {
  return client_eof_ || state_ == State::closed;
}

void ClientConnection::watch_write_stall(bool stalled) {
  if (state_ != State::exchange || (exchange_ && !exchange_->request_complete())) return;
  if (stalled) {
    if (!deadline_.armed()) deadline_.arm(server_.settings().timeouts.idle);
  } else {
    deadline_.disarm();
  }
}

void ClientConnection::on_eof(ByteStream& /*stream*/) {
  client_eof_ = true;
  switch (state_) {
    case State::tunnel:
      tunnel_->client_eof();
      return;
    case State::opening:
      look_into_tunnel();  // decides now, or ends the opening
      return;
    case State::exchange:
      // A client may half-close after its request: the response still goes out. Not to a
      // request held for a person's decision: its agent is taken to be gone.
      if (exchange_ && (!exchange_->request_complete() || exchange_->ends_on_client_eof())) {
        exchange_->on_client_gone(true);
      }
      return;
    default:
      close_now();
  }
}

void ClientConnection::on_error(ByteStream& /*stream*/, int /*uv_status*/) {
  if (state_ == State::tunnel && tunnel_) tunnel_->client_failed();
  close_now();
}

void ClientConnection::on_drained(ByteStream& /*stream*/) {
  if (state_ == State::exchange && exchange_) {
    watch_write_stall(false);
    exchange_->on_client_drained();
  } else if (state_ == State::tunnel && tunnel_) {
    tunnel_->client_drained();
  } else if (state_ == State::closing) {
    deadline_.touch();
  }
}

void ClientConnection::on_shutdown(ByteStream& /*stream*/) {
  if (state_ == State::tunnel && tunnel_) tunnel_->client_shutdown_done();
  if (state_ != State::closing) return;
  if (client_eof_) {
    close_now();  // both sides are done: nothing to linger for
  } else {
    deadline_.arm(kLingerAfterFin);
  }
}

void ClientConnection::close_gracefully() {
  if (state_ == State::closing || state_ == State::closed) return;
  state_ = State::closing;
  // Wait for the answer to flush (bounded by the idle timeout), then FIN, then linger briefly.
  deadline_.arm(server_.settings().timeouts.idle);
  stream_->shutdown_after_writes();
  if (!client_eof_) stream_->start_reading();
}

void ClientConnection::on_deadline() {
  switch (state_) {
    case State::idle:
      close_now();
      return;
    case State::reading_head:
      fail(payment::Reason::request_timeout, "the request head did not arrive in time");
      return;
    case State::exchange:
      if (exchange_) exchange_->on_client_gone(false);
      close_now();
      return;
    case State::opening:
      // A redirected client that says nothing may speak a protocol whose server talks first.
      if (transparent_ && input_.empty() && !client_eof_) {
        splice_opened(std::nullopt);
        return;
      }
      [[fallthrough]];
    case State::handshake:
      end_opening(payment::Reason::request_timeout,
                  "the tunnel's first bytes or TLS handshake did not arrive in time");
      return;
    case State::tunnel:
    case State::closing:
    case State::closed:
      close_now();
      return;
  }
}

void ClientConnection::close_now() {
  if (state_ == State::closed) return;
  state_ = State::closed;
  deadline_.disarm();
  if (exchange_) exchange_->on_client_gone(false);
  if (tunnel_) tunnel_->abort(payment::Reason::client_closed);
  server_.reaper().retire(std::move(exchange_));
  server_.reaper().retire(std::move(tunnel_));
  stream_->stop_reading();
  server_.connection_closed(this);
}

}  // namespace flow::proxy
