// The instruction-set variants of the FFT and of the DCT of a block of lines (SSE2 or NEON, AVX2 +
// FMA, AVX-512), chosen once per process.
// Pure C++: no Python types in this header.
#pragma once

#include <cstddef>
#include <cstdlib>
#include <cstring>

#include "dct_lines.hpp"
#include "dct_plan.hpp"
#include "fft.hpp"
#include "simd.hpp"

namespace pyscale {
namespace dct_detail {

template <class T>
using BlockFn = void (*)(const DctPlan<T>&, const T*, T*, std::size_t, std::size_t, std::size_t,
                         bool, bool, Workspace<T>&);

template <class T>
void fft_base(const FftPlan<T>& plan, std::size_t M, T* xr, T* xi, T* yr, T* yi, T* scratch,
              const Gather<T>* in) {
  fft_lanes_impl<T, 16>(plan, M, xr, xi, yr, yi, scratch, in);
}
template <class T>
void block_base(const DctPlan<T>& plan, const T* src, T* dst, std::size_t ld, std::size_t l0,
                std::size_t nv, bool rows, bool inverse, Workspace<T>& ws) {
  block_impl<T, 16>(plan, src, dst, ld, l0, nv, rows, inverse, ws, &fft_base<T>);
}

#ifdef PYSCALE_X86_DISPATCH
template <class T>
PYSCALE_AVX2 void fft_avx2(const FftPlan<T>& plan, std::size_t M, T* xr, T* xi, T* yr, T* yi,
                           T* scratch, const Gather<T>* in) {
  fft_lanes_impl<T, 32>(plan, M, xr, xi, yr, yi, scratch, in);
}
template <class T>
PYSCALE_AVX512 void fft_avx512(const FftPlan<T>& plan, std::size_t M, T* xr, T* xi, T* yr, T* yi,
                               T* scratch, const Gather<T>* in) {
  fft_lanes_impl<T, 64>(plan, M, xr, xi, yr, yi, scratch, in);
}
template <class T>
PYSCALE_AVX512 void block_avx512(const DctPlan<T>& plan, const T* src, T* dst, std::size_t ld,
                                 std::size_t l0, std::size_t nv, bool rows, bool inverse,
                                 Workspace<T>& ws) {
  block_impl<T, 64>(plan, src, dst, ld, l0, nv, rows, inverse, ws, &fft_avx512<T>);
}
template <class T>
PYSCALE_AVX2 void block_avx2(const DctPlan<T>& plan, const T* src, T* dst, std::size_t ld,
                             std::size_t l0, std::size_t nv, bool rows, bool inverse,
                             Workspace<T>& ws) {
  block_impl<T, 32>(plan, src, dst, ld, l0, nv, rows, inverse, ws, &fft_avx2<T>);
}
#endif

// Which variant runs: 0 baseline, 1 AVX2 + FMA. The environment variable PYSCALE_SIMD=base
// forces the baseline (for testing).
inline int simd_level() {
  static const int level = [] {
    int lv = 0;
#ifdef PYSCALE_X86_DISPATCH
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) lv = 1;
    if (lv == 1 && __builtin_cpu_supports("avx512f")) lv = 2;
#endif
    const char* env = std::getenv("PYSCALE_SIMD");
    if (env && std::strcmp(env, "base") == 0) lv = 0;
    if (env && std::strcmp(env, "avx2") == 0 && lv > 1) lv = 1;
    return lv;
  }();
  return level;
}

template <class T>
BlockFn<T> block_kernel() {
#ifdef PYSCALE_X86_DISPATCH
  if (simd_level() >= 2) return &block_avx512<T>;
  if (simd_level() >= 1) return &block_avx2<T>;
#endif
  return &block_base<T>;
}

}  // namespace dct_detail
}  // namespace pyscale
