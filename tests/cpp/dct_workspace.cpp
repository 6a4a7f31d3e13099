// The DCT kernels never read a value of their work buffers that they did not write: the buffers
// come uninitialised from the scratch pool. Each transform runs twice, once after its work buffer
// was released to the pool filled with zeros and once filled with NaN; the results and the flags
// of finite output must agree bitwise, and the round trip must return the input. Built and run by
// tools/sanitize.sh; prints "ok" or what failed, and exits with 1 on a failure.
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "dct.hpp"

namespace {

using pyscale::dct_detail::Image2D;
using pyscale::dct_detail::Workspace;

int failures = 0;

void check(bool ok, const char* what, std::size_t b, std::size_t ny, std::size_t nx) {
  if (ok) return;
  std::printf("FAILED: %s, shape %zu x %zu x %zu\n", what, b, ny, nx);
  ++failures;
}

// The block a workspace of this transform takes from the pool, handed back filled with fill.
template <class T>
void release_filled(const Image2D<T>& img, T fill) {
  Workspace<T> ws;
  img.reserve(ws);
  std::fill(ws.mem.begin(), ws.mem.end(), fill);
}

template <class T>
struct Run {
  std::vector<T> coef, back;
  bool finite_coef = false, finite_back = false;
};

template <class T>
Run<T> transform(const std::vector<T>& x, std::size_t b, std::size_t ny, std::size_t nx, T fill) {
  const Image2D<T> img(b, ny, nx);
  Run<T> r;
  r.coef.resize(x.size());
  r.back.resize(x.size());
  release_filled(img, fill);
  r.finite_coef = pyscale::dct2d(x.data(), r.coef.data(), b, ny, nx, false, 1);
  release_filled(img, fill);
  r.finite_back = pyscale::dct2d(r.coef.data(), r.back.data(), b, ny, nx, true, 1);
  return r;
}

template <class T>
bool same_bits(const std::vector<T>& a, const std::vector<T>& b) {
  return std::memcmp(a.data(), b.data(), a.size() * sizeof(T)) == 0;
}

template <class T>
void shapes(double tol) {
  // Work buffers of 256 KiB and more come from the pool; partial blocks, odd lengths and a
  // length with a large prime factor (257, Bluestein's algorithm) are among them.
  const std::size_t cases[][3] = {{3, 256, 256}, {1, 257, 300}, {2, 300, 263}, {1, 33, 600}};
  std::mt19937 gen(7);
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  for (const auto& c : cases) {
    std::vector<T> x(c[0] * c[1] * c[2]);
    for (T& v : x) v = static_cast<T>(unit(gen));
    const Run<T> zero = transform<T>(x, c[0], c[1], c[2], T(0));
    const Run<T> nan = transform<T>(x, c[0], c[1], c[2], std::numeric_limits<T>::quiet_NaN());
    check(zero.finite_coef && zero.finite_back, "finite flags", c[0], c[1], c[2]);
    check(nan.finite_coef && nan.finite_back, "finite flags after NaN", c[0], c[1], c[2]);
    check(same_bits(zero.coef, nan.coef) && same_bits(zero.back, nan.back), "same bits", c[0], c[1],
          c[2]);
    double err = 0.0;
    for (std::size_t i = 0; i < x.size(); ++i)
      err = std::fmax(err, std::fabs(static_cast<double>(nan.back[i]) - x[i]));
    check(err < tol, "round trip", c[0], c[1], c[2]);
  }
}

}  // namespace

int main() {
  shapes<double>(1e-12);
  shapes<float>(1e-5);
  if (failures) return 1;
  std::printf("ok\n");
  return 0;
}
