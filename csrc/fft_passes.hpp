// The passes of the in-place decimation-in-frequency FFT on lanes: radix 2, 4, 8 and any odd
// radix. Pure C++: no Python types in this header.
#pragma once

#include <algorithm>
#include <cstddef>

#include "fft_plan.hpp"
#include "simd.hpp"

namespace pyscale {
namespace dct_detail {

// ------------------------------------------------------------------------------------------------
// FFT passes on lanes, in place. A row holds M lanes (M contiguous values). A pass works on nblk
// consecutive transforms of length len = p m (block b occupies rows b len .. b len + len - 1);
// butterfly q of a block reads rows q + m j and writes the same rows, output k to row q + m k,
// multiplied by the twiddle w_len^(q k).
//
// The radix 2, 4 and 8 passes can also read their input from elsewhere (a Gather, GATHER = true):
// the first pass of a transform then takes its rows straight from an image instead of a copy.
// ------------------------------------------------------------------------------------------------

// The input of a first pass read from an image: row r of the single transform is the row perm[r]
// of the image (ld values apart) from base for the real parts, im values further on for the
// imaginary ones.
template <class T>
struct Gather {
  const T* base = nullptr;
  std::size_t ld = 0;
  const std::size_t* perm = nullptr;
  std::size_t im = 0;
  const T* re(std::size_t r) const { return base + perm[r] * ld; }
};

// Input j of butterfly q of a pass (row q + m j of the transform), real (x = ar) or imaginary
// (x = ai) part: in place, rows step apart, or gathered.
template <class T, bool GATHER, bool IMAG>
PYSCALE_KERNEL const T* input(const Gather<T>* g, std::size_t q, std::size_t m, const T* x,
                              std::size_t step, std::size_t j) {
  if (GATHER) return g->re(q + m * j) + (IMAG ? g->im : 0);
  return x + j * step;
}

// Value t of input j of butterfly q, in the passes below.
#define PYSCALE_IN(part, x, j) (input<T, GATHER, part>(g, q, m, x, step, j) + t)

template <class T, int VB, bool GATHER = false>
PYSCALE_KERNEL void pass2(const Stage<T>& st, std::size_t M, T* __restrict xr, T* __restrict xi,
                          std::size_t nblk, const Gather<T>* g = nullptr) {
  using VT = Vec<T, VB>;
  using v = typename VT::v;
  using vu = typename VT::vu;
  constexpr std::size_t W = VT::n;
  const std::size_t m = st.m, step = m * M, bstride = st.len * M;
  for (std::size_t q = 0; q < m; ++q) {
    const bool tw = q != 0;
    const T wr = tw ? st.twr[q] : T(1), wi = tw ? st.twi[q] : T(0);
    for (std::size_t b = 0; b < nblk; ++b) {
      T* ar = xr + b * bstride + q * M;
      T* ai = xi + b * bstride + q * M;
      for (std::size_t t = 0; t < M; t += W) {
        const v a_r = PYSCALE_LD(PYSCALE_IN(false, ar, 0)),
                a_i = PYSCALE_LD(PYSCALE_IN(true, ai, 0));
        const v b_r = PYSCALE_LD(PYSCALE_IN(false, ar, 1)),
                b_i = PYSCALE_LD(PYSCALE_IN(true, ai, 1));
        PYSCALE_ST(ar + t, a_r + b_r);
        PYSCALE_ST(ai + t, a_i + b_i);
        const v dr = a_r - b_r, di = a_i - b_i;
        if (tw) {
          PYSCALE_ST(ar + step + t, dr * wr - di * wi);
          PYSCALE_ST(ai + step + t, dr * wi + di * wr);
        } else {
          PYSCALE_ST(ar + step + t, dr);
          PYSCALE_ST(ai + step + t, di);
        }
      }
    }
  }
}

template <class T, int VB, bool GATHER = false>
PYSCALE_KERNEL void pass4(const Stage<T>& st, std::size_t M, T* __restrict xr, T* __restrict xi,
                          std::size_t nblk, const Gather<T>* g = nullptr) {
  using VT = Vec<T, VB>;
  using v = typename VT::v;
  using vu = typename VT::vu;
  constexpr std::size_t W = VT::n;
  const std::size_t m = st.m, step = m * M, bstride = st.len * M;
  for (std::size_t q = 0; q < m; ++q) {
    const bool tw = q != 0;
    const T w1r = tw ? st.twr[3 * q] : T(1), w1i = tw ? st.twi[3 * q] : T(0);
    const T w2r = tw ? st.twr[3 * q + 1] : T(1), w2i = tw ? st.twi[3 * q + 1] : T(0);
    const T w3r = tw ? st.twr[3 * q + 2] : T(1), w3i = tw ? st.twi[3 * q + 2] : T(0);
    for (std::size_t b = 0; b < nblk; ++b) {
      T* ar = xr + b * bstride + q * M;
      T* ai = xi + b * bstride + q * M;
      for (std::size_t t = 0; t < M; t += W) {
        const v x0r = PYSCALE_LD(PYSCALE_IN(false, ar, 0)),
                x0i = PYSCALE_LD(PYSCALE_IN(true, ai, 0));
        const v x1r = PYSCALE_LD(PYSCALE_IN(false, ar, 1)),
                x1i = PYSCALE_LD(PYSCALE_IN(true, ai, 1));
        const v x2r = PYSCALE_LD(PYSCALE_IN(false, ar, 2)),
                x2i = PYSCALE_LD(PYSCALE_IN(true, ai, 2));
        const v x3r = PYSCALE_LD(PYSCALE_IN(false, ar, 3)),
                x3i = PYSCALE_LD(PYSCALE_IN(true, ai, 3));
        const v t0r = x0r + x2r, t0i = x0i + x2i;
        const v t1r = x0r - x2r, t1i = x0i - x2i;
        const v t2r = x1r + x3r, t2i = x1i + x3i;
        const v t3r = x1r - x3r, t3i = x1i - x3i;
        PYSCALE_ST(ar + t, t0r + t2r);
        PYSCALE_ST(ai + t, t0i + t2i);
        const v b2r = t0r - t2r, b2i = t0i - t2i;
        const v b1r = t1r + t3i, b1i = t1i - t3r;
        const v b3r = t1r - t3i, b3i = t1i + t3r;
        if (tw) {
          PYSCALE_ST(ar + step + t, b1r * w1r - b1i * w1i);
          PYSCALE_ST(ai + step + t, b1r * w1i + b1i * w1r);
          PYSCALE_ST(ar + 2 * step + t, b2r * w2r - b2i * w2i);
          PYSCALE_ST(ai + 2 * step + t, b2r * w2i + b2i * w2r);
          PYSCALE_ST(ar + 3 * step + t, b3r * w3r - b3i * w3i);
          PYSCALE_ST(ai + 3 * step + t, b3r * w3i + b3i * w3r);
        } else {
          PYSCALE_ST(ar + step + t, b1r);
          PYSCALE_ST(ai + step + t, b1i);
          PYSCALE_ST(ar + 2 * step + t, b2r);
          PYSCALE_ST(ai + 2 * step + t, b2i);
          PYSCALE_ST(ar + 3 * step + t, b3r);
          PYSCALE_ST(ai + 3 * step + t, b3i);
        }
      }
    }
  }
}

template <class T, int VB, bool GATHER = false>
PYSCALE_KERNEL void pass8(const Stage<T>& st, std::size_t M, T* __restrict xr, T* __restrict xi,
                          std::size_t nblk, const Gather<T>* g = nullptr) {
  using VT = Vec<T, VB>;
  using v = typename VT::v;
  using vu = typename VT::vu;
  constexpr std::size_t W = VT::n;
  const T h = static_cast<T>(0.70710678118654752440084436210484903928L);
  const std::size_t m = st.m, step = m * M, bstride = st.len * M;
  for (std::size_t q = 0; q < m; ++q) {
    const bool tw = q != 0;
    T wr[8], wi[8];
    for (std::size_t k = 1; k < 8; ++k) {
      wr[k] = tw ? st.twr[7 * q + k - 1] : T(1);
      wi[k] = tw ? st.twi[7 * q + k - 1] : T(0);
    }
    for (std::size_t b = 0; b < nblk; ++b) {
      T* ar = xr + b * bstride + q * M;
      T* ai = xi + b * bstride + q * M;
      for (std::size_t t = 0; t < M; t += W) {
        v br[4], bi[4], cr[4], ci[4];
        for (std::size_t j = 0; j < 4; ++j) {
          const v a0r = PYSCALE_LD(PYSCALE_IN(false, ar, j)),
                  a0i = PYSCALE_LD(PYSCALE_IN(true, ai, j));
          const v a1r = PYSCALE_LD(PYSCALE_IN(false, ar, j + 4));
          const v a1i = PYSCALE_LD(PYSCALE_IN(true, ai, j + 4));
          br[j] = a0r + a1r;
          bi[j] = a0i + a1i;
          cr[j] = a0r - a1r;
          ci[j] = a0i - a1i;
        }
        {  // c_j *= exp(-i pi j / 4)
          const v r1 = (cr[1] + ci[1]) * h, i1 = (ci[1] - cr[1]) * h;
          const v r2 = ci[2], i2 = -cr[2];
          const v r3 = (ci[3] - cr[3]) * h, i3 = -(cr[3] + ci[3]) * h;
          cr[1] = r1;
          ci[1] = i1;
          cr[2] = r2;
          ci[2] = i2;
          cr[3] = r3;
          ci[3] = i3;
        }
        v outr[8], outi[8];
        for (std::size_t odd = 0; odd < 2;
             ++odd) {  // 4-point DFTs: even outputs from b, odd from c
          const v* ur = odd ? cr : br;
          const v* ui = odd ? ci : bi;
          const v t0r = ur[0] + ur[2], t0i = ui[0] + ui[2];
          const v t1r = ur[0] - ur[2], t1i = ui[0] - ui[2];
          const v t2r = ur[1] + ur[3], t2i = ui[1] + ui[3];
          const v t3r = ur[1] - ur[3], t3i = ui[1] - ui[3];
          outr[odd] = t0r + t2r;
          outi[odd] = t0i + t2i;
          outr[odd + 4] = t0r - t2r;
          outi[odd + 4] = t0i - t2i;
          outr[odd + 2] = t1r + t3i;
          outi[odd + 2] = t1i - t3r;
          outr[odd + 6] = t1r - t3i;
          outi[odd + 6] = t1i + t3r;
        }
        PYSCALE_ST(ar + t, outr[0]);
        PYSCALE_ST(ai + t, outi[0]);
        for (std::size_t k = 1; k < 8; ++k) {
          if (tw) {
            PYSCALE_ST(ar + k * step + t, outr[k] * wr[k] - outi[k] * wi[k]);
            PYSCALE_ST(ai + k * step + t, outr[k] * wi[k] + outi[k] * wr[k]);
          } else {
            PYSCALE_ST(ar + k * step + t, outr[k]);
            PYSCALE_ST(ai + k * step + t, outi[k]);
          }
        }
      }
    }
  }
}

#undef PYSCALE_IN

// Odd radix p (P = p when known at compile time, 0 otherwise). For k = 1..h, h = (p - 1) / 2:
//   T_k = a_0 + sum_j (a_j + a_{p-j}) cos(2 pi j k / p),  U_k = sum_j (a_j - a_{p-j}) sin(2 pi j k
//   / p) y_k = T_k - i U_k,  y_{p-k} = T_k + i U_k.
// The sums and differences of a chunk of C lanes are staged in scratch (4 h C values) before the
// outputs overwrite the inputs.

// Stages the sums and differences of inputs j and p - j (j = 1..h) of the chunk at (x0r, x0i)
// (rows `step` apart) and writes output 0, the sum of all inputs; input 0 is left in (a0r, a0i).
template <class T, int VB>
PYSCALE_KERNEL void odd_stage(std::size_t p, std::size_t step, T* __restrict x0r, T* __restrict x0i,
                              typename Vec<T, VB>::v* a0r, typename Vec<T, VB>::v* a0i,
                              T* __restrict scratch) {
  using VT = Vec<T, VB>;
  using v = typename VT::v;
  using vu = typename VT::vu;
  constexpr std::size_t W = VT::n;
  constexpr std::size_t C = odd_chunk<T, VB>();
  constexpr std::size_t NV = C / W;
  const std::size_t h = (p - 1) / 2;
  v y0r[NV], y0i[NV];
  for (std::size_t c = 0; c < NV; ++c) {
    a0r[c] = y0r[c] = PYSCALE_LD(x0r + c * W);
    a0i[c] = y0i[c] = PYSCALE_LD(x0i + c * W);
  }
  for (std::size_t j = 1; j <= h; ++j) {
    T* sc = scratch + (j - 1) * 4 * C;
    for (std::size_t c = 0; c < NV; ++c) {
      const v ajr = PYSCALE_LD(x0r + j * step + c * W), aji = PYSCALE_LD(x0i + j * step + c * W);
      const v bjr = PYSCALE_LD(x0r + (p - j) * step + c * W);
      const v bji = PYSCALE_LD(x0i + (p - j) * step + c * W);
      const v sjr = ajr + bjr, sji = aji + bji;
      PYSCALE_ST(sc + c * W, sjr);
      PYSCALE_ST(sc + C + c * W, sji);
      PYSCALE_ST(sc + 2 * C + c * W, ajr - bjr);
      PYSCALE_ST(sc + 3 * C + c * W, aji - bji);
      y0r[c] += sjr;
      y0i[c] += sji;
    }
  }
  for (std::size_t c = 0; c < NV; ++c) {
    PYSCALE_ST(x0r + c * W, y0r[c]);
    PYSCALE_ST(x0i + c * W, y0i[c]);
  }
}

// The sums T_k - a_0 and U_k of E consecutive outputs k (cosine and sine rows ck, sk) added to
// (tr, ti) and (ur, ui).
template <class T, int VB, std::size_t E, class Acc>
PYSCALE_KERNEL void odd_sums(const T* ck, const T* sk, std::size_t h, const T* __restrict scratch,
                             Acc* tr, Acc* ti, Acc* ur, Acc* ui) {
  using vu = typename Vec<T, VB>::vu;
  constexpr std::size_t W = Vec<T, VB>::n;
  constexpr std::size_t C = odd_chunk<T, VB>();
  constexpr std::size_t NV = C / W;
  for (std::size_t j = 0; j < h; ++j) {
    const T* sc = scratch + j * 4 * C;
    for (std::size_t e = 0; e < E; ++e) {
      const T cj = ck[e * h + j], sj = sk[e * h + j];
      for (std::size_t c = 0; c < NV; ++c) {
        tr[e][c] += PYSCALE_LD(sc + c * W) * cj;
        ti[e][c] += PYSCALE_LD(sc + C + c * W) * cj;
        ur[e][c] += PYSCALE_LD(sc + 2 * C + c * W) * sj;
        ui[e][c] += PYSCALE_LD(sc + 3 * C + c * W) * sj;
      }
    }
  }
}

// Outputs k = 1..h and p - k of the staged chunk, multiplied by the twiddles of butterfly q
// (twr, twi) unless q = 0.
template <class T, int VB>
PYSCALE_KERNEL void odd_outputs(const Stage<T>& st, std::size_t p, std::size_t q, std::size_t step,
                                T* __restrict x0r, T* __restrict x0i,
                                const typename Vec<T, VB>::v* a0r,
                                const typename Vec<T, VB>::v* a0i, const T* __restrict scratch) {
  using VT = Vec<T, VB>;
  using v = typename VT::v;
  using vu = typename VT::vu;
  constexpr std::size_t W = VT::n;
  constexpr std::size_t C = odd_chunk<T, VB>();
  constexpr std::size_t NV = C / W;
  // KB outputs pairs at a time, so that enough independent sums are in flight.
  constexpr std::size_t KB = NV == 1 ? 2 : 1;
  const std::size_t h = (p - 1) / 2;
  const T* twr = st.twr.data() + q * (p - 1);
  const T* twi = st.twi.data() + q * (p - 1);
  for (std::size_t k = 1; k <= h; k += KB) {
    const std::size_t kb = std::min(KB, h + 1 - k);
    v tr[KB][NV], ti[KB][NV], ur[KB][NV], ui[KB][NV];
    for (std::size_t e = 0; e < KB; ++e)
      for (std::size_t c = 0; c < NV; ++c) {
        tr[e][c] = a0r[c];
        ti[e][c] = a0i[c];
        ur[e][c] = v{};
        ui[e][c] = v{};
      }
    const T* ck = st.ct.data() + (k - 1) * h;
    const T* sk = st.st.data() + (k - 1) * h;
    if (kb == KB)
      odd_sums<T, VB, KB>(ck, sk, h, scratch, tr, ti, ur, ui);
    else
      odd_sums<T, VB, 1>(ck, sk, h, scratch, tr, ti, ur, ui);
    for (std::size_t e = 0; e < kb; ++e) {
      const std::size_t kk = k + e;
      T* okr = x0r + kk * step;
      T* oki = x0i + kk * step;
      T* onr = x0r + (p - kk) * step;
      T* oni = x0i + (p - kk) * step;
      for (std::size_t c = 0; c < NV; ++c) {
        const v bkr = tr[e][c] + ui[e][c], bki = ti[e][c] - ur[e][c];
        const v bnr = tr[e][c] - ui[e][c], bni = ti[e][c] + ur[e][c];
        if (q == 0) {
          PYSCALE_ST(okr + c * W, bkr);
          PYSCALE_ST(oki + c * W, bki);
          PYSCALE_ST(onr + c * W, bnr);
          PYSCALE_ST(oni + c * W, bni);
        } else {
          const T wkr = twr[kk - 1], wki = twi[kk - 1];
          const T wnr = twr[p - kk - 1], wni = twi[p - kk - 1];
          PYSCALE_ST(okr + c * W, bkr * wkr - bki * wki);
          PYSCALE_ST(oki + c * W, bkr * wki + bki * wkr);
          PYSCALE_ST(onr + c * W, bnr * wnr - bni * wni);
          PYSCALE_ST(oni + c * W, bnr * wni + bni * wnr);
        }
      }
    }
  }
}

template <class T, int VB, int P>
PYSCALE_KERNEL void pass_odd(const Stage<T>& st, std::size_t M, T* __restrict xr, T* __restrict xi,
                             std::size_t nblk, T* __restrict scratch) {
  using v = typename Vec<T, VB>::v;
  constexpr std::size_t C = odd_chunk<T, VB>();
  constexpr std::size_t NV = C / Vec<T, VB>::n;
  const std::size_t p = P ? static_cast<std::size_t>(P) : static_cast<std::size_t>(st.p);
  const std::size_t m = st.m, step = m * M, bstride = st.len * M;
  for (std::size_t q = 0; q < m; ++q)
    for (std::size_t b = 0; b < nblk; ++b)
      for (std::size_t t0 = 0; t0 < M; t0 += C) {
        T* x0r = xr + b * bstride + q * M + t0;
        T* x0i = xi + b * bstride + q * M + t0;
        v a0r[NV], a0i[NV];
        odd_stage<T, VB>(p, step, x0r, x0i, a0r, a0i, scratch);
        odd_outputs<T, VB>(st, p, q, step, x0r, x0i, a0r, a0i, scratch);
      }
}

template <class T, int VB>
PYSCALE_KERNEL void run_pass(const Stage<T>& st, std::size_t M, T* xr, T* xi, std::size_t nblk,
                             T* scratch) {
  switch (st.p) {
    case 2:
      pass2<T, VB>(st, M, xr, xi, nblk);
      break;
    case 4:
      pass4<T, VB>(st, M, xr, xi, nblk);
      break;
    case 8:
      pass8<T, VB>(st, M, xr, xi, nblk);
      break;
    case 3:
      pass_odd<T, VB, 3>(st, M, xr, xi, nblk, scratch);
      break;
    case 5:
      pass_odd<T, VB, 5>(st, M, xr, xi, nblk, scratch);
      break;
    case 7:
      pass_odd<T, VB, 7>(st, M, xr, xi, nblk, scratch);
      break;
    case 11:
      pass_odd<T, VB, 11>(st, M, xr, xi, nblk, scratch);
      break;
    case 13:
      pass_odd<T, VB, 13>(st, M, xr, xi, nblk, scratch);
      break;
    default:
      pass_odd<T, VB, 0>(st, M, xr, xi, nblk, scratch);
      break;
  }
}

// Whether a pass can read a Gather.
template <class T>
bool gathers(const Stage<T>& st) {
  return st.p == 2 || st.p == 4 || st.p == 8;
}

// A radix 2, 4 or 8 pass on one transform whose input is read from g, output to (xr, xi).
template <class T, int VB>
PYSCALE_KERNEL void run_gather_pass(const Stage<T>& st, std::size_t M, const Gather<T>& g, T* xr,
                                    T* xi) {
  if (st.p == 2)
    pass2<T, VB, true>(st, M, xr, xi, 1, &g);
  else if (st.p == 4)
    pass4<T, VB, true>(st, M, xr, xi, 1, &g);
  else
    pass8<T, VB, true>(st, M, xr, xi, 1, &g);
}

}  // namespace dct_detail
}  // namespace pyscale
