// Threads inside one image: every osmosis solver and preconditioner must give bit-identical
// results for teams of 1, 2 and 3 threads, and converge. Built and run under ThreadSanitizer by
// tools/sanitize.sh, which also catches data races between the members of a team.
#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <vector>

#include "osmosis.hpp"

using namespace pyscale;

int main() {
  const std::size_t ny = 97, nx = 131, n = ny * nx;
  const double tau = 50.0;
  std::mt19937 gen(1);
  std::uniform_real_distribution<double> uniform(0.05, 1.0);
  std::vector<double> v(n), f(n), dx(ny * (nx - 1)), dy((ny - 1) * nx), denom(n);
  for (auto& a : v) a = uniform(gen);
  for (auto& a : f) a = uniform(gen);
  osmosis_drift(v.data(), dx.data(), dy.data(), ny, nx);
  const double pi = std::acos(-1.0);
  for (std::size_t i = 0; i < ny; ++i)
    for (std::size_t j = 0; j < nx; ++j)
      denom[i * nx + j] =
          0.5 + tau * 0.4 * (4.0 - 2.0 * std::cos(pi * i / ny) - 2.0 * std::cos(pi * j / nx));

  int failures = 0;
  for (auto method : {StepMethod::cg, StepMethod::bicgstab})
    for (auto pre :
         {StepPrecond::none, StepPrecond::jacobi, StepPrecond::dct, StepPrecond::two_level}) {
      std::vector<double> first;
      SolveInfo first_info;
      for (int members : {1, 2, 3}) {
        Team team(members);
        RowBlocks rb(ny, nx, team);
        std::vector<double> x = f;
        const DctArgs<double> dct{denom.data(), nullptr,
                                  method == StepMethod::bicgstab ? v.data() : nullptr};
        const SolveInfo info = osmosis_step(rb, f.data(), x.data(), dx.data(), dy.data(), v.data(),
                                            tau, method, pre, dct, 1e-8, 10000, 1e-10);
        bool ok = info.converged;
        if (members == 1) {
          first = x;
          first_info = info;
        } else {
          ok = ok && std::memcmp(first.data(), x.data(), n * sizeof(double)) == 0 &&
               info.iterations == first_info.iterations && info.residual == first_info.residual;
        }
        if (!ok) {
          std::printf("FAIL method %d preconditioner %d team %d: %zu iterations, residual %g\n",
                      static_cast<int>(method), static_cast<int>(pre), members, info.iterations,
                      info.residual);
          ++failures;
        }
      }
    }
  std::printf("%s\n", failures ? "team threads: FAILED" : "team threads: ok");
  return failures ? 1 : 0;
}
