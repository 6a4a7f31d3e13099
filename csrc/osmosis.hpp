// Osmosis operator of the Vogel-Hagenburg-Weickert-Setzer discretisation (grid size h = 1,
// reflecting boundaries). Pure C++: no Python types in this header.
//
// For an image u of ny x nx pixels and drift components on the half-grid points,
//   dx[i][j] between (i, j) and (i, j+1), shape ny x (nx-1),
//   dy[i][j] between (i, j) and (i+1, j), shape (ny-1) x nx,
// the flux across a half-grid point is F = (u_right - u_left) - d (u_right + u_left) / 2 and
// (A u)_p is the sum of the fluxes entering pixel p minus those leaving it.
#pragma once

#include <cstddef>

namespace pyscale {

// Canonical drift d = 2 (v_right - v_left) / (v_right + v_left) of a positive guidance image v.
template <class T>
void osmosis_drift(const T* v, T* dx, T* dy, std::size_t ny, std::size_t nx) {
  for (std::size_t i = 0; i < ny; ++i) {
    const T* row = v + i * nx;
    T* drow = dx + i * (nx - 1);
    for (std::size_t j = 0; j + 1 < nx; ++j)
      drow[j] = T(2) * (row[j + 1] - row[j]) / (row[j + 1] + row[j]);
  }
  for (std::size_t i = 0; i + 1 < ny; ++i) {
    const T* top = v + i * nx;
    const T* bottom = top + nx;
    T* drow = dy + i * nx;
    for (std::size_t j = 0; j < nx; ++j)
      drow[j] = T(2) * (bottom[j] - top[j]) / (bottom[j] + top[j]);
  }
}

// out = A u for one ny x nx image. out must not alias u.
template <class T>
void osmosis_apply(const T* u, T* out, const T* dx, const T* dy, std::size_t ny, std::size_t nx) {
  for (std::size_t k = 0; k < ny * nx; ++k) out[k] = T(0);
  for (std::size_t i = 0; i < ny; ++i) {
    const T* urow = u + i * nx;
    const T* drow = dx + i * (nx - 1);
    T* orow = out + i * nx;
    for (std::size_t j = 0; j + 1 < nx; ++j) {
      const T flux = (urow[j + 1] - urow[j]) - drow[j] * T(0.5) * (urow[j + 1] + urow[j]);
      orow[j] += flux;
      orow[j + 1] -= flux;
    }
  }
  for (std::size_t i = 0; i + 1 < ny; ++i) {
    const T* top = u + i * nx;
    const T* bottom = top + nx;
    const T* drow = dy + i * nx;
    T* otop = out + i * nx;
    T* obottom = otop + nx;
    for (std::size_t j = 0; j < nx; ++j) {
      const T flux = (bottom[j] - top[j]) - drow[j] * T(0.5) * (bottom[j] + top[j]);
      otop[j] += flux;
      obottom[j] -= flux;
    }
  }
}

}  // namespace pyscale
