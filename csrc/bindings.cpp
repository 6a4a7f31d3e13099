// Python bindings of the pyscale kernels: the module pyscale._core.
// Validation of user input happens in Python; these functions only check shapes.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "dct.hpp"
#include "image_stats.hpp"
#include "krylov_projection.hpp"
#include "noise.hpp"
#include "osmosis_batch.hpp"
#include "osmosis_step.hpp"
#include "trajectory.hpp"

namespace py = pybind11;

namespace {

template <class T>
using carray = py::array_t<T, py::array::c_style | py::array::forcecast>;

void require(bool ok, const std::string& what) {
  if (!ok) throw std::invalid_argument(what);
}

// ---- osmosis -------------------------------------------------------------------------------

// u: [batch, ny, nx]; dx: [batch, ny, nx-1]; dy: [batch, ny-1, nx]. Returns A u.
template <class T>
carray<T> osmosis_apply(carray<T> u, carray<T> dx, carray<T> dy) {
  require(u.ndim() == 3 && dx.ndim() == 3 && dy.ndim() == 3, "osmosis_apply: arrays must be 3-D");
  const auto b = static_cast<std::size_t>(u.shape(0));
  const auto ny = static_cast<std::size_t>(u.shape(1));
  const auto nx = static_cast<std::size_t>(u.shape(2));
  require(ny > 0 && nx > 0, "osmosis_apply: empty image");
  require(static_cast<std::size_t>(dx.shape(0)) == b &&
              static_cast<std::size_t>(dx.shape(1)) == ny &&
              static_cast<std::size_t>(dx.shape(2)) == nx - 1,
          "osmosis_apply: dx must have shape [batch, ny, nx-1]");
  require(static_cast<std::size_t>(dy.shape(0)) == b &&
              static_cast<std::size_t>(dy.shape(1)) == ny - 1 &&
              static_cast<std::size_t>(dy.shape(2)) == nx,
          "osmosis_apply: dy must have shape [batch, ny-1, nx]");
  carray<T> out({b, ny, nx});
  const T* pu = u.data();
  const T* px = dx.data();
  const T* py_ = dy.data();
  T* po = out.mutable_data();
  {
    py::gil_scoped_release release;
    for (std::size_t k = 0; k < b; ++k)
      pyscale::osmosis_apply(pu + k * ny * nx, po + k * ny * nx, px + k * ny * (nx - 1),
                             py_ + k * (ny - 1) * nx, ny, nx);
  }
  return out;
}

// v: [batch, ny, nx] positive. Returns (dx, dy) canonical drift.
template <class T>
py::tuple osmosis_drift(carray<T> v) {
  require(v.ndim() == 3, "osmosis_drift: v must be 3-D");
  const auto b = static_cast<std::size_t>(v.shape(0));
  const auto ny = static_cast<std::size_t>(v.shape(1));
  const auto nx = static_cast<std::size_t>(v.shape(2));
  require(ny > 0 && nx > 0, "osmosis_drift: empty image");
  carray<T> dx({b, ny, nx - 1});
  carray<T> dy({b, ny - 1, nx});
  const T* pv = v.data();
  T* px = dx.mutable_data();
  T* py_ = dy.mutable_data();
  {
    py::gil_scoped_release release;
    for (std::size_t k = 0; k < b; ++k)
      pyscale::osmosis_drift(pv + k * ny * nx, px + k * ny * (nx - 1), py_ + k * (ny - 1) * nx, ny,
                             nx);
  }
  return py::make_tuple(dx, dy);
}

// a: [batch, ny, nx]. Returns [batch, 3]: the smallest value, the largest value and the sum of
// each image.
template <class T>
carray<double> image_stats(carray<T> a) {
  require(a.ndim() == 3, "image_stats: a must be 3-D");
  const auto b = static_cast<std::size_t>(a.shape(0));
  const auto n = static_cast<std::size_t>(a.shape(1) * a.shape(2));
  require(n > 0, "image_stats: empty image");
  carray<double> out({b, std::size_t{3}});
  const T* pa = a.data();
  double* po = out.mutable_data();
  {
    py::gil_scoped_release release;
    pyscale::image_stats(pa, b, n, po);
  }
  return out;
}

// basis: [batch, k, ny * nx]; v, s: [batch, ny, nx] (s = sqrt(v)). Returns [batch, m, m], m =
// k - first: V^T H V for the basis vectors first .. k - 1 of each image.
carray<double> krylov_projected(carray<double> basis, std::size_t first, carray<double> v,
                                carray<double> s) {
  require(v.ndim() == 3 && s.ndim() == 3 && basis.ndim() == 3,
          "krylov_projected: v, s and basis must be 3-D");
  const auto b = static_cast<std::size_t>(v.shape(0));
  const auto ny = static_cast<std::size_t>(v.shape(1));
  const auto nx = static_cast<std::size_t>(v.shape(2));
  const auto k = static_cast<std::size_t>(basis.shape(1));
  require(ny > 0 && nx > 0 && first < k, "krylov_projected: empty image or basis");
  require(static_cast<std::size_t>(basis.shape(0)) == b &&
              static_cast<std::size_t>(basis.shape(2)) == ny * nx,
          "krylov_projected: basis must have shape [batch, k, ny * nx]");
  require(s.shape(0) == v.shape(0) && s.shape(1) == v.shape(1) && s.shape(2) == v.shape(2),
          "krylov_projected: s must have the shape of v");
  const std::size_t m = k - first, n = ny * nx;
  carray<double> out({b, m, m});
  const double *pb = basis.data(), *pv = v.data(), *ps = s.data();
  double* po = out.mutable_data();
  {
    py::gil_scoped_release release;
    for (std::size_t i = 0; i < b; ++i)
      pyscale::krylov_projected(pb + (i * k + first) * n, n, m, pv + i * n, ps + i * n, ny, nx,
                                po + i * m * m);
  }
  return out;
}

template <class T>
void require_shape(const carray<T>& a, std::size_t b, std::size_t ny, std::size_t nx,
                   const char* what) {
  require(a.ndim() == 3 && static_cast<std::size_t>(a.shape(0)) == b &&
              static_cast<std::size_t>(a.shape(1)) == ny &&
              static_cast<std::size_t>(a.shape(2)) == nx,
          std::string("osmosis_solve: ") + what + " has the wrong shape");
}

pyscale::StepMethod step_method(const std::string& method) {
  if (method == "bicgstab") return pyscale::StepMethod::bicgstab;
  if (method == "cg") return pyscale::StepMethod::cg;
  throw std::invalid_argument("osmosis_solve: unknown method " + method);
}

pyscale::StepPrecond step_precond(const std::string& precond) {
  if (precond == "none") return pyscale::StepPrecond::none;
  if (precond == "jacobi") return pyscale::StepPrecond::jacobi;
  if (precond == "dct") return pyscale::StepPrecond::dct;
  if (precond == "two-level") return pyscale::StepPrecond::two_level;
  if (precond == "red-black") return pyscale::StepPrecond::red_black;
  if (precond == "aggregation") return pyscale::StepPrecond::aggregation;
  throw std::invalid_argument("osmosis_solve: unknown preconditioner " + precond);
}

// The data of an optional [nb, ny, nx] argument of osmosis_solve (null for None); `keep` holds
// the converted array.
template <class T>
const T* optional_images(const py::object& obj, carray<T>& keep, std::size_t nb, std::size_t ny,
                         std::size_t nx, const char* what) {
  if (obj.is_none()) return nullptr;
  keep = obj.cast<carray<T>>();
  require_shape(keep, nb, ny, nx, what);
  return keep.data();
}

// The aggregation hierarchies of a guidance batch v [batch, ny, nx] (see aggregation.hpp), built
// once and passed to every osmosis_solve of a trajectory with that guidance, as a capsule.
struct AggHierarchies {
  std::size_t nb = 0, ny = 0, nx = 0;
  std::vector<std::unique_ptr<pyscale::AggHierarchy>> images;
  std::vector<const pyscale::AggHierarchy*> pointers;
};

constexpr const char* kHierarchiesName = "pyscale.aggregation_hierarchies";

py::capsule aggregation_hierarchies(carray<double> v, int workers) {
  require(v.ndim() == 3, "aggregation_hierarchies: v must be 3-D");
  require(workers >= 1, "aggregation_hierarchies: workers must be >= 1");
  std::unique_ptr<AggHierarchies> h(new AggHierarchies);
  h->nb = static_cast<std::size_t>(v.shape(0));
  h->ny = static_cast<std::size_t>(v.shape(1));
  h->nx = static_cast<std::size_t>(v.shape(2));
  require(h->ny > 0 && h->nx > 0, "aggregation_hierarchies: empty image");
  h->images.resize(h->nb);
  const double* pv = v.data();
  const std::size_t n = h->ny * h->nx;
  {
    py::gil_scoped_release release;
    pyscale::Team team(static_cast<int>(
        std::min<std::size_t>(static_cast<std::size_t>(workers), std::max<std::size_t>(h->nb, 1))));
    team.run(h->nb, [&](int, std::size_t k0, std::size_t k1) {
      for (std::size_t k = k0; k < k1; ++k)
        h->images[k].reset(new pyscale::AggHierarchy(pv + k * n, h->ny, h->nx));
    });
  }
  for (const auto& p : h->images) h->pointers.push_back(p.get());
  return py::capsule(h.release(), kHierarchiesName,
                     [](void* p) { delete static_cast<AggHierarchies*>(p); });
}

// Batched implicit osmosis steps (I - tau A) x = b.
//   b, x0: [batch, ny, nx]; dx: [batch, ny, nx-1]; dy: [batch, ny-1, nx] (bicgstab; cg takes
//   None);
//   v: [batch, ny, nx] positive guidance or None (required by cg);
//   method: "bicgstab" | "cg"; precond: "none" | "jacobi" | "dct" | "two-level" | "red-black" |
//   "aggregation" (see osmosis_step); workers: threads, over the images of the batch and inside
//   them (see osmosis_steps); islands: [batch, ny, nx] int32 island of each pixel (-1 for none) or
//   None, deflated by cg with the two-level preconditioner (see islands.hpp).
//   hierarchies: aggregation_hierarchies(v) or None, for the aggregation preconditioner.
// Returns (x, iterations, residual, converged, restarts).
template <class T>
py::tuple osmosis_solve(carray<T> b, carray<T> x0, py::object dx_obj, py::object dy_obj,
                        py::object v_obj, double tau, const std::string& method,
                        const std::string& precond, double rtol, long long maxiter,
                        double breakdown, int workers, py::object islands_obj,
                        py::object hierarchies_obj) {
  require(b.ndim() == 3, "osmosis_solve: b must be 3-D");
  const auto nb = static_cast<std::size_t>(b.shape(0));
  const auto ny = static_cast<std::size_t>(b.shape(1));
  const auto nx = static_cast<std::size_t>(b.shape(2));
  const std::size_t n = ny * nx;
  require(ny > 0 && nx > 0, "osmosis_solve: empty image");
  require_shape(x0, nb, ny, nx, "x0");
  require(maxiter >= 1, "osmosis_solve: maxiter must be >= 1");
  require(workers >= 1, "osmosis_solve: workers must be >= 1");
  require(tau > 0, "osmosis_solve: tau must be positive");
  const pyscale::StepMethod m = step_method(method);
  const pyscale::StepPrecond pre = step_precond(precond);
  carray<T> v;
  const T* pv = optional_images(v_obj, v, nb, ny, nx, "v");
  require(m != pyscale::StepMethod::cg || pv != nullptr, "osmosis_solve: cg needs the guidance v");
  require(pre != pyscale::StepPrecond::red_black || m == pyscale::StepMethod::cg,
          "osmosis_solve: the red-black reduction needs cg");
  require(pre != pyscale::StepPrecond::aggregation || m == pyscale::StepMethod::cg,
          "osmosis_solve: the aggregation multigrid needs cg");
  carray<T> dx, dy;
  const T* pdx = optional_images(dx_obj, dx, nb, ny, nx - 1, "dx");
  const T* pdy = optional_images(dy_obj, dy, nb, ny - 1, nx, "dy");
  require(m == pyscale::StepMethod::cg || (pdx && pdy), "osmosis_solve: bicgstab needs dx and dy");
  carray<std::int32_t> islands;
  const std::int32_t* pislands = optional_images(islands_obj, islands, nb, ny, nx, "islands");
  carray<T> x({nb, ny, nx});
  std::copy(x0.data(), x0.data() + nb * n, x.mutable_data());
  const pyscale::AggHierarchy* const* phier = nullptr;
  if (!hierarchies_obj.is_none()) {
    const auto cap = py::reinterpret_borrow<py::capsule>(hierarchies_obj);
    require(PyCapsule_CheckExact(hierarchies_obj.ptr()) &&
                std::string(cap.name() ? cap.name() : "") == kHierarchiesName,
            "osmosis_solve: hierarchies must come from aggregation_hierarchies");
    const auto* h = cap.get_pointer<AggHierarchies>();
    require(h->nb == nb && h->ny == ny && h->nx == nx,
            "osmosis_solve: the hierarchies were built for another shape");
    phier = h->pointers.data();
  }
  const pyscale::StepBatch<T> batch{nb,  ny,  nx, b.data(), x.mutable_data(),
                                    pdx, pdy, pv, pislands, phier};
  std::vector<pyscale::SolveInfo> info(nb);
  {
    py::gil_scoped_release release;
    pyscale::osmosis_steps(batch, static_cast<T>(tau), m, pre, rtol,
                           static_cast<std::size_t>(maxiter), breakdown, workers, info.data());
  }
  py::array_t<long long> iters(static_cast<py::ssize_t>(nb));
  py::array_t<double> res(static_cast<py::ssize_t>(nb));
  py::array_t<bool> conv(static_cast<py::ssize_t>(nb));
  py::array_t<long long> restarts(static_cast<py::ssize_t>(nb));
  long long* pit = iters.mutable_data();
  double* pres = res.mutable_data();
  bool* pconv = conv.mutable_data();
  long long* prst = restarts.mutable_data();
  for (std::size_t k = 0; k < nb; ++k) {
    pit[k] = static_cast<long long>(info[k].iterations);
    pres[k] = info[k].residual;
    pconv[k] = info[k].converged;
    prst[k] = static_cast<long long>(info[k].restarts);
  }
  return py::make_tuple(x, iters, res, conv, restarts);
}

// M x with M = I - tau A as the solver applies it (five-point stencil), for tests.
template <class T>
carray<T> osmosis_step_matvec(carray<T> x, carray<T> dx, carray<T> dy, double tau) {
  require(x.ndim() == 3, "osmosis_step_matvec: x must be 3-D");
  const auto nb = static_cast<std::size_t>(x.shape(0));
  const auto ny = static_cast<std::size_t>(x.shape(1));
  const auto nx = static_cast<std::size_t>(x.shape(2));
  require(ny > 0 && nx > 0, "osmosis_step_matvec: empty image");
  require_shape(dx, nb, ny, nx - 1, "dx");
  require_shape(dy, nb, ny - 1, nx, "dy");
  carray<T> out({nb, ny, nx});
  const std::size_t n = ny * nx;
  {
    py::gil_scoped_release release;
    for (std::size_t k = 0; k < nb; ++k)
      pyscale::osmosis_step_matvec(x.data() + k * n, out.mutable_data() + k * n,
                                   dx.data() + k * ny * (nx - 1), dy.data() + k * (ny - 1) * nx, ny,
                                   nx, static_cast<T>(tau));
  }
  return out;
}

// S w with S = diag(v) + tau K, the symmetric form of the step, for tests.
template <class T>
carray<T> osmosis_spd_matvec(carray<T> w, carray<T> v, double tau) {
  require(w.ndim() == 3, "osmosis_spd_matvec: w must be 3-D");
  const auto nb = static_cast<std::size_t>(w.shape(0));
  const auto ny = static_cast<std::size_t>(w.shape(1));
  const auto nx = static_cast<std::size_t>(w.shape(2));
  require(ny > 0 && nx > 0, "osmosis_spd_matvec: empty image");
  require_shape(v, nb, ny, nx, "v");
  carray<T> out({nb, ny, nx});
  const std::size_t n = ny * nx;
  {
    py::gil_scoped_release release;
    for (std::size_t k = 0; k < nb; ++k)
      pyscale::osmosis_spd_matvec(w.data() + k * n, out.mutable_data() + k * n, v.data() + k * n,
                                  ny, nx, static_cast<T>(tau));
  }
  return out;
}

// ---- DCT ----------------------------------------------------------------------------------

// A block of the scratch pool that a result array owns.
struct PooledBlock {
  void* ptr;
  std::size_t bytes;
};

// A new C-contiguous array for a result: from pyscale::kPooledBytes on in memory of the scratch
// pool (huge pages from 2 MiB), which the array gives back when it is freed (see scratch.hpp),
// smaller ones from numpy.
template <class T>
carray<T> new_array(const std::vector<py::ssize_t>& shape) {
  std::size_t count = 1;
  for (py::ssize_t s : shape) count *= static_cast<std::size_t>(s);
  const std::size_t bytes = count * sizeof(T);
  if (bytes < pyscale::kPooledBytes) return carray<T>(shape);
  std::unique_ptr<PooledBlock> block(new PooledBlock{pyscale::take_block(bytes), bytes});
  py::capsule owner(block.get(), [](void* b) {
    const std::unique_ptr<PooledBlock> held(static_cast<PooledBlock*>(b));
    pyscale::give_block(held->ptr, held->bytes);
  });
  T* data = static_cast<T*>(block.release()->ptr);
  return carray<T>(shape, data, owner);
}

// `out` given by the caller: a writable C-contiguous array of dtype T and the given shape.
template <class T>
T* output_buffer(const py::object& out, const std::vector<py::ssize_t>& shape, const char* who) {
  require(py::isinstance<py::array>(out), std::string(who) + ": out must be a numpy array");
  auto a = py::reinterpret_borrow<py::array>(out);
  // Equality, not identity: an unpickled or byte-swapped-then-converted dtype is a different
  // object.
  require(a.dtype().equal(py::dtype::of<T>()), std::string(who) + ": out has the wrong dtype");
  require((a.flags() & py::array::c_style) != 0 && a.writeable(),
          std::string(who) + ": out must be writable and C-contiguous");
  require(static_cast<std::size_t>(a.ndim()) == shape.size() &&
              std::equal(shape.begin(), shape.end(), a.shape()),
          std::string(who) + ": out has the wrong shape");
  return static_cast<T*>(a.mutable_data());
}

// Where a result of `shape` goes: `out` (checked) if given, else a new array. `result` is set to
// the object to return.
template <class T>
T* result_buffer(const py::object& out, const std::vector<py::ssize_t>& shape, const char* who,
                 py::object& result) {
  if (!out.is_none()) {
    result = out;
    return output_buffer<T>(out, shape, who);
  }
  carray<T> o = new_array<T>(shape);
  result = o;
  return o.mutable_data();
}

// x: [batch, ny, nx]. Orthonormal 2-D DCT-II over the last two axes (DCT-III if inverse). With
// out (same shape and dtype, may be x itself) the result is written there and out is returned.
// With check, the pair (result, whether all its values are finite) is returned.
template <class T>
py::object dct2(carray<T> x, bool inverse, int workers, py::object out, bool check) {
  require(x.ndim() == 3, "dct2: x must be 3-D [batch, ny, nx]");
  require(workers >= 1, "dct2: workers must be >= 1");
  const auto b = static_cast<std::size_t>(x.shape(0));
  const auto ny = static_cast<std::size_t>(x.shape(1));
  const auto nx = static_cast<std::size_t>(x.shape(2));
  const std::vector<py::ssize_t> shape(x.shape(), x.shape() + 3);
  py::object result;
  T* po = result_buffer<T>(out, shape, "dct2", result);
  const T* px = x.data();
  bool finite;
  {
    py::gil_scoped_release release;
    finite = pyscale::dct2d(px, po, b, ny, nx, inverse, workers);
  }
  if (check) return py::make_tuple(result, finite);
  return result;
}

// The ziggurat tables (X, F), both required (pyscale.noise.ZIGGURAT_X and ZIGGURAT_F).
void ziggurat_tables(const py::object& zx, const py::object& zf, carray<double>& X,
                     carray<double>& F, const char* who) {
  require(!zx.is_none() && !zf.is_none(), std::string(who) + ": the ziggurat tables are required");
  X = zx.cast<carray<double>>();
  F = zf.cast<carray<double>>();
  require(X.ndim() == 1 && X.shape(0) == 257 && F.ndim() == 1 && F.shape(0) == 257,
          std::string(who) + ": the ziggurat tables must have 257 entries");
}

// u0: [batch, ny, nx]; coef_a, coef_b: [nframes, nplanes, ny, nx] float64; plane_of: None (one
// plane) or int64 [batch], the coefficient plane of each image. Returns (or fills `out` with) the
// frames [nframes, batch, ny, nx]: state = DCT-II(u0); per frame k and image i with p =
// plane_of[i], state[i] = coef_a[k, p] state[i] + coef_b[k, p] z(seed, stream k, start + flat
// index); frame = DCT-III(state).
template <class T>
py::object dct_trajectory(carray<T> u0, carray<double> coef_a, carray<double> coef_b,
                          std::uint64_t seed, bool add_noise, int workers, std::uint64_t start,
                          py::object zig_x, py::object zig_f, py::object out,
                          py::object plane_of_obj, bool check) {
  require(u0.ndim() == 3, "dct_trajectory: u0 must be 3-D [batch, ny, nx]");
  require(workers >= 1, "dct_trajectory: workers must be >= 1");
  const auto b = static_cast<std::size_t>(u0.shape(0));
  const auto ny = static_cast<std::size_t>(u0.shape(1));
  const auto nx = static_cast<std::size_t>(u0.shape(2));
  require(coef_a.ndim() == 4 && static_cast<std::size_t>(coef_a.shape(2)) == ny &&
              static_cast<std::size_t>(coef_a.shape(3)) == nx && coef_a.shape(1) >= 1,
          "dct_trajectory: coef_a must have shape [nframes, nplanes, ny, nx]");
  require(coef_b.ndim() == 4 && std::equal(coef_a.shape(), coef_a.shape() + 4, coef_b.shape()),
          "dct_trajectory: coef_b must have the shape of coef_a");
  const auto nf = static_cast<std::size_t>(coef_a.shape(0));
  const auto np_ = static_cast<std::size_t>(coef_a.shape(1));
  carray<std::int64_t> plane_of;
  const std::int64_t* pp = nullptr;
  if (!plane_of_obj.is_none()) {
    plane_of = plane_of_obj.cast<carray<std::int64_t>>();
    require(plane_of.ndim() == 1 && static_cast<std::size_t>(plane_of.shape(0)) == b,
            "dct_trajectory: plane_of must have one entry per image");
    pp = plane_of.data();
    require(
        std::all_of(pp, pp + b,
                    [np_](std::int64_t p) { return p >= 0 && static_cast<std::size_t>(p) < np_; }),
        "dct_trajectory: plane_of out of range");
  } else {
    require(np_ == 1, "dct_trajectory: several coefficient planes need plane_of");
  }
  carray<double> X, F;
  ziggurat_tables(zig_x, zig_f, X, F, "dct_trajectory");
  const std::vector<py::ssize_t> shape{static_cast<py::ssize_t>(nf), u0.shape(0), u0.shape(1),
                                       u0.shape(2)};
  py::object result;
  T* po = result_buffer<T>(out, shape, "dct_trajectory", result);
  const T* pu = u0.data();
  const double* pa = coef_a.data();
  const double* pb = coef_b.data();
  const double* px = X.data();
  const double* pf = F.data();
  bool finite;
  {
    py::gil_scoped_release release;
    finite = pyscale::dct_trajectory(pu, po, b, ny, nx, nf, np_, pp, pa, pb, seed, add_noise,
                                     workers, px, pf, start);
  }
  if (check) return py::make_tuple(result, finite);
  return result;
}

// The deviates of flat indices start .. start + n - 1 of (seed, stream), float64.
carray<double> counter_normal(std::uint64_t seed, std::uint64_t stream, py::ssize_t n,
                              std::uint64_t start, py::object zig_x, py::object zig_f) {
  require(n >= 0, "counter_normal: n must be >= 0");
  carray<double> X, F;
  ziggurat_tables(zig_x, zig_f, X, F, "counter_normal");
  carray<double> out(std::vector<py::ssize_t>{n});
  double* po = out.mutable_data();
  const std::uint64_t key = pyscale::noise::stream_key(seed, stream);
  pyscale::noise::ZigguratNormal{X.data(), F.data()}.fill(po, static_cast<std::size_t>(n), key,
                                                          start);
  return out;
}

}  // namespace

