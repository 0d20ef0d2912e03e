// caps: per_request and budgets, the amounts they are written in, and network lists.
#include <algorithm>
#include <variant>

#include "counter_key.hpp"
#include "policy_schema.hpp"

namespace flow::policy {
namespace {

constexpr std::int64_t kMaxRollingSeconds = 400LL * 86400;

BudgetWindow read_window(const YamlReader& r, const YAML::Node& node, const std::string& where) {
  const Field per = r.field(node, where, "per");
  const Field rolling = r.field(node, where, "rolling");
  if (per && rolling) r.fail(rolling, where + " has both 'per' and 'rolling'; choose one");
  if (!per && !rolling) {
    r.fail(node, where +
                     " needs a window: 'per: day|week|month' (calendar, UTC) or "
                     "'rolling: <duration>'");
  }
  if (per) {
    const std::string unit = per.value.IsScalar() ? per.value.Scalar() : "";
    if (unit == "day") return {WindowKind::calendar_day, 0};
    if (unit == "week") return {WindowKind::calendar_week, 0};
    if (unit == "month") return {WindowKind::calendar_month, 0};
    r.fail(per, per.where + " must be day, week or month, got '" + unit + "'");
  }
  const auto length = r.duration(rolling);
  if (length.count() % 1000 != 0 || length.count() / 1000 > kMaxRollingSeconds) {
    r.fail(rolling, rolling.where + " must be whole seconds, at most 400 days");
  }
  return {WindowKind::rolling, length.count() / 1000};
}

Budget read_budget(const YamlReader& r, const YAML::Node& node, const std::string& where,
                   const AssetTable& table, std::string_view key_prefix) {
  r.expect_map(node, where);
  r.only_keys(node, where, {"amount", "payments", "per", "rolling"});
  Budget b;
  const Field amount = r.field(node, where, "amount");
  const Field payments = r.field(node, where, "payments");
  if (amount && payments) {
    r.fail(payments, where + " has both 'amount' and 'payments'; write two budgets");
  }
  if (!amount && !payments) r.fail(node, where + " needs 'amount' or 'payments'");
  if (amount) {
    if (!amount.value.IsScalar())
      r.fail(amount, amount.where + " must be an amount such as 5 USDC");
    b.amount = read_unit_amount(r, amount.value, amount.where, table);
  } else {
    b.payments = r.integer(payments, 1, 1'000'000'000);
  }
  b.window = read_window(r, node, where);
  b.rule = where;
  b.key_tail = counter_key::tail(b.amount ? b.amount->unit_key() : counter_key::kAnyUnit, b.window);
  if (!key_prefix.empty()) b.counter_key = std::string(key_prefix) + b.key_tail;
  return b;
}

std::vector<Budget> read_budgets(const YamlReader& r, const Field& f, const AssetTable& table,
                                 std::string_view key_prefix) {
  std::vector<Budget> budgets;
  r.list(f, [&](const YAML::Node& item, std::size_t i) {
    Budget b = read_budget(r, item, f.where + "[" + std::to_string(i) + "]", table, key_prefix);
    for (const Budget& earlier : budgets) {
      if (earlier.key_tail == b.key_tail) {
        r.fail(item,
               b.rule + " has the same unit and window as " + earlier.rule + "; keep one of them");
      }
    }
    budgets.push_back(std::move(b));
  });
  return budgets;
}

}  // namespace

UnitAmount read_unit_amount(const YamlReader& r, const YAML::Node& node, const std::string& where,
                            const AssetTable& table) {
  auto parsed = parse_unit_amount(node.Scalar(), table);
  if (auto* error = std::get_if<std::string>(&parsed)) r.fail(node, where + ": " + *error);
  return std::get<UnitAmount>(std::move(parsed));
}

std::vector<UnitAmount> read_amounts(const YamlReader& r, const Field& f, const AssetTable& table) {
  std::vector<UnitAmount> out;
  r.scalar_or_list(f, [&](const std::string&, const YAML::Node& node) {
    UnitAmount a = read_unit_amount(r, node, f.where, table);
    for (const UnitAmount& earlier : out) {
      if (earlier.same_unit(a)) {
        r.fail(node, f.where + " names " + a.unit_key() + " twice; keep one amount per unit");
      }
    }
    out.push_back(std::move(a));
  });
  return out;
}

std::vector<std::string> read_networks(const YamlReader& r, const Field& f,
                                       const AssetTable& table) {
  std::vector<std::string> out;
  r.scalar_or_list(f, [&](const std::string& network, const YAML::Node& node) {
    if (!table.has_network(network)) {
      r.fail(node, f.where + ": network '" + network +
                       "' has no entry in the asset table (add it under assets:)");
    }
    if (std::find(out.begin(), out.end(), network) != out.end()) {
      r.fail(node, f.where + " lists '" + network + "' twice");
    }
    out.push_back(network);
  });
  return out;
}

CapSet read_caps(const YamlReader& r, const Field& f, const AssetTable& table,
                 std::string_view key_prefix) {
  r.expect_map(f);
  r.only_keys(f.value, f.where, {"per_request", "budgets"});
  CapSet caps;
  caps.where = f.where;
  if (const Field per = r.field(f.value, f.where, "per_request")) {
    caps.per_request = read_amounts(r, per, table);
  }
  if (const Field budgets = r.field(f.value, f.where, "budgets")) {
    caps.budgets = read_budgets(r, budgets, table, key_prefix);
  }
  return caps;
}

}  // namespace flow::policy
