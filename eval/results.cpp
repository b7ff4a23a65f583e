#include "eval/results.h"

#include <fmt/format.h>

#include <cstdlib>
#include <filesystem>

#include "engine/error.h"
#include "engine/serialize/atomic_file.h"
#include "engine/serialize/file_read.h"
#include "engine/serialize/untrusted_json.h"

namespace signet::eval {

namespace {
enum class Kind { Text, Int, Num, Bool };
struct Col {
  const char* name;
  Kind kind;
};
const std::vector<Col>& cols() {
  static const std::vector<Col> c = {
      {"config", Kind::Text},          {"dataset", Kind::Text},         {"model", Kind::Text},
      {"scheme", Kind::Text},          {"watermark", Kind::Text},       {"bits", Kind::Int},
      {"keys", Kind::Int},             {"attack", Kind::Text},          {"strength", Kind::Num},
      {"seed", Kind::Int},             {"extraction", Kind::Text},      {"suspect", Kind::Text},
      {"test_accuracy", Kind::Num},    {"marked_accuracy", Kind::Num},  {"unmarked_accuracy", Kind::Num},
      {"metric", Kind::Text},          {"value", Kind::Num},            {"threshold", Kind::Num},
      {"p_value", Kind::Num},          {"detected", Kind::Bool},        {"attack_success", Kind::Bool},
      {"seconds", Kind::Num},          {"embed_seconds", Kind::Num},    {"baseline_seconds", Kind::Num},
      {"note", Kind::Text}};
  return c;
}

// Pointers into a row by column name (one place that knows the layout).
struct Ref {
  std::string* s = nullptr;
  int64_t* i = nullptr;
  uint64_t* u = nullptr;
  double* d = nullptr;
  int* b = nullptr;
};
Ref ref(Row& r, const std::string& c) {
  if (c == "config") return {&r.config};
  if (c == "dataset") return {&r.dataset};
  if (c == "model") return {&r.model};
  if (c == "scheme") return {&r.scheme};
  if (c == "watermark") return {&r.watermark};
  if (c == "bits") return {nullptr, &r.bits};
  if (c == "keys") return {nullptr, &r.keys};
  if (c == "attack") return {&r.attack};
  if (c == "strength") return {nullptr, nullptr, nullptr, &r.strength};
  if (c == "seed") return {nullptr, nullptr, &r.seed};
  if (c == "extraction") return {&r.extraction};
  if (c == "suspect") return {&r.suspect};
  if (c == "test_accuracy") return {nullptr, nullptr, nullptr, &r.test_accuracy};
  if (c == "marked_accuracy") return {nullptr, nullptr, nullptr, &r.marked_accuracy};
  if (c == "unmarked_accuracy") return {nullptr, nullptr, nullptr, &r.unmarked_accuracy};
  if (c == "metric") return {&r.metric};
  if (c == "value") return {nullptr, nullptr, nullptr, &r.value};
  if (c == "threshold") return {nullptr, nullptr, nullptr, &r.threshold};
  if (c == "p_value") return {nullptr, nullptr, nullptr, &r.p_value};
  if (c == "detected") return {nullptr, nullptr, nullptr, nullptr, &r.detected};
  if (c == "attack_success") return {nullptr, nullptr, nullptr, nullptr, &r.attack_success};
  if (c == "seconds") return {nullptr, nullptr, nullptr, &r.seconds};
  if (c == "embed_seconds") return {nullptr, nullptr, nullptr, &r.embed_seconds};
  if (c == "baseline_seconds") return {nullptr, nullptr, nullptr, &r.baseline_seconds};
  if (c == "note") return {&r.note};
  throw Error(fmt::format("unknown result column '{}'", c));
}

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n\r") == std::string::npos) return s;
  std::string out = "\"";
  for (char ch : s) out += ch == '"' ? std::string("\"\"") : std::string(1, ch);
  return out + "\"";
}
}  // namespace

const std::vector<std::string>& column_names() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> n;
    for (const Col& c : cols()) n.push_back(c.name);
    return n;
  }();
  return names;
}

