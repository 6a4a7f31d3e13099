"""Helpers for benchmarks that report pyscale's time as a ratio against a reference in one run."""

import os
import statistics
import time
from pathlib import Path

import numpy as np
import pytest

BSDS = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "BSDS500" / "data" / "images"


def _median_time(fn, rounds):
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


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
        t_ref = _median_time(ref, ref_rounds or rounds)
        out = benchmark.pedantic(ours, rounds=rounds, warmup_rounds=1)
        t_ours = benchmark.stats.stats.median
        benchmark.extra_info["reference_median_s"] = t_ref
        benchmark.extra_info["speedup"] = t_ref / t_ours
        return out, ref_out, t_ref / t_ours

    return run


def bsds_image(grey=False):
    """One BSDS500 photo (321x481 or 481x321) when the data set is present, else a generated one."""
    files = sorted(BSDS.glob("*/*.jpg")) if BSDS.is_dir() else []
    if files:
        from PIL import Image

        img = Image.open(files[0])
        if grey:
            img = img.convert("L")
        arr = np.asarray(img, dtype=np.float64) / 255.0
        return arr if arr.shape[0] <= arr.shape[1] else np.swapaxes(arr, 0, 1)
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:321, 0:481]
    base = 0.5 + 0.3 * np.sin(x / 17.0) * np.cos(y / 23.0)
    img = np.clip(base + 0.05 * rng.standard_normal((321, 481)), 0, 1)
    return img if grey else np.stack([img, img[::-1], img[:, ::-1]], axis=-1)


os.environ.setdefault("PYSCALE_BENCH", "1")
