// Scratch memory that is kept between calls. A solve for a 321 x 481 image needs about 10 MB of
// work arrays; fresh memory from the system costs one page fault per 4 KiB page on first touch,
// which added 10-20 % to an implicit osmosis step. Large blocks released here are kept (up to
// kScratchKeep bytes in all, the blocks released longest ago leaving first) and handed out again
// for requests of the same size.
// Pure C++: no Python types in this header.
#pragma once

#include <cstddef>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <new>
#include <utility>
#include <vector>

#include "huge_pages.hpp"

#if defined(__unix__)
#include <pthread.h>
#endif

namespace pyscale {

namespace scratch_detail {

constexpr std::size_t kMinBytes = std::size_t(1) << 18;  // smaller blocks go to malloc as usual
constexpr std::size_t kScratchKeep = std::size_t(1) << 28;

class Pool {
 public:
  static Pool& instance() {
    static Pool* pool = new Pool();  // never destroyed: blocks may be released at exit
    return *pool;
  }

  void* take(std::size_t bytes) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      // the block released last first: it is the most likely to be still in the cache
      for (std::size_t i = free_.size(); i-- > 0;)
        if (free_[i].bytes == bytes) {
          void* p = free_[i].ptr;
          kept_ -= bytes;
          free_.erase(free_.begin() + static_cast<std::ptrdiff_t>(i));
          return p;
        }
    }
    void* p = fresh_block(bytes);
    if (!p) throw std::bad_alloc();
    return p;
  }

  // Keeps the block; the blocks released longest ago make room for it where the pool is full.
  void give(void* p, std::size_t bytes) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (bytes > kScratchKeep) {
      std::free(p);
      return;
    }
    std::size_t n = 0;
    for (; kept_ + bytes > kScratchKeep; ++n) {
      kept_ -= free_[n].bytes;
      std::free(free_[n].ptr);
    }
    free_.erase(free_.begin(), free_.begin() + static_cast<std::ptrdiff_t>(n));
    free_.push_back({p, bytes});  // within the capacity reserved: no allocation here
    kept_ += bytes;
  }

 private:
  Pool() {
#if defined(__unix__)
    // a fork while another thread holds the lock would leave it locked in the child
    pthread_atfork([] { instance().mutex_.lock(); }, [] { instance().mutex_.unlock(); },
                   [] { instance().mutex_.unlock(); });
#endif
    free_.reserve(kScratchKeep / kMinBytes);
  }

  struct Block {
    void* ptr;
    std::size_t bytes;
  };
  std::mutex mutex_;
  std::vector<Block> free_;
  std::size_t kept_ = 0;
};

}  // namespace scratch_detail

// A std::allocator that takes blocks of kMinBytes or more from the scratch pool.
template <class T>
struct ScratchAllocator {
  using value_type = T;
  ScratchAllocator() = default;
  template <class U>
  ScratchAllocator(const ScratchAllocator<U>&) {}

  T* allocate(std::size_t n) {
    const std::size_t bytes = n * sizeof(T);
    if (bytes < scratch_detail::kMinBytes) return std::allocator<T>().allocate(n);
    return static_cast<T*>(scratch_detail::Pool::instance().take(bytes));
  }
  void deallocate(T* p, std::size_t n) {
    const std::size_t bytes = n * sizeof(T);
    if (bytes < scratch_detail::kMinBytes) return std::allocator<T>().deallocate(p, n);
    scratch_detail::Pool::instance().give(p, bytes);
  }
  // Elements made without a value are left uninitialised (default-initialised), as the solvers
  // write their work arrays before reading them: zeroing them cost about 12 MB of stores per
  // osmosis step of a 321 x 481 image.
  template <class U>
  void construct(U* p) noexcept {
    ::new (static_cast<void*>(p)) U;
  }
  template <class U, class... Args>
  void construct(U* p, Args&&... args) {
    ::new (static_cast<void*>(p)) U(std::forward<Args>(args)...);
  }
  template <class U>
  bool operator==(const ScratchAllocator<U>&) const {
    return true;
  }
  template <class U>
  bool operator!=(const ScratchAllocator<U>&) const {
    return false;
  }
};

// Work arrays of the solvers.
template <class T>
using Buffer = std::vector<T, ScratchAllocator<T>>;

// Memory for results handed to the caller: take_block(bytes) gives a block of at least
// kPooledBytes bytes from the pool, give_block(p, bytes) returns it when the result is freed.
// A result of a size made before then costs no fresh pages (one page fault per 4 KiB otherwise,
// which took 60 % of a round trip of 2-D DCTs of 3 x 256 x 256 float64 values; even in huge
// pages, a fresh 20 MB result let two threads run a DCT of 16 x 321 x 481 values 1.0-1.96x as
// fast as one, depending on the process, against 1.68-1.76x in memory used before).
constexpr std::size_t kPooledBytes = scratch_detail::kMinBytes;
inline void* take_block(std::size_t bytes) { return scratch_detail::Pool::instance().take(bytes); }
inline void give_block(void* p, std::size_t bytes) {
  scratch_detail::Pool::instance().give(p, bytes);
}

}  // namespace pyscale
