"""The per-image work of the comparison and where it runs: here, a process pool or Dask.

Noise seeds are derived from the global seed, the image name and the model, so the numbers do
not depend on the order in which images are processed nor on where.
"""

from __future__ import annotations

import concurrent.futures as cf
import hashlib
import multiprocessing
import signal
import threading
import time

import numpy as np

from .. import _validation as val
from .._osmosis_solver import ConvergenceError
from .data import UnreadableImageError, image_shape, photo_channel_axis, read_image

__all__ = ["image_seed", "frame_variance", "image_task", "run_tasks"]


def paper_models():
    """The paper's five models and the variance-preserving blurring, by name."""
    from .. import PAPER_MODELS

    return PAPER_MODELS


def check_models(models):
    """The model names asked for, checked (default: all)."""
    known = paper_models()
    if models is None:
        return tuple(known)
    if isinstance(models, str):
        models = [models]
    try:
        models = tuple(models)
    except TypeError as exc:
        raise TypeError(f"models must be a sequence of model names, got {models!r}") from exc
    if not models:
        raise ValueError("models must not be empty")
    for m in models:
        if m not in known:
            raise ValueError(f"models: unknown model {m!r}; choose from {', '.join(known)}")
    if len(set(models)) != len(models):
        raise ValueError(f"models must not repeat a name, got {list(models)}")
    return models


def check_times(times):
    """The output times asked for, checked (default: the paper's)."""
    from .. import PAPER_TIMES

    times = val.check_times(PAPER_TIMES if times is None else times)
    if times[0] <= 0:
        raise ValueError("times must be positive (t = 0 is the input image)")
    return times


def image_seed(seed, name, model):
    """Seed of the noise for one image and model, derived from the global seed.

    Examples
    --------
    >>> from pyscale.paper.runner import image_seed
    >>> image_seed(0, "a.png", "dpm") == image_seed(0, "a.png", "dpm")
    True
    >>> image_seed(0, "a.png", "dpm") == image_seed(1, "a.png", "dpm")
    False
    """
    h = hashlib.sha256(f"{int(seed)}\0{name}\0{model}".encode()).digest()
    return int.from_bytes(h[:8], "little")


def frame_variance(frames, has_channels):
    """Image variance of each frame: variance over the pixels, averaged over the channels.

    Parameters
    ----------
    frames : numpy.ndarray
        ``(K, H, W)`` or ``(K, H, W, C)``.
    has_channels : bool
        Whether the last axis holds channels.

    Notes
    -----
    Two passes per frame over its pixels, without copying the frames: the channel means as one
    matrix-vector product over the channel planes as they lie in memory (channels first, as the
    processes return them behind a channels-last view, or channels last), then the squared
    deviations into one reused buffer. Three times faster than ``var(axis=(1, 2))`` on
    channels-last frames, whose strided sums also lose about 6e-15 relative to an exactly
    rounded sum (this way: below 1e-15).

    Examples
    --------
    >>> import numpy as np
    >>> from pyscale.paper.runner import frame_variance
    >>> frame_variance(np.array([[[0.0, 1.0], [0.0, 1.0]]]), False).tolist()
    [0.25]
    """
    f = np.asarray(frames, dtype=np.float64)
    if not has_channels:
        f = f[..., None]
    planes = np.moveaxis(f, -1, 1)  # (K, C, H, W), a view
    first = planes.flags.c_contiguous
    if first:
        groups = planes.reshape(*planes.shape[:2], -1)  # (K, C, pixels)
    else:
        groups = f.reshape(f.shape[0], -1, f.shape[-1])  # (K, pixels, C), a copy if strided
    ones = np.ones(groups.shape[2] if first else groups.shape[1])
    dev = np.empty(groups.shape[1:])
    out = np.empty(groups.shape[0])
    for k, g in enumerate(groups):
        means = (g @ ones)[:, None] if first else ones @ g
        np.subtract(g, means / ones.size, out=dev)
        out[k] = np.einsum("ij,ij->", dev, dev) / dev.size
    return out


def paper_process(model, domain="pixel"):
    """The process of a paper model, with the unit of length of the DCT models.

    ``domain="unit"`` measures length in image sides instead of pixels (see
    :meth:`pyscale.HomogeneousDiffusion.decay_rates`).
    """
    proc = paper_models()[model]()
    if hasattr(proc, "domain"):
        proc.domain = domain
    return proc


