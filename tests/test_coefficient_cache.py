"""The cache of trajectory coefficients: same results, keyed by everything that fixes them."""

import numpy as np
import pytest

import pyscale as ps
from pyscale import _coefficient_cache as cache

TIMES = np.array([1.0, 5.0, 10.0, 100.0])

DCT_PROCESSES = [
    ps.HomogeneousDiffusion(),
    ps.HeatDissipation(sigma=0.01),
    ps.BlurringDiffusion(beta=0.1),
    ps.BlurringDiffusion(beta=0.1, noise="variance-preserving", spectrum="discrete"),
    ps.HoogeboomBlurring(),  # times up to 1: TIMES / 100
]


def times_of(proc):
    return TIMES / 100 if isinstance(proc, ps.HoogeboomBlurring) else TIMES


@pytest.fixture(autouse=True)
def empty_cache():
    cache.clear()
    yield
    cache.clear()


@pytest.mark.parametrize("proc", DCT_PROCESSES, ids=lambda p: type(p).__name__)
def test_cached_coefficients_equal_computed_ones(proc):
    mu, times = proc._rates(9, 14), times_of(proc)
    fresh = proc._jump_coefficients(times, mu)
    first = proc._trajectory_coefficients(times, mu)
    again = proc._trajectory_coefficients(times, mu)
    assert again[0] is first[0] and again[1] is first[1]  # served from the cache
    for f, c in zip(fresh, again, strict=True):
        np.testing.assert_array_equal(c, f)
        assert not c.flags.writeable


@pytest.mark.parametrize("proc", DCT_PROCESSES, ids=lambda p: type(p).__name__)
def test_trajectories_with_a_warm_cache_are_unchanged(proc):
    u0 = np.random.default_rng(0).uniform(0.1, 0.9, (2, 9, 14, 3))
    cold = proc.trajectory(u0, times_of(proc), seed=3, channel_axis=-1)
    assert cache.held_bytes() > 0
    warm = proc.trajectory(u0, times_of(proc), seed=3, channel_axis=-1)
    np.testing.assert_array_equal(warm, cold)


@pytest.mark.parametrize(
    "change",
    [
        lambda p: setattr(p, "beta", 0.2),
        lambda p: setattr(p, "domain", "unit"),
        lambda p: setattr(p, "spectrum", "discrete"),
        lambda p: setattr(p, "preserve_mean", True),
    ],
    ids=["beta", "domain", "spectrum", "preserve_mean"],
)
def test_a_changed_parameter_is_a_new_entry(change):
    """Parameters set after construction count: the key is read at each call."""
    proc = ps.BlurringDiffusion(beta=0.1)
    u0 = np.random.default_rng(1).uniform(0.1, 0.9, (12, 10))
    proc.trajectory(u0, TIMES, seed=0)
    change(proc)
    got = proc.trajectory(u0, TIMES, seed=0)
    cache.clear()
    np.testing.assert_array_equal(got, proc.trajectory(u0, TIMES, seed=0))


def test_times_and_sizes_are_part_of_the_key():
    proc = ps.HomogeneousDiffusion()
    a = proc._trajectory_coefficients(TIMES, proc._rates(8, 8))[0]
    b = proc._trajectory_coefficients(TIMES * 2, proc._rates(8, 8))[0]
    c = proc._trajectory_coefficients(TIMES, proc._rates(8, 9))[0]
    assert not np.array_equal(a, b)
    assert c.shape[-1] == 9


def test_processes_with_functions_or_own_rates_are_not_cached():
    blur = ps.BlurringDiffusion(beta=0.1)
    custom = ps.DiagonalProcess(blur.mode_marginal, name="mine")

    class Faster(ps.HomogeneousDiffusion):
        def decay_rates(self, ny, nx):
            return 2 * super().decay_rates(ny, nx)

    u0 = np.random.default_rng(2).uniform(0.1, 0.9, (8, 8))
    custom.trajectory(u0, TIMES, seed=0)
    Faster().trajectory(u0, TIMES)
    assert cache.held_bytes() == 0
    ps.DPM(beta=0.01).trajectory(u0, [1, 2], seed=0)  # pixel basis: nothing worth keeping
    assert cache.held_bytes() == 0


def test_the_cache_keeps_at_most_its_budget(monkeypatch):
    proc = ps.HomogeneousDiffusion()
    entry = 2 * TIMES.size * 32 * 32 * 8  # bytes of the two planes of one size
    monkeypatch.setattr(cache, "MAX_BYTES", int(2.5 * entry))
    first = proc._trajectory_coefficients(TIMES, proc._rates(32, 32))
    for n in (31, 30):
        proc._trajectory_coefficients(TIMES, proc._rates(n, 32))
    assert cache.held_bytes() <= cache.MAX_BYTES
    # the entry used longest ago was dropped: asking again computes it anew
    again = proc._trajectory_coefficients(TIMES, proc._rates(32, 32))
    assert again[0] is not first[0]
    np.testing.assert_array_equal(again[0], first[0])
    # an entry over the whole budget is returned, not kept
    held = cache.held_bytes()
    big = proc._trajectory_coefficients(TIMES, proc._rates(64, 64))
    assert big[0].flags.writeable and cache.held_bytes() == held


def test_coefficient_key_takes_plain_values_only():
    assert cache.coefficient_key({"b": 0.5, "a": "x", "c": np.float64(2.0), "d": None}) == (
        ("a", "x"),
        ("b", 0.5),
        ("c", 2.0),
        ("d", None),
    )
    assert cache.coefficient_key({"f": len}) is None
    assert cache.coefficient_key({"beta": np.ones(3)}) is None
