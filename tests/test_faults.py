"""Faults and odd input, run for real: solver limits, scales, corrupted records, bad images."""

import numpy as np
import pytest

import pyscale as ps


@pytest.fixture
def pair():
    rng = np.random.default_rng(0)
    return rng.uniform(0.2, 1, (12, 14)), rng.uniform(0.2, 1, (12, 14))


# --- osmosis that knows its limits ---------------------------------------------------------------


def test_stalled_residual_names_the_float64_floor(pair):
    f, v = pair
    with pytest.raises(ps.ConvergenceError, match="stalled at the float64 floor"):
        ps.osmosis(f, v, t=1e7, tau=1e5, rtol=1e-13, maxiter=200)
    with pytest.raises(ps.ConvergenceError) as info:  # a real failure is not blamed on the floor
        ps.osmosis(f, v, t=10.0, tau=10.0, rtol=1e-10, maxiter=1, preconditioner=None)
    assert "floor" not in str(info.value)


def test_absurdly_small_tau_is_refused_by_name(pair):
    f, v = pair
    with pytest.raises(ValueError, match="tau=1e-09 is too small"):
        ps.osmosis(f, v, t=1.0, tau=1e-9)


@pytest.mark.parametrize("scale", [1e-200, 1e-45, 1e40, 1e155, 1e200])
def test_any_positive_scale_works(pair, scale):
    """Osmosis is linear in f and sees only relative variations of v: scales are normalised."""
    f, v = pair
    want = ps.osmosis(f, v, t=50.0)
    got = ps.osmosis(f * scale, v * scale, t=50.0)
    np.testing.assert_allclose(got / scale, want, rtol=1e-9)
    u1, report = ps.osmosis_step(f * scale, v, tau=5.0)
    assert report.converged.all() and report.iterations.max() > 0
    np.testing.assert_allclose(u1 / scale, ps.osmosis_step(f, v, tau=5.0)[0], rtol=1e-9)


def test_default_solver_handles_guidance_of_high_contrast():
    rng = np.random.default_rng(1)
    f = rng.uniform(0.1, 1, (40, 50))
    v = np.exp(rng.uniform(np.log(1e-6), 0, (40, 50)))  # contrast 1e6
    u = ps.osmosis(f, v, t=1000.0)
    assert np.all(np.isfinite(u))
    np.testing.assert_allclose(u.sum(), f.sum(), rtol=1e-9)


def test_osmosis_step_accepts_its_own_output(pair):
    f, v = pair
    u = f
    for _ in range(3):
        u, report = ps.osmosis_step(u, v, tau=20.0)
        assert report.converged.all()
    np.testing.assert_allclose(u.sum(), f.sum(), rtol=1e-10)


@pytest.mark.parametrize("which", ["f", "guidance", "u", "v"])
def test_nan_is_refused_by_name(pair, which):
    f, v = pair
    bad = f.copy()
    bad[3, 4] = np.nan
    with pytest.raises(ValueError, match=f"{which} contains NaN"):
        if which == "f":
            ps.osmosis(bad, v, t=1.0)
        elif which == "guidance":
            ps.osmosis(f, bad, t=1.0)
        elif which == "u":
            ps.relative_entropy(bad, v)
        else:
            ps.relative_entropy(f, bad)


# --- the comparison under faults -------------------------------------------------------------


def _photos(folder, n=3, size=(14, 16, 3), seed=5):
    from PIL import Image

    folder.mkdir(exist_ok=True)
    rng = np.random.default_rng(seed)
    for i in range(n):
        Image.fromarray(rng.integers(30, 220, size, dtype=np.uint8)).save(folder / f"im{i}.png")
    return folder


def _compare(folder, out, **kw):
    from pyscale import paper

    args = dict(models=["homogeneous", "osmosis"], times=[1, 10], out=out, workers=1, grid=False)
    return paper.compare(folder, **{**args, **kw})


def test_an_image_that_cannot_be_processed_is_a_result(tmp_path, capsys):
    from PIL import Image

    from pyscale.paper import cli

    folder = _photos(tmp_path / "imgs")
    Image.fromarray(np.zeros((14, 16, 3), np.uint8)).save(folder / "black.png")
    rgb = np.full((14, 16, 3), 120, np.uint8)
    rgb[..., 2] = 0
    Image.fromarray(rgb).save(folder / "no-blue.png")
    r = _compare(folder, tmp_path / "out")
    assert r.names == ["im0.png", "im1.png", "im2.png"]
    assert [n for n, _ in r.failed] == ["black.png", "no-blue.png"]
    assert all("osmosis" in why and "mass" in why for _, why in r.failed)
    report = (tmp_path / "out" / "report.md").read_text()
    assert "failed: black.png" in report and "failed: no-blue.png" in report
    for name in ("variance.json", "results.json"):
        meta = __import__("json").loads((tmp_path / "out" / name).read_text())
        assert [f[0] for f in meta["failed"]] == ["black.png", "no-blue.png"]
    assert meta["images"] == ["im0.png", "im1.png", "im2.png"] and meta["computed"] == 3
    argv = [
        "compare",
        "--data",
        str(folder),
        "--models",
        "homogeneous",
        "osmosis",
        "--times",
        "1",
        "10",
        "--workers",
        "1",
        "--no-grid",
        "--out",
        str(tmp_path / "cli"),
    ]
    assert cli.main(argv) == 0
    assert "pyscale: failed: black.png" in capsys.readouterr().err
    assert cli.main([*argv, "--strict"]) == 1


