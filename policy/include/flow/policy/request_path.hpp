#pragma once
#include <string_view>

namespace flow::policy {

// The request path as merchant rules see it: the query is cut off.
std::string_view path_without_query(std::string_view path);

// Whether a path is in the form merchant rules can be matched against safely. A path with dot
// segments ("/v1/../admin"), empty segments ("//admin"), backslashes, or percent-encoded
// unreserved characters or slashes ("/%61dmin", "%2F") may be read by the merchant as another
// path than the one the rules saw, so policy refuses to pay for it (ambiguous_path).
bool is_normal_path(std::string_view path);

// Whether `path` lies under `prefix` on a segment boundary: "/v1" covers "/v1" and "/v1/x" but
// not "/v1beta"; a prefix ending in "/" covers everything below it. Case-sensitive.
bool path_has_prefix(std::string_view path, std::string_view prefix);

}  // namespace flow::policy
