// The operator's dashboard: one page (proxy/admin/dashboard/, embedded in the binary at build
// time) that the admin listener serves at `/`, with its assets under `/ui/`. The page holds no
// data: it reads everything from the `/v1/` API with the bearer token the operator types in, so
// serving it needs no token.
#pragma once
#include <string_view>

#include "flow/proxy/http/http_server.hpp"

namespace flow::proxy {

// A file of the dashboard by its URL path ("/" is index.html, "/ui/app.js"), or null.
struct DashboardFile {
  std::string_view content_type;
  std::string_view body;
};
const DashboardFile* find_dashboard_file(std::string_view path);

// Answers `request` when its path is the dashboard's (`/` or `/ui/...`): the file for GET and
// HEAD, 404 for an unknown `/ui/` file, 405 for other methods. False: not a dashboard path.
bool serve_dashboard(const ServedRequest& request, ServedAnswer& answer);

}  // namespace flow::proxy
