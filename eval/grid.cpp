#include "eval/grid.h"

#include <fmt/format.h>

#include <algorithm>

#include "models/registry.h"

namespace signet::eval {

namespace {
bool names(const std::vector<std::string>& list, const std::string& a, const std::string& b = "") {
  return list.empty() || std::find(list.begin(), list.end(), a) != list.end() ||
         (!b.empty() && std::find(list.begin(), list.end(), b) != list.end());
}
}  // namespace

std::vector<Variant> variants_of(const SchemeSpec& s) {
  std::vector<Variant> out;
  const SchemeInfo& info = s.impl->info();
  const std::vector<int64_t>& ns = s.sizes;
  for (int64_t n : ns) {
    Variant v{&s, n, "", s.params};
    v.params.set(info.size_option, std::to_string(n));
    if (!s.label.empty()) {
      v.label = ns.size() > 1 ? fmt::format("{} {}={}", s.label, info.size_symbol, n) : s.label;
    } else {
      // A scheme that can train with its mark says when it was fine-tuned in instead.
      std::string note = s.impl->variant_note(v.params);
      if (note.empty() && info.from_scratch && s.from == "base") note = "fine-tuned";
      v.label = fmt::format("{} {}={}{}", info.short_label, info.size_symbol, n, note.empty() ? "" : " (" + note + ")");
    }
    out.push_back(v);
  }
  return out;
}

SchemeParams model_params(const Variant& v, const std::string& model) {
  SchemeParams p = v.params;
  v.spec->impl->model_defaults(p, model);
  return p;
}

std::string mark_layer(const Variant& v, const std::string& model) {
  return v.spec->impl->layer(model_params(v, model), model);
}

std::vector<Cell> expand_grid(const Config& c) {
  std::vector<Cell> cells;
  for (const ModelSpec& m : c.models) {
    const std::vector<uint64_t>& seeds = m.seeds.empty() ? c.seeds : m.seeds;
    for (const SchemeSpec& s : c.schemes) {
      if (!names(s.models, m.label)) continue;
      for (const Variant& v : variants_of(s)) {
        for (uint64_t seed : seeds) {
          Cell base{&m, v, seed, nullptr, 0, nullptr, 0};
          if (c.kind == "overhead") {
            cells.push_back(base);
            continue;
          }
          for (const AttackSpec& a : c.attacks) {
            if (!names(a.models, m.label) || !names(a.schemes, s.scheme, v.label)) continue;
            if (oracle_attack(a.attack) && !s.impl->info().black_box) continue;
            Cell cell = base;
            cell.attack = &a;
            if (a.attack == "unmarked") {
              for (uint64_t ss : a.same_seeds) {
                cell.suspect = &m;
                cell.suspect_seed = ss;
                cells.push_back(cell);
              }
              for (const ModelSpec& other : c.models) {
                if (other.label == m.label || !names(a.other_models, other.label)) continue;
                for (uint64_t os : a.other_seeds) {
                  cell.suspect = &other;
                  cell.suspect_seed = os;
                  cells.push_back(cell);
                }
              }
              continue;
            }
            std::vector<double> strengths = a.strengths;
            std::stable_sort(strengths.begin(), strengths.end());
            strengths.erase(std::unique(strengths.begin(), strengths.end()), strengths.end());
            for (double st : strengths) {
              cell.strength = st;
              cells.push_back(cell);
            }
          }
        }
      }
    }
  }
  return cells;
}

std::string attack_name(const Cell& cell) {
  if (!cell.attack) return "none";
  // Distillation from labels and from scores are different threats: two names in the results.
  if (cell.attack->attack == "distill") return "distill-" + cell.attack->answers;
  return cell.attack->attack;
}

std::string describe_cell(const Cell& cell) {
  std::string s = fmt::format("{} | {} | seed {}", cell.model->label, cell.wm.label, cell.seed);
  if (!cell.attack) return s + " | overhead";
  const std::string a = attack_name(cell);
  if (a == "unmarked") return s + fmt::format(" | unmarked suspect {}-s{}", cell.suspect->label, cell.suspect_seed);
  if (a == "none" || a == "permute" || a == "control") return s + " | " + a;
  return s + fmt::format(" | {} {}", a, cell.strength);
}

}  // namespace signet::eval
