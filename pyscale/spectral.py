"""The orthonormal 2-D DCT and the spectrum of the Laplacian with reflecting boundaries.

All DCT-domain processes of pyscale are diagonal in the orthonormal 2-D DCT-II: mode
``(l, k)`` (row frequency ``l``, column frequency ``k``) of an ``ny x nx`` image decays as
``exp(-mu[l, k] t)``.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
import numpy.typing as npt

from ._ext import core
from ._torch import is_tensor, tensor_aware
from ._validation import check_image, check_result, check_workers

__all__ = ["dct2", "idct2", "laplacian_eigenvalues", "SPECTRA"]

SPECTRA = ("continuous", "discrete")


def laplacian_eigenvalues(ny: int, nx: int, spectrum: str = "continuous") -> np.ndarray:
    """Decay rates ``mu`` of the DCT modes of an ``ny x nx`` image (pixel size 1).

    Parameters
    ----------
    ny, nx : int
        Image height and width.
    spectrum : {"continuous", "discrete"}
        ``"continuous"``: ``mu = pi**2 (k**2 / nx**2 + l**2 / ny**2)``, the continuous Laplacian
        sampled at the DCT frequencies (Eq. 35 of the paper; a Gaussian blur of standard deviation
        ``s`` corresponds to ``t = s**2 / 2``). ``"discrete"``:
        ``mu = 4 sin(pi k / (2 nx))**2 + 4 sin(pi l / (2 ny))**2``, the exact eigenvalues of the
        5-point Laplacian with reflecting (Neumann) boundaries.

    Returns
    -------
    numpy.ndarray
        float64 array of shape ``(ny, nx)``; ``mu[0, 0] == 0``.

    Examples
    --------
    >>> from pyscale import laplacian_eigenvalues
    >>> mu = laplacian_eigenvalues(4, 4, "discrete")
    >>> float(mu[0, 0]), round(float(mu[0, 2]), 12)
    (0.0, 2.0)
    """
    for name, n in (("ny", ny), ("nx", nx)):
        if isinstance(n, (bool, np.bool_)) or not isinstance(n, (int, np.integer)) or n < 1:
            raise ValueError(f"{name} must be a positive int, got {n!r}")
    if spectrum not in SPECTRA:
        raise ValueError(f"spectrum must be one of {SPECTRA}, got {spectrum!r}")
    return eigenvalues(int(ny), int(nx), spectrum).copy()


@functools.lru_cache(maxsize=32)
def eigenvalues(ny: int, nx: int, spectrum: str, scale: float = 1.0) -> np.ndarray:
    """:func:`laplacian_eigenvalues` times ``scale``, cached per shape and read-only.

    Internal: the arguments are trusted (positive ints, a known spectrum).
    """
    if spectrum == "continuous":
        ky = (np.pi * np.arange(ny) / ny) ** 2
        kx = (np.pi * np.arange(nx) / nx) ** 2
    else:  # "discrete"
        ky = 4.0 * np.sin(np.pi * np.arange(ny) / (2 * ny)) ** 2
        kx = 4.0 * np.sin(np.pi * np.arange(nx) / (2 * nx)) ** 2
    mu = ky[:, None] + kx[None, :]
    if scale != 1.0:
        mu *= scale
    mu.flags.writeable = False
    return mu


def _check_axes(x, axes):
    if len(axes) != 2:
        raise ValueError(f"axes must name two axes, got {axes!r}")
    try:
        ax = tuple(int(a) % x.ndim for a in axes)
    except (TypeError, ZeroDivisionError) as exc:
        raise TypeError(f"axes must be two ints, got {axes!r}") from exc
    if any(not -x.ndim <= a < x.ndim for a in axes) or ax[0] == ax[1]:
        raise ValueError(f"axes={axes!r} must be two different axes of an array with ndim={x.ndim}")
    return ax


def transform(x, *, inverse=False, workers=1):
    """Orthonormal DCT-II (or DCT-III) over the last two axes of a float32/float64 array.

    Internal: no input checks. The compiled kernel works on a C-contiguous ``(B, ny, nx)`` view.
    """
    shape = x.shape
    flat = np.ascontiguousarray(x).reshape(-1, shape[-2], shape[-1])
    return core.dct2(flat, inverse, int(workers)).reshape(shape)


def _transform(x, axes, workers, inverse, name):
    # A NaN or infinity anywhere in x makes the transform non-finite too, so one check of the
    # result covers the input as well; the compiled kernel checks each block of the result while
    # it is still in the cache, and the input is only looked at again to tell bad input from
    # overflow.
    if is_tensor(x):  # the torch backend
        from ._torch import dct_axes

        return dct_axes(x, axes, inverse, name)
    if not (type(x) is np.ndarray and x.dtype.char in "fd" and x.ndim >= 2 and x.size):
        x = check_image(x, name=name, allow_nonfinite=True)
    last = (x.ndim - 2, x.ndim - 1)
    ax = last if axes == (-2, -1) else _check_axes(x, axes)
    w = check_workers(workers)
    order = None
    if ax != last:
        order = (*[i for i in range(x.ndim) if i not in ax], *ax)
        x = x.transpose(order)
    shape = x.shape
    flat = np.ascontiguousarray(x).reshape(-1, shape[-2], shape[-1])
    out, finite = core.dct2(flat, inverse, w, check=True)
    out = out.reshape(shape)
    if order is not None:
        out = out.transpose(np.argsort(order))
    if not finite:
        check_image(x, name=name)
        check_result(out, name)
    return out


@tensor_aware("x")
def dct2(
    x: npt.ArrayLike,
    *,
    axes: tuple[int, int] = (-2, -1),
    workers: int | None = None,
    backend: str = "auto",
) -> Any:
    """Orthonormal 2-D DCT-II over two axes, batched over all others.

    Parameters
    ----------
    x : array_like
        Real float array (float32 stays float32).
    axes : tuple of two int, optional
        The two axes to transform (default: the last two).
    workers : int or None, optional
        Threads to use; ``None`` uses all cores, ``1`` one thread.
    backend : {"auto", "compiled", "torch"}
        For torch tensors: the compiled transform (CPU) or ``torch.fft`` (any device).

    Returns
    -------
    numpy.ndarray or torch.Tensor
        The coefficients, same shape and dtype as ``x``. Equal to
        ``scipy.fft.dctn(x, type=2, norm="ortho", axes=axes)``.

    Examples
    --------
    >>> import numpy as np
    >>> from pyscale import dct2, idct2
    >>> x = np.random.default_rng(0).random((5, 7))
    >>> bool(np.allclose(idct2(dct2(x)), x))
    True
    """
    return _transform(x, axes, workers, inverse=False, name="x")


@tensor_aware("x")
def idct2(
    x: npt.ArrayLike,
    *,
    axes: tuple[int, int] = (-2, -1),
    workers: int | None = None,
    backend: str = "auto",
) -> Any:
    """Orthonormal 2-D DCT-III (the inverse of :func:`dct2`) over two axes.

    Parameters
    ----------
    x : array_like
        Real float array of DCT coefficients.
    axes : tuple of two int, optional
        The two axes to transform (default: the last two).
    workers : int or None, optional
        Threads to use; ``None`` uses all cores, ``1`` one thread.
    backend : {"auto", "compiled", "torch"}
        For torch tensors: the compiled transform (CPU) or ``torch.fft`` (any device).

    Returns
    -------
    numpy.ndarray or torch.Tensor
        Same shape and dtype as ``x``.
    """
    return _transform(x, axes, workers, inverse=True, name="x")
