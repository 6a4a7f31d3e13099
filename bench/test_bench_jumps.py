"""What training pipelines call, timed against what users would write instead.

``DPM.sample`` against numpy's ``a*u + b*standard_normal``; batches at one time per example against
one shared time and against a loop over examples.
"""

import numpy as np
import pytest
from benchdata import interleaved_medians
from numpy.testing import assert_allclose

import pyscale as ps
from pyscale.jumps import pixel_jump
from pyscale.noise import standard_normal


@pytest.mark.benchmark(group="dpm-sample-16x321x481-f64")
def test_dpm_sample(ratio, benchmark):
    """The public ``DPM.sample`` (validation, layout, result) on one thread against numpy."""
    shape = (16, 321, 481) if not benchmark.disabled else (2, 21, 31)
    u = np.random.default_rng(0).random(shape)
    p = ps.DPM(beta=0.1)
    lam, gam = p.marginal(100)
    rng = np.random.default_rng(1)

    def ours():
        return p.sample(u, 100, seed=5, workers=1)

    def ref():
        return lam * u + gam * rng.standard_normal(u.shape)

    got, _, speedup = ratio(ours, ref, rounds=9)
    assert_allclose(got, lam * u + gam * standard_normal(5, 0, shape), rtol=1e-13, atol=1e-15)
    if speedup is not None:
        out = np.empty_like(u)
        (kernel,) = interleaved_medians([lambda: pixel_jump(u, out, lam, gam, 5, 0, 1)], 9)
        print(
            f"DPM.sample speed-up over numpy: {speedup:.2f}x, target 3x "
            f"{'met' if speedup >= 3 else 'missed'} (public call "
            f"{benchmark.stats.stats.median * 1e3:.1f} ms; kernel alone into a kept buffer "
            f"{kernel * 1e3:.1f} ms)"
        )
        # a fresh 62 MB result costs the page faults of the operating system; how many depends on
        # the state of its memory (transparent huge pages), so the floor sits below the target
        assert speedup >= 2.5


CASES = {
    "dpm": (lambda: ps.DPM.from_schedule("linear"), lambda r: r.integers(1, 1001, 256), 500),
    "blurring": (ps.BlurringDiffusion, lambda r: r.integers(1, 1001, 256).astype(float), 500.0),
    "heat": (
        ps.HeatDissipation,
        lambda r: ps.schedules.rissanen_blur_times(20, 16.0)[r.integers(0, 21, 256)],
        32.0,
    ),
    "hoogeboom": (ps.HoogeboomBlurring, lambda r: r.random(256), 0.5),
}


@pytest.mark.parametrize("name", list(CASES))
def test_per_example_times(benchmark, name):
    """256x3x32x32 at one time per example: against one shared time and a loop over examples."""
    benchmark.group = f"per-example-times-256x3x32x32-{name}"
    make, draw, shared_t = CASES[name]
    p = make()
    n = 256 if not benchmark.disabled else 6
    x = np.random.default_rng(0).random((n, 3, 32, 32))
    t = draw(np.random.default_rng(1))[:n]

    def per_example():
        return p.sample(x, t, seed=3, channel_axis=1, workers=1)

    def shared():
        return p.sample(x, shared_t, seed=3, channel_axis=1, workers=1)

    def loop():
        return [p.sample(x[i], t[i], seed=3, channel_axis=0, workers=1) for i in range(n)]

    got = benchmark(per_example)
    _, eps = p.sample(x, t, seed=3, channel_axis=1, return_noise=True)
    for i in range(0, n, max(1, n // 6)):
        one = p.sample(x[i], t[i], noise=eps[i], channel_axis=0)
        assert_allclose(got[i], one, atol=1e-12)
    if not benchmark.disabled:
        t_per, t_shared, t_loop = interleaved_medians([per_example, shared, loop], 15)
        cost, gain = t_per / t_shared, t_loop / t_per
        benchmark.extra_info.update(vs_shared_time=cost, loop_over_per_example=gain)
        print(
            f"{name}: per-example {t_per * 1e3:.1f} ms = {cost:.2f} x one shared time "
            f"({t_shared * 1e3:.1f} ms); a loop over examples takes {gain:.1f}x longer "
            f"(target 5x {'met' if gain >= 5 else 'missed'})"
        )
        assert cost <= 1.5
        # floors that catch a lost batching: a loop's calls on 3x32x32 cost little more than the
        # work itself (see bench/test_bench_calls.py), so the gain is near (work + call) / work
        assert gain >= (3.0 if name == "dpm" else 1.3)
