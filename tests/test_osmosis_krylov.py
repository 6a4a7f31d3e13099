"""integrator="krylov": frames from one rational Krylov basis, against the exact exponential."""

import numpy as np
import pytest
from numpy.testing import assert_allclose

import pyscale as ps
from pyscale import reference
from pyscale._ext import core
from pyscale._osmosis_krylov import krylov_poles
from pyscale.osmosis import ConvergenceError, osmosis

TIMES = [0.5, 5.0, 50.0, 500.0, 5000.0]


def _case(seed=0, shape=(14, 18)):
    rng = np.random.default_rng(seed)
    f = rng.uniform(0.1, 1.0, shape)
    v = np.clip(0.5 + 0.2 * rng.standard_normal(shape), 0.05, 1.0)
    return f, v


def _exact(f, v, times):
    """exp(t A) f from the eigendecomposition of the symmetric similar matrix."""
    s = np.sqrt(v.ravel())
    A = reference.osmosis_matrix(v).toarray()
    H = -(A * s[None, :]) / s[:, None]
    lam, Q = np.linalg.eigh((H + H.T) / 2)
    c = Q.T @ (f.ravel() / s)
    lam = np.clip(lam, 0.0, None)
    return np.stack([(s * (Q @ (np.exp(-t * lam) * c))).reshape(f.shape) for t in times])


def test_matches_the_exact_evolution():
    f, v = _case()
    exact = _exact(f, v, TIMES)
    out = osmosis(f, v, t=TIMES, integrator="krylov", steps_per_decade=6)
    assert np.abs(out - exact).max() < 2e-4
    # implicit Euler on its default grid is far less accurate, with more solves
    euler = osmosis(f, v, t=TIMES)
    cheap = osmosis(f, v, t=TIMES, integrator="krylov", steps_per_decade=2)
    assert np.abs(cheap - exact).max() < 0.5 * np.abs(euler - exact).max()


@pytest.mark.parametrize("t", [1.0, 50.0])
def test_one_output_time(t):
    f, v = _case(5, (24, 30))
    exact = _exact(f, v, [t])[0]
    out = osmosis(f, v, t=t, integrator="krylov")
    assert out.shape == f.shape
    assert np.abs(out - exact).max() < 0.1 * np.abs(osmosis(f, v, t=t) - exact).max()


def test_more_poles_converge():
    f, v = _case(1)
    exact = _exact(f, v, TIMES)
    errs = [
        np.abs(osmosis(f, v, t=TIMES, integrator="krylov", steps_per_decade=k) - exact).max()
        for k in (1, 3, 8)
    ]
    assert errs[0] > errs[1] > errs[2]


def test_mass_and_steady_state_are_exact():
    f, v = _case(2)
    out = osmosis(f, v, t=[1.0, 1e8], integrator="krylov", steps_per_decade=1)
    assert_allclose(out.sum(axis=(1, 2)), f.sum(), rtol=1e-12)
    assert_allclose(out[-1], f.mean() / v.mean() * v, rtol=1e-10)


def test_channels_batch_and_dtype():
    rng = np.random.default_rng(3)
    f = rng.uniform(0.1, 1.0, (10, 12, 3)).astype(np.float32)
    v = rng.uniform(0.2, 1.0, (10, 12, 3)).astype(np.float32)
    out = osmosis(f, v, t=[1.0, 10.0], integrator="krylov", channel_axis=-1)
    assert out.shape == (2, 10, 12, 3) and out.dtype == np.float32
    for c in range(3):
        one = osmosis(f[..., c], v[..., c], t=[1.0, 10.0], integrator="krylov")
        assert_allclose(out[..., c], one, rtol=1e-6)


def test_probabilistic_osmosis_krylov():
    f = np.random.default_rng(4).uniform(0.2, 0.8, (16, 20))
    p = ps.ProbabilisticOsmosis(sigma=0.1, integrator="krylov", steps_per_decade=6)
    frames = p.trajectory(f, TIMES, seed=0)
    exact = _exact(f, p.guidance(f, seed=0), TIMES)
    assert np.abs(frames - exact).max() < 2e-4
    assert "integrator='krylov'" in repr(p)


@pytest.mark.parametrize(
    ("shape", "k"),
    [((14, 18), 5), ((17, 1500), 4), ((4, 1000), 41), ((9, 1), 3), ((1, 9), 3)],
    ids=["one-band", "bands-7-7-3", "one-row-bands", "one-column", "one-row"],
)
def test_projected_operator(shape, k):
    """V^T H V of basis vectors 1 .. k - 1, summed over bands of rows, against the sparse matrix."""
    rng = np.random.default_rng(4)
    v = np.stack([_case(seed=j, shape=shape)[1] for j in range(2)])
    s = np.sqrt(v)
    basis = rng.standard_normal((2, k, v[0].size))
    got = core.krylov_projected(basis, 1, v, s)
    assert got.shape == (2, k - 1, k - 1)
    for j in range(2):
        w = basis[j, 1:].T  # (n, k - 1)
        sj = s[j].reshape(-1, 1)
        hw = -(reference.osmosis_matrix(v[j]) @ (sj * w)) / sj  # H = diag(1/s) (-A) diag(s)
        assert_allclose(got[j], w.T @ hw, rtol=1e-11, atol=1e-11 * np.abs(got[j]).max())
        assert_allclose(got[j], got[j].T, rtol=0, atol=0)


def test_poles():
    poles = krylov_poles(np.array([1.0, 1e4]), 2)
    assert poles.size == 9
    assert_allclose(poles[[0, -1]], [0.3, 3000.0])
    assert_allclose(np.diff(np.log10(poles)), 0.5)


def test_arguments():
    f, v = _case()
    with pytest.raises(ValueError, match="integrator"):
        osmosis(f, v, t=1.0, integrator="rk4")
    with pytest.raises(ValueError, match="guidance"):
        osmosis(f, drift=(np.zeros((14, 17)), np.zeros((13, 18))), t=1.0, integrator="krylov")
    with pytest.raises(ValueError, match="tau"):
        osmosis(f, v, t=1.0, tau=0.5, integrator="krylov")
    with pytest.raises(TypeError, match="steps_per_decade"):
        osmosis(f, v, t=1.0, integrator="krylov", steps_per_decade=1.5)
    with pytest.raises(ValueError, match="integrator"):
        ps.ProbabilisticOsmosis(integrator="exact")
    with pytest.raises(ValueError, match="tau"):
        ps.ProbabilisticOsmosis(tau=1.0, integrator="krylov")


def test_a_failed_solve_is_reported():
    f, v = _case()
    with pytest.raises(ConvergenceError, match="did not converge"):
        osmosis(f, v, t=100.0, integrator="krylov", maxiter=1, preconditioner=None)
