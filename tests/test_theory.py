"""Scale-space properties, checked against the corrected statements of the paper.

Monte-Carlo agreement of stepwise chains and closed forms, semigroup, Lyapunov sequences (with
the corrected condition), steady states, invariances, grey value.
"""

import numpy as np
import pytest
import scipy.fft
import scipy.sparse as sp
import scipy.sparse.linalg as spla
from numpy.testing import assert_allclose

import pyscale as ps
from pyscale import reference

N_MC = 4000  # Monte-Carlo chains; statistical tolerances below are 5 standard errors


def _check_moments(samples, mean, var, what):
    """Per-mode sample mean and variance against the closed form, within 5 standard errors."""
    n = samples.shape[0]
    m = samples.mean(axis=0)
    v = samples.var(axis=0, ddof=1)
    se_mean = np.sqrt(var / n)
    se_var = var * np.sqrt(2.0 / (n - 1))
    assert np.all(np.abs(m - mean) <= 5 * se_mean + 1e-12), f"{what}: mean off"
    assert np.all(np.abs(v - var) <= 5 * se_var + 1e-12), f"{what}: variance off"


DPM_CASES = {
    "vp-const": dict(beta=0.1),
    "ve-const": dict(beta=0.1, alpha=1.0),
    "vp-schedule": dict(beta=np.linspace(0.02, 0.3, 30)),
    "ve-schedule": dict(beta=np.linspace(0.02, 0.3, 30), alpha=np.ones(30)),
    "general-schedule": dict(beta=np.full(30, 0.2), alpha=np.linspace(0.8, 0.99, 30)),
}


@pytest.mark.parametrize("case", list(DPM_CASES), ids=list(DPM_CASES))
def test_dpm_stepwise_chain_matches_closed_form(case):
    kw = DPM_CASES[case]
    p = ps.DPM(**kw)
    u0 = np.linspace(0.1, 0.9, 6).reshape(2, 3)
    times = [1, 7, 30]
    rng = np.random.default_rng(2024)
    samples = reference.dpm_chain(np.broadcast_to(u0, (N_MC, 2, 3)), times, p.alpha, p.beta, rng)
    for k, t in enumerate(times):
        lam, gam = p.marginal(t)
        _check_moments(samples[k], lam * u0, np.full(u0.shape, gam**2), f"{case} t={t}")


def _eq14_gamma(alpha, beta, t):
    """The paper's Eq. 14: standard deviations summed (wrong)."""
    a = np.broadcast_to(alpha, (t,))
    b = np.broadcast_to(beta, (t,))
    return sum(b[k] * np.prod(a[k + 1 :]) for k in range(t))


def test_paper_eq14_sums_standard_deviations_wrongly():
    """The Monte-Carlo spread contradicts Eq. 14 by far more than the statistical tolerance."""
    p = ps.DPM(beta=0.1)
    t = 20
    rng = np.random.default_rng(7)
    samples = reference.dpm_chain(np.zeros((N_MC, 2, 3)), [t], p.alpha, p.beta, rng)[0]
    sd = samples.std()
    _, gam = p.marginal(t)
    eq14 = _eq14_gamma(p.alpha, p.beta, t)
    se = gam / np.sqrt(2 * samples.size)
    assert abs(sd - gam) < 5 * se
    assert abs(sd - eq14) > 100 * se
    assert eq14 > 3 * gam  # Eq. 14 overstates the spread about four-fold at t = 20


