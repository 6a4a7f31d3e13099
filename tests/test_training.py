"""Training-pipeline use: per-example times, the published schedules, targets and reverse steps."""

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

import pyscale as ps
from pyscale.schedules import beta_schedule, rissanen_blur_times

MODELS = {
    "dpm": (ps.DPM(beta=0.1), [1, 7, 30, 3]),
    "dpm-linear": (ps.DPM.from_schedule("linear", 100), [1, 50, 100, 7]),
    "dpm-ve": (ps.DPM(beta=0.1, alpha=1.0), [2, 5, 5, 9]),
    "heat": (ps.HeatDissipation(sigma=0.05), [0.0, 2.5, 40.0, 0.3]),
    "homogeneous": (ps.HomogeneousDiffusion(), [0.5, 3.0, 12.0, 3.0]),
    "blurring": (ps.BlurringDiffusion(beta=0.1), [1.0, 4.5, 100.0, 2.0]),
    "blurring-mean": (ps.BlurringDiffusion(beta=0.1, preserve_mean=True), [1.0, 4.5, 100.0, 2.0]),
    "blurring-vp": (
        ps.BlurringDiffusion(beta=0.1, noise="variance-preserving"),
        [1.0, 4.5, 100.0, 2.0],
    ),
    "hoogeboom": (ps.HoogeboomBlurring(), [0.05, 0.3, 0.99, 0.6]),
}
IDS = list(MODELS)


def _modes(p, x):
    """Per-mode values of images (DCT for DCT-domain processes)."""
    return ps.dct2(x) if p.basis == "dct" else x


@pytest.mark.parametrize("name", IDS)
@pytest.mark.parametrize("layout", ["grey", "nchw", "nhwc"])
def test_per_example_times_equal_per_example_calls(name, layout):
    p, times = MODELS[name]
    rng = np.random.default_rng(1)
    shape, axis = {
        "grey": ((4, 9, 11), None),
        "nchw": ((4, 3, 9, 11), 1),
        "nhwc": ((4, 9, 11, 3), -1),
    }[layout]
    u0 = rng.uniform(0.1, 0.9, shape)
    noise = rng.standard_normal(shape)
    t = np.array(times, dtype=float)
    got = p.sample(u0, t, noise=noise, channel_axis=axis)
    one_axis = None if axis is None else axis - 1 if axis > 0 else axis
    for i in range(4):
        assert_allclose(
            got[i], p.sample(u0[i], t[i], noise=noise[i], channel_axis=one_axis), atol=1e-13
        )
    seeded, eps = p.sample(u0, t, seed=3, channel_axis=axis, return_noise=True)
    assert_allclose(seeded, p.sample(u0, t, noise=eps, channel_axis=axis), atol=1e-12)
    assert_array_equal(seeded, p.sample(u0, t, seed=3, channel_axis=axis))
    assert_array_equal(seeded, p.sample(u0, t, seed=3, channel_axis=axis, workers=2))


@pytest.mark.parametrize("name", IDS)
def test_per_example_coefficients_have_a_leading_axis(name):
    p, times = MODELS[name]
    lam, gam = p.marginal(times, (6, 7))
    half = np.floor(np.array(times) / 2)
    a, b = p.transition(half, times, (6, 7))
    for i, t in enumerate(times):
        one_lam, one_gam = p.marginal(t, (6, 7))
        one_a, one_b = p.transition(half[i], t, (6, 7))
        assert_allclose(lam[i], one_lam, rtol=1e-14)
        assert_allclose(gam[i], one_gam, rtol=1e-14)
        assert_allclose(a[i], one_a, rtol=1e-14)
        assert_allclose(b[i], one_b, rtol=1e-14)


