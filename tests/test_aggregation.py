"""Conjugate gradients with the aggregation multigrid on the symmetric form of the step."""

import numpy as np
import pytest
import scipy.sparse as sp
import scipy.sparse.linalg as spla
from numpy.testing import assert_allclose

import pyscale as ps
from pyscale import reference
from pyscale._ext import core
from pyscale._osmosis_solver import AUTO_AGGREGATION_CUT, ISLAND_CUT, Stepper
from pyscale.osmosis import osmosis_step


def _direct(f, v, tau):
    """The exact step (I - tau A)^-1 f from the assembled matrix."""
    A = reference.osmosis_matrix(v)
    return spla.spsolve((sp.identity(f.size) - tau * A).tocsc(), f.ravel()).reshape(f.shape)


def _clipped(shape, mean, seed):
    """Noise guidance of a dark image, clipped to 1e-6 as probabilistic osmosis clips it."""
    rng = np.random.default_rng(seed)
    f = rng.uniform(0.5, 1.5, shape) * mean
    return f, np.clip(f + 0.1 * rng.standard_normal(shape), 1e-6, None)


# a single pixel, thin images, images below and above the size solved directly (200 pixels)
SHAPES = [(1, 1), (1, 2), (2, 1), (3, 5), (1, 300), (300, 1), (14, 15), (31, 40), (64, 47)]


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("tau", [0.5, 100.0, 1e5])
def test_matches_the_direct_solve(shape, tau):
    """The step to rtol 1e-10 (at tau = 1e5 on this guidance no solver gets below 2e-11)."""
    f, v = _clipped(shape, 0.1, sum(shape))
    u, report = osmosis_step(f, v, tau=tau, preconditioner="aggregation", rtol=1e-10)
    assert report.converged.all()
    assert report.residual[0] <= 1e-10
    expect = _direct(f, v, tau)
    assert_allclose(u, expect, rtol=0, atol=1e-7 * np.abs(expect).max())
    assert u.sum() == pytest.approx(f.sum(), rel=1e-12)


def test_small_images_are_solved_exactly_by_the_coarsest_level():
    f, v = _clipped((10, 20), 0.2, 1)
    u, report = osmosis_step(f, v, tau=1e3, preconditioner="aggregation", rtol=1e-10)
    assert report.converged[0] and report.iterations[0] <= 2


def test_counts_flat_in_size_on_clipped_guidance():
    """Counts on dark noise guidance, about a third of it clipped.

    The two-level counts are several times higher, and the aggregation counts stay within a few
    iterations of each other over the sizes.
    """
    its = {"aggregation": [], "two-level": []}
    for n in (48, 96, 192):
        f, v = _clipped((n, n), 0.06, 2)
        assert (v == 1e-6).mean() > 0.25
        for pre in its:
            u, report = osmosis_step(f, v, tau=1e5, preconditioner=pre, maxiter=3000)
            assert report.converged.all()
            its[pre].append(int(report.iterations[0]))
    agg, two = its["aggregation"], its["two-level"]
    assert max(agg) <= 40 and max(agg) - min(agg) <= 5, its
    assert min(two) > 2 * max(agg), its


@pytest.mark.parametrize("workers", [2, 3])
def test_threads_give_the_same_bits(workers):
    f, v = _clipped((3, 70, 90), 0.1, 3)
    one, r1 = osmosis_step(f, v, tau=300.0, preconditioner="aggregation", channel_axis=0)
    many, rm = osmosis_step(
        f, v, tau=300.0, preconditioner="aggregation", channel_axis=0, workers=workers
    )
    np.testing.assert_array_equal(one, many)
    np.testing.assert_array_equal(r1.iterations, rm.iterations)


def test_trajectory_matches_the_two_level_preconditioner():
    f, v = _clipped((2, 40, 52), 0.1, 4)
    times = [1.0, 30.0, 1e3]
    kw = dict(t=times, rtol=1e-11, channel_axis=0)
    a = ps.osmosis(f, v, preconditioner="aggregation", **kw)
    b = ps.osmosis(f, v, preconditioner="two-level", **kw)
    assert_allclose(a, b, rtol=0, atol=1e-8 * np.abs(b).max())
    model = ps.ProbabilisticOsmosis(sigma=0.1, preconditioner="aggregation")
    frames = model.trajectory(f[0], [0.5, 5.0], seed=0)
    same = ps.ProbabilisticOsmosis(sigma=0.1, preconditioner="two-level")
    assert_allclose(frames, same.trajectory(f[0], [0.5, 5.0], seed=0), rtol=0, atol=1e-6)


def test_hierarchies_built_once_serve_every_step():
    """The hierarchy of a guidance serves every tau.

    Passing it gives the same bits as building it inside the solve, and the steps of a
    trajectory build it once.
    """
    f, v = _clipped((2, 33, 41), 0.1, 8)
    h = core.aggregation_hierarchies(v, 2)
    for tau in (0.7, 40.0, 3e4):
        args = (f, f, None, None, v, tau, "cg", "aggregation", 1e-9, 500, 1e-10, 1)
        built = core.osmosis_solve(*args, None)
        shared = core.osmosis_solve(*args, None, h)
        for a, b in zip(built, shared, strict=True):
            np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="another shape"):
        core.osmosis_solve(
            f[:1], f[:1], None, None, v[:1], 1.0, "cg", "aggregation", 1e-8, 10, 1e-10, 1, None, h
        )
    with pytest.raises(ValueError, match="aggregation_hierarchies"):
        core.osmosis_solve(
            f, f, None, None, v, 1.0, "cg", "aggregation", 1e-8, 10, 1e-10, 1, None, 3
        )
    with pytest.raises(ValueError, match="3-D"):
        core.aggregation_hierarchies(v[0])
    stepper = Stepper(v=v, solver="cg", preconditioner="aggregation")
    assert stepper.hierarchies is None
    stepper.step(f, 1.0)
    first = stepper.hierarchies
    assert first is not None
    stepper.step(f, 100.0)
    assert stepper.hierarchies is first


def test_auto_takes_it_where_the_guidance_falls_apart():
    """Auto: aggregation for an image with 27 % of its guidance cut or more, image by image."""
    dark, v0 = _clipped((40, 50), 0.02, 9)
    light, v1 = _clipped((40, 50), 0.15, 9)
    f, v = np.stack([dark, light]), np.stack([v0, v1])
    share = (v <= ISLAND_CUT * v.mean(axis=(1, 2), keepdims=True)).mean(axis=(1, 2))
    assert share[0] >= AUTO_AGGREGATION_CUT > share[1]
    kw = dict(tau=100.0, rtol=1e-10)
    auto, ra = osmosis_step(f, v, preconditioner="auto", channel_axis=0, **kw)
    for k, pre in enumerate(("aggregation", "two-level")):
        same, rs = osmosis_step(f[k], v[k], preconditioner=pre, **kw)
        np.testing.assert_array_equal(auto[k], same)
        assert ra.iterations[k] == rs.iterations[0]
    # short steps still take the red-black system, and guidance that holds together two-level
    short, _ = osmosis_step(f, v, tau=5.0, channel_axis=0, rtol=1e-10)
    red_black, _ = osmosis_step(
        f, v, tau=5.0, channel_axis=0, rtol=1e-10, preconditioner="red-black"
    )
    np.testing.assert_array_equal(short, red_black)
    assert Stepper(v=v[1:], solver="cg", preconditioner="auto").cut is None
