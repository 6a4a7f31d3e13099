"""Implicit osmosis steps: C++ BiCGSTAB and CG against the assembled scipy reference."""

import numpy as np
import pytest
import scipy.sparse as sp
import scipy.sparse.linalg as spla
from numpy.testing import assert_allclose, assert_array_equal

import pyscale as ps
from pyscale import reference
from pyscale._ext import core
from pyscale._osmosis_solver import clipped_guidance, image_stats, island_labels
from pyscale.osmosis import (
    ConvergenceError,
    ConvergenceWarning,
    osmosis_drift,
    osmosis_operator,
    osmosis_step,
)

PRECONDITIONERS = [None, "jacobi", "red-black", "dct", "two-level", "aggregation", "auto"]
SOLVERS = [
    (s, p)
    for s in ("bicgstab", "cg")
    for p in PRECONDITIONERS
    if not (s == "bicgstab" and p in ("red-black", "aggregation"))
]
SOLVER_IDS = [f"{s}-{p}" for s, p in SOLVERS]


def _pair(seed, shape=(9, 14), lo=0.1):
    rng = np.random.default_rng(seed)
    return rng.uniform(lo, 1.0, shape), rng.uniform(lo, 1.0, shape)


def _drift_matrix(dx, dy):
    """Assembled A of an arbitrary drift, straight from the flux formula (pixel i * nx + j)."""
    ny, nx = dx.shape[0], dy.shape[1]
    A = sp.lil_matrix((ny * nx, ny * nx))

    def edge(p, q, d):  # flux (u_q - u_p) - d (u_q + u_p) / 2 enters p and leaves q
        for row, sign in ((p, 1.0), (q, -1.0)):
            A[row, q] += sign * (1 - d / 2)
            A[row, p] += sign * (-1 - d / 2)

    for i in range(ny):
        for j in range(nx - 1):
            edge(i * nx + j, i * nx + j + 1, dx[i, j])
    for i in range(ny - 1):
        for j in range(nx):
            edge(i * nx + j, (i + 1) * nx + j, dy[i, j])
    return A.tocsr()


# ---- operator ------------------------------------------------------------------------------


def test_step_operators_match_assembled_matrix():
    f, v = _pair(0, (7, 10))
    A = reference.osmosis_matrix(v)
    dx, dy = osmosis_drift(v[None])
    Au = osmosis_operator(f[None], dx, dy)[0]
    assert_allclose(Au.ravel(), A @ f.ravel(), rtol=0, atol=1e-12)
    tau = 7.5
    expect = f.ravel() - tau * (A @ f.ravel())
    Mu = core.osmosis_step_matvec(f[None], dx, dy, tau)[0]
    assert_allclose(Mu.ravel(), expect, rtol=0, atol=1e-12 * tau)
    # the symmetric form: (diag(v) + tau K) (u / v) = (I - tau A) u
    Sw = core.osmosis_spd_matvec((f / v)[None], v[None], tau)[0]
    assert_allclose(Sw.ravel(), expect, rtol=0, atol=1e-12 * tau)
    S = np.stack(
        [core.osmosis_spd_matvec(e.reshape(1, 7, 10), v[None], tau)[0].ravel() for e in np.eye(70)],
        axis=1,
    )
    assert_allclose(S, S.T, rtol=0, atol=1e-12 * tau)
    assert np.linalg.eigvalsh(S).min() > 0


def test_columns_of_A_sum_to_zero():
    f, v = _pair(1, (8, 5))
    A = reference.osmosis_matrix(v)
    assert np.abs(np.asarray(A.sum(axis=0))).max() < 1e-13
    dx, dy = osmosis_drift(v[None])
    rng = np.random.default_rng(0)
    u = rng.standard_normal((3, 8, 5))
    dx3, dy3 = np.repeat(dx, 3, axis=0), np.repeat(dy, 3, axis=0)
    assert np.abs(osmosis_operator(u, dx3, dy3).sum(axis=(1, 2))).max() < 1e-13


# ---- against the reference -----------------------------------------------------------------