PYBIND11_MODULE(_core, m) {
  m.doc() = "Compiled kernels of pyscale (private; use the functions of the pyscale package).";
  m.def("osmosis_apply", &osmosis_apply<double>, py::arg("u"), py::arg("dx"), py::arg("dy"));
  m.def("osmosis_apply", &osmosis_apply<float>, py::arg("u"), py::arg("dx"), py::arg("dy"));
  m.def("osmosis_drift", &osmosis_drift<double>, py::arg("v"));
  m.def("osmosis_drift", &osmosis_drift<float>, py::arg("v"));
  m.def("image_stats", &image_stats<double>, py::arg("a"));
  m.def("image_stats", &image_stats<float>, py::arg("a"));
  m.def("krylov_projected", &krylov_projected, py::arg("basis"), py::arg("first"), py::arg("v"),
        py::arg("s"));
  m.def("dct2", &dct2<double>, py::arg("x"), py::arg("inverse") = false, py::arg("workers") = 1,
        py::arg("out") = py::none(), py::arg("check") = false);
  m.def("dct2", &dct2<float>, py::arg("x"), py::arg("inverse") = false, py::arg("workers") = 1,
        py::arg("out") = py::none(), py::arg("check") = false);
  m.def("dct_trajectory", &dct_trajectory<double>, py::arg("u0"), py::arg("coef_a"),
        py::arg("coef_b"), py::arg("seed"), py::arg("add_noise"), py::arg("workers"),
        py::arg("start"), py::arg("zig_x"), py::arg("zig_f"), py::arg("out") = py::none(),
        py::arg("plane_of") = py::none(), py::arg("check") = false);
  m.def("dct_trajectory", &dct_trajectory<float>, py::arg("u0"), py::arg("coef_a"),
        py::arg("coef_b"), py::arg("seed"), py::arg("add_noise"), py::arg("workers"),
        py::arg("start"), py::arg("zig_x"), py::arg("zig_f"), py::arg("out") = py::none(),
        py::arg("plane_of") = py::none(), py::arg("check") = false);
  m.def("counter_normal", &counter_normal, py::arg("seed"), py::arg("stream"), py::arg("n"),
        py::arg("start"), py::arg("zig_x"), py::arg("zig_f"));
  m.def("aggregation_hierarchies", &aggregation_hierarchies, py::arg("v"), py::arg("workers") = 1);
#define PYSCALE_DEF_SOLVE(T)                                                                \
  m.def("osmosis_solve", &osmosis_solve<T>, py::arg("b"), py::arg("x0"), py::arg("dx"),     \
        py::arg("dy"), py::arg("v"), py::arg("tau"), py::arg("method"), py::arg("precond"), \
        py::arg("rtol"), py::arg("maxiter"), py::arg("breakdown"), py::arg("workers"),      \
        py::arg("islands") = py::none(), py::arg("hierarchies") = py::none());              \
  m.def("osmosis_step_matvec", &osmosis_step_matvec<T>, py::arg("x"), py::arg("dx"),        \
        py::arg("dy"), py::arg("tau"));                                                     \
  m.def("osmosis_spd_matvec", &osmosis_spd_matvec<T>, py::arg("w"), py::arg("v"), py::arg("tau"));
  PYSCALE_DEF_SOLVE(double)
  PYSCALE_DEF_SOLVE(float)
#undef PYSCALE_DEF_SOLVE
}
