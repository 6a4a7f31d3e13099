"""The experiments of Sect. 6.3 of the paper: trajectories, variance evolution and FID.

* :func:`compare` runs every model on every image of a folder and writes the variance evolution
  (Fig. 4a), optionally the FID of each model against osmosis at the same time (Fig. 4b), a
  trajectory grid of the first image (Fig. 3) and a markdown report that puts the measured
  curves next to the claims of the paper. It is a composition of the records
  (:mod:`~pyscale.paper.records`), the runner (:mod:`~pyscale.paper.runner`), the tables below,
  the plots (:mod:`~pyscale.paper.plots`) and the report (:mod:`~pyscale.paper.report`).
* :func:`trajectory_grid` draws the frames of one image for a few models and times.

Work is split by image, and each finished image is stored at once as a record, so a run that is
interrupted and restarted with the same arguments skips finished images.
"""

from __future__ import annotations

import json
import time
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .. import _validation as val
from . import records as rec
from .data import (
    SkippedImageWarning,
    _check_dtype,
    _check_float_scale,
    _check_max_size,
    available_memory,
    list_images,
    read_image,
    skipped_message,
)
from .grid import trajectory_grid
from .runner import check_models, check_times, model_frames, paper_process, run_tasks
from .tables import fill_tables, write_outputs

__all__ = ["CompareResult", "DEFAULT_MAX_SIZE", "RecordWarning", "compare", "trajectory_grid"]


class RecordWarning(UserWarning):
    """A stored record could not be used and was computed anew."""


#: Longer image side used by :func:`compare` for the bundled photographs (keeps the default run
#: to well under a minute); folders given by the user are used at full size unless asked.
DEFAULT_MAX_SIZE = 128


@dataclass
class CompareResult:
    """What :func:`compare` measured and where it wrote it.

    Attributes
    ----------
    variance : list of dict
        One row per model and time: ``model, time, n, mean, std, q25, median, q75, min, max``.
    fid : list of dict
        One row per model (other than osmosis) and time: ``model, time, n, fid, ci_low,
        ci_high``; empty without FID.
    kid : list of dict
        The same for the KID: ``kid`` (mean over subsets), ``kid_std`` (their standard
        deviation), ``ci_low``, ``ci_high``.
    names : list of str
        Images that were used.
    skipped : list of tuple
        ``(name, reason)`` of files that were not readable images.
    failed : list of tuple
        ``(name, reason)`` of images that could not be processed (for example a channel without
        mass, which osmosis cannot evolve, or a solver that did not converge); the run goes on
        without them.
    replaced : list of tuple
        ``(name, reason)`` of stored records that could not be used (unreadable, foreign or
        corrupt) and were computed anew.
    computed, reused : int
        Images computed in this run and images whose records were reused.
    seconds : dict
        Wall time of this run (``total``) and the summed per-image worker times
        (``processes``, ``features``), including reused records.
    files : dict
        Output paths by kind.
    settings : dict
        The arguments that determine the results.
    variances : numpy.ndarray
        The image variance of every image, model and time, ``(len(names), models, times)``.
    input_variances : numpy.ndarray
        The variance of every image as read (``t = 0``), ``(len(names),)``.
    features : numpy.ndarray or None
        The features of every frame, ``(len(names), models, times, D)``; None without FID.
    evidence : pyscale.paper.claims.Evidence or None
        The bootstrap resamples behind every interval (None without intervals).
    """

    variance: list = field(default_factory=list)
    fid: list = field(default_factory=list)
    kid: list = field(default_factory=list)
    names: list = field(default_factory=list)
    skipped: list = field(default_factory=list)
    failed: list = field(default_factory=list)
    replaced: list = field(default_factory=list)
    computed: int = 0
    reused: int = 0
    seconds: dict = field(default_factory=dict)
    files: dict = field(default_factory=dict)
    settings: dict = field(default_factory=dict)
    variances: np.ndarray | None = None
    input_variances: np.ndarray | None = None
    features: np.ndarray | None = None
    evidence: Any = None


