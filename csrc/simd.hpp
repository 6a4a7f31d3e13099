// Short vectors of the FFT and DCT kernels through the GCC/Clang vector extension, and the
// in-register transposes of square tiles that turn rows into lanes.
// Pure C++: no Python types in this header.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <utility>

#if (defined(__x86_64__) || defined(__i386__)) && defined(__GNUC__) && !defined(__clang__)
#include <immintrin.h>  // declares the AVX-512 builtins of LoadTile<double, 64>
#endif

namespace pyscale {
namespace dct_detail {

#if defined(__GNUC__) || defined(__clang__)
#define PYSCALE_KERNEL inline __attribute__((always_inline))
#else
#define PYSCALE_KERNEL inline
#endif

#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
#define PYSCALE_X86_DISPATCH 1
#define PYSCALE_AVX2 __attribute__((target("avx2,fma")))
#define PYSCALE_AVX512 __attribute__((target("avx512f,avx2,fma")))
#else
#define PYSCALE_AVX2
#define PYSCALE_AVX512
#endif

template <class T>
struct IntOf;
template <>
struct IntOf<double> {
  typedef std::int64_t type;
};
template <>
struct IntOf<float> {
  typedef std::int32_t type;
};

// A vector of VB bytes of T through the GCC/Clang vector extension. Kernels are instantiated for
// VB = 16 (the baseline SSE2 of x86-64, or NEON elsewhere) and, on x86-64 processors that have
// them, VB = 32 (AVX2 + FMA) and VB = 64 (AVX-512F); the choice is made once per process.
template <class T, int VB>
struct Vec {
  static constexpr std::size_t n = VB / sizeof(T);
  typedef T v __attribute__((vector_size(VB)));
  typedef T vu __attribute__((vector_size(VB), aligned(sizeof(T)), may_alias));
  typedef typename IntOf<T>::type bits __attribute__((vector_size(VB)));  // same-size integers
};

// Unaligned load and store of a vector; the kernels declare vu = Vec<T, VB>::vu. (Macros rather
// than functions: no function takes or returns a wide vector by value.)
#define PYSCALE_LD(p) (*reinterpret_cast<const vu*>(p))
#define PYSCALE_ST(p, x) (*reinterpret_cast<vu*>(p) = (x))

// out = the first (Hi = false) or second halves of a and b interleaved: a0 b0 a1 b1 ...
template <bool Hi, class T, class V, std::size_t N, std::size_t... I>
PYSCALE_KERNEL void interleave(const V& a, const V& b, V& out, std::index_sequence<I...>) {
#if defined(__clang__)
  out = __builtin_shufflevector(a, b, ((I % 2 ? N : 0) + I / 2 + (Hi ? N / 2 : 0))...);
#else
  typedef typename IntOf<T>::type I_t;
  typedef I_t mask_t __attribute__((vector_size(sizeof(V))));
  out = __builtin_shuffle(a, b,
                          mask_t{static_cast<I_t>((I % 2 ? N : 0) + I / 2 + (Hi ? N / 2 : 0))...});
#endif
}

#if defined(__clang__)
#define PYSCALE_SHUF(a, b, ...) __builtin_shufflevector(a, b, __VA_ARGS__)
#else
#define PYSCALE_SHUF(a, b, ...) __builtin_shuffle(a, b, mask_t{__VA_ARGS__})
#endif

// In-register transpose of an N x N tile held as N vectors: log2 N rounds of interleaving in
// general, and the usual lane-aware sequences for 32-byte vectors.
template <class T, int VB>
struct Transpose {
  using v = typename Vec<T, VB>::v;
  static PYSCALE_KERNEL void run(v* r) {
    constexpr std::size_t N = Vec<T, VB>::n;
    for (std::size_t step = 1; step < N; step *= 2) {
      v t[N];
      for (std::size_t i = 0; i < N / 2; ++i) {
        interleave<false, T, v, N>(r[i], r[i + N / 2], t[2 * i], std::make_index_sequence<N>{});
        interleave<true, T, v, N>(r[i], r[i + N / 2], t[2 * i + 1], std::make_index_sequence<N>{});
      }
      for (std::size_t i = 0; i < N; ++i) r[i] = t[i];
    }
  }
};

template <>
struct Transpose<double, 32> {
  using v = Vec<double, 32>::v;
  typedef std::int64_t mask_t __attribute__((vector_size(32)));
  static PYSCALE_KERNEL void run(v* r) {
    const v t0 = PYSCALE_SHUF(r[0], r[1], 0, 4, 2, 6), t1 = PYSCALE_SHUF(r[0], r[1], 1, 5, 3, 7);
    const v t2 = PYSCALE_SHUF(r[2], r[3], 0, 4, 2, 6), t3 = PYSCALE_SHUF(r[2], r[3], 1, 5, 3, 7);
    r[0] = PYSCALE_SHUF(t0, t2, 0, 1, 4, 5);
    r[1] = PYSCALE_SHUF(t1, t3, 0, 1, 4, 5);
    r[2] = PYSCALE_SHUF(t0, t2, 2, 3, 6, 7);
    r[3] = PYSCALE_SHUF(t1, t3, 2, 3, 6, 7);
  }
};

template <>
struct Transpose<float, 32> {
  using v = Vec<float, 32>::v;
  typedef std::int32_t mask_t __attribute__((vector_size(32)));
  static PYSCALE_KERNEL void run(v* r) {
    v t[8], u[8];
    for (int i = 0; i < 4; ++i) {
      t[2 * i] = PYSCALE_SHUF(r[2 * i], r[2 * i + 1], 0, 8, 1, 9, 4, 12, 5, 13);
      t[2 * i + 1] = PYSCALE_SHUF(r[2 * i], r[2 * i + 1], 2, 10, 3, 11, 6, 14, 7, 15);
    }
    for (int i = 0; i < 2; ++i) {
      u[4 * i] = PYSCALE_SHUF(t[4 * i], t[4 * i + 2], 0, 1, 8, 9, 4, 5, 12, 13);
      u[4 * i + 1] = PYSCALE_SHUF(t[4 * i], t[4 * i + 2], 2, 3, 10, 11, 6, 7, 14, 15);
      u[4 * i + 2] = PYSCALE_SHUF(t[4 * i + 1], t[4 * i + 3], 0, 1, 8, 9, 4, 5, 12, 13);
      u[4 * i + 3] = PYSCALE_SHUF(t[4 * i + 1], t[4 * i + 3], 2, 3, 10, 11, 6, 7, 14, 15);
    }
    for (int i = 0; i < 4; ++i) {
      r[i] = PYSCALE_SHUF(u[i], u[i + 4], 0, 1, 2, 3, 8, 9, 10, 11);
      r[i + 4] = PYSCALE_SHUF(u[i], u[i + 4], 4, 5, 6, 7, 12, 13, 14, 15);
    }
  }
};

template <class T, int VB>
PYSCALE_KERNEL void transpose_tile(typename Vec<T, VB>::v* r) {
  Transpose<T, VB>::run(r);
}

// The transpose of the N x N tile whose row i holds the N values at row[i]: out[c] = (row[0][c],
// row[1][c], ...). In general the rows are loaded and transposed in registers.
template <class T, int VB>
struct LoadTile {
  using v = typename Vec<T, VB>::v;
  using vu = typename Vec<T, VB>::vu;
  static PYSCALE_KERNEL void run(const T* const* row, v* out) {
    for (std::size_t i = 0; i < Vec<T, VB>::n; ++i) out[i] = PYSCALE_LD(row[i]);
    transpose_tile<T, VB>(out);
  }
};

#if defined(PYSCALE_X86_DISPATCH) && !defined(__clang__)
// 8 x 8 doubles with AVX-512 (instantiated only in kernels compiled for it): the outer round of
// the transpose is done by the loads, which put half rows i and i + 4 into one vector (a load into
// the upper half takes no shuffle unit), so two rounds of shuffles remain instead of three.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wpsabi"  // no wide vector crosses a call: the kernel is inlined
template <>
struct LoadTile<double, 64> {
  using v = Vec<double, 64>::v;
  using h = Vec<double, 32>::vu;
  typedef std::int64_t mask_t __attribute__((vector_size(64)));
  static PYSCALE_KERNEL void run(const double* const* row, v* out) {
    for (int c0 = 0; c0 < 8; c0 += 4) {  // columns c0 .. c0 + 3
      v x[4];
      for (int i = 0; i < 4; ++i) {
        const v lo = __builtin_ia32_insertf64x4_mask(v{}, *reinterpret_cast<const h*>(row[i] + c0),
                                                     0, v{}, 0xff);
        x[i] = __builtin_ia32_insertf64x4_mask(lo, *reinterpret_cast<const h*>(row[i + 4] + c0), 1,
                                               lo, 0xff);
      }
      // per 128-bit lane: rows i and i + 1 at one column of a pair
      const v t0 = PYSCALE_SHUF(x[0], x[1], 0, 8, 2, 10, 4, 12, 6, 14);
      const v t1 = PYSCALE_SHUF(x[0], x[1], 1, 9, 3, 11, 5, 13, 7, 15);
      const v t2 = PYSCALE_SHUF(x[2], x[3], 0, 8, 2, 10, 4, 12, 6, 14);
      const v t3 = PYSCALE_SHUF(x[2], x[3], 1, 9, 3, 11, 5, 13, 7, 15);
      out[c0] = PYSCALE_SHUF(t0, t2, 0, 1, 8, 9, 4, 5, 12, 13);
      out[c0 + 1] = PYSCALE_SHUF(t1, t3, 0, 1, 8, 9, 4, 5, 12, 13);
      out[c0 + 2] = PYSCALE_SHUF(t0, t2, 2, 3, 10, 11, 6, 7, 14, 15);
      out[c0 + 3] = PYSCALE_SHUF(t1, t3, 2, 3, 10, 11, 6, 7, 14, 15);
    }
  }
};

#pragma GCC diagnostic pop
#endif

template <class T, int VB>
PYSCALE_KERNEL void load_tile(const T* const* row, typename Vec<T, VB>::v* out) {
  LoadTile<T, VB>::run(row, out);
}

// Complex lanes of a full block: 16 of float (64 bytes) and 32 of double (256 bytes); a block
// holds 2 * full_lanes real lines (the real and the imaginary parts of the lanes). For double,
// wider lane rows cut the loop and twiddle overhead per value of the passes: 16 lanes measured
// 5-30 % faster than 8 on images up to 512 x 512, and 32 another 5-15 % than 16 (3x256x256 and
// 512x512 round trips). For float, wider blocks were slower.
template <class T>
constexpr std::size_t full_lanes() {
  return sizeof(T) == 8 ? 32 : 16;
}

// Values per step of the odd-radix pass: one or two vectors, never more than a full block.
template <class T, int VB>
constexpr std::size_t odd_chunk() {
  return std::min<std::size_t>(full_lanes<T>(), (VB <= 32 ? 2 : 1) * Vec<T, VB>::n);
}

}  // namespace dct_detail
}  // namespace pyscale
