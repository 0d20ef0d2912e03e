#include "flow/policy/request_path.hpp"

#include "flow/payment/ascii.hpp"

namespace flow::policy {
namespace {

// RFC 3986 unreserved characters, plus the separators that would change the segments.
bool changes_meaning_when_decoded(int byte) {
  const bool alnum =
      (byte >= '0' && byte <= '9') || (byte >= 'a' && byte <= 'z') || (byte >= 'A' && byte <= 'Z');
  return alnum || byte == '-' || byte == '.' || byte == '_' || byte == '~' || byte == '/' ||
         byte == '\\';
}

bool is_dot_segment(std::string_view segment) {
  return segment == "." || segment == "..";
}

}  // namespace

std::string_view path_without_query(std::string_view path) {
  for (std::size_t i = 0; i < path.size(); ++i) {
    if (path[i] == '?' || path[i] == '#') return path.substr(0, i);
  }
  return path;
}

bool is_normal_path(std::string_view path) {
  path = path_without_query(path);
  if (path.empty() || path.front() != '/') return false;
  std::size_t segment_start = 1;
  for (std::size_t i = 1; i <= path.size(); ++i) {
    const bool end = i == path.size();
    if (!end && path[i] == '\\') return false;
    if (!end && path[i] == '%') {
      const int hi = i + 1 < path.size() ? payment::hex_digit_value(path[i + 1]) : -1;
      const int lo = i + 2 < path.size() ? payment::hex_digit_value(path[i + 2]) : -1;
      if (hi < 0 || lo < 0 || changes_meaning_when_decoded(hi * 16 + lo)) return false;
    }
    if (end || path[i] == '/') {
      const std::string_view segment = path.substr(segment_start, i - segment_start);
      if (is_dot_segment(segment)) return false;
      if (segment.empty() && !end) return false;  // "//"
      segment_start = i + 1;
    }
  }
  return true;
}

bool path_has_prefix(std::string_view path, std::string_view prefix) {
  path = path_without_query(path);
  if (!path.starts_with(prefix)) return false;
  return prefix.empty() || prefix.back() == '/' || path.size() == prefix.size() ||
         path[prefix.size()] == '/';
}

}  // namespace flow::policy
