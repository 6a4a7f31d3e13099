"""The compiled osmosis operator against the assembled scipy.sparse matrix of the reference."""

import numpy as np
import pytest
from numpy.testing import assert_allclose

import pyscale as ps
from pyscale import reference
from pyscale.osmosis import osmosis_drift, osmosis_operator


@pytest.mark.parametrize("shape", [(1, 1), (1, 7), (6, 1), (5, 8), (13, 9)], ids=str)
def test_operator_matches_sparse_matrix(shape, dtype):
    rng = np.random.default_rng(sum(shape))
    v = rng.uniform(0.05, 1.0, (2, *shape))
    u = rng.uniform(0.0, 1.0, (2, *shape))
    dx, dy = osmosis_drift(v.astype(dtype))
    Au = osmosis_operator(u.astype(dtype), dx, dy)
    assert Au.dtype == dtype
    for b in range(2):
        A = reference.osmosis_matrix(v[b])
        expect = (A @ u[b].ravel()).reshape(shape)
        tol = 1e-12 if dtype == np.float64 else 2e-5
        assert_allclose(Au[b], expect, atol=tol * max(1.0, np.abs(expect).max()))


def test_columns_of_A_sum_to_zero():
    v = np.random.default_rng(0).uniform(0.05, 1.0, (6, 7))
    A = reference.osmosis_matrix(v)
    assert np.max(np.abs(np.asarray(A.sum(axis=0)))) < 1e-13


def test_guidance_is_a_fixed_point():
    """A v = 0 for the canonical drift of v: the guidance is a steady state."""
    v = np.random.default_rng(1).uniform(0.05, 1.0, (1, 9, 8))
    dx, dy = osmosis_drift(v)
    assert np.max(np.abs(osmosis_operator(v, dx, dy))) < 1e-13


def test_filter_matches_reference_chain():
    rng = np.random.default_rng(2)
    f = rng.uniform(0.1, 0.9, (8, 11))
    v = rng.uniform(0.1, 0.9, (8, 11))
    times = [1.0, 3.0, 10.0]
    ours = ps.osmosis(f, guidance=v, t=times, tau=1.0, rtol=1e-12)
    ref = reference.osmosis_chain(f, v, times, tau=1.0, rtol=1e-12)
    assert_allclose(ours, ref, atol=1e-9)


def test_probabilistic_osmosis_matches_reference_with_its_guidance(colour):
    p = ps.ProbabilisticOsmosis(sigma=0.1, tau=1.0, rtol=1e-12)
    times = [1.0, 4.0]
    frames = p.trajectory(colour, times, seed=3, channel_axis=-1)
    v = p.guidance(colour, seed=3, channel_axis=-1)
    assert np.all(v >= 1e-6) and np.all(v <= 1)
    assert_allclose(v.mean(axis=(0, 1)), colour.mean(axis=(0, 1)), atol=0.05)
    ref = reference.osmosis_chain(colour, v, times, tau=1.0, rtol=1e-12)
    assert_allclose(frames, ref, atol=1e-9)
