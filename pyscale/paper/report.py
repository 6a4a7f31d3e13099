"""The markdown report of the comparison: the measured numbers next to the claims of Sect. 6.3."""

from __future__ import annotations

import math

from .claims import CLAIMS, Evidence, evaluate_all

__all__ = ["report"]


def _fmt(x):
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.4g}"


def _header(result, times):
    """The settings and timings of the run."""
    L = []
    s = result.settings
    L.append("# Reproduction of Sect. 6.3 (Peter 2024): variance and FID")
    L.append("")
    data = s.get("data") or "scikit-image bundled photographs"
    L.append(
        f"- data: {data}"
        + (f" (split {s['split']})" if s.get("split") else "")
        + f"; {len(result.names)} images used, {len(result.skipped)} skipped, "
        f"{len(result.failed)} failed"
    )
    for name, why in result.failed:
        L.append(f"  - failed: {name}: {why}")
    L.append(
        f"- max image side: {s['max_size'] or 'full size'}; grey: {s['grey']}; "
        f"seed: {s['seed']}; dtype: {s['dtype']}; unit of length of the DCT models: "
        f"{'image side' if s.get('domain') == 'unit' else 'pixel'}"
    )
    L.append(f"- times: {', '.join(f'{t:g}' for t in times)}")
    L.append("- image variance = variance over the pixels, averaged over colour channels")
    L.append(
        f"- wall time {result.seconds.get('total', 0):.1f} s; summed worker time: processes "
        f"{result.seconds.get('processes', 0):.1f} s, features "
        f"{result.seconds.get('features', 0):.1f} s ({result.computed} computed, "
        f"{result.reused} reused)"
    )
    L.append("")
    return L


def _variance_section(result, models, times):
    """The table of the mean variance (Fig. 4a), with 95 % intervals where there are any."""
    rows = {(r["model"], r["time"]): r for r in result.variance}
    L = []
    L.append("## Variance evolution (Fig. 4a)")
    L.append("")
    L.append("Mean image variance [95 % bootstrap interval]:")
    L.append("")
    L.append("| model | " + " | ".join(f"t={t:g}" for t in times) + " |")
    L.append("|---|" + "---|" * len(times))
    for m in models:
        cells = [_interval(rows[(m, float(t))], "mean") for t in times]
        L.append(f"| {m} | " + " | ".join(cells) + " |")
    L.append("")
    return L


def _fid_section(result, models, times, extractor):
    """The FID table (Fig. 4b), the closest model at each time and whether that is decided."""
    L = []
    real = str(extractor.id).startswith("clean-inception")
    L.append("## FID against osmosis (Fig. 4b)")
    L.append("")
    if not real:
        L.append(
            f"Features: stand-in extractor `{extractor.id}`: these are Fréchet "
            "distances of stand-in features, **not FID values**."
        )
    else:
        L.append(
            "Features: clean-fid clean mode (PIL bicubic float resize to 299x299, "
            "Inception-v3 pool3); frames clipped to [0, 1] and scaled to [0, 255] "
            "without quantisation."
        )
    n = result.fid[0]["n"]
    if n < 2048 and real:
        L.append(
            f"Only {n} images: the 2048x2048 covariances are rank-deficient and the "
            "FID is strongly biased upwards; compare the ordering of the models, not "
            "the values, with the paper (which used all of BSDS500)."
        )
    L.append("")
    fm = [m for m in models if m != "osmosis"]
    frows = {(r["model"], r["time"]): r["fid"] for r in result.fid}
    L.append("| model | " + " | ".join(f"t={t:g}" for t in times) + " |")
    L.append("|---|" + "---|" * len(times))
    for m in fm:
        L.append(f"| {m} | " + " | ".join(_fmt(frows[(m, float(t))]) for t in times) + " |")
    L.append("")
    if all(frows[(m, float(t))] is not None for m in fm for t in times):
        order = {float(t): sorted(fm, key=lambda m: frows[(m, float(t))]) for t in times}
        L.append(
            "Closest to osmosis at each time (lowest first): "
            + "; ".join(f"t={t:g}: {', '.join(order[t])}" for t in order)
        )
        L.append("")
        L += _decided(result, order)
    L.append("")
    return L


def _interval(row, key):
    if row.get("ci_low") is None:
        return _fmt(row[key])
    return f"{_fmt(row[key])} [{_fmt(row['ci_low'])}, {_fmt(row['ci_high'])}]"


