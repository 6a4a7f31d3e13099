// The DCT-based preconditioners of the implicit osmosis step: the inverse of a homogeneous-
// diffusion operator through the DCT, alone or between two Jacobi sweeps.
// Pure C++: no Python types in this header.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <vector>

#include "dct.hpp"
#include "islands.hpp"
#include "row_blocks.hpp"
#include "scratch.hpp"
#include "solvers.hpp"
#include "team.hpp"

namespace pyscale {

// The inverse of the homogeneous-diffusion operator P = shift I + weight (Lx + Ly), Lx and Ly
// the 1-D Neumann Laplacians [1 -1; -1 2 -1; ...; -1 1] along x and y, in float32 (the
// preconditioners only steer the iteration; residuals and updates stay in T). The DCT along x
// diagonalises Lx: row frequency k leaves the tridiagonal system (shift + weight lx_k) I +
// weight Ly along y, solved by elimination. That is the inverse the 2-D DCT gives (the DCT
// along y diagonalises Ly), at a fraction of its cost: the column transforms of lengths like
// 321 = 3 x 107 took about half of the 2-D round trip. The pivots of the eliminations,
// d_i = weight + e_i (d = e in the last row) with
//   e_0 = s_k,  e_i = s_k + weight e_(i-1) / (weight + e_(i-1)),  s_k = shift + weight lx_k,
// are sums of positive terms, free of the cancellation of the textbook recursion
// d_i = s_k + 2 weight - weight^2 / d_(i-1) that loses the low frequencies of long time steps;
// e_i = s_k + weight e_(i-1) / d_(i-1) reuses the division of the stored 1 / d_(i-1).
// A team computes it in three phases: forward row transforms of the rows that load(i0, i1, a)
// writes into a (row i at a + i * nx); for each strip of columns the elimination; inverse row
// transforms, whose rows are handed to store(i0, i1, a).
class DctSolve {
 public:
  DctSolve(Team& team, double shift, double weight, std::size_t ny, std::size_t nx)
      : img_(1, ny, nx),
        ws_(static_cast<std::size_t>(team.size())),
        strip_(static_cast<std::size_t>(team.size())),
        a_(ny * nx),
        inv_(ny * nx),
        weight_(static_cast<float>(weight)) {
    for (auto& w : ws_) img_.reserve(w);
    for (auto& y : strip_) y.resize(ny * dct_detail::block_lines<float>());
    const double pi = 3.14159265358979323846;
    std::vector<double> sk(nx), e(nx);
    team.run(nx, [&](int, std::size_t k0, std::size_t k1) {
      for (std::size_t k = k0; k < k1; ++k) {
        const double h = std::sin(pi * static_cast<double>(k) / (2.0 * static_cast<double>(nx)));
        sk[k] = shift + weight * 4.0 * h * h;
      }
      pivots(sk.data(), e.data(), inv_.data(), k0, k1, ny, nx, weight);
    });
  }

  template <class Load, class Store>
  void operator()(Team& team, Load&& load, Store&& store) const {
    float* a = a_.data();
    team.run(img_.row_items(), [&](int m, std::size_t b0, std::size_t b1) {
      for (std::size_t item = b0; item < b1; ++item) {
        std::size_t b, r0, nv;
        img_.row_range(item, b, r0, nv);
        load(r0, r0 + nv, a);
        img_.row_item(item, a, a, false, ws_[static_cast<std::size_t>(m)]);
      }
    });
    team.run(img_.col_items(), [&](int m, std::size_t b0, std::size_t b1) {
      float* y = strip_[static_cast<std::size_t>(m)].data();
      for (std::size_t item = b0; item < b1; ++item) {
        std::size_t b, c0, nv;
        img_.col_range(item, b, c0, nv);
        eliminate(a + c0, y, nv);
      }
    });
    team.run(img_.row_items(), [&](int m, std::size_t b0, std::size_t b1) {
      for (std::size_t item = b0; item < b1; ++item) {
        std::size_t b, r0, nv;
        img_.row_range(item, b, r0, nv);
        img_.row_item(item, a, a, true, ws_[static_cast<std::size_t>(m)]);
        store(r0, r0 + nv, static_cast<const float*>(a));
      }
    });
  }