def model_frames(u, models, times, seed, name, workers=1, domain="pixel"):
    """The frames ``(T, *u.shape)`` of each model for one photo (channels last), in a list."""
    return [
        paper_process(m, domain).trajectory(
            u,
            times,
            seed=image_seed(seed, name, m),
            workers=workers,
            channel_axis=photo_channel_axis(u),
        )
        for m in models
    ]


def image_task(spec):
    """Compute everything for one image; runs in a worker (process, thread or Dask).

    Returns the result, or ``{"name", "error"}`` for a file that is not a readable image, or
    ``{"name", "failed"}`` for an image that could not be processed (a channel without mass for
    osmosis, a solver that did not converge, ...), with the reason.
    """
    t0 = time.perf_counter()
    try:
        _check_memory(spec)
        u = read_image(
            spec["path"],
            grey=spec["grey"],
            dtype=spec["dtype"],
            max_size=spec["max_size"],
            float_scale=spec.get("float_scale"),
        )
    except UnreadableImageError as exc:
        return {"name": spec["name"], "error": str(exc.args[0]).split(": ", 1)[-1]}
    except (ValueError, MemoryError) as exc:
        return {"name": spec["name"], "failed": _reason(exc)}
    try:
        return _compute(spec, u, t0)
    except (ValueError, FloatingPointError, MemoryError, ConvergenceError) as exc:
        return {"name": spec["name"], "failed": _reason(exc)}


#: Image-sized float64 arrays one image needs at its peak, beyond its frames: the osmosis solver's
#: work arrays for one channel image with a margin, and the copies made around it.
WORK_ARRAYS = 40


def memory_needed(shape, ntimes):
    """Bytes one image of ``shape`` (``(H, W[, C])`` after reading) needs at its peak."""
    return int(np.prod(shape)) * 8 * (ntimes + WORK_ARRAYS)


def _check_memory(spec):
    """Refuse an image whose estimated peak memory is over the budget, before decoding it."""
    budget = spec.get("memory_budget")
    if budget is None:
        return
    shape = image_shape(spec["path"], grey=spec["grey"], max_size=spec["max_size"])
    need = memory_needed(shape, len(spec["times"]))
    if need > budget:
        raise MemoryError(
            f"{shape[1]}x{shape[0]} pixels need about {need / 2**30:.2f} GiB, over the budget "
            f"of {budget / 2**30:.2f} GiB per image"
        )


def _reason(exc):
    """One line saying why an image could not be processed, with a hint where there is one."""
    text = " ".join(str(exc).split())
    if isinstance(exc, ConvergenceError):
        text += " (hint: the osmosis solver needs more iterations or a looser rtol here)"
    elif isinstance(exc, MemoryError):
        text = (
            "out of memory"
            + (f": {text}" if text else "")
            + " (hint: --max-size, or a larger --memory-budget)"
        )
    return text


def _compute(spec, u, t0):
    """The frames, variances and features of every model for one read image."""
    from .fid import extract_features

    times = np.asarray(spec["times"], dtype=np.float64)
    nm, nt = len(spec["models"]), times.size
    variance = np.empty((nm, nt))
    extractor = spec["extractor"]
    features = frames_kept = None
    t_proc = t_feat = 0.0
    for i, m in enumerate(spec["models"]):
        ts = time.perf_counter()
        try:
            (frames,) = model_frames(
                u, [m], times, spec["seed"], spec["name"], domain=spec.get("domain", "pixel")
            )
        except (ValueError, ConvergenceError) as exc:
            raise type(exc)(f"{m}: {exc}") from exc
        t_proc += time.perf_counter() - ts
        variance[i] = frame_variance(frames, u.ndim == 3)
        if extractor is not None:
            ts = time.perf_counter()
            f = extract_features(list(frames), extractor)
            if features is None:
                features = np.empty((nm, nt, f.shape[1]), dtype=np.float32)
            features[i] = f
            t_feat += time.perf_counter() - ts
        if spec["keep_frames"]:
            if frames_kept is None:
                frames_kept = np.empty((nm, *frames.shape), dtype=np.float16)
            frames_kept[i] = frames
    return {
        "name": spec["name"],
        "key": spec["key"],
        "shape": np.asarray(u.shape),
        "variance": variance,
        "input_variance": frame_variance(u[None], u.ndim == 3)[0],
        "features": features,
        "frames": frames_kept,
        "seconds_processes": t_proc,
        "seconds_features": t_feat,
        "seconds_total": time.perf_counter() - t0,
    }


