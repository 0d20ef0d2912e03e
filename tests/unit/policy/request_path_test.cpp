#include <doctest/doctest.h>

#include "flow/policy/request_path.hpp"

using flow::policy::is_normal_path;
using flow::policy::path_has_prefix;

TEST_CASE("ordinary request paths are in normal form") {
  for (const char* ok : {"/", "/v1", "/v1/", "/v1/chat?model=x", "/a%20b", "/v1/..x",
                         "/.well-known", "/a/b.c", "/%E2%82%AC"}) {
    CAPTURE(ok);
    CHECK(is_normal_path(ok));
  }
}

TEST_CASE("paths a merchant could read as another path are not in normal form") {
  for (const char* bad : {"", "v1", "/v1/../admin", "/v1/./x", "/..", "/v1/.", "//admin", "/v1//x",
                          "/v1\\..\\admin", "/%61dmin", "/v1%2Fadmin", "/v1%2fadmin",
                          "/%2E%2E/admin", "/v1%5Cx", "/a%7e", "/bad%zz", "/bad%4"}) {
    CAPTURE(bad);
    CHECK_FALSE(is_normal_path(bad));
  }
}

TEST_CASE("a path prefix covers whole segments only") {
  CHECK(path_has_prefix("/v1", "/v1"));
  CHECK(path_has_prefix("/v1/x", "/v1"));
  CHECK(path_has_prefix("/v1?q", "/v1"));
  CHECK_FALSE(path_has_prefix("/v1beta", "/v1"));
  CHECK_FALSE(path_has_prefix("/v", "/v1"));
  CHECK(path_has_prefix("/v1/x", "/v1/"));
  CHECK_FALSE(path_has_prefix("/v1", "/v1/"));
  CHECK(path_has_prefix("/anything", ""));
  CHECK(path_has_prefix("/anything", "/"));
  CHECK_FALSE(path_has_prefix("/V1", "/v1"));
}
