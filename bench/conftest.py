"""Fixtures for benchmarks that report pyscale's time as a ratio against a reference in one run."""

import pytest
from benchdata import median_time


@pytest.fixture
def ratio(benchmark):
    """Time ``ours`` with pytest-benchmark and ``ref`` alike; return ``ref_time / ours_time``.

    With ``--benchmark-disable`` both run once (so their results can still be checked) and the
    ratio is ``None``.
    """

    def run(ours, ref, *, rounds=5, ref_rounds=None):
        if benchmark.disabled:
            return benchmark(ours), ref(), None
        ref_out = ref()
        t_ref = median_time(ref, ref_rounds or rounds)
        out = benchmark.pedantic(ours, rounds=rounds, warmup_rounds=1)
        t_ours = benchmark.stats.stats.median
        benchmark.extra_info["reference_median_s"] = t_ref
        benchmark.extra_info["speedup"] = t_ref / t_ours
        return out, ref_out, t_ref / t_ours

    return run
