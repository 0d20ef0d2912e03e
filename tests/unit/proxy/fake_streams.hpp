// Test doubles for the transport seams: a ByteStream whose peer is the test, and a Downstream
// that records what an exchange asks of its client.
#pragma once
#include <uv.h>

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "flow/proxy/exchange/downstream.hpp"
#include "flow/proxy/network/byte_stream.hpp"

namespace flow::proxy::testing {

// Records every write; the test plays the peer: it injects reads, EOF and errors (delivered
// only while the owner reads, as a socket would), and moves the write queue above or below the
// high-water mark (falling below fires on_drained, as the real stream does).
class FakeByteStream final : public ByteStream {
 public:
  explicit FakeByteStream(std::string peer = "192.0.2.1:40000") : peer_(std::move(peer)) {}

  // ByteStream
  void set_handler(StreamHandler* handler) override { handler_ = handler; }
  void start_reading() override { reading_ = !closed_; }
  void stop_reading() override { reading_ = false; }
  bool reading() const override { return reading_; }
  using ByteStream::write;
  void write(const uv_buf_t* bufs, unsigned count) override {
    if (closed_) return;
    for (unsigned i = 0; i < count; ++i) written_.append(bufs[i].base, bufs[i].len);
  }
  std::size_t queued() const override { return backlogged_ ? 1 : 0; }
  bool above_high_water() const override { return backlogged_; }
  void shutdown_after_writes() override { shutdown_requested_ = true; }
  void close() override {
    closed_ = true;
    reading_ = false;
    handler_ = nullptr;
  }
  bool failed() const override { return failed_; }
  std::string peer_name() const override { return peer_; }

  // The peer's side. Each returns whether the event reached a handler.
  bool inject_read(std::string_view data) {
    if (!reading_ || handler_ == nullptr) return false;
    handler_->on_read(*this, data.data(), data.size());
    return true;
  }
  bool inject_eof() {
    if (!reading_ || handler_ == nullptr) return false;
    reading_ = false;
    handler_->on_eof(*this);
    return true;
  }
  bool inject_error(int uv_status) {
    if (handler_ == nullptr) return false;
    reading_ = false;
    failed_ = true;
    handler_->on_error(*this, uv_status);
    return true;
  }
  void set_backlogged(bool above) {
    const bool drained = backlogged_ && !above;
    backlogged_ = above;
    if (drained && handler_ != nullptr) handler_->on_drained(*this);
  }
  // Everything written since the last call.
  std::string take_written() { return std::exchange(written_, {}); }
  const std::string& written() const { return written_; }
  bool shutdown_requested() const { return shutdown_requested_; }
  bool closed() const { return closed_; }
  StreamHandler* handler() const { return handler_; }

 private:
  std::string peer_;
  StreamHandler* handler_ = nullptr;
  std::string written_;
  bool reading_ = false;
  bool backlogged_ = false;
  bool shutdown_requested_ = false;
  bool closed_ = false;
  bool failed_ = false;
};

// A client as an exchange sees it: what was written, reading re-evaluations, stall watches and
// how the exchange ended.
class FakeDownstream final : public Downstream {
 public:
  const std::string& peer() const override { return peer_; }
  const std::string& agent() const override { return agent_; }
  PersistenceWish persistence_wish() const override { return wish; }
  using Downstream::write;
  void write(const uv_buf_t* bufs, unsigned count) override {
    for (unsigned i = 0; i < count; ++i) written.append(bufs[i].base, bufs[i].len);
  }
  bool write_backlogged() const override { return backlogged; }
  void update_reading() override { ++reading_updates; }
  bool ended() const override { return client_ended; }
  void watch_write_stall(bool stalled) override { stall_watches.push_back(stalled); }
  void exchange_ended(bool keep_alive) override { ended_with = keep_alive; }

  PersistenceWish wish{true, true};
  bool backlogged = false;
  bool client_ended = false;
  std::string written;
  int reading_updates = 0;
  std::vector<bool> stall_watches;
  std::optional<bool> ended_with;  // set by exchange_ended: keep-alive or not

 private:
  std::string peer_ = "192.0.2.7:50000";
  std::string agent_ = "agent-under-test";
};

}  // namespace flow::proxy::testing
