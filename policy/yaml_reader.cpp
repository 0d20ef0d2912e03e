#include "yaml_reader.hpp"

#include <sstream>

#include "flow/policy/duration.hpp"
#include "flow/policy/flow_config.hpp"

namespace flow::policy {

YAML::Mark Field::mark() const {
  if (value.IsDefined() && !value.IsNull()) return value.Mark();
  return key.IsDefined() ? key.Mark() : value.Mark();
}

void YamlReader::fail(const YAML::Mark& mark, const std::string& what) const {
  std::ostringstream out;
  out << source_;
  if (!mark.is_null()) out << ':' << mark.line + 1 << ':' << mark.column + 1;
  out << ": " << what;
  throw ConfigError(out.str());
}

void YamlReader::expect_map(const YAML::Node& node, const std::string& where) const {
  if (!node.IsMap()) fail(node, where + " must be a mapping");
}

void YamlReader::expect_map(const Field& f) const {
  if (!f.value.IsMap()) fail(f, f.where + " must be a mapping");
}

void YamlReader::only_keys(const YAML::Node& node, const std::string& where,
                           std::initializer_list<std::string_view> allowed) const {
  std::string list;
  for (auto a : allowed) list += (list.empty() ? "" : ", ") + std::string(a);
  for (const auto& item : node) {
    if (!item.first.IsScalar()) fail(item.first, "keys in " + where + " must be plain words");
    const std::string& key = item.first.Scalar();
    bool known = false;
    for (auto a : allowed) known = known || key == a;
    if (!known) {
      fail(item.first,
           "unknown key '" + key + "' in " + where + " (expected one of: " + list + ")");
    }
  }
  unique_keys(node, where);
}

void YamlReader::unique_keys(const YAML::Node& node, const std::string& where) const {
  for (auto item = node.begin(); item != node.end(); ++item) {
    if (!item->first.IsScalar()) fail(item->first, "keys in " + where + " must be plain words");
    for (auto earlier = node.begin(); earlier != item; ++earlier) {
      if (earlier->first.Scalar() == item->first.Scalar()) {
        fail(item->first, "key '" + item->first.Scalar() + "' appears twice in " + where +
                              " (first on line " + std::to_string(earlier->first.Mark().line + 1) +
                              ")");
      }
    }
  }
}

Field YamlReader::field(const YAML::Node& map, const std::string& parent_where,
                        std::string_view key) const {
  Field f;
  f.where = parent_where.empty() ? std::string(key) : parent_where + "." + std::string(key);
  for (const auto& item : map) {
    if (item.first.IsScalar() && item.first.Scalar() == key) {
      f.key = item.first;
      f.value = item.second;
      return f;
    }
  }
  f.value = YAML::Node(YAML::NodeType::Undefined);
  return f;
}

Field YamlReader::required(const YAML::Node& map, const std::string& parent_where,
                           std::string_view key) const {
  Field f = field(map, parent_where, key);
  if (!f)
    fail(map, (parent_where.empty() ? "the top level" : parent_where) + " needs '" +
                  std::string(key) + "'");
  return f;
}

std::string YamlReader::string(const YAML::Node& node, const std::string& what) const {
  if (!node.IsScalar()) fail(node, what + " must be a string");
  return node.Scalar();
}

std::string YamlReader::string(const Field& f) const {
  if (!f.value.IsScalar() || f.value.Scalar().empty()) fail(f, f.where + " must be a string");
  return f.value.Scalar();
}

std::uint64_t YamlReader::integer(const YAML::Node& node, const std::string& what,
                                  std::uint64_t min, std::uint64_t max) const {
  if (!node.IsScalar()) fail(node, what + " must be an integer");
  const std::string& text = node.Scalar();
  std::uint64_t value = 0;
  bool ok = !text.empty() && text.size() <= 19;
  for (char c : text) {
    ok = ok && c >= '0' && c <= '9';
    if (ok) value = value * 10 + static_cast<std::uint64_t>(c - '0');
  }
  if (!ok || value < min || value > max) {
    fail(node, what + " must be an integer from " + std::to_string(min) + " to " +
                   std::to_string(max) + ", got '" + text + "'");
  }
  return value;
}

std::uint64_t YamlReader::integer(const Field& f, std::uint64_t min, std::uint64_t max) const {
  if (f.value.IsNull()) fail(f, f.where + " must be an integer");
  return integer(f.value, f.where, min, max);
}

std::chrono::milliseconds YamlReader::duration(const YAML::Node& node,
                                               const std::string& what) const {
  if (!node.IsScalar()) fail(node, what + " must be a duration such as 500ms, 10s, 2m");
  auto parsed = parse_duration(node.Scalar());
  if (!parsed || parsed->count() == 0) {
    fail(node,
         what + " must be a positive duration such as 500ms, 10s, 2m, got '" + node.Scalar() + "'");
  }
  return *parsed;
}

std::chrono::milliseconds YamlReader::duration(const Field& f) const {
  if (f.value.IsNull()) fail(f, f.where + " must be a duration such as 500ms, 10s, 2m");
  return duration(f.value, f.where);
}

bool YamlReader::boolean(const Field& f) const {
  if (f.value.IsScalar() && f.value.Scalar() == "true") return true;
  if (f.value.IsScalar() && f.value.Scalar() == "false") return false;
  fail(f, f.where + " must be true or false");
}

void YamlReader::scalar_or_list(
    const Field& f, const std::function<void(const std::string&, const YAML::Node&)>& each) const {
  if (f.value.IsScalar() && !f.value.Scalar().empty()) {
    each(f.value.Scalar(), f.value);
    return;
  }
  if (!f.value.IsSequence()) fail(f, f.where + " must be a value or a list of values");
  for (const auto& item : f.value) {
    if (!item.IsScalar() || item.Scalar().empty()) {
      fail(item, "every entry of " + f.where + " must be a single value");
    }
    each(item.Scalar(), item);
  }
}

void YamlReader::list(const Field& f,
                      const std::function<void(const YAML::Node&, std::size_t)>& each) const {
  if (!f.value.IsSequence()) fail(f, f.where + " must be a list");
  std::size_t index = 0;
  for (const auto& item : f.value) each(item, index++);
}

}  // namespace flow::policy
