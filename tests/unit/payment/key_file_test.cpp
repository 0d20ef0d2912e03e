#include <doctest/doctest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include <sys/stat.h>
#include <unistd.h>

#include "flow/payment/key_file.hpp"

using namespace flow::payment;
namespace fs = std::filesystem;

namespace {

constexpr std::string_view kDevKey =
    "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";

// A fresh directory per test, removed afterwards.
struct TempDir {
  fs::path path;
  TempDir() {
    std::string templ = (fs::temp_directory_path() / "flow-keyfile-XXXXXX").string();
    REQUIRE(::mkdtemp(templ.data()) != nullptr);
    path = templ;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  std::string write(const std::string& name, std::string_view content, mode_t mode) const {
    const fs::path file = path / name;
    {
      std::ofstream out(file);
      out << content;
    }
    REQUIRE(::chmod(file.c_str(), mode) == 0);
    return file.string();
  }
};

std::string error_of(const std::variant<EvmKey, std::string>& result) {
  const auto* e = std::get_if<std::string>(&result);
  return e == nullptr ? "" : *e;
}

// No 8-digit run of the key in the message, in either case.
bool mentions_key(const std::string& message) {
  const std::string digits(kDevKey.substr(2));
  for (std::size_t i = 0; i + 8 <= digits.size(); ++i) {
    if (message.find(digits.substr(i, 8)) != std::string::npos) return true;
  }
  return false;
}

}  // namespace

TEST_CASE("a key file with mode 0600 loads") {
  TempDir dir;
  const auto path = dir.write("key", std::string(kDevKey) + "\n", 0600);
  const auto result = load_evm_key({path, ""});
  const auto* key = std::get_if<EvmKey>(&result);
  REQUIRE_MESSAGE(key != nullptr, error_of(result));
  CHECK(evm_address_checksummed(key->address()) == "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266");
  // 0400 is stricter still and fine too.
  const auto read_only = dir.write("key-ro", kDevKey, 0400);
  CHECK(std::holds_alternative<EvmKey>(load_evm_key({read_only, ""})));
}

TEST_CASE("a key file readable by group or others is refused without revealing the key") {
  TempDir dir;
  for (mode_t mode : {mode_t{0644}, mode_t{0640}, mode_t{0604}, mode_t{0660}}) {
    CAPTURE(mode);
    const auto path = dir.write("key", kDevKey, mode);
    const std::string error = error_of(load_evm_key({path, ""}));
    CHECK(error.find("chmod 600") != std::string::npos);
    CHECK(error.find(path) != std::string::npos);
    CHECK_FALSE(mentions_key(error));
  }
}

TEST_CASE("a missing key file is refused with its path named") {
  TempDir dir;
  const std::string path = (dir.path / "absent").string();
  const std::string error = error_of(load_evm_key({path, ""}));
  CHECK(error.find(path) != std::string::npos);
}

TEST_CASE("malformed key files are refused without echoing their content") {
  TempDir dir;
  const std::string almost(kDevKey.substr(0, 65));  // one digit short
  for (const std::string& content :
       {almost, std::string(""), std::string("0x") + std::string(64, '0'),
        std::string(kDevKey) + "\n" + std::string(kDevKey), std::string(kDevKey) + "zz",
        std::string(4096, 'a')}) {
    const auto path = dir.write("bad", content, 0600);
    const std::string error = error_of(load_evm_key({path, ""}));
    CHECK_FALSE(error.empty());
    CHECK_FALSE(mentions_key(error));
  }
}

TEST_CASE("a directory is not a key file") {
  TempDir dir;
  ::chmod(dir.path.c_str(), 0700);
  CHECK_FALSE(error_of(load_evm_key({dir.path.string(), ""})).empty());
}

TEST_CASE("a key can come from an environment variable, and a bad one is refused quietly") {
  const std::string name = "FLOW_KEY_FILE_TEST_" + std::to_string(::getpid());
  REQUIRE(::setenv(name.c_str(), std::string(kDevKey).c_str(), 1) == 0);
  const auto result = load_evm_key({"", name});
  const auto* key = std::get_if<EvmKey>(&result);
  REQUIRE_MESSAGE(key != nullptr, error_of(result));
  CHECK(evm_address_checksummed(key->address()) == "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266");

  REQUIRE(::setenv(name.c_str(), std::string(kDevKey.substr(0, 60)).c_str(), 1) == 0);
  std::string error = error_of(load_evm_key({"", name}));
  CHECK(error.find(name) != std::string::npos);
  CHECK_FALSE(mentions_key(error));

  REQUIRE(::unsetenv(name.c_str()) == 0);
  error = error_of(load_evm_key({"", name}));
  CHECK(error.find("not set") != std::string::npos);
}

TEST_CASE("a key source needs exactly one of file and environment variable") {
  CHECK_FALSE(error_of(load_evm_key({"", ""})).empty());
  CHECK_FALSE(error_of(load_evm_key({"/some/file", "SOME_VAR"})).empty());
}

TEST_CASE("write_new_key_file creates a 0600 file that loads back to the same key") {
  TempDir dir;
  const std::string path = (dir.path / "new-key").string();
  const auto written = write_new_key_file(path);
  const auto* key = std::get_if<EvmKey>(&written);
  REQUIRE_MESSAGE(key != nullptr, error_of(written));

  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  std::ifstream in(path);
  const std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  CHECK(content.size() == 67);
  CHECK(content.rfind("0x", 0) == 0);
  CHECK(content.back() == '\n');

  const auto loaded = load_evm_key({path, ""});
  const auto* again = std::get_if<EvmKey>(&loaded);
  REQUIRE_MESSAGE(again != nullptr, error_of(loaded));
  CHECK(again->address() == key->address());
}

TEST_CASE("write_new_key_file refuses to overwrite an existing file") {
  TempDir dir;
  const auto path = dir.write("existing", kDevKey, 0600);
  const std::string error = error_of(write_new_key_file(path));
  CHECK(error.find(path) != std::string::npos);
  std::ifstream in(path);
  const std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  CHECK(content == kDevKey);
}