@pytest.mark.parametrize(("solver", "pre"), SOLVERS, ids=SOLVER_IDS)
def test_matches_reference_chain(solver, pre, dtype):
    f, v = _pair(2)
    times = [2.0, 6.0]
    ref = reference.osmosis_chain(f, v, times, tau=2.0, rtol=1e-12)
    got = ps.osmosis(
        f.astype(dtype),
        v.astype(dtype),
        t=times,
        tau=2.0,
        solver=solver,
        preconditioner=pre,
        rtol=1e-12,
    )
    assert got.dtype == dtype
    if dtype == np.float64:
        assert_allclose(got, ref, rtol=0, atol=1e-10)
    else:  # float32 in and out; the solves run in float64
        ref32 = reference.osmosis_chain(
            f.astype(np.float32), v.astype(np.float32), times, 2.0, rtol=1e-12
        )
        assert_allclose(got, ref32, rtol=0, atol=1e-6)


@pytest.mark.parametrize(("solver", "pre"), SOLVERS, ids=SOLVER_IDS)
def test_large_step_and_colour_match_reference(solver, pre, colour):
    v = np.clip(
        colour.mean() + 0.1 * np.random.default_rng(3).standard_normal(colour.shape), 1e-6, 1
    )
    ref = reference.osmosis_chain(colour, v, [1000.0], tau=1000.0, rtol=1e-12)
    got = ps.osmosis(
        colour,
        v,
        t=1000.0,
        tau=1000.0,
        solver=solver,
        preconditioner=pre,
        rtol=1e-11,
        channel_axis=-1,
    )
    assert_allclose(got, ref[0], rtol=0, atol=1e-9)


@pytest.mark.parametrize("shape", [(1, 7), (6, 1), (1, 1), (2, 2), (3, 50)], ids=str)
def test_thin_and_tiny_images(shape):
    f, v = _pair(17, shape)
    ref = reference.osmosis_chain(f, v, [5.0], tau=5.0, rtol=1e-13)[0]
    for solver, pre in SOLVERS:
        u = ps.osmosis(f, v, t=5.0, tau=5.0, solver=solver, preconditioner=pre, rtol=1e-12)
        assert_allclose(u, ref, rtol=0, atol=1e-10, err_msg=f"{solver}/{pre}")


def test_cg_agrees_with_bicgstab():
    rng = np.random.default_rng(4)
    f = rng.uniform(0.0, 1.0, (20, 30))
    v = np.clip(0.5 + 0.1 * rng.standard_normal(f.shape), 1e-6, 1)
    outs = {
        (s, p): ps.osmosis(f, v, t=[1, 10, 1000], solver=s, preconditioner=p, rtol=1e-10)
        for s, p in SOLVERS
    }
    base = outs[("bicgstab", None)]
    for key, u in outs.items():
        assert_allclose(u, base, rtol=0, atol=1e-8, err_msg=str(key))


@pytest.mark.parametrize("pre", [None, "jacobi", "dct", "two-level"])
def test_drift_form_matches_assembled_solve(pre):
    """A drift that is not the canonical drift of any image (non-compatible case)."""
    rng = np.random.default_rng(5)
    f = rng.uniform(0.2, 1.0, (6, 9))
    dx = rng.uniform(-0.5, 0.5, (6, 8))
    dy = rng.uniform(-0.5, 0.5, (5, 9))
    tau = 3.0
    A = _drift_matrix(dx, dy)
    M = (sp.identity(54) - tau * A).tocsc()
    u1 = spla.spsolve(M, f.ravel())
    u2 = spla.spsolve(M, u1)
    got = ps.osmosis(f, drift=(dx, dy), t=[3.0, 6.0], tau=tau, preconditioner=pre, rtol=1e-13)
    assert_allclose(got[0].ravel(), u1, rtol=0, atol=1e-11)
    assert_allclose(got[1].ravel(), u2, rtol=0, atol=1e-11)
    # canonical drift given explicitly equals the guidance form
    v = rng.uniform(0.2, 1.0, (6, 9))
    dxv, dyv = osmosis_drift(v[None])
    assert_allclose(
        ps.osmosis(f, drift=(dxv[0], dyv[0]), t=5.0, rtol=1e-12),
        ps.osmosis(f, v, t=5.0, rtol=1e-12),
        rtol=0,
        atol=1e-10,
    )


