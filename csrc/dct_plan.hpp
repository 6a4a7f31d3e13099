// Plans of the orthonormal DCT-II and DCT-III of one length, and their bounded cache.
// Pure C++: no Python types in this header.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "fft.hpp"
#include "fft_plan.hpp"

namespace pyscale {
namespace dct_detail {

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

}  // namespace dct_detail
}  // namespace pyscale
