// Counter-based Gaussian noise shared by the compiled kernels.
//
// Every normal deviate is a pure function of (key, index), key = stream_key(seed, stream), so
// noise can be generated in any order, by any number of threads, and reproduced exactly by the
// numpy and Numba implementations of pyscale.noise. Uniform bits come from hashing a counter:
//
//   GOLDEN = 0x9E3779B97F4A7C15, all arithmetic on uint64 with wraparound
//   mix(z)          = SplitMix64 finaliser
//   key(seed, s)    = mix(mix(seed) + s * GOLDEN)
//   bits(key, i)    = mix(key + (i + 1) * GOLDEN)
//
// Normals come from a 256-layer ziggurat (ZigguratNormal, the generator of pyscale.noise):
//   element n starts from w0 = bits(key, n);
//   a word w gives the layer i = w & 255, the sign (w >> 8) & 1 and x = (w >> 11) 2^-53 X[i];
//   x < X[i + 1] is accepted at once. Otherwise layer 0 samples the tail beyond X[1] and the
//   other layers accept x when a further uniform height under the layer lies below
//   exp(-x^2 / 2); extra words are w_j = mix(w0 + j GOLDEN), j = 1, 2, ... The layer tables
//   X and F (257 values each) are supplied by the caller so that every implementation uses the
//   same numbers.
//
// Everything is evaluated in double, in the order written above.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>

#if defined(__GNUC__) || defined(__clang__)
#define PYSCALE_LIKELY(c) __builtin_expect(!!(c), 1)
#define PYSCALE_COLD __attribute__((noinline, cold))
#else
#define PYSCALE_LIKELY(c) (c)
#define PYSCALE_COLD
#endif

namespace pyscale {
namespace noise {

constexpr std::uint64_t kGolden = 0x9E3779B97F4A7C15ULL;
constexpr double kTwoPow53Inv = 0x1.0p-53;

inline std::uint64_t mix(std::uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

inline std::uint64_t stream_key(std::uint64_t seed, std::uint64_t stream) {
  return mix(mix(seed) + stream * kGolden);
}

inline std::uint64_t bits(std::uint64_t key, std::uint64_t i) {
  return mix(key + (i + 1) * kGolden);
}

// (w >> 11) 2^-53 shifted into (0, 1].
inline double open01(std::uint64_t w) {
  return (static_cast<double>(w >> 11) + 1.0) * kTwoPow53Inv;
}

struct ZigguratNormal {
  const double* X;  // layer edges, 257 values, X[1] = start of the tail, X[256] = 0
  const double* F;  // exp(-X^2 / 2)

  double operator()(std::uint64_t key, std::uint64_t n) const {
    const std::uint64_t w = bits(key, n);
    const std::size_t i = static_cast<std::size_t>(w & 255);
    const double x = static_cast<double>(w >> 11) * kTwoPow53Inv * X[i];
    if (PYSCALE_LIKELY(x < X[i + 1])) return with_sign(x, w);
    return rejected(w);
  }

  // x >= 0 with its sign flipped when bit 8 of w is set (no data-dependent branch).
  static double with_sign(double x, std::uint64_t w) {
    std::uint64_t u;
    std::memcpy(&u, &x, sizeof u);
    u ^= ((w >> 8) & 1) << 63;
    std::memcpy(&x, &u, sizeof u);
    return x;
  }

  // Continues a draw whose first word was not accepted at once.
  PYSCALE_COLD double rejected(std::uint64_t w0) const {
    std::uint64_t w = w0;
    std::uint64_t j = 0;
    for (;;) {
      const std::size_t i = static_cast<std::size_t>(w & 255);
      const bool neg = ((w >> 8) & 1) != 0;
      double x = static_cast<double>(w >> 11) * kTwoPow53Inv * X[i];
      if (x < X[i + 1]) return neg ? -x : x;
      if (i == 0) {
        // Tail beyond r = X[1]: x = r + a with a ~ Exp(r), accepted with probability exp(-a^2/2).
        double a;
        for (;;) {
          ++j;
          a = -std::log(open01(mix(w0 + j * kGolden))) / X[1];
          ++j;
          const double b = -std::log(open01(mix(w0 + j * kGolden)));
          if (2.0 * b > a * a) break;
        }
        x = X[1] + a;
        return neg ? -x : x;
      }
      ++j;
      const double u = static_cast<double>(mix(w0 + j * kGolden) >> 11) * kTwoPow53Inv;
      const double diff = F[i + 1] - F[i];
      const double prod = u * diff;
      const double h = F[i] + prod;
      if (h < std::exp(-0.5 * x * x)) return neg ? -x : x;
      ++j;
      w = mix(w0 + j * kGolden);
    }
  }

  template <class T>
  void fill(T* out, std::size_t count, std::uint64_t key, std::uint64_t start) const {
    for (std::size_t i = 0; i < count; ++i) out[i] = static_cast<T>((*this)(key, start + i));
  }
};

}  // namespace noise
}  // namespace pyscale
