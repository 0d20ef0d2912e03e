#include "flow/proxy/http/http_server.hpp"

#include <list>
#include <optional>
#include <stdexcept>
#include <utility>
#include <vector>

#include "flow/proxy/http/http_codec.hpp"
#include "flow/proxy/http/proxy_error.hpp"
#include "flow/proxy/http/target.hpp"
#include "flow/proxy/network/handle_close.hpp"
#include "flow/proxy/network/net_address.hpp"
#include "flow/proxy/network/reaper.hpp"
#include "flow/proxy/network/tcp_stream.hpp"
#include "flow/proxy/network/timer.hpp"
#include "flow/proxy/network/tls_stream.hpp"

namespace flow::proxy {
namespace {

constexpr std::size_t kWriteHighWater = 1 << 20;
// After the last answer and our FIN, how long to wait for the peer's own close.
constexpr std::chrono::milliseconds kLingerAfterFin{2000};

class ServerConnection;

// A deferred answer's responder: attached to its connection once handle() returns, detached
// when the connection closes (a late respond() then does nothing).
class PendingAnswer final : public Responder {
 public:
  void respond(const ServedAnswer& answer) override;
  bool connected() const override { return connection_ != nullptr || !attached_; }

  // handle() returned: the connection now waits for the answer (or takes it at once when the
  // handler already answered).
  void attach(ServerConnection* connection) {
    attached_ = true;
    connection_ = connection;
  }
  std::optional<ServedAnswer> take_early() {
    attached_ = true;
    return std::exchange(early_, std::nullopt);
  }
  void detach() { connection_ = nullptr; }

 private:
  ServerConnection* connection_ = nullptr;
  bool attached_ = false;
  bool answered_ = false;
  std::optional<ServedAnswer> early_;
};

// The path of an origin-form or absolute-form target and its query (without '?').
std::pair<std::string_view, std::string_view> split_target(std::string_view target) {
  if (target.starts_with("http://") || target.starts_with("https://")) {
    const auto authority = target.find("//") + 2;
    const auto slash = target.find_first_of("/?#", authority);
    target = slash == std::string_view::npos ? std::string_view("/") : target.substr(slash);
  }
  const auto fragment = target.find('#');
  if (fragment != std::string_view::npos) target = target.substr(0, fragment);
  const auto query = target.find('?');
  if (query == std::string_view::npos) return {target, {}};
  std::string_view path = target.substr(0, query);
  return {path.empty() ? std::string_view("/") : path, target.substr(query + 1)};
}

std::string_view reason_phrase(int status) {
  switch (status) {
    case 402:
      return "Payment Required";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 413:
      return "Content Too Large";
    default:
      return default_reason(status);
  }
}

}  // namespace

void ServedAnswer::clear() {
  status = 0;
  drop = false;
  content_type = "application/json";
  headers.clear();
  body.clear();
  deferred.reset();
}

std::shared_ptr<Responder> ServedAnswer::defer() {
  if (!deferred) deferred = std::make_shared<PendingAnswer>();
  return deferred;
}

std::string json_error_body(std::string_view message) {
  std::string body = "{\"error\":";
  append_json_string(body, message);
  body += '}';
  return body;
}

struct HttpServer::Impl {
  Impl(uv_loop_t* l, HttpServerOptions o, HttpService& s, Logger& lg)
      : loop(l), options(std::move(o)), service(s), log(lg), reaper(l) {}

  void on_new_connection(int status);
  void connection_closed(ServerConnection* connection);

  uv_loop_t* loop;
  HttpServerOptions options;
  HttpService& service;
  Logger& log;
  ServedAnswer answer;  // reused by every request: one request at a time per loop
  Reaper reaper;
  std::unique_ptr<uv_tcp_t> listener;
  sockaddr_storage bound{};
  std::string bound_text;
  std::list<std::unique_ptr<ServerConnection>> connections;
};

namespace {

// One client connection: requests are answered in order as they are parsed (pipelining
// included), answers collect in one buffer per read and go out in one write.
class ServerConnection final : public StreamHandler, public MessageSink, public Retirable {
 public:
  explicit ServerConnection(HttpServer::Impl& server)
      : server_(server),
        parser_(HttpParser::Kind::request, server.options.max_header_bytes),
        deadline_(server.loop, [this] { close_now(); }) {
    parser_.set_sink(this);
  }

