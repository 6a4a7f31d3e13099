// Orthonormal 2-D DCT-II and DCT-III (its inverse) on C-contiguous [batch, ny, nx] arrays.
//
// Method
// ------
// A length-n DCT-II is computed with Makhoul's reordering: v[j] = x[2j] for the first ceil(n/2)
// positions and v[n-1-j] = x[2j+1] for the rest, then V = DFT(v) and y[k] = f_k Re(e^{-i pi k/2n} V[k]).
// Two real lines a, b are transformed together as the complex line a + i b and separated through
// the Hermitian symmetry of their spectra. The DCT-III runs the same steps backwards.
//
// The complex DFT is a mixed-radix self-sorting (Stockham) FFT with radix-4, radix-2 and odd-radix
// passes (the odd pass works for any odd factor, using the symmetry of its cosine and sine tables).
// Every pass works on "lanes": a block of M independent lines stored as [n][M], so the innermost
// loops run over M contiguous values with a common twiddle factor and vectorise. Columns of an
// image are naturally in this layout; rows are transposed into it block by block.
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
  int p = 1;          // radix
  std::size_t m = 1;  // length of the sub-transforms that remain after this pass
  std::size_t s = 1;  // number of sub-transforms already separated (stride in lines)
  // Twiddles w^(q k), w = exp(-2 pi i / (p m)): index q * (p - 1) + k - 1.
  std::vector<T> twr, twi;
  // Odd radix: cos and sin of 2 pi j k / p, index (k - 1) * h + j - 1, h = (p - 1) / 2.
  std::vector<T> ct, st;
};

template <class T>
struct FftPlan {
  std::size_t n = 1;
  std::vector<Stage<T>> stages;
  std::size_t max_half = 0;  // largest (p - 1) / 2 over odd passes
};