def test_per_example_times_are_checked():
    p = ps.BlurringDiffusion()
    u0 = np.full((3, 5, 6), 0.5)
    with pytest.raises(ValueError, match=r"per-example times must have shape \(3,\)"):
        p.sample(u0, [1.0, 2.0], seed=0)
    with pytest.raises(ValueError, match="batch axis first"):
        p.sample(u0[0], [1.0, 2.0, 3.0], seed=0)
    with pytest.raises(ValueError, match="batch axis first"):
        p.sample(u0, [1.0, 2.0, 3.0], seed=0, channel_axis=0)
    with pytest.raises(ValueError, match="non-negative"):
        p.sample(u0, [1.0, -2.0, 3.0], seed=0)
    with pytest.raises(ValueError, match="whole numbers"):
        ps.DPM.from_schedule("linear", 10).sample(u0, [1, 2.5, 3], seed=0)
    with pytest.raises(ValueError, match="must not exceed"):
        ps.HoogeboomBlurring().sample(u0, [0.1, 0.5, 1.5], seed=0)
    with pytest.raises(ValueError, match="t must not be smaller than s"):
        p.posterior([1.0, 5.0, 1.0], [2.0, 4.0, 3.0], u0, u0)


@pytest.mark.parametrize(
    "shape, axis",
    [
        ((5, 6, 3), -1),
        ((5, 6, 3), 2),
        ((3, 5, 6), 0),
        ((2, 3, 5, 6), 1),
        ((2, 5, 6, 3), -1),
        ((2, 5, 6, 3), 3),
        ((2, 5, 3, 6), 2),
    ],
)
def test_every_channel_axis_equals_channels_last(shape, axis):
    """Any channel axis gives the channel-last result moved back, for every entry point."""
    rng = np.random.default_rng(2)
    u0 = rng.uniform(0.1, 0.9, shape)
    last = np.moveaxis(u0, axis, -1)
    for p in (ps.BlurringDiffusion(), ps.DPM(beta=0.1)):
        noise = rng.standard_normal((2, *shape))
        want = p.trajectory(
            last, [2, 9], noise=np.moveaxis(noise, axis + (axis >= 0), -1), channel_axis=-1
        )
        got = p.trajectory(u0, [2, 9], noise=noise, channel_axis=axis)
        assert_allclose(np.moveaxis(got, axis + (axis >= 0), -1), want, atol=1e-13)
    heat = ps.HeatDissipation()
    mean, _ = heat.posterior(2, 9, u0, u0 * 0.5, channel_axis=axis)
    want, _ = heat.posterior(2, 9, last, last * 0.5, channel_axis=-1)
    assert_allclose(np.moveaxis(mean, axis, -1), want, atol=1e-13)
    v = rng.uniform(0.2, 0.8, shape)
    f = ps.osmosis(u0, v, t=3.0, channel_axis=axis)
    want = ps.osmosis(last, np.moveaxis(v, axis, -1), t=3.0, channel_axis=-1)
    assert_allclose(np.moveaxis(f, axis, -1), want, atol=1e-9)


def test_grey_batch_is_not_taken_for_colour():
    """(N, H, W) with the default channel_axis=None is N grey images, never H x W x C."""
    rng = np.random.default_rng(3)
    batch = rng.uniform(0.1, 0.9, (5, 8, 12))
    p = ps.HomogeneousDiffusion()
    got = p.sample(batch, 4.0)
    for i in range(5):
        assert_allclose(got[i], p.sample(batch[i], 4.0), atol=1e-14)
    chunks = [f for _, f in p.iter_batches(batch, [4.0], batch_size=2)]
    assert_allclose(np.concatenate(chunks, axis=1)[0], got, atol=1e-14)


# --- schedules ----------------------------------------------------------------------------------


def _diffusers_betas(name, n, start=1e-4, end=0.02):
    """The published formulas, written out independently of pyscale."""
    if name == "linear":
        return np.linspace(start, end, n)
    if name == "scaled_linear":
        return np.linspace(start**0.5, end**0.5, n) ** 2
    if name == "sigmoid":
        return 1 / (1 + np.exp(-np.linspace(-6, 6, n))) * (end - start) + start
    fn = lambda x: np.cos((x + 0.008) / 1.008 * np.pi / 2) ** 2  # noqa: E731
    return np.array([min(1 - fn((i + 1) / n) / fn(i / n), 0.999) for i in range(n)])


