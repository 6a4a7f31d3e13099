// The smallest and largest value and the sum of each image of a batch, in one pass: what the
// checks of an osmosis call read from its image and its guidance. Pure C++: no Python types in
// this header.
#pragma once

#include <cstddef>

#include "row_blocks.hpp"

namespace pyscale {

// out[3 k], out[3 k + 1], out[3 k + 2]: the smallest value, the largest value and the sum of
// image k of a [batch, n] array (n > 0). The sum is taken in double with detail::kLanes
// accumulators. A NaN makes the sum NaN, and the smallest and largest values pass over it, so a
// finite sum means that every value is finite.
template <class T>
PYSCALE_VECTOR_LOOP void image_stats(const T* a, std::size_t batch, std::size_t n, double* out) {
  using detail::kLanes;
  for (std::size_t k = 0; k < batch; ++k) {
    const T* x = a + k * n;
    T lo[kLanes], hi[kLanes];
    double sum[kLanes] = {};
    for (std::size_t l = 0; l < kLanes; ++l) lo[l] = hi[l] = x[0];
    std::size_t j = 0;
    for (; j + kLanes <= n; j += kLanes)
      for (std::size_t l = 0; l < kLanes; ++l) {
        const T xj = x[j + l];
        lo[l] = xj < lo[l] ? xj : lo[l];
        hi[l] = xj > hi[l] ? xj : hi[l];
        sum[l] += static_cast<double>(xj);
      }
    for (std::size_t l = 0; j < n; ++j, ++l) {
      lo[l] = x[j] < lo[l] ? x[j] : lo[l];
      hi[l] = x[j] > hi[l] ? x[j] : hi[l];
      sum[l] += static_cast<double>(x[j]);
    }
    double* o = out + 3 * k;
    o[0] = lo[0];
    o[1] = hi[0];
    o[2] = 0.0;
    for (std::size_t l = 0; l < kLanes; ++l) {
      o[0] = lo[l] < o[0] ? lo[l] : o[0];
      o[1] = hi[l] > o[1] ? hi[l] : o[1];
      o[2] += sum[l];
    }
  }
}

}  // namespace pyscale
