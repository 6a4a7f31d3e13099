// Osmosis operator of the Vogel-Hagenburg-Weickert-Setzer discretisation (grid size h = 1,
// reflecting boundaries). Pure C++: no Python types in this header.
//
// For an image u of ny x nx pixels and drift components on the half-grid points,
//   dx[i][j] between (i, j) and (i, j+1), shape ny x (nx-1),
//   dy[i][j] between (i, j) and (i+1, j), shape (ny-1) x nx,
// the flux across a half-grid point is F = (u_right - u_left) - d (u_right + u_left) / 2 and
// (A u)_p is the sum of the fluxes entering pixel p minus those leaving it.
#pragma once

#include <cstddef>
#include <vector>

#include "dct.hpp"
#include "solvers.hpp"

namespace pyscale {

// Canonical drift d = 2 (v_right - v_left) / (v_right + v_left) of a positive guidance image v.
template <class T>
void osmosis_drift(const T* v, T* dx, T* dy, std::size_t ny, std::size_t nx) {
  for (std::size_t i = 0; i < ny; ++i) {
    const T* row = v + i * nx;
    T* drow = dx + i * (nx - 1);
    for (std::size_t j = 0; j + 1 < nx; ++j)
      drow[j] = T(2) * (row[j + 1] - row[j]) / (row[j + 1] + row[j]);
  }
  for (std::size_t i = 0; i + 1 < ny; ++i) {
    const T* top = v + i * nx;
    const T* bottom = top + nx;
    T* drow = dy + i * nx;
    for (std::size_t j = 0; j < nx; ++j)
      drow[j] = T(2) * (bottom[j] - top[j]) / (bottom[j] + top[j]);
  }
}

// out = A u for one ny x nx image. out must not alias u.
template <class T>
void osmosis_apply(const T* u, T* out, const T* dx, const T* dy, std::size_t ny, std::size_t nx) {
  for (std::size_t k = 0; k < ny * nx; ++k) out[k] = T(0);
  for (std::size_t i = 0; i < ny; ++i) {
    const T* urow = u + i * nx;
    const T* drow = dx + i * (nx - 1);
    T* orow = out + i * nx;
    for (std::size_t j = 0; j + 1 < nx; ++j) {
      const T flux = (urow[j + 1] - urow[j]) - drow[j] * T(0.5) * (urow[j + 1] + urow[j]);
      orow[j] += flux;
      orow[j + 1] -= flux;
    }
  }
  for (std::size_t i = 0; i + 1 < ny; ++i) {
    const T* top = u + i * nx;
    const T* bottom = top + nx;
    const T* drow = dy + i * nx;
    T* otop = out + i * nx;
    T* obottom = otop + nx;
    for (std::size_t j = 0; j < nx; ++j) {
      const T flux = (bottom[j] - top[j]) - drow[j] * T(0.5) * (bottom[j] + top[j]);
      otop[j] += flux;
      obottom[j] -= flux;
    }
  }
}

// A five-point operator out_p = c_p x_p + w_p x_{p-1} + e_p x_{p+1} + n_p x_{p-nx} + s_p x_{p+nx}
// on an ny x nx image; the coefficients that would reach across the border are zero.
template <class T>
struct Stencil5 {
  std::size_t ny = 0, nx = 0;
  std::vector<T> c, w, e, n, s;

  Stencil5(std::size_t ny_, std::size_t nx_)
      : ny(ny_), nx(nx_), c(ny_ * nx_, T(0)), w(ny_ * nx_, T(0)), e(ny_ * nx_, T(0)),
        n(ny_ * nx_, T(0)), s(ny_ * nx_, T(0)) {}

  template <class G>
  explicit Stencil5(const Stencil5<G>& o)
      : ny(o.ny), nx(o.nx), c(o.c.begin(), o.c.end()), w(o.w.begin(), o.w.end()),
        e(o.e.begin(), o.e.end()), n(o.n.begin(), o.n.end()), s(o.s.begin(), o.s.end()) {}