@pytest.mark.parametrize(
    "name", ["linear", "scaled_linear", "squaredcos_cap_v2", "cosine", "sigmoid"]
)
def test_schedules_match_diffusers_formulas(name):
    n = 1000
    betas = _diffusers_betas(name, n)
    assert_allclose(beta_schedule(name, n), betas, rtol=1e-15, atol=0)
    p = ps.DPM.from_schedule(name, n)
    ab = np.cumprod(1 - betas)
    t = np.arange(1, n + 1)
    lam, gam = p.marginal(t)  # pyscale time t is diffusers' timestep t - 1
    assert_allclose(lam, np.sqrt(ab), rtol=1e-13, atol=1e-15)
    assert_allclose(gam, np.sqrt(1 - ab), rtol=1e-12, atol=1e-15)
    assert p.marginal(0)[0] == 1 and p.marginal(0)[1] == 0


def test_zero_terminal_snr():
    betas = _diffusers_betas("scaled_linear", 1000, 0.00085, 0.012)
    root = np.sqrt(np.cumprod(1 - betas))
    root = (root - root[-1]) * root[0] / (root[0] - root[-1])
    bar = root**2
    want = 1 - np.concatenate([bar[:1], bar[1:] / bar[:-1]])
    got = beta_schedule(
        "scaled_linear", 1000, beta_start=0.00085, beta_end=0.012, rescale_zero_terminal_snr=True
    )
    assert_allclose(got, want, rtol=1e-12)
    p = ps.DPM.from_variances(got)
    lam, gam = p.marginal(1000)
    assert lam == 0 and gam == pytest.approx(1.0, abs=1e-12)
    u = p.sample(np.full((6, 6), 0.5), 1000, seed=0)  # pure noise, finite
    assert np.all(np.isfinite(u))
    mean, std = p.posterior(999, 1000, u, np.full((6, 6), 0.5))
    assert np.all(np.isfinite(mean)) and np.isfinite(std)


def test_schedule_errors():
    with pytest.raises(ValueError, match="name must be one of"):
        beta_schedule("quadratic")
    with pytest.raises(TypeError, match="steps"):
        beta_schedule("linear", 10.5)
    with pytest.raises(ValueError, match="leaves"):
        beta_schedule("linear", 10, beta_end=2.0)
    with pytest.raises(ValueError, match="betas"):
        ps.DPM.from_variances([0.1, 0.0])
    with pytest.raises(ValueError, match="sigma_max"):
        rissanen_blur_times(10, 0.2)


def test_rissanen_blur_times_feed_heat_dissipation():
    K, smax = 20, 16.0
    t = rissanen_blur_times(K, smax)
    levels = np.concatenate([[0.0], np.exp(np.linspace(np.log(0.5), np.log(smax), K))])
    assert_allclose(t, levels**2 / 2, rtol=1e-15)
    rng = np.random.default_rng(4)
    u0 = rng.uniform(0.1, 0.9, (6, 3, 16, 16))
    level = np.array([0, 3, 20, 11, 0, 7])
    blurred = ps.HomogeneousDiffusion().sample(u0, t[level], channel_axis=1)
    # a blur of standard deviation sigma: the DCT modes decay as exp(-(pi k / N)**2 sigma**2 / 2)
    k = np.pi * np.arange(16) / 16
    for i, lv in enumerate(level):
        damp = np.exp(-(k[:, None] ** 2 + k[None] ** 2) * levels[lv] ** 2 / 2)
        assert_allclose(ps.dct2(blurred[i]), damp * ps.dct2(u0[i]), atol=1e-13)
    noisy = ps.HeatDissipation(sigma=0.01).sample(u0, t[level], seed=0, channel_axis=1)
    assert_allclose(noisy[0], u0[0], atol=1e-14)  # level 0 is the data
    assert abs((noisy[2] - blurred[2]).std() - 0.01) < 0.002


# --- Hoogeboom and Salimans ---------------------------------------------------------------------


