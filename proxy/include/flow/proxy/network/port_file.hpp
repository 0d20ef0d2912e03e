#pragma once
#include <string>

namespace flow::proxy {

// Writes "HOST:PORT\n" to `path` atomically (a temp file, then rename), so whoever waits for the
// file never reads half of it. False on any failure.
bool write_port_file(const std::string& path, const std::string& address);

}  // namespace flow::proxy
