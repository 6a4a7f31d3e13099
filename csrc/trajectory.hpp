// Fused DCT-domain trajectory: one forward transform, then per frame an affine update of the
// coefficients with counter-based Gaussian noise and one inverse transform, all without returning
// to the caller between frames.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "dct.hpp"
#include "noise.hpp"

namespace pyscale {

// u0: [batch, ny, nx]; out: [nframes, batch, ny, nx]; coef_a, coef_b: [nframes, nplanes, ny, nx];
// plane_of: [batch] values in [0, nplanes), the coefficient plane of each image (nullptr: plane 0).
// state = DCT-II(u0); for each frame k and image i with p = plane_of[i]:
//   state[i] = coef_a[k, p] * state[i] + coef_b[k, p] * z(seed, stream = k, start + index)
// (noise only if add_noise)
//   out[k] = DCT-III(state)
// index is the flat C-order index of the coefficient within [batch, ny, nx]; start offsets it (a
// slice of a larger batch gets the draws it has inside the whole batch). The update is evaluated
// in double (z in double, the state converted from T) and rounded to T. gen(key, n) returns the
// normal deviate of flat index n and gen.fill(out, count, key, first) a run of them.
// The result does not depend on workers.
template <class T, class Gen>
void dct_trajectory_with(const T* u0, T* out, std::size_t batch, std::size_t ny, std::size_t nx,
                         std::size_t nframes, std::size_t nplanes, const std::int64_t* plane_of,
                         const double* coef_a, const double* coef_b, std::uint64_t seed,
                         bool add_noise, int workers, const Gen& gen, std::uint64_t start = 0) {
  using namespace dct_detail;
  if (batch == 0 || ny == 0 || nx == 0 || nframes == 0) return;
  const Image2D<T> img(batch, ny, nx);
  const std::size_t plane = ny * nx;
  const std::size_t total = batch * plane;
  std::unique_ptr<T[]> state(new T[total]);  // written by the forward transform
  T* st = state.get();
  const int nthreads = clamp_workers(workers, std::max(img.row_items(), img.col_items()), total);
  std::vector<Workspace<T>> ws(static_cast<std::size_t>(nthreads));
  std::vector<std::vector<double>> zbuf(static_cast<std::size_t>(nthreads));
  for (std::size_t t = 0; t < ws.size(); ++t) {
    img.reserve(ws[t]);
    if (add_noise) zbuf[t].resize(nx);
  }
  std::vector<std::uint64_t> keys(nframes);
  std::vector<char> noisy(nframes, 0);  // frames with some non-zero coef_b
  for (std::size_t k = 0; k < nframes; ++k) {
    keys[k] = noise::stream_key(seed, k);
    if (add_noise) {
      const double* bk = coef_b + k * nplanes * plane;
      noisy[k] = std::any_of(bk, bk + nplanes * plane, [](double x) { return x != 0.0; }) ? 1 : 0;
    }
  }
  std::unique_ptr<WorkCounter[]> counters(new WorkCounter[2 * nframes + 2]);

  run_team(nthreads, [&](int tid, int team, Barrier& bar) {
    Workspace<T>& w = ws[static_cast<std::size_t>(tid)];
    double* z = add_noise ? zbuf[static_cast<std::size_t>(tid)].data() : nullptr;
    counters[0].run(img.row_items(), team,
                    [&](std::size_t i) { img.row_item(i, u0, st, false, w); });
    bar.wait();
    counters[1].run(img.col_items(), team, [&](std::size_t i) { img.col_item(i, st, false, w); });
    bar.wait();
    for (std::size_t k = 0; k < nframes; ++k) {
      T* frame = out + k * total;
      // The rows of the state are updated by the item that transforms them. The columns of the
      // previous frame may still be in progress: they only touch that frame's output.
      counters[2 + 2 * k].run(img.row_items(), team, [&](std::size_t i) {
        std::size_t b, r0, nv;
        img.row_range(i, b, r0, nv);
        const std::size_t pk = k * nplanes + (plane_of ? static_cast<std::size_t>(plane_of[b]) : 0);
        const double* ak = coef_a + pk * plane;
        const double* bk = coef_b + pk * plane;
        for (std::size_t r = r0; r < r0 + nv; ++r) {
          const std::size_t off = b * plane + r * nx;
          T* srow = st + off;
          const double* arow = ak + r * nx;
          const double* brow = bk + r * nx;
          if (noisy[k]) {
            gen.fill(z, nx, keys[k], start + off);
            for (std::size_t c = 0; c < nx; ++c)
              srow[c] = static_cast<T>(arow[c] * static_cast<double>(srow[c]) + brow[c] * z[c]);
          } else {
            for (std::size_t c = 0; c < nx; ++c)
              srow[c] = static_cast<T>(arow[c] * static_cast<double>(srow[c]));
          }
        }
        img.row_item(i, st, frame, true, w);
      });
      bar.wait();
      counters[3 + 2 * k].run(img.col_items(), team,
                              [&](std::size_t i) { img.col_item(i, frame, true, w); });
    }
  });
}

// The trajectory with the ziggurat generator of pyscale.noise (tables X, F of 257 values each).
template <class T>
void dct_trajectory(const T* u0, T* out, std::size_t batch, std::size_t ny, std::size_t nx,
                    std::size_t nframes, std::size_t nplanes, const std::int64_t* plane_of,
                    const double* coef_a, const double* coef_b, std::uint64_t seed, bool add_noise,
                    int workers, const double* zig_x, const double* zig_f, std::uint64_t start) {
  dct_trajectory_with(u0, out, batch, ny, nx, nframes, nplanes, plane_of, coef_a, coef_b, seed,
                      add_noise, workers, noise::ZigguratNormal{zig_x, zig_f}, start);
}

}  // namespace pyscale
