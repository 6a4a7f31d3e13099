// The K-cycle of an aggregation hierarchy (aggregation.hpp) at one tau, and flexible conjugate
// gradients preconditioned by it. Pure C++: no Python types in this header.
//
// The cycle on level l: forward Gauss-Seidel sweeps from zero, the restricted residual solved on
// level l + 1, the prolonged correction, as many backward sweeps. On the coarsest level the solve
// is exact (dense Cholesky); on the others it is the K-cycle: one or two steps of conjugate
// gradients preconditioned by the cycle of that level, the second only when the first has not
// reduced the residual to a quarter. The K-cycle makes the preconditioner vary from one
// application to the next, so the outer solver is flexible conjugate gradients: each direction
// is made conjugate to the previous one explicitly. The cycle runs on one thread.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <vector>

#include "aggregation.hpp"
#include "row_blocks.hpp"
#include "scratch.hpp"
#include "solvers.hpp"

namespace pyscale {

namespace agg_detail {

// The rows of the grid level: the neighbours above (up, with weights wup) and below (dn, wdn),
// the row itself (x, the weights we of its east edges), each n long; pointers to zeros past the
// border.
struct GridRow {
  const float *up, *wup, *dn, *wdn, *we;
  std::size_t n;
};

// y = d x - tau (sum of the neighbours) over one row.
PYSCALE_VECTOR_LOOP inline void grid_matvec_row(const GridRow& g, const float* __restrict x,
                                                const float* __restrict d, float tau,
                                                float* __restrict y) {
  const std::size_t n = g.n;
  const float *up = g.up, *wup = g.wup, *dn = g.dn, *wdn = g.wdn, *we = g.we;
  auto vert = [&](std::size_t j) { return wup[j] * up[j] + wdn[j] * dn[j]; };
  if (n == 1) {
    y[0] = d[0] * x[0] - tau * vert(0);
    return;
  }
  y[0] = d[0] * x[0] - tau * (we[0] * x[1] + vert(0));
  for (std::size_t j = 1; j + 1 < n; ++j)
    y[j] = d[j] * x[j] - tau * (we[j - 1] * x[j - 1] + we[j] * x[j + 1] + vert(j));
  y[n - 1] = d[n - 1] * x[n - 1] - tau * (we[n - 2] * x[n - 2] + vert(n - 1));
}

// x_j = inv_j (r_j + tau (sum of the neighbours)) for the pixels j of one row with j % 2 ==
// parity: one colour, whose neighbours all have the other, so the loop runs in vector lanes.
PYSCALE_VECTOR_LOOP inline void grid_colour_row(const GridRow& g, float* x,
                                                const float* __restrict inv,
                                                const float* __restrict r, float tau,
                                                std::size_t parity) {
  const std::size_t n = g.n;
  const float *up = g.up, *wup = g.wup, *dn = g.dn, *wdn = g.wdn, *we = g.we;
  auto vert = [&](std::size_t j) { return wup[j] * up[j] + wdn[j] * dn[j]; };
  if (n == 1) {
    if (parity == 0) x[0] = (r[0] + tau * vert(0)) * inv[0];
    return;
  }
  if (parity == 0) x[0] = (r[0] + tau * (vert(0) + we[0] * x[1])) * inv[0];
  const std::size_t j0 = parity == 0 ? 2 : 1, inner = n > j0 ? (n - j0) / 2 : 0;
  PYSCALE_INDEPENDENT
  for (std::size_t k = 0; k < inner; ++k) {  // j = j0, j0 + 2, ... < n - 1
    const std::size_t j = j0 + 2 * k;
    x[j] = (r[j] + tau * (vert(j) + we[j - 1] * x[j - 1] + we[j] * x[j + 1])) * inv[j];
  }
  const std::size_t j = n - 1;
  if (j % 2 == parity) x[j] = (r[j] + tau * (vert(j) + we[j - 1] * x[j - 1])) * inv[j];
}

// The first colour of a sweep from zero: x_j = inv_j r_j where j % 2 == parity, 0 elsewhere.
PYSCALE_VECTOR_LOOP inline void grid_first_colour_row(float* __restrict x,
                                                      const float* __restrict inv,
                                                      const float* __restrict r, std::size_t n,
                                                      std::size_t parity) {
  for (std::size_t k = 0; k < (n + 1 - parity) / 2; ++k)
    x[parity + 2 * k] = r[parity + 2 * k] * inv[parity + 2 * k];
  for (std::size_t k = 0; k < (n + parity) / 2; ++k) x[1 - parity + 2 * k] = 0.0f;
}

// The sum over the first kPadded edges of node i of a coarse level (AggLevel::ell_col, ell_w,
// with n nodes) of w_ij x_j.
PYSCALE_INLINE float ell_neighbours(const std::int32_t* __restrict col, const float* __restrict w,
                                    std::size_t n, std::size_t i, const float* x) {
  float s = 0.0f;
  for (std::size_t t = 0; t < AggLevel::kPadded; ++t) s += w[t * n + i] * x[col[t * n + i]];
  return s;
}

// x_i = inv_i (r_i + tau (sum of the first kPadded neighbours)) for the nodes i0..i1-1 of one
// colour of a coarse level: no two of them are neighbours, so the loop runs in vector lanes.
PYSCALE_VECTOR_LOOP inline void ell_colour(const std::int32_t* __restrict col,
                                           const float* __restrict w, std::size_t n, std::size_t i0,
                                           std::size_t i1, float* x, const float* __restrict inv,
                                           const float* __restrict r, float tau) {
  PYSCALE_INDEPENDENT
  for (std::size_t i = i0; i < i1; ++i)
    x[i] = (r[i] + tau * ell_neighbours(col, w, n, i, x)) * inv[i];
}

// y_i = d_i x_i - tau (sum of the first kPadded neighbours) for the nodes i0..i1-1.
PYSCALE_VECTOR_LOOP inline void ell_matvec(const std::int32_t* __restrict col,
                                           const float* __restrict w, std::size_t n, std::size_t i0,
                                           std::size_t i1, const float* __restrict x,
                                           const float* __restrict d, float tau,
                                           float* __restrict y) {
  for (std::size_t i = i0; i < i1; ++i) y[i] = d[i] * x[i] - tau * ell_neighbours(col, w, n, i, x);
}

// x_i += c_agg(i): the prolonged coarse correction.
PYSCALE_VECTOR_LOOP inline void prolong(const std::int32_t* __restrict agg,
                                        const float* __restrict c, float* __restrict x,
                                        std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) x[i] += c[agg[i]];
}

// rt = r - s q, returning ||rt||^2.
PYSCALE_VECTOR_LOOP inline double shifted_copy_norm2(const float* __restrict r, float s,
                                                     const float* __restrict q,
                                                     float* __restrict rt, std::size_t n) {
  return detail::reduce(n, [&](std::size_t i) {
    rt[i] = r[i] - s * q[i];
    return static_cast<double>(rt[i]) * rt[i];
  });
}

}  // namespace agg_detail

