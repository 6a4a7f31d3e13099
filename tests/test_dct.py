"""The compiled orthonormal 2-D DCT and the fused DCT-domain trajectory kernel."""

import os
import pickle
import subprocess
import sys
import threading

import numpy as np
import pytest
import scipy.fft
from numpy.testing import assert_allclose, assert_array_equal

import pyscale as ps
from pyscale._ext import core
from pyscale.noise import ZIGGURAT_F, ZIGGURAT_X, standard_normal

# Relative to the largest magnitude of the result.
TOL = {np.float64: 1e-12, np.float32: 1e-5}

SHAPES = [
    (1, 1),
    (1, 2),
    (2, 1),
    (1, 7),
    (9, 1),
    (2, 2),
    (3, 3),
    (4, 4),
    (2, 3),
    (5, 8),
    (8, 8),
    (16, 16),
    (17, 31),
    (31, 17),
    (33, 65),
    (64, 3),
    (97, 101),
    (101, 97),
    (107, 331),
    (331, 107),
    (32, 32),
    (96, 60),
    (121, 49),
    (225, 77),
    (321, 481),
    (481, 321),
    (512, 512),
    # prime factors above 200 use Bluestein's algorithm
    (211, 5),
    (7, 401),
    (422, 3),
    (2, 997),
]


def reference(x, inverse):
    f = scipy.fft.idctn if inverse else scipy.fft.dctn
    return f(x.astype(np.float64), type=2, norm="ortho", axes=(-2, -1))


def assert_close(got, expect, dtype):
    scale = max(np.abs(expect).max(), np.finfo(np.float64).tiny)
    err = np.abs(got.astype(np.float64) - expect).max() / scale
    assert err <= TOL[dtype], f"relative error {err:.3g}"


@pytest.mark.parametrize("inverse", [False, True], ids=["dct2", "idct2"])
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_matches_scipy(shape, inverse, dtype):
    rng = np.random.default_rng(sum(shape))
    x = rng.standard_normal((2, *shape)).astype(dtype)
    y = core.dct2(x, inverse=inverse)
    assert y.dtype == dtype and y.shape == x.shape
    assert_close(y, reference(x, inverse), dtype)


@pytest.mark.slow
@pytest.mark.parametrize("shape", [(1024, 1024), (1, 4096), (4096, 1), (211, 1009)], ids=str)
def test_matches_scipy_large(shape, dtype):
    x = np.random.default_rng(0).standard_normal((1, *shape)).astype(dtype)
    for inverse in (False, True):
        y = core.dct2(x, inverse=inverse)
        assert y.flags.c_contiguous and y.flags.writeable
        assert_close(y, reference(x, inverse), dtype)


def test_all_lengths_up_to_70(dtype):
    # Columns come in blocks of 32: 35 columns make a full block, read by the first pass of the
    # FFT straight from the image, and a partial one, copied first.
    rng = np.random.default_rng(5)
    for n in range(1, 71):
        x = rng.standard_normal((1, 3, n)).astype(dtype)
        wide = rng.standard_normal((1, n, 35)).astype(dtype)
        for inverse in (False, True):
            assert_close(core.dct2(x, inverse=inverse), reference(x, inverse), dtype)
            xt = np.ascontiguousarray(np.swapaxes(x, 1, 2))
            assert_close(core.dct2(xt, inverse=inverse), reference(xt, inverse), dtype)
            assert_close(core.dct2(wide, inverse=inverse), reference(wide, inverse), dtype)


@pytest.mark.parametrize("shape", [(7, 5), (64, 64), (321, 481)], ids=str)
def test_round_trip(shape, dtype):
    x = np.random.default_rng(1).standard_normal((3, *shape)).astype(dtype)
    back = core.dct2(core.dct2(x), inverse=True)
    assert_allclose(back, x, atol=10 * TOL[dtype] * np.abs(x).max())


def test_batch_items_are_independent(dtype):
    x = np.random.default_rng(2).standard_normal((5, 37, 45)).astype(dtype)
    y = core.dct2(x)
    for b in range(x.shape[0]):
        assert_array_equal(core.dct2(x[b : b + 1])[0], y[b])


@pytest.mark.parametrize(
    "shape",
    [(1, 1, 9), (1, 321, 481), (3, 33, 65), (16, 64, 40), (2, 1, 300), (9, 1, 20)],
    ids=str,
)
def test_bitwise_identical_for_any_thread_count(shape, dtype):
    x = np.random.default_rng(3).standard_normal(shape).astype(dtype)
    for inverse in (False, True):
        y1 = core.dct2(x, inverse=inverse, workers=1)
        for w in (2, 3, 8):
            assert_array_equal(core.dct2(x, inverse=inverse, workers=w), y1)


