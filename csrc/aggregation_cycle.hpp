// The K-cycle of an aggregation hierarchy (aggregation.hpp) at one tau, and flexible conjugate
// gradients preconditioned by it. Pure C++: no Python types in this header.
//
// The cycle on level l: a forward Gauss-Seidel sweep from zero, the restricted residual solved on
// level l + 1, the prolonged correction, a backward sweep. On the coarsest level the solve is
// exact (dense Cholesky); on the others it is the K-cycle: one or two steps of conjugate
// gradients preconditioned by the cycle of that level, the second only when the first has not
// reduced the residual to a quarter. The K-cycle makes the preconditioner vary from one
// application to the next, so the outer solver is flexible conjugate gradients: each direction
// is made conjugate to the previous one explicitly. The cycle runs in double on one thread.
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

class AggCycle {
 public:
  AggCycle(const AggHierarchy& h, double tau)
      : lv_(h.levels()), tau_(tau), work_(lv_.size()), zero_(lv_[0].nx, 0.0) {
    for (std::size_t l = 0; l < lv_.size(); ++l) {
      const AggLevel& a = lv_[l];
      Work& w = work_[l];
      w.diag.resize(a.size());
      w.inv.resize(a.size());
      for (std::size_t i = 0; i < a.size(); ++i) {
        w.diag[i] = a.mass[i] + tau * a.deg[i];
        w.inv[i] = 1.0 / w.diag[i];
      }
      for (auto* b : {&w.in, &w.out, &w.res, &w.c, &w.q1, &w.rt, &w.d, &w.q2})
        b->assign(a.size(), 0.0);
    }
    factor_coarsest();
  }

  // out = B r on the finest level.
  void apply(const double* r, double* out) { cycle(0, r, out); }

 private:
  struct Work {
    std::vector<double> diag, inv, in, out, res, c, q1, rt, d, q2;
  };

  std::size_t last() const { return lv_.size() - 1; }

  // sum over the neighbours q of pixel (i, j) of w_pq x_q on the grid of level 0, for the
  // pixels j = j0, j0 + step, ... of row i, passed to f(j, sum)
  template <class F>
  void grid_row(const double* x, std::size_t i, std::size_t j0, std::size_t step, F&& f) const {
    const AggLevel& a = lv_[0];
    const std::size_t ny = a.ny, nx = a.nx, o = i * nx;
    const double* xr = x + o;
    const double* up = i > 0 ? xr - nx : zero_.data();
    const double* wup = i > 0 ? a.south.data() + o - nx : zero_.data();
    const double* dn = i + 1 < ny ? xr + nx : zero_.data();
    const double* wdn = a.south.data() + o;
    const double* we = a.east.data() + o;
    auto at = [&](std::size_t j, double s) { return s + wup[j] * up[j] + wdn[j] * dn[j]; };
    std::size_t j = j0;
    if (j == 0) {
      f(0, at(0, nx > 1 ? we[0] * xr[1] : 0.0));
      j += step;
    }
    for (; j + 1 < nx; j += step) f(j, at(j, we[j - 1] * xr[j - 1] + we[j] * xr[j + 1]));
    if (j == nx - 1 && nx > 1) f(j, at(j, we[j - 1] * xr[j - 1]));
  }

  // y = A_l x
  void matvec(std::size_t l, const double* x, double* y) const {
    const AggLevel& a = lv_[l];
    if (l == 0) {
      const double* diag = work_[0].diag.data();
      for (std::size_t i = 0; i < a.ny; ++i)
        grid_row(x, i, 0, 1, [&](std::size_t j, double s) {
          const std::size_t p = i * a.nx + j;
          y[p] = diag[p] * x[p] - tau_ * s;
        });
      return;
    }
    const std::vector<double>& diag = work_[l].diag;
    for (std::size_t i = 0; i < a.size(); ++i) y[i] = diag[i] * x[i] - tau_ * a.neighbours(i, x);
  }

  // One Gauss-Seidel sweep on A_l x = r in the colour order, forward or backward; on the grid
  // the colours are red (i + j even) and black.
  void sweep(std::size_t l, const double* r, double* x, bool forward) const {
    const AggLevel& a = lv_[l];
    const double* inv = work_[l].inv.data();
    if (l == 0) {
      for (std::size_t c = 0; c < 2; ++c) {
        const std::size_t colour = forward ? c : 1 - c;
        for (std::size_t i = 0; i < a.ny; ++i)
          grid_row(x, i, (i + colour) % 2, 2, [&](std::size_t j, double s) {
            const std::size_t p = i * a.nx + j;
            x[p] = (r[p] + tau_ * s) * inv[p];
          });
      }
      return;
    }
    const std::size_t n = a.size();
    for (std::size_t k = 0; k < n; ++k) {
      const std::size_t i = static_cast<std::size_t>(a.order[forward ? k : n - 1 - k]);
      x[i] = (r[i] + tau_ * a.neighbours(i, x)) * inv[i];
    }
  }

  // Coarsening stalls only on unusual graphs; a coarsest level too large to factor densely is
  // solved approximately by symmetric Gauss-Seidel sweeps (the outer solver is flexible).
  static constexpr std::size_t kDense = 1024, kCoarseSweeps = 4;

