#include "flow/storage/url_redaction.hpp"

#include "sha256.hpp"

namespace flow::storage {

std::string redact_url_query(std::string_view url, UrlQueryMode mode) {
  const auto question = url.find('?');
  if (mode == UrlQueryMode::keep || question == std::string_view::npos) return std::string(url);
  const auto hash_mark = url.find('#', question);
  const std::string_view query =
      url.substr(question + 1, hash_mark == std::string_view::npos ? std::string_view::npos
                                                                   : hash_mark - question - 1);
  std::string out(url.substr(0, question + 1));
  if (mode == UrlQueryMode::hash) {
    out += "<sha256:" + sha256_hex(query) + ">";
  } else {
    out += "<redacted>";
  }
  return out;  // a fragment never reaches a server; it is not kept either
}

}  // namespace flow::storage