@pytest.mark.parametrize(
    "proc",
    [
        ps.BlurringDiffusion(beta=0.1),
        ps.BlurringDiffusion(beta=0.2, spectrum="discrete"),
        ps.BlurringDiffusion(beta=0.1, preserve_mean=True),
        ps.HeatDissipation(sigma=0.05),
    ],
    ids=["blurring", "blurring-discrete", "blurring-exact-mean", "heat"],
)
def test_dct_stepwise_chain_matches_closed_form(proc):
    """Per DCT mode, the naive pixel-space chain has the closed-form mean and variance."""
    u0 = np.random.default_rng(1).uniform(0.2, 0.8, (4, 5))
    times = [1, 3, 12]
    rng = np.random.default_rng(99)
    tiled = np.repeat(u0[..., None], N_MC, axis=-1)  # channels serve as independent chains
    samples = reference.trajectory(proc, tiled, times, rng)
    coef = scipy.fft.dctn(samples, norm="ortho", axes=(1, 2))  # (T, 4, 5, N)
    c0 = scipy.fft.dctn(u0, norm="ortho")
    for k, t in enumerate(times):
        lam, gam = proc.marginal(t, u0.shape)
        var = gam**2
        s = np.moveaxis(coef[k], -1, 0)
        if getattr(proc, "preserve_mean", False):
            assert np.max(np.abs(s[:, 0, 0] - c0[0, 0])) < 1e-12
            var = var.copy()
            var[0, 0] = 1e-30
        _check_moments(s, lam * c0, var, f"{proc} t={t}")


@pytest.mark.parametrize(
    "proc",
    [
        ps.DPM(beta=0.1),
        ps.DPM(beta=0.3, alpha=1.0),
        ps.DPM(beta=np.linspace(0.01, 0.2, 40)),
        ps.HeatDissipation(),
        ps.HomogeneousDiffusion(),
        ps.BlurringDiffusion(),
        ps.BlurringDiffusion(spectrum="discrete"),
    ],
    ids=["vp", "ve", "schedule", "heat", "homogeneous", "blurring", "blurring-discrete"],
)
@pytest.mark.parametrize("s, t", [(0, 1), (1, 5), (3, 40), (10, 10), (0, 40)])
def test_semigroup(proc, s, t):
    assert ps.semigroup_defect(proc, s, t, (6, 9)) < 1e-12


def test_semigroup_in_law_by_jumps():
    """Jumping 0 -> 10 -> 40 gives the law of jumping 0 -> 40 (Monte Carlo over chains)."""
    p = ps.BlurringDiffusion(beta=0.1)
    u0 = np.random.default_rng(3).uniform(0.2, 0.8, (3, 4))
    batch = np.broadcast_to(u0, (N_MC, 3, 4)).copy()
    two = p.trajectory(batch, [10, 40], seed=11, channel_axis=None)[1]
    lam, gam = p.marginal(40, u0.shape)
    coef = ps.dct2(two)
    _check_moments(coef, lam * ps.dct2(u0), np.broadcast_to(gam**2, u0.shape), "jumps")


def test_discrete_spectrum_is_one_implicit_osmosis_step():
    """Constant guidance: (I - tau A)^-1 multiplies DCT mode j by 1 / (1 + tau mu_j)."""
    f = np.random.default_rng(4).uniform(0.2, 0.8, (7, 10))
    tau = 3.7
    mu = ps.laplacian_eigenvalues(7, 10, "discrete")
    symbol = ps.idct2(ps.dct2(f) / (1 + tau * mu))
    A = reference.osmosis_matrix(np.full(f.shape, 0.4))
    direct = spla.spsolve((sp.identity(70) - tau * A).tocsc(), f.ravel()).reshape(f.shape)
    assert np.max(np.abs(direct - symbol)) < 1e-12
    ours = ps.osmosis(f, guidance=np.full(f.shape, 0.4), t=tau, tau=tau, rtol=1e-14)
    assert np.max(np.abs(ours - symbol)) < 1e-12


# --- Lyapunov sequences -------------------------------------------------------------------


@pytest.mark.parametrize(
    "proc",
    [
        ps.DPM(beta=0.1),
        ps.DPM(beta=0.1, alpha=1.0),
        ps.DPM(beta=np.linspace(0.01, 0.5, 100)),
        ps.BlurringDiffusion(),
        ps.HeatDissipation(),
    ],
    ids=["vp", "ve", "vp-schedule", "blurring", "heat"],
)
def test_entropy_increases_when_the_condition_holds(proc):
    times = [0.0, 1, 2, 5, 10, 50, 100]
    assert ps.lyapunov_condition(proc, times, (5, 6)).all()
    h = ps.entropy_sequence(proc, times[1:], (5, 6))
    assert np.all(np.diff(h) >= -1e-9)


