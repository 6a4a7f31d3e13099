"""
A training loop with one time per example
=========================================

A toy noise predictor ``eps_hat = (theta . phi(t)) u_t`` trained on crops of a bundled photo with
diffusers' cosine schedule: every step samples a batch at one time per example in one call and
takes the noise as the target. Then one DDIM step per example from the velocity target.
"""

import matplotlib.pyplot as plt
import numpy as np
from skimage import data, img_as_float

import pyscale as ps

rng = np.random.default_rng(0)
photo = img_as_float(data.camera()) * 2 - 1
corners = rng.integers(0, 512 - 32, size=(256, 2))
x0 = np.stack([photo[i : i + 32, j : j + 32] for i, j in corners])  # (N, H, W)

p = ps.DPM.from_schedule("squaredcos_cap_v2", 1000)
theta, losses = np.zeros(3), []
for step in range(200):
    batch = x0[rng.integers(0, len(x0), 32)]
    t = rng.integers(1, 1001, 32)
    u_t, eps = p.sample(batch, t, seed=step, return_noise=True)
    lam, gam = p.marginal(t)
    phi = np.stack([np.ones(32), lam, gam])
    err = (theta @ phi)[:, None, None] * u_t - eps
    losses.append(np.mean(err**2))
    theta -= np.einsum("nhw,nhw,kn->k", err, u_t, phi) / err.size

v = p.velocity(batch, eps, t)
u_prev = p.reverse_step(u_t, t, t - 1, p.predict_start(u_t, t, velocity=v), eta=0.0)

fig, ax = plt.subplots(figsize=(6, 3.5))
ax.plot(losses)
ax.set_xlabel("step")
ax.set_ylabel("mean squared error of the noise")
plt.show()
