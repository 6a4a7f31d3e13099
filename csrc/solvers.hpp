// Krylov solvers on raw arrays: stabilised BiCGSTAB (van der Vorst 1992) and preconditioned
// conjugate gradients. Pure C++: no Python types in this header.
//
// Both solvers take the operator and the preconditioner as callables
//   apply(const T* x, T* out)     out = M x
//   precond(const T* r, T* out)   out = P^{-1} r   (out never aliases r)
// on vectors of length n, a right-hand side b and a start vector x (overwritten by the
// solution), and stop when the true relative residual ||b - M x|| / ||b|| is at most rtol or
// after maxiter iterations. BiCGSTAB is right-preconditioned, so the residual it monitors is the
// residual of the original system. Inner products accumulate in double in a fixed order, so a
// solve gives bit-identical results whatever thread runs it.
#pragma once

#include <cmath>
#include <cstddef>
#include <vector>

namespace pyscale {

struct SolveInfo {
  std::size_t iterations = 0;  // iterations used (a restart counts as one)
  double residual = 0.0;       // final true relative residual ||b - M x|| / ||b||
  bool converged = false;      // residual <= rtol
  std::size_t restarts = 0;    // BiCGSTAB restarts after a near-breakdown
};

namespace detail {

template <class T>
double dot(const T* a, const T* b, std::size_t n) {
  double s = 0.0;
  for (std::size_t k = 0; k < n; ++k) s += static_cast<double>(a[k]) * static_cast<double>(b[k]);
  return s;
}

template <class T>
double norm2(const T* a, std::size_t n) {
  return std::sqrt(dot(a, a, n));
}

// r = b - M x; returns ||r||.
template <class T, class Apply>
double residual(Apply& apply, const T* b, const T* x, T* r, std::size_t n) {
  apply(x, r);
  double s = 0.0;
  for (std::size_t k = 0; k < n; ++k) {
    r[k] = b[k] - r[k];
    s += static_cast<double>(r[k]) * static_cast<double>(r[k]);
  }
  return std::sqrt(s);
}

}  // namespace detail

// Identity preconditioner.
template <class T>
struct NoPrecond {
  std::size_t n;
  void operator()(const T* r, T* out) const {
    for (std::size_t k = 0; k < n; ++k) out[k] = r[k];
  }
};

// Diagonal (Jacobi) preconditioner: out = r / diag.
template <class T>
struct JacobiPrecond {
  const T* diag;
  std::size_t n;
  void operator()(const T* r, T* out) const {
    for (std::size_t k = 0; k < n; ++k) out[k] = r[k] / diag[k];
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
template <class T, class Apply, class Precond>
SolveInfo bicgstab(Apply& apply, Precond& precond, const T* b, T* x, std::size_t n, double rtol,
                   std::size_t maxiter, double breakdown = 1e-10) {
  SolveInfo info;
  std::vector<T> buf(7 * n);
  T* r = buf.data();
  T* r0 = r + n;
  T* p = r0 + n;
  T* v = p + n;
  T* ph = v + n;  // preconditioned p, then preconditioned s
  T* s = ph + n;
  T* t = s + n;

  const double bnorm = detail::norm2(b, n);
  if (!(bnorm > 0.0)) {  // b = 0 (or NaN): the solution is 0
    for (std::size_t k = 0; k < n; ++k) x[k] = T(0);
    info.residual = std::isfinite(bnorm) ? 0.0 : bnorm;
    info.converged = std::isfinite(bnorm);
    return info;
  }
  double rnorm = detail::residual(apply, b, x, r, n);
  info.residual = rnorm / bnorm;
  if (!std::isfinite(info.residual)) return info;
  if (info.residual <= rtol) {
    info.converged = true;
    return info;
  }

  double rho = 0.0;     // <r0, r>
  double r0norm = 0.0;  // ||r0||
  // r0 = r = p = b - M x (r already holds the true residual)
  auto reset = [&]() {
    for (std::size_t k = 0; k < n; ++k) {
      r0[k] = r[k];
      p[k] = r[k];
    }
    rho = rnorm * rnorm;
    r0norm = rnorm;
  };
  auto restart = [&]() {
    ++info.restarts;
    rnorm = detail::residual(apply, b, x, r, n);
    reset();
  };
  reset();
  bool just_restarted = true;

  while (info.iterations < maxiter) {
    ++info.iterations;
    precond(p, ph);
    apply(ph, v);
    const double sigma = detail::dot(r0, v, n);
    const double vnorm = detail::norm2(v, n);
    if (!std::isfinite(sigma)) break;
    if (!(std::fabs(sigma) > breakdown * r0norm * vnorm)) {
      if (just_restarted) break;  // breaks down even from a fresh shadow residual
      restart();
      just_restarted = true;
      continue;
    }
    just_restarted = false;
    const double alpha = rho / sigma;
    double snorm2 = 0.0;
    for (std::size_t k = 0; k < n; ++k) {
      s[k] = r[k] - static_cast<T>(alpha) * v[k];
      x[k] += static_cast<T>(alpha) * ph[k];
      snorm2 += static_cast<double>(s[k]) * static_cast<double>(s[k]);
    }
    double omega = 0.0;
    if (std::sqrt(snorm2) / bnorm > rtol) {
      precond(s, ph);
      apply(ph, t);
      double ts = 0.0, tt = 0.0;
      for (std::size_t k = 0; k < n; ++k) {
        ts += static_cast<double>(t[k]) * static_cast<double>(s[k]);
        tt += static_cast<double>(t[k]) * static_cast<double>(t[k]);
      }
      omega = tt > 0.0 ? ts / tt : 0.0;
      double rn2 = 0.0;
      for (std::size_t k = 0; k < n; ++k) {
        x[k] += static_cast<T>(omega) * ph[k];
        r[k] = s[k] - static_cast<T>(omega) * t[k];
        rn2 += static_cast<double>(r[k]) * static_cast<double>(r[k]);
      }
      rnorm = std::sqrt(rn2);
    } else {
      for (std::size_t k = 0; k < n; ++k) r[k] = s[k];
      rnorm = std::sqrt(snorm2);
    }
    if (!std::isfinite(rnorm)) break;
    if (rnorm / bnorm <= rtol) {
      rnorm = detail::residual(apply, b, x, r, n);  // confirm with the true residual
      if (rnorm / bnorm <= rtol) break;
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
    const double rho_new = detail::dot(r0, r, n);
    if (!(std::fabs(rho_new) > breakdown * r0norm * rnorm)) {
      restart();
      just_restarted = true;
      continue;
    }
    const double beta = (rho_new / rho) * (alpha / omega);
    for (std::size_t k = 0; k < n; ++k)
      p[k] = r[k] + static_cast<T>(beta) * (p[k] - static_cast<T>(omega) * v[k]);
    rho = rho_new;
  }
  rnorm = detail::residual(apply, b, x, r, n);
  info.residual = rnorm / bnorm;
  info.converged = std::isfinite(info.residual) && info.residual <= rtol;
  return info;
}

// Preconditioned conjugate gradients for a symmetric positive definite M and an SPD
// preconditioner. Stops on the true relative residual like bicgstab.
template <class T, class Apply, class Precond>
SolveInfo conjugate_gradient(Apply& apply, Precond& precond, const T* b, T* x, std::size_t n,
                             double rtol, std::size_t maxiter) {
  SolveInfo info;
  std::vector<T> buf(4 * n);
  T* r = buf.data();
  T* z = r + n;
  T* p = z + n;
  T* q = p + n;
  const double bnorm = detail::norm2(b, n);
  if (!(bnorm > 0.0)) {
    for (std::size_t k = 0; k < n; ++k) x[k] = T(0);
    info.residual = std::isfinite(bnorm) ? 0.0 : bnorm;
    info.converged = std::isfinite(bnorm);
    return info;
  }
  double rnorm = detail::residual(apply, b, x, r, n);
  info.residual = rnorm / bnorm;
  if (!std::isfinite(info.residual)) return info;
  if (info.residual <= rtol) {
    info.converged = true;
    return info;
  }
  precond(r, z);
  for (std::size_t k = 0; k < n; ++k) p[k] = z[k];
  double rz = detail::dot(r, z, n);
  while (info.iterations < maxiter) {
    ++info.iterations;
    apply(p, q);
    const double pq = detail::dot(p, q, n);
    if (!(pq > 0.0)) break;  // not SPD, or breakdown
    const double alpha = rz / pq;
    double rn2 = 0.0;
    for (std::size_t k = 0; k < n; ++k) {
      x[k] += static_cast<T>(alpha) * p[k];
      r[k] -= static_cast<T>(alpha) * q[k];
      rn2 += static_cast<double>(r[k]) * static_cast<double>(r[k]);
    }
    rnorm = std::sqrt(rn2);
    if (!std::isfinite(rnorm)) break;
    if (rnorm / bnorm <= rtol) {
      rnorm = detail::residual(apply, b, x, r, n);
      if (rnorm / bnorm <= rtol) break;
    }
    precond(r, z);
    const double rz_new = detail::dot(r, z, n);
    const double beta = rz_new / rz;
    rz = rz_new;
    for (std::size_t k = 0; k < n; ++k) p[k] = z[k] + static_cast<T>(beta) * p[k];
  }
  rnorm = detail::residual(apply, b, x, r, n);
  info.residual = rnorm / bnorm;
  info.converged = std::isfinite(info.residual) && info.residual <= rtol;
  return info;
}

}  // namespace pyscale
