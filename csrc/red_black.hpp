// The red-black reduced form of a symmetric five-point system, for conjugate gradients on short
// implicit osmosis steps. Pure C++: no Python types in this header.
//
// Colour pixel (i, j) red when i + j is even and black otherwise. A five-point stencil couples
// every pixel to pixels of the other colour only, so S = [D_r, S_rb; S_br, D_b] has diagonal
// blocks D_r and D_b, and eliminating the red pixels leaves the Schur complement
//   Sc = D_b - S_br D_r^-1 S_rb,   Sc w_b = b_b - S_br D_r^-1 b_r,   w_r = D_r^-1 (b_r - S_rb w_b),
// a symmetric nine-point stencil on the black pixels (their four diagonal neighbours and the
// four at distance two). After the back substitution the red residual is zero up to rounding
// and the black one is the residual of the reduced system, so a reduced residual below
// rtol ||b|| is a full residual below it.
//
// For a consistently ordered matrix the Jacobi-preconditioned spectrum of S is symmetric about
// 1 and that of D_b^-1 Sc is its square, so conjugate gradients need about half the iterations
// (measured: 4-20 against 8-39 at tau = 0.08-2.5 on a BSDS500 photo), each on half the pixels.
// They run on the unit-diagonal form H Sc H, H = D_b^-1/2: the Jacobi-preconditioned iteration
// without its division, and without the diagonal and the preconditioned residual in the memory
// traffic. An iteration passes over 16 arrays of the compact grid instead of 19; on a 321 x 481
// photo, where it is bound by memory traffic, it took 13 % less time.
//
// The black pixels are stored compactly: row i holds its black pixels j = 2 k + o(i),
// o(i) = 1 - i % 2, in column k + 1 of a row of width w = (nx + 1) / 2 + 2. The first and last
// columns, and the columns past the last black pixel of a row, are idle: diagonal 1, couplings
// 0, right-hand side 0, so the solvers keep zeros there and every product reads its neighbours
// without bounds checks. The red pixels use the same layout with o(i) = i % 2.
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <vector>

#include "row_blocks.hpp"
#include "scratch.hpp"
#include "solvers.hpp"

namespace pyscale {

template <class T>
class RedBlackSystem {
 public:
  // The reduced form of the symmetric five-point stencil m (SymStencil5<T>: fields ny, nx, c,
  // e, s); rb is the team's view of the full image.
  template <class Stencil>
  RedBlackSystem(RowBlocks& rb, const Stencil& m)
      : ny(m.ny),
        nx(m.nx),
        w((m.nx + 1) / 2 + 2),
        g(ny * w),
        h(ny * w),
        e(ny * w),
        s2(ny * w),
        dp(ny * w),
        dm(ny * w),
        rinv_(ny * w),
        zero_(w, T(0)),
        c_(m.c.data()),
        e_(m.e.data()),
        s_(m.s.data()) {
    RowBlocks half(ny, w, rb.team());
    half.each([&](const RowBlocks::Block& k) { red_inverse(k.i0, k.i1); });
    half.each([&](const RowBlocks::Block& k) { build(k.i0, k.i1); });
    half.each([&](const RowBlocks::Block& k) { to_unit_diagonal(k.i0, k.i1); });
  }

  std::size_t ny, nx, w;
  // the unit-diagonal form H Sc H of the compact nine-point stencil of Sc: g = D_b^1/2 and
  // h = D_b^-1/2 per black pixel; the couplings to (i, j + 2), (i + 2, j), (i + 1, j + 1) and
  // (i + 1, j - 1), scaled by h at both ends
  Buffer<T> g, h, e, s2, dp, dm;

