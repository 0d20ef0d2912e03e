#include "flow/proxy/network/port_file.hpp"

#include <cstdio>

namespace flow::proxy {

bool write_port_file(const std::string& path, const std::string& address) {
  const std::string tmp = path + ".tmp";
  FILE* f = std::fopen(tmp.c_str(), "w");
  if (f == nullptr) return false;
  const bool ok = std::fprintf(f, "%s\n", address.c_str()) > 0;
  if (std::fclose(f) != 0 || !ok) return false;
  return std::rename(tmp.c_str(), path.c_str()) == 0;
}

}  // namespace flow::proxy