def test_non_contiguous_and_other_dtypes_are_converted():
    x = np.random.default_rng(4).standard_normal((2, 40, 60))
    view = x[:, ::2, 1::3]
    assert_close(core.dct2(view), reference(view, False), np.float64)
    xf = np.asfortranarray(x)
    assert_close(core.dct2(xf), reference(x, False), np.float64)
    xi = (100 * x).astype(np.int32)
    assert_close(core.dct2(xi), reference(xi, False), np.float64)


def test_out_and_in_place(dtype):
    x = np.random.default_rng(6).standard_normal((2, 21, 34)).astype(dtype)
    expect = core.dct2(x)
    out = np.empty_like(x)
    assert core.dct2(x, out=out) is out
    assert_array_equal(out, expect)
    y = x.copy()
    core.dct2(y, out=y)
    assert_array_equal(y, expect)
    core.dct2(y, inverse=True, out=y)
    assert_array_equal(y, core.dct2(expect, inverse=True))


def test_bad_arguments_raise():
    x = np.zeros((2, 4, 4))
    with pytest.raises(ValueError, match="3-D"):
        core.dct2(np.zeros((4, 4)))
    with pytest.raises(ValueError, match="workers"):
        core.dct2(x, workers=0)
    with pytest.raises(ValueError, match="dtype"):
        core.dct2(x, out=np.zeros((2, 4, 4), np.float32))
    with pytest.raises(ValueError, match="shape"):
        core.dct2(x, out=np.zeros((2, 4, 5)))
    with pytest.raises(ValueError, match="C-contiguous"):
        core.dct2(x, out=np.zeros((2, 4, 8))[:, :, ::2])


def test_empty_arrays():
    for shape in [(0, 4, 4), (2, 0, 3), (2, 3, 0)]:
        assert core.dct2(np.zeros(shape)).shape == shape


def test_concurrent_calls_from_several_threads(dtype):
    rng = np.random.default_rng(7)
    inputs = [
        rng.standard_normal((2, n, m)).astype(dtype)
        for n, m in [(321, 481), (64, 64), (97, 101), (50, 70), (481, 321), (13, 37)]
    ]
    expect = [core.dct2(x, workers=1) for x in inputs]
    results = [[None] * len(inputs) for _ in range(4)]

    def work(t):
        for _ in range(3):
            for i, x in enumerate(inputs):
                results[t][i] = core.dct2(x, workers=1 + (t + i) % 2)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    for t in range(4):
        for i in range(len(inputs)):
            assert_array_equal(results[t][i], expect[i])


# --- noise -----------------------------------------------------------------------------------


@pytest.mark.parametrize("seed, stream", [(0, 0), (2024, 5), (2**64 - 1, 2**63)])
def test_ziggurat_normals_equal_pyscale_noise(seed, stream):
    n = 300_000
    z = core.counter_normal(seed, stream, n, 0, ZIGGURAT_X, ZIGGURAT_F)
    assert_array_equal(z, standard_normal(seed, stream, (n,)))
    assert np.any(np.abs(z) > ZIGGURAT_X[1])  # the tail path ran
    assert_array_equal(
        core.counter_normal(seed, stream, 100, 12345, ZIGGURAT_X, ZIGGURAT_F),
        standard_normal(seed, stream, (100,), start=12345),
    )


# --- trajectory ------------------------------------------------------------------------------


def trajectory_reference(u0, a, b, seed, add_noise, noise, start=0):
    state = scipy.fft.dctn(u0.astype(np.float64), type=2, norm="ortho", axes=(-2, -1))
    frames = []
    for k in range(a.shape[0]):
        state = a[k] * state
        if add_noise:
            state = state + b[k] * noise(seed, k, u0.shape, start)
        frames.append(scipy.fft.idctn(state, type=2, norm="ortho", axes=(-2, -1)))
    return np.array(frames)


def _zig(seed, k, shape, start):
    return standard_normal(seed, k, shape, start=start)


