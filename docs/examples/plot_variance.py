"""
Variance evolution
==================

The mean image variance of the six processes over time (Fig. 4a) for one photograph: the blurs
go to the flat image, osmosis and blurring diffusion to the level of the guidance noise, DPM to
one.
"""

import matplotlib.pyplot as plt
import numpy as np
from skimage import data, img_as_float
from skimage.transform import resize

import pyscale as ps

photo = resize(img_as_float(data.coffee()), (64, 96), anti_aliasing=True)
times = np.geomspace(1, 1e4, 13)

fig, ax = plt.subplots(figsize=(6, 4))
for name, make in ps.PAPER_MODELS.items():
    frames = make().trajectory(photo, times, seed=0, channel_axis=-1)
    variance = frames.var(axis=(1, 2)).mean(axis=-1)  # over the pixels, mean over channels
    ax.loglog(times, variance, marker="o", label=name)
ax.set_xlabel("time t")
ax.set_ylabel("image variance")
ax.legend()
plt.show()
