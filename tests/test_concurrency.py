"""Many threads and worker processes give the same results as serial calls; no leaks."""

import multiprocessing as mp
import os
import threading
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor

import numpy as np
import pytest
from numpy.testing import assert_array_equal

import pyscale as ps

MODELS = [
    ps.DPM(beta=0.1),
    ps.HeatDissipation(),
    ps.HomogeneousDiffusion(),
    ps.BlurringDiffusion(),
    ps.ProbabilisticOsmosis(sigma=0.1),
]
TIMES = [1, 10, 100]


def _job(i):
    """One unit of pipeline work: the trajectory of model i % 5 on image i, seeded by i."""
    u0 = np.random.default_rng(i).uniform(0.1, 0.9, (24, 31, 3))
    return MODELS[i % len(MODELS)].trajectory(u0, TIMES, seed=i, channel_axis=-1)


def _osmosis_job(i):
    rng = np.random.default_rng(100 + i)
    f, v = rng.uniform(0.1, 0.9, (20, 27)), rng.uniform(0.1, 0.9, (20, 27))
    return ps.osmosis(f, guidance=v, t=[1.0, 50.0])


def test_eight_threads_match_serial():
    jobs = list(range(16))
    serial = [_job(i) for i in jobs] + [_osmosis_job(i) for i in jobs]
    barrier = threading.Barrier(8)

    def run(i):
        if i < 8:
            barrier.wait()  # start the first eight calls together
        return _job(i)

    with ThreadPoolExecutor(max_workers=8) as pool:
        threaded = list(pool.map(run, jobs)) + list(pool.map(_osmosis_job, jobs))
    for a, b in zip(serial, threaded, strict=True):
        assert_array_equal(a, b)


@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
@pytest.mark.parametrize(
    "method", [m for m in ("fork", "spawn") if m in mp.get_all_start_methods()]
)
def test_process_pool_matches_in_process(method):
    jobs = list(range(5))
    local = [_job(i) for i in jobs]  # runs the kernels in the parent before any fork
    with ProcessPoolExecutor(max_workers=2, mp_context=mp.get_context(method)) as pool:
        remote = list(pool.map(_job, jobs))
    for a, b in zip(local, remote, strict=True):
        assert_array_equal(a, b)


def _large_osmosis_job(i):
    """A step large enough for its work arrays to come from the kept scratch memory."""
    rng = np.random.default_rng(200 + i)
    f, v = rng.uniform(0.1, 0.9, (120, 150)), rng.uniform(0.1, 0.9, (120, 150))
    solver = ("bicgstab", "cg")[i % 2]
    return ps.osmosis(f, guidance=v, t=20.0, tau=20.0, solver=solver, workers=1 + i % 2)


@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
def test_scratch_memory_shared_by_threads_and_forked_processes():
    jobs = list(range(8))
    serial = [_large_osmosis_job(i) for i in jobs]  # leaves blocks in the parent's scratch pool
    with ThreadPoolExecutor(max_workers=8) as pool:
        threaded = list(pool.map(_large_osmosis_job, jobs + jobs))
    for a, b in zip(serial + serial, threaded, strict=True):
        assert_array_equal(a, b)
    methods = [m for m in ("fork",) if m in mp.get_all_start_methods()]
    for method in methods:
        with ProcessPoolExecutor(max_workers=2, mp_context=mp.get_context(method)) as pool:
            remote = list(pool.map(_large_osmosis_job, jobs))
        for a, b in zip(serial, remote, strict=True):
            assert_array_equal(a, b)


def _rss_bytes():
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="needs /proc to read RSS")
@pytest.mark.skipif(
    "PYSCALE_SANITIZED" in os.environ,
    reason="the sanitizer's quarantine keeps freed memory resident",
)
def test_no_leak_over_repeated_calls():
    from pyscale.jumps import mode_jump, pixel_jump
    from pyscale.noise import standard_normal
    from pyscale.osmosis import osmosis_drift, osmosis_operator

    u = np.random.default_rng(0).uniform(0.1, 0.9, (2, 32, 40))
    out = np.empty_like(u)
    calls = {
        "pixel_jump": lambda: pixel_jump(u, out, 0.9, 0.1, 1, 0, 1),
        "mode_jump": lambda: mode_jump(out, 0.5, 0.1, 1, 0, 1),
        "standard_normal": lambda: standard_normal(1, 0, (32, 40)),
        "dct2": lambda: ps.idct2(ps.dct2(u)),
        "osmosis_operator": lambda: osmosis_operator(u, *osmosis_drift(u)),
        "osmosis": lambda: ps.osmosis(u[0, :8, :8], guidance=u[1, :8, :8], t=5.0, tau=5.0),
        "trajectory": lambda: ps.BlurringDiffusion().trajectory(u, [1, 10], seed=0),
    }
    for name, call in calls.items():
        for _ in range(50):  # warm up caches and allocator pools
            call()
        before = _rss_bytes()
        for _ in range(1000):
            call()
        grown = _rss_bytes() - before
        assert grown < 4 * 2**20, f"{name}: RSS grew by {grown / 2**20:.1f} MiB over 1000 calls"
