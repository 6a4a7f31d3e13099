// Python bindings of the pyscale kernels: the module pyscale._core.
// Validation of user input happens in Python; these functions only check shapes.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <stdexcept>
#include <string>

#include "osmosis.hpp"

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
  require(static_cast<std::size_t>(dx.shape(0)) == b && static_cast<std::size_t>(dx.shape(1)) == ny &&
              static_cast<std::size_t>(dx.shape(2)) == nx - 1,
          "osmosis_apply: dx must have shape [batch, ny, nx-1]");
  require(static_cast<std::size_t>(dy.shape(0)) == b && static_cast<std::size_t>(dy.shape(1)) == ny - 1 &&
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
      pyscale::osmosis_drift(pv + k * ny * nx, px + k * ny * (nx - 1), py_ + k * (ny - 1) * nx, ny, nx);
  }
  return py::make_tuple(dx, dy);
}

}  // namespace

PYBIND11_MODULE(_core, m) {
  m.doc() = "Compiled kernels of pyscale (private; use the functions of the pyscale package).";
  m.def("osmosis_apply", &osmosis_apply<double>, py::arg("u"), py::arg("dx"), py::arg("dy"));
  m.def("osmosis_apply", &osmosis_apply<float>, py::arg("u"), py::arg("dx"), py::arg("dy"));
  m.def("osmosis_drift", &osmosis_drift<double>, py::arg("v"));
  m.def("osmosis_drift", &osmosis_drift<float>, py::arg("v"));
}