  // Takes the listener's pending connection; over TLS the handshake begins at once (its outcome
  // is on_connected). 0 or a libuv error.
  int accept_from(uv_stream_t* listener) {
    auto tcp = std::make_unique<TcpStream>(server_.loop, this, kWriteHighWater);
    if (const int rc = tcp->accept_from(listener); rc != 0) return rc;
    if (!server_.options.tls) {
      stream_ = std::move(tcp);
      return 0;
    }
    auto tls = std::make_unique<TlsStream>(server_.loop, std::move(tcp),
                                           TlsServerRole{server_.options.tls.get(), {}, nullptr},
                                           this, kWriteHighWater);
    tls_ = tls.get();
    stream_ = std::move(tls);
    return 0;
  }
  void set_position(std::list<std::unique_ptr<ServerConnection>>::iterator it) { self_ = it; }
  std::list<std::unique_ptr<ServerConnection>>::iterator position() const { return self_; }

  void start() {
    deadline_.arm(server_.options.idle_timeout);  // bounds a stalled TLS handshake too
    stream_->start_reading();
  }

  void close_now() {
    if (closed_) return;
    closed_ = true;
    if (pending_) pending_->detach();
    pending_.reset();
    deadline_.disarm();
    stream_->stop_reading();
    server_.connection_closed(this);
  }

  // StreamHandler
  void on_read(ByteStream&, const char* data, std::size_t len) override {
    if (closing_ || closed_) return;  // after our last answer: the peer's bytes are discarded
    deadline_.touch();
    if (pending_) {
      // Pipelined behind a deferred answer: kept until it is complete, within bounds.
      input_.append(data, len);
      if (input_.size() > server_.options.max_header_bytes + server_.options.max_body_bytes) {
        stream_->stop_reading();
      }
      return;
    }
    if (input_.empty()) {
      const std::size_t used = consume(data, len);
      if (used < len && !closing_ && !closed_) input_.append(data + used, len - used);
    } else {
      input_.append(data, len);
      input_.erase(0, consume(input_.data(), input_.size()));
    }
    flush();
    // A client that sends faster than it reads waits until its answers have drained.
    if (!input_.empty() && stream_->above_high_water()) stream_->stop_reading();
  }

  void on_eof(ByteStream&) override {
    peer_eof_ = true;
    if (closed_) return;
    if (pending_) return;  // half-closed after its request: the answer still goes out
    if (parser_.in_message() || stream_->queued() == 0) {
      close_now();
      return;
    }
    finish();  // answers still being written: FIN after them, then close
  }

  void on_error(ByteStream&, int /*uv_status*/) override { close_now(); }

  // Only a TlsStream reports this for an accepted connection: a failed handshake ends this
  // connection alone.
  void on_connected(ByteStream&, int uv_status) override {
    if (uv_status >= 0 || closed_) return;
    std::string fields = "\"peer\":";
    append_json_string(fields, stream_->peer_name());
    fields += ",\"reason\":";
    append_json_string(fields, tls_ != nullptr ? tls_->handshake_error() : uv_err_name(uv_status));
    server_.log.warn("TLS handshake failed", fields);
    close_now();
  }

  void on_drained(ByteStream&) override {
    if (closing_ || closed_ || pending_ || input_.empty()) return;
    input_.erase(0, consume(input_.data(), input_.size()));
    flush();
    if (!closing_ && !closed_ && !stream_->above_high_water()) stream_->start_reading();
  }

  void on_shutdown(ByteStream&) override {
    if (peer_eof_ || dropping_) {
      close_now();
      return;
    }
    deadline_.arm(kLingerAfterFin);
    stream_->start_reading();  // to see the peer's close; its bytes are discarded
  }

  // MessageSink
  HeadAction on_head() override {
    body_.clear();
    const auto length = parser_.content_length();
    if (length && *length > server_.options.max_body_bytes) {
      body_too_large_ = true;
    } else if (header_has_token(parser_.request().headers, "expect", "100-continue")) {
      out_ += "HTTP/1.1 100 Continue\r\n\r\n";  // goes out when this read has been parsed
    }
    return HeadAction::proceed;
  }
  void on_body(std::string_view data) override {
    if (body_too_large_) return;
    if (body_.size() + data.size() > server_.options.max_body_bytes) {
      body_too_large_ = true;
      return;
    }
    body_.append(data);
  }
  void on_message_end() override {}