  // rows [i0, i1) of out = H Sc H x on the compact grid
  void rows(const T* x, T* out, std::size_t i0, std::size_t i1) const {
    for (std::size_t i = i0; i < i1; ++i) {
      const std::size_t r = i * w;
      const T* xr = x + r;
      // rows outside the image are read with zero weights
      const Row row{e.data() + r,
                    s2.data() + r,
                    i >= 2 ? s2.data() + r - 2 * w : zero_.data(),
                    dp.data() + r,
                    dm.data() + r,
                    i >= 1 ? dp.data() + r - w : zero_.data(),
                    i >= 1 ? dm.data() + r - w : zero_.data(),
                    xr,
                    i >= 1 ? xr - w : xr,
                    i >= 2 ? xr - 2 * w : xr,
                    i + 1 < ny ? xr + w : xr,
                    i + 2 < ny ? xr + 2 * w : xr};
      // the neighbours in rows i +- 1 sit half a column to the left (o = 0) or right (o = 1)
      if (black_offset(i))
        row_product<1>(row, out + r, w);
      else
        row_product<0>(row, out + r, w);
    }
  }

  // The reduced right-hand side of the unit-diagonal form, bc = H (b_b - S_br D_r^-1 b_r), of
  // the full b.
  void reduce(RowBlocks& half, const T* b, T* bc) const {
    half.each([&](const RowBlocks::Block& k) {
      for (std::size_t i = k.i0; i < k.i1; ++i) {
        if (inner(i)) {
          const Taps t = taps(i);
          T* row = bc + i * w;
          reduce_row(t, b + t.p0, h.data() + i * w + 1, row + 1, t.count, nx);
          row[0] = T(0);
          std::fill(row + t.count + 1, row + w, T(0));
          continue;
        }
        each_black(i, bc, [&](std::size_t p, std::size_t j, std::size_t q, T& out) {
          const Neighbours nb = neighbours(i, j, q);
          out = (b[p] - nb.sum([&](std::size_t t) { return b[t]; })) * h[i * w + q];
        });
      }
    });
  }

  // The unknowns of the unit-diagonal form, G times the black values of the full x, on the
  // compact grid.
  void gather(RowBlocks& half, const T* x, T* xc) const {
    half.each([&](const RowBlocks::Block& k) {
      for (std::size_t i = k.i0; i < k.i1; ++i)
        each_black(i, xc, [&](std::size_t p, std::size_t, std::size_t q, T& out) {
          out = x[p] * g[i * w + q];
        });
    });
  }

  // The full solution x of the unknowns xc of the unit-diagonal form: the black values H xc,
  // the red values by back substitution.
  void expand(RowBlocks& half, const T* b, const T* xc, T* x) const {
    half.each([&](const RowBlocks::Block& k) {
      for (std::size_t i = k.i0; i < k.i1; ++i)
        for (std::size_t j = black_offset(i), q = 1; j < nx; j += 2, ++q)
          x[i * nx + j] = xc[i * w + q] * h[i * w + q];
    });
    half.each([&](const RowBlocks::Block& k) {
      for (std::size_t i = k.i0; i < k.i1; ++i) {
        if (inner(i)) {
          const std::size_t j0 = i % 2, p0 = i * nx + j0;
          expand_red_row(e_ + p0, s_ + p0, b + p0, rinv_.data() + i * w + 1, x + p0,
                         (nx - j0 + 1) / 2, nx);
          continue;
        }
        for (std::size_t j = i % 2, q = 1; j < nx; j += 2, ++q) {
          const std::size_t p = i * nx + j;
          T sum(0);
          if (j >= 1) sum += e_[p - 1] * x[p - 1];
          if (j + 1 < nx) sum += e_[p] * x[p + 1];
          if (i >= 1) sum += s_[p - nx] * x[p - nx];
          if (i + 1 < ny) sum += s_[p] * x[p + nx];
          x[p] = (b[p] - sum) * rinv_[i * w + q];
        }
      }
    });
  }

