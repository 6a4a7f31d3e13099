// The DCT-based preconditioners of the implicit osmosis step: the inverse of a homogeneous-
// diffusion operator through the DCT, alone or between two Jacobi sweeps.
// Pure C++: no Python types in this header.
#pragma once

#include <cstddef>
#include <vector>

#include "dct.hpp"
#include "row_blocks.hpp"
#include "scratch.hpp"
#include "team.hpp"

namespace pyscale {

// The inverse of a homogeneous-diffusion operator with DCT symbol denom, in float32 (the
// preconditioners only steer the iteration; residuals and updates stay in T). A team computes it
// in three phases: forward row transforms of the rows that load(i0, i1, a) writes into a; for
// each strip of columns the forward transform, the division by denom and the inverse transform;
// inverse row transforms, whose rows are handed to store(i0, i1, a).
template <class T>
class DctSolve {
 public:
  DctSolve(const T* denom, std::size_t ny, std::size_t nx, int members)
      : denom_(denom), img_(1, ny, nx), ws_(static_cast<std::size_t>(members)), a_(ny * nx) {
    for (auto& w : ws_) img_.reserve(w);
  }

  template <class Load, class Store>
  void operator()(Team& team, Load&& load, Store&& store) const {
    const std::size_t ny = img_.ny, nx = img_.nx;
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
      auto& w = ws_[static_cast<std::size_t>(m)];
      for (std::size_t item = b0; item < b1; ++item) {
        std::size_t b, c0, nv;
        img_.col_range(item, b, c0, nv);
        img_.col_item(item, a, false, w);
        for (std::size_t i = 0; i < ny; ++i)
          for (std::size_t q = i * nx + c0; q < i * nx + c0 + nv; ++q)
            a[q] = static_cast<float>(a[q] / denom_[q]);
        img_.col_item(item, a, true, w);
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
  const T* denom_;
  dct_detail::Image2D<float> img_;
  mutable std::vector<dct_detail::Workspace<float>> ws_;
  mutable Buffer<float> a_;
};

// DCT preconditioner: out = scale_out * DctSolve(scale_in * r) (scale_in, scale_out may be null).
template <class T>
struct DctPrecond {
  const DctSolve<T>& solve;
  const T* scale_in;
  const T* scale_out;

  void operator()(RowBlocks& rb, const T* r, T* out) const {
    const std::size_t nx = rb.nx();
    solve(
        rb.team(),
        [&](std::size_t i0, std::size_t i1, float* a) {
          for (std::size_t q = i0 * nx; q < i1 * nx; ++q)
            a[q] = static_cast<float>(scale_in ? scale_in[q] * r[q] : r[q]);
        },
        [&](std::size_t i0, std::size_t i1, const float* a) {
          for (std::size_t q = i0 * nx; q < i1 * nx; ++q)
            out[q] = scale_out ? static_cast<T>(a[q]) * scale_out[q] : static_cast<T>(a[q]);
        });
  }
};

// Two-level preconditioner: for an operator with a float32 copy `op` (diagonal op.c) and a
// coarse approximate inverse P^-1 (DctSolve), a Jacobi sweep, a coarse correction and a second
// Jacobi sweep,
//   z1 = D^-1 r,  z2 = z1 + P^-1 (r - M z1),  z = z2 + D^-1 (r - M z2),  out = scale_out z.
// The DCT part removes the smooth error that Jacobi barely touches; the Jacobi sweeps remove the
// local error of a strongly varying guidance that the DCT symbol cannot see (pixels clipped to a
// tiny guidance value, for example). For the SPD form, whose Jacobi iteration converges
// (diagonal dominance), z is symmetric positive definite in r, as conjugate gradients need. Like
// the transforms it runs in float32; scale_out = v turns an approximate inverse of the SPD form
// S into one of M = S diag(1/v) for BiCGSTAB.
template <class T, class Op>
struct TwoLevelPrecond {
  const Op& op;
  const DctSolve<T>& coarse;
  const T* scale_out;
  mutable Buffer<float> buf = Buffer<float>(3 * op.ny * op.nx);

  void operator()(RowBlocks& rb, const T* r, T* out) const {
    using Block = RowBlocks::Block;
    const std::size_t n = rb.size(), nx = rb.nx();
    float* r32 = buf.data();
    float* z = r32 + n;
    float* q = z + n;
    const float* d = op.c.data();
    rb.each([&](const Block& k) {
      for (std::size_t j = k.k0; j < k.k1; ++j) {
        r32[j] = static_cast<float>(r[j]);
        z[j] = r32[j] / d[j];
      }
    });
    coarse(
        rb.team(),
        [&](std::size_t i0, std::size_t i1, float* a) {
          op.rows(z, a, i0, i1);
          for (std::size_t j = i0 * nx; j < i1 * nx; ++j) a[j] = r32[j] - a[j];
        },
        [&](std::size_t i0, std::size_t i1, const float* a) {
          for (std::size_t j = i0 * nx; j < i1 * nx; ++j) z[j] += a[j];
        });
    rb.each([&](const Block& k) {
      op.rows(z, q, k.i0, k.i1);
      for (std::size_t j = k.k0; j < k.k1; ++j) {
        const T zj = static_cast<T>(z[j] + (r32[j] - q[j]) / d[j]);
        out[j] = scale_out ? zj * scale_out[j] : zj;
      }
    });
  }
};

}  // namespace pyscale