def test_float32_kernel(dtype):
    """The compiled solver also runs in float32 (the package itself solves in float64)."""
    f, v = _pair(6, (10, 12))
    f3, v3 = f[None].astype(dtype), v[None].astype(dtype)
    dx, dy = core.osmosis_drift(v3)
    rtol = 1e-5 if dtype == np.float32 else 1e-12
    for method in ("bicgstab", "cg"):
        x, it, res, conv, rst = core.osmosis_solve(
            f3, f3, dx, dy, v3, 2.0, method, "jacobi", rtol, 500, 1e-10, 1
        )
        assert x.dtype == dtype and conv.all() and res[0] <= rtol
        exact = spla.spsolve(
            (sp.identity(120) - 2.0 * reference.osmosis_matrix(v)).tocsc(), f.ravel()
        )
        assert_allclose(x[0].ravel(), exact, rtol=0, atol=50 * rtol)


# ---- properties ------------------------------------------------------------------------------


@pytest.mark.parametrize("solver", ["cg", "bicgstab"])
def test_two_level_handles_clipped_guidance(solver):
    """Noise guidance around a dark mean is partly clipped to 1e-6.

    The DCT symbol alone no longer describes the system (BiCGSTAB with it breaks down); the
    two-level preconditioner solves it in a fraction of the Jacobi iterations.
    """
    rng = np.random.default_rng(11)
    f = rng.uniform(0.02, 0.3, (40, 56))
    v = np.clip(0.12 + 0.1 * rng.standard_normal(f.shape), 1e-6, 1.0)
    assert (v == 1e-6).mean() > 0.05
    tau = 1000.0
    A = reference.osmosis_matrix(v)
    expect = spla.spsolve((sp.identity(f.size) - tau * A).tocsc(), f.ravel())
    its = {}
    for pre in ("jacobi", "two-level"):
        u, rep = osmosis_step(
            f, v, tau=tau, solver=solver, preconditioner=pre, rtol=1e-10, maxiter=20000
        )
        assert rep.converged.all()
        its[pre] = int(rep.iterations[0])
        assert_allclose(u.ravel(), expect, rtol=0, atol=1e-8 * np.abs(expect).max())
    assert its["two-level"] * 5 < its["jacobi"], its


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_image_stats(dtype):
    """One pass per image: smallest and largest value and mean, as numpy gives them."""
    a = np.random.default_rng(3).uniform(-2, 5, (3, 13, 27)).astype(dtype)
    a[1, 6, 20] = -7  # an extreme past the vector lanes of the first rows
    for x in (a, a[:, ::-1, ::2], a[:1, :1, :1]):  # reversed and strided; a single pixel
        st = image_stats(x, "f")
        assert_array_equal(st.lo, x.min(axis=(1, 2)))
        assert_array_equal(st.hi, x.max(axis=(1, 2)))
        assert_allclose(st.mean, x.astype(np.float64).mean(axis=(1, 2)), rtol=1e-14)
    for bad in (np.nan, np.inf, -np.inf):
        b = a.copy()
        b[2, 12, 26] = bad
        with pytest.raises(ValueError, match="guidance contains NaN or infinite values"):
            image_stats(b, "guidance")
    huge = np.full((1, 4, 4), np.finfo(dtype).max, dtype=dtype)  # the sum overflows, no value
    assert image_stats(huge, "f").hi[0] == np.finfo(dtype).max


def test_island_labels():
    """Components of the pixels above the cut; all but the largest and single pixels are islands."""
    v = np.full((7, 9), 0.5)
    v[1:5, 1:5] = 1e-9  # a clipped square ...
    v[2:4, 2:4] = 0.3  # ... around a 2 x 2 island
    v[5, 7] = v[5, 8] = v[6, 6] = 1e-9  # a clipped corner cuts off two pixels
    v[0, 7] = v[1, 8] = 1e-9  # and another one a single pixel, which is left out
    labels = island_labels(v[None])
    expect = np.full(v.shape, -1)
    expect[2:4, 2:4] = 0
    expect[6, 7:] = 1
    assert_array_equal(labels[0], expect)
    assert labels.dtype == np.int32
    # images of a batch are labelled apart
    both = island_labels(np.stack([np.full(v.shape, 0.5), v]))
    assert_array_equal(both[0], -1)
    assert_array_equal(both[1], expect)
    # clipped pixels that enclose nothing, or none at all: no islands
    assert island_labels(np.full((1, 4, 5), 0.5)) is None
    w = np.full((2, 4, 5), 0.5)
    w[1, 2, 2] = w[1, 0, 3] = w[1, 1, 4] = 1e-9
    assert island_labels(w) is None
    # the share of each image's pixels at or below the cut, from the same pass
    labels, share = clipped_guidance(np.stack([np.full(v.shape, 0.5), v]))
    assert_array_equal(labels[1], expect)
    assert_array_equal(share, [0.0, 17 / 63])
    assert_array_equal(clipped_guidance(w)[1], [0.0, 3 / 20])