  // Conjugate gradients on the unit-diagonal form (H Sc H) y = bc (from reduce) from y = xc
  // (from gather), which receives the solution; work holds 3 size() values. The residual of the
  // reduced system is G times that of y: the iteration stops when its norm, recursive and then
  // the true one, is at most tol, or after maxiter iterations; a recursive residual that drifted
  // from the true one restarts it. Returns the iterations.
  std::size_t solve(RowBlocks& half, const T* bc, T* xc, T* work, double tol,
                    std::size_t maxiter) const {
    using Block = RowBlocks::Block;
    const std::size_t n = half.size();
    T *r = work, *p = r + n, *q = p + n;
    // r = bc - (H Sc H) y: {||r||^2, ||G r||^2}
    const auto residual = [&] {
      return half.sums<2>([&](const Block& k, double* part) {
        rows(xc, r, k.i0, k.i1);
        unit_residual(bc + k.k0, g.data() + k.k0, r + k.k0, k.size(), part);
      });
    };
    std::array<double, 2> res = residual();
    std::size_t it = 0;
    double rho = res[0];
    T beta(0);
    bool restart = true;  // p = r
    while (it < maxiter && std::sqrt(res[1]) > tol) {
      ++it;
      half.each([&](const Block& k) {
        if (restart)
          std::copy(r + k.k0, r + k.k1, p + k.k0);
        else
          detail::xpby(r + k.k0, beta, p + k.k0, k.size());
      });
      const double pq = half.sum([&](const Block& k) {
        rows(p, q, k.i0, k.i1);
        return detail::dot_block(p + k.k0, q + k.k0, k.size());
      });
      if (!(pq > 0.0)) break;  // breakdown: the caller reports the residual of xc
      const T alpha = static_cast<T>(rho / pq);
      res = half.sums<2>([&](const Block& k, double* part) {
        unit_update(xc + k.k0, p + k.k0, r + k.k0, q + k.k0, g.data() + k.k0, alpha, k.size(),
                    part);
      });
      if (!std::isfinite(res[1])) break;
      restart = std::sqrt(res[1]) <= tol;
      if (restart) res = residual();  // confirm on the true residual, or restart from it
      beta = static_cast<T>(res[0] / rho);
      rho = res[0];
    }
    return it;
  }

 private:
  // r = b - r over [0, n), part = {||r||^2, ||g r||^2}
  static PYSCALE_VECTOR_LOOP void unit_residual(const T* __restrict b, const T* __restrict g,
                                                T* __restrict r, std::size_t n, double* part) {
    two_norms(n, g, r, part, [&](std::size_t k) { r[k] = b[k] - r[k]; });
  }

  // y += alpha p, r -= alpha q over [0, n), part = {||r||^2, ||g r||^2}
  static PYSCALE_VECTOR_LOOP void unit_update(T* __restrict y, const T* __restrict p,
                                              T* __restrict r, const T* __restrict q,
                                              const T* __restrict g, T alpha, std::size_t n,
                                              double* part) {
    two_norms(n, g, r, part, [&](std::size_t k) {
      y[k] += alpha * p[k];
      r[k] -= alpha * q[k];
    });
  }

  // part = {||r||^2, ||g r||^2} over [0, n) after set(k) has written r[k], in interleaved
  // double accumulators as detail::reduce
  template <class Set>
  static PYSCALE_INLINE void two_norms(std::size_t n, const T* __restrict g, const T* __restrict r,
                                       double* part, Set&& set) {
    constexpr std::size_t L = detail::kLanes;
    double a[L] = {}, b[L] = {};
    const auto add = [&](std::size_t k, std::size_t l) {
      set(k);
      const double rk = static_cast<double>(r[k]), gk = static_cast<double>(g[k] * r[k]);
      a[l] += rk * rk;
      b[l] += gk * gk;
    };
    std::size_t k = 0;
    for (; k + L <= n; k += L)
      for (std::size_t l = 0; l < L; ++l) add(k + l, l);
    for (std::size_t l = 0; k < n; ++k, ++l) add(k, l);
    part[0] = part[1] = 0.0;
    for (std::size_t l = 0; l < L; ++l) {
      part[0] += a[l];
      part[1] += b[l];
    }
  }

