// Threads of one team: the 2-D DCT, the DCT-domain trajectory, every osmosis solver and
// preconditioner and a batch of osmosis steps (a team over the images, each with a team inside
// its image) must give bit-identical results for any number of threads, and an exception of a
// task must reach the caller. Built and run under ThreadSanitizer by tools/sanitize.sh, which also
// catches data races between the members of a team.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <random>
#include <stdexcept>
#include <vector>

#include "dct.hpp"
#include "osmosis_batch.hpp"
#include "osmosis_step.hpp"
#include "team.hpp"
#include "trajectory.hpp"

using namespace pyscale;

namespace {

int failures = 0;

void check(bool ok, const char* what, int threads) {
  if (!ok) {
    std::printf("FAIL %s with %d threads\n", what, threads);
    ++failures;
  }
}

template <class T>
bool same(const std::vector<T>& a, const std::vector<T>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(T)) == 0;
}

std::vector<double> uniform_values(std::size_t n, double lo, double hi, unsigned seed) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<double> uniform(lo, hi);
  std::vector<double> a(n);
  for (auto& x : a) x = uniform(gen);
  return a;
}

// A stand-in for the ziggurat generator: any pure function of (key, index) will do.
struct HashNormal {
  double operator()(std::uint64_t key, std::uint64_t i) const {
    std::uint64_t z = key ^ (i * 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 31)) * 0xBF58476D1CE4E5B9ull;
    return static_cast<double>(z >> 11) * 0x1.0p-53 - 0.5;
  }
  void fill(double* out, std::size_t count, std::uint64_t key, std::uint64_t first) const {
    for (std::size_t j = 0; j < count; ++j) out[j] = (*this)(key, first + j);
  }
};

// batch 4: rows, then columns, as jobs of the team; batch 9 with 2 threads: whole images.
void dct_threads(std::size_t batch) {
  const std::size_t ny = 97, nx = 131, n = batch * ny * nx;  // up to 3 threads
  const std::vector<double> x = uniform_values(n, -1.0, 1.0, 2);
  std::vector<double> first;
  for (int workers : {1, 2, 3}) {
    std::vector<double> y(n), back(n);
    dct2d(x.data(), y.data(), batch, ny, nx, false, workers);
    dct2d(y.data(), back.data(), batch, ny, nx, true, workers);
    if (workers == 1) first = y;
    check(same(first, y), "dct2d", workers);
    double err = 0.0;
    for (std::size_t i = 0; i < n; ++i) err = std::fmax(err, std::fabs(back[i] - x[i]));
    check(err < 1e-12, "dct2d round trip", workers);
  }
}

void trajectory_threads() {
  const std::size_t batch = 3, ny = 97, nx = 171, nf = 3, np = 2, plane = ny * nx;
  const std::vector<double> u0 = uniform_values(batch * plane, 0.0, 1.0, 3);
  const std::vector<double> a = uniform_values(nf * np * plane, 0.5, 1.0, 4);
  std::vector<double> b = uniform_values(nf * np * plane, 0.0, 0.1, 5);
  for (std::size_t q = 0; q < np * plane; ++q) b[q] = 0.0;  // a frame without noise
  const std::int64_t plane_of[batch] = {1, 0, 1};
  std::vector<float> first;
  for (int workers : {1, 2, 3}) {
    std::vector<float> u(u0.begin(), u0.end()), out(nf * batch * plane);
    dct_trajectory_with(u.data(), out.data(), batch, ny, nx, nf, np, plane_of, a.data(), b.data(),
                        7, true, workers, HashNormal{}, 11);
    if (workers == 1) first = out;
    check(same(first, out), "dct_trajectory", workers);
  }
}

struct Problem {
  std::size_t ny, nx, n;
  double tau = 50.0;
  std::vector<double> v, f, dx, dy;
  Problem(std::size_t ny_, std::size_t nx_)
      : ny(ny_),
        nx(nx_),
        n(ny * nx),
        v(uniform_values(n, 0.05, 1.0, 1)),
        f(uniform_values(n, 0.05, 1.0, 6)) {
    dx.resize(ny * (nx - 1));
    dy.resize((ny - 1) * nx);
    osmosis_drift(v.data(), dx.data(), dy.data(), ny, nx);
  }
};

void solver_threads(const Problem& p) {
  for (auto method : {StepMethod::cg, StepMethod::bicgstab})
    for (auto pre : {StepPrecond::none, StepPrecond::jacobi, StepPrecond::dct,
                     StepPrecond::two_level, StepPrecond::red_black, StepPrecond::aggregation}) {
      const bool cg_only = pre == StepPrecond::red_black || pre == StepPrecond::aggregation;
      if (cg_only && method != StepMethod::cg) continue;
      std::vector<double> first;
      SolveInfo first_info;
      for (int members : {1, 2, 3}) {
        Team team(members);
        RowBlocks rb(p.ny, p.nx, team);
        std::vector<double> x = p.f;
        const SolveInfo info = osmosis_step(rb, p.f.data(), x.data(), p.dx.data(), p.dy.data(),
                                            p.v.data(), p.tau, method, pre, 1e-8, 10000, 1e-10);
        if (members == 1) {
          first = x;
          first_info = info;
        }
        const bool ok = info.converged && same(first, x) &&
                        info.iterations == first_info.iterations &&
                        info.residual == first_info.residual;
        if (!ok)
          std::printf("FAIL method %d preconditioner %d team %d: %zu iterations, residual %g\n",
                      static_cast<int>(method), static_cast<int>(pre), members, info.iterations,
                      info.residual);
        failures += ok ? 0 : 1;
      }
    }
}

