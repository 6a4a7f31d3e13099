// One implicit osmosis step (I - tau A) x = b: the symmetric positive definite form of the step
// for a guidance image, the start of its solve and the exact mass of its solution, and the
// choice of solver and preconditioner (osmosis_step). Pure C++: no Python types in this header.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "aggregation_cycle.hpp"
#include "osmosis.hpp"
#include "preconditioners.hpp"
#include "red_black.hpp"
#include "row_blocks.hpp"
#include "scratch.hpp"
#include "solvers.hpp"

namespace pyscale {

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