def _resolve_extractor(fid, workers, device="cpu"):
    """The feature extractor ``fid`` asks for (one thread each when images run in parallel)."""
    if fid is None or fid is False:
        return None
    if fid is True or fid == "inception":
        from .fid import InceptionFeatures

        extractor = InceptionFeatures(device=device)
    elif fid == "pixel":
        from .fid import PixelFeatures

        extractor = PixelFeatures()
    elif callable(fid) and hasattr(fid, "id"):
        extractor = fid
    else:
        raise TypeError(
            "fid must be False, True/'inception', 'pixel' or a feature extractor with an 'id' "
            f"attribute, got {fid!r}"
        )
    if workers > 1 and hasattr(extractor, "threads"):
        import copy

        extractor = copy.copy(extractor)
        extractor.threads = 1
    return extractor


def _settings(models, times, grey, max_size, seed, dtype, extractor, float_scale, domain):
    """Everything that determines an image's result (hashed into the record keys)."""
    from .. import __version__

    return {
        "format": rec.FORMAT,
        "version": __version__,
        "models": {m: repr(paper_process(m, domain)) for m in models},
        "domain": domain,
        "times": [float(t) for t in times],
        "grey": bool(grey),
        "max_size": max_size,
        "seed": seed,
        "dtype": str(dtype),
        "features": None if extractor is None else str(extractor.id),
        "float_scale": float_scale,
    }


def _collect(
    files,
    settings,
    extractor,
    records,
    result,
    *,
    limit,
    workers,
    dask,
    progress,
    callback,
    budget,
):
    """Reuse or compute the records of the first ``limit`` readable files.

    Returns the chosen ``(name, key, path)`` in name order and the records by name.
    """
    from tqdm.auto import tqdm

    settings_json = json.dumps(settings, sort_keys=True)
    queue, chosen, by_name = list(files), [], {}
    with tqdm(total=limit or len(files), desc="images", unit="img", disable=not progress) as bar:

        def on_result(res):
            if "error" in res:
                result.skipped.append((res["name"], res["error"]))
                return
            if "failed" in res:
                result.failed.append((res["name"], res["failed"]))
                return
            path = records / f"{res['key']}.npz"
            rec.save_record(path, res)
            by_name[res["name"]], problem = rec.load_record(path, res["key"], False)
            if problem is not None:
                raise OSError(f"the record of {res['name']} could not be read back: {problem}")
            result.computed += 1
            bar.update(1)
            if callback is not None:
                callback(res["name"])

        # with a limit, take further files in name order in case some are unreadable
        while queue and (limit is None or len(chosen) < limit):
            want = len(queue) if limit is None else limit - len(chosen)
            batch, queue = queue[:want], queue[want:]
            specs = []
            for name, path in batch:
                key = rec.record_key(settings_json, name, path)
                path_rec = records / f"{key}.npz"
                found, problem = (
                    rec.load_record(path_rec, key, extractor is not None)
                    if path_rec.exists()
                    else (None, None)
                )
                if problem is not None:
                    result.replaced.append((name, problem))
                chosen.append((name, key, path))
                if found is not None:
                    by_name[name] = found
                    result.reused += 1
                    bar.update(1)
                    continue
                specs.append(
                    {
                        "name": name,
                        "key": key,
                        "path": str(path),
                        "models": tuple(settings["models"]),
                        "times": settings["times"],
                        "grey": settings["grey"],
                        "max_size": settings["max_size"],
                        "dtype": settings["dtype"],
                        "seed": settings["seed"],
                        "extractor": extractor,
                        "keep_frames": len(chosen) == 1,
                        "float_scale": settings["float_scale"],
                        "domain": settings["domain"],
                        "memory_budget": budget,
                    }
                )
            run_tasks(specs, workers=workers, dask=dask, on_result=on_result)
            dropped = {n for n, _ in result.skipped + result.failed}
            chosen = [c for c in chosen if c[0] not in dropped]
    return sorted(chosen, key=lambda c: c[0]), by_name


