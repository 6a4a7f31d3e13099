// Loops of a team over the row blocks of an image whose sums do not depend on the size of the
// team. Pure C++: no Python types in this header.
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <vector>

#include "team.hpp"

// The vector loops of the solvers are compiled for the x86-64 baseline, AVX2 and AVX-512F, and
// the loader picks the widest one the processor has. Without contraction into FMA (which
// AVX-512F would bring) every version gives the same bits. What they call must be inlined into
// them (PYSCALE_INLINE) to be compiled for their instruction set. Sanitizer builds keep the
// baseline only: the loader runs the resolvers of the clones before a sanitizer runtime starts.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && \
    !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
#define PYSCALE_VECTOR_LOOP \
  __attribute__((target_clones("default", "avx2", "avx512f"), optimize("fp-contract=off")))
#else
#define PYSCALE_VECTOR_LOOP
#endif
// Before a loop whose iterations the caller knows to be independent although they read and
// write one array (a Gauss-Seidel sweep over the nodes of one colour).
#if defined(__clang__)
#define PYSCALE_INDEPENDENT _Pragma("clang loop vectorize(assume_safety)")
#elif defined(__GNUC__)
#define PYSCALE_INDEPENDENT _Pragma("GCC ivdep")
#else
#define PYSCALE_INDEPENDENT
#endif
#if defined(__GNUC__) || defined(__clang__)
#define PYSCALE_INLINE inline __attribute__((always_inline))
#else
#define PYSCALE_INLINE inline
#endif

namespace pyscale {

namespace detail {

constexpr std::size_t kLanes = 8;

// Sum of term(k) over k in [0, n) with kLanes interleaved double accumulators (k % kLanes)
// combined in a fixed order: not limited by the add latency. term may have side effects (the
// solvers fuse vector updates into their sums).
template <class Term>
PYSCALE_INLINE double reduce(std::size_t n, Term&& term) {
  double acc[kLanes] = {};
  std::size_t k = 0;
  for (; k + kLanes <= n; k += kLanes)
    for (std::size_t l = 0; l < kLanes; ++l) acc[l] += term(k + l);
  for (std::size_t l = 0; k < n; ++k, ++l) acc[l] += term(k);
  double s = 0.0;
  for (std::size_t l = 0; l < kLanes; ++l) s += acc[l];
  return s;
}

}  // namespace detail

// An ny x nx image cut into blocks of whole rows, about 4096 values each: the unit of work of a
// team. A sum over the image is the sum of the block sums in block order, so it is the same
// whatever the size of the team.
class RowBlocks {
 public:
  struct Block {
    std::size_t i0, i1;  // rows [i0, i1)
    std::size_t k0, k1;  // values [k0, k1)
    std::size_t size() const { return k1 - k0; }
  };

  RowBlocks(std::size_t ny, std::size_t nx, Team& team)
      : ny_(ny),
        nx_(nx),
        rows_(std::max<std::size_t>(1, 4096 / std::max<std::size_t>(nx, 1))),
        count_((ny + rows_ - 1) / rows_),
        team_(team),
        partial_(kMaxSums * count_) {}

  std::size_t ny() const { return ny_; }
  std::size_t nx() const { return nx_; }
  std::size_t size() const { return ny_ * nx_; }
  Team& team() const { return team_; }

  // f(block) for every block.
  template <class F>
  void each(F&& f) const {
    team_.run(count_, [&](int, std::size_t b0, std::size_t b1) {
      for (std::size_t b = b0; b < b1; ++b) f(block(b));
    });
  }

  // Sum of f(block) over the blocks.
  template <class F>
  double sum(F&& f) {
    team_.run(count_, [&](int, std::size_t b0, std::size_t b1) {
      for (std::size_t b = b0; b < b1; ++b) partial_[b] = f(block(b));
    });
    double s = 0.0;
    for (std::size_t b = 0; b < count_; ++b) s += partial_[b];
    return s;
  }

  // K sums at once: f(block, out) sets the block's contributions out[0], ..., out[K - 1].
  template <std::size_t K, class F>
  std::array<double, K> sums(F&& f) {
    static_assert(K <= kMaxSums, "RowBlocks::sums: too many sums");
    team_.run(count_, [&](int, std::size_t b0, std::size_t b1) {
      for (std::size_t b = b0; b < b1; ++b) f(block(b), partial_.data() + kMaxSums * b);
    });
    std::array<double, K> total{};
    for (std::size_t b = 0; b < count_; ++b)
      for (std::size_t i = 0; i < K; ++i) total[i] += partial_[kMaxSums * b + i];
    return total;
  }

 private:
  static constexpr std::size_t kMaxSums = 8;

  Block block(std::size_t b) const {
    const std::size_t i0 = b * rows_, i1 = std::min(ny_, i0 + rows_);
    return {i0, i1, i0 * nx_, i1 * nx_};
  }

  std::size_t ny_, nx_, rows_, count_;
  Team& team_;
  std::vector<double> partial_;
};

}  // namespace pyscale
