// Aggregation multigrid for the SPD form S = diag(v) + tau K of an implicit osmosis step, with
// aggregates chosen by their quality (Napov and Notay 2012) and a K-cycle (Notay and Vassilevski
// 2008). Pure C++: no Python types in this header.
//
// Every level holds a graph Laplacian K_l (edge weights w > 0) and a mass m_l; its operator is
// A_l = diag(m_l) + tau K_l. The next level merges the nodes into aggregates G, and with the
// piecewise constant prolongation P its Laplacian P^T K_l P is the graph of the aggregates: the
// weights of the edges between two aggregates add up, those inside one drop out. Its mass is
// P^T m_l. The aggregates depend on the guidance only (they are chosen on K_l), so one hierarchy
// serves every tau.
//
// The quality of an aggregate G is mu(G) = sup_x x^T N_G x / x^T K_G x, where K_G is the
// Laplacian of the edges inside G, D_G the diagonal of K_l on G and N_G = D_G - D_G 1 1^T D_G /
// (1^T D_G 1). The two-grid method with Jacobi-type smoothing converges at a rate bounded by the
// largest mu of the aggregates, whatever the weights, so aggregates are merged only while mu
// stays below kappa. A pair {i, j} has mu = (1 / d_i + 1 / d_j)^-1 / w_ij. Each level pairs the
// nodes, then pairs the pairs, and checks the union of two pairs exactly: kappa K_G - N_G must be
// positive semidefinite (both annihilate the constant, so the test runs on its complement).
//
// The counts this buys on clipped guidance, where the guidance varies by six orders of
// magnitude from pixel to pixel, are nearly flat in the size and in tau (docs, benchmarks page).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <numeric>
#include <vector>

namespace pyscale {

struct AggLevel {
  std::vector<std::int32_t> ptr, col;  // CSR rows of the edges, each edge in both of its rows
  std::vector<double> w;               // the edge weights (> 0)
  std::vector<double> deg;             // the weighted degree: the diagonal of K_l
  std::vector<double> mass;            // m_l
  std::vector<std::int32_t> agg;       // the aggregate of each node (empty on the coarsest level)
  // The finest level is also an ny x nx five-point grid: the weights of the edge from each pixel
  // to its east and its south neighbour (0 past the border), in single precision for the cycle.
  std::size_t ny = 0, nx = 0;
  std::vector<float> east32, south32;
  // The coarser levels for the cycle: the nodes are numbered colour by colour (colour c holds
  // nodes colours[c] to colours[c + 1] - 1, no two of them joined by an edge), and the first
  // kPadded edges of every row are stored column by column in single precision (edge t of node i
  // at t * size() + i), padded with zero weights to the node itself, so that a product or a sweep
  // runs over the nodes in vector lanes. The rows with more edges (about one in a hundred) are
  // listed in long_rows; their further edges follow in w32.
  static constexpr std::size_t kPadded = 8;
  std::vector<std::int32_t> colours, ell_col, long_rows;
  std::vector<float> ell_w, w32;
  std::size_t size() const { return mass.size(); }

  // The single-precision weights of a coarse level.
  void pad_rows() {
    const std::size_t n = size();
    w32.assign(w.begin(), w.end());
    ell_col.assign(kPadded * n, 0);
    ell_w.assign(kPadded * n, 0.0f);
    long_rows.clear();
    for (std::size_t i = 0; i < n; ++i) {
      const auto e0 = static_cast<std::size_t>(ptr[i]), e1 = static_cast<std::size_t>(ptr[i + 1]);
      if (e1 - e0 > kPadded) long_rows.push_back(static_cast<std::int32_t>(i));
      for (std::size_t t = 0; t < kPadded; ++t) {
        const bool edge = e0 + t < e1;
        ell_col[t * n + i] = edge ? col[e0 + t] : static_cast<std::int32_t>(i);
        ell_w[t * n + i] = edge ? w32[e0 + t] : 0.0f;
      }
    }
  }

