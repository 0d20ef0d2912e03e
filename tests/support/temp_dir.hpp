// A private temporary directory, removed with everything in it when the object goes away.
#pragma once

#include <string>
#include <string_view>

namespace flow::testing {

class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  std::string file(std::string_view name) const { return path_ + "/" + std::string(name); }

 private:
  std::string path_;
};

// Writes `text` to `path`, replacing what was there; throws when it cannot.
void write_text_file(const std::string& path, std::string_view text);

}  // namespace flow::testing
