"""The ``pyscale`` command: ``pyscale compare`` and ``pyscale trajectory``.

Exit status: 0 on success; 1 when an output cannot be written, or with ``--strict`` when some
image could not be processed; 2 for bad input (a one-line reason on standard error); 3 when an
optional dependency is missing (torch, the Inception weights, distributed); 130 after Ctrl-C and
143 after SIGTERM. An interrupted run stops its worker processes within seconds and keeps every
finished image: rerun the same command to resume.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import warnings

__all__ = ["main", "build_parser"]

_MODELS = ("dpm", "heat", "homogeneous", "blurring", "blurring-vp", "osmosis")
_EXAMPLES = {
    "pyscale": """examples:
  pyscale compare --out results              # six bundled photographs
  pyscale compare --data BSDS500/data/images --split test --fid --out bsds-test
  pyscale trajectory photo.jpg --models dpm osmosis --times 1 10 100 --out grid.png
  pyscale COMMAND --help                     # the options of a command""",
    "compare": """examples:
  pyscale compare --out results
  pyscale compare --data photos --models heat blurring osmosis --times 1 10 100 --out r
  pyscale compare --data BSDS500/data/images --fid --workers 2 --out bsds
  (rerun the same command after an interruption: finished images are reused)""",
    "trajectory": """examples:
  pyscale trajectory photo.jpg --out grid.png
  pyscale trajectory photo.jpg --models dpm osmosis --times 1 10 100 --grey --out grid.png""",
}


def _positive_int(text):
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return v


def _time(text):
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    return v


