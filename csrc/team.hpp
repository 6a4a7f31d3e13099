// A team of threads kept for the length of one computation (one implicit osmosis step, say) and
// loops over the row blocks of an image whose sums do not depend on the size of the team.
// Pure C++: no Python types in this header.
#pragma once

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <mutex>
#include <thread>
#include <type_traits>
#include <vector>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace pyscale {

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  _mm_pause();
#endif
}

// The caller is member 0; members 1 .. size()-1 are threads started by the constructor (fewer if
// the system refuses to start them). run() hands a job to all members and returns when all have
// finished it. Between jobs the helpers spin for a short while, then sleep.
class Team {
 public:
  explicit Team(int nthreads) : cursors_(static_cast<std::size_t>(std::max(nthreads, 1))) {
    for (int m = 1; m < nthreads; ++m) {
      try {
        threads_.emplace_back([this, m] { serve(m); });
      } catch (...) {
        break;
      }
    }
    size_ = static_cast<int>(threads_.size()) + 1;
  }
  Team(const Team&) = delete;
  Team& operator=(const Team&) = delete;
  ~Team() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stop_.store(true, std::memory_order_relaxed);
      generation_.fetch_add(1, std::memory_order_release);
    }
    cv_.notify_all();
    for (auto& th : threads_) th.join();
  }

  int size() const { return size_; }

  // Calls f(member, i, i + 1) once for every item i in [0, count), on all members. Member m starts
  // with the m-th of size() contiguous parts of nearly equal length (so that a member mostly
  // meets the data it touched in the previous job) and then takes over what is left of the other
  // parts: a member slowed down by other work on its core does not hold up the team. f must
  // not throw.
  template <class F>
  void run(std::size_t count, F&& f) {
    if (size_ == 1) {
      if (count > 0) f(0, std::size_t{0}, count);
      return;
    }
    for (int m = 0; m < size_; ++m) {
      cursors_[static_cast<std::size_t>(m)].next.store(part(count, m), std::memory_order_relaxed);
      cursors_[static_cast<std::size_t>(m)].end = part(count, m + 1);
    }
    job_ = static_cast<void*>(&f);
    call_ = [](void* job, int m, std::size_t b, std::size_t e) {
      (*static_cast<std::remove_reference_t<F>*>(job))(m, b, e);
    };
    pending_.store(size_ - 1, std::memory_order_relaxed);
    {
      std::lock_guard<std::mutex> lock(mutex_);
      generation_.fetch_add(1, std::memory_order_release);
    }
    cv_.notify_all();
    work(0);
    for (int spins = 0; pending_.load(std::memory_order_acquire) != 0; ++spins) {
      if (spins < kSpin)
        cpu_relax();
      else
        std::this_thread::yield();
    }
  }

 private:
  static constexpr int kSpin = 4096;

  struct alignas(64) Cursor {
    std::atomic<std::size_t> next{0};
    std::size_t end = 0;
  };

  std::size_t part(std::size_t count, int m) const {
    return count * static_cast<std::size_t>(m) / static_cast<std::size_t>(size_);
  }

  void work(int m) {
    for (int k = 0; k < size_; ++k) {
      Cursor& c = cursors_[static_cast<std::size_t>((m + k) % size_)];
      for (;;) {
        const std::size_t i = c.next.fetch_add(1, std::memory_order_relaxed);
        if (i >= c.end) break;
        call_(job_, m, i, i + 1);
      }
    }
  }

  void serve(int m) {
    std::size_t seen = 0;
    for (;;) {
      std::size_t g;
      for (int spins = 0; (g = generation_.load(std::memory_order_acquire)) == seen; ++spins) {
        if (spins < kSpin) {
          cpu_relax();
        } else {
          std::unique_lock<std::mutex> lock(mutex_);
          cv_.wait(lock, [&] { return generation_.load(std::memory_order_acquire) != seen; });
        }
      }
      seen = g;
      if (stop_.load(std::memory_order_relaxed)) return;
      work(m);
      pending_.fetch_sub(1, std::memory_order_acq_rel);
    }
  }

  std::vector<std::thread> threads_;
  std::vector<Cursor> cursors_;
  int size_ = 1;
  std::mutex mutex_;
  std::condition_variable cv_;
  std::atomic<std::size_t> generation_{0};
  std::atomic<bool> stop_{false};
  std::atomic<int> pending_{0};
  void* job_ = nullptr;
  void (*call_)(void*, int, std::size_t, std::size_t) = nullptr;
};

namespace detail {

constexpr std::size_t kLanes = 8;

// Sum of term(k) over k in [0, n) with kLanes interleaved double accumulators (k % kLanes)
// combined in a fixed order: not limited by the add latency. term may have side effects (the
// solvers fuse vector updates into their sums).
template <class Term>
double reduce(std::size_t n, Term&& term) {
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
        partial_(2 * count_) {}

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

  // Two sums at once: f(block, a, c) sets the block's contributions a and c.
  template <class F>
  void sum2(double& a, double& c, F&& f) {
    team_.run(count_, [&](int, std::size_t b0, std::size_t b1) {
      for (std::size_t b = b0; b < b1; ++b) f(block(b), partial_[2 * b], partial_[2 * b + 1]);
    });
    a = 0.0;
    c = 0.0;
    for (std::size_t b = 0; b < count_; ++b) {
      a += partial_[2 * b];
      c += partial_[2 * b + 1];
    }
  }

 private:
  Block block(std::size_t b) const {
    const std::size_t i0 = b * rows_, i1 = std::min(ny_, i0 + rows_);
    return {i0, i1, i0 * nx_, i1 * nx_};
  }

  std::size_t ny_, nx_, rows_, count_;
  Team& team_;
  std::vector<double> partial_;
};

}  // namespace pyscale