  void operator()(const T* x, T* out) const {
    for (std::size_t i = 0; i < ny; ++i) {
      const std::size_t o = i * nx;
      const T* xr = x + o;
      // rows outside the image are never weighted (n = 0 in row 0, s = 0 in the last row)
      const T* up = i > 0 ? xr - nx : xr;
      const T* dn = i + 1 < ny ? xr + nx : xr;
      const T* cc = c.data() + o;
      const T* cw = w.data() + o;
      const T* ce = e.data() + o;
      const T* cn = n.data() + o;
      const T* cs = s.data() + o;
      T* orow = out + o;
      if (nx == 1) {
        orow[0] = cc[0] * xr[0] + cn[0] * up[0] + cs[0] * dn[0];
        continue;
      }
      orow[0] = cc[0] * xr[0] + ce[0] * xr[1] + cn[0] * up[0] + cs[0] * dn[0];
      for (std::size_t j = 1; j + 1 < nx; ++j)
        orow[j] = cc[j] * xr[j] + cw[j] * xr[j - 1] + ce[j] * xr[j + 1] + cn[j] * up[j] +
                  cs[j] * dn[j];
      const std::size_t j = nx - 1;
      orow[j] = cc[j] * xr[j] + cw[j] * xr[j - 1] + cn[j] * up[j] + cs[j] * dn[j];
    }
  }
};

// A symmetric five-point operator stored by its edges: c_p on the diagonal, e_p coupling p with
// its right neighbour p + 1 and s_p coupling p with the pixel below, p + nx (zero where the
// neighbour would lie outside the image). Three coefficient arrays instead of five.
template <class F>
struct SymStencil5 {
  std::size_t ny = 0, nx = 0;
  std::vector<F> c, e, s;
  std::vector<F> zero;  // the coupling to the row above the first

  SymStencil5(std::size_t ny_, std::size_t nx_)
      : ny(ny_), nx(nx_), c(ny_ * nx_, F(0)), e(ny_ * nx_, F(0)), s(ny_ * nx_, F(0)),
        zero(nx_, F(0)) {}

  template <class G>
  explicit SymStencil5(const SymStencil5<G>& o)
      : ny(o.ny), nx(o.nx), c(o.c.begin(), o.c.end()), e(o.e.begin(), o.e.end()),
        s(o.s.begin(), o.s.end()), zero(o.nx, F(0)) {}

  void operator()(const F* x, F* out) const {
    for (std::size_t i = 0; i < ny; ++i) {
      const std::size_t o = i * nx;
      const F* xr = x + o;
      // the coupling to a row outside the image is zero: read any valid row with zero weights
      const F* up = i > 0 ? xr - nx : xr;
      const F* sup = i > 0 ? s.data() + o - nx : zero.data();
      const F* dn = i + 1 < ny ? xr + nx : xr;
      const F* sdn = s.data() + o;
      const F* cc = c.data() + o;
      const F* ce = e.data() + o;
      F* orow = out + o;
      if (nx == 1) {
        orow[0] = cc[0] * xr[0] + sup[0] * up[0] + sdn[0] * dn[0];
        continue;
      }
      orow[0] = cc[0] * xr[0] + ce[0] * xr[1] + sup[0] * up[0] + sdn[0] * dn[0];
      for (std::size_t j = 1; j + 1 < nx; ++j)
        orow[j] = cc[j] * xr[j] + ce[j] * xr[j + 1] + ce[j - 1] * xr[j - 1] + sup[j] * up[j] +
                  sdn[j] * dn[j];
      const std::size_t j = nx - 1;
      orow[j] = cc[j] * xr[j] + ce[j - 1] * xr[j - 1] + sup[j] * up[j] + sdn[j] * dn[j];
    }
  }
};

// The implicit step matrix M = I - tau A applied matrix-free from the drift: every flux is
// evaluated from (dx, dy) on the fly, which reads four arrays per product instead of the six of
// an assembled five-point stencil.
template <class T>
struct OsmosisStepOperator {
  const T* dx;
  const T* dy;
  std::size_t ny, nx;
  T tau;

