// The levels of the aggregation multigrid (aggregation.hpp, aggregation_cycle.hpp) against plain
// references in double: on every level, the operator and one Gauss-Seidel sweep, forward and
// backward, colour by colour. The guidance is clipped noise, whose coarse levels hold nodes with
// more edges than the padded columns. Built and run by tools/sanitize.sh; prints "ok" or what
// failed, and exits with 1 on a failure.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <random>
#include <vector>

#include "aggregation_cycle.hpp"

using pyscale::AggCycle;
using pyscale::AggHierarchy;
using pyscale::AggLevel;

namespace {

double diagonal(const AggLevel& a, double tau, std::size_t i) { return a.mass[i] + tau * a.deg[i]; }

// sum over the edges (i, j) of |w_ij x_j| (abs) or w_ij x_j, from the CSR rows
template <class V>
double neighbours(const AggLevel& a, std::size_t i, const V& x, bool abs) {
  double s = 0.0;
  for (auto e = static_cast<std::size_t>(a.ptr[i]); e < static_cast<std::size_t>(a.ptr[i + 1]);
       ++e) {
    const double t = a.w[e] * x[static_cast<std::size_t>(a.col[e])];
    s += abs ? std::fabs(t) : t;
  }
  return s;
}

// The colours of level l in sweep order: the parities of i + j on the pixel grid, the ranges of
// AggLevel::colours on the coarser levels.
std::vector<std::vector<std::size_t>> colours(const AggLevel& a, std::size_t l, bool forward) {
  std::vector<std::vector<std::size_t>> groups;
  if (l == 0) {
    groups.resize(2);
    for (std::size_t p = 0; p < a.size(); ++p) groups[(p / a.nx + p % a.nx) % 2].push_back(p);
  } else {
    for (std::size_t c = 0; c + 1 < a.colours.size(); ++c) {
      groups.emplace_back();
      for (auto i = static_cast<std::size_t>(a.colours[c]);
           i < static_cast<std::size_t>(a.colours[c + 1]); ++i)
        groups.back().push_back(i);
    }
  }
  if (!forward) std::reverse(groups.begin(), groups.end());
  return groups;
}

bool check(const char* what, std::size_t l, double tau, const std::vector<float>& got,
           const std::vector<double>& want, const std::vector<double>& scale) {
  for (std::size_t i = 0; i < got.size(); ++i)
    if (!(std::fabs(got[i] - want[i]) <= 1e-5 * scale[i])) {
      std::printf("FAIL %s, level %zu, tau %g, node %zu: %.9g against %.9g\n", what, l, tau, i,
                  static_cast<double>(got[i]), want[i]);
      return false;
    }
  return true;
}

bool check_level(AggCycle& cycle, const AggLevel& a, std::size_t l, double tau, std::mt19937& gen) {
  std::uniform_real_distribution<float> uniform(-1.0f, 1.0f);
  const std::size_t n = a.size();
  std::vector<float> x(n), r(n), y(n);
  for (std::size_t i = 0; i < n; ++i) {
    x[i] = uniform(gen);
    r[i] = uniform(gen);
  }
  // the operator, each value against the size of its terms
  std::vector<double> want(n), scale(n);
  for (std::size_t i = 0; i < n; ++i) {
    want[i] = diagonal(a, tau, i) * x[i] - tau * neighbours(a, i, x, false);
    scale[i] = diagonal(a, tau, i) * std::fabs(x[i]) + tau * neighbours(a, i, x, true);
  }
  cycle.matvec(l, x.data(), y.data());
  if (!check("operator", l, tau, y, want, scale)) return false;
  // a sweep in each direction, against the largest value of the result
  for (bool forward : {true, false}) {
    std::vector<double> ref(x.begin(), x.end());
    for (const auto& group : colours(a, l, forward))
      for (std::size_t i : group)
        ref[i] = (r[i] + tau * neighbours(a, i, ref, false)) / diagonal(a, tau, i);
    std::vector<float> swept = x;
    cycle.sweep(l, r.data(), swept.data(), forward);
    double top = 0.0;
    for (double t : ref) top = std::max(top, std::fabs(t));
    if (!check(forward ? "forward sweep" : "backward sweep", l, tau, swept, ref,
               std::vector<double>(n, top)))
      return false;
  }
  return true;
}

}  // namespace

int main() {
  const std::size_t ny = 61, nx = 67;
  std::mt19937 gen(5);
  std::uniform_real_distribution<double> uniform(0.5, 1.5);
  std::normal_distribution<double> normal(0.0, 0.1);
  std::vector<double> v(ny * nx);
  for (double& t : v) t = std::max(0.05 * uniform(gen) + normal(gen), 1e-6);
  const AggHierarchy h(v.data(), ny, nx);
  const std::vector<AggLevel>& levels = h.levels();
  std::size_t long_rows = 0;
  for (std::size_t l = 1; l < levels.size(); ++l) long_rows += levels[l].long_rows.size();
  if (levels.size() < 3 || long_rows == 0) {
    std::printf("FAIL the guidance gives %zu levels and %zu nodes with more than %zu edges\n",
                levels.size(), long_rows, AggLevel::kPadded);
    return 1;
  }
  for (double tau : {0.5, 1000.0}) {
    AggCycle cycle(h, tau);
    for (std::size_t l = 0; l < levels.size(); ++l)
      if (!check_level(cycle, levels[l], l, tau, gen)) return 1;
  }
  std::printf("aggregation levels: ok (%zu levels, %zu nodes with more than %zu edges)\n",
              levels.size(), long_rows, AggLevel::kPadded);
  return 0;
}
