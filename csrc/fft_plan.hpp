// Plans of the complex FFT on lanes: the factorisation of the length into passes, their twiddle
// factors and the digit-reversed order of the output.
// Pure C++: no Python types in this header.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

namespace pyscale {
namespace dct_detail {

// cos and sin of 2 pi num / den, accurate to the last bit of double.
inline void unit_root(std::uint64_t num, std::uint64_t den, long double& c, long double& s) {
  num %= den;
  const long double two_pi = 6.283185307179586476925286766559L;
  const long double a = two_pi * static_cast<long double>(num) / static_cast<long double>(den);
  c = std::cos(a);
  s = std::sin(a);
}

template <class T>
struct Stage {
  int p = 1;            // radix
  std::size_t m = 1;    // length of each of the p sub-transforms this pass leaves behind
  std::size_t len = 1;  // length p m of the transforms this pass works on
  // Twiddles w^(q k), w = exp(-2 pi i / len): index q * (p - 1) + k - 1.
  std::vector<T> twr, twi;
  // Odd radix: cos and sin of 2 pi j k / p, index (k - 1) * h + j - 1, h = (p - 1) / 2.
  std::vector<T> ct, st;
};

// In-place decimation-in-frequency FFT: pass i splits every transform of length len_i into p_i
// interleaved ones of length m_i, stored one after the other, so the output comes out in
// mixed-radix digit-reversed order: frequency f is found in row row_of[f].
//
// Lengths with a prime factor above kMaxDirectPrime use Bluestein's algorithm instead: the DFT of
// length n becomes a cyclic convolution of length L >= 2n - 1 (L with factors 2, 3, 5, 7 only),
// computed with two FFTs of length L; the output is then in natural order.
template <class T>
struct FftPlan {
  std::size_t n = 1;
  std::vector<Stage<T>> stages;
  std::vector<std::size_t> row_of;
  std::size_t max_half = 0;   // largest (p - 1) / 2 over odd passes, including the inner plan
  std::size_t work_rows = 1;  // rows each of the two buffers must hold
  // Bluestein
  std::shared_ptr<const FftPlan<T>> inner;  // length L
  std::vector<T> chirp_r, chirp_i;          // exp(i pi j^2 / n), j < n
  std::vector<T> kern_r, kern_i;  // DFT_L of the chirp kernel / L, in the inner plan's row order
};

// Above about 200 the direct odd-radix pass (O(p) work per point) becomes slower than Bluestein.
#ifndef PYSCALE_MAX_DIRECT_PRIME
#define PYSCALE_MAX_DIRECT_PRIME 200
#endif
constexpr std::size_t kMaxDirectPrime = PYSCALE_MAX_DIRECT_PRIME;

// The prime factors of n, with powers of two as radix 8 passes and one radix 4 or 2 pass; the
// radix 8 passes come first, or after the radix 4 or 2 one when eights_last is set.
inline std::vector<int> factorize(std::size_t n, bool eights_last = false) {
  std::vector<int> f;
  std::size_t eights = 0;
  while (n % 8 == 0) {
    ++eights;
    n /= 8;
  }
  if (!eights_last) f.insert(f.end(), eights, 8);
  while (n % 4 == 0) {
    f.push_back(4);
    n /= 4;
  }
  if (n % 2 == 0) {
    f.push_back(2);
    n /= 2;
  }
  if (eights_last) f.insert(f.end(), eights, 8);
  for (std::size_t p = 3; p * p <= n; p += 2) {
    while (n % p == 0) {
      f.push_back(static_cast<int>(p));
      n /= p;
    }
  }
  if (n > 1) f.push_back(static_cast<int>(n));
  return f;
}

// Whether a length goes through Bluestein's algorithm: it has a prime factor above
// kMaxDirectPrime.
inline bool needs_bluestein(std::size_t n) {
  if (n <= 1) return false;
  const std::vector<int> factors = factorize(n);
  const int largest = *std::max_element(factors.begin(), factors.end());
  return largest % 2 == 1 && static_cast<std::size_t>(largest) > kMaxDirectPrime;
}

// The pass of radix p on transforms of length len: twiddles, and the cosine and sine tables of an
// odd radix.
template <class T>
Stage<T> make_stage(int p, std::size_t len) {
  Stage<T> st;
  st.p = p;
  st.len = len;
  st.m = len / static_cast<std::size_t>(p);
  const std::size_t pm1 = static_cast<std::size_t>(p - 1);
  st.twr.resize(st.m * pm1);
  st.twi.resize(st.m * pm1);
  for (std::size_t q = 0; q < st.m; ++q)
    for (std::size_t k = 1; k <= pm1; ++k) {
      long double c, sn;
      unit_root(q * k, len, c, sn);
      st.twr[q * pm1 + k - 1] = static_cast<T>(c);
      st.twi[q * pm1 + k - 1] = static_cast<T>(-sn);
    }
  if (p % 2 == 1) {
    const std::size_t h = pm1 / 2;
    st.ct.resize(h * h);
    st.st.resize(h * h);
    for (std::size_t k = 1; k <= h; ++k)
      for (std::size_t j = 1; j <= h; ++j) {
        long double c, sn;
        unit_root(j * k, static_cast<std::uint64_t>(p), c, sn);
        st.ct[(k - 1) * h + j - 1] = static_cast<T>(c);
        st.st[(k - 1) * h + j - 1] = static_cast<T>(sn);
      }
  }
  return st;
}

// Order of the passes of a power of two for values of type T: double (two vectors per lane row)
// measured 5-15 % faster on lengths 128 and 256 with the radix 4 or 2 pass first, whose twiddles
// are fewer per value than those of a radix 8 pass; float measured slower so.
template <class T>
constexpr bool eights_last() {
  return sizeof(T) == 8;
}

// The plan of the direct FFT of length n, one pass per prime factor (radix 8 and 4 for powers of
// two) whatever their size; the powers of two in the order of eights_last<U>() (the order sets the
// row order of the output, which a plan of another type may have to match).
template <class T, class U = T>
void build_direct_plan(FftPlan<T>& plan, std::size_t n) {
  plan.n = n;
  plan.stages.clear();
  plan.row_of.assign(n, 0);
  plan.work_rows = std::max<std::size_t>(n, 1);
  if (n <= 1) return;
  std::size_t len = n;
  for (int p : factorize(n, eights_last<U>())) {
    plan.stages.push_back(make_stage<T>(p, len));
    if (p % 2 == 1) plan.max_half = std::max(plan.max_half, static_cast<std::size_t>(p - 1) / 2);
    len /= static_cast<std::size_t>(p);
  }
  // Frequency f = k_1 + p_1 (k_2 + p_2 (k_3 + ...)) ends in row k_1 m_1 + k_2 m_2 + ...
  for (std::size_t f = 0; f < n; ++f) {
    std::size_t rest = f, row = 0;
    for (const Stage<T>& st : plan.stages) {
      const std::size_t p = static_cast<std::size_t>(st.p);
      row += (rest % p) * st.m;
      rest /= p;
    }
    plan.row_of[f] = row;
  }
}

}  // namespace dct_detail
}  // namespace pyscale
