#include "support/test_origin.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

namespace flow::testing {
namespace {

// Origin connections wait for the proxy's next request for as long as the test runs.
Deadline far_deadline() {
  return Clock::now() + std::chrono::hours(1);
}

}  // namespace

void Gate::open() {
  {
    std::lock_guard lock(mutex_);
    open_ = true;
  }
  cv_.notify_all();
}

bool Gate::wait(Deadline deadline) const {
  std::unique_lock lock(mutex_);
  return cv_.wait_until(lock, deadline, [&] { return open_; });
}

OriginExchange::OriginExchange(TestOrigin& origin, BufferedReader& reader, HttpRequest request,
                               std::size_t record)
    : origin_(origin), reader_(reader), request_(std::move(request)), record_(record) {}

const std::string& OriginExchange::body() {
  if (!body_read_) {
    body_read_ = true;
    read_request_body(reader_, request_, nullptr, default_deadline());
    origin_.update_record(record_, request_);
  }
  return request_.body;
}

void OriginExchange::stream_body(const BodySink& sink) {
  if (body_read_) return;
  body_read_ = true;
  read_request_body(reader_, request_, sink, default_deadline());
  origin_.update_record(record_, request_);
}

void OriginExchange::finish_body() {
  if (!body_read_) stream_body([](std::string_view) {});
}

void OriginExchange::send(std::string_view raw) {
  reader_.stream().write_all(raw, default_deadline());
}

void OriginExchange::respond(int status, std::string_view body, const Headers& headers) {
  send(http_response(status, body, headers));
}

void OriginExchange::drop() {
  dropped_ = true;
  reader_.stream().abort();
}

bool OriginExchange::wait_for_peer_eof(Deadline deadline) {
  if (reader_.buffered() > 0) return false;  // the proxy sent more bytes instead
  char buf[4096];
  try {
    return reader_.stream().read_some(buf, sizeof buf, deadline) == 0;
  } catch (const ConnectionReset&) {
    return true;
  } catch (const TimeoutError&) {
    return false;
  }
}

bool OriginExchange::wait(const Gate& gate, Deadline deadline) const {
  while (!origin_.stopping()) {
    auto slice = std::min(deadline, Clock::now() + std::chrono::milliseconds(20));
    if (gate.wait(slice)) return true;
    if (Clock::now() >= deadline) return false;
  }
  return false;
}

void OriginExchange::pause(std::chrono::milliseconds d) const {
  Gate never;
  wait(never, Clock::now() + d);
}

TestOrigin::TestOrigin(OriginHandler handler, const TlsIdentity* tls)
    : handler_(std::move(handler)), tls_(tls) {
  ignore_sigpipe();
  listener_ = listen_loopback();
  port_ = local_port(listener_.get());
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC | O_NONBLOCK) != 0) throw IoError("pipe2 failed");
  wake_read_ = Fd(fds[0]);
  wake_write_ = Fd(fds[1]);
  acceptor_ = std::thread([this] { accept_loop(); });
}

TestOrigin::~TestOrigin() {
  stop();
}

void TestOrigin::stop() {
  if (stopping_.exchange(true)) {
    if (acceptor_.joinable()) acceptor_.join();
    return;
  }
  char byte = 1;
  [[maybe_unused]] auto ignored = ::write(wake_write_.get(), &byte, 1);
  if (acceptor_.joinable()) acceptor_.join();
  std::vector<std::thread> threads;
  {
    std::lock_guard lock(mutex_);
    for (int fd : live_fds_) ::shutdown(fd, SHUT_RDWR);
    threads.swap(connection_threads_);
  }
  for (auto& t : threads) t.join();
}

void TestOrigin::accept_loop() {
  for (;;) {
    pollfd fds[2] = {{listener_.get(), POLLIN, 0}, {wake_read_.get(), POLLIN, 0}};
    int rc = ::poll(fds, 2, -1);
    if (stopping_.load()) return;
    if (rc <= 0 || (fds[0].revents & POLLIN) == 0) continue;
    Fd fd(::accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC));
    if (!fd) continue;
    accepted_.fetch_add(1);
    // stop() shuts connections down through a duplicate that only this class closes (under the
    // mutex), so it can never hit a descriptor number the kernel has already reused.
    int watch = ::fcntl(fd.get(), F_DUPFD_CLOEXEC, 0);
    std::lock_guard lock(mutex_);
    live_fds_.insert(watch);
    connection_threads_.emplace_back([this, watch, raw = fd.release()] {
      serve(Fd(raw));
      untrack(watch);
    });
  }
}

void TestOrigin::untrack(int watch) {
  std::lock_guard lock(mutex_);
  live_fds_.erase(watch);
  ::close(watch);
}

void TestOrigin::serve(Fd fd) {
  try {
    std::unique_ptr<ByteStream> stream;
    if (tls_ != nullptr) {
      stream = accept_tls(std::move(fd), *tls_, default_deadline());
    } else {
      stream = std::make_unique<SocketStream>(std::move(fd));
    }
    BufferedReader reader(*stream);
    while (!stopping_.load()) {
      std::optional<HttpRequest> head;
      try {
        head = read_request_head(reader, far_deadline());
      } catch (const ConnectionReset&) {
        break;
      } catch (const ParseError&) {
        if (!stopping_.load()) parse_errors_.fetch_add(1);
        break;
      }
      if (!head) break;
      bool client_closes = header_has_token(head->headers, "connection", "close");
      std::size_t index = record(*head);
      OriginExchange exchange(*this, reader, std::move(*head), index);
      handler_(exchange);
      if (exchange.dropped_ || exchange.close_after_ || client_closes || stopping_.load()) break;
      exchange.finish_body();
    }
  } catch (const std::exception&) {
    // The proxy closed or reset mid-exchange; the test's own assertions say whether that was right.
  }
}

std::size_t TestOrigin::record(const HttpRequest& request) {
  std::lock_guard lock(mutex_);
  requests_.push_back(request);
  requests_cv_.notify_all();
  return requests_.size() - 1;
}

void TestOrigin::update_record(std::size_t index, const HttpRequest& request) {
  std::lock_guard lock(mutex_);
  requests_[index] = request;
}

std::vector<HttpRequest> TestOrigin::requests() const {
  std::lock_guard lock(mutex_);
  return requests_;
}

std::size_t TestOrigin::request_count() const {
  std::lock_guard lock(mutex_);
  return requests_.size();
}

bool TestOrigin::wait_for_requests(std::size_t n, Deadline deadline) const {
  std::unique_lock lock(mutex_);
  return requests_cv_.wait_until(lock, deadline, [&] { return requests_.size() >= n; });
}

}  // namespace flow::testing
