// The dashboard's files as compiled into the binary: each one at its path, with its type, and
// the page's references to its assets resolve to embedded files.
#include <doctest/doctest.h>

#include <string>

#include "flow/proxy/admin/dashboard.hpp"

namespace flow::proxy {

TEST_CASE("dashboard: the page and its assets are embedded with their types") {
  const DashboardFile* page = find_dashboard_file("/");
  REQUIRE(page != nullptr);
  CHECK(page->content_type == "text/html; charset=utf-8");
  CHECK(page->body.starts_with("<!doctype html>"));
  CHECK(find_dashboard_file("/ui/index.html") != nullptr);
  const DashboardFile* js = find_dashboard_file("/ui/app.js");
  REQUIRE(js != nullptr);
  CHECK(js->content_type == "text/javascript; charset=utf-8");
  CHECK(js->body.find("/v1/approvals") != std::string_view::npos);
  const DashboardFile* css = find_dashboard_file("/ui/app.css");
  REQUIRE(css != nullptr);
  CHECK(css->content_type == "text/css; charset=utf-8");
  // What the page loads is what is embedded, and nothing comes from elsewhere.
  CHECK(page->body.find("src=\"/ui/app.js\"") != std::string_view::npos);
  CHECK(page->body.find("href=\"/ui/app.css\"") != std::string_view::npos);
  for (const auto* file : {page, js, css}) {
    std::string text(file->body);
    const std::string svg_namespace = "http://www.w3.org/2000/svg";  // a name, never fetched
    for (auto at = text.find(svg_namespace); at != std::string::npos; at = text.find(svg_namespace))
      text.erase(at, svg_namespace.size());
    CHECK(text.find("http://") == std::string::npos);
    CHECK(text.find("https://") == std::string::npos);
    CHECK(text.find("//cdn") == std::string::npos);
  }
  CHECK(find_dashboard_file("/ui/") == nullptr);
  CHECK(find_dashboard_file("/ui/../admin_server.cpp") == nullptr);
  CHECK(find_dashboard_file("/metrics") == nullptr);
}

}  // namespace flow::proxy