  void operator()(const T* x, T* out) const {
    double ab = 0.0, oo = 0.0;
    run<false>(x, out, nullptr, ab, oo);
  }

  // out = M x, ab = <a, out>, oo = <out, out> (lane accumulators by column, fixed order)
  void apply_dot(const T* x, T* out, const T* a, double& ab, double& oo) const {
    run<true>(x, out, a, ab, oo);
  }

  template <bool Dot>
  void run(const T* x, T* out, const T* a, double& ab, double& oo) const {
    constexpr std::size_t L = detail::kLanes;
    double acc_ab[L] = {}, acc_oo[L] = {};
    const T half(0.5);
    for (std::size_t i = 0; i < ny; ++i) {
      const T* xr = x + i * nx;
      const T* hx = dx + i * (nx - 1);
      T* orow = out + i * nx;
      // horizontal fluxes
      if (nx == 1) {
        orow[0] = T(0);
      } else {
        T fl = (xr[1] - xr[0]) - hx[0] * half * (xr[1] + xr[0]);
        orow[0] = fl;
        for (std::size_t j = 1; j + 1 < nx; ++j) {
          const T fr = (xr[j + 1] - xr[j]) - hx[j] * half * (xr[j + 1] + xr[j]);
          orow[j] = fr - fl;
          fl = fr;
        }
        orow[nx - 1] = -fl;
      }
      // vertical fluxes
      if (i + 1 < ny) {
        const T* dn = xr + nx;
        const T* hy = dy + i * nx;
        for (std::size_t j = 0; j < nx; ++j)
          orow[j] += (dn[j] - xr[j]) - hy[j] * half * (dn[j] + xr[j]);
      }
      if (i > 0) {
        const T* up = xr - nx;
        const T* hy = dy + (i - 1) * nx;
        for (std::size_t j = 0; j < nx; ++j)
          orow[j] -= (xr[j] - up[j]) - hy[j] * half * (xr[j] + up[j]);
      }
      if constexpr (Dot) {
        const T* arow = a + i * nx;
        std::size_t j = 0;
        for (; j + L <= nx; j += L)
          for (std::size_t l = 0; l < L; ++l) {
            const T o = xr[j + l] - tau * orow[j + l];
            orow[j + l] = o;
            acc_ab[l] += static_cast<double>(arow[j + l]) * static_cast<double>(o);
            acc_oo[l] += static_cast<double>(o) * static_cast<double>(o);
          }
        for (std::size_t l = 0; j < nx; ++j, ++l) {
          const T o = xr[j] - tau * orow[j];
          orow[j] = o;
          acc_ab[l] += static_cast<double>(arow[j]) * static_cast<double>(o);
          acc_oo[l] += static_cast<double>(o) * static_cast<double>(o);
        }
      } else {
        for (std::size_t j = 0; j < nx; ++j) orow[j] = xr[j] - tau * orow[j];
      }
    }
    if constexpr (Dot) {
      ab = 0.0;
      oo = 0.0;
      for (std::size_t l = 0; l < L; ++l) {
        ab += acc_ab[l];
        oo += acc_oo[l];
      }
    }
  }
};

// Diagonal of M = I - tau A.
template <class T>
void osmosis_step_diagonal(const T* dx, const T* dy, std::size_t ny, std::size_t nx, T tau, T* diag) {
  for (std::size_t k = 0; k < ny * nx; ++k) diag[k] = T(1);
  for (std::size_t i = 0; i < ny; ++i)
    for (std::size_t j = 0; j + 1 < nx; ++j) {
      const T d = dx[i * (nx - 1) + j] * T(0.5);
      diag[i * nx + j] += tau * (T(1) + d);
      diag[i * nx + j + 1] += tau * (T(1) - d);
    }
  for (std::size_t i = 0; i + 1 < ny; ++i)
    for (std::size_t j = 0; j < nx; ++j) {
      const T d = dy[i * nx + j] * T(0.5);
      diag[i * nx + j] += tau * (T(1) + d);
      diag[(i + 1) * nx + j] += tau * (T(1) - d);
    }
}

// Stencil of the implicit step matrix M = I - tau A for the drift (dx, dy).
template <class T>
Stencil5<T> osmosis_step_stencil(const T* dx, const T* dy, std::size_t ny, std::size_t nx, T tau) {
  Stencil5<T> m(ny, nx);
  for (std::size_t k = 0; k < ny * nx; ++k) m.c[k] = T(1);
  // edge p -> q with drift d: A_pq = 1 - d/2, A_pp -= 1 + d/2, A_qp = 1 + d/2, A_qq -= 1 - d/2
  for (std::size_t i = 0; i < ny; ++i)
    for (std::size_t j = 0; j + 1 < nx; ++j) {
      const T d = dx[i * (nx - 1) + j] * T(0.5);
      const std::size_t p = i * nx + j, q = p + 1;
      m.e[p] = -tau * (T(1) - d);
      m.c[p] += tau * (T(1) + d);
      m.w[q] = -tau * (T(1) + d);
      m.c[q] += tau * (T(1) - d);
    }
  for (std::size_t i = 0; i + 1 < ny; ++i)
    for (std::size_t j = 0; j < nx; ++j) {
      const T d = dy[i * nx + j] * T(0.5);
      const std::size_t p = i * nx + j, q = p + nx;
      m.s[p] = -tau * (T(1) - d);
      m.c[p] += tau * (T(1) + d);
      m.n[q] = -tau * (T(1) + d);
      m.c[q] += tau * (T(1) - d);
    }
  return m;
}

// Symmetric positive definite form of the step for the canonical drift of v > 0:
// S = diag(v) + tau K with K the graph Laplacian of the edge weights 2 v_p v_q / (v_p + v_q).
// (I - tau A) u = S (u / v), so both systems have the same residual.
template <class T>
SymStencil5<T> osmosis_spd_stencil(const T* v, std::size_t ny, std::size_t nx, T tau) {
  SymStencil5<T> m(ny, nx);
  for (std::size_t k = 0; k < ny * nx; ++k) m.c[k] = v[k];
  auto edge = [&](std::size_t p, std::size_t q, T* coef) {
    const T cw = tau * T(2) * v[p] * v[q] / (v[p] + v[q]);
    coef[p] = -cw;
    m.c[p] += cw;
    m.c[q] += cw;
  };
  for (std::size_t i = 0; i < ny; ++i)
    for (std::size_t j = 0; j + 1 < nx; ++j) edge(i * nx + j, i * nx + j + 1, m.e.data());
  for (std::size_t i = 0; i + 1 < ny; ++i)
    for (std::size_t j = 0; j < nx; ++j) edge(i * nx + j, (i + 1) * nx + j, m.s.data());
  return m;
}

// Exact mass conservation of an approximate step solution. The exact solution has the mass of
// b (the columns of A sum to zero); an iterate misses it by the mass of its residual. For the
// canonical drift of v, A v = 0, so M v = v and x + alpha v with alpha = (sum b - sum x) / sum v
// has exactly the mass of b (up to rounding) and its residual changes by -alpha v, whose norm is
// at most about ||r||. The reported residual is recomputed; a correction that would push a
// converged iterate above rtol is not applied.
template <class T, class Apply>
void conserve_mass(Apply& m, const T* b, T* x, const T* v, std::size_t n, double rtol,
                   SolveInfo& info) {
  if (!std::isfinite(info.residual)) return;
  const double defect = detail::reduce(
      n, [&](std::size_t k) { return static_cast<double>(b[k]) - static_cast<double>(x[k]); });
  const double vsum = detail::reduce(n, [&](std::size_t k) { return static_cast<double>(v[k]); });
  const T alpha = static_cast<T>(defect / vsum);
  if (alpha == T(0)) return;
  for (std::size_t k = 0; k < n; ++k) x[k] += alpha * v[k];
  std::vector<T> r(n);
  const double bnorm = detail::norm2(b, n);
  if (!(bnorm > 0.0)) return;
  const double res = detail::residual(m, b, x, r.data(), n) / bnorm;
  if (info.converged && !(res <= rtol)) {  // keep the converged iterate
    for (std::size_t k = 0; k < n; ++k) x[k] -= alpha * v[k];
    return;
  }
  info.residual = res;
  info.converged = std::isfinite(res) && res <= rtol;
}

enum class StepMethod { bicgstab, cg };
enum class StepPrecond { none, jacobi, dct, two_level };

// DCT preconditioner: out = scale_out * IDCT(DCT(scale_in * r) / denom), with the homogeneous-
// diffusion operator's DCT symbol in denom (scale_in, scale_out may be null), for vectors r, out
// of T or float. The transforms run in float32: the preconditioner only steers the iteration,
// residuals and updates stay in T.
template <class T>
struct DctPrecond {
  const T* denom;
  const T* scale_in;
  const T* scale_out;
  std::size_t ny, nx;
  int workers;
  mutable std::vector<float> tmp = std::vector<float>(2 * ny * nx);

