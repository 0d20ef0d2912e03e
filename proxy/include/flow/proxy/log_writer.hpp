#pragma once
#include <uv.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "flow/proxy/network/timer.hpp"

namespace flow::proxy {

// Appends lines to a file descriptor without blocking the loop: lines collect in a buffer and
// go out through libuv's thread pool, one write in flight at a time, at most every
// kFlushInterval or once kFlushBytes have collected (a thread-pool wake-up per line would cost
// more than the line). Bounded: past `max_buffered` bytes lines are dropped and counted.
class LogWriter {
 public:
  LogWriter(uv_loop_t* loop, int fd, bool owns_fd, std::size_t max_buffered = 8u << 20);
  ~LogWriter();
  LogWriter(const LogWriter&) = delete;
  LogWriter& operator=(const LogWriter&) = delete;

  // `line` must end with '\n'.
  void append(std::string_view line);
  // Blocking flush of everything buffered; for shutdown only.
  void flush_blocking();
  std::uint64_t dropped_lines() const { return dropped_; }

  static int open_file(const std::string& path);  // O_APPEND|O_CREAT, 0640; -errno on failure

 private:
  void start_write();
  static void on_written(uv_fs_t* req);

  uv_loop_t* loop_;
  int fd_;
  bool owns_fd_;
  std::size_t max_buffered_;
  std::string pending_;
  std::string in_flight_;
  std::size_t in_flight_offset_ = 0;
  bool writing_ = false;
  std::uint64_t dropped_ = 0;
  uv_fs_t req_{};
  Timer flush_timer_;
};

// "2026-11-24T03:00:00.123Z" for the current wall-clock time.
void append_timestamp(std::string& out);

enum class LogLevel { error = 0, warn = 1, info = 2, debug = 3 };
LogLevel parse_log_level(std::string_view name);

// Diagnostic log: one JSON object per line.
class Logger {
 public:
  Logger(LogWriter& writer, LogLevel level) : writer_(&writer), level_(level) {}
  bool enabled(LogLevel level) const { return level <= level_; }
  // `fields` is either empty or a JSON fragment of the form `"k":v,"k2":v2`.
  void log(LogLevel level, std::string_view message, std::string_view fields = {});
  void error(std::string_view m, std::string_view f = {}) { log(LogLevel::error, m, f); }
  void warn(std::string_view m, std::string_view f = {}) { log(LogLevel::warn, m, f); }
  void info(std::string_view m, std::string_view f = {}) { log(LogLevel::info, m, f); }
  void debug(std::string_view m, std::string_view f = {}) { log(LogLevel::debug, m, f); }

 private:
  LogWriter* writer_;
  LogLevel level_;
};

}  // namespace flow::proxy
