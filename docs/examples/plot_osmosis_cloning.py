"""
Seamless cloning with osmosis
=============================

Paste the cat of ``skimage.data.chelsea`` into a coffee photo. The guidance drift is the
canonical drift ``d = 2 (v_q - v_p) / (v_q + v_p)`` of a composite image ``v`` (the coffee photo
outside a disc, the cat inside), set to zero on the edges that cross the border of the disc.
Such a drift is not the drift of any single image, so the osmosis steady state is not a rescaled
``v``: inside the disc it keeps the relative contrast (the logarithmic derivative) of the cat,
outside that of the coffee photo, and across the border the grey values join without a seam.
The evolution preserves the mean of every channel.
"""

import matplotlib.pyplot as plt
import numpy as np
from skimage import data, img_as_float

import pyscale as ps

OFFSET = 1.0  # osmosis needs positive images (Weickert's reference code shifts by one as well)

target = img_as_float(data.coffee())[40:340, 60:510]  # 300 x 450 x 3
source = img_as_float(data.chelsea())[:, :450]
y, x = np.mgrid[:300, :450]
mask = (y - 120) ** 2 / 95**2 + (x - 150) ** 2 / 110**2 <= 1.0  # a disc around the cat's face
naive = np.where(mask[..., None], source, target)

v = naive + OFFSET  # positive composite guidance
dx = 2 * (v[:, 1:] - v[:, :-1]) / (v[:, 1:] + v[:, :-1])
dy = 2 * (v[1:] - v[:-1]) / (v[1:] + v[:-1])
dx[mask[:, 1:] != mask[:, :-1]] = 0.0  # cut at the border of the disc
dy[mask[1:] != mask[:-1]] = 0.0
# start from the target photo: its per-channel mean fixes the brightness of the result
u = ps.osmosis(target + OFFSET, drift=(dx, dy), t=1e5, rtol=1e-8, channel_axis=-1) - OFFSET

fig, axes = plt.subplots(1, 3, figsize=(13.5, 3.6), constrained_layout=True)
for ax, img, title in zip(
    axes,
    (target, naive, np.clip(u, 0, 1)),
    ("target", "pasted (naive)", "osmosis, t = 1e5"),
    strict=True,
):
    ax.imshow(img)
    ax.set_title(title)
    ax.axis("off")
plt.show()