  // sum over the edges of node i past the first kPadded of w_ij x_j
  float further_neighbours(std::size_t i, const float* x) const {
    float s = 0.0f;
    for (std::int32_t e = ptr[i] + static_cast<std::int32_t>(kPadded); e < ptr[i + 1]; ++e)
      s += w32[static_cast<std::size_t>(e)] * x[col[static_cast<std::size_t>(e)]];
    return s;
  }
};

namespace agg_detail {

// The Laplacian of the five-point graph of an ny x nx image with the edge weights
// 2 v_p v_q / (v_p + v_q), and the mass v.
template <class T>
AggLevel image_level(const T* v, std::size_t ny, std::size_t nx) {
  AggLevel a;
  const std::size_t n = ny * nx;
  a.ny = ny;
  a.nx = nx;
  a.east32.assign(n, 0.0f);
  a.south32.assign(n, 0.0f);
  a.ptr.assign(n + 1, 0);
  a.col.reserve(4 * n);
  a.w.reserve(4 * n);
  a.mass.assign(v, v + n);
  a.deg.assign(n, 0.0);
  auto weight = [&](std::size_t p, std::size_t q) {
    const double vp = static_cast<double>(v[p]), vq = static_cast<double>(v[q]);
    return 2.0 * vp * vq / (vp + vq);
  };
  for (std::size_t i = 0; i < ny; ++i)
    for (std::size_t j = 0; j < nx; ++j) {
      const std::size_t p = i * nx + j;
      const std::size_t nb[4] = {i > 0 ? p - nx : n, j > 0 ? p - 1 : n, j + 1 < nx ? p + 1 : n,
                                 i + 1 < ny ? p + nx : n};
      for (std::size_t q : nb) {
        if (q == n) continue;
        const double wq = weight(p, q);
        if (q == p + 1) a.east32[p] = static_cast<float>(wq);
        if (q == p + nx) a.south32[p] = static_cast<float>(wq);
        a.col.push_back(static_cast<std::int32_t>(q));
        a.w.push_back(wq);
        a.deg[p] += wq;
      }
      a.ptr[p + 1] = static_cast<std::int32_t>(a.col.size());
    }
  return a;
}

// The Laplacian and mass of the aggregates agg (count of them) of level a.
inline AggLevel contract(const AggLevel& a, const std::vector<std::int32_t>& agg,
                         std::int32_t count) {
  const std::size_t nc = static_cast<std::size_t>(count);
  std::vector<std::int32_t> first(nc + 1, 0), members(a.size());  // the nodes of each aggregate
  for (std::int32_t g : agg) ++first[static_cast<std::size_t>(g) + 1];
  std::partial_sum(first.begin(), first.end(), first.begin());
  std::vector<std::int32_t> fill(first.begin(), first.end() - 1);
  for (std::size_t i = 0; i < a.size(); ++i)
    members[static_cast<std::size_t>(fill[agg[i]]++)] = static_cast<std::int32_t>(i);
  AggLevel c;
  c.ptr.assign(nc + 1, 0);
  c.mass.assign(nc, 0.0);
  c.deg.assign(nc, 0.0);
  std::vector<std::int32_t> slot(nc, -1);  // where aggregate h sits in the current row
  for (std::size_t g = 0; g < nc; ++g) {
    const std::size_t row0 = c.col.size();
    for (std::int32_t k = first[g]; k < first[g + 1]; ++k) {
      const std::size_t i = static_cast<std::size_t>(members[static_cast<std::size_t>(k)]);
      c.mass[g] += a.mass[i];
      for (std::int32_t e = a.ptr[i]; e < a.ptr[i + 1]; ++e) {
        const std::int32_t h = agg[static_cast<std::size_t>(a.col[static_cast<std::size_t>(e)])];
        if (static_cast<std::size_t>(h) == g) continue;
        std::int32_t& s = slot[static_cast<std::size_t>(h)];
        if (s < 0) {
          s = static_cast<std::int32_t>(c.col.size());
          c.col.push_back(h);
          c.w.push_back(0.0);
        }
        c.w[static_cast<std::size_t>(s)] += a.w[static_cast<std::size_t>(e)];
      }
    }
    for (std::size_t e = row0; e < c.col.size(); ++e) {
      slot[static_cast<std::size_t>(c.col[e])] = -1;
      c.deg[g] += c.w[e];
    }
    c.ptr[g + 1] = static_cast<std::int32_t>(c.col.size());
  }
  return c;
}

// The nodes of a ordered by a greedy colouring: no edge joins two nodes of one colour. starts
// receives where each colour begins in the order, and the end.
inline std::vector<std::int32_t> colour_order(const AggLevel& a,
                                              std::vector<std::int32_t>& starts) {
  const std::size_t n = a.size();
  std::vector<std::int32_t> colour(n, -1), count;
  std::vector<char> used;
  for (std::size_t i = 0; i < n; ++i) {
    used.assign(count.size() + 1, 0);
    for (std::int32_t e = a.ptr[i]; e < a.ptr[i + 1]; ++e) {
      const std::int32_t c = colour[static_cast<std::size_t>(a.col[static_cast<std::size_t>(e)])];
      if (c >= 0) used[static_cast<std::size_t>(c)] = 1;
    }
    std::size_t c = 0;
    while (used[c]) ++c;
    if (c == count.size()) count.push_back(0);
    colour[i] = static_cast<std::int32_t>(c);
    ++count[c];
  }
  starts.assign(count.size() + 1, 0);
  std::partial_sum(count.begin(), count.end(), starts.begin() + 1);
  std::vector<std::int32_t> fill(starts.begin(), starts.end() - 1), order(n);
  for (std::size_t i = 0; i < n; ++i)
    order[static_cast<std::size_t>(fill[static_cast<std::size_t>(colour[i])]++)] =
        static_cast<std::int32_t>(i);
  return order;
}

// Level a with its nodes numbered colour by colour (AggLevel::colours), so that a Gauss-Seidel
// sweep updates the nodes of one colour independently of each other and reads and writes its
// arrays in order; the aggregates of the level above (agg_above) and of a follow.
inline AggLevel colour_numbered(const AggLevel& a, std::vector<std::int32_t>& agg_above) {
  AggLevel b;
  const std::vector<std::int32_t> order = colour_order(a, b.colours);
  const std::size_t n = a.size();
  std::vector<std::int32_t> id(n);
  for (std::size_t k = 0; k < n; ++k)
    id[static_cast<std::size_t>(order[k])] = static_cast<std::int32_t>(k);
  for (std::int32_t& g : agg_above) g = id[static_cast<std::size_t>(g)];
  b.ptr.assign(n + 1, 0);
  b.col.reserve(a.col.size());
  b.w.reserve(a.w.size());
  b.deg.resize(n);
  b.mass.resize(n);
  if (!a.agg.empty()) b.agg.resize(n);
  for (std::size_t k = 0; k < n; ++k) {
    const std::size_t i = static_cast<std::size_t>(order[k]);
    for (std::int32_t e = a.ptr[i]; e < a.ptr[i + 1]; ++e) {
      b.col.push_back(id[static_cast<std::size_t>(a.col[static_cast<std::size_t>(e)])]);
      b.w.push_back(a.w[static_cast<std::size_t>(e)]);
    }
    b.ptr[k + 1] = static_cast<std::int32_t>(b.col.size());
    b.deg[k] = a.deg[i];
    b.mass[k] = a.mass[i];
    if (!a.agg.empty()) b.agg[k] = a.agg[i];
  }
  return b;
}

// Pairs of the nodes of a: each node in turn, if not yet taken, joins its free neighbour of the
// lowest pair quality mu if that is at most kappa, and stays alone otherwise.
inline std::vector<std::int32_t> pair_nodes(const AggLevel& a, double kappa, std::int32_t& count) {
  std::vector<std::int32_t> agg(a.size(), -1);
  count = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (agg[i] >= 0) continue;
    std::int32_t best = -1;
    double best_mu = kappa;
    for (std::int32_t e = a.ptr[i]; e < a.ptr[i + 1]; ++e) {
      const std::size_t j = static_cast<std::size_t>(a.col[static_cast<std::size_t>(e)]);
      if (agg[j] >= 0) continue;
      const double mu =
          a.deg[i] * a.deg[j] / ((a.deg[i] + a.deg[j]) * a.w[static_cast<std::size_t>(e)]);
      if (mu <= best_mu) {
        best_mu = mu;
        best = static_cast<std::int32_t>(j);
      }
    }
    agg[i] = count;
    if (best >= 0) agg[static_cast<std::size_t>(best)] = count;
    ++count;
  }
  return agg;
}

// Whether the nodes g[0..m) of a form an aggregate of quality at most kappa (m <= 4).
inline bool good_aggregate(const AggLevel& a, const std::int32_t* g, int m, double kappa) {
  if (m < 2) return true;
  double kg[4][4] = {}, d[4], dsum = 0.0;
  for (int p = 0; p < m; ++p) {
    const std::size_t i = static_cast<std::size_t>(g[p]);
    d[p] = a.deg[i];
    dsum += d[p];
    for (std::int32_t e = a.ptr[i]; e < a.ptr[i + 1]; ++e)
      for (int q = 0; q < m; ++q)
        if (a.col[static_cast<std::size_t>(e)] == g[q]) {
          kg[p][q] -= a.w[static_cast<std::size_t>(e)];
          kg[p][p] += a.w[static_cast<std::size_t>(e)];
        }
  }
  // M = kappa K_G - N_G on the differences e_p - e_last, p < m - 1; positive definite?
  double mm[4][4], b[3][3];
  for (int p = 0; p < m; ++p)
    for (int q = 0; q < m; ++q)
      mm[p][q] = kappa * kg[p][q] - ((p == q ? d[p] : 0.0) - d[p] * d[q] / dsum);
  const int k = m - 1;
  double scale = 0.0;
  for (int p = 0; p < k; ++p)
    for (int q = 0; q < k; ++q) {
      b[p][q] = mm[p][q] - mm[p][k] - mm[k][q] + mm[k][k];
      scale = std::max(scale, std::abs(b[p][q]));
    }
  for (int j = 0; j < k; ++j) {
    if (!(b[j][j] > 1e-12 * scale)) return false;
    for (int i = j + 1; i < k; ++i) {
      const double l = b[i][j] / b[j][j];
      for (int c = j + 1; c < k; ++c) b[i][c] -= l * b[j][c];
    }
  }
  return true;
}

// Pairs of the pairs pairs of the nodes of a, on their graph a1, each union checked on a;
// returns the aggregate of each pair.
inline std::vector<std::int32_t> pair_pairs(const AggLevel& a,
                                            const std::vector<std::int32_t>& pairs,
                                            const AggLevel& a1, double kappa, std::int32_t& count) {
  const std::size_t n1 = a1.size();
  std::vector<std::int32_t> mem(2 * n1, -1);  // the (at most two) nodes of each pair
  for (std::size_t i = 0; i < a.size(); ++i) {
    const std::size_t p = 2 * static_cast<std::size_t>(pairs[i]);
    mem[mem[p] < 0 ? p : p + 1] = static_cast<std::int32_t>(i);
  }
  auto size_of = [&](std::size_t p) { return mem[2 * p + 1] < 0 ? 1 : 2; };
  std::vector<std::int32_t> agg1(n1, -1);
  std::vector<std::pair<double, std::int32_t>> cand;
  count = 0;
  for (std::size_t p = 0; p < n1; ++p) {
    if (agg1[p] >= 0) continue;
    cand.clear();
    for (std::int32_t e = a1.ptr[p]; e < a1.ptr[p + 1]; ++e) {
      const std::size_t q = static_cast<std::size_t>(a1.col[static_cast<std::size_t>(e)]);
      if (agg1[q] >= 0) continue;
      const double mu =
          a1.deg[p] * a1.deg[q] / ((a1.deg[p] + a1.deg[q]) * a1.w[static_cast<std::size_t>(e)]);
      if (mu <= kappa) cand.emplace_back(mu, static_cast<std::int32_t>(q));
    }
    std::sort(cand.begin(), cand.end());
    agg1[p] = count;
    for (const auto& c : cand) {
      const std::size_t q = static_cast<std::size_t>(c.second);
      std::int32_t g[4];
      int m = 0;
      for (std::size_t r : {p, q})
        for (int t = 0; t < size_of(r); ++t) g[m++] = mem[2 * r + static_cast<std::size_t>(t)];
      if (good_aggregate(a, g, m, kappa)) {
        agg1[q] = count;
        break;
      }
    }
    ++count;
  }
  return agg1;
}

}  // namespace agg_detail