def _hoogeboom(t, mu, smax=20.0, dmin=0.001, lmin=-10.0, lmax=10.0):
    """Their marginal, from the sigmoid form of the log-SNR schedule."""
    b = np.arctan(np.exp(-lmax / 2))
    a = np.arctan(np.exp(-lmin / 2)) - b
    logsnr = -2 * np.log(np.tan(a * t + b))
    alpha2, sigma2 = 1 / (1 + np.exp(-logsnr)), 1 / (1 + np.exp(logsnr))
    tau = (smax * np.sin(np.pi * t / 2) ** 2) ** 2 / 2
    d = (1 - dmin) * np.exp(-mu * tau) + dmin
    return np.sqrt(alpha2) * d, np.sqrt(sigma2) + 0 * mu


def test_hoogeboom_marginal_formula():
    p = ps.HoogeboomBlurring()
    mu = ps.laplacian_eigenvalues(7, 9)
    for t in (0.0, 0.01, 0.3, 0.77, 1.0):
        lam, gam = p.marginal(t, (7, 9))
        want_lam, want_gam = _hoogeboom(t, mu)
        assert_allclose(lam, want_lam, rtol=1e-12)
        assert_allclose(gam, want_gam, rtol=1e-12)


def test_hoogeboom_marginal_and_transition_by_monte_carlo():
    p = ps.HoogeboomBlurring(sigma_blur_max=3.0)
    rng = np.random.default_rng(5)
    u0 = rng.uniform(0.2, 0.8, (4, 5))
    n = 6000
    s, t = 0.35, 0.7
    frames = p.trajectory(np.broadcast_to(u0, (n, 4, 5)), [s, t], seed=11)
    zs, zt = ps.dct2(frames[0]), ps.dct2(frames[1])
    lam_s, gam_s = p.marginal(s, (4, 5))
    lam_t, gam_t = p.marginal(t, (4, 5))
    a, b = p.transition(s, t, (4, 5))
    c0 = ps.dct2(u0)
    for z, lam, gam in ((zs, lam_s, gam_s), (zt, lam_t, gam_t)):
        assert np.all(np.abs(z.mean(0) - lam * c0) < 5 * gam / np.sqrt(n))
        assert np.all(np.abs(z.var(0) / gam**2 - 1) < 5 * np.sqrt(2 / n))
    cov = ((zs - zs.mean(0)) * (zt - zt.mean(0))).mean(0)
    assert np.all(np.abs(cov - a * gam_s**2) < 5 * gam_s * gam_t / np.sqrt(n))
    assert_allclose(a * lam_s, lam_t, rtol=1e-12)
    assert_allclose(a**2 * gam_s**2 + b**2, gam_t**2, rtol=1e-12)


# --- targets and reverse steps ------------------------------------------------------------------


def test_dpm_targets_match_diffusers_formulas():
    betas = _diffusers_betas("linear", 200)
    ab = np.cumprod(1 - betas)
    p = ps.DPM.from_variances(betas)
    rng = np.random.default_rng(6)
    x0 = rng.uniform(-1, 1, (5, 4, 4))
    eps = rng.standard_normal(x0.shape)
    k = np.array([0, 17, 99, 150, 199])  # diffusers timesteps; pyscale times are k + 1
    c = lambda v: v[:, None, None]  # noqa: E731
    x_t = c(np.sqrt(ab[k])) * x0 + c(np.sqrt(1 - ab[k])) * eps  # add_noise
    assert_allclose(p.sample(x0, k + 1, noise=eps), x_t, atol=1e-15)
    assert_allclose(
        p.velocity(x0, eps, k + 1), c(np.sqrt(ab[k])) * eps - c(np.sqrt(1 - ab[k])) * x0, atol=1e-15
    )
    # DDPM posterior q(x_{k-1} | x_k, x_0)
    prev = np.where(k > 0, ab[k - 1], 1.0)
    coef0 = betas[k] * np.sqrt(prev) / (1 - ab[k])
    coeft = (1 - prev) * np.sqrt(1 - betas[k]) / (1 - ab[k])
    var = betas[k] * (1 - prev) / (1 - ab[k])
    mean, std = p.posterior(k, k + 1, x_t, x0)
    assert_allclose(mean, c(coef0) * x0 + c(coeft) * x_t, atol=1e-15)
    assert_allclose(std**2, var, rtol=1e-12, atol=1e-18)
    # DDIM: x_prev = sqrt(ab_prev) x0 + sqrt(1 - ab_prev - sd**2) eps_hat + sd z
    z = rng.standard_normal(x0.shape)
    for eta in (0.0, 0.5, 1.0):
        sd = eta * np.sqrt(var)
        eps_hat = (x_t - c(np.sqrt(ab[k])) * x0) / c(np.sqrt(1 - ab[k]))
        want = c(np.sqrt(prev)) * x0 + c(np.sqrt(1 - prev - sd**2)) * eps_hat + c(sd) * z
        got = p.reverse_step(x_t, k + 1, k, x0, noise=z, eta=eta)
        assert_allclose(got, want, atol=1e-13)
    assert_allclose(p.predict_start(x_t, k + 1, noise=eps), x0, atol=1e-12)


