// The K-cycle of an aggregation hierarchy (aggregation.hpp) at one tau, and flexible conjugate
// gradients preconditioned by it. Pure C++: no Python types in this header.
//
// The cycle on level l: a forward Gauss-Seidel sweep from zero, the restricted residual solved on
// level l + 1, the prolonged correction, a backward sweep. On the coarsest level the solve is
// exact (dense Cholesky); on the others it is the K-cycle: one or two steps of conjugate
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

// x_j = inv_j (r_j + tau (sum of the neighbours)) for j = j0, j0 + 2, ... of one row: the
// pixels of one colour, whose neighbours all have the other.
inline void grid_sweep_row(const GridRow& g, float* x, const float* inv, const float* r, float tau,
                           std::size_t j0) {
  const std::size_t n = g.n;
  const float *up = g.up, *wup = g.wup, *dn = g.dn, *wdn = g.wdn, *we = g.we;
  for (std::size_t j = j0; j < n; j += 2) {
    float s = wup[j] * up[j] + wdn[j] * dn[j];
    if (j > 0) s += we[j - 1] * x[j - 1];
    if (j + 1 < n) s += we[j] * x[j + 1];
    x[j] = (r[j] + tau * s) * inv[j];
  }
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

  // y = A_l x
  void matvec(std::size_t l, const float* x, float* y) const {
    const AggLevel& a = lv_[l];
    const float* diag = work_[l].diag.data();
    if (l == 0) {
      for (std::size_t i = 0; i < a.ny; ++i)
        agg_detail::grid_matvec_row(grid_row(x, i), x + i * a.nx, diag + i * a.nx, tau_,
                                    y + i * a.nx);
      return;
    }
    for (std::size_t i = 0; i < a.size(); ++i) y[i] = diag[i] * x[i] - tau_ * a.neighbours(i, x);
  }

  // One Gauss-Seidel sweep on A_l x = r, forward or backward, colour by colour: red (i + j even)
  // and black on the grid, the colours of the numbering on the coarser levels.
  void sweep(std::size_t l, const float* r, float* x, bool forward) const {
    const AggLevel& a = lv_[l];
    const float* inv = work_[l].inv.data();
    if (l == 0) {
      for (std::size_t c = 0; c < 2; ++c) {
        const std::size_t colour = forward ? c : 1 - c;
        for (std::size_t i = 0; i < a.ny; ++i) {
          const std::size_t o = i * a.nx;
          agg_detail::grid_sweep_row(grid_row(x, i), x + o, inv + o, r + o, tau_, (i + colour) % 2);
        }
      }
      return;
    }
    const std::size_t n = a.size();
    for (std::size_t k = 0; k < n; ++k) {
      const std::size_t i = forward ? k : n - 1 - k;
      x[i] = (r[i] + tau_ * a.neighbours(i, x)) * inv[i];
    }
  }

  // Coarsening stalls only on unusual graphs; a coarsest level too large to factor densely is
  // solved approximately by symmetric Gauss-Seidel sweeps (the outer solver is flexible).
  static constexpr std::size_t kDense = 1024, kCoarseSweeps = 4;

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
    std::fill(x, x + a.size(), 0.0f);
    sweep(l, r, x, true);
    matvec(l, x, w.res.data());
    std::fill(c.in.begin(), c.in.end(), 0.0f);
    for (std::size_t i = 0; i < a.size(); ++i)
      c.in[static_cast<std::size_t>(a.agg[i])] += r[i] - w.res[i];
    if (l + 1 == last())
      solve_coarsest(c.in.data(), c.out.data());
    else
      k_step(l + 1, c.in.data(), c.out.data());
    for (std::size_t i = 0; i < a.size(); ++i) x[i] += c.out[static_cast<std::size_t>(a.agg[i])];
    sweep(l, r, x, false);
  }

  // x ~ A_l^-1 r by one or two conjugate gradient steps preconditioned by the cycle of level l.
  void k_step(std::size_t l, const float* r, float* x) {
    Work& w = work_[l];
    const std::size_t n = lv_[l].size();
    cycle(l, r, w.c.data());
    matvec(l, w.c.data(), w.q1.data());
    double rho1 = 0.0, a1 = 0.0, rr = 0.0, rt2 = 0.0;
    for (std::size_t i = 0; i < n; ++i) {
      rho1 += static_cast<double>(w.c[i]) * w.q1[i];
      a1 += static_cast<double>(w.c[i]) * r[i];
      rr += static_cast<double>(r[i]) * r[i];
    }
    const float s1 = static_cast<float>(rho1 > 0.0 ? a1 / rho1 : 0.0);
    for (std::size_t i = 0; i < n; ++i) {
      w.rt[i] = r[i] - s1 * w.q1[i];
      rt2 += static_cast<double>(w.rt[i]) * w.rt[i];
    }
    if (rt2 <= 0.0625 * rr) {
      for (std::size_t i = 0; i < n; ++i) x[i] = s1 * w.c[i];
      return;
    }
    cycle(l, w.rt.data(), w.d.data());
    matvec(l, w.d.data(), w.q2.data());
    double g = 0.0, b = 0.0, a2 = 0.0;
    for (std::size_t i = 0; i < n; ++i) {
      g += static_cast<double>(w.d[i]) * w.q1[i];
      b += static_cast<double>(w.d[i]) * w.q2[i];
      a2 += static_cast<double>(w.d[i]) * w.rt[i];
    }
    const double rho2 = b - g * g / rho1;
    if (!(rho2 > 0.0) || !(rho1 > 0.0)) {
      for (std::size_t i = 0; i < n; ++i) x[i] = s1 * w.c[i];
      return;
    }
    const auto cc = static_cast<float>(s1 - g * a2 / (rho1 * rho2));
    const auto cd = static_cast<float>(a2 / rho2);
    for (std::size_t i = 0; i < n; ++i) x[i] = cc * w.c[i] + cd * w.d[i];
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
