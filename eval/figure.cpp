#include "eval/figure.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <tuple>
#include <cstdlib>
#include <filesystem>
#include <map>

#include "engine/serialize/atomic_file.h"

namespace signet::eval {

namespace fs = std::filesystem;

namespace {
std::string q(const std::string& s) {  // a gnuplot double-quoted string
  std::string out = "\"";
  for (char ch : s) {
    if (ch == '"' || ch == '\\') out += '\\';
    out += ch;
  }
  return out + "\"";
}
std::string shq(const std::string& s) {  // a shell single-quoted word
  std::string out = "'";
  for (char ch : s) out += ch == '\'' ? std::string("'\\''") : std::string(1, ch);
  return out + "'";
}
bool is_accuracy(const std::string& col) { return col.find("accuracy") != std::string::npos; }
std::string pretty(const std::string& col) {
  std::string s = col;
  std::replace(s.begin(), s.end(), '_', ' ');
  return is_accuracy(col) ? s + " (%)" : s;
}
std::string num(double v) { return std::isnan(v) ? "NaN" : fmt::format("{:.8g}", v); }

template <typename T>
size_t index_of(std::vector<T>& v, const T& x) {
  auto it = std::find(v.begin(), v.end(), x);
  if (it != v.end()) return static_cast<size_t>(it - v.begin());
  v.push_back(x);
  return v.size() - 1;
}

struct Acc {
  double y = 0, y2 = 0, t = 0;
  int ny = 0, ny2 = 0, nt = 0;
  void add(double a, double b, double c) {
    if (!std::isnan(a)) y += a, ++ny;
    if (!std::isnan(b)) y2 += b, ++ny2;
    if (!std::isnan(c)) t += c, ++nt;
  }
};
}  // namespace

bool have_gnuplot() { return std::system("command -v gnuplot >/dev/null 2>&1") == 0; }

std::string figure_script(const Config& c, const std::vector<Row>& rows, const std::string& work_dir,
                          const std::string& terminal, const std::string& output) {
  const FigureSpec& f = c.figure;
  std::vector<std::string> prow, pcol, series, xcats;
  // (panel row, panel col, series) -> x -> accumulated values, x in first-seen order
  std::map<std::tuple<size_t, size_t, size_t>, std::vector<std::pair<std::string, Acc>>> data;
  std::map<std::pair<size_t, size_t>, std::pair<double, double>> thr_range;  // panel -> (min, max) threshold
  const double yscale = is_accuracy(f.y) ? 100 : 1, y2scale = is_accuracy(f.y2) ? 100 : 1;
  for (const Row& r : rows) {
    if (!row_matches(r, f.where)) continue;
    const size_t pr = index_of(prow, f.rows.empty() ? std::string() : cell_text(r, f.rows));
    const size_t pc = index_of(pcol, f.cols.empty() ? std::string() : cell_text(r, f.cols));
    std::string label;
    for (const std::string& s : f.series) label += (label.empty() ? "" : ", ") + cell_text(r, s);
    const size_t si = index_of(series, label);
    const std::string x = cell_text(r, f.x);
    if (f.categorical_x) index_of(xcats, x);
    auto& pts = data[{pr, pc, si}];
    auto it = std::find_if(pts.begin(), pts.end(), [&](const auto& p) { return p.first == x; });
    if (it == pts.end()) it = pts.insert(pts.end(), {x, Acc{}});
    const double thr = f.threshold ? cell_number(r, "threshold") * yscale : kNaN;
    it->second.add(cell_number(r, f.y) * yscale, f.y2.empty() ? kNaN : cell_number(r, f.y2) * y2scale, thr);
    if (!std::isnan(thr)) {
      auto [tr, fresh] = thr_range.try_emplace({pr, pc}, thr, thr);
      if (!fresh) tr->second = {std::min(tr->second.first, thr), std::max(tr->second.second, thr)};
    }
  }
  if (data.empty()) return "";
  bool nonnegative = true;  // then the y axis starts at 0 (a mismatch count or a BER near its threshold)
  for (const auto& [key, pts] : data)
    for (const auto& [x, a] : pts) nonnegative = nonnegative && (a.ny == 0 || a.y >= 0);
  // The data file: one block per (panel, series), x sorted.
  std::string dat;
  std::map<std::tuple<size_t, size_t, size_t>, int> block;
  int nblock = 0;
  for (auto& [key, pts] : data) {
    auto xpos = [&](const std::string& x) {
      return f.categorical_x ? static_cast<double>(index_of(xcats, x)) : std::strtod(x.c_str(), nullptr);
    };
    std::stable_sort(pts.begin(), pts.end(), [&](const auto& a, const auto& b) { return xpos(a.first) < xpos(b.first); });
    // Boxes: side by side among the series present in this panel.
    size_t rank = 0, present = 0;
    for (size_t k = 0; k < series.size(); ++k) {
      if (!data.count({std::get<0>(key), std::get<1>(key), k})) continue;
      if (k < std::get<2>(key)) ++rank;
      ++present;
    }
    const double width = f.style == "boxes" ? 0.8 / static_cast<double>(present) : 0;
    const double shift = f.style == "boxes" ? (static_cast<double>(rank) - (present - 1) / 2.0) * width : 0;
    for (const auto& [x, a] : pts)
      dat += fmt::format("{} {} {} {} {} {}\n", num(xpos(x) + shift), a.ny ? num(a.y / a.ny) : "NaN",
                         a.ny2 ? num(a.y2 / a.ny2) : "NaN", a.nt ? num(a.t / a.nt) : "NaN", q(x), num(xpos(x)));
    dat += "\n\n";
    block[key] = nblock++;
  }
  fs::create_directories(work_dir);
  const std::string datfile = work_dir + "/figure.dat";
  write_file_atomic(datfile, dat);

  const size_t R = prow.size(), C = pcol.size();
  std::string s = fmt::format("set terminal {} size {},{} noenhanced font ',10'\nset output {}\n", terminal,
                              std::max<size_t>(1, C) * 560, std::max<size_t>(1, R) * 430 + 40, q(output));
  s += "set datafile missing 'NaN'\nset grid\nset key below horizontal font ',9' spacing 1.1 samplen 2\n";
  s += fmt::format("set multiplot layout {},{} title {}\n", R, C, q(f.title.empty() ? c.title : f.title));
  if (f.style == "boxes") s += "set style fill solid 0.6 border -1\n";
  for (size_t pr = 0; pr < R; ++pr) {
    for (size_t pc = 0; pc < C; ++pc) {
      std::string title = prow[pr];
      if (!pcol[pc].empty()) title += (title.empty() ? "" : " | ") + pcol[pc];
      // Categorical x: the tics name the categories (a label would collide with rotated tics).
      s += fmt::format("set title {}\nset xlabel {}\nset ylabel {}\n", q(title),
                       q(f.categorical_x ? "" : (f.xlabel.empty() ? pretty(f.x) : f.xlabel)),
                       q(f.ylabel.empty() ? pretty(f.y) : f.ylabel));
      s += f.logx ? "set logscale x 2\n" : "unset logscale x\n";
      if (f.yrange.size() == 2) s += fmt::format("set yrange [{}:{}]\n", f.yrange[0], f.yrange[1]);
      else s += nonnegative ? "set yrange [0:*]\n" : "set autoscale y\n";
      if (f.categorical_x) {
        std::string tics;
        for (size_t i = 0; i < xcats.size(); ++i) tics += fmt::format("{}{} {}", i ? ", " : "", q(xcats[i]), i);
        s += fmt::format("set xtics ({}) rotate by -30\nset xrange [-0.6:{}]\n", tics, xcats.size() - 0.4);
      } else {
        s += "set xtics autofreq norotate\nset autoscale x\n";
      }
      if (!f.y2.empty()) {
        s += fmt::format("set y2label {}\nset y2tics\nset ytics nomirror\n",
                         q(f.y2label.empty() ? pretty(f.y2) : f.y2label));
      } else {
        s += "unset y2label\nunset y2tics\nset ytics mirror\n";
      }
      std::vector<std::string> plots;
      int first = -1;
      size_t present = 0;
      for (size_t si = 0; si < series.size(); ++si) present += block.count({pr, pc, si});
      if (f.style == "boxes" && present) s += fmt::format("set boxwidth {}\n", 0.8 / present);
      for (size_t si = 0; si < series.size(); ++si) {
        auto it = block.find({pr, pc, si});
        if (it == block.end()) continue;
        if (first < 0) first = it->second;
        const std::string name = series[si].empty() ? pretty(f.y) : series[si];
        const std::string style = f.style == "boxes" ? "boxes" : (f.style == "points" ? "points pt 7 ps 1.2" : "linespoints lw 2 pt 7");
        plots.push_back(fmt::format("{} index {} using 1:2 with {} lc {} title {}", q(datfile), it->second, style,
                                    si + 1, q(name)));
        if (f.style == "boxes")  // the value over each bar (a zero is otherwise invisible)
          plots.push_back(fmt::format("{} index {} using 1:2:(sprintf('%.3g', $2)) with labels offset 0,0.6 font ',8' "
                                      "notitle", q(datfile), it->second));
        if (!f.y2.empty())
          plots.push_back(fmt::format("{} index {} using 1:3 axes x1y2 with linespoints dt 3 pt 6 lc {} title {}",
                                      q(datfile), it->second, si + 1, q(name + " (" + pretty(f.y2) + ")")));
      }
      // A threshold that is the same across the panel is drawn as a horizontal line.
      const auto tr = thr_range.find({pr, pc});
      if (f.threshold && first >= 0 && tr != thr_range.end())
        plots.push_back(tr->second.first == tr->second.second
                            ? fmt::format("{} with lines dt 2 lw 2 lc rgb '#2ca02c' title 'threshold'", num(tr->second.first))
                            : fmt::format("{} index {} using 6:4 with lines dt 2 lw 2 lc rgb '#2ca02c' title 'threshold'",
                                          q(datfile), first));
      s += plots.empty() ? "set multiplot next\n" : "plot " + fmt::format("{}", fmt::join(plots, ", \\\n     ")) + "\n";
    }
  }
  s += "unset multiplot\n";
  return s;
}

std::vector<std::string> draw_figure(const Config& c, const std::vector<Row>& rows, const std::string& base,
                                     const std::string& work_dir) {
  std::vector<std::string> written;
  if (!c.figure.enabled) return written;
  if (!have_gnuplot()) {
    std::fprintf(stderr, "signet: gnuplot not found (apt-get install gnuplot-nox): report written without its figure\n");
    return written;
  }
  fs::create_directories(fs::path(base).parent_path().empty() ? "." : fs::path(base).parent_path());
  for (const auto& [terminals, ext] : std::vector<std::pair<std::vector<std::string>, std::string>>{
           {{"pngcairo", "png"}, "png"}, {{"svg"}, "svg"}}) {
    const std::string out = base + "." + ext, tmp = out + ".tmp";
    bool ok = false;
    for (const std::string& term : terminals) {
      const std::string script = figure_script(c, rows, work_dir, term, tmp);
      if (script.empty()) return written;
      const std::string gp = work_dir + "/figure-" + ext + ".gp";
      write_file_atomic(gp, script);
      const std::string cmd = "gnuplot " + shq(gp) + " 2>" + shq(work_dir + "/gnuplot-" + ext + ".log");
      if (std::system(cmd.c_str()) == 0 && fs::exists(tmp) && fs::file_size(tmp) > 0) {
        fs::rename(tmp, out);
        written.push_back(out);
        ok = true;
        break;
      }
    }
    if (!ok) {
      std::error_code ec;
      fs::remove(tmp, ec);
      std::fprintf(stderr, "signet: gnuplot could not draw %s (see %s/gnuplot-%s.log)\n", out.c_str(),
                   work_dir.c_str(), ext.c_str());
    }
  }
  return written;
}

}  // namespace signet::eval