def test_islands_deflated_in_conjugate_gradients():
    """Guidance with 30 % of its pixels clipped falls into islands.

    Deflating them keeps the solution (against scipy's direct solve) and cuts the iterations of
    the two-level preconditioner by more than a third.
    """
    rng = np.random.default_rng(5)
    f = rng.uniform(0.02, 0.3, (48, 64))
    v = np.clip(0.05 + 0.1 * rng.standard_normal(f.shape), 1e-6, 1.0)
    labels = island_labels(v[None])
    assert labels is not None and labels.max() >= 4
    tau = 1e4
    A = reference.osmosis_matrix(v)
    expect = spla.spsolve((sp.identity(f.size) - tau * A).tocsc(), f.ravel())
    its = []
    for isl in (None, labels):
        b = f[None].copy()
        u, it, _, conv, _ = core.osmosis_solve(
            b, b, None, None, v[None].copy(), tau, "cg", "two-level", 1e-10, 20000, 1e-10, 1, isl
        )
        assert conv[0]
        assert_allclose(u.ravel(), expect, rtol=0, atol=1e-8 * np.abs(expect).max())
        its.append(int(it[0]))
    assert its[1] * 3 < its[0] * 2, its
    # the public step deflates them
    _, rep = osmosis_step(f, v, tau=tau, solver="cg", preconditioner="two-level", rtol=1e-10)
    assert int(rep.iterations[0]) == its[1]


def test_mass_preserved_over_100_steps():
    f, v = _pair(7, (16, 21))
    u = ps.osmosis(f, v, t=100.0, tau=1.0, rtol=1e-12)
    assert abs(u.sum() - f.sum()) <= 1e-12 * f.sum()


def test_steady_state():
    f, v = _pair(8, (12, 15), lo=0.05)
    for solver in ("bicgstab", "cg"):
        u = ps.osmosis(f, v, t=1e7, solver=solver)
        assert_allclose(u, f.mean() / v.mean() * v, rtol=1e-8)


@pytest.mark.parametrize("solver", ["bicgstab", "cg"])
def test_constant_guidance_is_the_dct_symbol(solver):
    """With constant v one step multiplies DCT mode j by 1 / (1 + tau mu_j) (discrete spectrum)."""
    rng = np.random.default_rng(9)
    f = rng.uniform(0.1, 1.0, (11, 16))
    v = np.full_like(f, 0.37)
    tau = 4.0
    u, report = osmosis_step(f, v, tau=tau, solver=solver, preconditioner=None, rtol=1e-14)
    mu = ps.laplacian_eigenvalues(11, 16, "discrete")
    expect = ps.idct2(ps.dct2(f) / (1 + tau * mu))
    assert_allclose(u, expect, rtol=0, atol=1e-12)
    assert_allclose(ps.dct2(u), ps.dct2(f) / (1 + tau * mu), rtol=0, atol=1e-12)


@pytest.mark.parametrize("shape", [(11, 16), (40, 9), (1, 30), (25, 1), (64, 64)], ids=str)
@pytest.mark.parametrize(("tau", "iterations"), [(0.5, 1), (1e3, 2), (1e6, 3)])
def test_dct_preconditioner_inverts_homogeneous_diffusion(shape, tau, iterations):
    """With constant v the symmetric form is the operator the DCT preconditioner inverts.

    Conjugate gradients then meet rtol = 1e-5 in one iteration; longer steps, whose low
    frequencies the float32 inverse resolves less well (condition about 8 tau), take one or two
    more, also for steps a million times longer than the smoothing of one pixel.
    """
    f = np.random.default_rng(3).uniform(0.1, 1.0, shape)
    v = np.full_like(f, 0.37)
    u, report = osmosis_step(f, v, tau=tau, solver="cg", preconditioner="dct", rtol=1e-5)
    assert 1 <= report.iterations[0] <= iterations
    mu = ps.laplacian_eigenvalues(*shape, "discrete")
    assert_allclose(u, ps.idct2(ps.dct2(f) / (1 + tau * mu)), rtol=0, atol=1e-5)


