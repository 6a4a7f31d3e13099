// The complex FFT of lanes: passes run depth first for the cache, Bluestein's algorithm for lengths
// with a large prime factor, and the plans of both.
// Pure C++: no Python types in this header.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "fft_passes.hpp"
#include "fft_plan.hpp"
#include "simd.hpp"

namespace pyscale {
namespace dct_detail {

// Sub-transforms whose rows take at most this many bytes are finished pass by pass (all blocks of a
// pass share its twiddles); larger ones are split depth first so that the work moves into the
// level-1 cache after one or two passes.
constexpr std::size_t kSmallFftBytes = 24 * 1024;

// Forward DFT, in place, of M lanes held in (xr, xi) as [n][M]; the result is in digit-reversed
// row order (plan.row_of). M must be a multiple of odd_chunk. With in, the input is read from
// there by the first pass instead (gathers(plan.stages[0]) must hold) and (xr, xi) receive the
// result.
template <class T, int VB>
PYSCALE_KERNEL void fft_direct(const FftPlan<T>& plan, std::size_t M, T* xr, T* xi, T* scratch,
                               const Gather<T>* in = nullptr) {
  const std::size_t nst = plan.stages.size();
  if (nst == 0) return;
  // The first pass works on the whole transform, before any other.
  const std::size_t first = in ? 1 : 0;
  if (in) run_gather_pass<T, VB>(plan.stages[0], M, *in, xr, xi);
  // Passes 0 .. D-1 run on one transform at a time, depth first; passes D .. nst-1 run on every
  // sub-transform of length len_D ("leaf") before the next leaf is started.
  std::size_t D = 0;
  while (D + 1 < nst && plan.stages[D].len * M * 2 * sizeof(T) > kSmallFftBytes) ++D;
  const std::size_t leaf = plan.stages[D].len;
  const std::size_t nleaf = plan.n / leaf;
  for (std::size_t l = 0; l < nleaf; ++l) {
    T* br = xr + l * leaf * M;
    T* bi = xi + l * leaf * M;
    for (std::size_t i = first; i < D; ++i) {
      const Stage<T>& st = plan.stages[i];
      if (l % (st.len / leaf) == 0) run_pass<T, VB>(st, M, br, bi, 1, scratch);
    }
    for (std::size_t i = std::max(D, first); i < nst; ++i) {
      const Stage<T>& st = plan.stages[i];
      run_pass<T, VB>(st, M, br, bi, leaf / st.len, scratch);
    }
  }
}

// Bluestein: X_k = conj(c_k) sum_j (x_j conj(c_j)) c_(k-j), c_j = exp(i pi j^2 / n), as a cyclic
// convolution of length L. (yr, yi) is a second buffer; both hold plan.work_rows rows.
template <class T, int VB>
PYSCALE_KERNEL void fft_bluestein(const FftPlan<T>& plan, std::size_t M, T* xr, T* xi, T* yr, T* yi,
                                  T* scratch) {
  using VT = Vec<T, VB>;
  using v = typename VT::v;
  using vu = typename VT::vu;
  constexpr std::size_t W = VT::n;
  const FftPlan<T>& in = *plan.inner;
  const std::size_t n = plan.n, L = in.n;
  const std::size_t* row_of = in.row_of.data();
  for (std::size_t j = 0; j < n; ++j) {
    const T cr = plan.chirp_r[j], ci = plan.chirp_i[j];
    for (std::size_t l = 0; l < M; l += W) {
      const v ar = PYSCALE_LD(xr + j * M + l), ai = PYSCALE_LD(xi + j * M + l);
      PYSCALE_ST(yr + j * M + l, ar * cr + ai * ci);
      PYSCALE_ST(yi + j * M + l, ai * cr - ar * ci);
    }
  }
  for (std::size_t j = n * M; j < L * M; j += W) {
    PYSCALE_ST(yr + j, v{});
    PYSCALE_ST(yi + j, v{});
  }
  fft_direct<T, VB>(in, M, yr, yi, scratch);
  // Multiply by the kernel spectrum and reorder into the swapped input of the backward transform.
  for (std::size_t f = 0; f < L; ++f) {
    const std::size_t r = row_of[f];
    const T kr = plan.kern_r[r], ki = plan.kern_i[r];
    for (std::size_t l = 0; l < M; l += W) {
      const v ar = PYSCALE_LD(yr + r * M + l), ai = PYSCALE_LD(yi + r * M + l);
      PYSCALE_ST(xi + f * M + l, ar * kr - ai * ki);
      PYSCALE_ST(xr + f * M + l, ar * ki + ai * kr);
    }
  }
  fft_direct<T, VB>(in, M, xr, xi, scratch);
  for (std::size_t k = 0; k < n; ++k) {
    const std::size_t r = row_of[k];
    const T cr = plan.chirp_r[k], ci = plan.chirp_i[k];
    for (std::size_t l = 0; l < M; l += W) {
      const v gr = PYSCALE_LD(xi + r * M + l), gi = PYSCALE_LD(xr + r * M + l);
      PYSCALE_ST(yr + k * M + l, gr * cr + gi * ci);
      PYSCALE_ST(yi + k * M + l, gi * cr - gr * ci);
    }
  }
  for (std::size_t j = 0; j < n * M; j += W) {
    PYSCALE_ST(xr + j, PYSCALE_LD(yr + j));
    PYSCALE_ST(xi + j, PYSCALE_LD(yi + j));
  }
}

// Forward DFT, in place, of M lanes held in (xr, xi) as [n][M]; the result is in the row order
// plan.row_of. (yr, yi) is a second buffer of plan.work_rows rows, used only by Bluestein plans.
// With in (only where reads_gather(plan)), the input is read from there.
template <class T, int VB>
PYSCALE_KERNEL void fft_lanes_impl(const FftPlan<T>& plan, std::size_t M, T* xr, T* xi, T* yr,
                                   T* yi, T* scratch, const Gather<T>* in) {
  if (plan.inner)
    fft_bluestein<T, VB>(plan, M, xr, xi, yr, yi, scratch);
  else
    fft_direct<T, VB>(plan, M, xr, xi, scratch, in);
}

// Whether fft_lanes_impl can read its input from a Gather.
template <class T>
bool reads_gather(const FftPlan<T>& plan) {
  return !plan.inner && !plan.stages.empty() && gathers(plan.stages[0]);
}

// L >= m with no prime factor above 7.
inline std::size_t smooth_length(std::size_t m) {
  for (std::size_t L = m;; ++L) {
    std::size_t r = L;
    for (std::size_t p : {2, 3, 5, 7})
      while (r % p == 0) r /= p;
    if (r == 1) return L;
  }
}

template <class T>
void build_bluestein(FftPlan<T>& plan, std::size_t n) {
  const std::size_t L = smooth_length(2 * n - 1);
  auto inner = std::make_shared<FftPlan<T>>();
  build_direct_plan(*inner, L);
  plan.n = n;
  plan.stages.clear();
  plan.row_of.assign(n, 0);
  plan.max_half = inner->max_half;
  plan.work_rows = std::max(n, L);
  for (std::size_t f = 0; f < n; ++f) plan.row_of[f] = f;
  plan.chirp_r.resize(n);
  plan.chirp_i.resize(n);
  std::vector<double> br(L, 0.0), bi(L, 0.0);
  for (std::size_t j = 0; j < n; ++j) {
    long double c, s;
    const std::uint64_t jj =
        static_cast<std::uint64_t>(j) * j % (2 * static_cast<std::uint64_t>(n));
    unit_root(jj, 2 * static_cast<std::uint64_t>(n), c, s);  // angle pi j^2 / n
    plan.chirp_r[j] = static_cast<T>(c);
    plan.chirp_i[j] = static_cast<T>(s);
    br[j] = static_cast<double>(c);
    bi[j] = static_cast<double>(s);
    if (j > 0) {
      br[L - j] = static_cast<double>(c);
      bi[L - j] = static_cast<double>(s);
    }
  }
  // Spectrum of the kernel, computed in double with the same factorisation (hence row order).
  FftPlan<double> dplan;
  build_direct_plan<double, T>(dplan, L);
  constexpr std::size_t M = odd_chunk<double, 16>();
  std::vector<double> re(L * M, 0.0), im(L * M, 0.0), scr(4 * (dplan.max_half + 1) * M);
  for (std::size_t j = 0; j < L; ++j) {
    re[j * M] = br[j];
    im[j * M] = bi[j];
  }
  fft_direct<double, 16>(dplan, M, re.data(), im.data(), scr.data());
  plan.kern_r.resize(L);
  plan.kern_i.resize(L);
  for (std::size_t r = 0; r < L; ++r) {
    plan.kern_r[r] = static_cast<T>(re[r * M] / static_cast<double>(L));
    plan.kern_i[r] = static_cast<T>(im[r * M] / static_cast<double>(L));
  }
  plan.inner = std::move(inner);
}

// The plan of the FFT of length n: direct, or Bluestein's for a large prime factor.
template <class T>
void build_fft_plan(FftPlan<T>& plan, std::size_t n) {
  if (needs_bluestein(n))
    build_bluestein(plan, n);
  else
    build_direct_plan(plan, n);
}

}  // namespace dct_detail
}  // namespace pyscale