inline std::vector<int> factorize(std::size_t n) {
  std::vector<int> f;
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
void build_fft_plan(FftPlan<T>& plan, std::size_t n) {
  plan.n = n;
  plan.stages.clear();
  if (n <= 1) return;
  const std::vector<int> factors = factorize(n);
  std::size_t len = n, s = 1;
  for (int p : factors) {
    Stage<T> st;
    st.p = p;
    st.m = len / static_cast<std::size_t>(p);
    st.s = s;
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
    s *= static_cast<std::size_t>(p);
    plan.stages.push_back(std::move(st));
  }
}

template <class T>
struct DctPlan {
  std::size_t n = 1;
  FftPlan<T> fft;
  std::vector<std::size_t> perm;  // Makhoul order: v[j] = x[perm[j]]
  std::vector<std::size_t> iperm; // its inverse: x[i] = v[iperm[i]]
  std::vector<T> fc, fs;          // forward: f_k / 2 * (cos, sin)(pi k / 2n)
  std::vector<T> ic, is;          // inverse: ic[0] = 1 / sqrt(n); k >= 1: (cos, sin)(pi k / 2n) / sqrt(2n)
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
  plan->fc.resize(n);
  plan->fs.resize(n);
  plan->ic.resize(n);
  plan->is.resize(n);
  const long double nl = static_cast<long double>(n);
  const long double f0 = 1.0L / std::sqrt(nl), f1 = std::sqrt(2.0L / nl), g1 = 1.0L / std::sqrt(2.0L * nl);
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
#else
#define PYSCALE_AVX2
#endif

// A vector of VB bytes of T through the GCC/Clang vector extension. Kernels are instantiated for
// VB = 16 (the baseline SSE2 of x86-64) and, when the processor has AVX2 and FMA, VB = 32; the
// choice is made once per process.
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
  out = __builtin_shuffle(a, b, mask_t{static_cast<I_t>((I % 2 ? N : 0) + I / 2 + (Hi ? N / 2 : 0))...});
#endif
}

// In-register transpose of an N x N tile held as N vectors (log2 N perfect shuffles).
template <class T, int VB>
PYSCALE_KERNEL void transpose_tile(typename Vec<T, VB>::v* r) {
  using v = typename Vec<T, VB>::v;
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
// FFT passes on lanes. A line of the current pass is a row of sM = s * M contiguous values; the
// input of sub-transform q has its p points in rows q + m j, the outputs go to rows p q + k.
// ------------------------------------------------------------------------------------------------

template <class T, int VB>
PYSCALE_KERNEL void pass2(const Stage<T>& st, std::size_t M, const T* __restrict xr, const T* __restrict xi,
                          T* __restrict yr, T* __restrict yi) {
  using VT = Vec<T, VB>;
  using v = typename VT::v;
  using vu = typename VT::vu;
  constexpr std::size_t W = VT::n;
  const std::size_t m = st.m, sM = st.s * M;
  for (std::size_t q = 0; q < m; ++q) {
    const T* ar = xr + q * sM;
    const T* ai = xi + q * sM;
    const T* br = xr + (q + m) * sM;
    const T* bi = xi + (q + m) * sM;
    T* y0r = yr + 2 * q * sM;
    T* y0i = yi + 2 * q * sM;
    T* y1r = y0r + sM;
    T* y1i = y0i + sM;
    if (q == 0) {
      for (std::size_t t = 0; t < sM; t += W) {
        const v a_r = PYSCALE_LD(ar + t), a_i = PYSCALE_LD(ai + t);
        const v b_r = PYSCALE_LD(br + t), b_i = PYSCALE_LD(bi + t);
        PYSCALE_ST(y0r + t, a_r + b_r);
        PYSCALE_ST(y0i + t, a_i + b_i);
        PYSCALE_ST(y1r + t, a_r - b_r);
        PYSCALE_ST(y1i + t, a_i - b_i);
      }
    } else {
      const T wr = st.twr[q], wi = st.twi[q];
      for (std::size_t t = 0; t < sM; t += W) {
        const v a_r = PYSCALE_LD(ar + t), a_i = PYSCALE_LD(ai + t);
        const v b_r = PYSCALE_LD(br + t), b_i = PYSCALE_LD(bi + t);
        PYSCALE_ST(y0r + t, a_r + b_r);
        PYSCALE_ST(y0i + t, a_i + b_i);
        const v dr = a_r - b_r, di = a_i - b_i;
        PYSCALE_ST(y1r + t, dr * wr - di * wi);
        PYSCALE_ST(y1i + t, dr * wi + di * wr);
      }
    }
  }
}

template <class T, int VB>
PYSCALE_KERNEL void pass4(const Stage<T>& st, std::size_t M, const T* __restrict xr, const T* __restrict xi,
                          T* __restrict yr, T* __restrict yi) {
  using VT = Vec<T, VB>;
  using v = typename VT::v;
  using vu = typename VT::vu;
  constexpr std::size_t W = VT::n;
  const std::size_t m = st.m, sM = st.s * M, step = m * sM;
  for (std::size_t q = 0; q < m; ++q) {
    const T* a0r = xr + q * sM;
    const T* a0i = xi + q * sM;
    T* y0r = yr + 4 * q * sM;
    T* y0i = yi + 4 * q * sM;
    const bool tw = q != 0;
    const T w1r = tw ? st.twr[3 * q] : T(1), w1i = tw ? st.twi[3 * q] : T(0);
    const T w2r = tw ? st.twr[3 * q + 1] : T(1), w2i = tw ? st.twi[3 * q + 1] : T(0);
    const T w3r = tw ? st.twr[3 * q + 2] : T(1), w3i = tw ? st.twi[3 * q + 2] : T(0);
    for (std::size_t t = 0; t < sM; t += W) {
      const v x0r = PYSCALE_LD(a0r + t), x0i = PYSCALE_LD(a0i + t);
      const v x1r = PYSCALE_LD(a0r + step + t), x1i = PYSCALE_LD(a0i + step + t);
      const v x2r = PYSCALE_LD(a0r + 2 * step + t), x2i = PYSCALE_LD(a0i + 2 * step + t);
      const v x3r = PYSCALE_LD(a0r + 3 * step + t), x3i = PYSCALE_LD(a0i + 3 * step + t);
      const v t0r = x0r + x2r, t0i = x0i + x2i;
      const v t1r = x0r - x2r, t1i = x0i - x2i;
      const v t2r = x1r + x3r, t2i = x1i + x3i;
      const v t3r = x1r - x3r, t3i = x1i - x3i;
      PYSCALE_ST(y0r + t, t0r + t2r);
      PYSCALE_ST(y0i + t, t0i + t2i);
      const v b2r = t0r - t2r, b2i = t0i - t2i;
      const v b1r = t1r + t3i, b1i = t1i - t3r;
      const v b3r = t1r - t3i, b3i = t1i + t3r;
      if (tw) {
        PYSCALE_ST(y0r + sM + t, b1r * w1r - b1i * w1i);
        PYSCALE_ST(y0i + sM + t, b1r * w1i + b1i * w1r);
        PYSCALE_ST(y0r + 2 * sM + t, b2r * w2r - b2i * w2i);
        PYSCALE_ST(y0i + 2 * sM + t, b2r * w2i + b2i * w2r);
        PYSCALE_ST(y0r + 3 * sM + t, b3r * w3r - b3i * w3i);
        PYSCALE_ST(y0i + 3 * sM + t, b3r * w3i + b3i * w3r);
      } else {
        PYSCALE_ST(y0r + sM + t, b1r);
        PYSCALE_ST(y0i + sM + t, b1i);
        PYSCALE_ST(y0r + 2 * sM + t, b2r);
        PYSCALE_ST(y0i + 2 * sM + t, b2i);
        PYSCALE_ST(y0r + 3 * sM + t, b3r);
        PYSCALE_ST(y0i + 3 * sM + t, b3i);
      }
    }
  }
}

// Odd radix p (P = p when known at compile time, 0 otherwise). For k = 1..h, h = (p - 1) / 2:
//   T_k = a_0 + sum_j (a_j + a_{p-j}) cos(2 pi j k / p),  U_k = sum_j (a_j - a_{p-j}) sin(2 pi j k / p)
//   y_k = T_k - i U_k,  y_{p-k} = T_k + i U_k.
// The sums and differences of a chunk of C values are staged in scratch (4 h C values).
template <class T, int VB, int P>
PYSCALE_KERNEL void pass_odd(const Stage<T>& st, std::size_t M, const T* __restrict xr, const T* __restrict xi,
                             T* __restrict yr, T* __restrict yi, T* __restrict scratch) {
  using VT = Vec<T, VB>;
  using v = typename VT::v;
  using vu = typename VT::vu;
  constexpr std::size_t W = VT::n;
  constexpr std::size_t C = odd_chunk<T, VB>();
  constexpr std::size_t NV = C / W;  // vectors per chunk
  const std::size_t p = P ? static_cast<std::size_t>(P) : static_cast<std::size_t>(st.p);
  const std::size_t h = (p - 1) / 2;
  const std::size_t m = st.m, sM = st.s * M, step = m * sM;
  const T* ct = st.ct.data();
  const T* stb = st.st.data();
  for (std::size_t q = 0; q < m; ++q) {
    const T* twr = st.twr.data() + q * (p - 1);
    const T* twi = st.twi.data() + q * (p - 1);
    for (std::size_t t0 = 0; t0 < sM; t0 += C) {
      const T* x0r = xr + q * sM + t0;
      const T* x0i = xi + q * sM + t0;
      v a0r[NV], a0i[NV], y0r[NV], y0i[NV];
      for (std::size_t c = 0; c < NV; ++c) {
        a0r[c] = y0r[c] = PYSCALE_LD(x0r + c * W);
        a0i[c] = y0i[c] = PYSCALE_LD(x0i + c * W);
      }
      for (std::size_t j = 1; j <= h; ++j) {
        T* sc = scratch + (j - 1) * 4 * C;
        for (std::size_t c = 0; c < NV; ++c) {
          const v ajr = PYSCALE_LD(x0r + j * step + c * W), aji = PYSCALE_LD(x0i + j * step + c * W);
          const v bjr = PYSCALE_LD(x0r + (p - j) * step + c * W), bji = PYSCALE_LD(x0i + (p - j) * step + c * W);
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
        PYSCALE_ST(yr + p * q * sM + t0 + c * W, y0r[c]);
        PYSCALE_ST(yi + p * q * sM + t0 + c * W, y0i[c]);
      }
      for (std::size_t k = 1; k <= h; ++k) {
        v tr[NV], ti[NV], ur[NV], ui[NV];
        for (std::size_t c = 0; c < NV; ++c) {
          tr[c] = a0r[c];
          ti[c] = a0i[c];
          ur[c] = v{};
          ui[c] = v{};
        }
        const T* ck = ct + (k - 1) * h;
        const T* sk = stb + (k - 1) * h;
        for (std::size_t j = 0; j < h; ++j) {
          const T cj = ck[j], sj = sk[j];
          const T* sc = scratch + j * 4 * C;
          for (std::size_t c = 0; c < NV; ++c) {
            tr[c] += PYSCALE_LD(sc + c * W) * cj;
            ti[c] += PYSCALE_LD(sc + C + c * W) * cj;
            ur[c] += PYSCALE_LD(sc + 2 * C + c * W) * sj;
            ui[c] += PYSCALE_LD(sc + 3 * C + c * W) * sj;
          }
        }
        T* okr = yr + (p * q + k) * sM + t0;
        T* oki = yi + (p * q + k) * sM + t0;
        T* onr = yr + (p * q + p - k) * sM + t0;
        T* oni = yi + (p * q + p - k) * sM + t0;
        for (std::size_t c = 0; c < NV; ++c) {
          const v bkr = tr[c] + ui[c], bki = ti[c] - ur[c];
          const v bnr = tr[c] - ui[c], bni = ti[c] + ur[c];
          if (q == 0) {
            PYSCALE_ST(okr + c * W, bkr);
            PYSCALE_ST(oki + c * W, bki);
            PYSCALE_ST(onr + c * W, bnr);
            PYSCALE_ST(oni + c * W, bni);
          } else {
            const T wkr = twr[k - 1], wki = twi[k - 1];
            const T wnr = twr[p - k - 1], wni = twi[p - k - 1];
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

// Forward DFT of M lanes held in (b0r, b0i) as [n][M]; (b1r, b1i) is a second buffer of the same
// size. Returns 0 or 1: the buffer that holds the result. M must be a multiple of odd_chunk.
template <class T, int VB>
PYSCALE_KERNEL int fft_lanes_impl(const FftPlan<T>& plan, std::size_t M, T* b0r, T* b0i, T* b1r, T* b1i,
                                  T* scratch) {
  T *xr = b0r, *xi = b0i, *yr = b1r, *yi = b1i;
  int where = 0;
  for (const Stage<T>& st : plan.stages) {
    switch (st.p) {
      case 2: pass2<T, VB>(st, M, xr, xi, yr, yi); break;
      case 4: pass4<T, VB>(st, M, xr, xi, yr, yi); break;
      case 3: pass_odd<T, VB, 3>(st, M, xr, xi, yr, yi, scratch); break;
      case 5: pass_odd<T, VB, 5>(st, M, xr, xi, yr, yi, scratch); break;
      case 7: pass_odd<T, VB, 7>(st, M, xr, xi, yr, yi, scratch); break;
      case 11: pass_odd<T, VB, 11>(st, M, xr, xi, yr, yi, scratch); break;
      case 13: pass_odd<T, VB, 13>(st, M, xr, xi, yr, yi, scratch); break;
      default: pass_odd<T, VB, 0>(st, M, xr, xi, yr, yi, scratch); break;
    }
    std::swap(xr, yr);
    std::swap(xi, yi);
    where ^= 1;
  }
  return where;
}

// ------------------------------------------------------------------------------------------------
// Blocks of lines
// ------------------------------------------------------------------------------------------------

template <class T>
struct Workspace {
  std::vector<T> mem;
  T *b0r = nullptr, *b0i = nullptr, *b1r = nullptr, *b1i = nullptr, *scratch = nullptr;
  void reserve(std::size_t nmax, std::size_t half_max) {
    const std::size_t align = 64 / sizeof(T);
    const std::size_t buf = (nmax * full_lanes<T>() + align - 1) / align * align;
    const std::size_t scr = 4 * std::max<std::size_t>(half_max, 1) * 2 * full_lanes<T>();
    mem.assign(4 * buf + scr + align, T(0));
    T* base = mem.data();
    while (reinterpret_cast<std::uintptr_t>(base) % 64 != 0) ++base;
    b0r = base;
    b0i = b0r + buf;
    b1r = b0i + buf;
    b1i = b1r + buf;
    scratch = b1i + buf;
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
PYSCALE_KERNEL void lanes_to_rows(const T* buf, std::size_t M, std::size_t n, const std::size_t* map, T* rows,
                                  std::size_t ld, std::size_t cnt) {
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
using FftFn = int (*)(const FftPlan<T>&, std::size_t, T*, T*, T*, T*, T*);

// Forward DCT-II of nv lines (nv <= 2 full_lanes) starting at line l0, read from src, written to
// dst (which may equal src). ld is the row stride of the image.
template <bool ROWS, class T, int VB>
PYSCALE_KERNEL void dct2_block(const DctPlan<T>& plan, const T* src, T* dst, std::size_t ld, std::size_t l0,
                               std::size_t nv, Workspace<T>& ws, FftFn<T> fft) {
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
  const int where = fft(plan.fft, M, ws.b0r, ws.b0i, ws.b1r, ws.b1i, ws.scratch);
  const T* zr = where ? ws.b1r : ws.b0r;
  const T* zi = where ? ws.b1i : ws.b0i;
  // Separate the two real spectra and apply the output twiddle, into the free buffer or, for
  // full column blocks, straight into the image.
  const bool direct = !ROWS && nv == 2 * M;
  T* ya = direct ? d0 : (where ? ws.b0r : ws.b1r);
  T* yb = direct ? d0 + M : (where ? ws.b0i : ws.b1i);
  const std::size_t ys = direct ? ld : M;
  const T* fc = plan.fc.data();
  const T* fs = plan.fs.data();
  for (std::size_t k = 0; k < n; ++k) {
    const std::size_t kk = k ? n - k : 0;
    const T c = fc[k], s = fs[k];
    const T* pr = zr + k * M;
    const T* pi = zi + k * M;
    const T* qr = zr + kk * M;
    const T* qi = zi + kk * M;
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
PYSCALE_KERNEL void dct3_block(const DctPlan<T>& plan, const T* src, T* dst, std::size_t ld, std::size_t l0,
                               std::size_t nv, Workspace<T>& ws, FftFn<T> fft) {
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
  const int where = fft(plan.fft, M, ws.b0r, ws.b0i, ws.b1r, ws.b1i, ws.scratch);
  const T* va = where ? ws.b1i : ws.b0i;  // swapped back
  const T* vb = where ? ws.b1r : ws.b0r;
  if (ROWS) {
    lanes_to_rows<T, VB>(va, M, n, plan.iperm.data(), d0, ld, na);
    lanes_to_rows<T, VB>(vb, M, n, plan.iperm.data(), d0 + M * ld, ld, nb);
  } else {
    const std::size_t* perm = plan.perm.data();
    for (std::size_t j = 0; j < n; ++j) {
      T* row = d0 + perm[j] * ld;
      const T* pa = va + j * M;
      const T* pb = vb + j * M;
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
PYSCALE_KERNEL void block_impl(const DctPlan<T>& plan, const T* src, T* dst, std::size_t ld, std::size_t l0,
                               std::size_t nv, bool rows, bool inverse, Workspace<T>& ws, FftFn<T> fft) {
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
using BlockFn = void (*)(const DctPlan<T>&, const T*, T*, std::size_t, std::size_t, std::size_t, bool, bool,
                         Workspace<T>&);

template <class T>
int fft_base(const FftPlan<T>& plan, std::size_t M, T* b0r, T* b0i, T* b1r, T* b1i, T* scratch) {
  return fft_lanes_impl<T, 16>(plan, M, b0r, b0i, b1r, b1i, scratch);
}
template <class T>
void block_base(const DctPlan<T>& plan, const T* src, T* dst, std::size_t ld, std::size_t l0, std::size_t nv,
                bool rows, bool inverse, Workspace<T>& ws) {
  block_impl<T, 16>(plan, src, dst, ld, l0, nv, rows, inverse, ws, &fft_base<T>);
}

#ifdef PYSCALE_X86_DISPATCH
template <class T>
PYSCALE_AVX2 int fft_avx2(const FftPlan<T>& plan, std::size_t M, T* b0r, T* b0i, T* b1r,
                                                 T* b1i, T* scratch) {
  return fft_lanes_impl<T, 32>(plan, M, b0r, b0i, b1r, b1i, scratch);
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
#endif
    const char* env = std::getenv("PYSCALE_SIMD");
    if (env && std::strcmp(env, "base") == 0) lv = 0;
    return lv;
  }();
  return level;
}

template <class T>
BlockFn<T> block_kernel() {
#ifdef PYSCALE_X86_DISPATCH
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
    ws.reserve(std::max(nx, ny), std::max(px->fft.max_half, py->fft.max_half));
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
  void col_item(std::size_t item, T* data, bool inverse, Workspace<T>& ws) const {
    if (ny == 1) return;
    const std::size_t L = block_lines<T>();
    const std::size_t b = item / col_blocks;
    const std::size_t c0 = (item % col_blocks) * L;
    const std::size_t nv = std::min(L, nx - c0);
    const std::size_t plane = ny * nx;
    kernel(*py, data + b * plane, data + b * plane, nx, c0, nv, false, inverse, ws);
  }
};

// Hands out the items [0, n) of a phase one at a time.
class WorkCounter {
 public:
  template <class F>
  void run(std::size_t n, F&& f) {
    for (;;) {
      const std::size_t i = next_.fetch_add(1, std::memory_order_relaxed);
      if (i >= n) break;
      f(i);
    }
  }

 private:
  std::atomic<std::size_t> next_{0};
};

inline int clamp_workers(int workers, std::size_t items) {
  if (workers < 1) workers = 1;
  if (items < static_cast<std::size_t>(workers)) workers = static_cast<int>(std::max<std::size_t>(items, 1));
  return workers;
}

}  // namespace dct_detail

// Orthonormal 2-D DCT-II (inverse = false) or its inverse, the orthonormal DCT-III (inverse = true),
// over the last two axes of a C-contiguous [batch, ny, nx] array. in and out may be the same array.
// workers: number of threads; the result does not depend on it.
template <class T>
void dct2d(const T* in, T* out, std::size_t batch, std::size_t ny, std::size_t nx, bool inverse, int workers) {
  using namespace dct_detail;
  static_assert(std::is_same<T, float>::value || std::is_same<T, double>::value, "dct2d needs float or double");
  if (batch == 0 || ny == 0 || nx == 0) return;
  const Image2D<T> img(batch, ny, nx);
  const int nthreads = clamp_workers(workers, std::max(img.row_items(), img.col_items()));
  std::vector<Workspace<T>> ws(static_cast<std::size_t>(nthreads));
  for (auto& w : ws) img.reserve(w);
  WorkCounter rows, cols;
  run_team(nthreads, [&](int tid, int, Barrier& bar) {
    Workspace<T>& w = ws[static_cast<std::size_t>(tid)];
    rows.run(img.row_items(), [&](std::size_t i) { img.row_item(i, in, out, inverse, w); });
    bar.wait();
    cols.run(img.col_items(), [&](std::size_t i) { img.col_item(i, out, inverse, w); });
  });
}

}  // namespace pyscale

#undef PYSCALE_LD
#undef PYSCALE_ST