@pytest.mark.parametrize("pre", [None, "jacobi", "two-level"])
@pytest.mark.parametrize("tau", [0.3, 50.0, 1e5])
def test_conjugate_gradients_start_from_the_best_mix_of_image_and_steady_state(pre, tau):
    """The start of conjugate gradients is the Galerkin projection onto u and the steady state.

    With constant guidance the solution of a step from a cosine mode on a constant image lies in
    the span of the two, so the start is already the solution: no iteration is needed (the image
    alone or the steady state alone would take several).
    """
    ny, nx = 12, 17
    mode = np.cos(np.pi * (np.arange(ny)[:, None] + 0.5) / ny) * np.cos(
        2 * np.pi * (np.arange(nx) + 0.5) / nx
    )
    v = np.full((ny, nx), 0.37)
    f = v * (1 + 0.5 * mode)
    u, report = osmosis_step(f, v, tau=tau, solver="cg", preconditioner=pre, rtol=1e-10)
    assert report.iterations[0] == 0 and report.converged[0]
    mu = 4 * np.sin(np.pi / (2 * ny)) ** 2 + 4 * np.sin(np.pi / nx) ** 2
    assert_allclose(u, v * (1 + 0.5 * mode / (1 + tau * mu)), rtol=0, atol=1e-12)


def test_relative_entropy_increases_along_probabilistic_osmosis(grey):
    p = ps.ProbabilisticOsmosis(sigma=0.1)
    times = [0.5, 1, 2, 5, 10, 20, 50, 100, 1000, 1e4]
    frames = p.trajectory(grey, times, seed=11)
    v = p.guidance(grey, seed=11)
    L = [ps.relative_entropy(grey, v)] + [ps.relative_entropy(u, v) for u in frames]
    assert np.all(np.diff(L) > -1e-12 * abs(L[0]))
    M, N = grey.sum(), v.sum()
    assert L[-1] == pytest.approx(-M * np.log(M / N), rel=1e-6)


@pytest.mark.parametrize(("solver", "pre"), [("bicgstab", "dct"), ("cg", "jacobi")])
def test_workers_do_not_change_results(solver, pre):
    rng = np.random.default_rng(12)
    f = rng.uniform(0.1, 1.0, (3, 10, 13, 3))
    v = rng.uniform(0.1, 1.0, f.shape)
    a = ps.osmosis(f, v, t=[1, 50], solver=solver, preconditioner=pre, workers=1)
    b = ps.osmosis(f, v, t=[1, 50], solver=solver, preconditioner=pre, workers=2)
    assert_array_equal(a, b)
    p = ps.ProbabilisticOsmosis()
    assert_array_equal(
        p.trajectory(f, [1, 10], seed=1, workers=1), p.trajectory(f, [1, 10], seed=1, workers=2)
    )


@pytest.mark.parametrize(("solver", "pre"), SOLVERS)
def test_threads_inside_one_image_do_not_change_results(solver, pre):
    # 200 x 180 pixels: large enough for two threads to share the image
    rng = np.random.default_rng(13)
    f = rng.uniform(0.1, 1.0, (200, 180))
    v = rng.uniform(0.1, 1.0, f.shape)
    a, ra = osmosis_step(f, v, tau=20.0, solver=solver, preconditioner=pre, workers=1)
    b, rb = osmosis_step(f, v, tau=20.0, solver=solver, preconditioner=pre, workers=2)
    assert ra.converged.all()
    assert_array_equal(a, b)
    assert_array_equal(ra.iterations, rb.iterations)
    assert_array_equal(ra.residual, rb.residual)


def test_time_grid_reaches_output_times():
    steps, marks = ps.osmosis_time_grid([1, 5, 10, 100], steps_per_decade=4)
    t = np.cumsum(steps)
    assert_allclose(t[marks - 1], [1, 5, 10, 100])
    steps, marks = ps.osmosis_time_grid([1, 5], tau=2.0)
    assert_allclose(steps, [1.0, 2.0, 2.0])


# ---- solver paths ----------------------------------------------------------------------------


def test_restart_path():
    """A large breakdown threshold forces restarts; the solve still converges to the answer."""
    f, v = _pair(13)
    u, report = osmosis_step(
        f, v, tau=5.0, solver="bicgstab", preconditioner=None, rtol=1e-10, breakdown=0.3
    )
    assert report.restarts[0] > 0 and report.converged[0]
    assert report.residual[0] <= 1e-10
    ref = reference.osmosis_chain(f, v, [5.0], tau=5.0, rtol=1e-12)[0]
    assert_allclose(u, ref, rtol=0, atol=1e-8)
    _, plain = osmosis_step(f, v, tau=5.0, preconditioner=None, rtol=1e-10)
    assert plain.restarts[0] == 0


