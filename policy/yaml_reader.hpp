#pragma once
// Reading flow.yaml with errors that name file:line:column and what was expected. Internal to
// the policy module: the public interface is flow_config.hpp.
#include <yaml-cpp/yaml.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <string>
#include <string_view>

namespace flow::policy {

// A key's value in a mapping. Errors about the value point at the value, or at the key when
// the value is empty (yaml-cpp marks an empty value at the next token, often a line below).
struct Field {
  YAML::Node key;
  YAML::Node value;
  std::string where;  // "merchants[3].host", for messages
  explicit operator bool() const { return value.IsDefined(); }
  YAML::Mark mark() const;
};

class YamlReader {
 public:
  explicit YamlReader(std::string source) : source_(std::move(source)) {}

  [[noreturn]] void fail(const YAML::Mark& mark, const std::string& what) const;
  [[noreturn]] void fail(const YAML::Node& node, const std::string& what) const {
    fail(node.Mark(), what);
  }
  [[noreturn]] void fail(const Field& field, const std::string& what) const {
    fail(field.mark(), what);
  }

  void expect_map(const YAML::Node& node, const std::string& where) const;
  void expect_map(const Field& field) const;
  // Unknown and repeated keys are errors: a typo must never silently widen what is allowed.
  void only_keys(const YAML::Node& node, const std::string& where,
                 std::initializer_list<std::string_view> allowed) const;
  // For mappings whose keys are names (merchant_caps): each at most once.
  void unique_keys(const YAML::Node& node, const std::string& where) const;

  // `where` of the returned field is `parent_where.key` (or just `key` at the top level).
  Field field(const YAML::Node& map, const std::string& parent_where, std::string_view key) const;
  Field required(const YAML::Node& map, const std::string& parent_where,
                 std::string_view key) const;

  std::string string(const YAML::Node& node, const std::string& what) const;
  std::string string(const Field& f) const;
  std::uint64_t integer(const YAML::Node& node, const std::string& what, std::uint64_t min,
                        std::uint64_t max) const;
  std::uint64_t integer(const Field& f, std::uint64_t min, std::uint64_t max) const;
  std::chrono::milliseconds duration(const YAML::Node& node, const std::string& what) const;
  std::chrono::milliseconds duration(const Field& f) const;
  bool boolean(const Field& f) const;

  // A scalar or a list of scalars (`x` or `[x, y]`); `each` gets every scalar with its node.
  void scalar_or_list(const Field& f,
                      const std::function<void(const std::string&, const YAML::Node&)>& each) const;
  // A list (`[a, b]` or block style); `each` gets every item with its index. Empty is allowed.
  void list(const Field& f, const std::function<void(const YAML::Node&, std::size_t)>& each) const;

  const std::string& source() const { return source_; }

 private:
  std::string source_;
};

}  // namespace flow::policy
