// Orthonormal 2-D DCT-II and DCT-III (its inverse) on C-contiguous [batch, ny, nx] arrays.
//
// Method
// ------
// A length-n DCT-II is computed with Makhoul's reordering: v[j] = x[2j] for the first ceil(n/2)
// positions and v[n-1-j] = x[2j+1] for the rest, then V = DFT(v) and y[k] = f_k Re(e^{-i pi k/2n}
// V[k]). Two real lines a, b are transformed together as the complex line a + i b and separated
// through the Hermitian symmetry of their spectra. The DCT-III runs the same steps backwards.
//
// The complex DFT is an in-place mixed-radix decimation-in-frequency FFT with radix-8, 4, 2 and
// odd-radix passes (the odd pass works for any odd factor, using the symmetry of its cosine and
// sine tables); it splits large transforms depth first so that most passes run in the level-1
// cache, and leaves its output in digit-reversed order, which the DCT steps read through tables.
// Lengths with a prime factor above kMaxDirectPrime go through Bluestein's chirp convolution.
// Every pass works on "lanes": a block of M independent lines stored as [n][M], so the innermost
// loops run over M contiguous values with a common twiddle factor. Columns of an image are
// naturally in this layout; rows are transposed into it block by block with in-register tiles.
//
// The kernels are written with the GCC/Clang vector extension and compiled for 16-, 32- and
// 64-byte vectors (SSE2, AVX2 + FMA, AVX-512); the widest one the processor supports is chosen
// once per process.
//
// The image is cut into blocks of 2M lines whose boundaries depend only on the sizes, and every
// block is computed by the same code whichever thread takes it, so results are bitwise identical
// for any number of threads.
#pragma once

#include <algorithm>
#include <atomic>
#include <cmath>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

