// Osmosis operator of the Vogel-Hagenburg-Weickert-Setzer discretisation (grid size h = 1,
// reflecting boundaries). Pure C++: no Python types in this header.
//
// For an image u of ny x nx pixels and drift components on the half-grid points,
//   dx[i][j] between (i, j) and (i, j+1), shape ny x (nx-1),
//   dy[i][j] between (i, j) and (i+1, j), shape (ny-1) x nx,
// the flux across a half-grid point is F = (u_right - u_left) - d (u_right + u_left) / 2 and
// (A u)_p is the sum of the fluxes entering pixel p minus those leaving it.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "aggregation_cycle.hpp"
#include "preconditioners.hpp"
#include "red_black.hpp"
#include "row_blocks.hpp"
#include "scratch.hpp"
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
  Buffer<T> c, w, e, n, s;

  Stencil5(std::size_t ny_, std::size_t nx_)
      : ny(ny_),
        nx(nx_),
        c(ny_ * nx_, T(0)),
        w(ny_ * nx_, T(0)),
        e(ny_ * nx_, T(0)),
        n(ny_ * nx_, T(0)),
        s(ny_ * nx_, T(0)) {}

  template <class G>
  explicit Stencil5(const Stencil5<G>& o)
      : ny(o.ny),
        nx(o.nx),
        c(o.c.begin(), o.c.end()),
        w(o.w.begin(), o.w.end()),
        e(o.e.begin(), o.e.end()),
        n(o.n.begin(), o.n.end()),
        s(o.s.begin(), o.s.end()) {}

  // rows [i0, i1) of out = stencil x
  PYSCALE_VECTOR_LOOP void rows(const T* x, T* out, std::size_t i0, std::size_t i1) const {
    for (std::size_t i = i0; i < i1; ++i) {
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
        orow[j] =
            cc[j] * xr[j] + cw[j] * xr[j - 1] + ce[j] * xr[j + 1] + cn[j] * up[j] + cs[j] * dn[j];
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
  Buffer<F> c, e, s;
  std::vector<F> zero;  // the coupling to the row above the first

  // The coefficients are left unset: the caller writes every one of them.
  SymStencil5(std::size_t ny_, std::size_t nx_)
      : ny(ny_), nx(nx_), c(ny_ * nx_), e(ny_ * nx_), s(ny_ * nx_), zero(nx_, F(0)) {}

  template <class G>
  explicit SymStencil5(const SymStencil5<G>& o)
      : ny(o.ny),
        nx(o.nx),
        c(o.c.begin(), o.c.end()),
        e(o.e.begin(), o.e.end()),
        s(o.s.begin(), o.s.end()),
        zero(o.nx, F(0)) {}

  // rows [i0, i1) of out = stencil x
  PYSCALE_VECTOR_LOOP void rows(const F* x, F* out, std::size_t i0, std::size_t i1) const {
    for (std::size_t i = i0; i < i1; ++i) {
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

  // rows [i0, i1) of out = M x
  PYSCALE_VECTOR_LOOP void rows(const T* x, T* out, std::size_t i0, std::size_t i1) const {
    const T half(0.5);
    for (std::size_t i = i0; i < i1; ++i) {
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
      for (std::size_t j = 0; j < nx; ++j) orow[j] = xr[j] - tau * orow[j];
    }
  }
};

// Diagonal of M = I - tau A.
template <class T>
void osmosis_step_diagonal(const T* dx, const T* dy, std::size_t ny, std::size_t nx, T tau,
                           T* diag) {
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

namespace detail {

// The couplings of the SPD form in rows [i0, i1): e_p = -tau w(p, p + 1), s_p = -tau w(p, p + nx)
// with the edge weights w(p, q) = 2 v_p v_q / (v_p + v_q), and zero where the neighbour would lie
// outside the image.
template <class T>
PYSCALE_VECTOR_LOOP void spd_couplings(const T* __restrict v, T* __restrict e, T* __restrict s,
                                       std::size_t i0, std::size_t i1, std::size_t ny,
                                       std::size_t nx, T tau) {
  for (std::size_t i = i0; i < i1; ++i) {
    const T* vr = v + i * nx;
    T* er = e + i * nx;
    for (std::size_t j = 0; j + 1 < nx; ++j)
      er[j] = -tau * T(2) * vr[j] * vr[j + 1] / (vr[j] + vr[j + 1]);
    er[nx - 1] = T(0);
    T* sr = s + i * nx;
    if (i + 1 == ny) {
      for (std::size_t j = 0; j < nx; ++j) sr[j] = T(0);
      continue;
    }
    const T* vd = vr + nx;
    for (std::size_t j = 0; j < nx; ++j) sr[j] = -tau * T(2) * vr[j] * vd[j] / (vr[j] + vd[j]);
  }
}

// The diagonal of the SPD form in rows [i0, i1): v plus the weights of the four edges; zero holds
// nx zeros, the couplings to the row above the first.
template <class T>
PYSCALE_VECTOR_LOOP void spd_diagonal(const T* __restrict v, const T* __restrict e,
                                      const T* __restrict s, const T* __restrict zero,
                                      T* __restrict c, std::size_t i0, std::size_t i1,
                                      std::size_t nx) {
  for (std::size_t i = i0; i < i1; ++i) {
    const std::size_t o = i * nx;
    const T* up = i > 0 ? s + o - nx : zero;
    c[o] = v[o] - e[o] - up[0] - s[o];
    for (std::size_t j = 1; j < nx; ++j)
      c[o + j] = v[o + j] - e[o + j - 1] - e[o + j] - up[j] - s[o + j];
  }
}

// Over [0, n): the sum of v into out[0] and the sum of e + s into out[1].
template <class T>
PYSCALE_VECTOR_LOOP void stencil_sums(const T* __restrict v, const T* __restrict e,
                                      const T* __restrict s, std::size_t n, double* out) {
  out[0] = reduce(n, [&](std::size_t j) { return static_cast<double>(v[j]); });
  out[1] = reduce(
      n, [&](std::size_t j) { return static_cast<double>(e[j]) + static_cast<double>(s[j]); });
}

// Over [0, n): the sum of b - x into out[0] and the sum of v into out[1].
template <class T>
PYSCALE_VECTOR_LOOP void mass_sums(const T* __restrict b, const T* __restrict x,
                                   const T* __restrict v, std::size_t n, double* out) {
  out[0] = reduce(
      n, [&](std::size_t j) { return static_cast<double>(b[j]) - static_cast<double>(x[j]); });
  out[1] = reduce(n, [&](std::size_t j) { return static_cast<double>(v[j]); });
}

// x = w v from the solution w of the SPD form, over [0, n); returns the sum of b - x (the first
// sum of mass_sums).
template <class T>
PYSCALE_VECTOR_LOOP double unscale_defect(T* __restrict x, const T* __restrict v,
                                          const T* __restrict b, std::size_t n) {
  return reduce(n, [&](std::size_t j) {
    x[j] *= v[j];
    return static_cast<double>(b[j]) - static_cast<double>(x[j]);
  });
}

// x += alpha v over [0, n).
template <class T>
PYSCALE_VECTOR_LOOP void add_scaled(T* __restrict x, const T* __restrict v, T alpha,
                                    std::size_t n) {
  for (std::size_t q = 0; q < n; ++q) x[q] += alpha * v[q];
}

// x[q] = x[q] / v[q] (divide) or x[q] * v[q] over [0, n).
template <class T>
PYSCALE_VECTOR_LOOP void scale_by(T* __restrict x, const T* __restrict v, std::size_t n,
                                  bool divide) {
  if (divide)
    for (std::size_t q = 0; q < n; ++q) x[q] /= v[q];
  else
    for (std::size_t q = 0; q < n; ++q) x[q] *= v[q];
}

// Over [0, n), with q = S x: <x, q>, <x, v>, <x, b>, sum v, sum b and <b, b> into out[0..5]
// (one pass per sum: a block is in the cache, and single sums vectorise best).
template <class T>
PYSCALE_VECTOR_LOOP void start_sums(const T* __restrict x, const T* __restrict q,
                                    const T* __restrict v, const T* __restrict b, std::size_t n,
                                    double* out) {
  auto d = [](T a) { return static_cast<double>(a); };
  out[0] = reduce(n, [&](std::size_t j) { return d(x[j]) * d(q[j]); });
  out[1] = reduce(n, [&](std::size_t j) { return d(x[j]) * d(v[j]); });
  out[2] = reduce(n, [&](std::size_t j) { return d(x[j]) * d(b[j]); });
  out[3] = reduce(n, [&](std::size_t j) { return d(v[j]); });
  out[4] = reduce(n, [&](std::size_t j) { return d(b[j]); });
  out[5] = reduce(n, [&](std::size_t j) { return d(b[j]) * d(b[j]); });
}

// Over [0, n), with r = S x on entry: x = alpha x + beta, r = b - alpha r - beta v (the residual
// of the new x, as S 1 = v); returns ||r||^2. The lane loop written out, as in update_cg.
template <class T>
PYSCALE_VECTOR_LOOP double start_update(T* __restrict x, T* __restrict r, const T* __restrict b,
                                        const T* __restrict v, T alpha, T beta, std::size_t n) {
  double acc[kLanes] = {};
  std::size_t k = 0;
  for (; k + kLanes <= n; k += kLanes)
    for (std::size_t l = 0; l < kLanes; ++l) {
      x[k + l] = alpha * x[k + l] + beta;
      const T rk = b[k + l] - alpha * r[k + l] - beta * v[k + l];
      r[k + l] = rk;
      acc[l] += static_cast<double>(rk) * static_cast<double>(rk);
    }
  for (std::size_t l = 0; k < n; ++k, ++l) {
    x[k] = alpha * x[k] + beta;
    const T rk = b[k] - alpha * r[k] - beta * v[k];
    r[k] = rk;
    acc[l] += static_cast<double>(rk) * static_cast<double>(rk);
  }
  double out = 0.0;
  for (std::size_t l = 0; l < kLanes; ++l) out += acc[l];
  return out;
}

}  // namespace detail

// The start of the SPD solve S w = b from w = x: x is replaced by the combination alpha x + beta
// of x and the constant image that is closest to the solution in the energy norm of S (the
// Galerkin projection onto their span), and r receives its residual. As S 1 = v this costs one
// product S x and a few sums. The constant image is the direction the large steps move the
// most (it is the steady state u = v), the image itself the one the small steps keep: from
// x = b / v alone the solver needs 1-3 more iterations at tau >= 30, from the constant 0-1 more
// at tau = 3 (measured on five BSDS500 photos). A nearly constant x is kept as it is.
template <class T>
StartResidual galerkin_start(RowBlocks& rb, const SymStencil5<T>& m, const T* b, const T* v, T* x,
                             T* r) {
  using Block = RowBlocks::Block;
  const auto s = rb.sums<6>([&](const Block& k, double* part) {
    m.rows(x, r, k.i0, k.i1);
    detail::start_sums(x + k.k0, r + k.k0, v + k.k0, b + k.k0, k.size(), part);
  });
  // [<x, S x>, <x, v>; <x, v>, sum v] (alpha, beta) = (<x, b>, sum b); det >= 0 for SPD S
  const double det = s[0] * s[3] - s[1] * s[1];
  double alpha = 1.0, beta = 0.0;
  if (std::isfinite(det) && det > 1e-12 * s[0] * s[3]) {
    const double a = (s[2] * s[3] - s[1] * s[4]) / det, c = (s[0] * s[4] - s[1] * s[2]) / det;
    if (std::isfinite(a) && std::isfinite(c)) {
      alpha = a;
      beta = c;
    }
  }
  const double rr = rb.sum([&](const Block& k) {
    return detail::start_update(x + k.k0, r + k.k0, b + k.k0, v + k.k0, static_cast<T>(alpha),
                                static_cast<T>(beta), k.size());
  });
  return {std::sqrt(s[5]), std::sqrt(rr)};
}

// The sums of a guidance v and of its edge weights 2 v_p v_q / (v_p + v_q).
struct GuidanceSums {
  double v = 0.0, w = 0.0;
};

// Symmetric positive definite form of the step for the canonical drift of v > 0:
// S = diag(v) + tau K with K the graph Laplacian of the edge weights 2 v_p v_q / (v_p + v_q).
// (I - tau A) u = S (u / v), so both systems have the same residual. sums, if given, receives
// the sums of v and of the edge weights.
template <class T>
SymStencil5<T> osmosis_spd_stencil(RowBlocks& rb, const T* v, T tau, GuidanceSums* sums = nullptr) {
  const std::size_t ny = rb.ny(), nx = rb.nx();
  SymStencil5<T> m(ny, nx);
  rb.each([&](const RowBlocks::Block& k) {
    detail::spd_couplings(v, m.e.data(), m.s.data(), k.i0, k.i1, ny, nx, tau);
  });
  const auto s = rb.sums<2>([&](const RowBlocks::Block& k, double* part) {
    detail::spd_diagonal(v, m.e.data(), m.s.data(), m.zero.data(), m.c.data(), k.i0, k.i1, nx);
    detail::stencil_sums(v + k.k0, m.e.data() + k.k0, m.s.data() + k.k0, k.size(), part);
  });
  if (sums) *sums = {s[0], -s[1] / static_cast<double>(tau)};
  return m;
}

// out = M x with M = I - tau A as the solvers apply it (the assembled five-point stencil).
template <class T>
void osmosis_step_matvec(const T* x, T* out, const T* dx, const T* dy, std::size_t ny,
                         std::size_t nx, T tau) {
  osmosis_step_stencil(dx, dy, ny, nx, tau).rows(x, out, 0, ny);
}

// out = S w with S = diag(v) + tau K, the symmetric form of the step, on one thread.
template <class T>
void osmosis_spd_matvec(const T* w, T* out, const T* v, std::size_t ny, std::size_t nx, T tau) {
  Team team(1);
  RowBlocks rb(ny, nx, team);
  osmosis_spd_stencil(rb, v, tau).rows(w, out, 0, ny);
}

// Exact mass conservation of an approximate step solution. The exact solution has the mass of
// b (the columns of A sum to zero); an iterate misses it by the mass of its residual. For the
// canonical drift of v, A v = 0, so M v = v and x + alpha v with alpha = (sum b - sum x) / sum v
// has exactly the mass of b (up to rounding) and the residual r - alpha v, r = b - M x the
// residual of x (that of the SPD form, equal up to rounding, for cg). Its norm is at most about
// ||r||; a correction that would push a converged iterate above rtol is not applied. defect is
// the sum of b - x, vsum that of v and bnorm = ||b||.
template <class T>
void conserve_mass(RowBlocks& rb, T* x, const T* r, const T* v, double defect, double vsum,
                   double bnorm, double rtol, SolveInfo& info) {
  using Block = RowBlocks::Block;
  if (!std::isfinite(info.residual)) return;
  const T alpha = static_cast<T>(defect / vsum);
  if (alpha == T(0)) return;
  if (!(bnorm > 0.0)) return;
  const double res = std::sqrt(rb.sum([&](const Block& k) {
                       return detail::shifted_norm2(r + k.k0, v + k.k0, alpha, k.size());
                     })) /
                     bnorm;
  if (info.converged && !(res <= rtol)) return;  // keep the converged iterate
  rb.each([&](const Block& k) { detail::add_scaled(x + k.k0, v + k.k0, alpha, k.size()); });
  info.residual = res;
  info.converged = std::isfinite(res) && res <= rtol;
}

// The same, with the sums computed here.
template <class T>
void conserve_mass(RowBlocks& rb, const T* b, T* x, const T* r, const T* v, double rtol,
                   SolveInfo& info) {
  if (!std::isfinite(info.residual)) return;
  const auto sums = rb.sums<2>([&](const RowBlocks::Block& k, double* part) {
    detail::mass_sums(b + k.k0, x + k.k0, v + k.k0, k.size(), part);
  });
  conserve_mass(rb, x, r, v, sums[0], sums[1], std::sqrt(detail::dot(rb, b, b)), rtol, info);
}

// The island deflation of the SPD form m (null without islands), its start applied to x and its
// residual r (see islands.hpp).
template <class T>
std::unique_ptr<IslandDeflation<T>> island_start(RowBlocks& rb, const SymStencil5<T>& m,
                                                 const std::int32_t* islands, T* x, T* r,
                                                 StartResidual& start) {
  if (!islands) return nullptr;
  std::unique_ptr<IslandDeflation<T>> island(new IslandDeflation<T>(islands, m));
  if (island->empty()) return nullptr;
  island->correct_start(x, r);
  start.rnorm = std::sqrt(detail::dot(rb, r, r));
  return island;
}

// Conjugate gradients on the red-black reduced form of S w = b (red_black.hpp), Jacobi-
// preconditioned through its unit-diagonal form, from the black values of x; x receives the
// full solution and r its residual. The reduced residual is the full one, so the solve stops on
// rtol ||b|| (bnorm = ||b||).
template <class T>
SolveInfo red_black_cg(RowBlocks& rb, const SymStencil5<T>& m, const T* b, T* x, T* r, double rtol,
                       std::size_t maxiter, double bnorm) {
  SolveInfo info;
  if (!(bnorm > 0.0)) {  // b = 0 (solution 0) or not finite, as conjugate_gradient reports it
    const StartResidual full{bnorm, 0.0};
    double bn = 0.0, rn = 0.0;
    detail::begin_solve(rb, m, b, x, r, rtol, info, bn, rn, &full);
    return info;
  }
  const RedBlackSystem<T> sys(rb, m);
  RowBlocks half(sys.ny, sys.w, rb.team());
  const std::size_t nc = half.size();
  Buffer<T> buf(5 * nc);
  T *bc = buf.data(), *xc = bc + nc;  // the unit-diagonal form's right-hand side and unknowns
  sys.reduce(half, b, bc);
  sys.gather(half, x, xc);
  info.iterations = sys.solve(half, bc, xc, xc + nc, rtol * bnorm, maxiter);
  sys.expand(half, b, xc, x);
  detail::end_solve(rb, m, b, x, r, bnorm, rtol, info);
  return info;
}

enum class StepMethod { bicgstab, cg };
enum class StepPrecond { none, jacobi, dct, two_level, red_black, aggregation };

// The homogeneous-diffusion operator P = shift I + weight L whose inverse the DCT
// preconditioners apply (see DctSolve). For a guidance v with the sums g, P = mean(v) I +
// tau mean(w) L with w the edge weights 2 v_p v_q / (v_p + v_q) of the SPD form S: P and S share
// the null vector of the large-tau limit (constant u / v). For a drift alone (g null),
// P = I + tau L.
inline std::unique_ptr<DctSolve> coarse_solve(RowBlocks& rb, double tau, const GuidanceSums* g) {
  const std::size_t ny = rb.ny(), nx = rb.nx();
  if (!g) return std::unique_ptr<DctSolve>(new DctSolve(rb.team(), 1.0, tau, ny, nx));
  const std::size_t edges = ny * (nx - 1) + (ny - 1) * nx;
  const double mean_w = edges ? g->w / static_cast<double>(edges) : 1.0;
  return std::unique_ptr<DctSolve>(
      new DctSolve(rb.team(), g->v / static_cast<double>(ny * nx), tau * mean_w, ny, nx));
}

// One implicit osmosis step (I - tau A) x = b for one image, x holds the start on entry; the
// team of rb does the work. bicgstab works on M = I - tau A built from (dx, dy); cg works on the
// SPD form and needs v. With v given, the result is corrected to conserve mass exactly (see
// conserve_mass). The DCT preconditioner (StepPrecond::dct, and the coarse part of
// StepPrecond::two_level) applies the inverse of coarse_solve's P: it approximates the inverse of
// S (cg), of M = S diag(1/v) as diag(v) P^-1 (bicgstab with v), or of M (a drift alone).
// StepPrecond::red_black (cg only) solves the red-black reduced form (red_black_cg).
// islands (may be null): the island of each pixel, -1 for none, for the island deflation of the
// two-level preconditioner of cg (islands.hpp).
// hierarchy (may be null): the aggregation hierarchy of v for StepPrecond::aggregation (cg only;
// built here when null), which serves every tau.
template <class T>
SolveInfo osmosis_step(RowBlocks& rb, const T* b, T* x, const T* dx, const T* dy, const T* v, T tau,
                       StepMethod method, StepPrecond pre, double rtol, std::size_t maxiter,
                       double breakdown, const std::int32_t* islands = nullptr,
                       const AggHierarchy* hierarchy = nullptr) {
  using Block = RowBlocks::Block;
  const std::size_t ny = rb.ny(), nx = rb.nx(), n = rb.size();
  Buffer<T> r(n);  // the residual of the solution
  const bool dct = pre == StepPrecond::dct || pre == StepPrecond::two_level;
  // the SPD form: the operator of cg, and with a guidance the source of the coarse operator
  GuidanceSums sums;
  const SymStencil5<T> m = method == StepMethod::cg || (v && dct)
                               ? osmosis_spd_stencil(rb, v, tau, &sums)
                               : SymStencil5<T>(0, 0);
  std::unique_ptr<DctSolve> coarse;
  if (dct) coarse = coarse_solve(rb, tau, v ? &sums : nullptr);
  if (method == StepMethod::cg) {
    rb.each([&](const Block& k) { detail::scale_by(x + k.k0, v + k.k0, k.size(), true); });
    // The red-black system starts from x itself: its short steps barely move the constant
    // image, and the Galerkin start, a product and two passes, cost more than it saved (without
    // it the first 12 steps of ten colour photos took 5252 iterations instead of 5279 and 7 %
    // less time).
    StartResidual start = pre == StepPrecond::red_black
                              ? StartResidual{std::sqrt(detail::dot(rb, b, b)), 0.0}
                              : galerkin_start(rb, m, b, v, x, r.data());
    const auto island = pre == StepPrecond::two_level
                            ? island_start(rb, m, islands, x, r.data(), start)
                            : std::unique_ptr<IslandDeflation<T>>();
    SolveInfo info;
    if (pre == StepPrecond::none) {
      NoPrecond<T> pc;
      info = conjugate_gradient(rb, m, pc, b, x, r.data(), rtol, maxiter, &start);
    } else if (pre == StepPrecond::jacobi) {
      JacobiPrecond<T> pc{m.c.data()};
      info = conjugate_gradient(rb, m, pc, b, x, r.data(), rtol, maxiter, &start);
    } else if (pre == StepPrecond::red_black) {
      info = red_black_cg(rb, m, b, x, r.data(), rtol, maxiter, start.bnorm);
    } else if (pre == StepPrecond::aggregation) {
      std::unique_ptr<AggHierarchy> own;
      if (!hierarchy) own.reset(new AggHierarchy(v, ny, nx));
      info = aggregation_cg(rb, m, hierarchy ? *hierarchy : *own, static_cast<double>(tau), b, x,
                            r.data(), rtol, maxiter, start);
    } else if (pre == StepPrecond::two_level) {
      const SymStencil5<float> m32(m);
      TwoLevelPrecond<T, SymStencil5<float>> pc{m32, *coarse, nullptr, island.get()};
      info = conjugate_gradient(rb, m, pc, b, x, r.data(), rtol, maxiter, &start);
    } else {
      DctPrecond<T> pc{*coarse, nullptr};
      info = conjugate_gradient(rb, m, pc, b, x, r.data(), rtol, maxiter, &start);
    }
    const double defect = rb.sum([&](const Block& k) {
      return detail::unscale_defect(x + k.k0, v + k.k0, b + k.k0, k.size());
    });
    conserve_mass(rb, x, r.data(), v, defect, sums.v, start.bnorm, rtol, info);
    return info;
  }
  const OsmosisStepOperator<T> mu{dx, dy, ny, nx, tau};
  SolveInfo info;
  if (pre == StepPrecond::none) {
    NoPrecond<T> pc;
    info = bicgstab(rb, mu, pc, b, x, r.data(), rtol, maxiter, breakdown);
  } else if (pre == StepPrecond::jacobi) {
    Buffer<T> diag(n);
    osmosis_step_diagonal(dx, dy, ny, nx, tau, diag.data());
    JacobiPrecond<T> pc{diag.data()};
    info = bicgstab(rb, mu, pc, b, x, r.data(), rtol, maxiter, breakdown);
  } else if (pre == StepPrecond::two_level && v) {
    // precondition M = S diag(1/v) through the SPD form: M^-1 = diag(v) S^-1
    const SymStencil5<float> s32(m);
    TwoLevelPrecond<T, SymStencil5<float>> pc{s32, *coarse, v, nullptr};
    info = bicgstab(rb, mu, pc, b, x, r.data(), rtol, maxiter, breakdown);
  } else if (pre == StepPrecond::two_level) {
    const Stencil5<float> m32(osmosis_step_stencil(dx, dy, ny, nx, tau));
    TwoLevelPrecond<T, Stencil5<float>> pc{m32, *coarse, nullptr, nullptr};
    info = bicgstab(rb, mu, pc, b, x, r.data(), rtol, maxiter, breakdown);
  } else {
    DctPrecond<T> pc{*coarse, v};
    info = bicgstab(rb, mu, pc, b, x, r.data(), rtol, maxiter, breakdown);
  }
  if (v) conserve_mass(rb, b, x, r.data(), v, rtol, info);
  return info;
}

}  // namespace pyscale
