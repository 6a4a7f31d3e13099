"""Seamless cloning with osmosis: paste the cat of ``skimage.data.chelsea`` into a coffee photo.

The guidance drift is the canonical drift ``d = 2 (v_q - v_p) / (v_q + v_p)`` of a composite
image ``v`` (the coffee photo outside a disc, the cat inside), set to zero on the edges that cross
the border of the disc. Such a drift is not the drift of any single image, so the osmosis steady
state is not a rescaled ``v``: inside the disc it keeps the relative contrast (the logarithmic
derivative) of the cat, outside that of the coffee photo, and across the border the grey values
join without a seam. The evolution preserves the mean of every channel. Uses only images that
ship with scikit-image; writes ``osmosis_example.png`` next to this file.

Run: ``python docs/osmosis_example.py``
"""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from skimage import data, img_as_float  # noqa: E402

import pyscale as ps  # noqa: E402

OFFSET = 1.0  # osmosis needs positive images (Weickert's reference code shifts by one as well)


def composite_drift(target, source, mask):
    """Canonical drift of the composite guidance, zero across the border of ``mask``."""
    v = np.where(mask[..., None], source, target) + OFFSET
    dx = 2 * (v[:, 1:] - v[:, :-1]) / (v[:, 1:] + v[:, :-1])
    dy = 2 * (v[1:] - v[:-1]) / (v[1:] + v[:-1])
    dx[mask[:, 1:] != mask[:, :-1]] = 0.0
    dy[mask[1:] != mask[:-1]] = 0.0
    return dx, dy


def main():
    target = img_as_float(data.coffee())[40:340, 60:510]  # 300 x 450
    cat = img_as_float(data.chelsea())  # 300 x 451
    source = np.zeros_like(target)
    source[:, :450] = cat[:, :450]
    y, x = np.mgrid[: target.shape[0], : target.shape[1]]
    mask = (y - 120) ** 2 / 95**2 + (x - 150) ** 2 / 110**2 <= 1.0  # disc around the cat's face
    naive = np.where(mask[..., None], source, target)

    dx, dy = composite_drift(target, source, mask)
    # start from the target photo: its per-channel mean fixes the brightness of the result
    u = ps.osmosis(target + OFFSET, drift=(dx, dy), t=1e5, rtol=1e-8, channel_axis=-1) - OFFSET
    u = np.clip(u, 0, 1)

    fig, axes = plt.subplots(1, 3, figsize=(13.5, 3.6), constrained_layout=True)
    for ax, img, title in zip(
        axes,
        (target, naive, u),
        ("target", "pasted source (naive)", "osmosis, t = 1e5"),
        strict=False,
    ):
        ax.imshow(img)
        ax.set_title(title)
        ax.axis("off")
    out = Path(__file__).with_name("osmosis_example.png")
    fig.savefig(out, dpi=80)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
