"""Data and timing helpers shared by the benchmarks."""

import statistics
import time
from pathlib import Path

import numpy as np

BSDS = (
    Path(__file__).resolve().parents[1].parent / "shared" / "data" / "BSDS500" / "data" / "images"
)


def median_time(fn, rounds):
    """Median wall time of ``rounds`` calls of ``fn``."""
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def interleaved_medians(fns, rounds, calls=None):
    """Median wall time of each of ``fns``, their calls interleaved (after one warm-up call each).

    Interleaving exposes every function to the same load of a shared machine, so ratios of the
    medians are steadier than from separate runs. ``calls[i]`` (default 1) consecutive calls of
    ``fns[i]`` are made in each round and each is a sample: a fast function is then also timed
    in its steady state, not only right after a slow peer has emptied the caches.
    """
    calls = calls or [1] * len(fns)
    for fn in fns:
        fn()
    times = [[] for _ in fns]
    for _ in range(rounds):
        for fn, ts, count in zip(fns, times, calls, strict=True):
            for _ in range(count):
                t0 = time.perf_counter()
                fn()
                ts.append(time.perf_counter() - t0)
    return [statistics.median(ts) for ts in times]


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
