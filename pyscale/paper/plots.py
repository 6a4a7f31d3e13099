"""The figures of the comparison (Fig. 3, 4a, 4b), drawn with matplotlib without a display."""

from __future__ import annotations

import numpy as np

__all__ = ["LABELS", "plot_variance", "plot_fid", "plot_grid"]


def _figure(**kw):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(**kw)
    FigureCanvasAgg(fig)
    return fig


LABELS = {
    "dpm": "DPM",
    "heat": "inverse heat dissipation",
    "homogeneous": "homogeneous diffusion",
    "blurring": "blurring diffusion",
    "blurring-vp": "blurring diffusion (variance preserving)",
    "osmosis": "probabilistic osmosis",
}


def plot_variance(path, rows, models):
    """Fig. 4a: the mean image variance of each model over time, with the quartile band."""
    fig = _figure(figsize=(6.4, 4.4))
    ax = fig.add_subplot()
    for m in models:
        r = [x for x in rows if x["model"] == m]
        t = [x["time"] for x in r]
        mean = [x["mean"] for x in r]
        line = ax.plot(t, mean, marker="o", label=LABELS.get(m, m))[0]
        ax.fill_between(t, [x["q25"] for x in r], [x["q75"] for x in r], alpha=0.2)
        if all(x.get("ci_low") is not None for x in r):
            low = [a - x["ci_low"] for a, x in zip(mean, r, strict=True)]
            high = [x["ci_high"] - a for a, x in zip(mean, r, strict=True)]
            ax.errorbar(t, mean, yerr=[low, high], fmt="none", capsize=3, color=line.get_color())
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("time t")
    ax.set_ylabel("image variance (mean; bars: 95 % bootstrap; band: quartiles)")
    ax.set_title(f"Variance evolution (n = {rows[0]['n']} images)")
    ax.legend(fontsize="small")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def plot_fid(path, rows, extractor, key="fid"):
    """Fig. 4b: the FID (or KID, ``key="kid"``) of each model against osmosis over time.

    Rows with ``ci_low`` and ``ci_high`` get a band of their bootstrap interval.
    """
    fig = _figure(figsize=(6.4, 4.4))
    ax = fig.add_subplot()
    for m in dict.fromkeys(r["model"] for r in rows):
        r = [x for x in rows if x["model"] == m]
        t = [x["time"] for x in r]
        ax.plot(t, [x[key] for x in r], marker="o", label=LABELS.get(m, m))
        if all(x.get("ci_low") is not None for x in r):
            ax.fill_between(t, [x["ci_low"] for x in r], [x["ci_high"] for x in r], alpha=0.2)
    ax.set_xscale("log")
    ax.set_xlabel("time t")
    ax.set_ylabel(f"{key.upper()} w.r.t. osmosis at the same t (band: 95 % bootstrap)")
    real = str(extractor.id).startswith("clean-inception")
    if key == "fid":
        what = (
            "clean-mode FID" if real else f"Fréchet distance of stand-in features ({extractor.id})"
        )
    else:
        what = "KID" if real else f"KID of stand-in features ({extractor.id})"
    ax.set_title(f"{what}, n = {rows[0]['n']}", fontsize="medium")
    ax.legend(fontsize="small")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def _display(frame, model):
    f = np.asarray(frame, dtype=np.float64)
    if model == "dpm":  # DPM leaves [0, 1]: map each frame affinely to [0, 1] as in the paper
        lo, hi = float(f.min()), float(f.max())
        return (f - lo) / (hi - lo) if hi > lo else np.zeros_like(f)
    return np.clip(f, 0.0, 1.0)


def plot_grid(path, frames, models, times, title=None):
    """Fig. 3: a grid of frames ``(M, T, H, W[, C])``, rows models, columns times."""
    nm, nt = len(models), len(times)
    h, w = frames.shape[2:4]
    cell = 1.6
    fig = _figure(figsize=(cell * nt * max(w / h, 0.5) + 1.6, cell * nm + 0.6))
    for i, m in enumerate(models):
        for k, t in enumerate(times):
            ax = fig.add_subplot(nm, nt, i * nt + k + 1)
            img = _display(frames[i, k], m)
            if img.ndim == 2:
                ax.imshow(img, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
            else:
                ax.imshow(img, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_title(f"t = {t:g}", fontsize="small")
            if k == 0:
                ax.set_ylabel(LABELS.get(m, m), fontsize="x-small")
    if title:
        fig.suptitle(title, fontsize="small")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
