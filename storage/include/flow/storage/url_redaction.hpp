#pragma once
#include <string>
#include <string_view>

namespace flow::storage {

// What the ledger keeps of a URL's query string, which may carry API keys or tokens.
enum class UrlQueryMode {
  keep,  // as sent
  hash,  // "?<sha256:HEX>": equal queries stay recognisable, values do not (the default)
  drop,  // "?<redacted>"
};

// Applies `mode` to the query of `url` (the part after the first '?', up to any '#').
// A URL without a query is returned unchanged.
std::string redact_url_query(std::string_view url, UrlQueryMode mode);

}  // namespace flow::storage