@pytest.mark.parametrize(
    "shape", [(1, 1, 1), (1, 1, 6), (3, 33, 47), (2, 64, 64), (3, 97, 130), (1, 321, 481)], ids=str
)
@pytest.mark.parametrize("add_noise", [True, False], ids=["noise", "no_noise"])
def test_trajectory_matches_numpy(shape, add_noise, dtype):
    rng = np.random.default_rng(8)
    nf = 3
    u0 = rng.standard_normal(shape).astype(dtype)
    a = rng.uniform(0.5, 1.0, (nf, *shape[1:]))
    b = rng.uniform(0.0, 1.0, (nf, *shape[1:]))
    tables = (ZIGGURAT_X, ZIGGURAT_F)
    start = 17
    got = core.dct_trajectory(u0, a[:, None], b[:, None], 42, add_noise, 1, start, *tables)
    assert got.dtype == dtype and got.shape == (nf, *shape)
    expect = trajectory_reference(u0, a, b, 42, add_noise, _zig, start)
    # float32: the state is rounded to float32 after every update
    assert_close(got, expect, dtype if dtype == np.float64 else np.float32)
    for w in (2, 3):
        assert_array_equal(
            core.dct_trajectory(u0, a[:, None], b[:, None], 42, add_noise, w, start, *tables), got
        )


def test_trajectory_start_offsets_a_slice_of_a_batch(dtype):
    rng = np.random.default_rng(9)
    u0 = rng.standard_normal((4, 20, 30)).astype(dtype)
    a = rng.uniform(0.5, 1.0, (2, 20, 30))
    b = rng.uniform(0.0, 1.0, (2, 20, 30))
    whole = core.dct_trajectory(u0, a[:, None], b[:, None], 3, True, 2, 0, ZIGGURAT_X, ZIGGURAT_F)
    part = core.dct_trajectory(
        u0[2:], a[:, None], b[:, None], 3, True, 1, 2 * 20 * 30, ZIGGURAT_X, ZIGGURAT_F
    )
    assert_array_equal(part, whole[:, 2:])


def test_trajectory_out_buffer_and_checks():
    u0 = np.random.default_rng(10).standard_normal((2, 9, 11))
    a = np.full((3, 9, 11), 0.9)
    b = np.full((3, 9, 11), 0.1)
    out = np.empty((3, 2, 9, 11))
    zig = (ZIGGURAT_X, ZIGGURAT_F)
    assert core.dct_trajectory(u0, a[:, None], b[:, None], 1, True, 1, 0, *zig, out=out) is out
    assert_array_equal(out, core.dct_trajectory(u0, a[:, None], b[:, None], 1, True, 1, 0, *zig))
    with pytest.raises(ValueError, match="coef_b"):
        core.dct_trajectory(u0, a[:, None], b[:2, None], 1, True, 1, 0, *zig)
    with pytest.raises(ValueError, match="coef_a"):
        core.dct_trajectory(u0, a[:, None, :5], b[:, None], 1, True, 1, 0, *zig)
    with pytest.raises(ValueError, match="ziggurat"):
        core.dct_trajectory(u0, a[:, None], b[:, None], 1, True, 1, 0, ZIGGURAT_X, None)
    with pytest.raises(ValueError, match="257"):
        core.dct_trajectory(
            u0, a[:, None], b[:, None], 1, True, 1, 0, ZIGGURAT_X[:10], ZIGGURAT_F[:10]
        )
    empty = core.dct_trajectory(u0, a[:0, None], b[:0, None], 1, True, 1, 0, *zig)
    assert empty.shape == (0, 2, 9, 11)


def test_trajectory_coefficient_planes(dtype):
    """Image i uses the coefficients of plane plane_of[i]: equal to one call per plane."""
    rng = np.random.default_rng(12)
    u0 = rng.standard_normal((5, 12, 17)).astype(dtype)
    a = rng.uniform(0.5, 1.0, (2, 3, 12, 17))
    b = rng.uniform(0.0, 1.0, (2, 3, 12, 17))
    plane_of = np.array([2, 0, 2, 1, 0], dtype=np.int64)
    zig = (ZIGGURAT_X, ZIGGURAT_F)
    got = core.dct_trajectory(u0, a, b, 5, True, 2, 0, *zig, plane_of=plane_of)
    for i, p in enumerate(plane_of):
        ap, bp = (np.ascontiguousarray(c[:, p : p + 1]) for c in (a, b))
        one = core.dct_trajectory(u0[i : i + 1], ap, bp, 5, True, 1, i * 12 * 17, *zig)
        assert_array_equal(got[:, i], one[:, 0])
    with pytest.raises(ValueError, match="plane_of"):
        core.dct_trajectory(u0, a, b, 5, True, 1, 0, *zig, plane_of=plane_of + 1)
    with pytest.raises(ValueError, match="plane_of"):
        core.dct_trajectory(u0, a, b, 5, True, 1, 0, *zig)


