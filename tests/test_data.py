"""Tests of the image folder loader."""

import numpy as np
import pytest
from PIL import Image

from pyscale.paper import data


def _save(path, arr):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path)


@pytest.fixture
def folder(tmp_path):
    rng = np.random.default_rng(0)
    _save(tmp_path / "a.png", rng.integers(0, 256, (12, 10, 3), dtype=np.uint8))
    _save(tmp_path / "b.jpg", rng.integers(0, 256, (8, 9, 3), dtype=np.uint8))
    _save(tmp_path / "c.tif", rng.integers(0, 256, (7, 7), dtype=np.uint8))
    _save(tmp_path / "sub" / "d.bmp", np.full((5, 6, 3), 255, dtype=np.uint8))
    (tmp_path / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 this is not a jpeg")
    (tmp_path / "notes.txt").write_text("not an image\n")
    (tmp_path / ".hidden.png").write_bytes(b"ignored")
    return tmp_path


def test_folder_skips_and_counts(folder):
    msg = r"skipped 2 of 6 files.*broken\.jpg.*notes\.txt"
    with pytest.warns(data.SkippedImageWarning, match=msg):
        s = data.load_images(folder)
    assert s.names == ["a.png", "b.jpg", "c.tif", "sub/d.bmp"]
    assert [n for n, _ in s.skipped] == ["broken.jpg", "notes.txt"]
    assert s.images[0].shape == (12, 10, 3) and s.images[2].shape == (7, 7)
    for u in s.images:
        assert u.dtype == np.float64 and 0 <= u.min() and u.max() <= 1
    np.testing.assert_allclose(s.images[3], 1.0)
    assert len(s) == 4 and [n for n, _ in s] == s.names


def test_png_values_exact(folder):
    arr = np.asarray(Image.open(folder / "a.png"))
    u = data.read_image(folder / "a.png", dtype=np.float32)
    assert u.dtype == np.float32
    np.testing.assert_allclose(u, arr / 255.0, rtol=1e-6)


def test_strict_raises(folder):
    with pytest.raises(data.UnreadableImageError, match="broken.jpg"):
        data.load_images(folder, strict=True)


def test_not_recursive_grey_limit(folder):
    with pytest.warns(data.SkippedImageWarning):
        s = data.load_images(folder, recursive=False, grey=True)
    assert "sub/d.bmp" not in s.names and all(u.ndim == 2 for u in s.images)
    s = data.load_images(folder, limit=2)  # stops before the broken files
    assert s.names == ["a.png", "b.jpg"]


def test_truncated_file(tmp_path):
    _save(tmp_path / "ok.png", np.zeros((20, 20, 3), np.uint8))
    good = (tmp_path / "ok.png").read_bytes()
    (tmp_path / "trunc.png").write_bytes(good[: len(good) // 2])
    with pytest.warns(data.SkippedImageWarning, match="trunc.png"):
        s = data.load_images(tmp_path)
    assert s.names == ["ok.png"] and s.skipped[0][0] == "trunc.png"


def test_bsds_layout(tmp_path):
    root = tmp_path / "BSDS500" / "data" / "images"
    for split, n in (("train", 3), ("val", 2), ("test", 1)):
        for i in range(n):
            _save(root / split / f"{split}{i}.jpg", np.full((6, 4, 3), 40 * i, np.uint8))
    (root / "train" / "Thumbs.db").write_bytes(b"\x00\x01")
    assert data.load_images(root, split="val").names == ["val0.jpg", "val1.jpg"]
    assert data.load_images(tmp_path / "BSDS500", split="test").names == ["test0.jpg"]
    with pytest.warns(data.SkippedImageWarning, match="Thumbs.db"):
        s = data.load_images(root)
    assert len(s) == 6 and s.names[0] == "test/test0.jpg"
    with pytest.raises(ValueError, match="split='nope'"):
        data.load_images(root, split="nope")


def test_default_images_and_max_size():
    s = data.load_images(limit=3, max_size=40)
    assert s.names == ["astronaut.png", "camera.png", "chelsea.png"]
    assert max(s.images[2].shape[:2]) == 40 and s.images[1].ndim == 2


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="folder"):
        data.load_images(tmp_path / "missing")
    with pytest.raises(TypeError, match="folder"):
        data.load_images(3)
    with pytest.raises(ValueError, match="dtype"):
        data.load_images(dtype=np.int32)
    with pytest.raises(ValueError, match="limit"):
        data.load_images(limit=0)
    with pytest.raises(ValueError, match="max_size"):
        data.load_images(max_size=2)
    with pytest.raises(ValueError, match="split"):
        data.load_images(split="train")
    (tmp_path / "x.txt").write_text("x")
    with pytest.warns(data.SkippedImageWarning), pytest.raises(ValueError, match="no readable"):
        data.load_images(tmp_path)