def _decided(result, order):
    """Whether the 95 % intervals of the closest model and the runner-up separate, per time."""
    rows = {(r["model"], r["time"]): r for r in result.fid}
    if len(next(iter(order.values()))) < 2 or result.fid[0].get("ci_low") is None:
        return [
            "No bootstrap intervals (fewer than two images or `bootstrap=0`): the data "
            "cannot say whether these orderings are more than noise.",
            "",
        ]
    yes, no = [], []
    for t, ranked in order.items():
        first, second = rows[(ranked[0], t)], rows[(ranked[1], t)]
        (yes if first["ci_high"] < second["ci_low"] else no).append(f"{t:g}")
    lines = [
        "FID with 95 % bootstrap intervals over the images. A resample repeats some images, "
        "which raises its FID and KID, so an interval can lie above the value of all images; "
        "the checks of the claims compare models on the same resamples, where this shift largely "
        "cancels.",
        "",
    ]
    lines.append("| model | " + " | ".join(f"t={t:g}" for t in order) + " |")
    lines.append("|---|" + "---|" * len(order))
    for m in dict.fromkeys(r["model"] for r in result.fid):
        lines.append(f"| {m} | " + " | ".join(_interval(rows[(m, t)], "fid") for t in order) + " |")
    lines.append("")
    lines.append(
        "The closest model is **decided** (its interval lies below the runner-up's) at t = "
        + (", ".join(yes) or "none")
        + "; the data **cannot decide** at t = "
        + (", ".join(no) or "none")
        + "; an ordering at an undecided time may be noise."
    )
    if result.kid:
        krows = {(r["model"], r["time"]): r for r in result.kid}
        lines += ["", "KID (clean-fid's definition) with 95 % bootstrap intervals:", ""]
        lines.append("| model | " + " | ".join(f"t={t:g}" for t in order) + " |")
        lines.append("|---|" + "---|" * len(order))
        for m in dict.fromkeys(r["model"] for r in result.kid):
            lines.append(
                f"| {m} | " + " | ".join(_interval(krows[(m, t)], "kid") for t in order) + " |"
            )
    lines.append("")
    return lines


def _claims_section(result, models, times, resamples):
    """Every claim of Sect. 6.3 with its verdict and evidence (:mod:`~pyscale.paper.claims`)."""
    from .. import PAPER_MODELS

    L = ["## The claims of Sect. 6.3", ""]
    if set(models) != set(PAPER_MODELS) or len(result.names) < 2 or resamples < 10:
        L += [
            "The claims are checked when all six models run on at least two images with at "
            "least 10 bootstrap resamples.",
            "",
        ]
        return L
    ev = result.evidence or Evidence(
        result.variances,
        result.input_variances,
        result.features,
        models,
        times,
        resamples=resamples,
        seed=result.settings["seed"],
    )
    L.append(
        "Each claim is checked with 95 % bootstrap intervals over the images: it **holds** when "
        "the interval lies on the claim's side of the criterion, **fails** when it lies on the "
        "other side, and is **open** when the images cannot decide (`pyscale study` checks "
        "them under other image sizes, units and colour modes)."
    )
    L.append("")
    L.append("| claim | blurring noise | measure | verdict | evidence |")
    L.append("|---|---|---|---|---|")
    for r in evaluate_all(ev):
        L.append(
            f"| {r['claim']} | {r['noise'] or '-'} | {r['metric']} | **{r['verdict']}** "
            f"| {r['evidence']} |"
        )
    L.append("")
    L += [f"- `{c.key}`: {c.statement}. Criterion: {c.criterion}." for c in CLAIMS]
    L.append("")
    return L


def report(result, models, times, extractor, resamples=0):
    """The markdown report: measured numbers next to the claims of Sect. 6.3."""
    L = _header(result, times) + _variance_section(result, models, times)
    if result.fid:
        L += _fid_section(result, models, times, extractor)
    L += _claims_section(result, models, times, resamples)
    L.append(
        "Files: variance.csv/json, variance_per_image.csv, variance.png"
        + (", fid.csv/json, fid.png, kid.csv/json, kid.png" if result.fid else "")
        + ", trajectory_grid.png (DPM frames affinely mapped to [0, 1] for display)."
    )
    L.append("")
    return "\n".join(L)