 private:
  // 1 / d_i of the row frequencies [k0, k1) with s_k = sk[k]; rows outer, frequencies inner, so
  // that the divisions of different frequencies overlap. e holds the recursion's e_i.
  static PYSCALE_VECTOR_LOOP void pivots(const double* __restrict sk, double* __restrict e,
                                         float* __restrict inv, std::size_t k0, std::size_t k1,
                                         std::size_t ny, std::size_t nx, double weight) {
    for (std::size_t k = k0; k < k1; ++k) e[k] = sk[k];
    for (std::size_t i = 0; i + 1 < ny; ++i) {
      float* row = inv + i * nx;
      for (std::size_t k = k0; k < k1; ++k) {
        const double d = 1.0 / (weight + e[k]);
        row[k] = static_cast<float>(d);
        e[k] = sk[k] + weight * e[k] * d;
      }
    }
    float* row = inv + (ny - 1) * nx;
    for (std::size_t k = k0; k < k1; ++k) row[k] = static_cast<float>(1.0 / e[k]);
  }

  // The tridiagonal solves of nv adjacent row frequencies, columns a[i * nx + j], j < nv, in
  // place; y holds ny x nv partial results.
  PYSCALE_VECTOR_LOOP void eliminate(float* a, float* __restrict y, std::size_t nv) const {
    const std::size_t ny = img_.ny, nx = img_.nx;
    const float w = weight_;
    const float* inv = inv_.data() + (a - a_.data());
    for (std::size_t j = 0; j < nv; ++j) y[j] = a[j] * inv[j];
    for (std::size_t i = 1; i < ny; ++i) {
      const float* ai = a + i * nx;
      const float* di = inv + i * nx;
      float* yi = y + i * nv;
      for (std::size_t j = 0; j < nv; ++j) yi[j] = (ai[j] + w * yi[j - nv]) * di[j];
    }
    float* last = a + (ny - 1) * nx;
    std::copy(y + (ny - 1) * nv, y + ny * nv, last);
    for (std::size_t i = ny - 1; i-- > 0;) {
      float* ai = a + i * nx;
      const float* di = inv + i * nx;
      const float* yi = y + i * nv;
      for (std::size_t j = 0; j < nv; ++j) ai[j] = yi[j] + w * di[j] * ai[j + nx];
    }
  }

  dct_detail::Image2D<float> img_;
  mutable std::vector<dct_detail::Workspace<float>> ws_;
  mutable std::vector<Buffer<float>> strip_;
  mutable Buffer<float> a_;
  Buffer<float> inv_;  // 1 / d_i for row frequency k at i * nx + k
  float weight_;
};

// DCT preconditioner: out = scale_out * DctSolve(r) (scale_out may be null). Like every
// preconditioner it returns <r, out> when asked (dot), else 0.
template <class T>
struct DctPrecond {
  const DctSolve& solve;
  const T* scale_out;

  double operator()(RowBlocks& rb, const T* r, T* out, bool dot) const {
    const std::size_t nx = rb.nx();
    solve(
        rb.team(),
        [&](std::size_t i0, std::size_t i1, float* a) {
          for (std::size_t q = i0 * nx; q < i1 * nx; ++q) a[q] = static_cast<float>(r[q]);
        },
        [&](std::size_t i0, std::size_t i1, const float* a) {
          for (std::size_t q = i0 * nx; q < i1 * nx; ++q)
            out[q] = scale_out ? static_cast<T>(a[q]) * scale_out[q] : static_cast<T>(a[q]);
        });
    return dot ? detail::dot(rb, r, out) : 0.0;
  }
};

// Two-level preconditioner: for an operator with a float32 copy `op` (diagonal op.c) and a
// coarse approximate inverse P^-1 (DctSolve), a damped Jacobi sweep, a coarse correction and a
// second damped Jacobi sweep, with w = kJacobiDamping,
//   z1 = w D^-1 r,  z2 = z1 + P^-1 (r - M z1),  z = z2 + w D^-1 (r - M z2),  out = scale_out z.
// The DCT part removes the smooth error that Jacobi barely touches; the Jacobi sweeps remove the
// local error of a strongly varying guidance that the DCT symbol cannot see (pixels clipped to a
// tiny guidance value, for example). For the SPD form, whose damped Jacobi iteration converges
// (diagonal dominance, w <= 1), z is symmetric positive definite in r, as conjugate gradients
// need. Like
// the transforms it runs in float32; scale_out = v turns an approximate inverse of the SPD form
// S into one of M = S diag(1/v) for BiCGSTAB. <r, out> is summed in the last sweep. With islands
// (conjugate gradients only), out is deflated in T as islands.hpp describes.
// The damping of the Jacobi sweeps: 0.8 took 14 % fewer CG iterations than 1 over ten BSDS500
// photos at tau = 3 to 1e6 (583 against 676; 0.75 and 0.85 within 2 % of 0.8).
constexpr float kJacobiDamping = 0.8f;

template <class T, class Op>
struct TwoLevelPrecond {
  const Op& op;
  const DctSolve& coarse;
  const T* scale_out;
  const IslandDeflation<T>* islands;
  mutable Buffer<float> buf = Buffer<float>(3 * op.ny * op.nx);