// The cycle stores its vectors and weights in float: it only has to be a good preconditioner,
// and single precision halves the memory it reads. Its sums accumulate in double.
class AggCycle {
 public:
  AggCycle(const AggHierarchy& h, double tau)
      : lv_(h.levels()), tau_(static_cast<float>(tau)), work_(lv_.size()), zero_(lv_[0].nx, 0.0f) {
    for (std::size_t l = 0; l < lv_.size(); ++l) {
      const AggLevel& a = lv_[l];
      Work& w = work_[l];
      w.diag.resize(a.size());
      w.inv.resize(a.size());
      for (std::size_t i = 0; i < a.size(); ++i) {
        const double d = a.mass[i] + tau * a.deg[i];
        w.diag[i] = static_cast<float>(d);
        w.inv[i] = static_cast<float>(1.0 / d);
      }
      for (auto* b : {&w.in, &w.out, &w.res, &w.c, &w.q1, &w.rt, &w.d, &w.q2})
        b->assign(a.size(), 0.0f);
    }
    factor_coarsest(tau);
  }

  // z = B r on the finest level.
  template <class T>
  void apply(const T* r, T* z) {
    Work& w = work_[0];
    const std::size_t n = lv_[0].size();
    for (std::size_t i = 0; i < n; ++i) w.in[i] = static_cast<float>(r[i]);
    cycle(0, w.in.data(), w.out.data());
    for (std::size_t i = 0; i < n; ++i) z[i] = static_cast<T>(w.out[i]);
  }

  // The operator of level l (0: the pixel grid) and one sweep on it, as the cycle applies them.
  // y = A_l x
  void matvec(std::size_t l, const float* x, float* y) const {
    matvec_part(l, x, y, lv_[l].size());
  }