def compare(
    data=None,
    *,
    split=None,
    models=None,
    times=None,
    grey=False,
    max_size="auto",
    fid=False,
    limit=None,
    out="pyscale-compare",
    workers=None,
    dask=None,
    seed=0,
    dtype=np.float64,
    grid=True,
    progress=False,
    callback=None,
    float_scale=None,
    memory_budget="auto",
    bootstrap=200,
    device="cpu",
    domain="pixel",
):
    """Run the paper's comparison (Sect. 6.3) on a folder of images and write tables and plots.

    Parameters
    ----------
    data : str or path-like, optional
        Folder of images (e.g. BSDS500's ``data/images``). ``None``: the photographs bundled
        with scikit-image (:data:`pyscale.paper.data.DEFAULT_IMAGES`).
    split : str, optional
        BSDS500 split (``"train"``, ``"val"``, ``"test"``); ``None`` uses all images.
    models : sequence of str, optional
        Names from :data:`pyscale.PAPER_MODELS` (default: all six). FID needs ``"osmosis"``.
    times : sequence of float, optional
        Output times (default: :data:`pyscale.PAPER_TIMES`).
    grey : bool, optional
        Convert colour images to grey values.
    max_size : int, None or "auto", optional
        Downscale images so that the longer side is at most this many pixels. ``"auto"``:
        :data:`DEFAULT_MAX_SIZE` for the bundled photographs, full size for a folder.
    fid : bool, str or extractor, optional
        ``False``: no FID. ``True`` or ``"inception"``: clean-mode Inception features (needs
        torch and the weights, see :mod:`pyscale.paper.fid`). ``"pixel"``: a small random-projection
        stand-in (not an FID). Or any extractor object (see :mod:`pyscale.paper.fid`).
    limit : int, optional
        Use only the first ``limit`` readable images (in name order).
    out : str or path-like, optional
        Output folder; created if needed. Records of finished images are kept under
        ``out/records`` and reused by later runs with the same arguments.
    workers : int, optional
        Parallel workers over images (default: all local cores). ``1`` runs in this process.
    dask : str, optional
        Run the per-image work on a Dask ``distributed`` cluster: a scheduler address, or
        ``"local"`` for a local cluster with ``workers`` processes. Workers must be able to read
        the image files. The numbers equal those of a local run.
    seed : int, optional
        Global seed; the noise of each image and model is derived from it and the image name.
    dtype : numpy dtype, optional
        Working precision, float32 or float64.
    grid : bool, optional
        Also draw the trajectory grid (Fig. 3) of the first image.
    progress : bool, optional
        Show a progress bar.
    callback : callable, optional
        Called with the image name after each record is written (e.g. to stop a run early).
    float_scale : float or "range", optional
        How to map files of float samples outside [0, 1] (see
        :func:`pyscale.paper.data.read_image`); such files fail otherwise.
    device : str, optional
        The torch device of the Inception network (``"cpu"``, ``"cuda"``, ...).
    bootstrap : int, optional
        Resamples of the images for the 95 % bootstrap intervals of every mean variance, FID
        and KID (seeded with ``seed``); 0 for none.
    domain : {"pixel", "unit"}, optional
        Unit of length of the DCT-domain models (homogeneous diffusion, heat dissipation and
        both blurring diffusions): pixels, as in the paper, or the longer image side scaled to
        length 1, so that a time means the same blur at every image size.
    memory_budget : int, "auto" or None, optional
        Bytes one image may need at its peak (estimated from its size before it is read); an
        image over it fails with the reason instead of exhausting the memory. ``"auto"``: half
        of the available memory, shared by the parallel workers; ``None``: no check.

    Returns
    -------
    CompareResult

    Examples
    --------
    >>> import tempfile
    >>> from pyscale.paper.compare import compare
    >>> with tempfile.TemporaryDirectory() as d:
    ...     r = compare(models=["homogeneous", "heat"], times=[1, 100], limit=2, max_size=16,
    ...                 out=d, workers=1, grid=False)
    ...     [(row["model"], row["time"], row["n"]) for row in r.variance][:2]
    [('homogeneous', 1.0, 2), ('homogeneous', 100.0, 2)]
    """
    models, times = check_models(models), check_times(times)
    if not isinstance(grey, (bool, np.bool_)):
        raise TypeError(f"grey must be a bool, got {type(grey).__name__}")
    if isinstance(max_size, str):
        if max_size != "auto":
            raise ValueError(f"max_size must be an int, None or 'auto', got {max_size!r}")
        max_size = DEFAULT_MAX_SIZE if data is None else None
    max_size, dtype = _check_max_size(max_size), _check_dtype(dtype)
    seed, workers = val.check_seed(seed), val.check_workers(workers)
    limit = None if limit is None else val.check_int(limit, "limit", 1)
    bootstrap = val.check_int(bootstrap, "bootstrap", 0)
    if callback is not None and not callable(callback):
        raise TypeError("callback must be callable")
    if domain not in ("pixel", "unit"):
        raise ValueError(f"domain must be 'pixel' or 'unit', got {domain!r}")
    float_scale, budget = _check_float_scale(float_scale), _budget(memory_budget, workers)
    extractor = _resolve_extractor(fid, workers, device)
    if extractor is not None and "osmosis" not in models:
        raise ValueError("fid: the FID is measured against osmosis; include 'osmosis' in models")
    out = rec.output_folder(out)
    (out / "records").mkdir(exist_ok=True)
    files = list_images(data, split=split)
    if not files:
        raise ValueError(f"data: no files found in {str(data)!r}")

    t_start = time.perf_counter()
    settings = _settings(models, times, grey, max_size, seed, dtype, extractor, float_scale, domain)
    result = CompareResult(
        settings=dict(settings, data=None if data is None else str(data), split=split, limit=limit)
    )
    chosen, by_name = _collect(
        files,
        settings,
        extractor,
        out / "records",
        result,
        limit=limit,
        workers=workers,
        dask=dask,
        progress=progress,
        callback=callback,
        budget=budget,
    )
    _warn(result, chosen, data)
    recs = _gather(result, chosen, by_name, t_start)
    per_image = fill_tables(result, models, times, extractor, bootstrap, seed)
    grid_frames = None
    if grid:
        grid_frames = recs[0].get("frames")
        if grid_frames is None:
            u = read_image(chosen[0][2], grey=grey, dtype=dtype, max_size=max_size)
            grid_frames = np.stack(
                model_frames(u, models, times, seed, chosen[0][0], domain=domain)
            )
    write_outputs(out, result, per_image, models, times, extractor, grid_frames, bootstrap)
    return result