@pytest.mark.parametrize("name", IDS)
def test_velocity_is_per_mode_and_inverts(name):
    p, times = MODELS[name]
    rng = np.random.default_rng(7)
    u0 = rng.uniform(0.1, 0.9, (4, 6, 7))
    u_t, eps = p.sample(u0, times, seed=1, return_noise=True)
    v = p.velocity(u0, eps, times)
    lam, gam = p.marginal(times, (6, 7))
    if p.basis == "pixel":
        lam, gam = lam[:, None, None], gam[:, None, None]
    assert_allclose(_modes(p, v), lam * _modes(p, eps) - gam * _modes(p, u0), atol=1e-12)
    if name != "homogeneous":  # a pure blur loses its fine modes: u_0 is not recoverable
        assert_allclose(p.predict_start(u_t, times, velocity=v), u0, atol=1e-10)


@pytest.mark.parametrize("name", ["dpm-linear", "heat", "blurring", "hoogeboom"])
@pytest.mark.parametrize("eta", [0.0, 0.5, 1.0])
def test_reverse_step_by_monte_carlo(name, eta):
    """Given the true u_0, every eta keeps the marginal of u_s; eta = 1 also the joint law."""
    p, times = MODELS[name]
    s, t = sorted(times[1:3])
    rng = np.random.default_rng(8)
    u0 = rng.uniform(0.2, 0.8, (3, 4))
    n = 5000
    batch = np.broadcast_to(u0, (n, 3, 4))
    u_t = p.sample(batch, t, seed=21)
    u_s = p.reverse_step(u_t, t, s, batch, seed=22, eta=eta)
    zs, zt = _modes(p, u_s), _modes(p, u_t)
    lam_s, gam_s = (np.broadcast_to(x, (3, 4)) for x in p.marginal(s, (3, 4)))
    _, gam_t = (np.broadcast_to(x, (3, 4)) for x in p.marginal(t, (3, 4)))
    a, _ = (np.broadcast_to(x, (3, 4)) for x in p.transition(s, t, (3, 4)))
    c0 = np.broadcast_to(_modes(p, u0), (3, 4))
    random = gam_s > 0
    assert np.all(np.abs(zs.mean(0) - lam_s * c0)[random] < 5 * gam_s[random] / np.sqrt(n))
    assert_allclose(zs[:, ~random], np.broadcast_to(lam_s * c0, zs.shape)[:, ~random], atol=1e-12)
    assert np.all(np.abs(zs.var(0)[random] / gam_s[random] ** 2 - 1) < 5 * np.sqrt(2 / n))
    if eta == 1.0:
        cov = ((zs - zs.mean(0)) * (zt - zt.mean(0))).mean(0)
        tol = 5 * gam_s * gam_t / np.sqrt(n)
        assert np.all(np.abs(cov - a * gam_s**2)[random] < tol[random])