def test_non_convergence_raises_with_residual():
    f, v = _pair(14, (20, 20))
    with pytest.raises(ConvergenceError, match=r"relative residual \d"):
        ps.osmosis(f, v, t=1000.0, tau=1000.0, preconditioner=None, rtol=1e-14, maxiter=1)
    with pytest.warns(ConvergenceWarning, match="relative residual"):
        u = ps.osmosis(
            f, v, t=1000.0, tau=1000.0, preconditioner=None, rtol=1e-14, maxiter=1, on_fail="warn"
        )
    assert np.all(np.isfinite(u))
    _, report = osmosis_step(f, v, tau=1000.0, preconditioner=None, rtol=1e-14, maxiter=1)
    assert not report.converged[0] and report.iterations[0] == 1
    assert np.isfinite(report.residual[0]) and report.residual[0] > 1e-14
    p = ps.ProbabilisticOsmosis(preconditioner=None, rtol=1e-14, maxiter=1)
    with pytest.raises(ConvergenceError, match="relative residual"):
        p.trajectory(f, [1000.0], seed=0)


# ---- bad input -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "exc", "word"),
    [
        ({"guidance": "zeros"}, ValueError, "guidance"),
        ({"guidance": "negative"}, ValueError, "guidance"),
        ({"guidance": "nan"}, ValueError, "guidance"),
        ({"f": "nan"}, ValueError, "f contains"),
        ({"f": "negative"}, ValueError, "f must be non-negative"),
        ({"guidance": "shape"}, ValueError, "guidance must have the shape"),
        ({"solver": "gmres"}, ValueError, "solver"),
        ({"preconditioner": "ilu"}, ValueError, "preconditioner"),
        ({"rtol": 0.0}, ValueError, "rtol"),
        ({"maxiter": 0}, ValueError, "maxiter"),
        ({"on_fail": "ignore"}, ValueError, "on_fail"),
        ({"offset": -1.0}, ValueError, "offset"),
        ({"workers": 0}, ValueError, "workers"),
        ({"t": 0.0}, ValueError, "t must be positive"),
    ],
)
def test_bad_input(kwargs, exc, word):
    f, v = _pair(15, (5, 6))
    args = {"f": f, "guidance": v, "t": 1.0}
    special = {
        "zeros": lambda a: np.where(a > 0.5, 0.0, a),
        "negative": lambda a: a - 2.0,
        "nan": lambda a: np.where(a > 0.5, np.nan, a),
        "shape": lambda a: a[:, :-1],
    }
    for key, val in kwargs.items():
        args[key] = special[val](args[key]) if isinstance(val, str) and val in special else val
    with pytest.raises(exc, match=word):
        ps.osmosis(args.pop("f"), **args)


def test_bad_drift_input():
    f = np.random.default_rng(16).uniform(0.1, 1, (5, 6))
    dx, dy = np.zeros((5, 5)), np.zeros((4, 6))
    with pytest.raises(ValueError, match=r"drift\[0\]"):
        ps.osmosis(f, drift=(dx[:, :-1], dy), t=1.0)
    with pytest.raises(ValueError, match=r"drift\[1\]"):
        ps.osmosis(f, drift=(dx, dy[:-1]), t=1.0)
    with pytest.raises(ValueError, match="solver='cg' needs a guidance"):
        ps.osmosis(f, drift=(dx, dy), t=1.0, solver="cg")
    with pytest.raises(TypeError, match="exactly one of guidance"):
        ps.osmosis(f, f, drift=(dx, dy), t=1.0)
    with pytest.raises(TypeError, match="exactly one of guidance"):
        ps.osmosis(f, t=1.0)
    with pytest.raises(TypeError, match="drift must be a pair"):
        ps.osmosis(f, drift=dx, t=1.0)
    with pytest.raises(ValueError, match="drift"):
        ps.osmosis(f, drift=(np.full((5, 5), np.nan), dy), t=1.0)
    with pytest.raises(ValueError, match="breakdown"):
        osmosis_step(f, f, tau=1.0, breakdown=1.0)