  template <class R>
  void operator()(const R* r, R* out) const {
    const std::size_t n = ny * nx;
    float* a = tmp.data();
    float* c = a + n;
    for (std::size_t q = 0; q < n; ++q)
      c[q] = static_cast<float>(scale_in ? scale_in[q] * r[q] : r[q]);
    dct2d(c, a, 1, ny, nx, false, workers);
    for (std::size_t q = 0; q < n; ++q) a[q] = static_cast<float>(a[q] / denom[q]);
    dct2d(a, c, 1, ny, nx, true, workers);
    for (std::size_t q = 0; q < n; ++q)
      out[q] = static_cast<R>(scale_out ? static_cast<T>(c[q]) * scale_out[q] : static_cast<T>(c[q]));
  }
};

// Two-level preconditioner: for an operator with a float32 copy `op` (diagonal op.c) and a
// coarse approximate inverse `coarse` (the DCT preconditioner), a Jacobi sweep, a coarse
// correction and a second Jacobi sweep,
//   z1 = D^-1 r,  z2 = z1 + P^-1 (r - M z1),  z = z2 + D^-1 (r - M z2),  out = scale_out z.
// The DCT part removes the smooth error that Jacobi barely touches; the Jacobi sweeps remove the
// local error of a strongly varying guidance that the DCT symbol cannot see (pixels clipped to a
// tiny guidance value, for example). For the SPD form, whose Jacobi iteration converges
// (diagonal dominance), z is symmetric positive definite in r, as conjugate gradients need. Like
// the transforms it runs in float32; scale_out = v turns an approximate inverse of the SPD form
// S into one of M = S diag(1/v) for BiCGSTAB.
template <class T, class Op, class Coarse>
struct TwoLevelPrecond {
  const Op& op;
  const Coarse& coarse;
  const T* scale_out;
  std::size_t n;
  mutable std::vector<float> buf = std::vector<float>(4 * n);

