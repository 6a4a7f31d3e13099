"""Torch tensors in and out, on their device, with gradients.

torch is optional and imported only when a tensor arrives (or a torch backend is asked for).
Public entry points decorated with :func:`tensor_aware` route tensors:

- ``backend="compiled"`` (the default for CPU tensors): the arrays are handed to the compiled
  kernels without a copy and the results come back as tensors, bit-identical to the numpy path.
  When an input requires gradients, a :class:`torch.autograd.Function` wraps the call; its
  backward pass applies the adjoint of the (linear) map with torch operations.
- ``backend="torch"`` (the default for tensors on other devices): torch operations on the
  tensors' device (an orthonormal DCT from ``torch.fft``, per-mode jumps, draws from a
  ``torch.Generator`` derived from the seed), differentiable by autograd.
"""

from __future__ import annotations

import functools
import inspect
import math
import sys

import numpy as np

from . import _validation as val
from .noise import stream_key

__all__ = ["is_tensor", "tensor_aware", "TensorLayout", "dct2d"]

INSTALL = 'install it with: pip install "pyscale[torch]"'
BACKENDS = ("auto", "compiled", "torch")
_TIME_PARAMS = ("t", "s", "times")


def is_tensor(x):
    """True for a torch tensor (without importing torch)."""
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(x, torch.Tensor)


def _require_torch(why):
    try:
        import torch
    except ImportError as exc:
        raise TypeError(f"{why} needs torch, which is not installed; {INSTALL}") from exc
    return torch


def _foreign(x):
    """An array of another framework that numpy cannot take as it is."""
    return hasattr(type(x), "__dlpack__") and not isinstance(x, (np.ndarray, np.generic))


def _any_tensor(values):
    if sys.modules.get("torch") is None:
        for v in values:
            if _foreign(v):
                _require_torch(f"a {type(v).__module__}.{type(v).__name__} argument")
        return False
    return any(is_tensor(v) for v in values)


def tensor_aware(*arrays):
    """Route torch tensors given for the parameters ``arrays`` (the first one is the image).

    The decorated function takes ``backend`` (``"auto"``, ``"compiled"`` or ``"torch"``) as a
    keyword; numpy input with ``backend="auto"`` goes straight through.
    """

    def decorate(fn):
        sig = inspect.signature(fn)

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            backend = kwargs.get("backend", "auto")
            if backend == "auto" and not _any_tensor(args) and not _any_tensor(kwargs.values()):
                return fn(*args, **kwargs)
            bound = sig.bind(*args, **kwargs)
            bound.apply_defaults()
            return _route(fn, bound.arguments, arrays)

        return wrapper

    return decorate


def _route(fn, a, arrays, *, backend=None):
    torch = _require_torch("a torch tensor or backend")
    backend = a.get("backend", "auto") if backend is None else backend
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    image = a[arrays[0]]
    for name in _TIME_PARAMS:
        if is_tensor(a.get(name)):
            a[name] = a[name].detach().cpu().numpy()
    if not is_tensor(image):  # the image decides: numpy in, numpy out
        if backend != "auto":
            raise TypeError(
                f"{arrays[0]} must be a torch tensor for backend={backend!r}, got "
                f"{type(image).__name__}"
            )
        for name in arrays[1:]:
            if is_tensor(a.get(name)):
                a[name] = _numpy(a[name].cpu())
        return fn(**a)
    device = image.device
    if backend == "auto":
        backend = "compiled" if device.type == "cpu" else "torch"
    if backend == "compiled" and device.type != "cpu":
        raise ValueError(f"backend='compiled' needs CPU tensors, got a tensor on {device}")
    a["backend"] = "auto"
    if backend == "torch":
        for name in arrays[1:]:
            if a.get(name) is not None and not is_tensor(a[name]):
                a[name] = torch.as_tensor(np.asarray(a[name]), device=device)
        return fn(**a)
    diff = [n for n in arrays if is_tensor(a.get(n)) and a[n].requires_grad]
    if not diff or not torch.is_grad_enabled():
        return _compiled(fn, a, arrays, image.dtype)
    if inspect.isgeneratorfunction(inspect.unwrap(fn)):
        return _route(fn, a, arrays, backend="torch")  # stream with autograd on torch ops
    if a.get("out") is not None:
        raise TypeError(
            "out= does not support automatic differentiation; drop out= or detach the inputs"
        )
    return _differentiable(torch, fn, a, arrays, diff)


def _numpy(x):
    """A CPU tensor as a numpy array sharing its memory (half types as float32)."""
    torch = sys.modules["torch"]
    x = x.detach()
    if x.is_floating_point() and x.dtype not in (torch.float32, torch.float64):
        x = x.float()
    return x.resolve_conj().numpy()