  // The coefficient rows a product reads: its own, those of the rows above that couple to it, and
  // the rows of x from two above to two below.
  struct Row {
    const T *e, *s2, *s2u, *dp, *dm, *dpu, *dmu;
    const T *x, *xu1, *xu2, *xd1, *xd2;
  };

  template <std::size_t O>
  static PYSCALE_VECTOR_LOOP void row_product(const Row& a, T* __restrict out, std::size_t w) {
    const T* __restrict e = a.e, * __restrict s2 = a.s2;
    const T* __restrict s2u = a.s2u, * __restrict dp = a.dp, * __restrict dm = a.dm;
    const T* __restrict dpu = a.dpu, * __restrict dmu = a.dmu, * __restrict x = a.x;
    const T* __restrict xu1 = a.xu1, * __restrict xu2 = a.xu2, * __restrict xd1 = a.xd1;
    const T* __restrict xd2 = a.xd2;
    out[0] = x[0];
    for (std::size_t q = 1; q + 1 < w; ++q)
      out[q] = x[q] + e[q] * x[q + 1] + e[q - 1] * x[q - 1] + s2[q] * xd2[q] + s2u[q] * xu2[q] +
               dp[q] * xd1[q + O] + dm[q] * xd1[q + O - 1] + dpu[q + O - 1] * xu1[q + O - 1] +
               dmu[q + O] * xu1[q + O];
    out[w - 1] = x[w - 1];
  }

  // the column offset of the black pixels of row i (that of the red ones is 1 - it)
  static std::size_t black_offset(std::size_t i) { return 1 - i % 2; }

  // Rows with a row above and below take the loops without bounds checks below: there a
  // neighbour outside the image has a zero coupling (the stencil's e is zero in the last column,
  // so e[p - 1] is zero in the first) and an idle 1 / D, and every index stays inside the arrays.
  bool inner(std::size_t i) const { return i >= 1 && i + 1 < ny; }

  // The black pixels of an inner row i: the first p0, their count, and the stencil and red
  // 1 / D rows as the loops read them (pixel k of the row at p0 + 2 k, compact column k + 1).
  struct Taps {
    std::size_t p0, count;
    const T *e, *s, *sn, *iw, *ie, *in, *is;
  };
  Taps taps(std::size_t i) const {
    const std::size_t o = black_offset(i), p0 = i * nx + o, r = i * w + 1;
    return {p0,
            (nx - o + 1) / 2,
            e_ + p0,
            s_ + p0,
            s_ + p0 - nx,
            rinv_.data() + r + o - 1,
            rinv_.data() + r + o,
            rinv_.data() + r - w,
            rinv_.data() + r + w};
  }

  // bc = h (b - (the red neighbours' couplings / D) . b) over the black pixels of an inner row
  static PYSCALE_VECTOR_LOOP void reduce_row(const Taps& t, const T* __restrict b,
                                             const T* __restrict h, T* __restrict bc,
                                             std::size_t count, std::size_t nx) {
    const T* __restrict e = t.e, * __restrict s = t.s, * __restrict sn = t.sn;
    const T* __restrict iw = t.iw, * __restrict ie = t.ie, * __restrict in = t.in;
    const T* __restrict is = t.is;
    for (std::size_t k = 0; k < count; ++k) {
      const std::size_t p = 2 * k;
      bc[k] = (b[p] - (e[p - 1] * iw[k] * b[p - 1] + e[p] * ie[k] * b[p + 1] +
                       sn[p] * in[k] * b[p - nx] + s[p] * is[k] * b[p + nx])) *
              h[k];
    }
  }

