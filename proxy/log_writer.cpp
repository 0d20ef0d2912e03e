#include "flow/proxy/log_writer.hpp"

#include <fcntl.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <ctime>

#include "flow/proxy/http/proxy_error.hpp"

namespace flow::proxy {
namespace {
constexpr std::chrono::milliseconds kFlushInterval{20};
constexpr std::size_t kFlushBytes = 64 * 1024;
}  // namespace

LogWriter::LogWriter(uv_loop_t* loop, int fd, bool owns_fd, std::size_t max_buffered)
    : loop_(loop),
      fd_(fd),
      owns_fd_(owns_fd),
      max_buffered_(max_buffered),
      flush_timer_(loop, [this] { start_write(); }) {
  req_.data = this;
}

LogWriter::~LogWriter() {
  flush_blocking();
  if (owns_fd_ && fd_ >= 0) ::close(fd_);
}

int LogWriter::open_file(const std::string& path) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
  return fd >= 0 ? fd : -errno;
}

void LogWriter::append(std::string_view line) {
  if (pending_.size() + line.size() > max_buffered_) {
    ++dropped_;
    return;
  }
  pending_.append(line);
  if (writing_) return;
  if (pending_.size() >= kFlushBytes) {
    start_write();
  } else if (!flush_timer_.active()) {
    flush_timer_.start(kFlushInterval);
  }
}

void LogWriter::start_write() {
  if (writing_ || pending_.empty()) return;
  flush_timer_.stop();
  in_flight_.swap(pending_);
  pending_.clear();
  in_flight_offset_ = 0;
  writing_ = true;
  uv_buf_t buf = uv_buf_init(in_flight_.data(), static_cast<unsigned>(in_flight_.size()));
  if (uv_fs_write(loop_, &req_, fd_, &buf, 1, -1, &LogWriter::on_written) != 0) {
    writing_ = false;
    in_flight_.clear();
    ++dropped_;
  }
}

void LogWriter::on_written(uv_fs_t* req) {
  auto* self = static_cast<LogWriter*>(req->data);
  const auto result = req->result;
  uv_fs_req_cleanup(req);
  self->writing_ = false;
  if (result > 0) {
    self->in_flight_offset_ += static_cast<std::size_t>(result);
    if (self->in_flight_offset_ < self->in_flight_.size()) {
      // Short write: put the rest in front of whatever collected meanwhile.
      self->pending_.insert(0, self->in_flight_, self->in_flight_offset_);
    }
  } else {
    ++self->dropped_;
  }
  self->in_flight_.clear();
  if (!self->pending_.empty() && !self->flush_timer_.active()) {
    self->flush_timer_.start(kFlushInterval);
  }
}

void LogWriter::flush_blocking() {
  // A write still in flight finishes on the thread pool; run the loop until it has.
  while (writing_) uv_run(loop_, UV_RUN_ONCE);
  std::size_t off = 0;
  while (off < pending_.size()) {
    const ssize_t n = ::write(fd_, pending_.data() + off, pending_.size() - off);
    if (n <= 0) {
      if (n < 0 && errno == EINTR) continue;
      break;
    }
    off += static_cast<std::size_t>(n);
  }
  pending_.clear();
}

void append_timestamp(std::string& out) {
  timeval tv{};
  gettimeofday(&tv, nullptr);
  std::tm tm{};
  gmtime_r(&tv.tv_sec, &tm);
  char buf[32];
  const int n = std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
                              tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                              tm.tm_sec, static_cast<int>(tv.tv_usec / 1000));
  out.append(buf, static_cast<std::size_t>(n));
}

LogLevel parse_log_level(std::string_view name) {
  if (name == "error") return LogLevel::error;
  if (name == "warn") return LogLevel::warn;
  if (name == "debug") return LogLevel::debug;
  return LogLevel::info;
}

void Logger::log(LogLevel level, std::string_view message, std::string_view fields) {
  if (!enabled(level)) return;
  static constexpr const char* kNames[] = {"error", "warn", "info", "debug"};
  std::string line = "{\"ts\":\"";
  append_timestamp(line);
  line += "\",\"level\":\"";
  line += kNames[static_cast<int>(level)];
  line += "\",\"msg\":";
  append_json_string(line, message);
  if (!fields.empty()) {
    line += ',';
    line += fields;
  }
  line += "}\n";
  writer_->append(line);
}

}  // namespace flow::proxy
