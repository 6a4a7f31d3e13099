"""Tests of the Sect. 6.3 experiments: tables, resumption, parallel and Dask runs."""

import json
import os

import numpy as np
import pytest
from PIL import Image

from pyscale import paper as ex
from pyscale.paper import records
from pyscale.paper.data import SkippedImageWarning
from pyscale.paper.fid import PixelFeatures

MODELS = ["dpm", "homogeneous", "osmosis"]
TIMES = [1, 10, 100]


@pytest.fixture
def folder(tmp_path):
    d = tmp_path / "imgs"
    d.mkdir()
    rng = np.random.default_rng(5)
    for i in range(4):
        shape = (14, 16, 3) if i % 2 == 0 else (15, 13)
        Image.fromarray(rng.integers(30, 220, shape, dtype=np.uint8)).save(d / f"im{i}.png")
    return d


def _run(folder, out, **kw):
    args = dict(
        models=MODELS, times=TIMES, fid=PixelFeatures(dim=6, size=8), out=out, workers=1, grid=False
    )
    args.update(kw)
    return ex.compare(folder, **args)


class Stop(Exception):
    pass


def _numbers(r):
    return [(row["model"], row["time"], row["mean"], row["q25"]) for row in r.variance], [
        (row["model"], row["time"], row["fid"]) for row in r.fid
    ]


def test_tables_and_files(folder, tmp_path):
    r = _run(folder, tmp_path / "out", grid=True)
    assert r.names == ["im0.png", "im1.png", "im2.png", "im3.png"]
    assert len(r.variance) == len(MODELS) * len(TIMES) and r.variance[0]["n"] == 4
    assert len(r.fid) == (len(MODELS) - 1) * len(TIMES)
    assert all(np.isfinite(row["fid"]) and row["fid"] >= 0 for row in r.fid)
    for key in (
        "variance_csv",
        "variance_json",
        "variance_png",
        "fid_csv",
        "fid_json",
        "fid_png",
        "grid_png",
        "report",
    ):
        assert r.files[key].exists(), key
    rows = json.loads(r.files["variance_json"].read_text())["rows"]
    assert rows[0]["model"] == "dpm" and rows[0]["time"] == 1.0
    var = {(row["model"], row["time"]): row["mean"] for row in r.variance}
    assert var[("homogeneous", 100.0)] < var[("homogeneous", 1.0)]
    assert var[("dpm", 100.0)] > 0.5
    report = r.files["report"].read_text()
    assert "Variance evolution" in report and "not FID values" in report
    header = r.files["variance_csv"].read_text().splitlines()[0]
    assert header == "model,time,n,mean,std,q25,median,q75,min,max,ci_low,ci_high"


def test_variance_matches_direct_computation(folder, tmp_path):
    import pyscale as ps
    from pyscale.paper.data import photo_channel_axis, read_image

    r = _run(folder, tmp_path / "o", models=["heat"], fid=False)
    vals = []
    for i in range(4):
        u = read_image(folder / f"im{i}.png")
        fr = ps.PAPER_MODELS["heat"]().trajectory(
            u,
            TIMES,
            seed=ex.image_seed(0, f"im{i}.png", "heat"),
            channel_axis=photo_channel_axis(u),
        )
        vals.append(ex.frame_variance(fr, u.ndim == 3))
    np.testing.assert_allclose([row["mean"] for row in r.variance], np.mean(vals, axis=0))


@pytest.mark.parametrize("layout", ["channels-first", "channels-last", "strided", "grey"])
def test_frame_variance_in_every_memory_layout(layout):
    rng = np.random.default_rng(3)
    planes = 0.4 + 0.1 * rng.standard_normal((4, 3, 9, 11))  # (K, C, H, W)
    frames = {
        "channels-first": np.moveaxis(planes, 1, -1),  # a view, as the processes return it
        "channels-last": np.ascontiguousarray(np.moveaxis(planes, 1, -1)),
        "strided": np.moveaxis(planes, 1, -1)[:, ::2, 1:],
        "grey": planes[:, 0],
    }[layout]
    grey = layout == "grey"
    expected = frames.var(axis=(1, 2)) if grey else frames.var(axis=(1, 2)).mean(axis=-1)
    got = ex.frame_variance(frames, not grey)
    np.testing.assert_allclose(got, expected, rtol=1e-13)


