"""Benchmark: Fréchet distance via a symmetric eigenproblem against the sqrtm formula."""

import time

import numpy as np
import pytest
from scipy import linalg

from pyscale.paper.fid import frechet_distance


def _sqrtm_frechet(mu1, s1, mu2, s2):
    covmean = linalg.sqrtm(s1 @ s2)
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean).real)


def _stats(rng, n, d):
    x = rng.standard_normal((n, d)).astype(np.float64)
    x[:, : d // 2] *= 2.0
    return x.mean(axis=0), np.cov(x, rowvar=False)


def test_frechet_faster_than_sqrtm(benchmark):
    # full Inception size when benchmarking; small when run as a plain test (--benchmark-disable)
    d = 256 if benchmark.disabled else 2048
    rng = np.random.default_rng(0)
    m1, s1 = _stats(rng, d + 200, d)
    m2, s2 = _stats(rng, d + 200, d)
    m2 = m2 + 0.1
    t = time.perf_counter()
    ref = _sqrtm_frechet(m1, s1, m2, s2)
    t_sqrtm = time.perf_counter() - t
    rounds = 1 if benchmark.disabled else 3
    t = time.perf_counter()
    ours = benchmark.pedantic(frechet_distance, args=(m1, s1, m2, s2), rounds=rounds, iterations=1)
    t_ours = (time.perf_counter() - t) / rounds
    benchmark.extra_info.update(dim=d, sqrtm_seconds=t_sqrtm, eigh_seconds=t_ours)
    assert ours == pytest.approx(ref, rel=1e-6)
    if not benchmark.disabled:
        print(
            f"Frechet distance {d}x{d}: eigh {t_ours:.2f} s, sqrtm {t_sqrtm:.2f} s "
            f"({t_sqrtm / t_ours:.1f}x faster)"
        )
        assert t_ours < t_sqrtm, f"eigh {t_ours:.2f} s, sqrtm {t_sqrtm:.2f} s"