// The hierarchy of a guidance: levels until at most kCoarse nodes are left (or coarsening
// stalls), each with aggregates of at most four nodes of quality at most kKappa.
class AggHierarchy {
 public:
  static constexpr double kKappa = 10.0;
  static constexpr std::size_t kCoarse = 200;

  template <class T>
  AggHierarchy(const T* v, std::size_t ny, std::size_t nx) {
    levels_.push_back(agg_detail::image_level(v, ny, nx));
    while (levels_.back().size() > kCoarse) {
      AggLevel& a = levels_.back();
      std::int32_t n1 = 0, nc = 0;
      const std::vector<std::int32_t> pairs = agg_detail::pair_nodes(a, kKappa, n1);
      const AggLevel a1 = agg_detail::contract(a, pairs, n1);
      const std::vector<std::int32_t> agg1 = agg_detail::pair_pairs(a, pairs, a1, kKappa, nc);
      if (static_cast<double>(nc) > 0.9 * static_cast<double>(a.size())) break;
      AggLevel c = agg_detail::contract(a1, agg1, nc);  // the graph of the aggregates
      a.agg.resize(a.size());
      for (std::size_t i = 0; i < a.size(); ++i)
        a.agg[i] = agg1[static_cast<std::size_t>(pairs[i])];
      levels_.push_back(std::move(c));
    }
    for (std::size_t l = 1; l < levels_.size(); ++l) {
      levels_[l] = agg_detail::colour_numbered(levels_[l], levels_[l - 1].agg);
      levels_[l].pad_rows();
    }
  }

  const std::vector<AggLevel>& levels() const { return levels_; }

 private:
  std::vector<AggLevel> levels_;
};

}  // namespace pyscale
