"""Trajectories and samples of the linear processes: shapes, dtypes, determinism, exactness."""

import pickle

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

import pyscale as ps
from pyscale import reference

LINEAR = {
    "dpm-vp": lambda: ps.DPM(beta=0.1),
    "dpm-ve": lambda: ps.DPM(beta=0.1, alpha=1.0),
    "heat": lambda: ps.HeatDissipation(sigma=0.01),
    "homogeneous": lambda: ps.HomogeneousDiffusion(),
    "blurring": lambda: ps.BlurringDiffusion(beta=0.1),
    "blurring-discrete": lambda: ps.BlurringDiffusion(beta=0.1, spectrum="discrete"),
}
ALL = {**LINEAR, "osmosis": lambda: ps.ProbabilisticOsmosis(sigma=0.1)}
TIMES = [1, 5, 10, 100, 1000, 10000]


@pytest.fixture(params=list(ALL), ids=list(ALL))
def process(request):
    return ALL[request.param]()


@pytest.fixture(params=list(LINEAR), ids=list(LINEAR))
def linear(request):
    return LINEAR[request.param]()


def test_shapes_and_dtypes(process, colour, dtype):
    u0 = colour.astype(dtype)
    frames = process.trajectory(u0, TIMES, seed=1, channel_axis=-1)
    assert frames.shape == (len(TIMES), *u0.shape)
    assert frames.dtype == dtype
    assert np.all(np.isfinite(frames))


def test_same_seed_same_output_any_thread_count(process, colour):
    a = process.trajectory(colour, TIMES, seed=7, workers=1, channel_axis=-1)
    b = process.trajectory(colour, TIMES, seed=7, workers=2, channel_axis=-1)
    assert_array_equal(a, b)


@pytest.mark.parametrize("workers", [1, 2])
def test_images_of_a_batch_do_not_depend_on_the_rest(process, workers):
    """A batch's images get the same frames however the threads split the batch.

    Nine images (a thread takes whole images) and the first five of them (two threads share the
    blocks of every image) give those five the same frames, bitwise.
    """
    batch = np.random.default_rng(4).random((9, 64, 128))
    nine = process.trajectory(batch, TIMES, seed=5, workers=workers, channel_axis=None)
    five = process.trajectory(batch[:5], TIMES, seed=5, workers=2, channel_axis=None)
    assert_array_equal(nine[:, :5], five)


def test_different_seeds_differ_unless_deterministic(linear, grey):
    a = linear.trajectory(grey, [10], seed=1)
    b = linear.trajectory(grey, [10], seed=2)
    if isinstance(linear, ps.HomogeneousDiffusion):
        assert_array_equal(a, b)
    else:
        assert np.max(np.abs(a - b)) > 1e-4


def test_sample_is_first_frame(process, grey):
    assert_array_equal(process.sample(grey, 10, seed=3), process.trajectory(grey, [10], seed=3)[0])


def test_time_zero_is_the_initial_image(linear, grey):
    assert_allclose(linear.trajectory(grey, [0, 1], seed=0)[0], grey, atol=1e-12)


def test_batch_is_processed_per_image(linear, rng):
    """A batch (N, H, W, C) is one call; deterministic parts match per-image calls."""
    batch = rng.uniform(0.1, 0.9, size=(4, 6, 8, 3))
    noise = rng.standard_normal((2, *batch.shape))
    out = linear.trajectory(batch, [3, 30], noise=noise, channel_axis=-1)
    for n in range(batch.shape[0]):
        single = linear.trajectory(batch[n], [3, 30], noise=noise[:, n], channel_axis=-1)
        assert_allclose(out[:, n], single, atol=1e-12)


def test_grey_batch_with_channel_axis_none(linear, rng):
    batch = rng.uniform(0.1, 0.9, size=(3, 6, 8))
    noise = rng.standard_normal((1, *batch.shape))
    out = linear.trajectory(batch, [5], noise=noise, channel_axis=None)
    for n in range(3):
        assert_allclose(out[0, n], linear.sample(batch[n], 5, noise=noise[0, n]), atol=1e-12)


def test_colour_is_channel_wise(linear, colour, rng):
    noise = rng.standard_normal((1, *colour.shape))
    out = linear.trajectory(colour, [7], noise=noise, channel_axis=-1)
    for c in range(3):
        single = linear.trajectory(colour[..., c], [7], noise=noise[..., c])
        assert_allclose(out[..., c], single, atol=1e-12)