  // One Gauss-Seidel sweep on A_l x = r from x, colour by colour: forward, or backward (the
  // colours in the reverse order).
  void sweep(std::size_t l, const float* r, float* x, bool forward) const {
    const AggLevel& a = lv_[l];
    if (l == 0) {
      grid_pass(r, x, forward ? 0 : 1);
      grid_pass(r, x, forward ? 1 : 0);
      return;
    }
    const std::size_t colours = a.colours.size() - 1;
    for (std::size_t k = 0; k < colours; ++k) colour_pass(l, forward ? k : colours - 1 - k, r, x);
  }

 private:
  struct Work {
    std::vector<float> diag, inv, in, out, res, c, q1, rt, d, q2;
  };

  std::size_t last() const { return lv_.size() - 1; }

  agg_detail::GridRow grid_row(const float* x, std::size_t i) const {
    const AggLevel& a = lv_[0];
    const std::size_t ny = a.ny, nx = a.nx, o = i * nx;
    const float* z = zero_.data();
    return {i > 0 ? x + o - nx : z,      i > 0 ? a.south32.data() + o - nx : z,
            i + 1 < ny ? x + o + nx : z, a.south32.data() + o,
            a.east32.data() + o,         nx};
  }

  // One Gauss-Seidel pass over the pixels of one colour of the grid: red (i + j even, colour 0)
  // or black.
  void grid_pass(const float* r, float* x, std::size_t colour) const {
    const AggLevel& a = lv_[0];
    const float* inv = work_[0].inv.data();
    for (std::size_t i = 0; i < a.ny; ++i) {
      const std::size_t o = i * a.nx;
      agg_detail::grid_colour_row(grid_row(x, i), x + o, inv + o, r + o, tau_, (i + colour) % 2);
    }
  }

  // y_i = (A_l x)_i for the nodes i < end of a coarse level, or the whole grid.
  void matvec_part(std::size_t l, const float* x, float* y, std::size_t end) const {
    const AggLevel& a = lv_[l];
    const float* diag = work_[l].diag.data();
    if (l == 0) {
      for (std::size_t i = 0; i < a.ny; ++i)
        agg_detail::grid_matvec_row(grid_row(x, i), x + i * a.nx, diag + i * a.nx, tau_,
                                    y + i * a.nx);
      return;
    }
    agg_detail::ell_matvec(a.ell_col.data(), a.ell_w.data(), a.size(), 0, end, x, diag, tau_, y);
    for (std::int32_t i : a.long_rows) {
      if (static_cast<std::size_t>(i) >= end) break;
      y[i] -= tau_ * a.further_neighbours(static_cast<std::size_t>(i), x);
    }
  }

  // One Gauss-Seidel pass over colour c of coarse level l.
  void colour_pass(std::size_t l, std::size_t c, const float* r, float* x) const {
    const AggLevel& a = lv_[l];
    const float* inv = work_[l].inv.data();
    const auto i0 = static_cast<std::size_t>(a.colours[c]);
    const auto i1 = static_cast<std::size_t>(a.colours[c + 1]);
    agg_detail::ell_colour(a.ell_col.data(), a.ell_w.data(), a.size(), i0, i1, x, inv, r, tau_);
    auto k =
        std::lower_bound(a.long_rows.begin(), a.long_rows.end(), static_cast<std::int32_t>(i0));
    for (; k != a.long_rows.end() && static_cast<std::size_t>(*k) < i1; ++k) {
      const auto i = static_cast<std::size_t>(*k);
      x[i] += tau_ * a.further_neighbours(i, x) * inv[i];
    }
  }

  // x = the forward Gauss-Seidel sweep on A_l x = r from x = 0, colour by colour: red (i + j
  // even) and black on the grid, the colours of the numbering on the coarser levels. The first
  // colour sees only zeros, so it is r / diag.
  void forward_sweep(std::size_t l, const float* r, float* x) const {
    const AggLevel& a = lv_[l];
    const float* inv = work_[l].inv.data();
    if (l == 0) {
      for (std::size_t i = 0; i < a.ny; ++i)
        agg_detail::grid_first_colour_row(x + i * a.nx, inv + i * a.nx, r + i * a.nx, a.nx, i % 2);
      grid_pass(r, x, 1);
      return;
    }
    const auto c1 = static_cast<std::size_t>(a.colours[1]);
    for (std::size_t i = 0; i < c1; ++i) x[i] = r[i] * inv[i];
    std::fill(x + c1, x + a.size(), 0.0f);
    for (std::size_t c = 1; c + 1 < a.colours.size(); ++c) colour_pass(l, c, r, x);
  }