def test_corrupt_truncated_and_foreign_records_are_recomputed(tmp_path):
    from pyscale.paper import RecordWarning

    folder = _photos(tmp_path / "imgs")
    first = _compare(folder, tmp_path / "out")
    paths = sorted((tmp_path / "out" / "records").glob("*.npz"))
    assert len(paths) == 3
    data = paths[0].read_bytes()
    paths[0].write_bytes(data[: len(data) // 2])  # truncated
    flipped = bytearray(paths[1].read_bytes())
    flipped[len(flipped) // 2] ^= 0xFF  # one flipped byte
    paths[1].write_bytes(bytes(flipped))
    paths[2].write_bytes(data)  # another image's valid record under this key
    with pytest.warns(RecordWarning) as caught:
        again = _compare(folder, tmp_path / "out")
    assert len(caught) == 3 and again.computed == 3 and again.reused == 0
    assert again.variance == first.variance
    third = _compare(folder, tmp_path / "out")  # the replaced records are good again
    assert third.reused == 3 and third.variance == first.variance


def test_a_full_disk_leaves_no_temporary_files(tmp_path, monkeypatch):
    import errno

    from pyscale.paper import records

    folder = _photos(tmp_path / "imgs")

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(records.os, "fsync", full)
    with pytest.raises(OSError, match="No space left"):
        _compare(folder, tmp_path / "out")
    left = [p.name for p in (tmp_path / "out").rglob("*") if p.is_file()]
    assert left == []


def _alive(pids):
    import psutil

    alive = []
    for pid in pids:
        try:
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                alive.append(pid)
        except psutil.NoSuchProcess:
            pass
    return alive


@pytest.mark.slow
@pytest.mark.parametrize("how", ["two-ctrl-c", "sigterm", "dask-ctrl-c"])
def test_signals_stop_the_workers_and_keep_the_records(tmp_path, how):
    """Ctrl-C (twice, quickly) or SIGTERM stops a two-worker run within seconds.

    No worker is left behind; the finished records are kept and a rerun resumes from them.
    """
    import signal
    import subprocess
    import sys
    import time

    psutil = pytest.importorskip("psutil")
    folder = _photos(tmp_path / "imgs", n=16, size=(200, 200, 3))
    out = tmp_path / "out"
    argv = [
        sys.executable,
        "-m",
        "pyscale.paper.cli",
        "compare",
        "--data",
        str(folder),
        "--models",
        "osmosis",
        "--times",
        "1",
        "10",
        "100",
        "1000",
        "10000",
        "--workers",
        "2",
        "--no-grid",
        "--quiet",
        "--out",
        str(out),
    ]
    if how.startswith("dask"):
        pytest.importorskip("distributed")
        argv[argv.index("--no-grid") : argv.index("--no-grid")] = ["--dask", "local"]
    # the run starts with Ctrl-C at its default, as from a terminal, also where this test runs in
    # a background job that ignores it (an ignored signal stays ignored across exec)
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    finally:
        signal.signal(signal.SIGINT, previous)
    deadline = time.monotonic() + 120
    while not list((out / "records").glob("*.npz")) and time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    children = [c.pid for c in psutil.Process(proc.pid).children(recursive=True)]
    assert children, "the run has no worker processes"
    if how == "sigterm":
        proc.send_signal(signal.SIGTERM)
    else:
        proc.send_signal(signal.SIGINT)
        time.sleep(0.1)
        proc.send_signal(signal.SIGINT)
    start = time.monotonic()
    try:
        _, err = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        pytest.fail(f"{how}: the run did not stop within 30 s")
    assert time.monotonic() - start < 10
    assert proc.returncode == (143 if how == "sigterm" else 130), err[-2000:]
    assert "rerun the same command to resume" in err
    time.sleep(0.5)
    assert _alive(children) == []
    kept = len(list((out / "records").glob("*.npz")))
    assert kept >= 1 and not list((out / "records").glob(".*.tmp"))
    again = subprocess.run(argv, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr
    assert len(list((out / "records").glob("*.npz"))) == 16


# --- images read as a photographer would expect ------------------------------------------------


def _png16(path, samples, filters=(0, 1, 2, 3, 4)):
    """A 16-bit RGB PNG written by hand (Pillow cannot), rows filtered with every PNG filter."""
    import struct
    import zlib

    h, w, c = samples.shape
    rows = samples.astype(">u2").reshape(h, -1).view(np.uint8).astype(np.int32)
    bpp, out, prev = 2 * c, [], np.zeros(rows.shape[1], np.int32)
    for y in range(h):
        x, kind = rows[y], filters[y % len(filters)]
        a = np.concatenate([np.zeros(bpp, np.int32), x[:-bpp]])
        c_ = np.concatenate([np.zeros(bpp, np.int32), prev[:-bpp]])
        p = a + prev - c_
        pa, pb, pc = np.abs(p - a), np.abs(p - prev), np.abs(p - c_)
        paeth = np.where((pa <= pb) & (pa <= pc), a, np.where(pb <= pc, prev, c_))
        pred = [0, a, prev, (a + prev) // 2, paeth][kind]
        out.append(bytes([kind]) + ((x - pred) & 0xFF).astype(np.uint8).tobytes())
        prev = x

    def chunk(kind, body):
        return (
            struct.pack(">I", len(body))
            + kind
            + body
            + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)
        )

    header = struct.pack(">IIBBBBB", w, h, 16, 2, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"".join(out)))
        + chunk(b"IEND", b"")
    )


def test_sixteen_bit_images_keep_their_precision(tmp_path):
    from PIL import Image

    from pyscale.paper.data import read_image

    rgb = np.random.default_rng(2).integers(0, 65536, (11, 13, 3)).astype(np.uint16)
    _png16(tmp_path / "rgb16.png", rgb)
    np.testing.assert_array_equal(read_image(tmp_path / "rgb16.png"), rgb / 65535.0)
    grey = rgb[..., 0]
    Image.fromarray(grey).save(tmp_path / "grey16.png")
    np.testing.assert_array_equal(read_image(tmp_path / "grey16.png"), grey / 65535.0)


def test_exif_orientation_is_applied(tmp_path):
    from PIL import Image

    from pyscale.paper.data import read_image

    stored = np.zeros((20, 40, 3), np.uint8)  # landscape as stored, left half bright
    stored[:, :20] = 200
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    Image.fromarray(stored).save(tmp_path / "portrait.jpg", exif=exif, quality=95)
    u = read_image(tmp_path / "portrait.jpg")
    assert u.shape == (40, 20, 3)  # upright: a portrait
    assert u[:15].mean() > 0.6 and u[-15:].mean() < 0.2  # the bright half is now on top


def test_float_images_are_refused_or_mapped_by_option(tmp_path):
    from PIL import Image

    from pyscale.paper.data import read_image

    f = np.random.default_rng(3).uniform(0, 255, (9, 10)).astype(np.float32)
    Image.fromarray(f, mode="F").save(tmp_path / "f.tif")
    with pytest.raises(ValueError, match=r"f.tif: float samples in \[.*\], outside \[0, 1\]"):
        read_image(tmp_path / "f.tif")
    np.testing.assert_allclose(read_image(tmp_path / "f.tif", float_scale=255), f / 255, rtol=1e-6)
    r = read_image(tmp_path / "f.tif", float_scale="range")
    assert r.min() == 0 and r.max() == 1
    f[2, 3] = np.nan
    Image.fromarray(f, mode="F").save(tmp_path / "nan.tif")
    with pytest.raises(ValueError, match="nan.tif: the image contains NaN"):
        read_image(tmp_path / "nan.tif", float_scale=255)


def test_an_image_over_the_memory_budget_fails_before_it_is_read(tmp_path):
    folder = _photos(tmp_path / "imgs", n=2)
    _photos(folder, n=1, size=(60, 80, 3), seed=9)  # im0.png again, larger
    r = _compare(folder, tmp_path / "out", memory_budget=14 * 16 * 3 * 8 * 42 + 1, max_size=None)
    assert r.names == ["im1.png"]
    assert r.failed[0][0] == "im0.png" and "over the budget" in r.failed[0][1]


@pytest.fixture
def tiny_disk(tmp_path):
    """A real 96 KiB file system (tmpfs), where the machine lets the tests mount one."""
    import subprocess

    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=96k", "tmpfs", str(disk)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip("this machine does not let the tests mount a small file system")
    try:
        yield disk
    finally:
        subprocess.run(["umount", str(disk)], check=True)


def test_a_really_full_disk_leaves_no_temporary_files(tmp_path, tiny_disk):
    folder = _photos(tmp_path / "imgs", n=2, size=(64, 64, 3))
    with pytest.raises(OSError, match="No space left"):
        _compare(folder, tiny_disk / "out", grid=True)  # the first record keeps frames: 98 KB
    left = [p.name for p in tiny_disk.rglob("*") if p.is_file()]
    assert left == []