def build_parser():
    """The argument parser of the ``pyscale`` command.

    Examples
    --------
    >>> from pyscale.paper.cli import build_parser
    >>> build_parser().parse_args(["compare", "--limit", "3"]).limit
    3
    """
    from .. import __version__

    p = argparse.ArgumentParser(
        prog="pyscale",
        description="Scale-spaces of diffusion probabilistic models and of diffusion and osmosis "
        "filters: reproduce the comparison of Sect. 6.3 of Peter (2024).",
        epilog=_EXAMPLES["pyscale"],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--version", action="version", version=f"pyscale {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    _add_compare(sub)
    _add_trajectory(sub)
    return p


def _add_models_and_times(parser):
    """``--models`` (alias ``--model``) and ``--times``, the same in every subcommand."""
    parser.add_argument(
        "--models",
        "--model",
        dest="models",
        nargs="+",
        metavar="M",
        choices=_MODELS,
        default=None,
        help=f"models to run, from {', '.join(_MODELS)} (default: all six; --model is an alias)",
    )
    parser.add_argument(
        "--times",
        nargs="+",
        metavar="T",
        type=_time,
        default=None,
        help="positive, increasing output times (default: 1 5 10 100 1000 10000)",
    )


def _add_compare(sub):
    """The ``compare`` subcommand's options."""
    c = sub.add_parser(
        "compare",
        help="variance evolution, FID against osmosis and a trajectory grid over a folder",
        description="Run the five forward processes on every image of a folder and write "
        "variance.csv/json/png (Fig. 4a), with --fid also fid.csv/json/png "
        "(Fig. 4b), trajectory_grid.png (Fig. 3) and report.md into --out. "
        "Finished images are stored under OUT/records; rerunning the same command "
        "after an interruption continues where it stopped.",
        epilog=_EXAMPLES["compare"],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    c.add_argument(
        "--data",
        metavar="DIR",
        default=None,
        help="folder of images (jpg, png, tif, bmp, ...; searched recursively), e.g. "
        "BSDS500/data/images. Default: six photographs bundled with "
        "scikit-image, downscaled to 128 pixels",
    )
    c.add_argument(
        "--split",
        metavar="S",
        default=None,
        help="BSDS500 split to use: train, val or test (sub-folder S, images/S or "
        "data/images/S of --data). Default: every image under --data",
    )
    _add_models_and_times(c)
    c.add_argument("--grey", action="store_true", help="convert colour images to grey values")
    c.add_argument(
        "--fid",
        action="store_true",
        help="also compute the clean-mode FID of every model against osmosis at "
        "each time (needs torch and the Inception weights; off by default)",
    )
    c.add_argument(
        "--fid-features",
        choices=("inception", "pixel"),
        default="inception",
        help="features for --fid: 'inception' (the real clean-fid network, default) "
        "or 'pixel' (a fast random-projection stand-in for dry runs; the "
        "numbers are then not FID values)",
    )
    c.add_argument(
        "--limit",
        type=_positive_int,
        metavar="N",
        default=None,
        help="use only the first N readable images (in name order)",
    )
    c.add_argument(
        "--max-size",
        type=int,
        metavar="PX",
        default=None,
        help="downscale images so that the longer side is at most PX pixels "
        "(default: 128 for the bundled photographs, full size for --data; "
        "0 means full size)",
    )
    c.add_argument(
        "--out",
        metavar="DIR",
        default="pyscale-compare",
        help="output folder (default: ./pyscale-compare)",
    )
    c.add_argument(
        "--workers",
        type=_positive_int,
        metavar="N",
        default=None,
        help="parallel worker processes over images (default: all local cores; "
        "1 runs in one process)",
    )
    c.add_argument(
        "--dask",
        metavar="ADDRESS",
        default=None,
        help="run the per-image work on a Dask distributed cluster: a scheduler "
        "address such as tcp://host:8786, or 'local' for a local cluster with "
        "--workers processes. Gives the same numbers as a local run",
    )
    c.add_argument(
        "--seed",
        type=int,
        metavar="S",
        default=0,
        help="global seed; each image's noise is derived from it and the image name (default: 0)",
    )
    c.add_argument("--no-grid", action="store_true", help="do not draw trajectory_grid.png")
    c.add_argument(
        "--float-scale",
        metavar="X",
        default=None,
        help="map files of float samples outside [0, 1]: divide by X (e.g. 255), or 'range' "
        "for minimum to maximum (by default such files fail, named in the summary)",
    )
    c.add_argument(
        "--memory-budget",
        metavar="GIB",
        type=float,
        default=None,
        help="memory one image may need at its peak, in GiB (default: half of the available "
        "memory, shared by the workers); larger images fail with the reason, before reading",
    )
    c.add_argument(
        "--device",
        metavar="D",
        default="cpu",
        help="torch device of the Inception network for --fid, e.g. cuda (default: cpu)",
    )
    c.add_argument(
        "--bootstrap",
        metavar="B",
        type=int,
        default=200,
        help="resamples of the images for the 95 %% bootstrap intervals of every mean variance, "
        "FID and KID (default: 200; 0 for none)",
    )
    c.add_argument(
        "--strict",
        action="store_true",
        help="exit with status 1 after the run if some image could not be processed (by "
        "default such images are named in the summary and the report, and the run succeeds)",
    )
    c.add_argument("--quiet", action="store_true", help="no progress bar and no summary")


def _add_trajectory(sub):
    """The ``trajectory`` subcommand's options."""
    t = sub.add_parser(
        "trajectory",
        help="draw the trajectories of one image as a PNG grid (Fig. 3)",
        description="Draw the frames of one image at the given times, one row per model "
        "(DPM frames mapped affinely to [0, 1] for display).",
        epilog=_EXAMPLES["trajectory"],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    t.add_argument("image", metavar="IMAGE", help="image file")
    _add_models_and_times(t)
    t.add_argument("--out", metavar="FILE.png", required=True, help="PNG file to write")
    t.add_argument("--seed", type=int, metavar="S", default=0, help="global seed (default: 0)")
    t.add_argument("--grey", action="store_true", help="convert a colour image to grey values")
    t.add_argument(
        "--max-size",
        type=int,
        metavar="PX",
        default=None,
        help="downscale so that the longer side is at most PX pixels",
    )
    t.add_argument("--quiet", action="store_true", help="no progress bar")


def _float_scale(text):
    if text is None or text == "range":
        return text
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"--float-scale must be a number or 'range', got {text!r}") from None


def _fail(msg, code=2):
    print(f"pyscale: error: {msg}", file=sys.stderr)
    return code


def _one_line(exc):
    return " ".join(str(exc).split())


def _compare(args):
    from .compare import compare

    if args.max_size is None:
        max_size = "auto"
    elif args.max_size == 0:
        max_size = None
    else:
        max_size = args.max_size
    fid = args.fid_features if args.fid else False
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        r = compare(
            args.data,
            split=args.split,
            models=args.models,
            times=args.times,
            grey=args.grey,
            max_size=max_size,
            fid=fid,
            limit=args.limit,
            out=args.out,
            workers=args.workers,
            dask=args.dask,
            seed=args.seed,
            grid=not args.no_grid,
            progress=not args.quiet,
            float_scale=_float_scale(args.float_scale),
            bootstrap=args.bootstrap,
            device=args.device,
            memory_budget="auto" if args.memory_budget is None else int(args.memory_budget * 2**30),
        )
    for w in caught:
        print(f"pyscale: warning: {_one_line(w.message)}", file=sys.stderr)
    for name, why in r.failed:
        print(f"pyscale: failed: {name}: {why}", file=sys.stderr)
    if not args.quiet:
        s = r.seconds
        print(
            f"{len(r.names)} images ({r.computed} computed, {r.reused} reused, "
            f"{len(r.skipped)} skipped, {len(r.failed)} failed) in {s['total']:.1f} s; worker "
            f"time: processes {s['processes']:.1f} s, FID features {s['features']:.1f} s"
        )
        print(f"report: {r.files['report']}")
    return 1 if args.strict and r.failed else 0


def _trajectory(args):
    from .compare import trajectory_grid

    trajectory_grid(
        args.image,
        args.out,
        models=args.models,
        times=args.times,
        seed=args.seed,
        grey=args.grey,
        max_size=args.max_size,
        progress=not args.quiet,
    )
    print(args.out)
    return 0


def main(argv=None):
    """Entry point of the ``pyscale`` command; returns the exit status.

    Examples
    --------
    >>> from pyscale.paper.cli import main
    >>> main(["compare", "--times", "5", "1", "--out", "/nonexistent/x"])
    2
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    from .data import UnreadableImageError
    from .fid import InceptionUnavailableError

    resume = "finished images are kept, rerun the same command to resume"
    previous = _catch_sigterm()
    try:
        if args.command == "compare":
            return _compare(args)
        return _trajectory(args)
    except KeyboardInterrupt:
        return _leave(_fail(f"interrupted; {resume}", 130), argv)
    except _Terminated:
        return _leave(_fail(f"terminated; {resume}", 143), argv)
    except InceptionUnavailableError as exc:
        lines = str(exc).splitlines()
        return _fail(f"{lines[0]}. " + "; ".join(x.strip().rstrip(":") for x in lines[1:]), 3)
    except ImportError as exc:
        hint = (
            ""
            if "pip install" in str(exc)
            else ('; the pyscale command needs the paper extra: pip install "pyscale[paper]"')
        )
        return _fail(_one_line(exc) + hint, 3)
    except (ValueError, TypeError, UnreadableImageError, FileNotFoundError) as exc:
        return _fail(_one_line(exc))
    except OSError as exc:
        return _fail(_one_line(exc), 1)
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


class _Terminated(BaseException):
    """SIGTERM arrived: unwind like an interrupt, so that worker processes are stopped."""


def _on_sigterm(signum, frame):
    raise _Terminated()


def _leave(code, argv):
    """End the command after an interrupt: further Ctrl-C's must not cut the exit short.

    Run as the program (``argv`` None), it exits at once: the workers are already stopped and
    every record is on disk, and the interpreter's own exit handlers could wait on the threads of
    a stopped pool. Called from Python with an ``argv``, it returns ``code``.
    """
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    if argv is None:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return code


def _catch_sigterm():
    """Turn SIGTERM into :class:`_Terminated` while the command runs; return the old handler."""
    if threading.current_thread() is not threading.main_thread():
        return None
    return signal.signal(signal.SIGTERM, _on_sigterm)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
