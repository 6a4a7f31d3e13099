"""Where the claims of Sect. 6.3 hold: the comparison over the choices the paper leaves open.

:func:`study` runs :func:`~pyscale.paper.compare.compare` once per image size, unit of length of
the DCT models and colour mode, and checks every claim of :data:`~pyscale.paper.claims.CLAIMS`
on the first ``n`` images for each count ``n`` asked for, with each noise model of blurring
diffusion (Eq. 36 and the variance-preserving variant) and each distance (FID, KID). It writes
``study.csv`` and ``study.json`` (one row per check, with its evidence) and ``study.md`` (the
verdicts as tables). Each comparison keeps its own folder, records included, so a study that is
interrupted and run again reuses every finished image.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field

from .. import _validation as val
from . import records as rec
from .claims import CLAIMS, Evidence, evaluate_all
from .compare import compare

__all__ = ["StudyResult", "study"]

_MARK = {"holds": "yes", "fails": "**no**", "open": "?"}


@dataclass
class StudyResult:
    """What :func:`study` found.

    Attributes
    ----------
    rows : list of dict
        One row per check: ``size, domain, colour, images, noise, claim, metric, verdict,
        evidence``. ``noise`` is empty for claims that do not involve blurring diffusion.
    configurations : list of dict
        One per comparison: ``size, domain, colour, folder, images, failed``.
    seconds : float
        Wall time.
    files : dict
        Output paths by kind.
    """

    rows: list = field(default_factory=list)
    configurations: list = field(default_factory=list)
    seconds: float = 0.0
    files: dict = field(default_factory=dict)


def _sizes(sizes):
    return [None if s is None else val.check_int(s, "sizes", 8) for s in sizes]


def _choices(values, allowed, name):
    values = [values] if isinstance(values, str) else list(values)
    if not values or any(v not in allowed for v in values):
        raise ValueError(f"{name} must be a non-empty list from {allowed}, got {values!r}")
    return values


def _label(size, domain, colour):
    return f"{'full size' if size is None else f'{size} px'}, {domain}, {colour}"


def _checks(result, counts, resamples, seed):
    """The claims on the first n images of one comparison, for every count."""
    rows = []
    for n in sorted({min(c, len(result.names)) for c in counts}):
        if n == len(result.names) and result.evidence is not None:
            rows += [{"images": n, **row} for row in evaluate_all(result.evidence)]
            continue
        ev = Evidence(
            result.variances[:n],
            result.input_variances[:n],
            None if result.features is None else result.features[:n],
            result.settings["models"],
            result.settings["times"],
            resamples=resamples,
            seed=seed,
        )
        rows += [{"images": n, **row} for row in evaluate_all(ev)]
    return rows


def study(
    data=None,
    *,
    split=None,
    limit=None,
    sizes=(64, 128, None),
    domains=("pixel", "unit"),
    colours=("colour", "grey"),
    counts=None,
    times=None,
    fid=False,
    out="pyscale-study",
    workers=None,
    seed=0,
    bootstrap=200,
    device="cpu",
    progress=False,
):
    """Check the claims of Sect. 6.3 under every combination of the paper's open choices.

    Parameters
    ----------
    data, split, limit : optional
        The images, as for :func:`~pyscale.paper.compare.compare` (``limit``: the first images
        in name order; a subset keeps the study affordable).
    sizes : sequence of int or None, optional
        Longer image sides to downscale to; None for full size.
    domains : sequence of {"pixel", "unit"}, optional
        Units of length of the DCT models (see ``domain`` of ``compare``).
    colours : sequence of {"colour", "grey"}, optional
        Colour modes.
    counts : sequence of int, optional
        Numbers of images to check the claims on (the first ``n`` of each comparison); default:
        all of them.
    times : sequence of float, optional
        Output times (default: :data:`pyscale.PAPER_TIMES`).
    fid : bool, str or extractor, optional
        Features for the distance claims, as for ``compare`` (``False``: variance claims only).
    out : str or path-like, optional
        Output folder; one subfolder per comparison.
    workers, seed, device, progress : optional
        As for ``compare``.
    bootstrap : int, optional
        Resamples of the images for the 95 % intervals of every check (at least 10).

    Returns
    -------
    StudyResult

    Examples
    --------
    >>> import tempfile
    >>> from pyscale.paper.study import study
    >>> with tempfile.TemporaryDirectory() as d:
    ...     r = study(limit=3, sizes=[16], domains=["pixel"], colours=["grey"], times=[1, 100],
    ...               out=d, workers=1, bootstrap=20)
    ...     sorted({row["claim"] for row in r.rows})[:2]
    ['flat-heat', 'flat-homogeneous']
    """
    sizes = _sizes(sizes)
    domains = _choices(domains, ("pixel", "unit"), "domains")
    colours = _choices(colours, ("colour", "grey"), "colours")
    bootstrap = val.check_int(bootstrap, "bootstrap", 10)
    if counts is not None:
        counts = [val.check_int(c, "counts", 2) for c in counts]
    out = rec.output_folder(out)
    t0 = time.perf_counter()
    result = StudyResult()
    for size, domain, colour in itertools.product(sizes, domains, colours):
        folder = out / f"{'full' if size is None else size}-{domain}-{colour}"
        r = compare(
            data,
            split=split,
            limit=limit,
            max_size=size,
            domain=domain,
            grey=colour == "grey",
            times=times,
            fid=fid,
            out=folder,
            workers=workers,
            seed=seed,
            bootstrap=bootstrap,
            device=device,
            grid=False,
            progress=progress,
        )
        config = {"size": size, "domain": domain, "colour": colour}
        result.configurations.append(
            {**config, "folder": str(folder), "images": len(r.names), "failed": r.failed}
        )
        for row in _checks(r, counts or [len(r.names)], bootstrap, seed):
            result.rows.append({**config, **row})
    result.seconds = time.perf_counter() - t0
    _write(
        out,
        result,
        dict(
            data=data,
            split=split,
            limit=limit,
            times=times,
            seed=seed,
            bootstrap=bootstrap,
            fid=fid,
        ),
    )
    return result


def _write(out, result, settings):
    cols = ["size", "domain", "colour", "images", "noise", "claim", "metric", "verdict", "evidence"]
    rec.write_csv(out / "study.csv", result.rows, cols)
    settings = {
        k: (v if isinstance(v, (int, float, str, list, tuple, type(None))) else str(v))
        for k, v in settings.items()
    }
    rec.write_json(
        out / "study.json",
        {"settings": settings, "configurations": result.configurations, "rows": result.rows},
    )
    rec.write_text(out / "study.md", study_report(result, settings))
    result.files = {k: out / f"study.{k}" for k in ("csv", "json", "md")}


def _row_key(row):
    return (row["claim"], row["noise"], row["metric"])


def _verdict_table(result, n_of):
    """Markdown rows: one per check, one column per comparison (the verdict at its count)."""
    configs = [(c["size"], c["domain"], c["colour"]) for c in result.configurations]
    cells = {}
    for r in result.rows:
        if r["images"] == n_of[(r["size"], r["domain"], r["colour"])]:
            cells[(_row_key(r), (r["size"], r["domain"], r["colour"]))] = r["verdict"]
    order = [c.key for c in CLAIMS]
    keys = sorted(
        dict.fromkeys(_row_key(r) for r in result.rows),
        key=lambda k: (order.index(k[0]), k[1], k[2] != "FID"),
    )
    L = ["| claim | noise | measure | " + " | ".join(_label(*c) for c in configs) + " |"]
    L.append("|---|---|---|" + "---|" * len(configs))
    for k in keys:
        marks = [_MARK.get(cells.get((k, c)), "") for c in configs]
        L.append(f"| {k[0]} | {k[1] or '-'} | {k[2]} | " + " | ".join(marks) + " |")
    return L


def _changes_with_count(result, n_of):
    """Checks whose verdict on fewer images differs from that on all of them."""
    final = {}
    for r in result.rows:
        c = (r["size"], r["domain"], r["colour"])
        if r["images"] == n_of[c]:
            final[(_row_key(r), c)] = r["verdict"]
    L = []
    for r in result.rows:
        c = (r["size"], r["domain"], r["colour"])
        if r["images"] < n_of[c] and final.get((_row_key(r), c)) != r["verdict"]:
            L.append(
                f"- {r['claim']} ({r['metric']}{', ' + r['noise'] if r['noise'] else ''}), "
                f"{_label(*c)}: {r['verdict']} with {r['images']} images, "
                f"{final.get((_row_key(r), c))} with {n_of[c]}"
            )
    return L


def study_report(result, settings):
    """The markdown summary of a study: claims, criteria and the verdict of every check."""
    n_of = {}
    for r in result.rows:
        c = (r["size"], r["domain"], r["colour"])
        n_of[c] = max(n_of.get(c, 0), r["images"])
    L = ["# Where the claims of Sect. 6.3 hold", ""]
    L.append(
        f"- data: {settings['data'] or 'scikit-image bundled photographs'}"
        + (f" (split {settings['split']})" if settings.get("split") else "")
        + "; image counts checked: "
        + ", ".join(str(n) for n in sorted({r["images"] for r in result.rows}))
    )
    L.append(
        f"- {settings['bootstrap']} bootstrap resamples of the images, 95 % intervals, seed "
        f"{settings['seed']}; wall time {result.seconds:.0f} s"
    )
    L.append(
        "- a check **holds** (yes) when the interval of its statistic lies on the claim's side "
        "of the criterion, fails (**no**) when it lies on the other side, and is open (?) when "
        "the images cannot decide; differences between models use paired resamples"
    )
    L.append("")
    L.append("## Claims and criteria")
    L.append("")
    for c in CLAIMS:
        L.append(f"- `{c.key}`: {c.statement}. Criterion: {c.criterion}.")
    L.append("")
    L.append("## Verdicts")
    L.append("")
    L.append(
        "One column per comparison (longer image side, unit of length of the DCT models, colour), "
        "each on all its images; noise: the noise model of blurring diffusion (`per-step` is "
        "Eq. 36)."
    )
    L.append("")
    L += _verdict_table(result, n_of)
    L.append("")
    changes = _changes_with_count(result, n_of)
    if len({r["images"] for r in result.rows}) > 1:
        L.append("## With fewer images")
        L.append("")
        L += changes or ["No verdict changes with the number of images."]
        L.append("")
    failed = [(c, f) for c in result.configurations for f in c["failed"]]
    if failed:
        L.append("## Images left out")
        L.append("")
        L += [
            f"- {_label(c['size'], c['domain'], c['colour'])}: {n}: {why}" for c, (n, why) in failed
        ]
        L.append("")
    L.append("The evidence of every check (values and intervals) is in study.csv.")
    L.append("")
    return "\n".join(L)
