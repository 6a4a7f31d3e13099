"""Arrays from anywhere: pickled, other byte orders, read-only, non-contiguous, memory-mapped."""

import multiprocessing as mp
import pickle
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pytest
from numpy.testing import assert_array_equal

import pyscale as ps

MODELS = [
    ps.DPM(beta=0.1),
    ps.DPM.from_schedule("cosine", 50),
    ps.HeatDissipation(),
    ps.HomogeneousDiffusion(),
    ps.BlurringDiffusion(),
    ps.HoogeboomBlurring(),
    ps.ProbabilisticOsmosis(sigma=0.1),
]
IDS = ["dpm", "dpm-cosine", "heat", "homogeneous", "blurring", "hoogeboom", "osmosis"]


def _image(dtype=np.float64):
    return np.random.default_rng(0).uniform(0.2, 0.8, (3, 10, 13)).astype(dtype)


def _times(p):
    return [0.1, 0.5] if isinstance(p, ps.HoogeboomBlurring) else [1, 20]


def _run(args):
    """A worker's job: every model on an array that arrived through pickle."""
    i, u = args
    p = MODELS[i]
    out = [p.trajectory(u, _times(p), seed=5)]
    if isinstance(p, ps.LinearGaussianProcess):
        t = np.linspace(*_times(p), u.shape[0]).round(0 if p.integer_times else 3)
        out.append(p.sample(u, t, seed=5))
    return out


@pytest.mark.parametrize("p", MODELS, ids=IDS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
def test_pickled_arrays_and_dtypes(p, dtype):
    """An unpickled array's dtype is equal to, not the same object as, numpy's own."""
    u = _image(dtype)
    clone = pickle.loads(pickle.dumps(u))
    a = p.trajectory(u, _times(p), seed=1)
    b = p.trajectory(clone, _times(p), seed=1)
    assert_array_equal(a, b)
    assert b.dtype == dtype
    if isinstance(p, ps.LinearGaussianProcess):
        out = pickle.loads(pickle.dumps(np.empty_like(a)))
        assert p.trajectory(clone, _times(p), seed=1, out=out) is out
        assert_array_equal(out, a)


@pytest.mark.parametrize("p", MODELS, ids=IDS)
def test_unusual_memory(p, tmp_path):
    u = _image()
    want = p.trajectory(u, _times(p), seed=2)
    swapped = u.astype(u.dtype.newbyteorder())
    readonly = u.copy()
    readonly.flags.writeable = False
    strided = np.zeros((3, 20, 26))[:, ::2, ::2]
    strided[...] = u
    fortran = np.asfortranarray(u)
    mm = np.lib.format.open_memmap(tmp_path / "u.npy", mode="w+", dtype=u.dtype, shape=u.shape)
    mm[...] = u
    mm.flush()
    mapped = np.load(tmp_path / "u.npy", mmap_mode="r")
    for arr in (swapped, readonly, strided, fortran, mapped):
        assert_array_equal(p.trajectory(arr, _times(p), seed=2), want)
    times = [np.float64(t) if isinstance(t, float) else np.int64(t) for t in _times(p)]
    assert_array_equal(p.trajectory(u, times, seed=2), want)


@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
@pytest.mark.parametrize(
    "method", [m for m in ("fork", "spawn") if m in mp.get_all_start_methods()]
)
def test_process_pool_into_every_model(method):
    jobs = [(i, _image()) for i in range(len(MODELS))]
    local = [_run(j) for j in jobs]
    with ProcessPoolExecutor(max_workers=2, mp_context=mp.get_context(method)) as pool:
        remote = list(pool.map(_run, jobs))
    for a, b in zip(local, remote, strict=True):
        for x, y in zip(a, b, strict=True):
            assert_array_equal(x, y)
