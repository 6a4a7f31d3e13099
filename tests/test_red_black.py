"""Conjugate gradients on the red-black reduced form of the implicit osmosis step.

The last tests also cover the other preconditioner of the symmetric form alone, the aggregation
multigrid (``test_aggregation.py``).
"""

import numpy as np
import pytest
import scipy.sparse as sp
import scipy.sparse.linalg as spla
from numpy.testing import assert_allclose

import pyscale as ps
from pyscale import reference
from pyscale._ext import core
from pyscale._osmosis_solver import AUTO_RED_BLACK_TAU
from pyscale.osmosis import osmosis_step

SYMMETRIC_ONLY = ["red-black", "aggregation"]


def _direct(f, v, tau):
    """The exact step (I - tau A)^-1 f from the assembled matrix."""
    A = reference.osmosis_matrix(v)
    return spla.spsolve((sp.identity(f.size) - tau * A).tocsc(), f.ravel()).reshape(f.shape)


# every parity of rows and columns, thin images, and a single pixel
SHAPES = [(1, 1), (1, 2), (2, 1), (2, 2), (1, 9), (9, 1), (3, 5), (5, 4), (4, 7), (8, 8), (9, 14)]


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("tau", [0.3, 5.0, 300.0])
def test_matches_the_direct_solve(shape, tau):
    rng = np.random.default_rng(sum(shape))
    f = rng.uniform(0.1, 1.0, shape)
    v = rng.uniform(0.05, 1.0, shape)
    u, report = osmosis_step(f, v, tau=tau, preconditioner="red-black", rtol=1e-12)
    assert report.converged.all()
    assert report.residual[0] <= 1e-12
    assert_allclose(u, _direct(f, v, tau), rtol=0, atol=1e-10)
    assert u.sum() == pytest.approx(f.sum(), rel=1e-13)


def test_clipped_guidance():
    """Guidance clipped to 1e-6 in many pixels, as on dark photos: still the exact step."""
    rng = np.random.default_rng(3)
    f = rng.uniform(0.02, 0.3, (33, 47))
    v = np.clip(0.08 + 0.1 * rng.standard_normal(f.shape), 1e-6, 1.0)
    assert (v == 1e-6).mean() > 0.15
    for tau in (0.5, 10.0):
        u, report = osmosis_step(f, v, tau=tau, preconditioner="red-black", rtol=1e-11)
        assert report.converged.all()
        expect = _direct(f, v, tau)
        assert_allclose(u, expect, rtol=0, atol=1e-9 * np.abs(expect).max())


@pytest.mark.parametrize("tau", [1.0, 10.0])
def test_half_the_jacobi_iterations(tau):
    """The reduced system of a consistently ordered matrix needs about half the iterations."""
    rng = np.random.default_rng(4)
    f = rng.uniform(0.1, 1.0, (60, 75))
    v = np.clip(0.5 + 0.1 * rng.standard_normal(f.shape), 1e-6, 1.0)
    its = {}
    for pre in ("jacobi", "red-black"):
        u, report = osmosis_step(f, v, tau=tau, preconditioner=pre, rtol=1e-10)
        assert report.converged.all()
        its[pre] = int(report.iterations[0])
    assert its["red-black"] <= 0.6 * its["jacobi"] + 1, its
    assert its["red-black"] >= 0.4 * its["jacobi"] - 1, its


def test_auto_takes_it_for_short_steps_only():
    rng = np.random.default_rng(5)
    f = rng.uniform(0.1, 1.0, (20, 24))
    v = rng.uniform(0.1, 1.0, f.shape)
    for tau, pre in ((0.5 * AUTO_RED_BLACK_TAU, "red-black"), (AUTO_RED_BLACK_TAU, "two-level")):
        auto, ra = osmosis_step(f, v, tau=tau, preconditioner="auto")
        same, rs = osmosis_step(f, v, tau=tau, preconditioner=pre)
        np.testing.assert_array_equal(auto, same)
        np.testing.assert_array_equal(ra.iterations, rs.iterations)


def test_trajectory_matches_jacobi():
    rng = np.random.default_rng(6)
    f = rng.uniform(0.1, 1.0, (2, 17, 22))
    v = rng.uniform(0.1, 1.0, f.shape)
    times = [0.5, 3, 12]
    a = ps.osmosis(f, v, t=times, preconditioner="red-black", rtol=1e-11, channel_axis=None)
    b = ps.osmosis(f, v, t=times, preconditioner="jacobi", rtol=1e-11, channel_axis=None)
    assert_allclose(a, b, rtol=0, atol=1e-9)


@pytest.mark.parametrize("pre", SYMMETRIC_ONLY)
def test_reports_a_solve_that_stops_early(pre):
    rng = np.random.default_rng(7)
    f = rng.uniform(0.1, 1.0, (30, 31))
    v = rng.uniform(0.01, 1.0, f.shape)
    u, report = osmosis_step(f, v, tau=15.0, preconditioner=pre, rtol=1e-12, maxiter=2)
    assert not report.converged[0] and report.iterations[0] == 2
    # the reported residual is that of the full system, for the result returned
    A = reference.osmosis_matrix(v)
    res = np.linalg.norm(f.ravel() - (u.ravel() - 15.0 * (A @ u.ravel()))) / np.linalg.norm(f)
    assert report.residual[0] == pytest.approx(res, rel=1e-6, abs=1e-14)
    assert res > 1e-12


@pytest.mark.parametrize("pre", SYMMETRIC_ONLY)
def test_zero_right_hand_side(pre):
    v = np.random.default_rng(8).uniform(0.1, 1.0, (1, 16, 17))
    b = np.zeros_like(v)
    x, it, res, conv, _ = core.osmosis_solve(
        b, b + 1.0, None, None, v, 3.0, "cg", pre, 1e-8, 100, 1e-10, 1, None
    )
    assert conv[0] and it[0] == 0 and res[0] == 0.0
    assert not x.any()


@pytest.mark.parametrize("pre", SYMMETRIC_ONLY)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_compiled_kernel_in_both_precisions(dtype, pre):
    rng = np.random.default_rng(9)
    f = rng.uniform(0.1, 1.0, (1, 19, 23)).astype(dtype)
    v = rng.uniform(0.1, 1.0, f.shape).astype(dtype)
    rtol = 1e-5 if dtype == np.float32 else 1e-12
    x, it, res, conv, _ = core.osmosis_solve(
        f, f, None, None, v, 2.0, "cg", pre, rtol, 500, 1e-10, 1, None
    )
    assert x.dtype == dtype and conv[0] and res[0] <= rtol
    expect = _direct(f[0].astype(np.float64), v[0].astype(np.float64), 2.0)
    assert_allclose(x[0], expect, rtol=0, atol=50 * rtol)


@pytest.mark.parametrize("pre", SYMMETRIC_ONLY)
def test_needs_conjugate_gradients_and_a_guidance(pre):
    f = np.full((4, 5), 0.5)
    v = np.full((4, 5), 0.4)
    with pytest.raises(ValueError, match=pre):
        osmosis_step(f, v, tau=1.0, solver="bicgstab", preconditioner=pre)
    dx, dy = np.zeros((4, 4)), np.zeros((3, 5))
    with pytest.raises(ValueError, match=pre):
        ps.osmosis(f, drift=(dx, dy), t=1.0, preconditioner=pre)
    dxv, dyv = core.osmosis_drift(v[None])
    args = (1.0, "bicgstab", pre, 1e-8, 10, 1e-10, 1, None)
    with pytest.raises(ValueError, match=pre):
        core.osmosis_solve(f[None], f[None], dxv, dyv, v[None], *args)