def test_entropy_decreases_when_the_corrected_condition_fails():
    p = ps.DPM(beta=[0.9, 0.1], alpha=[0.5, 0.5])
    assert ps.lyapunov_condition(p, [1, 2], (3, 3)).tolist() == [False]
    h1, h2 = ps.entropy_sequence(p, [1, 2], (3, 3))
    assert h2 < h1


def test_paper_condition_is_not_sufficient():
    """Alpha = 0.5, gam_1 = 1, beta_2 = 0.6 meets Prop. 3's beta >= (1 - alpha) gam, yet H falls."""
    p = ps.DPM(beta=[0.999999, 0.6], alpha=[0.5, 0.5])
    _, gam1 = p.marginal(1)
    assert 0.6 >= (1 - 0.5) * gam1  # the paper's condition holds
    assert not ps.lyapunov_condition(p, [1, 2]).any()
    h1, h2 = ps.entropy_sequence(p, [1, 2], (2, 2))
    assert h2 < h1


def test_entropy_formula_and_minus_infinity():
    p = ps.DPM(beta=0.1)
    _, gam = p.marginal(10)
    assert_allclose(
        p.conditional_entropy(10, (4, 5, 3)), 60 * 0.5 * np.log(2 * np.pi * np.e * gam**2)
    )
    assert ps.HomogeneousDiffusion().conditional_entropy(5, (4, 5)) == -np.inf
    assert ps.BlurringDiffusion().conditional_entropy(0, (4, 5)) == -np.inf


# --- steady states ------------------------------------------------------------------------


def test_steady_state_variance_preserving_is_standard_normal():
    lam, gam = ps.steady_state(ps.DPM(beta=0.1))
    assert lam == 0 and abs(gam - 1) < 1e-12
    lam_t, gam_t = ps.DPM(beta=0.1).marginal(5000)
    assert lam_t < 1e-10 and abs(gam_t - 1) < 1e-12


def test_steady_state_bound_is_sharp_and_holds():
    rng = np.random.default_rng(5)
    alpha = rng.uniform(0.5, 0.9, 200)
    beta = rng.uniform(0.05, 0.4, 200)
    p = ps.DPM(beta=beta, alpha=alpha)
    bound = ps.steady_state_bound(p)
    assert_allclose(bound, beta.max() ** 2 / (1 - alpha.max() ** 2))
    gam2 = np.array([p.marginal(t)[1] ** 2 for t in range(201)])
    assert np.all(gam2 <= bound)
    const = ps.DPM(beta=0.4, alpha=0.9)  # the bound is reached by the constant schedule
    assert abs(const.marginal(2000)[1] ** 2 - ps.steady_state_bound(const)) < 1e-12
    assert ps.steady_state_bound(ps.DPM(beta=0.1, alpha=1.0)) == np.inf


def test_steady_states_of_dct_models():
    shape = (5, 6)
    lam, gam = ps.steady_state(ps.BlurringDiffusion(beta=0.1), shape)
    lam_t, gam_t = ps.BlurringDiffusion(beta=0.1).marginal(1e5, shape)
    assert lam[0, 0] == 1 and np.all(lam.ravel()[1:] == 0)
    assert gam[0, 0] == np.inf
    assert_allclose(gam_t.ravel()[1:], gam.ravel()[1:], rtol=1e-10)
    lam, gam = ps.steady_state(ps.HomogeneousDiffusion(), shape)
    assert np.all(gam == 0)


# --- invariances and grey value -------------------------------------------------------------


def test_dpm_permutation_invariance(colour, rng):
    perm = rng.permutation(colour.shape[0] * colour.shape[1])
    assert (
        ps.permutation_defect(ps.DPM(beta=0.1), colour, [1, 10, 100], perm, channel_axis=-1) < 1e-12
    )
    assert (
        ps.permutation_defect(ps.BlurringDiffusion(), colour, [1, 10], perm, channel_axis=-1) > 1e-3
    )


