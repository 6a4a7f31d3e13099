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
#include <vector>

#include "row_blocks.hpp"
#include "scratch.hpp"

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

}  // namespace pyscale