def test_trajectory_out_accepts_an_equal_dtype_object():
    """An unpickled float64 dtype is equal to, but not the same object as, numpy's."""
    import pickle

    u0 = np.random.default_rng(13).standard_normal((2, 9, 11))
    a = np.full((1, 1, 9, 11), 0.9)
    out = pickle.loads(pickle.dumps(np.empty((1, 2, 9, 11))))
    got = core.dct_trajectory(u0, a, a * 0.1, 1, True, 1, 0, ZIGGURAT_X, ZIGGURAT_F, out=out)
    assert got is out


def test_trajectory_without_noise_is_a_spectral_filter():
    rng = np.random.default_rng(11)
    u0 = rng.standard_normal((2, 31, 40))
    a = np.broadcast_to(rng.uniform(0.2, 1.0, (31, 40)), (2, 31, 40))
    frames = core.dct_trajectory(
        u0,
        np.ascontiguousarray(a[:, None]),
        np.zeros((2, 1, 31, 40)),
        0,
        False,
        2,
        0,
        ZIGGURAT_X,
        ZIGGURAT_F,
    )
    c = scipy.fft.dctn(u0, norm="ortho", axes=(-2, -1))
    assert_close(
        frames[1], scipy.fft.idctn(a[0] * a[1] * c, norm="ortho", axes=(-2, -1)), np.float64
    )


@pytest.mark.parametrize("level", ["base", "avx2"])
def test_other_instruction_sets_match_scipy(level):
    """The SSE2 or AVX2 kernels, forced with PYSCALE_SIMD, where wider ones would be chosen."""
    code = (
        "import numpy as np, scipy.fft\n"
        "from pyscale._ext import core\n"
        "rng = np.random.default_rng(0)\n"
        "shapes = [(1, 1), (3, 5), (17, 31), (107, 64), (321, 481), (64, 64), (37, 13), (5, 211)]\n"
        "for shape in shapes:\n"
        "    for dt, tol in [(np.float64, 1e-12), (np.float32, 1e-5)]:\n"
        "        x = rng.standard_normal((2, *shape)).astype(dt)\n"
        "        for inv, f in [(False, scipy.fft.dctn), (True, scipy.fft.idctn)]:\n"
        "            r = f(x.astype(np.float64), norm='ortho', axes=(-2, -1))\n"
        "            y = core.dct2(x, inverse=inv, workers=2)\n"
        "            assert np.array_equal(y, core.dct2(x, inverse=inv, workers=1))\n"
        "            assert np.abs(y - r).max() <= tol * np.abs(r).max(), (shape, dt, inv)\n"
    )
    env = dict(os.environ, PYSCALE_SIMD=level)
    subprocess.run([sys.executable, "-c", code], env=env, check=True)


@pytest.mark.parametrize("fn", [ps.dct2, ps.idct2])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_input_is_named(fn, bad):
    x = np.ones((5, 7), dtype=np.float32)
    x[2, 3] = bad
    with pytest.raises(ValueError, match="x contains NaN or infinite values"):
        fn(x)


@pytest.mark.parametrize("fn", [ps.dct2, ps.idct2])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize(
    "shape",
    [(1, 1), (1, 9), (9, 1), (2, 3, 5), (40, 37), (33, 17), (3, 211, 20), (12, 6, 7), (12, 1, 9)],
)
def test_a_non_finite_value_anywhere_is_found(fn, dtype, shape):
    """The compiled kernel notes non-finite results block by block; no position escapes it."""
    rng = np.random.default_rng(5)
    base = rng.random(shape).astype(dtype)
    assert np.all(np.isfinite(fn(base)))
    flat = [0, base.size - 1, *rng.integers(0, base.size, 6)]
    for i, bad in zip(flat, [np.nan, np.inf, -np.inf] * 3, strict=False):
        x = base.copy()
        x.flat[i] = bad
        with pytest.raises(ValueError, match="x contains NaN or infinite values"):
            fn(x, workers=2)


@pytest.mark.parametrize("fn", [ps.dct2, ps.idct2])
def test_overflow_is_reported(fn):
    x = np.full((6, 6), 3e38, dtype=np.float32)  # finite, but the DC coefficient is 1.8e39
    with pytest.raises(ValueError, match="overflowed float32"):
        fn(x)