  void factor_coarsest() {
    const AggLevel& a = lv_[last()];
    const std::size_t n = a.size();
    if (n > kDense) return;
    chol_.assign(n * n, 0.0);
    for (std::size_t i = 0; i < n; ++i) {
      chol_[i * n + i] = work_[last()].diag[i];
      for (std::int32_t e = a.ptr[i]; e < a.ptr[i + 1]; ++e)
        chol_[i * n + static_cast<std::size_t>(a.col[static_cast<std::size_t>(e)])] =
            -tau_ * a.w[static_cast<std::size_t>(e)];
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
  }

  void solve_coarsest(const double* r, double* x) const {
    const std::size_t n = lv_[last()].size();
    if (n > kDense) {
      std::fill(x, x + n, 0.0);
      for (std::size_t k = 0; k < kCoarseSweeps; ++k) {
        sweep(last(), r, x, true);
        sweep(last(), r, x, false);
      }
      return;
    }
    for (std::size_t i = 0; i < n; ++i) {
      double s = r[i];
      for (std::size_t k = 0; k < i; ++k) s -= chol_[i * n + k] * x[k];
      x[i] = s / chol_[i * n + i];
    }
    for (std::size_t i = n; i-- > 0;) {
      double s = x[i];
      for (std::size_t k = i + 1; k < n; ++k) s -= chol_[k * n + i] * x[k];
      x[i] = s / chol_[i * n + i];
    }
  }

  void cycle(std::size_t l, const double* r, double* x) {
    if (l == last()) return solve_coarsest(r, x);
    const AggLevel& a = lv_[l];
    Work& w = work_[l];
    Work& c = work_[l + 1];
    std::fill(x, x + a.size(), 0.0);
    sweep(l, r, x, true);
    matvec(l, x, w.res.data());
    std::fill(c.in.begin(), c.in.end(), 0.0);
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
  void k_step(std::size_t l, const double* r, double* x) {
    Work& w = work_[l];
    const std::size_t n = lv_[l].size();
    cycle(l, r, w.c.data());
    matvec(l, w.c.data(), w.q1.data());
    double rho1 = 0.0, a1 = 0.0, rr = 0.0, rt2 = 0.0;
    for (std::size_t i = 0; i < n; ++i) {
      rho1 += w.c[i] * w.q1[i];
      a1 += w.c[i] * r[i];
      rr += r[i] * r[i];
    }
    const double s1 = rho1 > 0.0 ? a1 / rho1 : 0.0;
    for (std::size_t i = 0; i < n; ++i) {
      w.rt[i] = r[i] - s1 * w.q1[i];
      rt2 += w.rt[i] * w.rt[i];
    }
    if (rt2 <= 0.0625 * rr) {
      for (std::size_t i = 0; i < n; ++i) x[i] = s1 * w.c[i];
      return;
    }
    cycle(l, w.rt.data(), w.d.data());
    matvec(l, w.d.data(), w.q2.data());
    double g = 0.0, b = 0.0, a2 = 0.0;
    for (std::size_t i = 0; i < n; ++i) {
      g += w.d[i] * w.q1[i];
      b += w.d[i] * w.q2[i];
      a2 += w.d[i] * w.rt[i];
    }
    const double rho2 = b - g * g / rho1;
    if (!(rho2 > 0.0) || !(rho1 > 0.0)) {
      for (std::size_t i = 0; i < n; ++i) x[i] = s1 * w.c[i];
      return;
    }
    const double cc = s1 - g * a2 / (rho1 * rho2), cd = a2 / rho2;
    for (std::size_t i = 0; i < n; ++i) x[i] = cc * w.c[i] + cd * w.d[i];
  }

  const std::vector<AggLevel>& lv_;
  double tau_;
  std::vector<Work> work_;
  std::vector<double> zero_;  // a row of zeros, the neighbours past the top and bottom rows
  std::vector<double> chol_;
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
  std::vector<double> rd(n), zd(n);
  Buffer<T> p(n), q(n), z(n);
  double pq = 0.0;
  bool fresh = true;  // the first direction, or the first after a restart
  for (;;) {
    for (std::size_t i = 0; i < n; ++i) rd[i] = static_cast<double>(r[i]);
    cycle.apply(rd.data(), zd.data());
    for (std::size_t i = 0; i < n; ++i) z[i] = static_cast<T>(zd[i]);
    if (!fresh) {  // conjugate to the previous direction
      const double beta = -detail::dot(rb, z.data(), q.data()) / pq;
      for (std::size_t i = 0; i < n; ++i) p[i] = z[i] + static_cast<T>(beta) * p[i];
    } else {
      std::copy(z.data(), z.data() + n, p.data());
      fresh = false;
    }
    rb.each([&](const RowBlocks::Block& k) { op.rows(p.data(), q.data(), k.i0, k.i1); });
    pq = detail::dot(rb, p.data(), q.data());
    const double alpha = detail::dot(rb, p.data(), r) / pq;
    if (!std::isfinite(alpha) || !(pq > 0.0)) {
      detail::end_solve(rb, op, b, x, r, bnorm, rtol, info);
      break;
    }
    for (std::size_t i = 0; i < n; ++i) {
      x[i] += static_cast<T>(alpha) * p[i];
      r[i] -= static_cast<T>(alpha) * q[i];
    }
    ++info.iterations;
    rnorm = std::sqrt(detail::dot(rb, r, r));
    if (rnorm <= rtol * bnorm || info.iterations >= maxiter) {
      detail::end_solve(rb, op, b, x, r, bnorm, rtol, info);
      if (info.converged || info.iterations >= maxiter || !std::isfinite(info.residual)) break;
      fresh = true;  // the recurrence has drifted from the true residual: restart from it
    }
  }
  return info;
}

}  // namespace pyscale