 private:
  // Parses and answers what it can; returns the bytes consumed. Stops while the socket is
  // backed up (on_drained continues) and once the connection is ending.
  std::size_t consume(const char* data, std::size_t len) {
    std::size_t pos = 0;
    while (pos < len && !closing_ && !closed_ && !pending_) {
      if (stream_->queued() + out_.size() > kWriteHighWater) {
        flush();
        if (stream_->above_high_water()) break;
      }
      const HttpParser::Result r = parser_.feed(data + pos, len - pos);
      if (body_too_large_) {
        answer_error(413, "request body too large");
        return len;
      }
      switch (r.status) {
        case HttpParser::Status::need_more:
          return len;
        case HttpParser::Status::paused_head:  // never asked for; keep going
          pos += r.consumed;
          parser_.resume();
          break;
        case HttpParser::Status::paused_end:
          pos += r.consumed;
          answer_request();
          parser_.resume();
          break;
        case HttpParser::Status::error:
          answer_error(parser_.error() == ParseError::head_too_large ? 431 : 400,
                       parser_.error_reason());
          return len;
      }
    }
    return pos;
  }

  void answer_request() {
    const RequestHead& head = parser_.request();
    const auto [path, query] = split_target(head.target);
    const Header* host = find_header(head.headers, "host");
    const ServedRequest request{head, path, query,
                                host != nullptr && !host->value.empty()
                                    ? std::string_view(host->value)
                                    : std::string_view(server_.bound_text),
                                body_};
    ServedAnswer& answer = server_.answer;
    answer.clear();
    server_.service.handle(request, answer);
    const AnswerFraming framing{parser_.keep_alive(), head.version, head.method == "HEAD"};
    if (answer.deferred) {
      auto pending = std::static_pointer_cast<PendingAnswer>(answer.deferred);
      answer.deferred.reset();
      if (auto early = pending->take_early()) {  // answered within handle() after all
        send_answer(*early, framing);
        return;
      }
      pending_ = std::move(pending);
      waiting_for_ = framing;
      pending_->attach(this);
      return;
    }
    send_answer(answer, framing);
  }

 public:
  // A deferred answer is ready: send it, then go on with what was pipelined behind it.
  void complete_deferred(const ServedAnswer& answer) {
    if (closed_ || !pending_) return;
    pending_.reset();
    send_answer(answer, waiting_for_);
    if (closing_ || closed_) return;
    if (peer_eof_ && input_.empty()) {
      finish();
      return;
    }
    if (!input_.empty()) input_.erase(0, consume(input_.data(), input_.size()));
    flush();
    if (!closing_ && !closed_ && !pending_) stream_->start_reading();
  }

 private:
  // What answering a request needs to know about it after it is gone.
  struct AnswerFraming {
    bool keep_alive = true;
    HttpVersion version;
    bool head_only = false;
  };

  void send_answer(const ServedAnswer& answer, const AnswerFraming& framing) {
    if (answer.drop) {
      // The connection goes away without an answer (answers to earlier pipelined requests
      // still go out first).
      dropping_ = true;
      finish();
      return;
    }
    append_response(answer, framing.keep_alive, framing.version, framing.head_only);
    if (!framing.keep_alive) finish();
  }

  void answer_error(int status, std::string_view message) {
    ServedAnswer& answer = server_.answer;
    answer.clear();
    answer.status = status;
    answer.body = json_error_body(message);
    append_response(answer, false, {}, false);
    finish();
  }

  void append_response(const ServedAnswer& answer, bool keep_alive, HttpVersion version,
                       bool head_only) {
    out_ += "HTTP/1.1 ";
    out_ += std::to_string(answer.status);
    out_ += ' ';
    out_ += reason_phrase(answer.status);
    out_ += "\r\nContent-Type: ";
    out_ += answer.content_type;
    out_ += "\r\nContent-Length: ";
    out_ += std::to_string(answer.body.size());
    out_ += "\r\n";
    out_ += answer.headers;
    if (!keep_alive) {
      out_ += "Connection: close\r\n";
    } else if (!version.at_least_1_1()) {
      out_ += "Connection: keep-alive\r\n";
    }
    out_ += "\r\n";
    if (!head_only) out_ += answer.body;
  }

  void flush() {
    if (out_.empty() || closed_) return;
    stream_->write(out_);
    out_.clear();
  }

  // No more requests on this connection: FIN once everything queued is written.
  void finish() {
    if (closing_) return;
    closing_ = true;
    flush();
    input_.clear();
    stream_->stop_reading();
    deadline_.arm(kLingerAfterFin + server_.options.idle_timeout);  // a peer that never reads
    stream_->shutdown_after_writes();
  }

