"""Pipeline use: posterior targets, explicit noise in and out, out= buffers, streaming, pickling."""

import pickle
import tracemalloc

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

import pyscale as ps

LINEAR = {
    "dpm": ps.DPM(beta=0.1),
    "dpm-schedule": ps.DPM(beta=np.linspace(0.05, 0.3, 60)),
    "heat": ps.HeatDissipation(sigma=0.05),
    "blurring": ps.BlurringDiffusion(beta=0.1),
}


@pytest.mark.parametrize("name", list(LINEAR))
@pytest.mark.parametrize("s, t", [(3, 20), (1, 2), (0, 5)])
def test_posterior_by_monte_carlo(name, s, t):
    """Residuals u_s - E[u_s | u_t, u_0]: zero mean, the stated variance, uncorrelated with u_t."""
    p = LINEAR[name]
    u0 = np.random.default_rng(0).uniform(0.2, 0.8, (3, 4))
    n = 4000
    batch = np.broadcast_to(u0, (n, 3, 4)).copy()
    us, ut = (
        p.trajectory(batch, [s, t], seed=5, channel_axis=None)
        if s > 0
        else (batch, p.trajectory(batch, [t], seed=5, channel_axis=None)[0])
    )
    mean, std = p.posterior(s, t, ut, batch, channel_axis=None)
    resid = us - mean
    if p.basis == "dct":
        resid, ut = ps.dct2(resid), ps.dct2(ut)
    var = np.broadcast_to(std**2, (3, 4))
    random = var > 0
    assert np.all(np.abs(resid[:, ~random]) < 1e-12)  # deterministic modes are pinned exactly
    m, v = resid.mean(axis=0)[random], resid.var(axis=0)[random]
    var = var[random]
    assert np.all(np.abs(m) <= 5 * np.sqrt(var / n))
    assert np.all(np.abs(v - var) <= 5 * var * np.sqrt(2 / n))
    utc = (ut - ut.mean(axis=0))[:, random]
    corr = np.abs((resid[:, random] * utc).mean(axis=0)) / np.sqrt(v * utc.var(axis=0))
    assert np.all(corr < 5 / np.sqrt(n))


def test_posterior_of_deterministic_process():
    p = ps.HomogeneousDiffusion()
    u0 = np.random.default_rng(1).random((5, 6))
    mean, std = p.posterior(2, 9, p.sample(u0, 9), u0)
    assert_allclose(mean, p.sample(u0, 2), atol=1e-12)
    assert np.all(std == 0)


@pytest.mark.parametrize("name", list(LINEAR))
def test_return_noise_reproduces_and_gives_marginal_noise(name):
    p = LINEAR[name]
    u0 = np.random.default_rng(2).random((6, 7, 3))
    frames, eps = p.trajectory(u0, [4], seed=9, return_noise=True, channel_axis=-1)
    assert_allclose(frames, p.trajectory(u0, [4], seed=9, channel_axis=-1), atol=1e-12)
    assert_allclose(p.trajectory(u0, [4], noise=eps, channel_axis=-1), frames, atol=1e-12)
    lam, gam = p.marginal(4, u0.shape, channel_axis=-1)
    if p.basis == "dct":
        expect = ps.idct2(
            lam[..., None] * ps.dct2(u0, axes=(0, 1))
            + gam[..., None] * ps.dct2(eps[0], axes=(0, 1)),
            axes=(0, 1),
        )
    else:
        expect = lam * u0 + gam * eps[0]
    assert_allclose(frames[0], expect, atol=1e-12)


@pytest.mark.parametrize("channel_axis, shape", [(None, (4, 6, 7)), (-1, (6, 7, 3))])
def test_out_buffer(channel_axis, shape):
    p = ps.BlurringDiffusion()
    u0 = np.random.default_rng(3).random(shape)
    out = np.empty((2, *shape))
    res = p.trajectory(u0, [1, 9], seed=1, out=out, channel_axis=channel_axis)
    assert res is out
    assert_array_equal(out, p.trajectory(u0, [1, 9], seed=1, channel_axis=channel_axis))
    with pytest.raises(ValueError, match="out must be"):
        p.trajectory(u0, [1, 9], seed=1, out=np.empty((2, *shape), np.float32))


@pytest.mark.parametrize("name", list(LINEAR))
def test_iter_frames_equals_trajectory(name):
    p = LINEAR[name]
    u0 = np.random.default_rng(4).random((5, 6))
    times = [1, 2, 7, 30]
    streamed = np.stack(list(p.iter_frames(u0, times, seed=2)))
    assert_array_equal(streamed, p.trajectory(u0, times, seed=2))


@pytest.mark.parametrize("name", list(LINEAR))
def test_iter_batches_equals_whole_batch(name):
    p = LINEAR[name]
    u0 = np.random.default_rng(5).random((7, 5, 6, 3))
    whole = p.trajectory(u0, [2, 11], seed=4, channel_axis=-1)
    parts = []
    for idx, frames in p.iter_batches(u0, [2, 11], batch_size=3, seed=4, channel_axis=-1):
        assert_array_equal(frames, whole[:, idx])
        parts.append(frames)
    assert_array_equal(np.concatenate(parts, axis=1), whole)


def test_streaming_keeps_memory_bounded():
    """Peak memory of a 64-image batch streamed in chunks of 4 is a fraction of the whole result."""
    p = ps.BlurringDiffusion()
    u0 = np.random.default_rng(6).random((64, 32, 48, 3)).astype(np.float32)
    times = [1, 5, 10, 100, 1000, 10000]
    result_bytes = len(times) * u0.nbytes
    list(p.iter_batches(u0[:4], times, batch_size=4, seed=0))  # warm up the kernels
    tracemalloc.start()
    total = 0.0
    for _, frames in p.iter_batches(u0, times, batch_size=4, seed=0):
        total += float(frames.sum())
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert np.isfinite(total)
    assert peak < result_bytes / 4, (peak, result_bytes)


def test_processes_pickle_small():
    for p in [*LINEAR.values(), ps.HomogeneousDiffusion(), ps.ProbabilisticOsmosis()]:
        blob = pickle.dumps(p)
        assert len(blob) < 4096
        assert pickle.loads(blob) == p
