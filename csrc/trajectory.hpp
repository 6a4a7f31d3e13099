// Fused DCT-domain trajectory: one forward transform, then per frame an affine update of the
// coefficients with counter-based Gaussian noise and one inverse transform, all without returning
// to the caller between frames.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "dct.hpp"
#include "noise.hpp"
#include "scratch.hpp"

namespace pyscale {

namespace trajectory_detail {

// The state of one trajectory call: the coefficients of the batch, the noise keys of the frames,
// and the per-member work memory.
template <class T, class Gen>
struct Run {
  const dct_detail::Image2D<T>& img;
  std::size_t nplanes;
  const std::int64_t* plane_of;
  const double* coef_a;
  const double* coef_b;
  const Gen& gen;
  std::uint64_t start;
  std::vector<std::uint64_t> keys;     // per frame
  std::vector<char> noisy;             // frames with some non-zero coef_b
  std::vector<std::vector<double>> z;  // per member: the deviates of one row

  // Rows [r0, r0 + nv) of image b in frame k: the affine update of those rows of the image's
  // state st (rows of the state are only touched by the work item that transforms them), then
  // their inverse row transform into the image's frame fr.
  void rows(std::size_t k, std::size_t b, std::size_t r0, std::size_t nv, T* st, T* fr, int member,
            dct_detail::Workspace<T>& ws) {
    const std::size_t nx = img.nx, plane = img.ny * nx;
    const std::size_t pk = k * nplanes + (plane_of ? static_cast<std::size_t>(plane_of[b]) : 0);
    const double* ak = coef_a + pk * plane;
    const double* bk = coef_b + pk * plane;
    double* zr = noisy[k] ? z[static_cast<std::size_t>(member)].data() : nullptr;
    for (std::size_t r = r0; r < r0 + nv; ++r) {
      T* srow = st + r * nx;
      const double* arow = ak + r * nx;
      const double* brow = bk + r * nx;
      if (zr) {
        gen.fill(zr, nx, keys[k], start + b * plane + r * nx);
        for (std::size_t c = 0; c < nx; ++c)
          srow[c] = static_cast<T>(arow[c] * static_cast<double>(srow[c]) + brow[c] * zr[c]);
      } else {
        for (std::size_t c = 0; c < nx; ++c)
          srow[c] = static_cast<T>(arow[c] * static_cast<double>(srow[c]));
      }
    }
    img.kernel(*img.px, st, fr, nx, r0, nv, true, true, ws);
  }

  // The whole trajectory of image b, its state in st (one image): the forward transform, then per
  // frame the update and the inverse transform, while the image is in the cache.
  void image(std::size_t b, const T* u0, T* out, T* st, int member, dct_detail::Workspace<T>& ws) {
    const std::size_t plane = img.ny * img.nx, total = img.batch * plane;
    img.image(0, u0 + b * plane, st, false, ws);
    for (std::size_t k = 0; k < keys.size(); ++k) {
      T* fr = out + k * total + b * plane;
      for (std::size_t i = 0; i < img.row_blocks; ++i) {
        std::size_t b0, r0, nv;
        img.row_range(i, b0, r0, nv);
        rows(k, b, r0, nv, st, fr, member, ws);
      }
      for (std::size_t i = 0; i < img.col_blocks; ++i) img.col_item(i, fr, true, ws);
    }
  }
};

}  // namespace trajectory_detail

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
// The result does not depend on workers. Returns false when a value the kernels wrote (a frame,
// or an intermediate of one) was not finite, true when every frame is finite. With enough images
// for the threads (as in dct2d), each thread takes whole images; otherwise a team does the work in
// nframes + 2 jobs: the forward rows, the forward columns, then per frame the update and the
// inverse rows together with the inverse columns of the previous frame (they only touch that
// frame's output), and last the columns of the last frame.
template <class T, class Gen>
bool dct_trajectory_with(const T* u0, T* out, std::size_t batch, std::size_t ny, std::size_t nx,
                         std::size_t nframes, std::size_t nplanes, const std::int64_t* plane_of,
                         const double* coef_a, const double* coef_b, std::uint64_t seed,
                         bool add_noise, int workers, const Gen& gen, std::uint64_t start = 0) {
  using namespace dct_detail;
  if (batch == 0 || ny == 0 || nx == 0 || nframes == 0) return true;
  const Image2D<T> img(batch, ny, nx);
  const std::size_t plane = ny * nx, total = batch * plane;
  Team team(img.threads(workers));
  std::vector<Workspace<T>> ws = img.workspaces(team);
  trajectory_detail::Run<T, Gen> run{img, nplanes, plane_of, coef_a, coef_b,
                                     gen, start,   {},       {},     {}};
  run.keys.resize(nframes);
  run.noisy.assign(nframes, 0);
  for (std::size_t k = 0; k < nframes; ++k) {
    run.keys[k] = noise::stream_key(seed, k);
    const double* bk = coef_b + k * nplanes * plane;
    if (add_noise)
      run.noisy[k] = std::any_of(bk, bk + nplanes * plane, [](double x) { return x != 0.0; });
  }
  if (add_noise) run.z.assign(ws.size(), std::vector<double>(nx));
  if (img.by_images(team.size())) {
    // Whole images as work items, each with a state of its own per member: the state and the
    // frame stay in the cache between the steps, instead of the whole batch's passing through
    // memory once per frame.
    std::vector<Buffer<T>> states(ws.size());
    for (Buffer<T>& state : states) state.resize(plane);
    team.run(batch, [&](int m, std::size_t b0, std::size_t b1) {
      const auto mm = static_cast<std::size_t>(m);
      for (std::size_t b = b0; b < b1; ++b) run.image(b, u0, out, states[mm].data(), m, ws[mm]);
    });
    return all_finite(ws);
  }
  Buffer<T> state(total);  // written by the forward transform
  T* st = state.data();
  img.rows(team, u0, st, false, ws);
  img.cols(team, st, false, ws);
  const std::size_t nr = img.row_items();
  for (std::size_t k = 0; k < nframes; ++k) {
    const std::size_t nc = k ? img.col_items() : 0;
    T* frame = out + k * total;
    team.run(nc + nr, [&](int m, std::size_t i0, std::size_t i1) {
      Workspace<T>& w = ws[static_cast<std::size_t>(m)];
      for (std::size_t i = i0; i < i1; ++i) {
        if (i < nc) {
          img.col_item(i, frame - total, true, w);
        } else {
          std::size_t b, r0, nv;
          img.row_range(i - nc, b, r0, nv);
          run.rows(k, b, r0, nv, st + b * plane, frame + b * plane, m, w);
        }
      }
    });
  }
  img.cols(team, out + (nframes - 1) * total, true, ws);
  return all_finite(ws);
}

// The trajectory with the ziggurat generator of pyscale.noise (tables X, F of 257 values each).
template <class T>
bool dct_trajectory(const T* u0, T* out, std::size_t batch, std::size_t ny, std::size_t nx,
                    std::size_t nframes, std::size_t nplanes, const std::int64_t* plane_of,
                    const double* coef_a, const double* coef_b, std::uint64_t seed, bool add_noise,
                    int workers, const double* zig_x, const double* zig_f, std::uint64_t start) {
  return dct_trajectory_with(u0, out, batch, ny, nx, nframes, nplanes, plane_of, coef_a, coef_b,
                             seed, add_noise, workers, noise::ZigguratNormal{zig_x, zig_f}, start);
}

}  // namespace pyscale
