// The one team of threads of the compiled kernels, and how many threads a computation is worth.
// A team is kept for the length of one computation (a 2-D DCT, a trajectory, one implicit osmosis
// step, a batch of them) and does its work as a sequence of jobs; teams nest (a member of a team
// over the images of a batch may run a team inside its image).
// Pure C++: no Python types in this header.
#pragma once

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <exception>
#include <mutex>
#include <thread>
#include <type_traits>
#include <vector>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace pyscale {

#if defined(__GNUC__) || defined(__clang__)
#define PYSCALE_NOINLINE __attribute__((noinline))
#else
#define PYSCALE_NOINLINE
#endif

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  _mm_pause();
#endif
}

// The caller is member 0; members 1 .. size()-1 are threads started by the constructor (fewer if
// the system refuses to start them). run() hands a job to all members and returns when all have
// finished it, so successive jobs are phases with a barrier between them. Between jobs the
// helpers spin for a short while, then sleep; the caller does the same while it waits for the end
// of a job.
class Team {
 public:
  explicit Team(int nthreads) {
    if (nthreads <= 1) return;  // a team of one costs nothing
    cursors_ = std::vector<Cursor>(static_cast<std::size_t>(nthreads));
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
    if (threads_.empty()) return;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stop_.store(true, std::memory_order_relaxed);
      generation_.fetch_add(1, std::memory_order_release);
    }
    cv_.notify_all();
    for (auto& th : threads_) th.join();
  }

  int size() const { return size_; }

  // Calls f(member, i0, i1) on all members until every item of [0, count) has been handed out
  // once; a team of one makes the single call f(0, 0, count). Member m starts with the m-th of
  // size() contiguous parts of nearly equal length (so that a member mostly meets the data it
  // touched in the previous job) and then takes over what is left of the other parts, one item at
  // a time: a member slowed down by other work on its core does not hold up the team. Which member
  // computes an item therefore varies; f must give each item the same result on any member. If f
  // throws, the members take no further items and run() rethrows the first exception once all
  // have stopped.
  template <class F>
  void run(std::size_t count, F&& f) {
    if (size_ == 1) {  // kept small, so that it is inlined into the loops of the solvers
      if (count > 0) f(0, std::size_t{0}, count);
      return;
    }
    run_shared(count, static_cast<void*>(&f), [](void* job, int m, std::size_t b, std::size_t e) {
      (*static_cast<std::remove_reference_t<F>*>(job))(m, b, e);
    });
  }

 private:
  using Call = void (*)(void*, int, std::size_t, std::size_t);
  static constexpr int kSpin = 4096;
  static constexpr int kYield = 1024;

  struct alignas(64) Cursor {
    std::atomic<std::size_t> next{0};
    std::size_t end = 0;
  };

  // run() on more than one member; out of line, it costs microseconds anyway.
  PYSCALE_NOINLINE void run_shared(std::size_t count, void* job, Call call) {
    for (int m = 0; m < size_; ++m) {
      cursors_[static_cast<std::size_t>(m)].next.store(part(count, m), std::memory_order_relaxed);
      cursors_[static_cast<std::size_t>(m)].end = part(count, m + 1);
    }
    job_ = job;
    call_ = call;
    failed_.store(false, std::memory_order_relaxed);
    pending_.store(size_ - 1, std::memory_order_relaxed);
    {
      std::lock_guard<std::mutex> lock(mutex_);
      generation_.fetch_add(1, std::memory_order_release);
    }
    cv_.notify_all();
    work(0);
    wait_done();
    if (error_) {
      std::exception_ptr e = error_;
      error_ = nullptr;
      std::rethrow_exception(e);
    }
  }

  std::size_t part(std::size_t count, int m) const {
    return count * static_cast<std::size_t>(m) / static_cast<std::size_t>(size_);
  }

  void work(int m) {
    try {
      for (int k = 0; k < size_; ++k) {
        Cursor& c = cursors_[static_cast<std::size_t>((m + k) % size_)];
        while (!failed_.load(std::memory_order_relaxed)) {
          const std::size_t i = c.next.fetch_add(1, std::memory_order_relaxed);
          if (i >= c.end) break;
          call_(job_, m, i, i + 1);
        }
      }
    } catch (...) {
      std::lock_guard<std::mutex> lock(mutex_);
      if (!error_) error_ = std::current_exception();
      failed_.store(true, std::memory_order_relaxed);
    }
  }

  // Waits for the helpers to finish a job: spinning, then yielding the core, then (for a job that
  // keeps the others busy for a millisecond or more) asleep.
  void wait_done() {
    for (int spins = 0; pending_.load(std::memory_order_acquire) != 0; ++spins) {
      if (spins < kSpin) {
        cpu_relax();
      } else if (spins < kSpin + kYield) {
        std::this_thread::yield();
      } else {
        std::unique_lock<std::mutex> lock(mutex_);
        done_.wait(lock, [&] { return pending_.load(std::memory_order_acquire) == 0; });
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
      if (pending_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
        std::lock_guard<std::mutex> lock(mutex_);
        done_.notify_one();
      }
    }
  }

  std::vector<std::thread> threads_;
  std::vector<Cursor> cursors_;
  int size_ = 1;
  std::mutex mutex_;
  std::condition_variable cv_;    // helpers wait here for a job
  std::condition_variable done_;  // the caller waits here for the end of a long job
  std::atomic<std::size_t> generation_{0};
  std::atomic<bool> stop_{false};
  std::atomic<int> pending_{0};
  std::atomic<bool> failed_{false};
  std::exception_ptr error_;  // the first exception of the current job
  void* job_ = nullptr;
  Call call_ = nullptr;
};

// A thread is worth starting for about this many values of an image: starting one costs about as
// much as transforming a few thousand values, and a member of a team over an image synchronises
// with the others a few times per pass over it.
constexpr std::size_t kValuesPerThread = 16384;

// Threads worth starting for `items` work items covering `values` array elements.
inline int clamp_workers(int workers, std::size_t items, std::size_t values) {
  std::size_t w = workers < 1 ? 1 : static_cast<std::size_t>(workers);
  w = std::min(w, std::max<std::size_t>(items, 1));
  w = std::min(w, std::max<std::size_t>(values / kValuesPerThread, 1));
  return static_cast<int>(w);
}

// How `workers` threads share a batch of nb images of n pixels: batch_threads threads take whole
// images, each with a team of `members` threads inside the image. The split minimises the time
// estimate ceil(nb / batch_threads) / members; on a tie whole images per thread win (they need no
// synchronisation).
inline void split_workers(std::size_t nb, std::size_t n, int workers, int& batch_threads,
                          int& members) {
  const std::size_t w = static_cast<std::size_t>(std::max(workers, 1));
  const std::size_t max_members = std::max<std::size_t>(1, n / kValuesPerThread);
  double best = 0.0;
  batch_threads = 1;
  members = 1;
  for (std::size_t bt = 1; bt <= std::min(w, std::max<std::size_t>(nb, 1)); ++bt) {
    const std::size_t m = std::min(w / bt, max_members);
    const double cost = static_cast<double>((nb + bt - 1) / bt) / static_cast<double>(m);
    if (bt == 1 || cost <= best) {
      best = cost;
      batch_threads = static_cast<int>(bt);
      members = static_cast<int>(m);
    }
  }
}

}  // namespace pyscale