def _compiled(fn, a, arrays, dtype):
    """Call ``fn`` on numpy views of the tensors; results back as tensors of ``dtype``."""
    torch = sys.modules["torch"]
    out = a.get("out")
    args = dict(a)
    for name in arrays:
        if is_tensor(args.get(name)):
            args[name] = _numpy(args[name])
    if is_tensor(out) and (
        out.dtype not in (torch.float32, torch.float64) or not out.is_contiguous()
    ):
        raise ValueError("out must be a contiguous float32 or float64 tensor on the CPU")

    def back(x):
        if isinstance(x, np.ndarray):
            if is_tensor(out) and np.shares_memory(x, args["out"]):
                return out
            if not x.flags.writeable:
                x = x.copy()
            return torch.from_numpy(np.ascontiguousarray(x)).to(dtype)
        if isinstance(x, tuple):
            return tuple(back(y) for y in x)
        return x

    res = fn(**args)
    if inspect.isgenerator(res):
        return (back(item) for item in res)
    return back(res)


def _differentiable(torch, fn, a, arrays, diff):
    """The compiled call inside an autograd function whose backward applies the adjoint."""

    class Linear(torch.autograd.Function):
        @staticmethod
        def forward(ctx, *xs):
            args = {**a, **dict(zip(diff, xs, strict=True))}
            return _compiled(fn, args, arrays, a[arrays[0]].dtype)

        @staticmethod
        def backward(ctx, *grads):
            # the map is linear in the differentiable inputs: its vector-Jacobian product at any
            # point is the adjoint, here taken from the same map in torch operations
            with torch.enable_grad():
                prim = [a[n].detach().requires_grad_() for n in diff]
                args = {**a, **dict(zip(diff, prim, strict=True))}
                res = _route(fn, args, arrays, backend="torch")
                outs = res if isinstance(res, tuple) else (res,)
                pairs = [
                    (o, g)
                    for o, g in zip(outs, grads, strict=True)
                    if g is not None and is_tensor(o) and o.requires_grad
                ]
                got = torch.autograd.grad(
                    [o for o, _ in pairs], prim, [g for _, g in pairs], allow_unused=True
                )
            return tuple(got)

    return Linear.apply(*(a[n] for n in diff))


# --- the orthonormal 2-D DCT in torch operations -------------------------------------------------


@functools.lru_cache(maxsize=64)
def _twiddle(n, dtype, device):
    """``exp(-i pi k / (2 n))`` and the orthonormal scale of an ``n``-point DCT-II."""
    torch = sys.modules["torch"]
    real = torch.float64 if dtype == torch.float64 else torch.float32
    k = torch.arange(n, dtype=real, device=device)
    w = torch.polar(torch.ones_like(k), -math.pi * k / (2 * n))
    scale = torch.full((n,), math.sqrt(2.0 / n), dtype=real, device=device)
    scale[0] = math.sqrt(1.0 / n)
    return w, scale


def _dct_last(x, inverse):
    """Orthonormal DCT-II (DCT-III if ``inverse``) along the last axis, with ``torch.fft``."""
    torch = sys.modules["torch"]
    n = x.shape[-1]
    w, scale = _twiddle(n, x.dtype, x.device)
    if not inverse:
        v = torch.cat([x[..., ::2], x[..., 1::2].flip(-1)], dim=-1)
        return (torch.fft.fft(v) * w).real * scale
    y = x / scale
    y_rev = torch.cat([torch.zeros_like(y[..., :1]), y[..., 1:].flip(-1)], dim=-1)
    v = torch.fft.ifft(torch.complex(y, -y_rev) * w.conj()).real
    half = (n + 1) // 2
    out = torch.empty_like(v)
    out[..., ::2] = v[..., :half]
    out[..., 1::2] = v[..., half:].flip(-1)
    return out


def dct2d(x, inverse=False):
    """Orthonormal 2-D DCT-II (DCT-III if ``inverse``) over the last two axes of a tensor."""
    y = _dct_last(x, inverse)
    return _dct_last(y.transpose(-1, -2), inverse).transpose(-1, -2)


def dct_axes(x, axes, inverse, name="x"):
    """:func:`dct2d` over two given axes of a floating tensor (``pyscale.dct2`` for tensors)."""
    lay = TensorLayout(x, None, name, min_ndim=1)
    ax = tuple(int(i) % x.ndim for i in axes)
    if len(axes) != 2 or ax[0] == ax[1]:
        raise ValueError(f"axes={axes!r} must be two different axes of an array with ndim={x.ndim}")
    moved = lay.cast(x).movedim(ax, (-2, -1))
    out = dct2d(moved, inverse).movedim((-2, -1), ax)
    if not lay.finite(out):
        lay.overflowed("the transform")
    return out.to(lay.out_dtype)


# --- tensors in the canonical layout -------------------------------------------------------------


