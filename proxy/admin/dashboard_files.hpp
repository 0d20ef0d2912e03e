// The dashboard's static files, compiled into the binary by cmake/embed_files.cmake (the
// generated dashboard_files.cpp in the build tree).
#pragma once
#include <cstddef>

namespace flow::proxy::dashboard_files {

struct EmbeddedFile {
  const char* name;  // relative to proxy/admin/dashboard/: "index.html", "app.js"
  const unsigned char* data;
  std::size_t size;
};

extern const EmbeddedFile kEmbeddedFiles[];
extern const std::size_t kEmbeddedFileCount;

}  // namespace flow::proxy::dashboard_files