namespace pyscale {
namespace dct_detail {

// ------------------------------------------------------------------------------------------------
// Threads
// ------------------------------------------------------------------------------------------------

class Barrier {
 public:
  explicit Barrier(int n) : n_(n) {}
  void wait() {
    if (n_ <= 1) return;
    std::unique_lock<std::mutex> lock(mutex_);
    const std::size_t gen = generation_;
    if (++count_ == n_) {
      count_ = 0;
      ++generation_;
      cv_.notify_all();
    } else {
      cv_.wait(lock, [&] { return gen != generation_; });
    }
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  int n_;
  int count_ = 0;
  std::size_t generation_ = 0;
};

// Runs f(tid, nthreads, barrier) on up to `nthreads` threads (the caller is thread 0). If the
// system refuses to start a thread, the team simply has fewer members; f must distribute its work
// dynamically (or by the actual team size) so that this does not change the result.
template <class F>
void run_team(int nthreads, F&& f) {
  if (nthreads <= 1) {
    Barrier bar(1);
    f(0, 1, bar);
    return;
  }
  std::mutex gate_mutex;
  std::condition_variable gate_cv;
  int team = 0;  // 0 while the team is being assembled
  std::unique_ptr<Barrier> bar;
  std::vector<std::thread> threads;
  threads.reserve(static_cast<std::size_t>(nthreads - 1));
  for (int t = 1; t < nthreads; ++t) {
    try {
      threads.emplace_back([&, t] {
        {
          std::unique_lock<std::mutex> lock(gate_mutex);
          gate_cv.wait(lock, [&] { return team != 0; });
        }
        f(t, team, *bar);
      });
    } catch (...) {
      break;
    }
  }
  {
    std::lock_guard<std::mutex> lock(gate_mutex);
    bar.reset(new Barrier(static_cast<int>(threads.size()) + 1));
    team = static_cast<int>(threads.size()) + 1;
  }
  gate_cv.notify_all();
  f(0, team, *bar);
  for (auto& th : threads) th.join();
}

// ------------------------------------------------------------------------------------------------
// Plans
// ------------------------------------------------------------------------------------------------

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

inline std::vector<int> factorize(std::size_t n) {
  std::vector<int> f;
  while (n % 8 == 0) {
    f.push_back(8);
    n /= 8;
  }
  while (n % 4 == 0) {
    f.push_back(4);
    n /= 4;
  }
  if (n % 2 == 0) {
    f.push_back(2);
    n /= 2;
  }
  for (std::size_t p = 3; p * p <= n; p += 2) {
    while (n % p == 0) {
      f.push_back(static_cast<int>(p));
      n /= p;
    }
  }
  if (n > 1) f.push_back(static_cast<int>(n));
  return f;
}

template <class T>
void build_bluestein(FftPlan<T>& plan, std::size_t n);

template <class T>
void build_fft_plan(FftPlan<T>& plan, std::size_t n, bool allow_bluestein = true) {
  plan.n = n;
  plan.stages.clear();
  plan.row_of.assign(n, 0);
  plan.work_rows = std::max<std::size_t>(n, 1);
  if (n <= 1) return;
  const std::vector<int> factors = factorize(n);
  const int largest = *std::max_element(factors.begin(), factors.end());
  if (allow_bluestein && largest % 2 == 1 && static_cast<std::size_t>(largest) > kMaxDirectPrime) {
    build_bluestein(plan, n);
    return;
  }
  std::size_t len = n;
  for (int p : factors) {
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
      plan.max_half = std::max(plan.max_half, h);
    }
    len = st.m;
    plan.stages.push_back(std::move(st));
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

template <class T>
struct DctPlan {
  std::size_t n = 1;
  FftPlan<T> fft;
  std::vector<std::size_t> perm;   // Makhoul order: v[j] = x[perm[j]]
  std::vector<std::size_t> iperm;  // its inverse: x[i] = v[iperm[i]]
  std::vector<std::size_t>
      out_row;            // DCT-III: x[i] is in row fft.row_of[iperm[i]] of the FFT output
  std::vector<T> fc, fs;  // forward: f_k / 2 * (cos, sin)(pi k / 2n)
  std::vector<T> ic, is;  // inverse: ic[0] = 1 / sqrt(n); k >= 1: (cos, sin)(pi k / 2n) / sqrt(2n)
};

template <class T>
std::shared_ptr<const DctPlan<T>> make_dct_plan(std::size_t n) {
  auto plan = std::make_shared<DctPlan<T>>();
  plan->n = n;
  build_fft_plan(plan->fft, n);
  plan->perm.resize(n);
  const std::size_t half = (n + 1) / 2;
  for (std::size_t j = 0; j < n; ++j) plan->perm[j] = j < half ? 2 * j : 2 * (n - 1 - j) + 1;
  plan->iperm.resize(n);
  for (std::size_t j = 0; j < n; ++j) plan->iperm[plan->perm[j]] = j;
  plan->out_row.resize(n);
  for (std::size_t i = 0; i < n; ++i) plan->out_row[i] = plan->fft.row_of[plan->iperm[i]];
  plan->fc.resize(n);
  plan->fs.resize(n);
  plan->ic.resize(n);
  plan->is.resize(n);
  const long double nl = static_cast<long double>(n);
  const long double f0 = 1.0L / std::sqrt(nl), f1 = std::sqrt(2.0L / nl),
                    g1 = 1.0L / std::sqrt(2.0L * nl);
  for (std::size_t k = 0; k < n; ++k) {
    long double c, s;
    unit_root(k, 4 * static_cast<std::uint64_t>(n), c, s);  // angle pi k / 2n
    const long double f = k == 0 ? f0 : f1;
    plan->fc[k] = static_cast<T>(0.5L * f * c);
    plan->fs[k] = static_cast<T>(0.5L * f * s);
    plan->ic[k] = static_cast<T>(k == 0 ? f0 : g1 * c);
    plan->is[k] = static_cast<T>(k == 0 ? 0.0L : g1 * s);
  }
  return plan;
}

// At most this many plans of one type are kept (a plan is a few times its length in memory).
// When the cache is full it is emptied; plans in use stay alive with their users.
constexpr std::size_t kMaxCachedPlans = 64;

// Plans are built once per (length, type) and shared; they are immutable afterwards.
template <class T>
std::shared_ptr<const DctPlan<T>> get_dct_plan(std::size_t n) {
  static std::mutex mutex;
  static std::unordered_map<std::size_t, std::shared_ptr<const DctPlan<T>>> cache;
  {
    std::lock_guard<std::mutex> lock(mutex);
    auto it = cache.find(n);
    if (it != cache.end()) return it->second;
  }
  auto plan = make_dct_plan<T>(n);  // built outside the lock
  std::lock_guard<std::mutex> lock(mutex);
  if (cache.size() >= kMaxCachedPlans && cache.find(n) == cache.end()) cache.clear();
  auto res = cache.emplace(n, plan);
  return res.first->second;
}

// ------------------------------------------------------------------------------------------------
// Short vectors
// ------------------------------------------------------------------------------------------------

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

// A vector of VB bytes of T through the GCC/Clang vector extension. Kernels are instantiated for
// VB = 16 (the baseline SSE2 of x86-64, or NEON elsewhere) and, on x86-64 processors that have
// them, VB = 32 (AVX2 + FMA) and VB = 64 (AVX-512F); the choice is made once per process.
template <class T, int VB>
struct Vec {
  static constexpr std::size_t n = VB / sizeof(T);
  typedef T v __attribute__((vector_size(VB)));
  typedef T vu __attribute__((vector_size(VB), aligned(sizeof(T)), may_alias));
};

// Unaligned load and store of a vector; the kernels declare vu = Vec<T, VB>::vu. (Macros rather
// than functions: no function takes or returns a wide vector by value.)
#define PYSCALE_LD(p) (*reinterpret_cast<const vu*>(p))
#define PYSCALE_ST(p, x) (*reinterpret_cast<vu*>(p) = (x))

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

// Complex lanes of a full block (64 bytes); a block holds 2 * full_lanes real lines (the real
// and the imaginary parts of the lanes).
template <class T>
constexpr std::size_t full_lanes() {
  return 64 / sizeof(T);
}

// Values per step of the odd-radix pass: one or two vectors, never more than a full block.
template <class T, int VB>
constexpr std::size_t odd_chunk() {
  return std::min<std::size_t>(full_lanes<T>(), (VB <= 32 ? 2 : 1) * Vec<T, VB>::n);
}

// ------------------------------------------------------------------------------------------------
// FFT passes on lanes, in place. A row holds M lanes (M contiguous values). A pass works on nblk
// consecutive transforms of length len = p m (block b occupies rows b len .. b len + len - 1);
// butterfly q of a block reads rows q + m j and writes the same rows, output k to row q + m k,
// multiplied by the twiddle w_len^(q k).
// ------------------------------------------------------------------------------------------------

template <class T, int VB>
PYSCALE_KERNEL void pass2(const Stage<T>& st, std::size_t M, T* __restrict xr, T* __restrict xi,
                          std::size_t nblk) {
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
        const v a_r = PYSCALE_LD(ar + t), a_i = PYSCALE_LD(ai + t);
        const v b_r = PYSCALE_LD(ar + step + t), b_i = PYSCALE_LD(ai + step + t);
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

template <class T, int VB>
PYSCALE_KERNEL void pass4(const Stage<T>& st, std::size_t M, T* __restrict xr, T* __restrict xi,
                          std::size_t nblk) {
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
        const v x0r = PYSCALE_LD(ar + t), x0i = PYSCALE_LD(ai + t);
        const v x1r = PYSCALE_LD(ar + step + t), x1i = PYSCALE_LD(ai + step + t);
        const v x2r = PYSCALE_LD(ar + 2 * step + t), x2i = PYSCALE_LD(ai + 2 * step + t);
        const v x3r = PYSCALE_LD(ar + 3 * step + t), x3i = PYSCALE_LD(ai + 3 * step + t);
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

template <class T, int VB>
PYSCALE_KERNEL void pass8(const Stage<T>& st, std::size_t M, T* __restrict xr, T* __restrict xi,
                          std::size_t nblk) {
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
          const v a0r = PYSCALE_LD(ar + j * step + t), a0i = PYSCALE_LD(ai + j * step + t);
          const v a1r = PYSCALE_LD(ar + (j + 4) * step + t),
                  a1i = PYSCALE_LD(ai + (j + 4) * step + t);
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

// Odd radix p (P = p when known at compile time, 0 otherwise). For k = 1..h, h = (p - 1) / 2:
//   T_k = a_0 + sum_j (a_j + a_{p-j}) cos(2 pi j k / p),  U_k = sum_j (a_j - a_{p-j}) sin(2 pi j k
//   / p) y_k = T_k - i U_k,  y_{p-k} = T_k + i U_k.
// The sums and differences of a chunk of C lanes are staged in scratch (4 h C values) before the
// outputs overwrite the inputs.
template <class T, int VB, int P>
PYSCALE_KERNEL void pass_odd(const Stage<T>& st, std::size_t M, T* __restrict xr, T* __restrict xi,
                             std::size_t nblk, T* __restrict scratch) {
  using VT = Vec<T, VB>;
  using v = typename VT::v;
  using vu = typename VT::vu;
  constexpr std::size_t W = VT::n;
  constexpr std::size_t C = odd_chunk<T, VB>();
  constexpr std::size_t NV = C / W;  // vectors per chunk
  const std::size_t p = P ? static_cast<std::size_t>(P) : static_cast<std::size_t>(st.p);
  const std::size_t h = (p - 1) / 2;
  const std::size_t m = st.m, step = m * M, bstride = st.len * M;
  const T* ct = st.ct.data();
  const T* stb = st.st.data();
  for (std::size_t q = 0; q < m; ++q) {
    const T* twr = st.twr.data() + q * (p - 1);
    const T* twi = st.twi.data() + q * (p - 1);
    for (std::size_t b = 0; b < nblk; ++b) {
      for (std::size_t t0 = 0; t0 < M; t0 += C) {
        T* x0r = xr + b * bstride + q * M + t0;
        T* x0i = xi + b * bstride + q * M + t0;
        v a0r[NV], a0i[NV], y0r[NV], y0i[NV];
        for (std::size_t c = 0; c < NV; ++c) {
          a0r[c] = y0r[c] = PYSCALE_LD(x0r + c * W);
          a0i[c] = y0i[c] = PYSCALE_LD(x0i + c * W);
        }
        for (std::size_t j = 1; j <= h; ++j) {
          T* sc = scratch + (j - 1) * 4 * C;
          for (std::size_t c = 0; c < NV; ++c) {
            const v ajr = PYSCALE_LD(x0r + j * step + c * W),
                    aji = PYSCALE_LD(x0i + j * step + c * W);
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
        // KB outputs pairs at a time, so that enough independent sums are in flight.
        constexpr std::size_t KB = NV == 1 ? 2 : 1;
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
          const T* ck = ct + (k - 1) * h;
          const T* sk = stb + (k - 1) * h;
          if (kb == KB) {
            for (std::size_t j = 0; j < h; ++j) {
              const T* sc = scratch + j * 4 * C;
              for (std::size_t e = 0; e < KB; ++e) {
                const T cj = ck[e * h + j], sj = sk[e * h + j];
                for (std::size_t c = 0; c < NV; ++c) {
                  tr[e][c] += PYSCALE_LD(sc + c * W) * cj;
                  ti[e][c] += PYSCALE_LD(sc + C + c * W) * cj;
                  ur[e][c] += PYSCALE_LD(sc + 2 * C + c * W) * sj;
                  ui[e][c] += PYSCALE_LD(sc + 3 * C + c * W) * sj;
                }
              }
            }
          } else {
            for (std::size_t j = 0; j < h; ++j) {
              const T* sc = scratch + j * 4 * C;
              const T cj = ck[j], sj = sk[j];
              for (std::size_t c = 0; c < NV; ++c) {
                tr[0][c] += PYSCALE_LD(sc + c * W) * cj;
                ti[0][c] += PYSCALE_LD(sc + C + c * W) * cj;
                ur[0][c] += PYSCALE_LD(sc + 2 * C + c * W) * sj;
                ui[0][c] += PYSCALE_LD(sc + 3 * C + c * W) * sj;
              }
            }
          }
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
    }
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

// Sub-transforms whose rows take at most this many bytes are finished pass by pass (all blocks of a
// pass share its twiddles); larger ones are split depth first so that the work moves into the
// level-1 cache after one or two passes.
constexpr std::size_t kSmallFftBytes = 24 * 1024;

// Forward DFT, in place, of M lanes held in (xr, xi) as [n][M]; the result is in digit-reversed
// row order (plan.row_of). M must be a multiple of odd_chunk.
template <class T, int VB>
PYSCALE_KERNEL void fft_direct(const FftPlan<T>& plan, std::size_t M, T* xr, T* xi, T* scratch) {
  const std::size_t nst = plan.stages.size();
  if (nst == 0) return;
  // Passes 0 .. D-1 run on one transform at a time, depth first; passes D .. nst-1 run on every
  // sub-transform of length len_D ("leaf") before the next leaf is started.
  std::size_t D = 0;
  while (D + 1 < nst && plan.stages[D].len * M * 2 * sizeof(T) > kSmallFftBytes) ++D;
  const std::size_t leaf = plan.stages[D].len;
  const std::size_t nleaf = plan.n / leaf;
  for (std::size_t l = 0; l < nleaf; ++l) {
    T* br = xr + l * leaf * M;
    T* bi = xi + l * leaf * M;
    for (std::size_t i = 0; i < D; ++i) {
      const Stage<T>& st = plan.stages[i];
      if (l % (st.len / leaf) == 0) run_pass<T, VB>(st, M, br, bi, 1, scratch);
    }
    for (std::size_t i = D; i < nst; ++i) {
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
template <class T, int VB>
PYSCALE_KERNEL void fft_lanes_impl(const FftPlan<T>& plan, std::size_t M, T* xr, T* xi, T* yr,
                                   T* yi, T* scratch) {
  if (plan.inner)
    fft_bluestein<T, VB>(plan, M, xr, xi, yr, yi, scratch);
  else
    fft_direct<T, VB>(plan, M, xr, xi, scratch);
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
  build_fft_plan(*inner, L, false);
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
  build_fft_plan(dplan, L, false);
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

// ------------------------------------------------------------------------------------------------
// Blocks of lines
// ------------------------------------------------------------------------------------------------

template <class T>
struct Workspace {
  std::vector<T> mem;
  T *b0r = nullptr, *b0i = nullptr, *b1r = nullptr, *b1i = nullptr, *scratch = nullptr;
  void reserve(std::size_t nmax, std::size_t half_max) {
    // The four buffers start 1, 3 and 5 cache lines away from multiples of their (often
    // power-of-two) size, so that rows of different buffers do not compete for cache sets.
    const std::size_t line = 64 / sizeof(T);
    const std::size_t buf = (nmax * full_lanes<T>() + line - 1) / line * line;
    const std::size_t scr = 4 * std::max<std::size_t>(half_max, 1) * 2 * full_lanes<T>();
    mem.assign(4 * buf + 9 * line + scr + line, T(0));
    T* base = mem.data();
    while (reinterpret_cast<std::uintptr_t>(base) % 64 != 0) ++base;
    b0r = base;
    b0i = b0r + buf + line;
    b1r = b0i + buf + 2 * line;
    b1i = b1r + buf + 2 * line;
    scratch = b1i + buf + 4 * line;
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
      for (std::size_t r = 0; r < W; ++r) t[r] = PYSCALE_LD(r0 + r * ld + p0);
      transpose_tile<T, VB>(t);
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

// The reverse: line l position p of the row-major block receives buf[map(p) * M + l], l < cnt.
template <class T, int VB>
PYSCALE_KERNEL void lanes_to_rows(const T* buf, std::size_t M, std::size_t n,
                                  const std::size_t* map, T* rows, std::size_t ld,
                                  std::size_t cnt) {
  using VT = Vec<T, VB>;
  using v = typename VT::v;
  using vu = typename VT::vu;
  constexpr std::size_t W = VT::n;
  std::size_t g = 0;
  for (; g + W <= cnt; g += W) {
    T* r0 = rows + g * ld;
    const T* b = buf + g;
    std::size_t p0 = 0;
    for (; p0 + W <= n; p0 += W) {
      v t[W];
      for (std::size_t c = 0; c < W; ++c) t[c] = PYSCALE_LD(b + (map ? map[p0 + c] : p0 + c) * M);
      transpose_tile<T, VB>(t);
      for (std::size_t r = 0; r < W; ++r) PYSCALE_ST(r0 + r * ld + p0, t[r]);
    }
    for (; p0 < n; ++p0) {
      const T* s = b + (map ? map[p0] : p0) * M;
      for (std::size_t r = 0; r < W; ++r) r0[r * ld + p0] = s[r];
    }
  }
  for (; g < cnt; ++g) {
    T* row = rows + g * ld;
    const T* b = buf + g;
    for (std::size_t p = 0; p < n; ++p) row[p] = b[(map ? map[p] : p) * M];
  }
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

// Lanes used for a block of nv <= 2 * full_lanes real lines: a multiple of the chunk width.
template <class T, int VB>
inline std::size_t lanes_for(std::size_t nv) {
  constexpr std::size_t C = odd_chunk<T, VB>();
  const std::size_t half = (nv + 1) / 2;
  return std::min(full_lanes<T>(), (half + C - 1) / C * C);
}

template <class T>
using FftFn = void (*)(const FftPlan<T>&, std::size_t, T*, T*, T*, T*, T*);

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
  // Gather in Makhoul order.
  if (ROWS) {
    rows_to_lanes<T, VB>(s0, ld, na, M, n, plan.iperm.data(), ws.b0r, M);
    rows_to_lanes<T, VB>(s0 + M * ld, ld, nb, M, n, plan.iperm.data(), ws.b0i, M);
  } else {
    const std::size_t* perm = plan.perm.data();
    for (std::size_t j = 0; j < n; ++j) {
      const T* row = s0 + perm[j] * ld;
      copy_lanes<T, VB>(row, na, ws.b0r + j * M, M);
      copy_lanes<T, VB>(row + M, nb, ws.b0i + j * M, M);
    }
  }
  fft(plan.fft, M, ws.b0r, ws.b0i, ws.b1r, ws.b1i, ws.scratch);
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
  for (std::size_t k = 0; k < n; ++k) {
    const std::size_t kk = k ? n - k : 0;
    const T c = fc[k], s = fs[k];
    const T* pr = zr + row_of[k] * M;
    const T* pi = zi + row_of[k] * M;
    const T* qr = zr + row_of[kk] * M;
    const T* qi = zi + row_of[kk] * M;
    T* oa = ya + k * ys;
    T* ob = yb + k * ys;
    for (std::size_t l = 0; l < M; l += W) {
      const v zpr = PYSCALE_LD(pr + l), zpi = PYSCALE_LD(pi + l);
      const v zqr = PYSCALE_LD(qr + l), zqi = PYSCALE_LD(qi + l);
      PYSCALE_ST(oa + l, c * (zpr + zqr) + s * (zpi - zqi));
      PYSCALE_ST(ob + l, c * (zpi + zqi) + s * (zqr - zpr));
    }
  }
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

// Inverse (orthonormal DCT-III) of nv lines starting at line l0, from src to dst (may be equal).
template <bool ROWS, class T, int VB>
PYSCALE_KERNEL void dct3_block(const DctPlan<T>& plan, const T* src, T* dst, std::size_t ld,
                               std::size_t l0, std::size_t nv, Workspace<T>& ws, FftFn<T> fft) {
  using VT = Vec<T, VB>;
  using v = typename VT::v;
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
  // Pre-twiddle into the FFT input; real and imaginary parts are swapped so that the forward
  // FFT computes the backward one.
  T* xr = ws.b0r;
  T* xi = ws.b0i;
  {
    const T g0 = plan.ic[0];
    for (std::size_t l = 0; l < M; l += W) {
      PYSCALE_ST(xi + l, g0 * PYSCALE_LD(ca + l));
      PYSCALE_ST(xr + l, g0 * PYSCALE_LD(cb + l));
    }
  }
  const T* ic = plan.ic.data();
  const T* is = plan.is.data();
  for (std::size_t k = 1; k < n; ++k) {
    const T gc = ic[k], gs = is[k];
    const T* ak = ca + k * cs;
    const T* an = ca + (n - k) * cs;
    const T* bk = cb + k * cs;
    const T* bn = cb + (n - k) * cs;
    T* outr = xr + k * M;
    T* outi = xi + k * M;
    for (std::size_t l = 0; l < M; l += W) {
      const v a_k = PYSCALE_LD(ak + l), a_n = PYSCALE_LD(an + l);
      const v b_k = PYSCALE_LD(bk + l), b_n = PYSCALE_LD(bn + l);
      const v var = a_k * gc + a_n * gs;
      const v vai = a_k * gs - a_n * gc;
      const v vbr = b_k * gc + b_n * gs;
      const v vbi = b_k * gs - b_n * gc;
      PYSCALE_ST(outi + l, var - vbi);  // real part of the combined spectrum
      PYSCALE_ST(outr + l, vai + vbr);  // imaginary part
    }
  }
  fft(plan.fft, M, ws.b0r, ws.b0i, ws.b1r, ws.b1i, ws.scratch);
  const T* va = ws.b0i;  // real and imaginary parts swapped back
  const T* vb = ws.b0r;
  const std::size_t* src_row = plan.out_row.data();
  if (ROWS) {
    lanes_to_rows<T, VB>(va, M, n, src_row, d0, ld, na);
    lanes_to_rows<T, VB>(vb, M, n, src_row, d0 + M * ld, ld, nb);
  } else {
    for (std::size_t i = 0; i < n; ++i) {
      T* row = d0 + i * ld;
      const T* pa = va + src_row[i] * M;
      const T* pb = vb + src_row[i] * M;
      if (nv == 2 * M) {
        for (std::size_t l = 0; l < M; l += W) {
          PYSCALE_ST(row + l, PYSCALE_LD(pa + l));
          PYSCALE_ST(row + M + l, PYSCALE_LD(pb + l));
        }
      } else {
        for (std::size_t l = 0; l < na; ++l) row[l] = pa[l];
        for (std::size_t l = 0; l < nb; ++l) row[M + l] = pb[l];
      }
    }
  }
}

// One transform of a block of nv lines starting at line l0 (rows or columns of a row-major image
// with row stride ld), or a copy when the length is 1 (the orthonormal DCT of length 1 is the
// identity).
template <class T, int VB>
PYSCALE_KERNEL void block_impl(const DctPlan<T>& plan, const T* src, T* dst, std::size_t ld,
                               std::size_t l0, std::size_t nv, bool rows, bool inverse,
                               Workspace<T>& ws, FftFn<T> fft) {
  if (plan.n == 1) {
    if (src == dst) return;
    for (std::size_t l = l0; l < l0 + nv; ++l) dst[rows ? l * ld : l] = src[rows ? l * ld : l];
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

// ------------------------------------------------------------------------------------------------
// Instruction-set variants, chosen once per process
// ------------------------------------------------------------------------------------------------

template <class T>
using BlockFn = void (*)(const DctPlan<T>&, const T*, T*, std::size_t, std::size_t, std::size_t,
                         bool, bool, Workspace<T>&);

template <class T>
void fft_base(const FftPlan<T>& plan, std::size_t M, T* xr, T* xi, T* yr, T* yi, T* scratch) {
  fft_lanes_impl<T, 16>(plan, M, xr, xi, yr, yi, scratch);
}
template <class T>
void block_base(const DctPlan<T>& plan, const T* src, T* dst, std::size_t ld, std::size_t l0,
                std::size_t nv, bool rows, bool inverse, Workspace<T>& ws) {
  block_impl<T, 16>(plan, src, dst, ld, l0, nv, rows, inverse, ws, &fft_base<T>);
}

#ifdef PYSCALE_X86_DISPATCH
template <class T>
PYSCALE_AVX2 void fft_avx2(const FftPlan<T>& plan, std::size_t M, T* xr, T* xi, T* yr, T* yi,
                           T* scratch) {
  fft_lanes_impl<T, 32>(plan, M, xr, xi, yr, yi, scratch);
}
template <class T>
PYSCALE_AVX512 void fft_avx512(const FftPlan<T>& plan, std::size_t M, T* xr, T* xi, T* yr, T* yi,
                               T* scratch) {
  fft_lanes_impl<T, 64>(plan, M, xr, xi, yr, yi, scratch);
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

// ------------------------------------------------------------------------------------------------
// Images
// ------------------------------------------------------------------------------------------------

template <class T>
inline std::size_t block_lines() {
  return 2 * full_lanes<T>();
}

// The 2-D transform of a stack of images split into two phases of independent work items:
// phase 1 transforms the rows (along x) from src to dst, phase 2 the columns (along y) of dst in
// place. Items are numbered image-major.
template <class T>
struct Image2D {
  std::shared_ptr<const DctPlan<T>> px, py;
  std::size_t ny = 0, nx = 0, batch = 0;
  std::size_t row_blocks = 0, col_blocks = 0;
  BlockFn<T> kernel;

  Image2D(std::size_t batch_, std::size_t ny_, std::size_t nx_) : ny(ny_), nx(nx_), batch(batch_) {
    px = get_dct_plan<T>(nx);
    py = get_dct_plan<T>(ny);
    const std::size_t L = block_lines<T>();
    row_blocks = (ny + L - 1) / L;
    col_blocks = (nx + L - 1) / L;
    kernel = block_kernel<T>();
  }
  std::size_t row_items() const { return batch * row_blocks; }
  std::size_t col_items() const { return batch * col_blocks; }
  void reserve(Workspace<T>& ws) const {
    ws.reserve(std::max(px->fft.work_rows, py->fft.work_rows),
               std::max(px->fft.max_half, py->fft.max_half));
  }
  // Rows of item i: image b, rows [r0, r0 + nv).
  void row_range(std::size_t item, std::size_t& b, std::size_t& r0, std::size_t& nv) const {
    const std::size_t L = block_lines<T>();
    b = item / row_blocks;
    r0 = (item % row_blocks) * L;
    nv = std::min(L, ny - r0);
  }
  void row_item(std::size_t item, const T* src, T* dst, bool inverse, Workspace<T>& ws) const {
    std::size_t b, r0, nv;
    row_range(item, b, r0, nv);
    const std::size_t plane = ny * nx;
    kernel(*px, src + b * plane, dst + b * plane, nx, r0, nv, true, inverse, ws);
  }
  // Columns of item i: image b, columns [c0, c0 + nv).
  void col_range(std::size_t item, std::size_t& b, std::size_t& c0, std::size_t& nv) const {
    const std::size_t L = block_lines<T>();
    b = item / col_blocks;
    c0 = (item % col_blocks) * L;
    nv = std::min(L, nx - c0);
  }
  void col_item(std::size_t item, T* data, bool inverse, Workspace<T>& ws) const {
    if (ny == 1) return;
    std::size_t b, c0, nv;
    col_range(item, b, c0, nv);
    const std::size_t plane = ny * nx;
    kernel(*py, data + b * plane, data + b * plane, nx, c0, nv, false, inverse, ws);
  }
};

// Hands out the items [0, n) of a phase to a team of `team` threads in runs of consecutive
// items, each a quarter of the remaining items' share per thread (guided scheduling).
// Neighbouring items share cache lines at their edges (rows are not aligned to lines), so
// handing them out one at a time would make the threads write to the same lines all the time;
// long runs first and short ones at the end keep that to a few places and still balance the load.
class WorkCounter {
 public:
  template <class F>
  void run(std::size_t n, int team, F&& f) {
    const std::size_t parts = 4 * static_cast<std::size_t>(std::max(team, 1));
    std::size_t i0 = next_.load(std::memory_order_relaxed);
    for (;;) {
      if (i0 >= n) break;
      const std::size_t chunk = std::max<std::size_t>(1, (n - i0) / parts);
      if (!next_.compare_exchange_weak(i0, i0 + chunk, std::memory_order_relaxed)) continue;
      for (std::size_t i = i0; i < i0 + chunk; ++i) f(i);
      i0 = next_.load(std::memory_order_relaxed);
    }
  }

 private:
  std::atomic<std::size_t> next_{0};
};

// Threads worth starting for `items` work items covering `values` array elements: starting a
// thread costs about as much as transforming a few thousand values.
inline int clamp_workers(int workers, std::size_t items, std::size_t values) {
  constexpr std::size_t kValuesPerThread = 16384;
  std::size_t w = workers < 1 ? 1 : static_cast<std::size_t>(workers);
  w = std::min(w, std::max<std::size_t>(items, 1));
  w = std::min(w, std::max<std::size_t>(values / kValuesPerThread, 1));
  return static_cast<int>(w);
}

}  // namespace dct_detail

// Orthonormal 2-D DCT-II (inverse = false) or its inverse, the orthonormal DCT-III (inverse =
// true), over the last two axes of a C-contiguous [batch, ny, nx] array. in and out may be the same
// array. workers: number of threads; the result does not depend on it.
template <class T>
void dct2d(const T* in, T* out, std::size_t batch, std::size_t ny, std::size_t nx, bool inverse,
           int workers) {
  using namespace dct_detail;
  static_assert(std::is_same<T, float>::value || std::is_same<T, double>::value,
                "dct2d needs float or double");
  if (batch == 0 || ny == 0 || nx == 0) return;
  const Image2D<T> img(batch, ny, nx);
  const int nthreads =
      clamp_workers(workers, std::max(img.row_items(), img.col_items()), batch * ny * nx);
  std::vector<Workspace<T>> ws(static_cast<std::size_t>(nthreads));
  for (auto& w : ws) img.reserve(w);
  WorkCounter rows, cols;
  run_team(nthreads, [&](int tid, int team, Barrier& bar) {
    Workspace<T>& w = ws[static_cast<std::size_t>(tid)];
    rows.run(img.row_items(), team, [&](std::size_t i) { img.row_item(i, in, out, inverse, w); });
    bar.wait();
    cols.run(img.col_items(), team, [&](std::size_t i) { img.col_item(i, out, inverse, w); });
  });
}

}  // namespace pyscale

#undef PYSCALE_LD
#undef PYSCALE_ST
#undef PYSCALE_SHUF