def test_float32_matches_float64(linear, grey):
    a = linear.trajectory(grey, TIMES, seed=5)
    b = linear.trajectory(grey.astype(np.float32), TIMES, seed=5)
    assert_allclose(b, a, atol=2e-5 * max(1.0, np.abs(a).max()))


def test_large_time_costs_one_jump(linear, grey):
    """T = 10000 is one jump: equal to the closed form with the same draw."""
    g = np.random.default_rng(0).standard_normal((1, *grey.shape))
    u = linear.trajectory(grey, [10000], noise=g)[0]
    lam, gam = linear.marginal(10000, grey.shape)
    if linear.basis == "dct":
        expect = ps.idct2(lam * ps.dct2(grey) + gam * ps.dct2(g[0]))
    else:
        expect = lam * grey + gam * g[0]
    assert_allclose(u, expect, atol=1e-10)


@pytest.mark.parametrize("spectrum", ["continuous", "discrete"])
def test_homogeneous_diffusion_matches_stepwise_reference(spectrum, colour):
    times = [1, 4, 9]
    ours = ps.HomogeneousDiffusion(spectrum=spectrum).trajectory(colour, times, channel_axis=-1)
    ref = reference.diffusion_chain(colour, times, spectrum)
    assert_allclose(ours, ref, atol=1e-12)


def test_spectra_match_reference_rates():
    for spectrum in ("continuous", "discrete"):
        assert_allclose(
            ps.laplacian_eigenvalues(7, 5, spectrum),
            reference.decay_rates(7, 5, spectrum),
            atol=1e-14,
        )


def test_explicit_noise_reproduces_seeded_draws(linear, grey):
    """Internal draws are the DCT of pixel-domain white noise; that noise gives the same frames."""
    from pyscale.noise import standard_normal

    z = standard_normal(9, 0, grey.shape)
    g = ps.idct2(z) if linear.basis == "dct" else z
    assert_allclose(linear.sample(grey, 50, noise=g), linear.sample(grey, 50, seed=9), atol=1e-12)


def test_heat_dissipation_is_blur_plus_observation_noise(grey):
    p = ps.HeatDissipation(sigma=0.01)
    u = p.sample(grey, 20, seed=0)
    blur = ps.HomogeneousDiffusion().sample(grey, 20)
    resid = u - blur
    assert abs(resid.std() - 0.01) < 0.003


def test_processes_pickle_and_compare_equal(process):
    clone = pickle.loads(pickle.dumps(process))
    assert clone == process
    assert repr(clone) == repr(process)


def test_per_step_schedule():
    beta = np.linspace(0.01, 0.2, 50)
    p = ps.DPM(beta=beta)
    lam, gam = p.marginal(50)
    assert_allclose(lam, np.prod(np.sqrt(1 - beta**2)))
    assert_allclose(gam**2, 1 - np.prod(1 - beta**2))  # Eq. 15 (variance preserving)
    with pytest.raises(ValueError, match="times"):
        p.trajectory(np.ones((4, 4)) * 0.5, [10, 60], seed=0)
    with pytest.raises(ValueError, match="whole numbers"):
        p.trajectory(np.ones((4, 4)) * 0.5, [1.5], seed=0)


def test_expm1_of_the_long_times_is_numpys():
    """The masked ``expm1`` of the marginals gives numpy's values bitwise, -1 included."""
    from pyscale.dct_processes import expm1_nonpositive

    x = np.concatenate([-np.logspace(-20, 4, 2001), [0.0, -38.0, -39.0, -45.0, -np.inf, np.nan]])
    assert_array_equal(expm1_nonpositive(x.copy()), np.expm1(x))
    mu = ps.laplacian_eigenvalues(32, 32, "continuous")
    t = np.arange(1.0, 1001.0, 7.0)[:, None, None]
    for noise in ("per-step", "variance-preserving"):
        p = ps.BlurringDiffusion(beta=0.1, noise=noise)
        gam = p.mode_marginal(t, mu)[1]
        for k in (0, 50, 142):
            assert_array_equal(gam[k], p.mode_marginal(t[k, 0, 0], mu)[1])
        gam2 = 0.01 * -np.expm1(-2 * mu * t)
        if noise == "per-step":
            with np.errstate(divide="ignore", invalid="ignore"):
                gam2 = np.where(mu == 0, 0.01 * t, gam2 / -np.expm1(-2 * mu))
        assert_allclose(gam, np.sqrt(gam2), rtol=1e-15, atol=0)
