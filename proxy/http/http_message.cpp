#include "flow/proxy/http/http_message.hpp"

#include <algorithm>
#include <array>

namespace flow::proxy {
namespace {

template <typename F>
void for_each_token(std::string_view list, F&& f) {
  while (!list.empty()) {
    const auto comma = list.find(',');
    f(payment::trim_ows(list.substr(0, comma)));
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
}

constexpr std::array<std::string_view, 10> kHopByHop = {
    "connection",     "proxy-connection", "keep-alive",          "te",
    "trailer",        "upgrade",          "proxy-authorization", "proxy-authenticate",
    "content-length", "transfer-encoding"};

}  // namespace

bool is_token(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    const bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    if (!alnum && std::string_view("!#$%&'*+-.^_`|~").find(c) == std::string_view::npos) {
      return false;
    }
  }
  return true;
}

const Header* find_header(const HeaderList& headers, std::string_view name) {
  for (const auto& h : headers) {
    if (iequals(h.name, name)) return &h;
  }
  return nullptr;
}

std::size_t count_headers(const HeaderList& headers, std::string_view name) {
  return static_cast<std::size_t>(std::count_if(
      headers.begin(), headers.end(), [&](const Header& h) { return iequals(h.name, name); }));
}

void remove_headers(HeaderList& headers, std::string_view name) {
  std::erase_if(headers, [&](const Header& h) { return iequals(h.name, name); });
}

bool header_has_token(const HeaderList& headers, std::string_view name, std::string_view token) {
  bool found = false;
  for (const auto& h : headers) {
    if (!iequals(h.name, name)) continue;
    for_each_token(h.value, [&](std::string_view t) { found = found || iequals(t, token); });
  }
  return found;
}

void strip_control_headers(HeaderList& headers) {
  constexpr std::string_view kPrefix = "x-402flow-";
  std::erase_if(headers, [&](const Header& h) {
    return h.name.size() >= kPrefix.size() &&
           iequals(std::string_view(h.name).substr(0, kPrefix.size()), kPrefix);
  });
}

void strip_hop_by_hop(HeaderList& headers) {
  // Collect the names listed in Connection before removing anything.
  std::vector<std::string> named;
  for (const auto& h : headers) {
    if (!iequals(h.name, "connection")) continue;
    for_each_token(h.value, [&](std::string_view t) {
      if (!t.empty()) named.emplace_back(t);
    });
  }
  std::erase_if(headers, [&](const Header& h) {
    for (auto hop : kHopByHop) {
      if (iequals(h.name, hop)) return true;
    }
    for (const auto& n : named) {
      if (iequals(h.name, n)) return true;
    }
    return false;
  });
}

void append_via(HeaderList& headers, HttpVersion received) {
  std::string entry =
      received.major == 1 ? "1." + std::to_string(received.minor) : std::to_string(received.major);
  entry += " 402flow";
  for (auto& h : headers) {
    if (iequals(h.name, "via")) {
      h.value += ", ";
      h.value += entry;
      return;
    }
  }
  headers.push_back({"Via", std::move(entry)});
}

static void append_headers(const HeaderList& headers, std::string& out) {
  for (const auto& h : headers) {
    out += h.name;
    out += ": ";
    out += h.value;
    out += "\r\n";
  }
  out += "\r\n";
}

void serialize_request_head(const RequestHead& head, std::string& out) {
  out += head.method;
  out += ' ';
  out += head.target;
  out += " HTTP/1.1\r\n";
  append_headers(head.headers, out);
}

void serialize_response_head(int status, std::string_view reason, const HeaderList& headers,
                             std::string& out) {
  out += "HTTP/1.1 ";
  out += std::to_string(status);
  out += ' ';
  out += reason;
  out += "\r\n";
  append_headers(headers, out);
}

std::string_view default_reason(int status) {
  switch (status) {
    case 100:
      return "Continue";
    case 200:
      return "OK";
    case 400:
      return "Bad Request";
    case 402:
      return "Payment Required";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 407:
      return "Proxy Authentication Required";
    case 408:
      return "Request Timeout";
    case 409:
      return "Conflict";
    case 431:
      return "Request Header Fields Too Large";
    case 501:
      return "Not Implemented";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    case 508:
      return "Loop Detected";
    default:
      return "Status";
  }
}

}  // namespace flow::proxy
