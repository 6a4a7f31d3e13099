"""Torch tensors in and out.

The compiled path for CPU tensors, the torch backend, gradients, data loaders and the optional
import.
"""

import multiprocessing as mp
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from numpy.testing import assert_allclose

import pyscale as ps

torch = pytest.importorskip("torch")

MODELS = {
    "dpm": (ps.DPM.from_schedule("linear", 100), [3, 40, 100]),
    "dpm-ve": (ps.DPM(beta=0.1, alpha=1.0), [2, 5, 9]),
    "heat": (ps.HeatDissipation(sigma=0.05), [0.5, 4.0, 30.0]),
    "homogeneous": (ps.HomogeneousDiffusion(), [0.5, 3.0, 12.0]),
    "blurring": (ps.BlurringDiffusion(beta=0.1, spectrum="discrete"), [1.0, 4.5, 100.0]),
    "hoogeboom": (ps.HoogeboomBlurring(), [0.05, 0.3, 0.9]),
}
IDS = list(MODELS)
DTYPES = {"f32": (torch.float32, 1e-6), "f64": (torch.float64, 1e-12)}


def _batch(dtype, shape=(3, 2, 9, 11), seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(shape, generator=g, dtype=torch.float64).to(dtype)


def _calls(p, times, x, z, **kw):
    """Every entry point of a linear process on tensors, with explicit noise where it takes one."""
    t = torch.tensor((times * x.shape[0])[: x.shape[0]], dtype=torch.float64)
    s = torch.tensor([0.0] * x.shape[0], dtype=torch.float64)
    return {
        "sample": p.sample(x, t, noise=z, channel_axis=1, **kw),
        "trajectory": p.trajectory(
            x,
            times[:2],
            noise=z[None].repeat(2, 0)
            if isinstance(z, np.ndarray)
            else z[None].repeat(2, 1, 1, 1, 1),
            channel_axis=1,
            **kw,
        ),
        "posterior": p.posterior(s, t, x, x * 0.5, channel_axis=1, **kw)[0],
        "velocity": p.velocity(x, z, t, channel_axis=1, **kw),
        "reverse_step": p.reverse_step(x, t, s, x * 0.5, noise=z, eta=0.5, channel_axis=1, **kw),
        # a short time: dividing by lam amplifies rounding in the finest modes by exp(mu t)
        "predict_start": p.predict_start(
            x, times[0] if p.basis == "pixel" else 0.05, noise=z, channel_axis=1, **kw
        ),
    }


@pytest.mark.parametrize("name", IDS)
@pytest.mark.parametrize("dt", list(DTYPES))
def test_compiled_path_is_the_numpy_path(name, dt):
    """CPU tensors go through the compiled kernels: bit-identical results, tensors back."""
    p, times = MODELS[name]
    dtype = DTYPES[dt][0]
    x, z = _batch(dtype), _batch(dtype, seed=1)
    got = _calls(p, times, x, z)
    want = _calls(p, times, x.numpy(), z.numpy())
    for key in got:
        assert isinstance(got[key], torch.Tensor) and got[key].dtype == dtype, key
        assert np.array_equal(got[key].numpy(), want[key]), key
    t = np.array(times[:1] * 3)
    seeded = p.sample(x, torch.as_tensor(t), seed=4, channel_axis=1)
    assert np.array_equal(seeded.numpy(), p.sample(x.numpy(), t, seed=4, channel_axis=1))
    frames = list(p.iter_frames(x, times, seed=2, channel_axis=1))
    whole = p.trajectory(x.numpy(), times, seed=2, channel_axis=1)
    assert all(np.array_equal(f.numpy(), w) for f, w in zip(frames, whole, strict=True))
    for idx, chunk in p.iter_batches(x, times, batch_size=2, seed=2, channel_axis=1):
        assert np.array_equal(chunk.numpy(), whole[:, idx])


@pytest.mark.parametrize("name", IDS)
@pytest.mark.parametrize("dt", list(DTYPES))
def test_torch_backend_matches_compiled(name, dt):
    """The torch operations (the device path) against the compiled kernels, explicit noise."""
    p, times = MODELS[name]
    dtype, tol = DTYPES[dt]
    x, z = _batch(dtype), _batch(dtype, seed=1)
    got = _calls(p, times, x, z, backend="torch")
    want = _calls(p, times, x, z)
    for key in got:
        assert got[key].dtype == dtype, key
        scale = max(1.0, float(want[key].abs().max()))
        assert_allclose(got[key].numpy(), want[key].numpy(), rtol=0, atol=tol * scale, err_msg=key)


@pytest.mark.parametrize("shape", [(1, 1), (1, 6), (5, 1), (7, 7), (8, 13), (33, 47)], ids=str)
@pytest.mark.parametrize("dt", list(DTYPES))
def test_torch_dct_matches_compiled(shape, dt):
    dtype, tol = DTYPES[dt]
    x = _batch(dtype, (2, *shape))
    for fn in (ps.dct2, ps.idct2):
        a, b = fn(x, backend="torch"), fn(x)
        assert a.dtype == dtype
        assert_allclose(a.numpy(), b.numpy(), rtol=0, atol=tol * 10)
    assert_allclose(
        ps.dct2(x, axes=(0, 2), backend="torch").numpy(),
        ps.dct2(x.numpy(), axes=(0, 2)),
        atol=tol * 10,
    )


@pytest.mark.parametrize("backend", ["compiled", "torch"])
def test_gradient_is_the_adjoint(backend):
    """Homogeneous diffusion is self-adjoint: d sum(w * sample(u0)) / d u0 = sample(w)."""
    p = ps.HomogeneousDiffusion()
    u0 = _batch(torch.float64).requires_grad_()
    w = _batch(torch.float64, seed=2)
    t = torch.tensor([1.5, 6.0, 20.0])
    (w * p.sample(u0, t, channel_axis=1, backend=backend)).sum().backward()
    assert_allclose(u0.grad.numpy(), p.sample(w, t, channel_axis=1).numpy(), atol=1e-13)


@pytest.mark.parametrize("backend", ["compiled", "torch"])
@pytest.mark.parametrize("name", ["dpm", "blurring", "hoogeboom"])
def test_gradcheck(backend, name):
    """Autograd through the image and the explicit noise of every linear map."""
    p, times = MODELS[name]
    x = _batch(torch.float64, (2, 5, 6)).requires_grad_()
    z = _batch(torch.float64, (2, 5, 6), seed=3).requires_grad_()
    t = torch.tensor(times[1:], dtype=torch.float64)
    s = torch.tensor([times[0]] * 2, dtype=torch.float64)
    funcs = [
        lambda x, z: p.sample(x, t, noise=z, backend=backend),
        lambda x, z: p.trajectory(x, times, noise=torch.stack([z] * 3), backend=backend),
        lambda x, z: p.reverse_step(x, t, s, z, seed=1, eta=0.3, backend=backend),
        lambda x, z: p.posterior(s, t, x, z, backend=backend)[0],
        lambda x, z: p.velocity(x, z, t, backend=backend),
        lambda x, z: ps.dct2(x, backend=backend) + ps.idct2(z, backend=backend),
    ]
    for fn in funcs:
        assert torch.autograd.gradcheck(fn, (x, z))


def test_torch_backend_draws():
    """Draws of the torch backend: reproducible per seed, of the right law, not the CPU draws."""
    p = ps.BlurringDiffusion(beta=0.1)
    u0 = torch.full((4000, 3, 4), 0.5, dtype=torch.float64)
    a = p.sample(u0, 20.0, seed=7, backend="torch")
    assert torch.equal(a, p.sample(u0, 20.0, seed=7, backend="torch"))
    assert not torch.equal(a, p.sample(u0, 20.0, seed=7))
    coef = ps.dct2(a).numpy()
    lam, gam = p.marginal(20.0, (3, 4))
    c0 = ps.dct2(u0[0].numpy())
    assert np.all(np.abs(coef.mean(0) - lam * c0) < 5 * gam / np.sqrt(4000))
    assert np.all(np.abs(coef.var(0) / gam**2 - 1) < 5 * np.sqrt(2 / 4000))
    u, eps = p.sample(u0[:3], 20.0, seed=7, backend="torch", return_noise=True)
    assert_allclose(p.sample(u0[:3], 20.0, noise=eps).numpy(), u.numpy(), atol=1e-12)


def test_out_half_precision_and_errors():
    p = ps.DPM(beta=0.1)
    x = _batch(torch.float32)
    out = torch.empty_like(x)
    assert p.sample(x, 5, seed=1, channel_axis=1, out=out) is out
    assert torch.equal(out, p.sample(x, 5, seed=1, channel_axis=1))
    half = p.sample(x.half(), 5, seed=1, channel_axis=1)
    assert half.dtype == torch.float16
    assert_allclose(half.float().numpy(), out.numpy(), atol=2e-3)
    with pytest.raises(TypeError, match="u0 must be a float array"):
        p.sample(torch.ones((4, 4), dtype=torch.int64), 5)
    with pytest.raises(ValueError, match="backend must be one of"):
        p.sample(x, 5, backend="cuda")
    with pytest.raises(TypeError, match="u0 must be a torch tensor"):
        p.sample(x.numpy(), 5, backend="torch")
    with pytest.raises(TypeError, match="automatic differentiation"):
        p.sample(x.clone().requires_grad_(), 5, out=out)
    with pytest.raises(ValueError, match="NaN"):
        p.sample(torch.full((4, 4), float("nan")), 5, backend="torch")


def test_import_is_lazy_and_missing_torch_is_named():
    code = (
        "import sys, pyscale as ps\n"
        "assert 'torch' not in sys.modules, 'import pyscale imported torch'\n"
        "sys.modules['torch'] = None\n"
        "class Foreign:\n"
        "    def __dlpack__(self):\n"
        "        pass\n"
        "try:\n"
        "    ps.dct2(Foreign())\n"
        "except TypeError as exc:\n"
        "    assert 'pip install \"pyscale[torch]\"' in str(exc), exc\n"
        "else:\n"
        "    raise AssertionError('no error')\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def _batches(method):
    from pyscale.training import DiffusionCollate

    images = [np.full((1, 8, 8), 0.1 * i, dtype=np.float32) for i in range(8)]
    p = ps.DPM.from_schedule("linear", 50)
    collate = DiffusionCollate(p, np.arange(1, 51), target="noise", channel_axis=0)
    loader = torch.utils.data.DataLoader(
        images, batch_size=4, collate_fn=collate, num_workers=2, multiprocessing_context=method
    )
    return p, images, list(loader)


@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
@pytest.mark.parametrize(
    "method", [m for m in ("fork", "spawn") if m in mp.get_all_start_methods()]
)
def test_collate_in_dataloader_workers(method):
    p, images, batches = _batches(method)
    assert len(batches) == 2
    seen = []
    for k, (u_t, t, eps) in enumerate(batches):
        assert u_t.shape == (4, 1, 8, 8) and t.shape == (4,) and eps.shape == u_t.shape
        lam, gam = p.marginal(t.numpy())
        x0 = np.stack(images[4 * k : 4 * k + 4])
        want = lam[:, None, None, None] * x0 + gam[:, None, None, None] * eps.numpy()
        assert_allclose(u_t.numpy(), want, atol=1e-5)
        seen.append(eps.numpy())
    assert not np.allclose(seen[0], seen[1])  # the two workers draw differently


def test_training_example_loss_falls():
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "docs"))
    try:
        import train_denoiser
    finally:
        sys.path.pop(0)
    losses = train_denoiser.main(steps=40, batch_size=32, log=lambda _: None)
    assert np.mean(losses[-10:]) < 0.6 * np.mean(losses[:3])


def test_gpu_check_script(capsys):
    """bench/gpu_check.py passes on the torch backend on the CPU; without a GPU it says so."""
    import gpu_check

    gpu_check.check(torch, ps, torch.device("cpu"), backend="torch")
    if not torch.cuda.is_available():
        assert gpu_check.main() == 0
        assert "no CUDA GPU" in capsys.readouterr().out
