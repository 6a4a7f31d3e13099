"""Check pyscale's device path on a GPU against its CPU path, and time it.

Run ``python bench/gpu_check.py`` on a machine with a CUDA GPU (about a minute). It

1. checks, for every linear process, that ``sample``, ``trajectory``, ``posterior``,
   ``velocity`` and ``reverse_step`` on GPU tensors equal the compiled CPU path with the same
   explicit noise (1e-5 in float32, 1e-12 in float64, relative to the largest value), that the
   seeded draws on the GPU have the marginal's mean and variance, and that gradients flow;
2. times a 256x3x64x64 float32 batch at one time per example on the GPU against diffusers-style
   ``add_noise`` written in torch on the GPU (``sqrt(ab[t]) x0 + sqrt(1 - ab[t]) eps``) and
   against the same call on CPU tensors, and prints a table with the GPU's name.

Without a GPU it says so and exits with status 0.
"""

from __future__ import annotations

import sys
import time

import numpy as np


def _time(fn, sync, rounds=20):
    fn()
    sync()
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def check(torch, ps, dev, backend="auto"):
    """Device results against the CPU path; raise AssertionError on a mismatch.

    ``backend="torch"`` with ``dev`` the CPU runs the same checks on the torch backend.
    """
    models = {
        "dpm": (ps.DPM.from_schedule("squaredcos_cap_v2"), [10.0, 500.0, 990.0]),
        "heat": (ps.HeatDissipation(), [0.5, 8.0, 128.0]),
        "homogeneous": (ps.HomogeneousDiffusion(), [0.5, 8.0, 128.0]),
        "blurring": (ps.BlurringDiffusion(), [1.0, 100.0, 1000.0]),
        "hoogeboom": (ps.HoogeboomBlurring(), [0.1, 0.5, 0.9]),
    }
    gen = torch.Generator().manual_seed(0)
    for dtype, tol in ((torch.float32, 1e-5), (torch.float64, 1e-12)):
        x = torch.rand((3, 3, 40, 56), generator=gen, dtype=dtype)
        z = torch.randn((3, 3, 40, 56), generator=gen, dtype=dtype)
        for name, (p, times) in models.items():
            t = torch.tensor(times, dtype=torch.float64)
            s = t / 2 if name != "dpm" else torch.floor(t / 2)

            def calls(x, z, p=p, t=t, s=s, times=times, **kw):
                return [
                    p.sample(x, t, noise=z, channel_axis=1, **kw),
                    p.trajectory(x[0], times, noise=z, channel_axis=0, **kw),
                    p.posterior(s, t, x, 0.5 * x, channel_axis=1, **kw)[0],
                    p.velocity(x, z, t, channel_axis=1, **kw),
                    p.reverse_step(x, t, s, 0.5 * x, noise=z, eta=0.5, channel_axis=1, **kw),
                ]

            device = calls(x.to(dev), z.to(dev), backend=backend)
            for got, want in zip(device, calls(x, z, backend="compiled"), strict=True):
                assert got.device.type == dev.type and got.dtype == dtype
                err = float((got.cpu() - want).abs().max() / max(1.0, float(want.abs().max())))
                assert err <= tol, f"{name} {dtype}: device differs from CPU by {err:.2e}"
    p = ps.BlurringDiffusion()
    u0 = torch.full((20000, 4, 5), 0.5, dtype=torch.float64, device=dev)
    coef = ps.dct2(p.sample(u0, 50.0, seed=1, backend=backend)).cpu().numpy()
    lam, gam = p.marginal(50.0, (4, 5))
    assert np.all(np.abs(coef.mean(0) - lam * ps.dct2(np.full((4, 5), 0.5))) < 5 * gam / 141)
    assert np.all(np.abs(coef.var(0) / gam**2 - 1) < 0.05)
    u = torch.rand((2, 16, 16), device=dev, dtype=torch.float64, requires_grad=True)
    ps.HomogeneousDiffusion().sample(u, 3.0, backend=backend).sum().backward()
    assert torch.allclose(u.grad, torch.ones_like(u))  # mean-preserving and self-adjoint


def timings(torch, ps, dev):
    """Median times of the per-example batch on the device, diffusers-style and on the CPU."""
    n, shape = 256, (256, 3, 64, 64)
    x = torch.rand(shape, device=dev)
    t = torch.randint(1, 1001, (n,))
    dpm = ps.DPM.from_schedule("squaredcos_cap_v2")
    ab = torch.tensor(np.square(dpm.marginal(np.arange(1, 1001))[0]), device=dev)
    eps = torch.randn(shape, device=dev)
    td = t.to(dev) - 1
    sync = torch.cuda.synchronize
    rows = []

    def diffusers_add_noise():
        a = ab[td].sqrt().float()[:, None, None, None]
        b = (1 - ab[td]).sqrt().float()[:, None, None, None]
        return a * x + b * eps

    rows.append(("diffusers-style add_noise (torch, GPU)", _time(diffusers_add_noise, sync)))
    x_cpu = x.cpu()
    for name, p, times in (
        ("DPM", dpm, t.numpy()),
        ("BlurringDiffusion", ps.BlurringDiffusion(), t.numpy() * 1.0),
        ("HoogeboomBlurring", ps.HoogeboomBlurring(), t.numpy() / 1000),
    ):
        rows.append(
            (
                f"{name}.sample, GPU",
                _time(lambda p=p, times=times: p.sample(x, times, seed=0, channel_axis=1), sync),
            )
        )
        rows.append(
            (
                f"{name}.sample, CPU tensors (compiled)",
                _time(
                    lambda p=p, times=times: p.sample(x_cpu, times, seed=0, channel_axis=1),
                    sync,
                    rounds=5,
                ),
            )
        )
    return rows


def main():
    try:
        import torch
    except ImportError:
        print('gpu_check: torch is not installed; skipped (pip install "pyscale[torch]")')
        return 0
    if not torch.cuda.is_available():
        print(
            "gpu_check: no CUDA GPU is available; skipped (the device path is tested on the "
            "CPU through backend='torch' by the test suite)"
        )
        return 0
    import pyscale as ps

    dev = torch.device("cuda")
    t0 = time.perf_counter()
    check(torch, ps, dev)
    print(f"gpu_check: the device path equals the CPU path ({time.perf_counter() - t0:.1f} s)")
    print(
        f"{torch.cuda.get_device_name(dev)}, torch {torch.__version__}, 256x3x64x64 float32, "
        "one time per example:"
    )
    rows = timings(torch, ps, dev)
    for label, sec in rows:
        print(f"  {label:45s} {sec * 1e3:9.3f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