  double operator()(RowBlocks& rb, const T* r, T* out, bool dot) const {
    rb.each([&](const RowBlocks::Block& k) { start_block(r, k); });
    return apply_started(rb, r, out, dot);
  }

  // The first sweep on the values of block k, which conjugate gradients run while the block's
  // residual is still in the cache from its update (see conjugate_gradient).
  void start_block(const T* r, const RowBlocks::Block& k) const {
    const std::size_t n = op.ny * op.nx;
    start(r + k.k0, op.c.data() + k.k0, buf.data() + k.k0, buf.data() + n + k.k0, k.size());
  }

  // The rest of operator() once start_block has run on every block of r.
  double apply_started(RowBlocks& rb, const T* r, T* out, bool dot) const {
    using Block = RowBlocks::Block;
    const std::size_t n = rb.size(), nx = rb.nx();
    float* r32 = buf.data();
    float* z = r32 + n;
    float* q = z + n;
    const float* d = op.c.data();
    coarse(
        rb.team(),
        [&](std::size_t i0, std::size_t i1, float* a) {
          op.rows(z, a, i0, i1);
          subtract_from(r32 + i0 * nx, a + i0 * nx, (i1 - i0) * nx);
        },
        [&](std::size_t i0, std::size_t i1, const float* a) {
          add_to(a + i0 * nx, z + i0 * nx, (i1 - i0) * nx);
        });
    const double sweep = rb.sum([&](const Block& k) {
      op.rows(z, q, k.i0, k.i1);
      const std::size_t j = k.k0;
      return finish(z + j, r32 + j, q + j, d + j, scale_out ? scale_out + j : nullptr, r + j,
                    out + j, k.size(), dot);
    });
    const double extra = islands ? islands->apply(r, out) : 0.0;
    return dot ? sweep + extra : 0.0;
  }

 private:
  // The loops of one block: r32 = r, z = w r32 / d; a = r32 - a; z += a; the second sweep
  // out = scale_out (z + w (r32 - q) / d), returning <r, out> if dot.
  static PYSCALE_VECTOR_LOOP void start(const T* __restrict r, const float* __restrict d,
                                        float* __restrict r32, float* __restrict z, std::size_t n) {
    for (std::size_t j = 0; j < n; ++j) {
      r32[j] = static_cast<float>(r[j]);
      z[j] = kJacobiDamping * r32[j] / d[j];
    }
  }
  static PYSCALE_VECTOR_LOOP void subtract_from(const float* __restrict r32, float* __restrict a,
                                                std::size_t n) {
    for (std::size_t j = 0; j < n; ++j) a[j] = r32[j] - a[j];
  }
  static PYSCALE_VECTOR_LOOP void add_to(const float* __restrict a, float* __restrict z,
                                         std::size_t n) {
    for (std::size_t j = 0; j < n; ++j) z[j] += a[j];
  }
  static PYSCALE_VECTOR_LOOP double finish(const float* __restrict z, const float* __restrict r32,
                                           const float* __restrict q, const float* __restrict d,
                                           const T* __restrict scale_out, const T* __restrict r,
                                           T* __restrict out, std::size_t n, bool dot) {
    auto sweep = [&](std::size_t j) {
      const T zj = static_cast<T>(z[j] + kJacobiDamping * (r32[j] - q[j]) / d[j]);
      out[j] = scale_out ? zj * scale_out[j] : zj;
    };
    if (!dot) {
      for (std::size_t j = 0; j < n; ++j) sweep(j);
      return 0.0;
    }
    return detail::reduce(n, [&](std::size_t j) {
      sweep(j);
      return static_cast<double>(r[j]) * static_cast<double>(out[j]);
    });
  }
};

}  // namespace pyscale
