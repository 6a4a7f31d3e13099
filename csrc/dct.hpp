// Orthonormal 2-D DCT-II and DCT-III (its inverse) on C-contiguous [batch, ny, nx] arrays.
//
// Method
// ------
// A length-n DCT-II is computed with Makhoul's reordering: v[j] = x[2j] for the first ceil(n/2)
// positions and v[n-1-j] = x[2j+1] for the rest, then V = DFT(v) and y[k] = f_k Re(e^{-i pi k/2n}
// V[k]). Two real lines a, b are transformed together as the complex line a + i b and separated
// through the Hermitian symmetry of their spectra. The DCT-III runs the same steps backwards.
//
// The complex DFT is an in-place mixed-radix decimation-in-frequency FFT with radix-8, 4, 2 and
// odd-radix passes (the odd pass works for any odd factor, using the symmetry of its cosine and
// sine tables); it splits large transforms depth first so that most passes run in the level-1
// cache, and leaves its output in digit-reversed order, which the DCT steps read through tables.
// Lengths with a prime factor above kMaxDirectPrime go through Bluestein's chirp convolution.
// Every pass works on "lanes": a block of M independent lines stored as [n][M], so the innermost
// loops run over M contiguous values with a common twiddle factor. Columns of an image are
// naturally in this layout; rows are transposed into it block by block with in-register tiles.
//
// The kernels are written with the GCC/Clang vector extension and compiled for 16-, 32- and
// 64-byte vectors (SSE2, AVX2 + FMA, AVX-512); the widest one the processor supports is chosen
// once per process.
//
// The image is cut into blocks of 2M lines whose boundaries depend only on the sizes, and every
// block is computed by the same code whichever thread takes it, so results are bitwise identical
// for any number of threads. A team (team.hpp) transforms the rows of all blocks in one job and
// the columns in the next; each member starts on a contiguous run of blocks, so neighbouring
// blocks, which share cache lines at their edges, are rarely written by two threads at once. One
// thread, or a team with at least kImagesPerMember images of a batch per member, takes whole
// images instead (rows, then columns, while the image is still in the cache).
//
// Modules: simd.hpp (vectors, tile transposes), fft_plan.hpp (FFT plans), fft_passes.hpp (the
// radix passes), fft.hpp (the FFT of lanes, Bluestein), dct_plan.hpp (DCT plans and their bounded
// cache), dct_lines.hpp (the DCT of a block of lines), dct_kernels.hpp (instruction-set variants)
// and this file (images).
#pragma once

#include <algorithm>
#include <cstddef>
#include <memory>
#include <type_traits>
#include <vector>

#include "dct_kernels.hpp"
#include "dct_lines.hpp"
#include "dct_plan.hpp"
#include "team.hpp"

namespace pyscale {
namespace dct_detail {

// A team takes whole images as work items when there are at least this many per member (fewer
// would leave members idle at the end); otherwise all rows, then all columns.
constexpr std::size_t kImagesPerMember = 4;

template <class T>
inline std::size_t block_lines() {
  return 2 * full_lanes<T>();
}

// The 2-D transform of a stack of images split into two phases of independent work items:
// phase 1 transforms the rows (along x) from src to dst, phase 2 the columns (along y) of dst in
// place. Items are numbered image-major.
template <class T>
struct Image2D {
  std::shared_ptr<const DctPlan<T>> px, py;
  std::size_t ny = 0, nx = 0, batch = 0;
  std::size_t row_blocks = 0, col_blocks = 0;
  BlockFn<T> kernel;

