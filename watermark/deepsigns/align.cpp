#include "watermark/deepsigns/align.h"

#include <cmath>
#include <limits>

#include "engine/ops.h"
#include "watermark/verify/stats.h"

namespace signet {

std::vector<int64_t> optimal_assignment(const Tensor& cost) {
  SIGNET_CHECK(cost.defined() && cost.dim() == 2 && cost.size(0) == cost.size(1),
               "optimal_assignment needs a square cost matrix, got {}", cost.defined() ? cost.str() : "undefined");
  const int64_t n = cost.size(0);
  if (n == 0) return {};
  std::vector<double> a(static_cast<size_t>(n * n));
  if (cost.dtype() == DType::F32) {
    const std::vector<float> v = cost.to_vector();
    for (size_t i = 0; i < a.size(); ++i) a[i] = v[i];
  } else {
    const std::vector<int64_t> v = cost.to_vector_i64();
    for (size_t i = 0; i < a.size(); ++i) a[i] = static_cast<double>(v[i]);
  }
  for (double x : a) SIGNET_CHECK(std::isfinite(x), "optimal_assignment: the cost matrix holds {}", x);

  // Hungarian algorithm with potentials (Kuhn-Munkres in the Jonker-Volgenant shortest
  // augmenting path form): rows are added one at a time; each addition is a Dijkstra-like
  // search over columns with reduced costs a[i][j] - u[i] - v[j] >= 0, O(n^2) per row.
  // Index 0 is a virtual column/row (1-based arrays), as in the classic formulation.
  const double inf = std::numeric_limits<double>::infinity();
  std::vector<double> u(n + 1, 0.0), v(n + 1, 0.0), minv(n + 1);
  std::vector<int64_t> p(n + 1, 0), way(n + 1, 0);  // p[j]: row matched to column j
  std::vector<char> used(n + 1);
  for (int64_t i = 1; i <= n; ++i) {
    p[0] = i;
    int64_t j0 = 0;
    std::fill(minv.begin(), minv.end(), inf);
    std::fill(used.begin(), used.end(), 0);
    do {
      used[j0] = 1;
      const int64_t i0 = p[j0];
      const double* row = a.data() + (i0 - 1) * n;
      const double ui0 = u[i0];
      double delta = inf;
      int64_t j1 = 0;
      for (int64_t j = 1; j <= n; ++j) {
        if (used[j]) continue;
        const double cur = row[j - 1] - ui0 - v[j];
        if (cur < minv[j]) {
          minv[j] = cur;
          way[j] = j0;
        }
        if (minv[j] < delta) {
          delta = minv[j];
          j1 = j;
        }
      }
      for (int64_t j = 0; j <= n; ++j) {
        if (used[j]) {
          u[p[j]] += delta;
          v[j] -= delta;
        } else {
          minv[j] -= delta;
        }
      }
      j0 = j1;
    } while (p[j0] != 0);
    do {  // flip the augmenting path
      const int64_t j1 = way[j0];
      p[j0] = p[j1];
      j0 = j1;
    } while (j0 != 0);
  }
  std::vector<int64_t> assign(n, -1);
  for (int64_t j = 1; j <= n; ++j) assign[p[j] - 1] = j - 1;
  return assign;
}

namespace {
// cost[j][k] = || R[:, group j] - S[:, group k] ||^2 for `units` groups of M / units adjacent
// columns (a Conv2d channel owns its H*W flattened positions). |R|^2 + |S|^2 - 2 R.S, with the
// cross term from one matmul; accumulated per group in double.
Tensor unit_distance(const Tensor& R, const Tensor& S, int64_t units) {
  const int64_t K = R.size(0), M = R.size(1), g = M / units;
  NoGradGuard ng;
  const Tensor Rc = R.contiguous(), Sc = S.contiguous();
  std::vector<double> rn(M, 0.0), sn(M, 0.0);
  for (int64_t k = 0; k < K; ++k)
    for (int64_t m = 0; m < M; ++m) {
      const double r = Rc.f32()[k * M + m], s = Sc.f32()[k * M + m];
      rn[m] += r * r;
      sn[m] += s * s;
    }
  Tensor cost = Tensor::zeros({units, units});
  if (g == 1) {
    const Tensor cross = matmul(transpose(Rc, 0, 1), Sc).contiguous();  // [M, M]
    for (int64_t j = 0; j < M; ++j)
      for (int64_t k = 0; k < M; ++k)
        cost.f32()[j * M + k] = static_cast<float>(std::max(0.0, rn[j] + sn[k] - 2.0 * cross.f32()[j * M + k]));
    return cost;
  }
  // Grouped (channels): sum over the positions of the channel pair.
  for (int64_t j = 0; j < units; ++j)
    for (int64_t k = 0; k < units; ++k) {
      double d = 0;
      for (int64_t q = 0; q < g; ++q) {
        const int64_t cj = j * g + q, ck = k * g + q;
        double dot = 0;
        for (int64_t n = 0; n < K; ++n) dot += double(Rc.f32()[n * M + cj]) * Sc.f32()[n * M + ck];
        d += rn[cj] + sn[ck] - 2.0 * dot;
      }
      cost.f32()[j * units + k] = static_cast<float>(std::max(0.0, d));
    }
  return cost;
}
}  // namespace

std::vector<int64_t> align_unit_groups(const Tensor& reference, const Tensor& suspect, int64_t units) {
  SIGNET_CHECK(reference.defined() && suspect.defined() && reference.dim() == 2 && reference.shape() == suspect.shape(),
               "align_units: reference and suspect activations must both be [K, M], got {} and {}",
               reference.defined() ? shape_str(reference.shape()) : "undefined",
               suspect.defined() ? shape_str(suspect.shape()) : "undefined");
  SIGNET_CHECK(reference.dtype() == DType::F32 && suspect.dtype() == DType::F32,
               "align_units: activations must be float32");
  SIGNET_CHECK(units >= 1 && reference.size(1) % units == 0, "align_units: {} features do not split into {} units",
               reference.size(1), units);
  return optimal_assignment(unit_distance(reference, suspect, units));
}

std::vector<int64_t> align_units(const Tensor& reference, const Tensor& suspect) {
  return align_unit_groups(reference, suspect, reference.defined() && reference.dim() == 2 ? reference.size(1) : 1);
}

HiddenEvidence extract_hidden_aligned(Model& suspect, const HiddenKeys& keys, const Tensor& reference,
                                      std::vector<int64_t>* perm_out) {
  AlignedExtraction r = align_and_extract(suspect, keys, reference);
  if (perm_out) *perm_out = std::move(r.perm);
  return r.evidence;
}

AlignedExtraction align_and_extract(Model& suspect, const HiddenKeys& keys, const Tensor& reference) {
  const Tensor S = get_activations(suspect, keys.key_inputs, keys.norm, keys.layer).contiguous();
  const int64_t K = S.size(0), M = S.size(1);
  SIGNET_CHECK(M == keys.A.size(0), "layer '{}' has {} features but the keys were made for {}", keys.layer, M,
               keys.A.size(0));
  SIGNET_CHECK(reference.defined() && reference.dim() == 2 && reference.size(0) == K && reference.size(1) == M,
               "the reference activations are {}, the suspect's layer '{}' on the {} key inputs gives [{}, {}] "
               "(reference from another layer or other keys?)",
               reference.defined() ? shape_str(reference.shape()) : "missing", keys.layer, K, K, M);
  SIGNET_CHECK(reference.dtype() == DType::F32, "the reference activations must be float32, got {}", reference.str());
  const Tensor ref = reference.contiguous();
  // Units of the layer: a Conv2d tap [N, C, H, W] is flattened channel-major, so a permuted
  // channel moves its H*W positions together; align channels, not positions.
  int64_t units = M;
  {
    NoGradGuard ng;
    suspect.net->eval();
    Taps taps;
    taps.wanted.insert(keys.layer);
    suspect(normalise_inputs(keys.key_inputs.narrow_view(0, 0, 1), keys.norm), &taps);
    const Tensor& t = taps.require(keys.layer);
    if (t.dim() > 2) units = t.size(1);
  }
  const std::vector<int64_t> unit_perm = align_unit_groups(ref, S, units);
  const int64_t g = M / units;
  AlignedExtraction out;
  out.units = units;
  double num = 0, den = 0;
  for (int64_t n = 0; n < K; ++n)
    for (int64_t j = 0; j < units; ++j)
      for (int64_t q = 0; q < g; ++q) {
        const double r = ref.f32()[n * M + j * g + q], d = r - S.f32()[n * M + unit_perm[j] * g + q];
        num += d * d;
        den += r * r;
      }
  out.residual = den > 0 ? num / den : (num > 0 ? INFINITY : 0.0);
  // Aligned class means: column j*g+q of the aligned layer is suspect column unit_perm[j]*g+q.
  const int64_t s = static_cast<int64_t>(keys.classes.size());
  Tensor means = Tensor::zeros({s, M});
  for (int64_t c = 0; c < s; ++c) {
    int64_t count = 0;
    for (int64_t n = 0; n < K; ++n) {
      if (keys.key_labels.i64()[n] != keys.classes[c]) continue;
      ++count;
      for (int64_t j = 0; j < units; ++j)
        for (int64_t q = 0; q < g; ++q) means.f32()[c * M + j * g + q] += S.f32()[n * M + unit_perm[j] * g + q];
    }
    SIGNET_CHECK(count > 0, "the keys hold no trigger input of class {}", keys.classes[c]);
    for (int64_t m = 0; m < M; ++m) means.f32()[c * M + m] /= static_cast<float>(count);
  }
  HiddenEvidence& ev = out.evidence;
  ev.extracted = extract_WM_from_activations(means, keys.A);
  for (float v : keys.b.to_vector()) ev.signature.push_back(v > 0.5f ? 1 : 0);
  ev.ber = compute_BER(ev.extracted, ev.signature);
  ev.total = static_cast<int64_t>(ev.signature.size());
  ev.matches = ev.total - static_cast<int64_t>(std::llround(ev.ber * ev.total));
  ev.p_value = match_p_value(ev.total, ev.matches);
  out.perm = unit_perm;
  return out;
}

}  // namespace signet
