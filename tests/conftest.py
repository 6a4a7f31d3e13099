"""Shared fixtures: small test images and per-dtype tolerances."""

import numpy as np
import pytest

RTOL = {np.float32: 2e-5, np.float64: 1e-11}


@pytest.fixture(params=[np.float64, np.float32], ids=["f64", "f32"])
def dtype(request):
    return request.param


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


@pytest.fixture
def grey(rng):
    return rng.uniform(0.1, 0.9, size=(9, 14))


@pytest.fixture
def colour(rng):
    return rng.uniform(0.1, 0.9, size=(7, 11, 3))
