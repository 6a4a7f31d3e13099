"""The tables of the comparison and the files they are written to.

Summaries of the image variance over the images, the FID and KID of every model against osmosis,
each with bootstrap intervals over the images.
"""

from __future__ import annotations

import numpy as np

from . import records as rec
from .claims import Evidence
from .plots import plot_fid, plot_grid, plot_variance
from .report import report
from .stats import kid_from_features

__all__ = ["fill_tables", "write_outputs"]


def _summary(values):
    v = np.asarray(values, dtype=np.float64)
    q25, med, q75 = np.percentile(v, [25, 50, 75])
    return {
        "n": int(v.size),
        "mean": float(v.mean()),
        "std": float(v.std(ddof=1)) if v.size > 1 else 0.0,
        "q25": float(q25),
        "median": float(med),
        "q75": float(q75),
        "min": float(v.min()),
        "max": float(v.max()),
    }


def fill_tables(result, models, times, extractor, resamples, seed):
    """Fill the variance, FID and KID rows of ``result``; return the per-image variance rows.

    With ``resamples`` > 0 every mean variance, FID and KID gets a 95 % bootstrap interval over
    the images (``ci_low``, ``ci_high``); with fewer than two images the intervals are empty.
    All intervals come from one set of resamples (:class:`~pyscale.paper.claims.Evidence`),
    kept as ``result.evidence`` so that the checks of the claims reuse its distances.
    """
    var, n = result.variances, len(result.names)
    ev = None
    if resamples > 0 and n >= 2:
        ev = Evidence(
            var, result.input_variances, result.features, models, times,
            resamples=resamples, seed=seed,
        )  # fmt: skip
    result.evidence = ev
    per_image = []
    for i, m in enumerate(models):
        for k, t in enumerate(times):
            lo, hi = ev.interval(ev.mean_variance(m, k)[1]) if ev else (None, None)
            result.variance.append(
                {
                    "model": m,
                    "time": float(t),
                    **_summary(var[:, i, k]),
                    "ci_low": lo,
                    "ci_high": hi,
                }
            )
            per_image += [
                {"image": name, "model": m, "time": float(t), "variance": float(var[j, i, k])}
                for j, name in enumerate(result.names)
            ]
    if extractor is not None:
        _distances(result, ev, models, times, extractor, seed)
    return per_image


def _distances(result, ev, models, times, extractor, seed):
    """The FID and KID rows: every model against osmosis at every time."""
    from .fid import fid_from_features

    feats = result.features.astype(np.float64)  # (N, M, T, D)
    n, io_ = len(result.names), models.index("osmosis")
    for i, m in enumerate(models):
        if m == "osmosis":
            continue
        for k, t in enumerate(times):
            a, b = feats[:, i, k], feats[:, io_, k]
            row = {"model": m, "time": float(t), "n": n, "features": str(extractor.id)}
            fid = fid_from_features(a, b) if n >= 2 else None
            kid, kid_std = kid_from_features(a, b, seed=seed) if n >= 2 else (None, None)
            f_lo, f_hi = ev.interval(ev.distance("FID", m, k)[1]) if ev else (None, None)
            k_lo, k_hi = ev.interval(ev.distance("KID", m, k)[1]) if ev else (None, None)
            result.fid.append({**row, "fid": fid, "ci_low": f_lo, "ci_high": f_hi})
            result.kid.append(
                {**row, "kid": kid, "kid_std": kid_std, "ci_low": k_lo, "ci_high": k_hi}
            )


def write_outputs(out, result, per_image, models, times, extractor, grid_frames, resamples):
    """Write the tables, plots and report; record their paths in ``result.files``."""
    cols = [
        "model",
        "time",
        "n",
        "mean",
        "std",
        "q25",
        "median",
        "q75",
        "min",
        "max",
        "ci_low",
        "ci_high",
    ]
    meta = {
        "settings": result.settings,
        "images": result.names,
        "skipped": result.skipped,
        "failed": result.failed,
        "replaced": result.replaced,
    }
    rec.write_csv(out / "variance.csv", result.variance, cols)
    rec.write_csv(out / "variance_per_image.csv", per_image, ["image", "model", "time", "variance"])
    rec.write_json(out / "variance.json", {**meta, "rows": result.variance})
    plot_variance(out / "variance.png", result.variance, models)
    result.files = {
        "variance_csv": out / "variance.csv",
        "variance_json": out / "variance.json",
        "variance_per_image_csv": out / "variance_per_image.csv",
        "variance_png": out / "variance.png",
    }
    if extractor is not None:
        cols = ["model", "time", "n", "fid", "ci_low", "ci_high", "features"]
        rec.write_csv(out / "fid.csv", result.fid, cols)
        rec.write_json(out / "fid.json", {**meta, "rows": result.fid})
        cols = ["model", "time", "n", "kid", "kid_std", "ci_low", "ci_high", "features"]
        rec.write_csv(out / "kid.csv", result.kid, cols)
        rec.write_json(out / "kid.json", {**meta, "rows": result.kid})
        result.files.update(
            fid_csv=out / "fid.csv",
            fid_json=out / "fid.json",
            kid_csv=out / "kid.csv",
            kid_json=out / "kid.json",
        )
        if result.fid[0]["n"] >= 2:
            plot_fid(out / "fid.png", result.fid, extractor)
            plot_fid(out / "kid.png", result.kid, extractor, key="kid")
            result.files.update(fid_png=out / "fid.png", kid_png=out / "kid.png")
    if grid_frames is not None:
        plot_grid(
            out / "trajectory_grid.png",
            grid_frames.astype(np.float64),
            models,
            times,
            title=result.names[0],
        )
        result.files["grid_png"] = out / "trajectory_grid.png"
    rec.write_text(out / "report.md", report(result, models, times, extractor, resamples))
    result.files["report"] = out / "report.md"
    rec.write_json(
        out / "results.json",
        {
            **meta,
            "computed": result.computed,
            "reused": result.reused,
            "seconds": result.seconds,
            "files": {k: str(v) for k, v in result.files.items()},
        },
    )
    result.files["results_json"] = out / "results.json"
