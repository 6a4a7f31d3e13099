// Memory for large results: blocks of 2 MiB or more aligned to 2 MiB and marked for transparent
// huge pages (numpy does the same from 4 MiB). Writing a fresh large result then costs a few page
// faults instead of one per 4 KiB page, which on some systems takes as long as the transform
// itself. Pure C++: no Python types in this header.
#pragma once

#include <cstddef>
#include <cstdlib>
#include <memory>

#if defined(__linux__)
#include <sys/mman.h>
#endif

namespace pyscale {

// Memory and the function that releases it (std::free).
using HugeMemory = std::unique_ptr<void, void (*)(void*)>;

// At least `bytes` bytes aligned to 2 MiB and marked for huge pages; empty when bytes is below
// 2 MiB, when the system has no transparent huge pages, or when the allocation fails (the caller
// then allocates as usual).
inline HugeMemory huge_page_memory(std::size_t bytes) {
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  constexpr std::size_t kHuge = std::size_t(1) << 21;
  if (bytes >= kHuge) {
    const std::size_t size = (bytes + kHuge - 1) / kHuge * kHuge;
    void* p = nullptr;
    if (posix_memalign(&p, kHuge, size) == 0) {
      madvise(p, size, MADV_HUGEPAGE);
      return HugeMemory(p, &std::free);
    }
  }
#else
  (void)bytes;
#endif
  return HugeMemory(nullptr, &std::free);
}

}  // namespace pyscale
