// Implicit osmosis steps of a batch of images, the threads shared between the images and the
// inside of each image (split_workers). Pure C++: no Python types in this header.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "osmosis_step.hpp"
#include "row_blocks.hpp"
#include "solvers.hpp"
#include "team.hpp"

namespace pyscale {

// The arrays of a batch of nb images of ny x nx pixels, all C-contiguous: b, x (the start on entry,
// the solution on return), v [nb, ny, nx]; dx [nb, ny, nx - 1]; dy [nb, ny - 1, nx]. v may be
// null, and dx and dy with cg (see osmosis_step); islands [nb, ny, nx] may be null, and so may
// hierarchies, the aggregation hierarchy of each guidance image.
template <class T>
struct StepBatch {
  std::size_t nb = 0, ny = 0, nx = 0;
  const T* b = nullptr;
  T* x = nullptr;
  const T* dx = nullptr;
  const T* dy = nullptr;
  const T* v = nullptr;
  const std::int32_t* islands = nullptr;
  const AggHierarchy* const* hierarchies = nullptr;  // [nb] of the guidance, or null
};

// One implicit step (I - tau A) x = b per image (see osmosis_step); info[k] receives the outcome
// of image k. workers threads: a team over the images whose members each run a team inside their
// images. Every image is computed by one inner team of the same size, so the results do not depend
// on workers. An exception of one image is rethrown once all members have stopped.
template <class T>
void osmosis_steps(const StepBatch<T>& s, T tau, StepMethod method, StepPrecond pre, double rtol,
                   std::size_t maxiter, double breakdown, int workers, SolveInfo* info) {
  const std::size_t ny = s.ny, nx = s.nx, n = ny * nx;
  int batch_threads = 1, members = 1;
  split_workers(s.nb, n, workers, batch_threads, members);
  Team outer(batch_threads);
  std::vector<std::unique_ptr<Team>> inner(static_cast<std::size_t>(outer.size()));
  auto at = [](auto* p, std::size_t size, std::size_t k) { return p ? p + k * size : nullptr; };
  outer.run(s.nb, [&](int m, std::size_t k0, std::size_t k1) {
    std::unique_ptr<Team>& team = inner[static_cast<std::size_t>(m)];
    if (!team) team.reset(new Team(members));
    for (std::size_t k = k0; k < k1; ++k) {
      RowBlocks rb(ny, nx, *team);
      info[k] =
          osmosis_step(rb, s.b + k * n, s.x + k * n, at(s.dx, ny * (nx - 1), k),
                       at(s.dy, (ny - 1) * nx, k), at(s.v, n, k), tau, method, pre, rtol, maxiter,
                       breakdown, at(s.islands, n, k), s.hierarchies ? s.hierarchies[k] : nullptr);
    }
  });
}

}  // namespace pyscale