def _open_dask(dask, workers):
    try:
        from distributed import Client, LocalCluster
    except ImportError as exc:
        raise ImportError(
            "dask: the 'distributed' package is needed; pip install \"pyscale[dask]\""
        ) from exc
    if not isinstance(dask, str) or not dask:
        raise TypeError(f"dask must be a scheduler address or 'local', got {dask!r}")
    if dask == "local":
        cluster = LocalCluster(
            n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None
        )
        return Client(cluster), cluster
    return Client(dask), None


def _run_dask(specs, dask, workers, on_result):
    client, cluster = _open_dask(dask, workers)
    interrupted = False
    try:
        from distributed import as_completed

        futures = client.map(image_task, specs, pure=False)
        try:
            for fut in as_completed(futures):
                on_result(fut.result())
        except BaseException:
            interrupted = True
            raise
        finally:
            client.cancel(futures)
    finally:
        if interrupted and cluster is not None:
            _stop_local_cluster(client, cluster)
        else:
            client.close()
            if cluster is not None:
                cluster.close()


def _stop_local_cluster(client, cluster):
    """Stop a local Dask cluster at once: terminate its worker processes, then close it."""
    import psutil

    main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN) if main else None
    try:
        children = [
            p
            for p in psutil.Process().children(recursive=True)
            if "resource_tracker" not in " ".join(p.cmdline())
        ]  # it exits by itself
        for p in children:
            p.terminate()
        psutil.wait_procs(children, timeout=2.0, callback=None)
        for p in children:
            if p.is_running():
                p.kill()
        for closing in (client.close, cluster.close):
            try:
                closing(timeout=2)
            except Exception:  # noqa: BLE001 - the workers are gone; closing may complain
                pass
    finally:
        if main:
            signal.signal(signal.SIGINT, previous)


def _init_worker():
    """Worker initialiser: one BLAS/OpenMP thread, and interrupts left to the parent.

    The workers already use every core, and threaded level-1 BLAS inside the iterative solver
    slows down by an order of magnitude when the cores are oversubscribed. A Ctrl-C in a terminal
    reaches the whole process group; the parent alone handles it and stops the workers. Both
    settings are made in the worker, so the parent process keeps its own.
    """
    from threadpoolctl import threadpool_limits

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    threadpool_limits(limits=1)


def _stop_pool(ex):
    """Stop a process pool at once: cancel what is queued, terminate (then kill) the workers.

    Further interrupts are ignored while this runs (a second Ctrl-C must not leave workers
    behind); the caller's handler is restored afterwards.
    """
    main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN) if main else None
    try:
        procs = list(getattr(ex, "_processes", {}).values())
        for p in procs:
            p.terminate()
        for p in procs:
            p.join(timeout=2.0)
            if p.is_alive():
                p.kill()
                p.join(timeout=2.0)
        ex.shutdown(wait=False, cancel_futures=True)
    finally:
        if main:
            signal.signal(signal.SIGINT, previous)


def run_tasks(specs, *, workers, dask, on_result):
    """Run the per-image tasks; ``on_result`` is called in this process as each one finishes."""
    if not specs:
        return
    if dask is not None:
        _run_dask(specs, dask, workers, on_result)
        return
    if workers <= 1 or len(specs) == 1:
        for spec in specs:
            on_result(image_task(spec))
        return
    ctx = multiprocessing.get_context("spawn")
    ex = cf.ProcessPoolExecutor(
        max_workers=min(workers, len(specs)), mp_context=ctx, initializer=_init_worker
    )
    try:
        futures = [ex.submit(image_task, s) for s in specs]
        for fut in cf.as_completed(futures):
            on_result(fut.result())
    except BaseException:  # an interrupt or a signal: finished records are already stored
        while True:  # a second Ctrl-C before the first line of _stop_pool must not skip it
            try:
                _stop_pool(ex)
                break
            except KeyboardInterrupt:
                continue
        raise
    ex.shutdown(wait=True)
