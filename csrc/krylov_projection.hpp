// The projected operator of the rational Krylov integrator of osmosis: V^T H V for m basis
// vectors V, where H = diag(1/s) K diag(1/s), s = sqrt(v) and K is the graph Laplacian of the
// edge weights c_pq = 2 v_p v_q / (v_p + v_q). With W = V / s it is the sum over the edges (p, q)
// of c_pq (W_p - W_q)(W_p - W_q)^T. It is taken a band of rows at a time: the weighted differences
// of all basis vectors across the edges of a band (about kBandBytes) stay in the cache while the
// m (m + 1) / 2 sums are taken. Pure C++: no Python types in this header.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>

#include "row_blocks.hpp"
#include "scratch.hpp"

namespace pyscale {

namespace krylov_detail {

constexpr std::size_t kBandBytes = std::size_t(1) << 17;

// sqrt(2 a b / (a + b)) for n pairs a[i], b[i]: the square roots of the edge weights.
PYSCALE_VECTOR_LOOP inline void root_weights(const double* __restrict a, const double* __restrict b,
                                             std::size_t n, double* __restrict out) {
  for (std::size_t i = 0; i < n; ++i) out[i] = std::sqrt(2.0 * a[i] * b[i] / (a[i] + b[i]));
}

// out[i] = 1 / s[i].
PYSCALE_VECTOR_LOOP inline void reciprocal(const double* __restrict s, std::size_t n,
                                           double* __restrict out) {
  for (std::size_t i = 0; i < n; ++i) out[i] = 1.0 / s[i];
}

// out[i] = x[i] * h[i].
PYSCALE_VECTOR_LOOP inline void multiply(const double* __restrict x, const double* __restrict h,
                                         std::size_t n, double* __restrict out) {
  for (std::size_t i = 0; i < n; ++i) out[i] = x[i] * h[i];
}

// out[i] = (a[i] - b[i]) * c[i].
PYSCALE_VECTOR_LOOP inline void weighted_difference(const double* __restrict a,
                                                    const double* __restrict b,
                                                    const double* __restrict c, std::size_t n,
                                                    double* __restrict out) {
  for (std::size_t i = 0; i < n; ++i) out[i] = (a[i] - b[i]) * c[i];
}

// <a, b> with 32 interleaved accumulators (k % 32) combined in a fixed order: the same bits with
// every instruction set, and enough independent additions to hide their latency.
PYSCALE_VECTOR_LOOP inline double dot(const double* __restrict a, const double* __restrict b,
                                      std::size_t n) {
  constexpr std::size_t L = 32;
  double acc[L] = {};
  std::size_t k = 0;
  for (; k + L <= n; k += L)
    for (std::size_t l = 0; l < L; ++l) acc[l] += a[k + l] * b[k + l];
  for (std::size_t l = 0; k < n; ++k, ++l) acc[l] += a[k] * b[k];
  double s = 0.0;
  for (std::size_t l = 0; l < L; ++l) s += acc[l];
  return s;
}

// out[a * m + b] += <d_a, d_b> for b <= a, d_j = d + j * ld (n values each).
inline void add_gram(const double* d, std::size_t ld, std::size_t n, std::size_t m, double* out) {
  for (std::size_t a = 0; a < m; ++a)
    for (std::size_t b = 0; b <= a; ++b) out[a * m + b] += dot(d + a * ld, d + b * ld, n);
}

}  // namespace krylov_detail

// out (m x m, row-major) = V^T H V of one image (ny x nx) for the m vectors V + j * ldv, with the
// guidance v and s = sqrt(v).
inline void krylov_projected(const double* V, std::size_t ldv, std::size_t m, const double* v,
                             const double* s, std::size_t ny, std::size_t nx, double* out) {
  using namespace krylov_detail;
  const std::size_t rows = std::clamp<std::size_t>(kBandBytes / (8 * m * nx), 1, ny);
  const std::size_t lx = rows * (nx - 1), ly = rows * nx;  // edges of a band, at most
  Buffer<double> w((rows + 1) * nx), h((rows + 1) * nx), dx(m * lx), dy(m * ly), cx(lx), cy(ly);
  std::fill(out, out + m * m, 0.0);
  for (std::size_t r0 = 0; r0 < ny; r0 += rows) {
    const std::size_t n = std::min(rows, ny - r0);    // rows of the band
    const std::size_t ne = std::min(n, ny - 1 - r0);  // its edges along y (to the next band too)
    const std::size_t nw = (n + (ne == n ? 1 : 0)) * nx;  // values of W the band reads
    const double* vb = v + r0 * nx;
    for (std::size_t i = 0; i < n; ++i)
      root_weights(vb + i * nx + 1, vb + i * nx, nx - 1, cx.data() + i * (nx - 1));
    root_weights(vb + nx, vb, ne * nx, cy.data());
    reciprocal(s + r0 * nx, nw, h.data());
    double* wj = w.data();  // one basis vector of the band at a time
    for (std::size_t j = 0; j < m; ++j) {
      multiply(V + j * ldv + r0 * nx, h.data(), nw, wj);
      double* dxj = dx.data() + j * lx;
      for (std::size_t i = 0; i < n; ++i)
        weighted_difference(wj + i * nx + 1, wj + i * nx, cx.data() + i * (nx - 1), nx - 1,
                            dxj + i * (nx - 1));
      weighted_difference(wj + nx, wj, cy.data(), ne * nx, dy.data() + j * ly);
    }
    add_gram(dx.data(), lx, n * (nx - 1), m, out);
    add_gram(dy.data(), ly, ne * nx, m, out);
  }
  for (std::size_t a = 0; a < m; ++a)
    for (std::size_t b = a + 1; b < m; ++b) out[a * m + b] = out[b * m + a];
}

}  // namespace pyscale
