// Fresh memory for the scratch pool (scratch.hpp): blocks of 2 MiB or more aligned to 2 MiB and
// marked for transparent huge pages (numpy does the same from 4 MiB), so that writing them the
// first time costs a few page faults instead of one per 4 KiB page, which on some systems takes as
// long as a transform; smaller blocks aligned to a cache line.
// Pure C++: no Python types in this header.
#pragma once

#include <cstddef>
#include <cstdlib>

#if defined(__linux__)
#include <sys/mman.h>
#endif

namespace pyscale {

// At least `bytes` bytes that std::free releases, or null when the system has none.
inline void* fresh_block(std::size_t bytes) {
  constexpr std::size_t kLine = 64, kHuge = std::size_t(1) << 21;
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  if (bytes >= kHuge) {
    const std::size_t size = (bytes + kHuge - 1) / kHuge * kHuge;
    void* p = nullptr;
    if (posix_memalign(&p, kHuge, size) != 0) return nullptr;
    madvise(p, size, MADV_HUGEPAGE);
    return p;
  }
#endif
  return std::aligned_alloc(kLine, (bytes + kLine - 1) / kLine * kLine);
}

}  // namespace pyscale