  // Coarsening stalls only on unusual graphs; a coarsest level too large to factor densely is
  // solved approximately by symmetric Gauss-Seidel sweeps (the outer solver is flexible).
  static constexpr std::size_t kDense = 1024, kCoarseSweeps = 4;

  // Sweeps before and after the coarse correction on the pixel grid, where they run in vector
  // loops: two took 4-16 % less time per step than one on 321 x 481 guidance, bright and dark,
  // at tau = 10 to 1e5 (iterations 12 -> 11 and 25 -> 19 at tau = 1000). One on the coarser
  // levels, where two took longer.
  static constexpr std::size_t kGridSweeps = 2;

  void factor_coarsest(double tau) {
    const AggLevel& a = lv_[last()];
    const std::size_t n = a.size();
    if (n > kDense) return;
    chol_.assign(n * n, 0.0);
    for (std::size_t i = 0; i < n; ++i) {
      chol_[i * n + i] = a.mass[i] + tau * a.deg[i];
      for (std::int32_t e = a.ptr[i]; e < a.ptr[i + 1]; ++e)
        chol_[i * n + static_cast<std::size_t>(a.col[static_cast<std::size_t>(e)])] =
            -tau * a.w[static_cast<std::size_t>(e)];
    }
    for (std::size_t j = 0; j < n; ++j) {  // lower triangle: L L^T (the mass makes A SPD)
      double* rj = &chol_[j * n];
      for (std::size_t k = 0; k < j; ++k) rj[j] -= rj[k] * rj[k];
      rj[j] = std::sqrt(rj[j]);
      for (std::size_t i = j + 1; i < n; ++i) {
        double* ri = &chol_[i * n];
        for (std::size_t k = 0; k < j; ++k) ri[j] -= ri[k] * rj[k];
        ri[j] /= rj[j];
      }
    }
    y_.resize(n);
  }

  void solve_coarsest(const float* r, float* x) {
    const std::size_t n = lv_[last()].size();
    if (n > kDense) {
      std::fill(x, x + n, 0.0f);
      for (std::size_t k = 0; k < kCoarseSweeps; ++k) {
        sweep(last(), r, x, true);
        sweep(last(), r, x, false);
      }
      return;
    }
    for (std::size_t i = 0; i < n; ++i) {
      double s = r[i];
      for (std::size_t k = 0; k < i; ++k) s -= chol_[i * n + k] * y_[k];
      y_[i] = s / chol_[i * n + i];
    }
    for (std::size_t i = n; i-- > 0;) {
      double s = y_[i];
      for (std::size_t k = i + 1; k < n; ++k) s -= chol_[k * n + i] * y_[k];
      y_[i] = s / chol_[i * n + i];
    }
    for (std::size_t i = 0; i < n; ++i) x[i] = static_cast<float>(y_[i]);
  }

  void cycle(std::size_t l, const float* r, float* x) {
    if (l == last()) return solve_coarsest(r, x);
    const AggLevel& a = lv_[l];
    Work& w = work_[l];
    Work& c = work_[l + 1];
    forward_sweep(l, r, x);
    if (l == 0)
      for (std::size_t k = 1; k < kGridSweeps; ++k) sweep(0, r, x, true);
    // The sweep leaves no residual on its last colour (up to rounding): restrict the others'
    // (computed on the coarse levels for those only).
    std::fill(c.in.begin(), c.in.end(), 0.0f);
    float* in = c.in.data();
    const float* res = w.res.data();
    if (l == 0) {
      matvec(0, x, w.res.data());
      for (std::size_t i = 0; i < a.ny; ++i)
        for (std::size_t p = i * a.nx + i % 2; p < (i + 1) * a.nx; p += 2)
          in[static_cast<std::size_t>(a.agg[p])] += r[p] - res[p];
    } else {
      const auto end = static_cast<std::size_t>(a.colours[a.colours.size() - 2]);
      matvec_part(l, x, w.res.data(), end);
      for (std::size_t i = 0; i < end; ++i) in[static_cast<std::size_t>(a.agg[i])] += r[i] - res[i];
    }
    if (l + 1 == last())
      solve_coarsest(c.in.data(), c.out.data());
    else
      k_step(l + 1, c.in.data(), c.out.data());
    agg_detail::prolong(a.agg.data(), c.out.data(), x, a.size());
    for (std::size_t k = 0; k < (l == 0 ? kGridSweeps : 1); ++k) sweep(l, r, x, false);
  }