  // the compact stencil of the black pixels of an inner row (cf their full diagonal), written
  // from compact entry r on
  PYSCALE_VECTOR_LOOP void build_row(const Taps& t, const T* __restrict cf, std::size_t r,
                                     std::size_t count) {
    const T* __restrict e = t.e, * __restrict s = t.s, * __restrict sn = t.sn;
    const T* __restrict iw = t.iw, * __restrict ie = t.ie, * __restrict in = t.in;
    const T* __restrict is = t.is;
    T* __restrict oc = g.data() + r, * __restrict oe = RedBlackSystem::e.data() + r;
    T* __restrict os = s2.data() + r, * __restrict op = dp.data() + r;
    T* __restrict om = dm.data() + r;
    const std::size_t n = nx;
    for (std::size_t k = 0; k < count; ++k) {
      const std::size_t p = 2 * k;
      const T west = e[p - 1], east = e[p], north = sn[p], south = s[p];
      const T ww = west * iw[k], we = east * ie[k], wn = north * in[k], ws = south * is[k];
      oc[k] = cf[p] - west * ww - east * we - north * wn - south * ws;
      oe[k] = -we * e[p + 1];
      os[k] = -ws * s[p + n];
      op[k] = -(we * s[p + 1] + ws * e[p + n]);
      om[k] = -(ww * s[p - 1] + ws * e[p + n - 1]);
    }
  }

  // x = (b - the couplings . x) / D over the red pixels of an inner row (first at x)
  static PYSCALE_VECTOR_LOOP void expand_red_row(const T* __restrict e, const T* __restrict s,
                                                 const T* __restrict b, const T* __restrict inv,
                                                 T* x, std::size_t count, std::size_t nx) {
    for (std::size_t k = 0; k < count; ++k) {
      const std::size_t p = 2 * k;
      x[p] = (b[p] -
              (e[p - 1] * x[p - 1] + e[p] * x[p + 1] + s[p - nx] * x[p - nx] + s[p] * x[p + nx])) *
             inv[k];
    }
  }

  // The red neighbours of a black pixel: their full index, their coupling to it times their
  // 1 / D (zero for a neighbour outside the image, whose index is then the pixel's own).
  struct Neighbours {
    std::size_t at[4];
    T weight[4];
    void set(int side, std::size_t index, T w) {
      at[side] = index;
      weight[side] = w;
    }
    template <class Fn>
    T sum(Fn&& fn) const {
      return weight[0] * fn(at[0]) + weight[1] * fn(at[1]) + weight[2] * fn(at[2]) +
             weight[3] * fn(at[3]);
    }
  };

  // the neighbours (west, east, north, south) of the black pixel (i, j) in compact column q
  Neighbours neighbours(std::size_t i, std::size_t j, std::size_t q) const {
    const std::size_t p = i * nx + j, o = black_offset(i), r = i * w;
    Neighbours nb{{p, p, p, p}, {T(0), T(0), T(0), T(0)}};
    if (j >= 1) nb.set(0, p - 1, e_[p - 1] * rinv_[r + q + o - 1]);
    if (j + 1 < nx) nb.set(1, p + 1, e_[p] * rinv_[r + q + o]);
    if (i >= 1) nb.set(2, p - nx, s_[p - nx] * rinv_[r - w + q]);
    if (i + 1 < ny) nb.set(3, p + nx, s_[p] * rinv_[r + w + q]);
    return nb;
  }

  // fn(p, j, q, out) for the black pixels p = i nx + j of row i, out their entry in compact
  // column q; the idle entries of the row are set to 0
  template <class Fn>
  void each_black(std::size_t i, T* compact, Fn&& fn) const {
    T* row = compact + i * w;
    std::size_t q = 1;
    row[0] = T(0);
    for (std::size_t j = black_offset(i); j < nx; j += 2, ++q) fn(i * nx + j, j, q, row[q]);
    for (; q < w; ++q) row[q] = T(0);
  }

