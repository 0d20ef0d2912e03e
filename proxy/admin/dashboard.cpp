#include "flow/proxy/admin/dashboard.hpp"

#include <string>
#include <unordered_map>

#include "dashboard_files.hpp"

namespace flow::proxy {
namespace {

constexpr std::string_view kAssetPrefix = "/ui/";

std::string_view content_type_of(std::string_view name) {
  if (name.ends_with(".html")) return "text/html; charset=utf-8";
  if (name.ends_with(".js")) return "text/javascript; charset=utf-8";
  if (name.ends_with(".css")) return "text/css; charset=utf-8";
  if (name.ends_with(".svg")) return "image/svg+xml";
  return "application/octet-stream";
}

// URL path -> file: "/" for index.html, "/ui/<name>" for every file.
std::unordered_map<std::string, DashboardFile> build_routes() {
  std::unordered_map<std::string, DashboardFile> routes;
  for (std::size_t i = 0; i < dashboard_files::kEmbeddedFileCount; ++i) {
    const auto& f = dashboard_files::kEmbeddedFiles[i];
    const DashboardFile file{content_type_of(f.name),
                             {reinterpret_cast<const char*>(f.data), f.size}};
    routes.emplace(std::string(kAssetPrefix) + f.name, file);
    if (std::string_view(f.name) == "index.html") routes.emplace("/", file);
  }
  return routes;
}

bool is_dashboard_path(std::string_view path) {
  return path == "/" || path.starts_with(kAssetPrefix);
}

// The page loads only its own files, runs no inline script, and is never framed.
constexpr std::string_view kSecurityHeaders =
    "Cache-Control: no-cache\r\n"
    "X-Content-Type-Options: nosniff\r\n"
    "Referrer-Policy: no-referrer\r\n"
    "Content-Security-Policy: default-src 'none'; script-src 'self'; style-src 'self'; "
    "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; "
    "form-action 'none'\r\n";

}  // namespace

const DashboardFile* find_dashboard_file(std::string_view path) {
  static const auto routes = build_routes();
  const auto it = routes.find(std::string(path));
  return it == routes.end() ? nullptr : &it->second;
}

bool serve_dashboard(const ServedRequest& request, ServedAnswer& answer) {
  if (!is_dashboard_path(request.path)) return false;
  if (request.head.method != "GET" && request.head.method != "HEAD") {
    answer.status = 405;
    answer.headers = "Allow: GET, HEAD\r\n";
    answer.body = json_error_body("method not allowed: use GET");
    return true;
  }
  const DashboardFile* file = find_dashboard_file(request.path);
  if (file == nullptr) {
    answer.status = 404;
    answer.body = json_error_body("no such dashboard file");
    return true;
  }
  answer.status = 200;
  answer.content_type = std::string(file->content_type);
  answer.headers = std::string(kSecurityHeaders);
  answer.body = std::string(file->body);
  return true;
}

}  // namespace flow::proxy