  // x ~ A_l^-1 r by one or two conjugate gradient steps preconditioned by the cycle of level l.
  void k_step(std::size_t l, const float* r, float* x) {
    Work& w = work_[l];
    const std::size_t n = lv_[l].size();
    float *c = w.c.data(), *q1 = w.q1.data(), *rt = w.rt.data(), *d = w.d.data();
    cycle(l, r, c);
    matvec(l, c, q1);
    const double rho1 = detail::dot_block(c, q1, n), a1 = detail::dot_block(c, r, n);
    const double rr = detail::dot_block(r, r, n);
    const float s1 = static_cast<float>(rho1 > 0.0 ? a1 / rho1 : 0.0);
    const double rt2 = agg_detail::shifted_copy_norm2(r, s1, q1, rt, n);
    if (rt2 <= 0.0625 * rr) {
      for (std::size_t i = 0; i < n; ++i) x[i] = s1 * c[i];
      return;
    }
    cycle(l, rt, d);
    matvec(l, d, w.q2.data());
    const double g = detail::dot_block(d, q1, n), b = detail::dot_block(d, w.q2.data(), n);
    const double a2 = detail::dot_block(d, rt, n);
    const double rho2 = b - g * g / rho1;
    if (!(rho2 > 0.0) || !(rho1 > 0.0)) {
      for (std::size_t i = 0; i < n; ++i) x[i] = s1 * c[i];
      return;
    }
    const auto cc = static_cast<float>(s1 - g * a2 / (rho1 * rho2));
    const auto cd = static_cast<float>(a2 / rho2);
    for (std::size_t i = 0; i < n; ++i) x[i] = cc * c[i] + cd * d[i];
  }

  const std::vector<AggLevel>& lv_;
  float tau_;
  std::vector<Work> work_;
  std::vector<float> zero_;  // a row of zeros, the neighbours past the top and bottom rows
  std::vector<double> chol_, y_;
};

// Flexible conjugate gradients on S x = b (op: the SPD form as SymStencil5<T>) preconditioned
// by the K-cycle of h at tau, from x with its residual r and the norms in start; x receives the
// solution and r its true residual. The solve stops as conjugate_gradient does (solvers.hpp).
template <class T, class Op>
SolveInfo aggregation_cg(RowBlocks& rb, const Op& op, const AggHierarchy& h, double tau, const T* b,
                         T* x, T* r, double rtol, std::size_t maxiter, const StartResidual& start) {
  SolveInfo info;
  double bnorm = 0.0, rnorm = 0.0;
  if (detail::begin_solve(rb, op, b, x, r, rtol, info, bnorm, rnorm, &start)) return info;
  const std::size_t n = rb.size();
  AggCycle cycle(h, tau);
  using Block = RowBlocks::Block;
  Buffer<T> p(n), q(n), z(n);
  double pq = 0.0;
  bool fresh = true;  // the first direction, or the first after a restart
  for (;;) {
    cycle.apply(r, z.data());
    if (fresh) {  // the first direction is z (p may hold anything)
      detail::copy(rb, z.data(), p.data());
      fresh = false;
    } else {  // conjugate to the previous direction
      const auto beta = static_cast<T>(-detail::dot(rb, z.data(), q.data()) / pq);
      rb.each(
          [&](const Block& k) { detail::xpby(z.data() + k.k0, beta, p.data() + k.k0, k.size()); });
    }
    pq = rb.sum([&](const Block& k) {
      op.rows(p.data(), q.data(), k.i0, k.i1);
      return detail::dot_block(p.data() + k.k0, q.data() + k.k0, k.size());
    });
    const double alpha = detail::dot(rb, p.data(), r) / pq;
    if (!std::isfinite(alpha) || !(pq > 0.0)) {
      detail::end_solve(rb, op, b, x, r, bnorm, rtol, info);
      break;
    }
    rnorm = std::sqrt(rb.sum([&](const Block& k) {
      return detail::update_cg(x + k.k0, p.data() + k.k0, r + k.k0, q.data() + k.k0,
                               static_cast<T>(alpha), k.size());
    }));
    ++info.iterations;
    if (rnorm <= rtol * bnorm || info.iterations >= maxiter) {
      detail::end_solve(rb, op, b, x, r, bnorm, rtol, info);
      if (info.converged || info.iterations >= maxiter || !std::isfinite(info.residual)) break;
      fresh = true;  // the recurrence has drifted from the true residual: restart from it
    }
  }
  return info;
}

}  // namespace pyscale
