// The DCT-II and DCT-III of a block of lines (rows or columns of an image): gathered into lanes,
// transformed together through one complex FFT, and scattered back.
// Pure C++: no Python types in this header.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "dct_plan.hpp"
#include "fft_plan.hpp"
#include "scratch.hpp"
#include "simd.hpp"

namespace pyscale {
namespace dct_detail {

// ------------------------------------------------------------------------------------------------
// Blocks of lines
// ------------------------------------------------------------------------------------------------

template <class T>
struct Workspace {
  Buffer<T> mem;  // from the scratch pool: no fresh pages for each call
  T *b0r = nullptr, *b0i = nullptr, *b1r = nullptr, *b1i = nullptr, *scratch = nullptr;
  // Cleared by a block whose output has a value that is not finite (set again by the caller).
  bool finite = true;
  void reserve(std::size_t nmax, std::size_t half_max) {
    // The four buffers start 1, 3 and 5 lane rows away from multiples of their (often
    // power-of-two) size, so that rows of different buffers do not compete for cache sets. (A lane
    // row of double is four cache lines: offsets of single lines put the real and imaginary rows
    // that a butterfly reads 4 KiB apart into one set of the level-1 cache.)
    const std::size_t row = full_lanes<T>();
    const std::size_t buf = nmax * row;
    const std::size_t scr = 4 * std::max<std::size_t>(half_max, 1) * 2 * row;
    // Left uninitialised: every value the kernels read was written by them first.
    mem.resize(4 * buf + 9 * row + scr + 64 / sizeof(T));
    T* base = mem.data();
    while (reinterpret_cast<std::uintptr_t>(base) % 64 != 0) ++base;
    b0r = base;
    b0i = b0r + buf + row;
    b1r = b0i + buf + 2 * row;
    b1i = b1r + buf + 2 * row;
    scratch = b1i + buf + 4 * row;
  }
};

// Lines [0, cnt) of a row-major block (line l starts at rows + l * ld) into lanes: line l position
// p goes to buf[map(p) * M + l] (map = identity when null). Lanes cnt..lanes-1 become zero.
template <class T, int VB>
PYSCALE_KERNEL void rows_to_lanes(const T* rows, std::size_t ld, std::size_t cnt, std::size_t lanes,
                                  std::size_t n, const std::size_t* map, T* buf, std::size_t M) {
  using VT = Vec<T, VB>;
  using v = typename VT::v;
  using vu = typename VT::vu;
  constexpr std::size_t W = VT::n;
  std::size_t g = 0;
  for (; g + W <= cnt; g += W) {
    const T* r0 = rows + g * ld;
    T* b = buf + g;
    std::size_t p0 = 0;
    for (; p0 + W <= n; p0 += W) {
      v t[W];
      const T* src[W];
      for (std::size_t r = 0; r < W; ++r) src[r] = r0 + r * ld + p0;
      load_tile<T, VB>(src, t);
      for (std::size_t c = 0; c < W; ++c) PYSCALE_ST(b + (map ? map[p0 + c] : p0 + c) * M, t[c]);
    }
    for (; p0 < n; ++p0) {
      T* d = b + (map ? map[p0] : p0) * M;
      for (std::size_t r = 0; r < W; ++r) d[r] = r0[r * ld + p0];
    }
  }
  for (; g < lanes; ++g) {
    T* b = buf + g;
    if (g < cnt) {
      const T* row = rows + g * ld;
      for (std::size_t p = 0; p < n; ++p) b[(map ? map[p] : p) * M] = row[p];
    } else {
      for (std::size_t p = 0; p < n; ++p) b[p * M] = T(0);
    }
  }
}

// The bits of x - x, which are all zero for a finite x and those of a NaN otherwise; OR-ed
// together (a one-cycle chain), they say whether a block of values is finite.
template <class T, int VB>
PYSCALE_KERNEL void or_nan_bits(typename Vec<T, VB>::bits& acc, const typename Vec<T, VB>::v& x) {
  acc |= reinterpret_cast<typename Vec<T, VB>::bits>(x - x);
}

// The reverse: line l position p of the row-major block receives buf[map(p) * M + l], l < cnt.
// With acc, the NaN bits of every value written are OR-ed into it (see or_nan_bits).
template <class T, int VB>
PYSCALE_KERNEL void lanes_to_rows(const T* buf, std::size_t M, std::size_t n,
                                  const std::size_t* map, T* rows, std::size_t ld, std::size_t cnt,
                                  typename Vec<T, VB>::bits* acc = nullptr) {
  using VT = Vec<T, VB>;
  using v = typename VT::v;
  using vu = typename VT::vu;
  constexpr std::size_t W = VT::n;
  T rest = T(0);  // x - x summed over the values written one by one: NaN if one is not finite
  std::size_t g = 0;
  for (; g + W <= cnt; g += W) {
    T* r0 = rows + g * ld;
    const T* b = buf + g;
    std::size_t p0 = 0;
    for (; p0 + W <= n; p0 += W) {
      v t[W];
      const T* src[W];
      for (std::size_t c = 0; c < W; ++c) src[c] = b + (map ? map[p0 + c] : p0 + c) * M;
      load_tile<T, VB>(src, t);
      for (std::size_t r = 0; r < W; ++r) {
        PYSCALE_ST(r0 + r * ld + p0, t[r]);
        if (acc) or_nan_bits<T, VB>(*acc, t[r]);
      }
    }
    for (; p0 < n; ++p0) {
      const T* s = b + (map ? map[p0] : p0) * M;
      for (std::size_t r = 0; r < W; ++r) {
        r0[r * ld + p0] = s[r];
        rest += s[r] - s[r];
      }
    }
  }
  for (; g < cnt; ++g) {
    T* row = rows + g * ld;
    const T* b = buf + g;
    for (std::size_t p = 0; p < n; ++p) {
      row[p] = b[(map ? map[p] : p) * M];
      rest += row[p] - row[p];
    }
  }
  if (acc && !(rest == T(0))) (*acc)[0] |= 1;
}

// M values from src to dst, zeros beyond cnt.
template <class T, int VB>
PYSCALE_KERNEL void copy_lanes(const T* src, std::size_t cnt, T* dst, std::size_t M) {
  using VT = Vec<T, VB>;
  using vu = typename VT::vu;
  constexpr std::size_t W = VT::n;
  if (cnt == M) {
    for (std::size_t l = 0; l < M; l += W) PYSCALE_ST(dst + l, PYSCALE_LD(src + l));
  } else {
    for (std::size_t l = 0; l < M; ++l) dst[l] = l < cnt ? src[l] : T(0);
  }
}

template <class T, int VB>
PYSCALE_KERNEL bool bits_zero(const typename Vec<T, VB>::bits& acc) {
  bool ok = true;
  for (std::size_t i = 0; i < Vec<T, VB>::n; ++i) ok = ok && acc[i] == 0;
  return ok;
}

// Lanes used for a block of nv <= 2 * full_lanes real lines: a multiple of the chunk width.
template <class T, int VB>
inline std::size_t lanes_for(std::size_t nv) {
  constexpr std::size_t C = odd_chunk<T, VB>();
  const std::size_t half = (nv + 1) / 2;
  return std::min(full_lanes<T>(), (half + C - 1) / C * C);
}

template <class T>
using FftFn = void (*)(const FftPlan<T>&, std::size_t, T*, T*, T*, T*, T*, const Gather<T>*);

// Forward DCT-II of nv lines (nv <= 2 full_lanes) starting at line l0, read from src, written to
// dst (which may equal src). ld is the row stride of the image.
template <bool ROWS, class T, int VB>
PYSCALE_KERNEL void dct2_block(const DctPlan<T>& plan, const T* src, T* dst, std::size_t ld,
                               std::size_t l0, std::size_t nv, Workspace<T>& ws, FftFn<T> fft) {
  using VT = Vec<T, VB>;
  using v = typename VT::v;
  using vu = typename VT::vu;
  constexpr std::size_t W = VT::n;
  const std::size_t n = plan.n;
  const std::size_t M = lanes_for<T, VB>(nv);
  const std::size_t na = std::min(nv, M);  // lines in the real part
  const std::size_t nb = nv - na;          // lines in the imaginary part
  const T* s0 = ROWS ? src + l0 * ld : src + l0;
  T* d0 = ROWS ? dst + l0 * ld : dst + l0;
  // Gather in Makhoul order; a full block of columns is read straight from the image by the
  // first pass of the FFT.
  const bool full_cols = !ROWS && nv == 2 * M && reads_gather(plan.fft);
  if (ROWS) {
    rows_to_lanes<T, VB>(s0, ld, na, M, n, plan.iperm.data(), ws.b0r, M);
    rows_to_lanes<T, VB>(s0 + M * ld, ld, nb, M, n, plan.iperm.data(), ws.b0i, M);
  } else if (!full_cols) {
    const std::size_t* perm = plan.perm.data();
    for (std::size_t j = 0; j < n; ++j) {
      const T* row = s0 + perm[j] * ld;
      copy_lanes<T, VB>(row, na, ws.b0r + j * M, M);
      copy_lanes<T, VB>(row + M, nb, ws.b0i + j * M, M);
    }
  }
  Gather<T> in;
  in.base = s0;
  in.ld = ld;
  in.perm = plan.perm.data();
  in.im = M;
  fft(plan.fft, M, ws.b0r, ws.b0i, ws.b1r, ws.b1i, ws.scratch, full_cols ? &in : nullptr);
  const T* zr = ws.b0r;
  const T* zi = ws.b0i;
  const std::size_t* row_of = plan.fft.row_of.data();
  // Separate the two real spectra and apply the output twiddle, into the free buffer or, for
  // full column blocks, straight into the image.
  const bool direct = !ROWS && nv == 2 * M;
  T* ya = direct ? d0 : ws.b1r;
  T* yb = direct ? d0 + M : ws.b1i;
  const std::size_t ys = direct ? ld : M;
  const T* fc = plan.fc.data();
  const T* fs = plan.fs.data();
  typename VT::bits acc{};
  // Frequencies k and n - k together: both are made from the same two rows of the FFT output.
  for (std::size_t k = 0; 2 * k <= n; ++k) {
    const std::size_t kk = k ? n - k : 0;
    const T c = fc[k], s = fs[k], cc = fc[kk], ss = fs[kk];
    const T* pr = zr + row_of[k] * M;
    const T* pi = zi + row_of[k] * M;
    const T* qr = zr + row_of[kk] * M;
    const T* qi = zi + row_of[kk] * M;
    T* oa = ya + k * ys;
    T* ob = yb + k * ys;
    T* ona = ya + kk * ys;
    T* onb = yb + kk * ys;
    const bool pair = kk != k;
    for (std::size_t l = 0; l < M; l += W) {
      const v zpr = PYSCALE_LD(pr + l), zpi = PYSCALE_LD(pi + l);
      const v zqr = PYSCALE_LD(qr + l), zqi = PYSCALE_LD(qi + l);
      const v sr = zpr + zqr, si = zpi + zqi, dr = zqr - zpr, di = zpi - zqi;
      const v ya_l = c * sr + s * di;
      const v yb_l = c * si + s * dr;
      PYSCALE_ST(oa + l, ya_l);
      PYSCALE_ST(ob + l, yb_l);
      or_nan_bits<T, VB>(acc, ya_l);
      or_nan_bits<T, VB>(acc, yb_l);
      if (pair) {
        const v yna = cc * sr - ss * di;
        const v ynb = cc * si - ss * dr;
        PYSCALE_ST(ona + l, yna);
        PYSCALE_ST(onb + l, ynb);
        or_nan_bits<T, VB>(acc, yna);
        or_nan_bits<T, VB>(acc, ynb);
      }
    }
  }
  if (!bits_zero<T, VB>(acc)) ws.finite = false;
  if (ROWS) {
    lanes_to_rows<T, VB>(ya, M, n, nullptr, d0, ld, na);
    lanes_to_rows<T, VB>(yb, M, n, nullptr, d0 + M * ld, ld, nb);
  } else if (!direct) {
    for (std::size_t k = 0; k < n; ++k) {
      T* row = d0 + k * ld;
      for (std::size_t l = 0; l < na; ++l) row[l] = ya[k * M + l];
      for (std::size_t l = 0; l < nb; ++l) row[M + l] = yb[k * M + l];
    }
  }
}

// The input of the FFT of a DCT-III from the coefficients of the a-lines and b-lines (ca, cb as
// [k][lane], row stride cs) into (xr, xi), M lanes per row.
template <class T, int VB>
PYSCALE_KERNEL void dct3_twiddle(const DctPlan<T>& plan, const T* ca, const T* cb, std::size_t cs,
                                 std::size_t M, T* xr, T* xi) {
  using VT = Vec<T, VB>;
  using v = typename VT::v;
  using vu = typename VT::vu;
  constexpr std::size_t W = VT::n;
  const std::size_t n = plan.n;
  // Pre-twiddle into the FFT input; real and imaginary parts are swapped so that the forward
  // FFT computes the backward one.
  {
    const T g0 = plan.ic[0];
    for (std::size_t l = 0; l < M; l += W) {
      PYSCALE_ST(xi + l, g0 * PYSCALE_LD(ca + l));
      PYSCALE_ST(xr + l, g0 * PYSCALE_LD(cb + l));
    }
  }
  // Inputs k and n - k together: both are made from coefficient rows k and n - k, and the
  // twiddle of n - k is that of k with cosine and sine exchanged, so the products are shared.
  const T* ic = plan.ic.data();
  const T* is = plan.is.data();
  for (std::size_t k = 1; 2 * k <= n; ++k) {
    const T gc = ic[k], gs = is[k];
    const T* ak = ca + k * cs;
    const T* an = ca + (n - k) * cs;
    const T* bk = cb + k * cs;
    const T* bn = cb + (n - k) * cs;
    T* outr = xr + k * M;
    T* outi = xi + k * M;
    T* outnr = xr + (n - k) * M;
    T* outni = xi + (n - k) * M;
    const bool pair = 2 * k != n;
    for (std::size_t l = 0; l < M; l += W) {
      const v a_k = PYSCALE_LD(ak + l), a_n = PYSCALE_LD(an + l);
      const v b_k = PYSCALE_LD(bk + l), b_n = PYSCALE_LD(bn + l);
      const v var = a_k * gc + a_n * gs;
      const v vai = a_k * gs - a_n * gc;
      const v vbr = b_k * gc + b_n * gs;
      const v vbi = b_k * gs - b_n * gc;
      PYSCALE_ST(outi + l, var - vbi);  // real part of the combined spectrum
      PYSCALE_ST(outr + l, vai + vbr);  // imaginary part
      if (pair) {
        PYSCALE_ST(outni + l, var + vbi);
        PYSCALE_ST(outnr + l, vbr - vai);
      }
    }
  }
}

// Inverse (orthonormal DCT-III) of nv lines starting at line l0, from src to dst (may be equal).
template <bool ROWS, class T, int VB>
PYSCALE_KERNEL void dct3_block(const DctPlan<T>& plan, const T* src, T* dst, std::size_t ld,
                               std::size_t l0, std::size_t nv, Workspace<T>& ws, FftFn<T> fft) {
  using VT = Vec<T, VB>;
  using vu = typename VT::vu;
  constexpr std::size_t W = VT::n;
  const std::size_t n = plan.n;
  const std::size_t M = lanes_for<T, VB>(nv);
  const std::size_t na = std::min(nv, M);
  const std::size_t nb = nv - na;
  const T* s0 = ROWS ? src + l0 * ld : src + l0;
  T* d0 = ROWS ? dst + l0 * ld : dst + l0;
  // Coefficients of the a-lines and b-lines as [k][lane] with row stride cs.
  const T* ca;
  const T* cb;
  std::size_t cs;
  if (ROWS) {
    rows_to_lanes<T, VB>(s0, ld, na, M, n, nullptr, ws.b1r, M);
    rows_to_lanes<T, VB>(s0 + M * ld, ld, nb, M, n, nullptr, ws.b1i, M);
    ca = ws.b1r;
    cb = ws.b1i;
    cs = M;
  } else if (nv != 2 * M) {
    for (std::size_t k = 0; k < n; ++k) {
      copy_lanes<T, VB>(s0 + k * ld, na, ws.b1r + k * M, M);
      copy_lanes<T, VB>(s0 + k * ld + M, nb, ws.b1i + k * M, M);
    }
    ca = ws.b1r;
    cb = ws.b1i;
    cs = M;
  } else {
    ca = s0;
    cb = s0 + M;
    cs = ld;
  }
  dct3_twiddle<T, VB>(plan, ca, cb, cs, M, ws.b0r, ws.b0i);
  fft(plan.fft, M, ws.b0r, ws.b0i, ws.b1r, ws.b1i, ws.scratch, nullptr);
  const T* va = ws.b0i;  // real and imaginary parts swapped back
  const T* vb = ws.b0r;
  const std::size_t* src_row = plan.out_row.data();
  typename VT::bits acc{};  // the values written are checked as they go
  if (ROWS) {
    lanes_to_rows<T, VB>(va, M, n, src_row, d0, ld, na, &acc);
    lanes_to_rows<T, VB>(vb, M, n, src_row, d0 + M * ld, ld, nb, &acc);
  } else {
    T rest = T(0);
    for (std::size_t i = 0; i < n; ++i) {
      T* row = d0 + i * ld;
      const T* pa = va + src_row[i] * M;
      const T* pb = vb + src_row[i] * M;
      if (nv == 2 * M) {
        for (std::size_t l = 0; l < M; l += W) {
          const typename VT::v a = PYSCALE_LD(pa + l), b = PYSCALE_LD(pb + l);
          PYSCALE_ST(row + l, a);
          PYSCALE_ST(row + M + l, b);
          or_nan_bits<T, VB>(acc, a);
          or_nan_bits<T, VB>(acc, b);
        }
      } else {
        for (std::size_t l = 0; l < na; ++l) rest += (row[l] = pa[l]) - pa[l];
        for (std::size_t l = 0; l < nb; ++l) rest += (row[M + l] = pb[l]) - pb[l];
      }
    }
    if (!(rest == T(0))) ws.finite = false;
  }
  if (!bits_zero<T, VB>(acc)) ws.finite = false;
}

// One transform of a block of nv lines starting at line l0 (rows or columns of a row-major image
// with row stride ld), or a copy when the length is 1 (the orthonormal DCT of length 1 is the
// identity).
template <class T, int VB>
PYSCALE_KERNEL void block_impl(const DctPlan<T>& plan, const T* src, T* dst, std::size_t ld,
                               std::size_t l0, std::size_t nv, bool rows, bool inverse,
                               Workspace<T>& ws, FftFn<T> fft) {
  if (plan.n == 1) {
    T acc = T(0);
    for (std::size_t l = l0; l < l0 + nv; ++l) {
      const T x = src[rows ? l * ld : l];
      dst[rows ? l * ld : l] = x;
      acc += x - x;
    }
    if (acc != T(0)) ws.finite = false;
    return;
  }
  if (rows) {
    if (inverse)
      dct3_block<true, T, VB>(plan, src, dst, ld, l0, nv, ws, fft);
    else
      dct2_block<true, T, VB>(plan, src, dst, ld, l0, nv, ws, fft);
  } else {
    if (inverse)
      dct3_block<false, T, VB>(plan, src, dst, ld, l0, nv, ws, fft);
    else
      dct2_block<false, T, VB>(plan, src, dst, ld, l0, nv, ws, fft);
  }
}

}  // namespace dct_detail
}  // namespace pyscale