  Image2D(std::size_t batch_, std::size_t ny_, std::size_t nx_) : ny(ny_), nx(nx_), batch(batch_) {
    px = get_dct_plan<T>(nx);
    py = get_dct_plan<T>(ny);
    const std::size_t L = block_lines<T>();
    row_blocks = (ny + L - 1) / L;
    col_blocks = (nx + L - 1) / L;
    kernel = block_kernel<T>();
  }
  std::size_t row_items() const { return batch * row_blocks; }
  std::size_t col_items() const { return batch * col_blocks; }
  void reserve(Workspace<T>& ws) const {
    ws.reserve(std::max(px->fft.work_rows, py->fft.work_rows),
               std::max(px->fft.max_half, py->fft.max_half));
  }
  // Rows of item i: image b, rows [r0, r0 + nv).
  void row_range(std::size_t item, std::size_t& b, std::size_t& r0, std::size_t& nv) const {
    const std::size_t L = block_lines<T>();
    b = item / row_blocks;
    r0 = (item % row_blocks) * L;
    nv = std::min(L, ny - r0);
  }
  void row_item(std::size_t item, const T* src, T* dst, bool inverse, Workspace<T>& ws) const {
    std::size_t b, r0, nv;
    row_range(item, b, r0, nv);
    const std::size_t plane = ny * nx;
    kernel(*px, src + b * plane, dst + b * plane, nx, r0, nv, true, inverse, ws);
  }
  // Columns of item i: image b, columns [c0, c0 + nv).
  void col_range(std::size_t item, std::size_t& b, std::size_t& c0, std::size_t& nv) const {
    const std::size_t L = block_lines<T>();
    b = item / col_blocks;
    c0 = (item % col_blocks) * L;
    nv = std::min(L, nx - c0);
  }
  void col_item(std::size_t item, T* data, bool inverse, Workspace<T>& ws) const {
    if (ny == 1) return;
    std::size_t b, c0, nv;
    col_range(item, b, c0, nv);
    const std::size_t plane = ny * nx;
    kernel(*py, data + b * plane, data + b * plane, nx, c0, nv, false, inverse, ws);
  }
  // Image b: its rows from src to dst, then its columns in place; ws.finite is cleared when the
  // result has a value that is not finite.
  void image(std::size_t b, const T* src, T* dst, bool inverse, Workspace<T>& ws) const {
    const bool before = ws.finite;
    for (std::size_t i = b * row_blocks; i < (b + 1) * row_blocks; ++i)
      row_item(i, src, dst, inverse, ws);
    if (ny == 1) return;  // the rows wrote the result
    ws.finite = before;   // the columns write it
    for (std::size_t i = b * col_blocks; i < (b + 1) * col_blocks; ++i)
      col_item(i, dst, inverse, ws);
  }
  // Whether a team of `members` threads takes whole images as work items (see kImagesPerMember).
  bool by_images(int members) const {
    return batch > 1 &&
           (members == 1 || batch >= kImagesPerMember * static_cast<std::size_t>(members));
  }
  // Threads worth starting for this transform.
  int threads(int workers) const {
    return clamp_workers(workers, std::max(row_items(), col_items()), batch * ny * nx);
  }
  // One workspace per member of a team.
  std::vector<Workspace<T>> workspaces(const Team& team) const {
    std::vector<Workspace<T>> ws(static_cast<std::size_t>(team.size()));
    for (auto& w : ws) reserve(w);
    return ws;
  }
  // One job of the team: the rows of all images from src to dst (which may equal src).
  void rows(Team& team, const T* src, T* dst, bool inverse, std::vector<Workspace<T>>& ws) const {
    team.run(row_items(), [&](int m, std::size_t i0, std::size_t i1) {
      for (std::size_t i = i0; i < i1; ++i)
        row_item(i, src, dst, inverse, ws[static_cast<std::size_t>(m)]);
    });
  }
  // One job of the team: the columns of all images of data, in place.
  void cols(Team& team, T* data, bool inverse, std::vector<Workspace<T>>& ws) const {
    team.run(col_items(), [&](int m, std::size_t i0, std::size_t i1) {
      for (std::size_t i = i0; i < i1; ++i)
        col_item(i, data, inverse, ws[static_cast<std::size_t>(m)]);
    });
  }
};

// Whether the kernels of every workspace wrote finite values only.
template <class T>
bool all_finite(const std::vector<Workspace<T>>& ws) {
  return std::all_of(ws.begin(), ws.end(), [](const Workspace<T>& w) { return w.finite; });
}

}  // namespace dct_detail

// Orthonormal 2-D DCT-II (inverse = false) or its inverse, the orthonormal DCT-III (inverse =
// true), over the last two axes of a C-contiguous [batch, ny, nx] array. in and out may be the same
// array. workers: number of threads; the result does not depend on it. Returns whether every value
// of the result is finite (noted by the kernels as they write it).
template <class T>
bool dct2d(const T* in, T* out, std::size_t batch, std::size_t ny, std::size_t nx, bool inverse,
           int workers) {
  using namespace dct_detail;
  static_assert(std::is_same<T, float>::value || std::is_same<T, double>::value,
                "dct2d needs float or double");
  if (batch == 0 || ny == 0 || nx == 0) return true;
  const Image2D<T> img(batch, ny, nx);
  Team team(img.threads(workers));
  std::vector<Workspace<T>> ws = img.workspaces(team);
  if (img.by_images(team.size())) {
    // Whole images as work items: the columns of an image are read while its rows are still in
    // the cache.
    team.run(batch, [&](int m, std::size_t b0, std::size_t b1) {
      for (std::size_t b = b0; b < b1; ++b)
        img.image(b, in, out, inverse, ws[static_cast<std::size_t>(m)]);
    });
    return all_finite(ws);
  }
  img.rows(team, in, out, inverse, ws);
  if (ny > 1) {  // the columns write the result (the rows do when ny = 1)
    for (Workspace<T>& w : ws) w.finite = true;
    img.cols(team, out, inverse, ws);
  }
  return all_finite(ws);
}

}  // namespace pyscale