class TensorLayout:
    """A tensor image or batch in the canonical ``(B, ny, nx)`` layout, on its device.

    The same interface as :class:`pyscale._layout.Layout`, with torch operations; half-precision
    tensors are computed in float32 and returned in their dtype.
    """

    compiled = False

    def __init__(self, u0, channel_axis, name="u0", min_ndim=2):
        torch = _require_torch("a torch tensor")
        if not is_tensor(u0):
            u0 = torch.as_tensor(np.asarray(u0))
        if u0.is_complex() or not u0.is_floating_point():
            raise TypeError(f"{name} must be a real floating tensor, got dtype {u0.dtype}")
        if u0.ndim < min_ndim or u0.numel() == 0:
            raise ValueError(
                f"{name} must be a non-empty array with at least 2 dimensions "
                f"(H, W), got shape {tuple(u0.shape)}"
            )
        self.u, self.name, self.channel_axis = u0, name, channel_axis
        self.out_dtype = u0.dtype
        self.dtype = u0.dtype if u0.dtype in (torch.float32, torch.float64) else torch.float32
        self.device, self.shape = u0.device, tuple(u0.shape)
        if min_ndim < 2:
            return
        self.c, (ay, ax) = val.spatial_axes(u0.ndim, channel_axis, name)
        moved = u0 if self.c is None else u0.movedim(self.c, -3)
        self.moved_shape = tuple(moved.shape)
        self.canon = moved.reshape(-1, self.shape[ay], self.shape[ax])

    def back(self, x, leading=()):
        """Map a canonical tensor (with ``leading`` axes in front) to the input's layout."""
        out = x.reshape(*leading, *self.moved_shape)
        if self.c is not None:
            out = out.movedim(-3, self.c + len(leading))
        return out.to(self.out_dtype)

    def canonical(self, x, name, leading=()):
        """Check another array of the input's shape (after ``leading`` axes); canonical form."""
        torch = sys.modules["torch"]
        if not is_tensor(x):
            x = torch.as_tensor(np.asarray(x))
        want = (*leading, *self.shape)
        if tuple(x.shape) != want:
            raise ValueError(f"{name} must have shape {want}, got {tuple(x.shape)}")
        if x.is_complex() or not x.is_floating_point():
            raise TypeError(f"{name} must be a real floating tensor, got dtype {x.dtype}")
        x = x.to(device=self.device, dtype=self.dtype)
        if not self.finite(x):
            raise ValueError(f"{name} contains NaN or infinite values")
        moved = x if self.c is None else x.movedim(self.c + len(leading), -3)
        return moved.reshape(*leading, *self.canon.shape)

    def planes(self, *columns):
        """Coefficient planes of times; see :func:`pyscale._validation.plane_index`."""
        return val.plane_index(
            self.shape, self.channel_axis, self.name, self.canon.shape[0], columns
        )

    def buffer(self, out, leading):
        """Check ``out``; tensors are computed anew and copied into it by :meth:`result`."""
        shape = (*leading, *self.shape)
        if out is not None and (
            not is_tensor(out)
            or tuple(out.shape) != shape
            or out.dtype != self.out_dtype
            or out.device != self.device
        ):
            raise ValueError(
                f"out must be a tensor of shape {shape}, dtype {self.out_dtype} on {self.device}"
            )
        return None

    def result(self, buf, out, leading=()):
        """Return the result in the input's layout, written to ``out`` if given."""
        res = self.back(buf, leading)
        if out is None:
            return res
        out.copy_(res)
        return out

    def overflowed(self, what="the noise parameters"):
        """Raise for a non-finite result: name bad input, else report the overflow."""
        if not self.finite(self.u):
            raise ValueError(f"{self.name} contains NaN or infinite values")
        raise ValueError(
            f"the result overflowed {self.dtype}: the values of {self.name} or {what} are too large"
        )

    def transform(self, x, dct, workers, inverse=False):
        """The orthonormal 2-D DCT-II (DCT-III if ``inverse``) of ``x``, or ``x`` itself."""
        return dct2d(x, inverse) if dct else x

    def per_image(self, coef, plane_of, pixel):
        """Coefficients of one frame ``(P, *modes)`` for each canonical image, on the device."""
        torch = sys.modules["torch"]
        c = torch.tensor(np.asarray(coef), dtype=self.dtype, device=self.device)
        c = c[:1] if plane_of is None else c[torch.as_tensor(plane_of, device=self.device)]
        return c[:, None, None] if pixel else c

    def cast(self, x):
        """``x`` in the computing dtype."""
        return x.to(self.dtype)

    def finite(self, x):
        """Whether every entry of ``x`` is finite."""
        return bool(sys.modules["torch"].isfinite(x).all())

    def draws(self, seed, stream, shape, start=0):
        """Standard normal draws from a ``torch.Generator`` on the device.

        The generator is seeded from ``(seed, stream, start)``: reproducible per device, not
        equal to the CPU draws.
        """
        torch = sys.modules["torch"]
        gen = torch.Generator(device=self.device)
        gen.manual_seed(int(stream_key(int(stream_key(seed, stream)), start)))
        return torch.randn(shape, generator=gen, device=self.device, dtype=self.dtype)

    def store(self, out, k, value):
        """Frame ``k`` (tensors are stacked by :meth:`stack`, never written in place)."""
        return value

    def stack(self, frames):
        """Stack frames along a new first axis."""
        return sys.modules["torch"].stack(frames)

    def asarray(self, x):
        """A result that is not an image (coefficients), as a tensor on the device."""
        return sys.modules["torch"].tensor(np.asarray(x), dtype=self.dtype, device=self.device)