std::string cell_text(const Row& row, const std::string& column) {
  const Ref p = ref(const_cast<Row&>(row), column);
  if (p.s) return *p.s;
  if (p.i) return *p.i < 0 ? "" : std::to_string(*p.i);
  if (p.u) return std::to_string(*p.u);
  if (p.b) return *p.b < 0 ? "" : (*p.b ? "true" : "false");
  return std::isnan(*p.d) ? "" : fmt::format("{:.6g}", *p.d);
}

double cell_number(const Row& row, const std::string& column) {
  const Ref p = ref(const_cast<Row&>(row), column);
  if (p.i) return *p.i < 0 ? kNaN : static_cast<double>(*p.i);
  if (p.u) return static_cast<double>(*p.u);
  if (p.b) return *p.b < 0 ? kNaN : *p.b;
  if (p.d) return *p.d;
  char* end = nullptr;
  const double v = std::strtod(p.s->c_str(), &end);
  return (!p.s->empty() && end && *end == '\0') ? v : kNaN;
}

bool row_matches(const Row& r, const std::map<std::string, std::string>& match) {
  for (const auto& [col, want] : match) {
    const std::string have = cell_text(r, col);
    if (have == want) continue;
    char* end = nullptr;
    const double w = std::strtod(want.c_str(), &end);
    const bool numeric = !want.empty() && end && *end == '\0';
    const double h = cell_number(r, col);
    if (numeric && !std::isnan(h) && std::abs(h - w) <= 1e-9 * std::max(1.0, std::abs(w))) continue;
    if ((want == "1" && have == "true") || (want == "0" && have == "false")) continue;
    return false;
  }
  return true;
}

std::string rows_to_csv(const std::vector<Row>& rows) {
  std::string out;
  for (size_t i = 0; i < column_names().size(); ++i) out += (i ? "," : "") + column_names()[i];
  out += "\n";
  for (const Row& r : rows) {
    for (size_t i = 0; i < column_names().size(); ++i) out += (i ? "," : "") + csv_field(cell_text(r, column_names()[i]));
    out += "\n";
  }
  return out;
}

nlohmann::json rows_to_json(const std::vector<Row>& rows) {
  nlohmann::json arr = nlohmann::json::array();
  for (const Row& r : rows) {
    nlohmann::json o = nlohmann::json::object();
    for (const Col& c : cols()) {
      const std::string t = cell_text(r, c.name);
      if (c.kind == Kind::Text) o[c.name] = t;
      else if (t.empty()) o[c.name] = nullptr;
      else if (c.kind == Kind::Bool) o[c.name] = t == "true";
      else if (c.kind == Kind::Int) o[c.name] = std::stoll(t);
      else o[c.name] = cell_number(r, c.name);
    }
    arr.push_back(o);
  }
  return arr;
}

std::vector<Row> rows_from_json(const nlohmann::json& j) {
  SIGNET_CHECK(j.is_array(), "results JSON must be an array of rows");
  std::vector<Row> rows;
  for (const auto& o : j) {
    Row r;
    for (const Col& c : cols()) {
      if (!o.contains(c.name) || o[c.name].is_null()) continue;
      const Ref p = ref(r, c.name);
      const auto& v = o[c.name];
      if (p.s) *p.s = v.get<std::string>();
      else if (p.i) *p.i = v.get<int64_t>();
      else if (p.u) *p.u = v.get<uint64_t>();
      else if (p.b) *p.b = v.get<bool>() ? 1 : 0;
      else *p.d = v.get<double>();
    }
    rows.push_back(r);
  }
  return rows;
}

void write_results(const std::string& dir, const std::vector<Row>& rows) {
  std::filesystem::create_directories(dir);
  write_file_atomic(dir + "/results.csv", rows_to_csv(rows));
  write_file_atomic(dir + "/results.json", rows_to_json(rows).dump(1) + "\n");
}

std::vector<Row> read_results(const std::string& json_path) {
  const std::string text = read_file(json_path, file_kind::kReportData);
  require_json_depth(text, json_path);
  try {
    return rows_from_json(nlohmann::json::parse(text));
  } catch (const nlohmann::json::exception& e) {
    throw Error(fmt::format("{}: not a results file: {}", json_path, e.what()));
  }
}

}  // namespace signet::eval