// Conjugate gradients run the first sweep of the two-level preconditioner inside the residual
// update (StartsApart); the same solve through operator() alone must give the same bits.
template <class P>
struct Whole {
  P& pc;
  double operator()(RowBlocks& rb, const double* r, double* out, bool dot) const {
    return pc(rb, r, out, dot);
  }
};

void fused_start(const Problem& p) {
  using TwoLevel = TwoLevelPrecond<double, SymStencil5<float>>;
  static_assert(StartsApart<TwoLevel>::value && !StartsApart<Whole<TwoLevel>>::value, "split");
  for (int members : {1, 2}) {
    Team team(members);
    RowBlocks rb(p.ny, p.nx, team);
    GuidanceSums sums;
    const SymStencil5<double> m = osmosis_spd_stencil(rb, p.v.data(), p.tau, &sums);
    const SymStencil5<float> m32(m);
    const auto coarse = coarse_solve(rb, p.tau, &sums);
    std::vector<double> x[2], r[2];
    SolveInfo info[2];
    for (int k = 0; k < 2; ++k) {
      TwoLevel pc{m32, *coarse, nullptr, nullptr};
      x[k] = p.f;
      r[k].resize(p.n);
      if (k == 0) {
        info[k] = conjugate_gradient(rb, m, pc, p.f.data(), x[k].data(), r[k].data(), 1e-8, 1000);
      } else {
        Whole<TwoLevel> whole{pc};
        info[k] =
            conjugate_gradient(rb, m, whole, p.f.data(), x[k].data(), r[k].data(), 1e-8, 1000);
      }
    }
    check(info[0].converged && info[0].iterations == info[1].iterations && same(x[0], x[1]),
          "two-level start inside the update", members);
  }
}

// Two images of more than 32768 pixels on 1 .. 4 workers: a team over the images (2 and 3
// workers), teams inside them (one image on 2 or more workers) or both (4 workers).
void batch_threads(const Problem& p) {
  const std::size_t nb = 2, n = p.n;
  std::vector<double> b(nb * n), v(nb * n), dx(nb * p.dx.size()), dy(nb * p.dy.size());
  for (std::size_t k = 0; k < nb; ++k) {
    for (std::size_t q = 0; q < n; ++q) {
      b[k * n + q] = p.f[q] * (1.0 + 0.1 * static_cast<double>(k));
      v[k * n + q] = p.v[q];
    }
    std::copy(p.dx.begin(), p.dx.end(), dx.begin() + static_cast<long>(k * p.dx.size()));
    std::copy(p.dy.begin(), p.dy.end(), dy.begin() + static_cast<long>(k * p.dy.size()));
  }
  std::vector<double> first;
  for (std::size_t images : {nb, std::size_t{1}})
    for (int workers : {1, 2, 3, 4}) {
      std::vector<double> x = b;
      StepBatch<double> s;
      s.nb = images;
      s.ny = p.ny;
      s.nx = p.nx;
      s.b = b.data();
      s.x = x.data();
      s.dx = dx.data();
      s.dy = dy.data();
      s.v = v.data();
      std::vector<SolveInfo> info(images);
      osmosis_steps(s, p.tau, StepMethod::cg, StepPrecond::jacobi, 1e-8, 10000, 1e-10, workers,
                    info.data());
      x.resize(images * n);
      if (workers == 1) first = x;
      bool ok = same(first, x);
      for (const SolveInfo& i : info) ok = ok && i.converged;
      check(ok, images == 1 ? "osmosis_steps, one image" : "osmosis_steps", workers);
    }
}

void team_errors() {
  for (int members : {1, 2, 3}) {
    Team team(members);
    bool caught = false;
    try {
      team.run(100, [](int, std::size_t i0, std::size_t i1) {
        for (std::size_t i = i0; i < i1; ++i)
          if (i == 57) throw std::runtime_error("item 57");
      });
    } catch (const std::runtime_error&) {
      caught = true;
    }
    check(caught, "exception from a task", members);
    std::vector<int> seen(100, 0);  // the team still works
    team.run(100, [&](int, std::size_t i0, std::size_t i1) {
      for (std::size_t i = i0; i < i1; ++i) seen[i] += 1;
    });
    bool once = true;
    for (int c : seen) once = once && c == 1;
    check(once, "every item once after an exception", members);
  }
}

}  // namespace

int main() {
  dct_threads(4);
  dct_threads(9);
  trajectory_threads();
  solver_threads(Problem(97, 131));
  fused_start(Problem(97, 131));
  batch_threads(Problem(193, 171));
  team_errors();
  std::printf("%s\n", failures ? "team threads: FAILED" : "team threads: ok");
  return failures ? 1 : 0;
}