  HttpServer::Impl& server_;
  std::unique_ptr<ByteStream> stream_;  // set by accept_from
  TlsStream* tls_ = nullptr;            // stream_ when serving TLS
  HttpParser parser_;
  Deadline deadline_;
  std::string input_;  // bytes received but not yet parsed (backpressure)
  std::string out_;    // answers not yet handed to the socket
  std::string body_;   // the current request's body
  bool body_too_large_ = false;
  bool closing_ = false;
  bool closed_ = false;
  bool dropping_ = false;
  bool peer_eof_ = false;
  std::shared_ptr<PendingAnswer> pending_;  // the answer being waited for, if any
  AnswerFraming waiting_for_;
  std::list<std::unique_ptr<ServerConnection>>::iterator self_;
};

void PendingAnswer::respond(const ServedAnswer& answer) {
  if (answered_) return;
  answered_ = true;
  if (connection_ != nullptr) {
    ServerConnection* connection = connection_;
    connection_ = nullptr;
    connection->complete_deferred(answer);
  } else if (!attached_) {
    early_ = answer;
  }
}

}  // namespace

void HttpServer::Impl::on_new_connection(int status) {
  if (status < 0) {
    log.warn("accept failed", "\"error\":\"" + std::string(uv_err_name(status)) + "\"");
    return;
  }
  auto connection = std::make_unique<ServerConnection>(*this);
  if (connection->accept_from(reinterpret_cast<uv_stream_t*>(listener.get())) != 0) {
    return;
  }
  ServerConnection* raw = connection.get();
  connections.push_back(std::move(connection));
  raw->set_position(std::prev(connections.end()));
  raw->start();
}

void HttpServer::Impl::connection_closed(ServerConnection* connection) {
  const auto it = connection->position();
  reaper.retire(std::move(*it));
  connections.erase(it);
}

HttpServer::HttpServer(uv_loop_t* loop, HttpServerOptions options, HttpService& service,
                       Logger& log)
    : impl_(std::make_unique<Impl>(loop, std::move(options), service, log)) {}

HttpServer::~HttpServer() {
  stop();
  impl_->reaper.reap_now();
}

void HttpServer::start() {
  const std::string& listen = impl_->options.listen;
  const auto target = parse_listen_address(listen);
  if (!target) {
    throw ListenError("invalid listen address '" + listen +
                          "': expected HOST:PORT, e.g. 127.0.0.1:4021 or [::1]:4021",
                      0);
  }
  auto addr = ip_literal(target->host == "localhost" ? "127.0.0.1" : target->host, target->port);
  if (!addr) {
    throw ListenError(
        "invalid listen address '" + listen + "': the host must be an IP address (or localhost)",
        0);
  }
  impl_->listener = std::make_unique<uv_tcp_t>();
  uv_tcp_init(impl_->loop, impl_->listener.get());
  impl_->listener->data = impl_.get();
  int rc = uv_tcp_bind(impl_->listener.get(), reinterpret_cast<sockaddr*>(&*addr), 0);
  if (rc == 0) {
    rc = uv_listen(
        reinterpret_cast<uv_stream_t*>(impl_->listener.get()), 511,
        [](uv_stream_t* s, int status) { static_cast<Impl*>(s->data)->on_new_connection(status); });
  }
  if (rc != 0) {
    auto* handle = reinterpret_cast<uv_handle_t*>(impl_->listener.get());
    close_handle(handle, std::move(impl_->listener));
    throw ListenError("cannot listen on " + listen + ": " + uv_strerror(rc), rc);
  }
  int len = sizeof impl_->bound;
  uv_tcp_getsockname(impl_->listener.get(), reinterpret_cast<sockaddr*>(&impl_->bound), &len);
  impl_->bound_text = format_sockaddr(reinterpret_cast<const sockaddr*>(&impl_->bound));
}

std::string HttpServer::bound_address() const {
  return impl_->bound_text;
}

void HttpServer::stop() {
  if (impl_->listener) {
    auto* handle = reinterpret_cast<uv_handle_t*>(impl_->listener.get());
    close_handle(handle, std::move(impl_->listener));
  }
  std::vector<ServerConnection*> snapshot;
  for (auto& c : impl_->connections) snapshot.push_back(c.get());
  for (auto* c : snapshot) c->close_now();
}

}  // namespace flow::proxy