def test_reverse_chain_with_eta_zero_returns_the_data():
    """DDIM with the true u_0 at every step lands on u_0 (deterministic modes included)."""
    p = ps.BlurringDiffusion(beta=0.05)
    u0 = np.random.default_rng(9).uniform(0.2, 0.8, (2, 8, 8))
    times = np.linspace(0, 20, 11)
    u = p.sample(u0, times[-1], seed=0)
    for t, s in zip(times[:0:-1], times[-2::-1], strict=True):
        u = p.reverse_step(u, t, s, u0, eta=0.0)
    assert_allclose(u, u0, atol=1e-12)


def test_target_argument_errors():
    p = ps.DPM(beta=0.1)
    u = np.full((2, 4, 4), 0.5)
    with pytest.raises(ValueError, match="eta"):
        p.reverse_step(u, 5, 4, u, eta=1.5)
    with pytest.raises(TypeError, match="eta"):
        p.reverse_step(u, 5, 4, u, eta="1")
    with pytest.raises(TypeError, match="exactly one"):
        p.predict_start(u, 5)
    with pytest.raises(ValueError, match="noise must have shape"):
        p.velocity(u, u[0], 5)
    with pytest.raises(ValueError, match="u0_hat must have shape"):
        p.reverse_step(u, 5, 4, u[0])


def test_diagonal_process_from_a_function():
    blur = ps.BlurringDiffusion(beta=0.1)
    custom = ps.DiagonalProcess(blur.mode_marginal, name="mine")
    u0 = np.random.default_rng(10).uniform(0.1, 0.9, (3, 9, 10))
    t = np.array([1.0, 20.0, 300.0])
    assert_allclose(custom.sample(u0, t, seed=4), blur.sample(u0, t, seed=4), atol=1e-14)
    assert_allclose(
        custom.trajectory(u0, [2, 8], seed=1), blur.trajectory(u0, [2, 8], seed=1), atol=1e-14
    )
    m1, s1 = custom.posterior(2, 8, u0, u0 * 0.9)
    m2, s2 = blur.posterior(2, 8, u0, u0 * 0.9)
    assert_allclose(m1, m2, atol=1e-14)
    assert_allclose(s1, s2, rtol=1e-9)
    with pytest.raises(TypeError, match="marginal must be callable"):
        ps.DiagonalProcess(3.0)
    with pytest.raises(ValueError, match="basis"):
        ps.DiagonalProcess(blur.mode_marginal, basis="wavelet")


@pytest.mark.parametrize("name, limit", [("dpm", 1.05), ("dpm-linear", 1.05), ("blurring", 1.5)])
def test_sample_makes_no_hidden_copies(name, limit):
    """The public path allocates its result and little else (tracemalloc peak per call)."""
    import tracemalloc

    p, times = MODELS[name]
    u = np.random.default_rng(11).random((8, 64, 64))
    p.sample(u, times[1], seed=0)
    tracemalloc.start()
    try:
        p.sample(u, times[1], seed=0)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak <= limit * u.nbytes


@pytest.mark.parametrize("name", ["hoogeboom", "dpm-linear", "heat"])
def test_any_linear_process_matches_the_generic_reference(name):
    """A process needs no reference code of its own: the jump-by-jump scipy chain checks it."""
    from pyscale import reference

    p, times = MODELS[name]
    times = sorted(set(times))
    rng = np.random.default_rng(12)
    u0 = rng.uniform(0.1, 0.9, (7, 9, 2))
    zeta = rng.standard_normal((len(times), 7, 9, 2))  # per-mode draws of the reference

    class Replay:
        def __init__(self):
            self.k = -1

        def standard_normal(self, shape):
            self.k += 1
            return zeta[self.k]

    pixel = ps.idct2(zeta, axes=(1, 2)) if p.basis == "dct" else zeta
    ours = p.trajectory(u0, times, noise=pixel, channel_axis=-1)
    assert_allclose(ours, reference.linear_chain(p, u0, times, Replay()), atol=1e-12)
