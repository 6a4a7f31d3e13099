// Krylov solvers on raw arrays: stabilised BiCGSTAB (van der Vorst 1992) and preconditioned
// conjugate gradients. Pure C++: no Python types in this header.
//
// Both solvers work on the vectors of an ny x nx image, split into the row blocks of a team
// (RowBlocks), and take the operator and the preconditioner as
//   op.rows(const T* x, T* out, i0, i1)   rows [i0, i1) of out = M x
//   precond(RowBlocks&, const T* r, T* out, bool dot)  out = P^{-1} r (out never aliases r);
//                                                     returns <r, out> if dot, else 0
// with a right-hand side b, a start vector x (overwritten by the solution) and an array r that
// receives the true residual b - M x of the solution (unless ||b|| is 0 or not finite). They stop
// when the true relative residual ||b - M x|| / ||b|| is at most rtol or after maxiter iterations.
// BiCGSTAB is right-preconditioned, so the residual it monitors is the residual of the original
// system. Inner products accumulate in double in a fixed order (RowBlocks), so a solve gives
// bit-identical results whatever the number of threads.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <type_traits>
#include <vector>

#include "row_blocks.hpp"
#include "scratch.hpp"

namespace pyscale {

struct SolveInfo {
  std::size_t iterations = 0;  // iterations used (a restart counts as one)
  double residual = 0.0;       // final true relative residual ||b - M x|| / ||b||
  bool converged = false;      // residual <= rtol
  std::size_t restarts = 0;    // BiCGSTAB restarts after a near-breakdown
};

namespace detail {

// The loops of one block: <a, b>; r = b - r returning ||r||^2; p = z + beta p.
template <class T>
PYSCALE_VECTOR_LOOP double dot_block(const T* __restrict a, const T* __restrict b, std::size_t n) {
  return reduce(
      n, [&](std::size_t j) { return static_cast<double>(a[j]) * static_cast<double>(b[j]); });
}

template <class T>
PYSCALE_VECTOR_LOOP double subtract_norm2(const T* __restrict b, T* __restrict r, std::size_t n) {
  return reduce(n, [&](std::size_t j) {
    r[j] = b[j] - r[j];
    return static_cast<double>(r[j]) * static_cast<double>(r[j]);
  });
}

// ||r - alpha v||^2 over [0, n).
template <class T>
PYSCALE_VECTOR_LOOP double shifted_norm2(const T* __restrict r, const T* __restrict v, T alpha,
                                         std::size_t n) {
  return reduce(n, [&](std::size_t j) {
    const double d = static_cast<double>(r[j] - alpha * v[j]);
    return d * d;
  });
}

template <class T>
PYSCALE_VECTOR_LOOP void xpby(const T* __restrict z, T beta, T* __restrict p, std::size_t n) {
  for (std::size_t j = 0; j < n; ++j) p[j] = z[j] + beta * p[j];
}

template <class T>
double dot(RowBlocks& rb, const T* a, const T* b) {
  return rb.sum([&](const RowBlocks::Block& k) { return dot_block(a + k.k0, b + k.k0, k.size()); });
}

template <class T>
void copy(RowBlocks& rb, const T* a, T* b) {
  rb.each([&](const RowBlocks::Block& k) { std::copy(a + k.k0, a + k.k1, b + k.k0); });
}

// r = b - M x; returns ||r||.
template <class T, class Op>
double residual(RowBlocks& rb, const Op& op, const T* b, const T* x, T* r) {
  return std::sqrt(rb.sum([&](const RowBlocks::Block& k) {
    op.rows(x, r, k.i0, k.i1);
    return subtract_norm2(b + k.k0, r + k.k0, k.size());
  }));
}

}  // namespace detail

// A start vector whose residual the caller has computed: r = b - M x, rnorm = ||r||, bnorm = ||b||.
struct StartResidual {
  double bnorm, rnorm;
};

namespace detail {

// The start of a solve: bnorm = ||b||, r = b - M x, rnorm = ||r|| (taken from start if given).
// Returns true when the solve is already over: b = 0 (or NaN), whose solution is 0, a non-finite
// residual, or one within rtol.
template <class T, class Op>
bool begin_solve(RowBlocks& rb, const Op& op, const T* b, T* x, T* r, double rtol, SolveInfo& info,
                 double& bnorm, double& rnorm, const StartResidual* start = nullptr) {
  bnorm = start ? start->bnorm : std::sqrt(dot(rb, b, b));
  if (!(bnorm > 0.0)) {
    std::fill(x, x + rb.size(), T(0));
    info.residual = std::isfinite(bnorm) ? 0.0 : bnorm;
    info.converged = std::isfinite(bnorm);
    return true;
  }
  rnorm = start ? start->rnorm : residual(rb, op, b, x, r);
  info.residual = rnorm / bnorm;
  info.converged = info.residual <= rtol;
  return info.converged || !std::isfinite(info.residual);
}

// The end of a solve: the true relative residual of x decides convergence.
template <class T, class Op>
void end_solve(RowBlocks& rb, const Op& op, const T* b, const T* x, T* r, double bnorm, double rtol,
               SolveInfo& info) {
  info.residual = residual(rb, op, b, x, r) / bnorm;
  info.converged = std::isfinite(info.residual) && info.residual <= rtol;
}

// The end of a solve whose true relative residual res was just computed and met rtol.
inline SolveInfo confirmed(SolveInfo info, double res) {
  info.residual = res;
  info.converged = true;
  return info;
}

// <a, b> and <b, b> in one pass over [0, n).
template <class T>
PYSCALE_VECTOR_LOOP void dot2(const T* __restrict a, const T* __restrict b, std::size_t n,
                              double& ab, double& bb) {
  double s1[kLanes] = {}, s2[kLanes] = {};
  std::size_t k = 0;
  for (; k + kLanes <= n; k += kLanes)
    for (std::size_t l = 0; l < kLanes; ++l) {
      const double bk = static_cast<double>(b[k + l]);
      s1[l] += static_cast<double>(a[k + l]) * bk;
      s2[l] += bk * bk;
    }
  for (std::size_t l = 0; k < n; ++k, ++l) {
    const double bk = static_cast<double>(b[k]);
    s1[l] += static_cast<double>(a[k]) * bk;
    s2[l] += bk * bk;
  }
  ab = 0.0;
  bb = 0.0;
  for (std::size_t l = 0; l < kLanes; ++l) {
    ab += s1[l];
    bb += s2[l];
  }
}

// out = M x with <a, out> and <out, out>, each block summed while it is still in cache.
template <class T, class Op>
void apply_dot(RowBlocks& rb, const Op& op, const T* x, T* out, const T* a, double& ab,
               double& oo) {
  const auto s = rb.sums<2>([&](const RowBlocks::Block& k, double* part) {
    op.rows(x, out, k.i0, k.i1);
    dot2(a + k.k0, out + k.k0, k.size(), part[0], part[1]);
  });
  ab = s[0];
  oo = s[1];
}

// The fused vector updates of the solvers, on non-aliasing arrays of length n (one block). They
// repeat the lane loop of reduce() instead of calling it: written out with restrict-qualified
// arrays they run about 10 % faster (measured on the unpreconditioned BiCGSTAB step).
// s = r - alpha v, x += alpha p; returns ||s||^2.
template <class T>
PYSCALE_VECTOR_LOOP double update_s(T* __restrict s, const T* __restrict r, const T* __restrict v,
                                    T* __restrict x, const T* __restrict p, T alpha,
                                    std::size_t n) {
  double acc[kLanes] = {};
  std::size_t k = 0;
  for (; k + kLanes <= n; k += kLanes)
    for (std::size_t l = 0; l < kLanes; ++l) {
      const T sk = r[k + l] - alpha * v[k + l];
      s[k + l] = sk;
      x[k + l] += alpha * p[k + l];
      acc[l] += static_cast<double>(sk) * static_cast<double>(sk);
    }
  for (std::size_t l = 0; k < n; ++k, ++l) {
    const T sk = r[k] - alpha * v[k];
    s[k] = sk;
    x[k] += alpha * p[k];
    acc[l] += static_cast<double>(sk) * static_cast<double>(sk);
  }
  double out = 0.0;
  for (std::size_t l = 0; l < kLanes; ++l) out += acc[l];
  return out;
}

// x += alpha p, r -= alpha q; returns ||r||^2.
template <class T>
PYSCALE_VECTOR_LOOP double update_cg(T* __restrict x, const T* __restrict p, T* __restrict r,
                                     const T* __restrict q, T alpha, std::size_t n) {
  double acc[kLanes] = {};
  std::size_t k = 0;
  for (; k + kLanes <= n; k += kLanes)
    for (std::size_t l = 0; l < kLanes; ++l) {
      x[k + l] += alpha * p[k + l];
      const T rk = r[k + l] - alpha * q[k + l];
      r[k + l] = rk;
      acc[l] += static_cast<double>(rk) * static_cast<double>(rk);
    }
  for (std::size_t l = 0; k < n; ++k, ++l) {
    x[k] += alpha * p[k];
    const T rk = r[k] - alpha * q[k];
    r[k] = rk;
    acc[l] += static_cast<double>(rk) * static_cast<double>(rk);
  }
  double out = 0.0;
  for (std::size_t l = 0; l < kLanes; ++l) out += acc[l];
  return out;
}

// x += omega q, r = s - omega t; sets rr = ||r||^2 and r0r = <r0, r>.
template <class T>
PYSCALE_VECTOR_LOOP void update_r(T* __restrict x, const T* __restrict q, T* __restrict r,
                                  const T* __restrict s, const T* __restrict t,
                                  const T* __restrict r0, T omega, std::size_t n, double& rr,
                                  double& r0r) {
  double acc[kLanes] = {}, acc0[kLanes] = {};
  std::size_t k = 0;
  for (; k + kLanes <= n; k += kLanes)
    for (std::size_t l = 0; l < kLanes; ++l) {
      x[k + l] += omega * q[k + l];
      const T rk = s[k + l] - omega * t[k + l];
      r[k + l] = rk;
      acc[l] += static_cast<double>(rk) * static_cast<double>(rk);
      acc0[l] += static_cast<double>(r0[k + l]) * static_cast<double>(rk);
    }
  for (std::size_t l = 0; k < n; ++k, ++l) {
    x[k] += omega * q[k];
    const T rk = s[k] - omega * t[k];
    r[k] = rk;
    acc[l] += static_cast<double>(rk) * static_cast<double>(rk);
    acc0[l] += static_cast<double>(r0[k]) * static_cast<double>(rk);
  }
  rr = 0.0;
  r0r = 0.0;
  for (std::size_t l = 0; l < kLanes; ++l) {
    rr += acc[l];
    r0r += acc0[l];
  }
}

// p = r + beta (p - omega v)
template <class T>
PYSCALE_VECTOR_LOOP void update_p(T* __restrict p, const T* __restrict r, const T* __restrict v,
                                  T beta, T omega, std::size_t n) {
  for (std::size_t k = 0; k < n; ++k) p[k] = r[k] + beta * (p[k] - omega * v[k]);
}

}  // namespace detail

// Identity preconditioner.
template <class T>
struct NoPrecond {
  double operator()(RowBlocks& rb, const T* r, T* out, bool dot) const {
    detail::copy(rb, r, out);
    return dot ? detail::dot(rb, r, r) : 0.0;
  }
};

// Diagonal (Jacobi) preconditioner: out = r / diag.
template <class T>
struct JacobiPrecond {
  const T* diag;
  double operator()(RowBlocks& rb, const T* r, T* out, bool dot) const {
    return rb.sum([&](const RowBlocks::Block& k) {
      return divide(r + k.k0, diag + k.k0, out + k.k0, k.size(), dot);
    });
  }
  // out = r / d over [0, n), returning <r, out> if dot.
  static PYSCALE_VECTOR_LOOP double divide(const T* __restrict r, const T* __restrict d,
                                           T* __restrict out, std::size_t n, bool dot) {
    if (!dot) {
      for (std::size_t j = 0; j < n; ++j) out[j] = r[j] / d[j];
      return 0.0;
    }
    return detail::reduce(n, [&](std::size_t j) {
      out[j] = r[j] / d[j];
      return static_cast<double>(r[j]) * static_cast<double>(out[j]);
    });
  }
};

// Right-preconditioned stabilised BiCGSTAB.
//
// Restart: when |<r0, v>| <= breakdown * ||r0|| ||v|| (or rho = <r0, r> is tiny in the same
// sense) the shadow residual is reset, r0 = r = p = b - M x, and the iteration goes on from the
// current x. A restart directly after a restart that still breaks down ends the solve (not
// converged). A recursively updated residual that meets rtol is checked against the true
// residual; if that one misses rtol the solver restarts from it. Non-finite values end the solve
// (not converged, residual NaN or inf).
template <class T, class Op, class Precond>
SolveInfo bicgstab(RowBlocks& rb, const Op& op, Precond& precond, const T* b, T* x, T* r,
                   double rtol, std::size_t maxiter, double breakdown = 1e-10) {
  using Block = RowBlocks::Block;
  const std::size_t n = rb.size();
  SolveInfo info;
  Buffer<T> buf(6 * n);
  T* r0 = buf.data();
  T* p = r0 + n;
  T* v = p + n;
  T* ph = v + n;  // preconditioned p, then preconditioned s
  T* s = ph + n;
  T* t = s + n;

  double bnorm = 0.0, rnorm = 0.0;
  if (detail::begin_solve(rb, op, b, x, r, rtol, info, bnorm, rnorm)) return info;

  double rho = 0.0;     // <r0, r>
  double r0norm = 0.0;  // ||r0||
  // r0 = r = p = b - M x (r already holds the true residual)
  auto reset = [&]() {
    rb.each([&](const Block& k) {
      std::copy(r + k.k0, r + k.k1, r0 + k.k0);
      std::copy(r + k.k0, r + k.k1, p + k.k0);
    });
    rho = rnorm * rnorm;
    r0norm = rnorm;
  };
  auto restart = [&]() {
    ++info.restarts;
    rnorm = detail::residual(rb, op, b, x, r);
    reset();
  };
  reset();
  bool just_restarted = true;

  constexpr bool identity = std::is_same<std::decay_t<Precond>, NoPrecond<T>>::value;
  while (info.iterations < maxiter) {
    ++info.iterations;
    const T* php = p;  // preconditioned p
    if (!identity) {
      precond(rb, p, ph, false);
      php = ph;
    }
    double sigma = 0.0, vv = 0.0;
    detail::apply_dot(rb, op, php, v, r0, sigma, vv);
    const double vnorm = std::sqrt(vv);
    if (!std::isfinite(sigma)) break;
    if (!(std::fabs(sigma) > breakdown * r0norm * vnorm)) {
      if (just_restarted) break;  // breaks down even from a fresh shadow residual
      restart();
      just_restarted = true;
      continue;
    }
    just_restarted = false;
    const double alpha = rho / sigma;
    const double snorm2 = rb.sum([&](const Block& k) {
      return detail::update_s(s + k.k0, r + k.k0, v + k.k0, x + k.k0, php + k.k0,
                              static_cast<T>(alpha), k.size());
    });
    double omega = 0.0;
    double rho_new = 0.0;  // <r0, r> of the new residual
    if (std::sqrt(snorm2) / bnorm > rtol) {
      const T* shp = s;  // preconditioned s
      if (!identity) {
        precond(rb, s, ph, false);
        shp = ph;
      }
      double ts = 0.0, tt = 0.0;
      detail::apply_dot(rb, op, shp, t, s, ts, tt);
      omega = tt > 0.0 ? ts / tt : 0.0;
      const auto sums = rb.sums<2>([&](const Block& k, double* part) {
        detail::update_r(x + k.k0, shp + k.k0, r + k.k0, s + k.k0, t + k.k0, r0 + k.k0,
                         static_cast<T>(omega), k.size(), part[0], part[1]);
      });
      rnorm = std::sqrt(sums[0]);
      rho_new = sums[1];
    } else {
      detail::copy(rb, s, r);
      rnorm = std::sqrt(snorm2);
      rho_new = detail::dot(rb, r0, r);
    }
    if (!std::isfinite(rnorm)) break;
    if (rnorm / bnorm <= rtol) {
      rnorm = detail::residual(rb, op, b, x, r);  // confirm with the true residual
      if (rnorm / bnorm <= rtol) return detail::confirmed(info, rnorm / bnorm);
      ++info.restarts;
      reset();
      just_restarted = true;
      continue;
    }
    if (omega == 0.0) {  // stagnation (t = 0 or t orthogonal to s)
      restart();
      just_restarted = true;
      continue;
    }
    // next search direction p = r + beta (p - omega v), beta = (rho_new / rho) (alpha / omega)
    if (!(std::fabs(rho_new) > breakdown * r0norm * rnorm)) {
      restart();
      just_restarted = true;
      continue;
    }
    const double beta = (rho_new / rho) * (alpha / omega);
    rb.each([&](const Block& k) {
      detail::update_p(p + k.k0, r + k.k0, v + k.k0, static_cast<T>(beta), static_cast<T>(omega),
                       k.size());
    });
    rho = rho_new;
  }
  detail::end_solve(rb, op, b, x, r, bnorm, rtol, info);
  return info;
}

// Whether a preconditioner splits its first sweep off (start_block on each block of r, then
// apply_started), so that conjugate gradients can run that sweep inside the residual update.
template <class P, class = void>
struct StartsApart : std::false_type {};
template <class P>
struct StartsApart<P, std::void_t<decltype(&P::start_block)>> : std::true_type {};

// Preconditioned conjugate gradients for a symmetric positive definite M and an SPD
// preconditioner. Stops on the true relative residual like bicgstab. With start given, r holds
// the residual of the start vector on entry. A preconditioner that starts apart (StartsApart)
// starts on each block of r right after its update, while the block is in the cache.
template <class T, class Op, class Precond>
SolveInfo conjugate_gradient(RowBlocks& rb, const Op& op, Precond& precond, const T* b, T* x, T* r,
                             double rtol, std::size_t maxiter,
                             const StartResidual* start = nullptr) {
  using Block = RowBlocks::Block;
  const std::size_t n = rb.size();
  SolveInfo info;
  Buffer<T> buf(3 * n);
  T* z = buf.data();
  T* p = z + n;
  T* q = p + n;
  double bnorm = 0.0, rnorm = 0.0;
  if (detail::begin_solve(rb, op, b, x, r, rtol, info, bnorm, rnorm, start)) return info;
  double rz = precond(rb, r, p, true);  // the first direction p is the first z
  while (info.iterations < maxiter) {
    ++info.iterations;
    const double pq = rb.sum([&](const Block& k) {
      op.rows(p, q, k.i0, k.i1);
      return detail::dot_block(p + k.k0, q + k.k0, k.size());
    });
    if (!(pq > 0.0)) break;  // not SPD, or breakdown
    const double alpha = rz / pq;
    rnorm = std::sqrt(rb.sum([&](const Block& k) {
      const double rr = detail::update_cg(x + k.k0, p + k.k0, r + k.k0, q + k.k0,
                                          static_cast<T>(alpha), k.size());
      if constexpr (StartsApart<Precond>::value) precond.start_block(r, k);
      return rr;
    }));
    if (!std::isfinite(rnorm)) break;
    bool refresh = false;
    if (rnorm / bnorm <= rtol) {
      rnorm = detail::residual(rb, op, b, x, r);
      if (rnorm / bnorm <= rtol) return detail::confirmed(info, rnorm / bnorm);
      refresh = true;  // the recursive residual drifted: restart from the true one
    }
    double rz_new;
    if constexpr (StartsApart<Precond>::value)
      rz_new = refresh ? precond(rb, r, z, true) : precond.apply_started(rb, r, z, true);
    else
      rz_new = precond(rb, r, z, true);
    if (!(rz_new > 0.0)) break;
    const T beta = static_cast<T>(refresh ? 0.0 : rz_new / rz);
    rz = rz_new;
    rb.each([&](const Block& k) { detail::xpby(z + k.k0, beta, p + k.k0, k.size()); });
  }
  detail::end_solve(rb, op, b, x, r, bnorm, rtol, info);
  return info;
}

}  // namespace pyscale
