"""
The scale-spaces of the paper
=============================

One photograph bundled with scikit-image, evolved by the five forward processes of the paper
with its settings (Sect. 6.3), and by the variance-preserving blurring diffusion, to the paper's
times (Fig. 3). DPM frames leave [0, 1]; they are
mapped affinely to it for display, as in the paper.
"""

import matplotlib.pyplot as plt
import numpy as np
from skimage import data, img_as_float
from skimage.transform import resize

import pyscale as ps

photo = resize(img_as_float(data.astronaut()), (96, 96), anti_aliasing=True)
frames = {
    name: make().trajectory(photo, ps.PAPER_TIMES, seed=0, channel_axis=-1)
    for name, make in ps.PAPER_MODELS.items()
}

rows, cols = len(frames), len(ps.PAPER_TIMES)
fig, axes = plt.subplots(rows, cols, figsize=(1.5 * cols, 1.55 * rows), constrained_layout=True)
for row, (name, traj) in zip(axes, frames.items(), strict=True):
    for ax, t, frame in zip(row, ps.PAPER_TIMES, traj, strict=True):
        if name == "dpm":
            frame = (frame - frame.min()) / (frame.max() - frame.min())
        ax.imshow(np.clip(frame, 0, 1))
        ax.set_xticks([])
        ax.set_yticks([])
        if name == "dpm":
            ax.set_title(f"t = {t}", fontsize="small")
    row[0].set_ylabel(name, fontsize="small")
plt.show()