@pytest.mark.parametrize(
    "proc",
    [
        ps.DPM(),
        ps.HeatDissipation(),
        ps.HomogeneousDiffusion(),
        ps.BlurringDiffusion(),
        ps.BlurringDiffusion(spectrum="discrete"),
        ps.ProbabilisticOsmosis(sigma=0.1),
    ],
    ids=["dpm", "heat", "homogeneous", "blurring", "blurring-discrete", "osmosis"],
)
@pytest.mark.parametrize("k", [1, 2, 3])
def test_rotation_invariance(proc, colour, k):
    assert ps.rotation_defect(proc, colour, [1, 10, 100], k, channel_axis=-1) < 1e-9


def test_mean_preservation():
    u0 = np.random.default_rng(6).uniform(0.2, 0.8, (8, 9, 3))
    means = u0.mean(axis=(0, 1))
    times = [1, 10, 1000]
    exact = [
        ps.HomogeneousDiffusion(),
        ps.BlurringDiffusion(preserve_mean=True),
        ps.HeatDissipation(preserve_mean=True),
        ps.ProbabilisticOsmosis(),
    ]
    for p in exact:
        assert ps.mean_preservation(p) == "exact"
        frames = p.trajectory(u0, times, seed=0, channel_axis=-1)
        assert_allclose(frames.mean(axis=(1, 2)), np.broadcast_to(means, (3, 3)), atol=1e-9)
    # white noise moves the mean of one trajectory, but not in expectation
    p = ps.BlurringDiffusion(beta=0.1)
    assert ps.mean_preservation(p) == "expectation"
    batch = np.broadcast_to(u0, (500, *u0.shape))
    frames = p.trajectory(batch, [100], seed=1, channel_axis=-1)[0]
    per_draw = frames.mean(axis=(1, 2))
    assert np.max(np.abs(per_draw - means)) > 1e-3
    se = per_draw.std(axis=0) / np.sqrt(500)
    assert np.all(np.abs(per_draw.mean(axis=0) - means) < 5 * se)
    assert ps.mean_preservation(ps.DPM()) == "none"


def test_osmosis_relative_entropy_increases(grey):
    p = ps.ProbabilisticOsmosis(sigma=0.1)
    times = [0.1, 1, 5, 10, 100, 1000, 1e5]
    frames = p.trajectory(grey, times, seed=2)
    v = p.guidance(grey, seed=2)
    L = [ps.relative_entropy(grey, v)] + [ps.relative_entropy(u, v) for u in frames]
    assert np.all(np.diff(L) > -1e-10)
    M, N = grey.sum(), v.sum()
    assert_allclose(L[-1], -M * np.log(M / N), rtol=1e-6)


def test_variance_preserving_blurring_by_monte_carlo():
    """Per-mode noise beta sqrt(1 - a_j**2), stepped unit by unit, against the closed form.

    The mean is kept exactly and the steady state is white noise of variance beta**2.
    """
    import scipy.fft

    beta, shape, t, n = 0.2, (4, 5), 12, 20000
    p = ps.BlurringDiffusion(beta=beta, noise="variance-preserving")
    a = np.exp(-ps.laplacian_eigenvalues(*shape))
    b = beta * np.sqrt(1 - a**2)
    rng = np.random.default_rng(3)
    u0 = rng.uniform(0.2, 0.8, shape)
    c = np.broadcast_to(scipy.fft.dctn(u0, norm="ortho"), (n, *shape)).copy()
    for _ in range(t):
        c = a * c + b * rng.standard_normal(c.shape)
    lam, gam = p.marginal(t, shape)
    assert np.all(
        np.abs(c.mean(0) - lam * scipy.fft.dctn(u0, norm="ortho")) < 5 * gam / np.sqrt(n) + 1e-12
    )
    random = gam > 0
    assert np.all(np.abs(c.var(0)[random] / gam[random] ** 2 - 1) < 5 * np.sqrt(2 / n))
    assert gam[0, 0] == 0 and ps.mean_preservation(p) == "exact"
    lim_lam, lim_gam = ps.steady_state(p, shape)
    assert_allclose(lim_gam[random], beta) and lim_gam[0, 0] == 0
    assert_allclose(p.marginal(1e6, shape)[1], lim_gam, atol=1e-12)
    assert np.all(ps.lyapunov_condition(p, [1, 2, 5, 50, 500], shape))