@pytest.mark.parametrize("batch, workers", [(1, 1), (2, 2), (9, 2)])
def test_trajectory_overflow_is_reported(batch, workers):
    """Both ways of sharing the work (blocks or whole images) report a frame that overflowed."""
    x = np.full((batch, 6, 6), 0.5, dtype=np.float32)
    x[0] = 3e38  # its DC coefficient is 1.8e39
    with pytest.raises(ValueError, match="overflowed float32"):
        ps.HomogeneousDiffusion().trajectory(x, [1.0, 2.0], channel_axis=None, workers=workers)


def test_more_lengths_than_the_plan_cache_holds():
    """The cache keeps at most 64 plans per type; emptying it never changes a transform."""
    rng = np.random.default_rng(21)
    for n in list(range(2, 90)) + [3, 17, 64]:
        x = rng.random((2, n))
        np.testing.assert_allclose(
            ps.dct2(x), scipy.fft.dctn(x, norm="ortho", axes=(-2, -1)), atol=1e-12
        )


@pytest.mark.parametrize("shape", [(3, 128, 128), (2, 321, 481)], ids=["384KiB", "2.4MiB"])
def test_results_of_a_freed_size_reuse_its_memory(shape):
    """Results of 256 KiB or more take their memory from the scratch pool and give it back.

    A freed result's block goes to the next result of its size (no fresh pages, no page faults);
    results alive at the same time never share memory.
    """
    x = np.random.default_rng(8).random(shape)
    a, b = ps.dct2(x), ps.dct2(2 * x)
    assert not np.shares_memory(a, b)
    block = a.__array_interface__["data"][0]
    del a
    c = ps.dct2(3 * x)
    assert c.__array_interface__["data"][0] == block
    assert c.flags.c_contiguous and c.flags.writeable
    assert_allclose(b, 2 * scipy.fft.dctn(x, norm="ortho", axes=(-2, -1)), atol=1e-12)
    assert_allclose(c, 3 * scipy.fft.dctn(x, norm="ortho", axes=(-2, -1)), atol=1e-12)
    c[...] = 0
    assert_allclose(b, 2 * scipy.fft.dctn(x, norm="ortho", axes=(-2, -1)), atol=1e-12)
    assert_array_equal(pickle.loads(pickle.dumps(b)), b)


@pytest.mark.skipif(sys.platform != "linux", reason="page faults are counted through getrusage")
@pytest.mark.skipif(
    "PYSCALE_SANITIZED" in os.environ, reason="the sanitizer's allocator faults pages of its own"
)
def test_round_trips_fault_no_fresh_pages():
    """Nested calls free their results at once; their memory is reused, not faulted in anew.

    In a fresh process, without the pool, each round trip of a 3 x 256 x 256 float64 array whose
    result is dropped at once took about 770 page faults, which cost more than the transforms;
    with it none remain.
    """
    code = (
        "import resource, numpy as np, pyscale as ps\n"
        "x = np.random.default_rng(9).random((3, 256, 256))\n"
        "for _ in range(3): ps.idct2(ps.dct2(x))\n"
        "before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt\n"
        "for _ in range(20): ps.idct2(ps.dct2(x))\n"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)\n"
        "assert np.abs(ps.idct2(ps.dct2(x)) - x).max() < 1e-12\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert int(run.stdout) < 20 * 100  # 15390 without the pool


@pytest.mark.skipif(sys.platform != "linux", reason="page faults are counted through getrusage")
@pytest.mark.skipif(
    "PYSCALE_SANITIZED" in os.environ, reason="the sanitizer's allocator faults pages of its own"
)
def test_large_results_reuse_memory_when_the_pool_is_full():
    """Results of 2 MiB or more come from the pool too, and the pool makes room for new sizes.

    Three results of about 85 MiB fill the pool (256 MiB of freed blocks); round trips of a fourth
    size then reuse their own blocks, as the blocks released longest ago leave. When results of
    2 MiB or more took fresh huge pages, these three round trips took 1632 page faults.
    """
    code = (
        "import resource, numpy as np, pyscale as ps\n"
        "for n in (85, 86, 87): ps.dct2(np.ones((n, 512, 256)))\n"
        "x = np.random.default_rng(9).random((84, 512, 256))\n"
        "ps.idct2(ps.dct2(x))\n"
        "before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt\n"
        "for _ in range(3): ps.idct2(ps.dct2(x))\n"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)\n"
        "assert np.abs(ps.idct2(ps.dct2(x)) - x).max() < 1e-12\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert int(run.stdout) < 43
