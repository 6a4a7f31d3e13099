"""The options of the ``pyscale`` command, the same names in every subcommand."""

from __future__ import annotations

import argparse

__all__ = ["build_parser"]

_MODELS = ("dpm", "heat", "homogeneous", "blurring", "blurring-vp", "osmosis")
_EXAMPLES = {
    "pyscale": """examples:
  pyscale compare --out results              # six bundled photographs
  pyscale compare --data BSDS500/data/images --split test --fid --out bsds-test
  pyscale study --data BSDS500/data/images --split test --limit 40 --fid --out study
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
    "study": """examples:
  pyscale study --limit 6 --sizes 32 64 --fid --fid-features pixel --out s   # a dry run
  pyscale study --data BSDS500/data/images --split test --limit 40 --counts 10 40 --fid
  (rerun the same command after an interruption: finished images are reused)""",
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
    _add_study(sub)
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


def _add_images(parser, default_note):
    """``--data``, ``--split`` and ``--limit``."""
    parser.add_argument(
        "--data",
        metavar="DIR",
        default=None,
        help="folder of images (jpg, png, tif, bmp, ...; searched recursively), e.g. "
        f"BSDS500/data/images. Default: six photographs bundled with scikit-image{default_note}",
    )
    parser.add_argument(
        "--split",
        metavar="S",
        default=None,
        help="BSDS500 split to use: train, val or test (sub-folder S, images/S or "
        "data/images/S of --data). Default: every image under --data",
    )
    parser.add_argument(
        "--limit",
        type=_positive_int,
        metavar="N",
        default=None,
        help="use only the first N readable images (in name order)",
    )


def _add_features(parser, what):
    """``--fid``, ``--fid-features`` and ``--device``."""
    parser.add_argument(
        "--fid",
        action="store_true",
        help=f"also {what} (needs torch and the Inception weights; off by default)",
    )
    parser.add_argument(
        "--fid-features",
        choices=("inception", "pixel"),
        default="inception",
        help="features for --fid: 'inception' (the real clean-fid network, default) "
        "or 'pixel' (a fast random-projection stand-in for dry runs; the "
        "numbers are then not FID values)",
    )
    parser.add_argument(
        "--device",
        metavar="D",
        default="cpu",
        help="torch device of the Inception network for --fid, e.g. cuda (default: cpu)",
    )


def _add_run(parser, out):
    """``--out``, ``--workers``, ``--seed``, ``--bootstrap`` and ``--quiet``."""
    parser.add_argument(
        "--out", metavar="DIR", default=out, help=f"output folder (default: ./{out})"
    )
    parser.add_argument(
        "--workers",
        type=_positive_int,
        metavar="N",
        default=None,
        help="parallel worker processes over images (default: all local cores; "
        "1 runs in one process)",
    )
    parser.add_argument(
        "--seed",
        type=int,
        metavar="S",
        default=0,
        help="global seed; each image's noise is derived from it and the image name (default: 0)",
    )
    parser.add_argument(
        "--bootstrap",
        metavar="B",
        type=int,
        default=200,
        help="resamples of the images for the 95 %% bootstrap intervals (default: 200; 0 for none)",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar and no summary")


def _add_compare(sub):
    """The ``compare`` subcommand's options."""
    c = sub.add_parser(
        "compare",
        help="variance evolution, FID against osmosis and a trajectory grid over a folder",
        description="Run the six forward processes on every image of a folder and write "
        "variance.csv/json/png (Fig. 4a), with --fid also fid.csv/json/png and kid.csv/json/png "
        "(Fig. 4b), trajectory_grid.png (Fig. 3) and report.md into --out. "
        "Finished images are stored under OUT/records; rerunning the same command "
        "after an interruption continues where it stopped.",
        epilog=_EXAMPLES["compare"],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_images(c, ", downscaled to 128 pixels")
    _add_models_and_times(c)
    c.add_argument("--grey", action="store_true", help="convert colour images to grey values")
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
        "--domain",
        choices=("pixel", "unit"),
        default="pixel",
        help="unit of length of the DCT models: 'pixel' (the paper's, default) or 'unit' (the "
        "longer image side has length 1)",
    )
    _add_features(c, "compute the clean-mode FID and KID of every model against osmosis")
    _add_run(c, "pyscale-compare")
    c.add_argument(
        "--dask",
        metavar="ADDRESS",
        default=None,
        help="run the per-image work on a Dask distributed cluster: a scheduler "
        "address such as tcp://host:8786, or 'local' for a local cluster with "
        "--workers processes. Gives the same numbers as a local run",
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
        "--strict",
        action="store_true",
        help="exit with status 1 after the run if some image could not be processed (by "
        "default such images are named in the summary and the report, and the run succeeds)",
    )


def _add_study(sub):
    """The ``study`` subcommand's options."""
    s = sub.add_parser(
        "study",
        help="where the claims of Sect. 6.3 hold, over image sizes, units and colour",
        description="Run the comparison for every combination of --sizes, --domains and "
        "--colours and check each claim of Sect. 6.3 with 95 %% bootstrap intervals, for "
        "both noise models of blurring diffusion; writes study.csv/json/md and one folder per "
        "comparison into --out. Rerunning continues where it stopped.",
        epilog=_EXAMPLES["study"],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_images(s, "")
    s.add_argument(
        "--times",
        nargs="+",
        metavar="T",
        type=_time,
        default=None,
        help="positive, increasing output times (default: 1 5 10 100 1000 10000)",
    )
    s.add_argument(
        "--sizes",
        nargs="+",
        type=int,
        metavar="PX",
        default=[64, 128, 0],
        help="longer image sides to downscale to, 0 for full size (default: 64 128 0)",
    )
    s.add_argument(
        "--domains",
        nargs="+",
        choices=("pixel", "unit"),
        default=["pixel", "unit"],
        help="units of length of the DCT models (default: both)",
    )
    s.add_argument(
        "--colours",
        nargs="+",
        choices=("colour", "grey"),
        default=["colour", "grey"],
        help="colour modes (default: both)",
    )
    s.add_argument(
        "--counts",
        nargs="+",
        type=_positive_int,
        metavar="N",
        default=None,
        help="numbers of images to check the claims on (default: all)",
    )
    _add_features(s, "check the claims on the distances to osmosis, with FID and KID")
    _add_run(s, "pyscale-study")


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
