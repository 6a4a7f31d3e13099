"""Train a tiny noise-prediction network with pyscale's forward process in a torch DataLoader.

The data are 32 x 32 grey crops of photographs bundled with scikit-image; the DataLoader's
collate function (:class:`pyscale.training.DiffusionCollate`) draws one time per example from
diffusers' cosine schedule and returns the noisy crops, their times and the noise as target. The
network sees the noisy crop and the noise level ``gam(t)`` as a second channel. Run it as a
script (``python docs/train_denoiser.py``); the loss falls from about 1 to well below it.
"""

from __future__ import annotations

import numpy as np
import torch
from skimage import data, img_as_float

import pyscale as ps
from pyscale.training import DiffusionCollate

PHOTOS = ("camera", "coins", "moon", "page", "text", "brick", "grass", "gravel")


class Crops(torch.utils.data.Dataset):
    """Random 32 x 32 crops of bundled grey photographs, in [-1, 1]."""

    def __init__(self, n=2048, size=32, seed=0):
        rng = np.random.default_rng(seed)
        photos = [img_as_float(getattr(data, name)()) * 2 - 1 for name in PHOTOS]
        self.crops = []
        for i in range(n):
            p = photos[i % len(photos)]
            y, x = rng.integers(0, p.shape[0] - size), rng.integers(0, p.shape[1] - size)
            self.crops.append(p[None, y : y + size, x : x + size].astype(np.float32))

    def __len__(self):
        return len(self.crops)

    def __getitem__(self, i):
        return self.crops[i]


class Denoiser(torch.nn.Module):
    """A small convolutional noise predictor; the noise level enters as a constant channel."""

    def __init__(self, width=32):
        super().__init__()
        self.net = torch.nn.Sequential(
            torch.nn.Conv2d(2, width, 3, padding=1),
            torch.nn.SiLU(),
            torch.nn.Conv2d(width, width, 3, padding=1),
            torch.nn.SiLU(),
            torch.nn.Conv2d(width, 1, 3, padding=1),
        )

    def forward(self, u_t, level):
        return self.net(torch.cat([u_t, level[:, None, None, None].expand_as(u_t)], dim=1))


def main(steps=300, batch_size=64, num_workers=0, seed=0, log=print):
    """Train for ``steps`` steps; return the loss of every step."""
    torch.manual_seed(seed)
    process = ps.DPM.from_schedule("squaredcos_cap_v2", 1000)
    collate = DiffusionCollate(process, np.arange(1, 1001), target="noise", channel_axis=0)
    loader = torch.utils.data.DataLoader(
        Crops(seed=seed),
        batch_size=batch_size,
        shuffle=True,
        collate_fn=collate,
        num_workers=num_workers,
        drop_last=True,
    )
    model = Denoiser()
    optimiser = torch.optim.Adam(model.parameters(), lr=2e-3)
    losses = []
    while len(losses) < steps:
        for u_t, t, eps in loader:
            _, gam = process.marginal(t.numpy())
            level = torch.as_tensor(gam, dtype=u_t.dtype)
            loss = torch.nn.functional.mse_loss(model(u_t, level), eps)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            losses.append(loss.item())
            if len(losses) % 50 == 0:
                log(f"step {len(losses)}: loss {np.mean(losses[-50:]):.3f}")
            if len(losses) == steps:
                break
    return losses


if __name__ == "__main__":
    main()
