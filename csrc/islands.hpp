// The island deflation of the two-level preconditioner. Pure C++: no Python types in this
// header.
//
// A guidance with pixels clipped to a tiny value (a dark photo under probabilistic osmosis)
// cuts the SPD form S into pieces: the edge weight 2 v_p v_q / (v_p + v_q) of a clipped pixel is
// about twice its tiny value. An island, a group of well-coupled pixels surrounded by clipped
// ones, is then nearly decoupled from the rest, and the constant on it is a near-null vector of
// S that neither the homogeneous coarse operator nor the Jacobi sweeps see, and conjugate
// gradients spend iterations on each (19 islands of 64 pixels in all cost a BSDS500 photo 150
// iterations a step). The islands are the connected components of the pixels that are not
// clipped, without the largest (the coarse operator covers it) and single pixels (the Jacobi
// sweeps do); the caller finds them. They are disjoint and never adjacent, so with
// Z = [z_1, z_2, ...] their indicators, E = Z^T S Z is diagonal and Q = Z E^-1 Z^T costs a sum
// and an update per island.
//
// The deflation is A-DEF2 (Tang, Nabben, Vuik, Erlangga 2009): the preconditioner M becomes
// z = M r + Q (r - S M r), with the start corrected once to x + Q (b - S x). Only pixels of
// islands and their neighbours are read, so an iteration costs little more. A plain additive
// Q r measured worse: it counts the part of an island that M already solves twice (one or two
// more iterations on guidance with few islands).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace pyscale {

// labels[p] = island of pixel p (0, 1, ... within the image), -1 for a pixel in none; m is the
// SPD form as a symmetric five-point stencil (SymStencil5<T>: fields ny, nx, c, e, s).
template <class T>
class IslandDeflation {
 public:
  template <class Stencil>
  IslandDeflation(const std::int32_t* labels, const Stencil& m) {
    const std::size_t ny = m.ny, nx = m.nx;
    const T *c = m.c.data(), *e = m.e.data(), *s = m.s.data();
    // The neighbours (pixel, coupling) of pixel p = i nx + j inside the image.
    auto each_side = [&](std::size_t i, std::size_t j, auto&& fn) {
      const std::size_t p = i * nx + j;
      if (j + 1 < nx) fn(p + 1, e[p]);
      if (j > 0) fn(p - 1, e[p - 1]);
      if (i + 1 < ny) fn(p + nx, s[p]);
      if (i > 0) fn(p - nx, s[p - nx]);
    };
    // First pass: the pixels and the rim entries of each island.
    std::vector<std::size_t> npix, nrim;
    for (std::size_t i = 0; i < ny; ++i)
      for (std::size_t j = 0; j < nx; ++j) {
        const std::int32_t id = labels[i * nx + j];
        if (id < 0) continue;
        const auto k = static_cast<std::size_t>(id);
        if (k >= npix.size()) {
          npix.resize(k + 1, 0);
          nrim.resize(k + 1, 0);
        }
        ++npix[k];
        each_side(i, j, [&](std::size_t q, T) { nrim[k] += labels[q] != id; });
      }
    const std::size_t count = npix.size();
    pix_start_.assign(count + 1, 0);
    rim_start_.assign(count + 1, 0);
    for (std::size_t k = 0; k < count; ++k) {
      pix_start_[k + 1] = pix_start_[k] + npix[k];
      rim_start_[k + 1] = rim_start_[k] + nrim[k];
    }
    pix_.resize(pix_start_[count]);
    g_.resize(pix_start_[count]);
    rim_.resize(rim_start_[count]);
    h_.resize(rim_start_[count]);
    // Second pass: S z_k is g_p = c_p + (the couplings of p within island k) on the pixels of
    // island k and the coupling h_q to it on the clipped pixels q of its rim (the only other
    // neighbours of an island); E_kk = z_k^T S z_k is the sum of g over the island.
    std::vector<std::size_t> next_pix(pix_start_.begin(), pix_start_.end() - 1);
    std::vector<std::size_t> next_rim(rim_start_.begin(), rim_start_.end() - 1);
    std::vector<double> energy(count, 0.0);
    for (std::size_t i = 0; i < ny; ++i)
      for (std::size_t j = 0; j < nx; ++j) {
        const std::size_t p = i * nx + j;
        const std::int32_t id = labels[p];
        if (id < 0) continue;
        const auto k = static_cast<std::size_t>(id);
        T g = c[p];
        each_side(i, j, [&](std::size_t q, T coupling) {
          if (labels[q] == id) {
            g += coupling;
          } else {
            rim_[next_rim[k]] = q;
            h_[next_rim[k]++] = coupling;
          }
        });
        pix_[next_pix[k]] = p;
        g_[next_pix[k]++] = g;
        energy[k] += static_cast<double>(g);
      }
    inv_energy_.resize(count);
    for (std::size_t k = 0; k < count; ++k)
      inv_energy_[k] = energy[k] > 0.0 ? 1.0 / energy[k] : 0.0;
  }

  bool empty() const { return inv_energy_.empty(); }

  // The start: x += Q r and r -= S Q r, for the residual r = b - S x.
  void correct_start(T* x, T* r) const {
    for (std::size_t k = 0; k < inv_energy_.size(); ++k) {
      double rs = 0.0;
      for (std::size_t a = pix_start_[k]; a < pix_start_[k + 1]; ++a)
        rs += static_cast<double>(r[pix_[a]]);
      const T coef = static_cast<T>(rs * inv_energy_[k]);
      for (std::size_t a = pix_start_[k]; a < pix_start_[k + 1]; ++a) {
        x[pix_[a]] += coef;
        r[pix_[a]] -= g_[a] * coef;
      }
      for (std::size_t a = rim_start_[k]; a < rim_start_[k + 1]; ++a) r[rim_[a]] -= h_[a] * coef;
    }
  }

  // out = y + Q (r - S y) for y = out on entry; returns what this adds to <r, out>. Islands
  // never touch each other, so each is done in one go.
  double apply(const T* r, T* out) const {
    double dot = 0.0;
    for (std::size_t k = 0; k < inv_energy_.size(); ++k) {
      double rs = 0.0, sy = 0.0;
      for (std::size_t a = pix_start_[k]; a < pix_start_[k + 1]; ++a) {
        rs += static_cast<double>(r[pix_[a]]);
        sy += static_cast<double>(g_[a] * out[pix_[a]]);
      }
      for (std::size_t a = rim_start_[k]; a < rim_start_[k + 1]; ++a)
        sy += static_cast<double>(h_[a] * out[rim_[a]]);
      const T coef = static_cast<T>((rs - sy) * inv_energy_[k]);
      for (std::size_t a = pix_start_[k]; a < pix_start_[k + 1]; ++a) out[pix_[a]] += coef;
      dot += static_cast<double>(coef) * rs;
    }
    return dot;
  }

 private:
  std::vector<std::size_t> pix_start_, rim_start_;  // island k: [start[k], start[k + 1])
  std::vector<std::size_t> pix_, rim_;              // its pixels, its rim (clipped pixels)
  std::vector<T> g_, h_;                            // their entries of S z_k
  std::vector<double> inv_energy_;                  // 1 / E_kk
};

}  // namespace pyscale
