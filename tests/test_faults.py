"""Faults and odd input, run for real: solver limits, scales, corrupted records, bad images."""

import numpy as np
import pytest

import pyscale as ps


@pytest.fixture
def pair():
    rng = np.random.default_rng(0)
    return rng.uniform(0.2, 1, (12, 14)), rng.uniform(0.2, 1, (12, 14))


# --- osmosis that knows its limits ---------------------------------------------------------------


def test_stalled_residual_names_the_float64_floor(pair):
    f, v = pair
    with pytest.raises(ps.ConvergenceError, match="stalled at the float64 floor"):
        ps.osmosis(f, v, t=1e7, tau=1e5, rtol=1e-13, maxiter=200)
    with pytest.raises(ps.ConvergenceError) as info:  # a real failure is not blamed on the floor
        ps.osmosis(f, v, t=10.0, tau=10.0, rtol=1e-10, maxiter=1, preconditioner=None)
    assert "floor" not in str(info.value)


def test_absurdly_small_tau_is_refused_by_name(pair):
    f, v = pair
    with pytest.raises(ValueError, match="tau=1e-09 is too small"):
        ps.osmosis(f, v, t=1.0, tau=1e-9)


@pytest.mark.parametrize("scale", [1e-200, 1e-45, 1e40, 1e155, 1e200])
def test_any_positive_scale_works(pair, scale):
    """Osmosis is linear in f and sees only relative variations of v: scales are normalised."""
    f, v = pair
    want = ps.osmosis(f, v, t=50.0)
    got = ps.osmosis(f * scale, v * scale, t=50.0)
    np.testing.assert_allclose(got / scale, want, rtol=1e-9)
    u1, report = ps.osmosis_step(f * scale, v, tau=5.0)
    assert report.converged.all() and report.iterations.max() > 0
    np.testing.assert_allclose(u1 / scale, ps.osmosis_step(f, v, tau=5.0)[0], rtol=1e-9)


def test_default_solver_handles_guidance_of_high_contrast():
    rng = np.random.default_rng(1)
    f = rng.uniform(0.1, 1, (40, 50))
    v = np.exp(rng.uniform(np.log(1e-6), 0, (40, 50)))  # contrast 1e6
    u = ps.osmosis(f, v, t=1000.0)
    assert np.all(np.isfinite(u))
    np.testing.assert_allclose(u.sum(), f.sum(), rtol=1e-9)


def test_osmosis_step_accepts_its_own_output(pair):
    f, v = pair
    u = f
    for _ in range(3):
        u, report = ps.osmosis_step(u, v, tau=20.0)
        assert report.converged.all()
    np.testing.assert_allclose(u.sum(), f.sum(), rtol=1e-10)


@pytest.mark.parametrize("which", ["f", "guidance", "u", "v"])
def test_nan_is_refused_by_name(pair, which):
    f, v = pair
    bad = f.copy()
    bad[3, 4] = np.nan
    with pytest.raises(ValueError, match=f"{which} contains NaN"):
        if which == "f":
            ps.osmosis(bad, v, t=1.0)
        elif which == "guidance":
            ps.osmosis(f, bad, t=1.0)
        elif which == "u":
            ps.relative_entropy(bad, v)
        else:
            ps.relative_entropy(f, bad)