  void operator()(const T* r, T* out) const {
    float* r32 = buf.data();
    float* z = r32 + n;
    float* q = z + n;
    float* e = q + n;
    const float* d = op.c.data();
    for (std::size_t k = 0; k < n; ++k) {
      r32[k] = static_cast<float>(r[k]);
      z[k] = r32[k] / d[k];
    }
    op(z, q);
    for (std::size_t k = 0; k < n; ++k) q[k] = r32[k] - q[k];
    coarse(q, e);
    for (std::size_t k = 0; k < n; ++k) z[k] += e[k];
    op(z, q);
    for (std::size_t k = 0; k < n; ++k) {
      const T zk = static_cast<T>(z[k] + (r32[k] - q[k]) / d[k]);
      out[k] = scale_out ? zk * scale_out[k] : zk;
    }
  }
};

// One implicit osmosis step (I - tau A) x = b for one image, x holds the start on entry.
// bicgstab works on M = I - tau A built from (dx, dy); cg works on the SPD form and needs v.
// With v given, the result is corrected to conserve mass exactly (see conserve_mass). `ext` is
// the DCT preconditioner (StepPrecond::dct, and the coarse part of StepPrecond::two_level), a
// callable (const T* r, T* out) approximating the inverse of M (bicgstab) or of S (cg).
template <class T, class Ext>
SolveInfo osmosis_step(const T* b, T* x, const T* dx, const T* dy, const T* v, std::size_t ny,
                       std::size_t nx, T tau, StepMethod method, StepPrecond pre, const Ext& ext,
                       double rtol, std::size_t maxiter, double breakdown) {
  const std::size_t n = ny * nx;
  if (method == StepMethod::cg) {
    const SymStencil5<T> m = osmosis_spd_stencil(v, ny, nx, tau);
    for (std::size_t k = 0; k < n; ++k) x[k] /= v[k];
    SolveInfo info;
    if (pre == StepPrecond::none) {
      NoPrecond<T> pc{n};
      info = conjugate_gradient(m, pc, b, x, n, rtol, maxiter);
    } else if (pre == StepPrecond::jacobi) {
      JacobiPrecond<T> pc{m.c.data(), n};
      info = conjugate_gradient(m, pc, b, x, n, rtol, maxiter);
    } else if (pre == StepPrecond::two_level) {
      const SymStencil5<float> m32(m);
      TwoLevelPrecond<T, SymStencil5<float>, Ext> pc{m32, ext, nullptr, n};
      info = conjugate_gradient(m, pc, b, x, n, rtol, maxiter);
    } else {
      info = conjugate_gradient(m, ext, b, x, n, rtol, maxiter);
    }
    for (std::size_t k = 0; k < n; ++k) x[k] *= v[k];
    OsmosisStepOperator<T> mu{dx, dy, ny, nx, tau};
    conserve_mass(mu, b, x, v, n, rtol, info);
    return info;
  }
  OsmosisStepOperator<T> m{dx, dy, ny, nx, tau};
  SolveInfo info;
  if (pre == StepPrecond::none) {
    NoPrecond<T> pc{n};
    info = bicgstab(m, pc, b, x, n, rtol, maxiter, breakdown);
  } else if (pre == StepPrecond::jacobi) {
    std::vector<T> diag(n);
    osmosis_step_diagonal(dx, dy, ny, nx, tau, diag.data());
    JacobiPrecond<T> pc{diag.data(), n};
    info = bicgstab(m, pc, b, x, n, rtol, maxiter, breakdown);
  } else if (pre == StepPrecond::two_level && v) {
    // precondition M = S diag(1/v) through the SPD form: M^-1 = diag(v) S^-1
    const SymStencil5<float> s32(osmosis_spd_stencil(v, ny, nx, tau));
    TwoLevelPrecond<T, SymStencil5<float>, Ext> pc{s32, ext, v, n};
    info = bicgstab(m, pc, b, x, n, rtol, maxiter, breakdown);
  } else if (pre == StepPrecond::two_level) {
    const Stencil5<float> m32(osmosis_step_stencil(dx, dy, ny, nx, tau));
    TwoLevelPrecond<T, Stencil5<float>, Ext> pc{m32, ext, nullptr, n};
    info = bicgstab(m, pc, b, x, n, rtol, maxiter, breakdown);
  } else {
    info = bicgstab(m, ext, b, x, n, rtol, maxiter, breakdown);
  }
  if (v) conserve_mass(m, b, x, v, n, rtol, info);
  return info;
}

}  // namespace pyscale
