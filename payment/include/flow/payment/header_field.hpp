#pragma once
#include <string_view>

namespace flow::payment {

// A response header as the proxy hands it over (names in any case; repeated names allowed).
struct HeaderField {
  std::string_view name;
  std::string_view value;
};

}  // namespace flow::payment