def test_resume_after_interruption(folder, tmp_path):
    out = tmp_path / "out"
    done = []

    def stop_after_two(name):
        done.append(name)
        if len(done) == 2:
            raise Stop

    with pytest.raises(Stop):
        _run(folder, out, callback=stop_after_two)
    records = sorted((out / "records").glob("*.npz"))
    assert len(records) == 2
    mtimes = {p: p.stat().st_mtime_ns for p in records}
    assert not list((out / "records").glob(".*tmp"))  # no partial files left

    seen = []
    r = _run(folder, out, callback=seen.append)
    assert (r.reused, r.computed) == (2, 2)
    assert sorted(seen) == sorted(set(r.names) - set(done))  # finished images not recomputed
    assert all(p.stat().st_mtime_ns == m for p, m in mtimes.items())
    full = _run(folder, tmp_path / "fresh")
    assert full.computed == 4
    assert _numbers(r) == _numbers(full)
    again = _run(folder, out)
    assert (again.reused, again.computed) == (4, 0)


@pytest.mark.parametrize(
    "change",
    [
        dict(seed=1),
        dict(times=[1, 10]),
        dict(grey=True),
        dict(models=["dpm", "osmosis"]),
        dict(max_size=10),
        dict(fid=PixelFeatures(dim=5, size=8)),
    ],
)
def test_changed_arguments_do_not_reuse(folder, tmp_path, change):
    out = tmp_path / "out"
    _run(folder, out)
    r = _run(folder, out, **change)
    assert (r.reused, r.computed) == (0, 4)


def test_changed_image_is_recomputed(folder, tmp_path):
    out = tmp_path / "out"
    first = _run(folder, out)
    Image.fromarray(np.full((14, 16, 3), 99, np.uint8)).save(folder / "im0.png")
    r = _run(folder, out)
    assert (r.reused, r.computed) == (3, 1)
    assert _numbers(r) != _numbers(first)


def test_skips_unreadable_files(folder, tmp_path):
    (folder / "bad.jpg").write_bytes(b"garbage")
    with pytest.warns(SkippedImageWarning, match="bad.jpg"):
        r = _run(folder, tmp_path / "o", fid=False, limit=4)
    assert len(r.names) == 4 and r.skipped[0][0] == "bad.jpg"


def test_limit_and_default_data(tmp_path):
    r = ex.compare(
        models=["heat", "homogeneous"], times=[1, 1000], limit=2, out=tmp_path, workers=1, grid=True
    )
    assert r.names == ["astronaut.png", "camera.png"]
    assert r.settings["max_size"] == ex.DEFAULT_MAX_SIZE


def test_process_pool_equals_serial(folder, tmp_path):
    serial = _run(folder, tmp_path / "a")
    env = dict(os.environ)
    pooled = _run(folder, tmp_path / "b", workers=2)
    assert _numbers(serial) == _numbers(pooled)
    assert dict(os.environ) == env  # thread settings for the workers are restored


def test_dask_cluster_equals_local(folder, tmp_path):
    distributed = pytest.importorskip("distributed")
    local = _run(folder, tmp_path / "a")
    with distributed.LocalCluster(
        n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None
    ) as cluster:
        remote = _run(folder, tmp_path / "b", dask=cluster.scheduler_address)
    assert remote.computed == 4
    assert _numbers(local) == _numbers(remote)


def test_bad_arguments(folder, tmp_path):
    with pytest.raises(ValueError, match="models"):
        _run(folder, tmp_path, models=["nope"])
    with pytest.raises(ValueError, match="osmosis"):
        _run(folder, tmp_path, models=["dpm"])
    with pytest.raises(ValueError, match="times"):
        _run(folder, tmp_path, times=[0, 1])
    with pytest.raises(ValueError, match="limit"):
        _run(folder, tmp_path, limit=0)
    with pytest.raises(TypeError, match="fid"):
        _run(folder, tmp_path, fid=3)
    with pytest.raises(ValueError, match="max_size"):
        _run(folder, tmp_path, max_size="big")
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match="out"):
        _run(folder, tmp_path / "file")


def test_trajectory_grid(folder, tmp_path):
    png = tmp_path / "g.png"
    frames = ex.trajectory_grid(folder / "im0.png", png, models=["dpm", "osmosis"], times=[1, 5])
    assert frames.shape == (2, 2, 14, 16, 3) and png.stat().st_size > 0
    with pytest.raises(ValueError, match="png"):
        ex.trajectory_grid(folder / "im0.png", tmp_path / "g.jpg")
    with pytest.raises(ValueError, match="image"):
        ex.trajectory_grid(folder / "missing.png", png)
    with pytest.raises(ValueError, match="out"):
        ex.trajectory_grid(folder / "im0.png", tmp_path / "no" / "g.png")


def test_atomic_write(tmp_path):
    p = tmp_path / "x.txt"
    records.write_text(p, "one")
    records.write_text(p, "two")
    assert p.read_text() == "two" and os.listdir(tmp_path) == ["x.txt"]
