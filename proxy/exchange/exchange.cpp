#include "flow/proxy/exchange/exchange.hpp"

#include <cinttypes>
#include <cstdio>
#include <functional>

#include "flow/proxy/http/proxy_error.hpp"
#include "flow/proxy/server.hpp"

namespace flow::proxy {
namespace {

// "1a2b\r\n" for a chunk of `size` bytes.
std::string_view chunk_size_line(std::size_t size, char (&scratch)[24]) {
  const int n = std::snprintf(scratch, sizeof scratch, "%zx\r\n", size);
  return {scratch, static_cast<std::size_t>(n)};
}

void append_trailers(const HeaderList& trailers, std::string& out) {
  out += "0\r\n";
  for (const auto& t : trailers) {
    out += t.name;
    out += ": ";
    out += t.value;
    out += "\r\n";
  }
  out += "\r\n";
}

std::string path_without_query(const std::string& path) {
  return path.substr(0, path.find('?'));
}

}  // namespace

Exchange::Exchange(Server& server, Downstream& client, HttpParser& request_parser)
    : client_(client),
      server_(server),
      upstream_deadline_(server.loop(), [this] { on_upstream_deadline(); }) {
  RequestHead& head = request_parser.request();
  request_.method = head.method;
  request_.target = head.target;
  request_.version = head.version;
  request_.headers = std::move(head.headers);
  request_chunked_ = request_parser.chunked();
  request_length_ = request_parser.content_length();
  const PersistenceWish wish = client.persistence_wish();
  client_keep_alive_ = wish.keep_alive;
  client_http11_ = wish.http11;
  request_trailers_ = &request_parser.trailers();
  hooks_ = server_.make_hooks(*this);
}

Exchange::~Exchange() = default;

std::uint64_t Exchange::elapsed_us() const {
  return (uv_hrtime() - start_ns_) / 1000;
}

void Exchange::start() {
  start_ns_ = uv_hrtime();
  ++server_.stats().exchanges_total;
  ++server_.stats().exchanges_active;
  record_.client = client_.peer();
  record_.agent = client_.agent();
  record_.transparent = client_.transparent();
  record_.method = request_.method;
  if (!resolve_target()) return;
  record_.host = target_.host;
  record_.port = target_.port;
  record_.scheme = target_.scheme;
  record_.in_tunnel = client_.fixed_origin() != nullptr;
  record_.path = path_without_query(target_.path);
  expect_continue_ = header_has_token(request_.headers, "expect", "100-continue");
  if (hooks_ && !hooks_->on_request()) return;

  RequestHead& upstream = upstream_request_;
  upstream.method = request_.method;
  upstream.target = target_.path;
  upstream.headers = request_.headers;
  strip_hop_by_hop(upstream.headers);
  strip_control_headers(upstream.headers);
  remove_headers(upstream.headers, "host");
  upstream.headers.insert(upstream.headers.begin(), Header{"Host", target_.host_header()});
  append_via(upstream.headers, request_.version);
  if (request_chunked_) {
    upstream.headers.push_back({"Transfer-Encoding", "chunked"});
  } else if (request_length_) {
    upstream.headers.push_back({"Content-Length", std::to_string(*request_length_)});
  }
  serialize_request_head(upstream, upstream_head_);
  acquire_upstream();
}

std::string Exchange::url() const {
  if (request_.target.empty() || request_.target.front() != '/') return request_.target;
  return target_.scheme + "://" + target_.host_header() + request_.target;
}

// Where the request goes: its absolute-form target (http:// or https://, the proxy originating
// TLS for the latter), or, inside a tunnel that carries HTTP, its origin-form path at the
// tunnel's origin. False when the exchange has failed.
bool Exchange::resolve_target() {
  const Target* origin = client_.fixed_origin();
  const bool origin_form = !request_.target.empty() && request_.target.front() == '/';
  if (origin_form && origin == nullptr) {
    fail(payment::Reason::bad_request,
         "this is a forward proxy: send the request with an absolute-form target "
         "(http://host/path), or CONNECT for https");
    return false;
  }
  if (origin_form) {
    target_ = *origin;
    target_.path = request_.target;
    return true;
  }
  const auto target = parse_absolute_target(request_.target);
  if (!target) {
    fail(payment::Reason::bad_request, "invalid request target '" + request_.target + "'");
    return false;
  }
  if (origin != nullptr && target->origin_key() != origin->origin_key()) {
    fail(payment::Reason::bad_request, "a request inside the tunnel to " + origin->authority() +
                                           " names another origin: " + target->pool_key());
    return false;
  }
  target_ = *target;
  if (origin != nullptr) target_.address = origin->address;
  return true;
}

void Exchange::acquire_upstream() {
  stage_ = Stage::connecting;
  if (!retried_) {
    if (auto pooled = server_.pool().take(target_.pool_key())) {
      ++server_.stats().upstream_reused;
      record_.upstream_reused = true;
      attach(std::move(pooled));
      return;
    }
  }
  record_.upstream_reused = false;
  connector_ =
      std::make_unique<Connector>(server_, target_, std::bind_front(&Exchange::connected, this));
  connector_->start();
}

void Exchange::connected(Connector::Error error, std::string message,
                         std::unique_ptr<ByteStream> stream) {
  server_.reaper().retire(std::move(connector_));
  record_.connect_us = elapsed_us();
  if (error) {
    fail(*error, message);
    return;
  }
  attach(std::make_unique<UpstreamConnection>(
      std::move(stream), target_.pool_key(),
      response_head_limit(server_.settings().max_header_bytes)));
}

void Exchange::attach(std::unique_ptr<UpstreamConnection> upstream) {
  upstream_ = std::move(upstream);
  ++upstream_->uses;
  upstream_->stream->set_handler(this);
  upstream_->parser.set_sink(this);
  stage_ = Stage::awaiting_response;
  upstream_deadline_.arm(server_.settings().timeouts.upstream);
  send_request_head();
  upstream_->stream->start_reading();
  client_.update_reading();
}

void Exchange::send_request_head() {
  uv_buf_t bufs[2] = {buffer_of(upstream_head_), buffer_of(pending_body_)};
  upstream_->stream->write(bufs, pending_body_.empty() ? 1 : 2);
  pending_body_.clear();
  pending_body_.shrink_to_fit();
  if (hooks_) hooks_->on_request_sent();
}

void Exchange::send_upstream(const uv_buf_t* bufs, unsigned count) {
  if (hooks_) {
    hooks_->on_request_body(bufs, count);
    if (hooks_->holds_request_body()) return;  // the origin has answered; kept for a replay only
  }
  if (upstream_ && stage_ != Stage::connecting) {
    upstream_->stream->write(bufs, count);
    upstream_deadline_.touch();  // an upload in progress is not an idle origin
    return;
  }
  for (unsigned i = 0; i < count; ++i) pending_body_.append(bufs[i].base, bufs[i].len);
}

void Exchange::on_request_body(std::string_view data) {
  if (stage_ == Stage::done || data.empty()) return;
  record_.request_body_bytes += data.size();
  if (request_chunked_) {
    char scratch[24];
    uv_buf_t bufs[3] = {buffer_of(chunk_size_line(data.size(), scratch)), buffer_of(data),
                        buffer_of("\r\n")};
    send_upstream(bufs, 3);
  } else {
    uv_buf_t buf = buffer_of(data);
    send_upstream(&buf, 1);
  }
}

void Exchange::on_request_end() {
  if (stage_ == Stage::done) return;
  if (request_chunked_) {
    HeaderList trailers = request_trailers_ ? *request_trailers_ : HeaderList{};
    strip_hop_by_hop(trailers);
    std::string last;
    append_trailers(trailers, last);
    uv_buf_t buf = buffer_of(last);
    send_upstream(&buf, 1);
  }
  request_done_ = true;
  if (hooks_ && hooks_->on_request_end()) return;
  if (response_done_ && !taken_) finish(std::nullopt);
}

void Exchange::on_request_malformed(payment::Reason error, std::string_view message) {
  upstream_reusable_ = false;
  fail(error, message);
}

void Exchange::on_client_gone(bool /*eof_only*/) {
  if (stage_ == Stage::done) return;
  upstream_reusable_ = false;
  close_client_after_ = true;
  finish(payment::Reason::client_closed);
}

void Exchange::on_client_drained() {
  if (!upstream_ || stage_ != Stage::streaming_response || response_done_) return;
  upstream_->stream->start_reading();
  upstream_deadline_.arm(server_.settings().timeouts.upstream);
}

bool Exchange::request_backlogged() const {
  if (upstream_ && stage_ != Stage::connecting) return upstream_->stream->above_high_water();
  return pending_body_.size() > server_.settings().write_high_water;
}

void Exchange::on_read(ByteStream& /*stream*/, const char* data, std::size_t len) {
  got_upstream_bytes_ = true;
  upstream_deadline_.touch();
  if (response_done_) {
    upstream_reusable_ = false;  // bytes after a complete response: never reuse
    return;
  }
  feed_response(data, len);
}

void Exchange::feed_response(const char* data, std::size_t len) {
  std::size_t pos = 0;
  while (pos < len || interim_) {
    const HttpParser::Result r = upstream_->parser.feed(data + pos, len - pos);
    if (r.status == HttpParser::Status::need_more) break;
    if (r.status == HttpParser::Status::error) {
      const bool too_large = upstream_->parser.error() == ParseError::head_too_large;
      fail(payment::Reason::upstream_protocol,
           std::string(too_large ? "the origin's response head is too large: "
                                 : "the origin's response is not valid HTTP/1.1: ") +
               std::string(upstream_->parser.error_reason()));
      return;
    }
    pos += r.consumed;
    if (r.status == HttpParser::Status::paused_head) {
      // A held head (the paid answer's, until its receipt is durable): keep what followed it.
      held_bytes_.assign(data + pos, len - pos);
      upstream_->stream->stop_reading();
      upstream_deadline_.disarm();
      return;
    }
    if (deferred_error_) {
      fail(*deferred_error_, "the origin switched protocols, which this proxy does not relay");
      return;
    }
    if (r.status == HttpParser::Status::paused_end) {
      if (interim_) {
        interim_ = false;
        upstream_->parser.resume();
        continue;
      }
      if (pos < len) upstream_reusable_ = false;
      response_complete();
      return;
    }
  }
  if (stage_ == Stage::streaming_response && client_.write_backlogged()) {
    // The client reads slower than the origin sends: stop reading the origin until it drains.
    upstream_->stream->stop_reading();
    upstream_deadline_.disarm();
    client_.watch_write_stall(true);
  }
}

MessageSink::HeadAction Exchange::on_head() {
  ResponseHead& head = upstream_->parser.response();
  const int status = head.status;
  if (status >= 100 && status < 200) {
    if (status == 101) {
      deferred_error_ = payment::Reason::upstream_protocol;
      return HeadAction::pause;
    }
    interim_ = true;
    if (client_http11_) {  // HTTP/1.0 clients do not understand 1xx
      HeaderList headers = head.headers;
      strip_hop_by_hop(headers);
      std::string out;
      serialize_response_head(status, head.reason, headers, out);
      client_.write(out);
    }
    return HeadAction::skip_body;
  }
  const bool no_body = request_.method == "HEAD" || status == 204 || status == 304;
  if (hooks_) {
    switch (hooks_->on_response_head(head)) {
      case ExchangeHooks::HeadVerdict::proceed:
        break;
      case ExchangeHooks::HeadVerdict::take_over:
        taken_ = true;
        record_.ttfb_us = elapsed_us();
        return no_body ? HeadAction::skip_body : HeadAction::proceed;
      case ExchangeHooks::HeadVerdict::hold:
        return HeadAction::pause;
    }
  }
  write_response_head(head, {});
  return no_body ? HeadAction::skip_body : HeadAction::proceed;
}

void Exchange::write_response_head(ResponseHead& head, const HeaderList& extra,
                                   ReasonField reason) {
  const int status = head.status;
  if (record_.ttfb_us == 0) record_.ttfb_us = elapsed_us();
  stage_ = Stage::streaming_response;
  response_started_ = true;
  response_status_ = status;
  record_.status = status;
  const bool no_body = request_.method == "HEAD" || status == 204 || status == 304;
  const auto length = upstream_->parser.content_length();
  if (no_body) {
    client_framing_ = Framing::none;
  } else if (length) {
    client_framing_ = Framing::length;
  } else {
    // Chunked or close-delimited from the origin: re-chunk for 1.1, close-delimit for 1.0.
    client_framing_ = client_http11_ ? Framing::chunked : Framing::close;
  }
  HeaderList headers = std::move(head.headers);
  strip_hop_by_hop(headers);
  append_via(headers, head.version);
  if (length && (client_framing_ == Framing::length || no_body) && status != 204) {
    headers.push_back({"Content-Length", std::to_string(*length)});
  }
  if (client_framing_ == Framing::chunked) headers.push_back({"Transfer-Encoding", "chunked"});
  headers.insert(headers.end(), extra.begin(), extra.end());
  if (!reason.empty()) record_.reason = reason;
  const bool keep_alive =
      client_keep_alive_ && client_framing_ != Framing::close && !server_.draining();
  if (!keep_alive) {
    close_client_after_ = true;
    headers.push_back({"Connection", "close"});
  } else if (!client_http11_) {
    headers.push_back({"Connection", "keep-alive"});
  }
  std::string out;
  out.reserve(512);
  serialize_response_head(status, head.reason.empty() ? default_reason(status) : head.reason,
                          headers, out);
  client_.write(out);
}

void Exchange::relay_head(ResponseHead& head, const HeaderList& extra, ReasonField reason) {
  write_response_head(head, extra, reason);
}

void Exchange::relay_body(std::string_view data) {
  record_.response_body_bytes += data.size();
  write_client_body(data);
}

void Exchange::write_client_body(std::string_view data) {
  if (client_framing_ == Framing::chunked) {
    char scratch[24];
    uv_buf_t bufs[3] = {buffer_of(chunk_size_line(data.size(), scratch)), buffer_of(data),
                        buffer_of("\r\n")};
    client_.write(bufs, 3);
  } else {
    client_.write(data);
  }
}

void Exchange::on_body(std::string_view data) {
  if (interim_ || data.empty()) return;
  if (taken_) {
    if (!hooks_->on_taken_body(data)) taken_ = false;  // handed back: relayed from here on
    return;
  }
  relay_body(data);
}

void Exchange::on_message_end() {
  if (interim_) return;
  response_done_ = true;
  if (taken_) return;
  if (client_framing_ == Framing::chunked) {
    HeaderList trailers = upstream_->parser.trailers();
    strip_hop_by_hop(trailers);
    std::string last;
    append_trailers(trailers, last);
    client_.write(last);
  }
}

void Exchange::response_complete() {
  upstream_deadline_.disarm();
  if (taken_) {
    taken_ = false;
    give_back_upstream();
    hooks_->on_taken_complete();
    return;
  }
  if (!upstream_->parser.keep_alive()) upstream_reusable_ = false;
  if (!request_done_) {
    // The origin answered before the request body was complete: neither side can be reused.
    upstream_reusable_ = false;
    close_client_after_ = true;
  }
  finish(std::nullopt);
}

void Exchange::on_eof(ByteStream& /*stream*/) {
  if (stage_ == Stage::done) return;
  const HttpParser::Result r = upstream_->parser.finish();
  if (r.status == HttpParser::Status::paused_end && !interim_ && response_done_) {
    upstream_reusable_ = false;  // a close-delimited body ends with the connection
    response_complete();
    return;
  }
  upstream_closed_early("the origin closed the connection");
}

void Exchange::on_error(ByteStream& /*stream*/, int uv_status) {
  if (stage_ == Stage::done) return;
  upstream_closed_early(std::string("the origin connection failed: ") + uv_strerror(uv_status));
}

void Exchange::upstream_closed_early(std::string_view why) {
  upstream_reusable_ = false;
  if (!response_started_) {
    if (retry_on_fresh_connection()) return;
    if (hooks_ && hooks_->on_upstream_failure(payment::Reason::upstream_unreachable, why)) return;
    fail(payment::Reason::upstream_unreachable, std::string(why) + " before sending a response");
    return;
  }
  fail(payment::Reason::upstream_closed, std::string(why) + " in the middle of the response");
}

bool Exchange::retry_on_fresh_connection() {
  // A pooled connection the origin had already closed: safe to retry once when nothing came
  // back and the request had no body to replay.
  // Never a replay (the paid retry): the merchant may have settled the credential before the
  // connection went away, and a merchant that refuses a spent nonce would turn that payment into
  // a "failed" receipt. The outcome stays unknown; the agent's retry with the same
  // Idempotency-Key resends the credential (the pool hands out the connection that just
  // carried the 402, and watches idle connections for closes, so this is rarely hit).
  const bool has_body = request_chunked_ || (request_length_ && *request_length_ > 0);
  if (replaying_ || retried_ || !record_.upstream_reused || got_upstream_bytes_ || has_body ||
      !request_done_) {
    return false;
  }
  retried_ = true;
  ++server_.stats().upstream_retries;
  upstream_->stream->set_handler(nullptr);
  upstream_->parser.set_sink(nullptr);
  server_.reaper().retire(std::move(upstream_));
  acquire_upstream();
  return true;
}

void Exchange::on_drained(ByteStream& /*stream*/) {
  client_.update_reading();
}

void Exchange::on_upstream_deadline() {
  if (stage_ == Stage::done || stage_ == Stage::connecting || parked_) return;
  const auto ms = std::to_string(server_.settings().timeouts.upstream.count());
  if (!response_started_ && hooks_ &&
      hooks_->on_upstream_failure(payment::Reason::upstream_timeout,
                                  "did not answer within " + ms + " ms")) {
    return;
  }
  fail(payment::Reason::upstream_timeout, response_started_
                                              ? "the origin stopped sending for " + ms + " ms"
                                              : "the origin did not answer within " + ms + " ms");
}

void Exchange::fail(payment::Reason error, std::string_view message) {
  if (stage_ == Stage::done) return;
  upstream_reusable_ = false;
  close_client_after_ = true;
  if (!response_started_) write_own_answer(error_answer(error, message));
  server_.log().debug("exchange failed", "\"host\":\"" + target_.host + "\",\"error\":\"" +
                                             std::string(payment::reason_name(error)) + "\"");
  finish(error);
}

void Exchange::write_own_answer(const ProxyAnswer& answer) {
  response_started_ = true;
  record_.status = answer.status;
  record_.reason = answer.code;
  record_.response_body_bytes += answer.body.size();
  // A request whose body was not read in full leaves unread bytes behind: close after it.
  const bool keep_alive =
      !answer.close && client_keep_alive_ && request_done_ && !server_.draining();
  if (!keep_alive) close_client_after_ = true;
  const Persistence persistence = !keep_alive      ? Persistence::close
                                  : client_http11_ ? Persistence::keep_alive
                                                   : Persistence::keep_alive_http10;
  client_.write(serialize_answer(answer, persistence));
}

void Exchange::finish(std::optional<payment::Reason> error) {
  if (stage_ == Stage::done) return;
  stage_ = Stage::done;
  upstream_deadline_.disarm();
  if (hooks_) hooks_->on_end(record_);
  server_.reaper().retire(std::move(connector_));
  if (upstream_) {
    upstream_->stream->set_handler(nullptr);
    upstream_->parser.set_sink(nullptr);
    const bool reuse = !error && upstream_reusable_ && request_done_ && response_done_ &&
                       upstream_->parser.keep_alive();
    if (reuse) {
      server_.pool().put(std::move(upstream_));
    } else {
      server_.reaper().retire(std::move(upstream_));
    }
  }
  ProxyStats& stats = server_.stats();
  --stats.exchanges_active;
  stats.request_body_bytes += record_.request_body_bytes;
  stats.response_body_bytes += record_.response_body_bytes;
  if (error) stats.count(*error);
  record_.error = error;
  record_.duration_us = elapsed_us();
  server_.write_access(record_);
  const bool keep_alive = !error && !close_client_after_ && request_done_ && response_done_;
  client_.exchange_ended(keep_alive);
}

void Exchange::answer(const ProxyAnswer& answer) {
  if (stage_ == Stage::done) return;
  write_own_answer(answer);
  response_done_ = true;
  finish(std::nullopt);
}

void Exchange::give_back_upstream() {
  // A response read in full by the hooks: its connection can serve a replay (through the pool).
  if (!upstream_->parser.keep_alive() || !request_done_) upstream_reusable_ = false;
  upstream_->stream->set_handler(nullptr);
  upstream_->parser.set_sink(nullptr);
  if (upstream_reusable_ && request_done_) {
    server_.pool().put(std::move(upstream_));
  } else {
    server_.reaper().retire(std::move(upstream_));
  }
  response_done_ = false;
  got_upstream_bytes_ = false;
  upstream_reusable_ = true;
}

void Exchange::wait_for_request_body() {
  stage_ = Stage::connecting;  // no upstream: the request body goes to the hooks only
  client_.update_reading();
}

void Exchange::replay_with(const HeaderList& extra, std::string body) {
  RequestHead head = upstream_request_;
  head.headers.insert(head.headers.end(), extra.begin(), extra.end());
  upstream_head_.clear();
  serialize_request_head(head, upstream_head_);
  pending_body_ = std::move(body);
  replaying_ = true;
  response_started_ = false;
  response_done_ = false;
  got_upstream_bytes_ = false;
  retried_ = false;
  acquire_upstream();
}

void Exchange::release_held_head(ResponseHead& head, const HeaderList& extra, ReasonField reason) {
  write_response_head(head, extra, reason);
  resume_held_response();
}

void Exchange::resume_held_response() {
  upstream_->parser.resume();
  std::string bytes = std::move(held_bytes_);
  held_bytes_.clear();
  upstream_->stream->start_reading();
  upstream_deadline_.arm(server_.settings().timeouts.upstream);
  if (!bytes.empty()) {
    feed_response(bytes.data(), bytes.size());
    return;
  }
  // An answer without a body (Content-Length: 0, 204, 304) completes without another byte.
  const HttpParser::Result r = upstream_->parser.feed("", 0);
  if (r.status == HttpParser::Status::paused_end) {
    response_complete();
  } else if (r.status == HttpParser::Status::error) {
    fail(payment::Reason::upstream_protocol,
         "the merchant's answer to the paid request is not valid HTTP");
  }
}

void Exchange::drop_upstream() {
  upstream_reusable_ = false;
  if (!upstream_) return;
  upstream_->stream->set_handler(nullptr);
  upstream_->parser.set_sink(nullptr);
  server_.reaper().retire(std::move(upstream_));
}

void Exchange::park() {
  parked_ = true;
  upstream_deadline_.disarm();
}

void Exchange::unpark() {
  parked_ = false;
  if (upstream_ && stage_ != Stage::connecting) {
    upstream_deadline_.arm(server_.settings().timeouts.upstream);
  }
}

}  // namespace flow::proxy