def _budget(memory_budget, workers):
    """Bytes one image may need: ``"auto"`` is half the available memory over the workers."""
    if memory_budget == "auto":
        return available_memory() // 2 // max(1, workers)
    if memory_budget is None:
        return None
    return int(val.check_positive(memory_budget, "memory_budget", array=False))


def _warn(result, chosen, data):
    """Warn about skipped files and replaced records; fail when no image could be used."""
    if result.skipped:
        warnings.warn(
            skipped_message(result.skipped, len(chosen) + len(result.skipped)),
            SkippedImageWarning,
            stacklevel=3,
        )
    for name, why in result.replaced:
        warnings.warn(
            f"the stored record of {name} could not be used ({why}); it was computed "
            "anew and replaced",
            RecordWarning,
            stacklevel=3,
        )
    if not chosen:
        reasons = "; ".join(f"{n}: {why}" for n, why in result.failed[:3])
        raise ValueError(
            f"data: no image in {str(data)!r} could be processed"
            + (f" ({reasons})" if reasons else "")
        )


def _gather(result, chosen, by_name, t_start):
    """The records of the chosen images, in name order; their arrays and times into ``result``."""
    result.names = [c[0] for c in chosen]
    recs = [by_name[n] for n in result.names]
    result.variances = np.stack([r["variance"] for r in recs])
    result.input_variances = np.array([float(r["input_variance"]) for r in recs])
    if "features" in recs[0]:
        result.features = np.stack([r["features"] for r in recs])
    secs = np.stack([r["seconds"] for r in recs])
    result.seconds = {
        "total": time.perf_counter() - t_start,
        "processes": float(secs[:, 0].sum()),
        "features": float(secs[:, 1].sum()),
        "per_image": float(secs[:, 2].mean()),
    }
    return recs
