"""Fused DPM jump (Numba, counter-based draws) against numpy's ``a*u + b*standard_normal``."""

import numpy as np
import pytest
from numpy.testing import assert_allclose

from pyscale.jumps import pixel_jump
from pyscale.noise import standard_normal

A, B = float(np.sqrt(1 - 0.01)), 0.1


@pytest.mark.benchmark(group="dpm-jump-16x321x481-f64")
def test_dpm_jump(ratio, benchmark):
    shape = (16, 321, 481) if not benchmark.disabled else (2, 21, 31)
    u = np.random.default_rng(0).random(shape)
    out = np.empty_like(u)
    rng = np.random.default_rng(1)

    def ours():
        pixel_jump(u, out, A, B, 5, 0, workers=1)
        return out

    def ref():
        return A * u + B * rng.standard_normal(u.shape)

    got, _, speedup = ratio(ours, ref, rounds=7)
    assert_allclose(got, A * u + B * standard_normal(5, 0, shape), rtol=1e-13, atol=1e-15)
    if speedup is not None:
        print(f"DPM jump speed-up over numpy: {speedup:.2f}x")
        assert speedup >= 3.0