  void red_inverse(std::size_t i0, std::size_t i1) {
    for (std::size_t i = i0; i < i1; ++i) {
      T* row = rinv_.data() + i * w;
      std::size_t q = 1;
      row[0] = T(0);
      for (std::size_t j = i % 2; j < nx; j += 2, ++q) row[q] = T(1) / c_[i * nx + j];
      for (; q < w; ++q) row[q] = T(0);
    }
  }

  // g = sqrt(d) and h = 1 / g of the diagonal d held in g.
  static PYSCALE_VECTOR_LOOP void unit_scales(T* __restrict g, T* __restrict h, std::size_t n) {
    for (std::size_t j = 0; j < n; ++j) {
      g[j] = std::sqrt(g[j]);
      h[j] = T(1) / g[j];
    }
  }

  // The couplings of rows [i0, i1) scaled by h at both ends (the diagonal becomes 1). A coupling
  // to an entry outside the row is that of an idle entry, zero, and is left as it is.
  void to_unit_diagonal(std::size_t i0, std::size_t i1) {
    for (std::size_t i = i0; i < i1; ++i) {
      const std::size_t r = i * w, o = black_offset(i);
      const T* hr = h.data() + r;
      for (std::size_t q = 0; q + 1 < w; ++q) e[r + q] *= hr[q] * hr[q + 1];
      if (i + 2 < ny)
        for (std::size_t q = 0; q < w; ++q) s2[r + q] *= hr[q] * hr[q + 2 * w];
      if (i + 1 >= ny) continue;
      for (std::size_t q = 0; q + o < w; ++q) dp[r + q] *= hr[q] * hr[q + w + o];
      for (std::size_t q = 1 - o; q < w; ++q) dm[r + q] *= hr[q] * hr[q + w + o - 1];
    }
  }

  // The compact stencil of rows [i0, i1), its diagonal d as g = sqrt(d) and h = 1 / g. With the
  // neighbours' couplings a_t and 1 / D_t:
  // diagonal c_p - sum a_t^2 / D_t; to another black pixel through each red pixel t they share,
  // - a_t (coupling of t to it) / D_t.
  void build(std::size_t i0, std::size_t i1) {
    for (std::size_t i = i0; i < i1; ++i) {
      const std::size_t r = i * w;
      for (std::size_t q = 0; q < w; ++q) {
        g[r + q] = T(1);
        e[r + q] = s2[r + q] = dp[r + q] = dm[r + q] = T(0);
      }
      if (inner(i)) {
        const Taps t = taps(i);
        build_row(t, c_ + t.p0, r + 1, t.count);
        unit_scales(g.data() + r, h.data() + r, w);
        continue;
      }
      for (std::size_t j = black_offset(i), q = 1; j < nx; j += 2, ++q) {
        const std::size_t p = i * nx + j;
        const Neighbours nb = neighbours(i, j, q);
        const T west = j >= 1 ? e_[p - 1] : T(0), east = j + 1 < nx ? e_[p] : T(0);
        const T north = i >= 1 ? s_[p - nx] : T(0), south = i + 1 < ny ? s_[p] : T(0);
        const T* wt = nb.weight;  // west, east, north, south
        g[r + q] = c_[p] - west * wt[0] - east * wt[1] - north * wt[2] - south * wt[3];
        if (j + 2 < nx) e[r + q] = -wt[1] * e_[p + 1];
        if (i + 2 < ny) s2[r + q] = -wt[3] * s_[p + nx];
        if (i + 1 < ny && j + 1 < nx) dp[r + q] = -(wt[1] * s_[p + 1] + wt[3] * e_[p + nx]);
        if (i + 1 < ny && j >= 1) dm[r + q] = -(wt[0] * s_[p - 1] + wt[3] * e_[p + nx - 1]);
      }
      unit_scales(g.data() + r, h.data() + r, w);
    }
  }

  Buffer<T> rinv_;  // 1 / D of the red pixels, compact
  std::vector<T> zero_;
  const T *c_, *e_, *s_;  // the full stencil
};

}  // namespace pyscale
