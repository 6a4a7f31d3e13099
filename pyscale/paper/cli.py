"""The ``pyscale`` command: ``pyscale compare``, ``pyscale study`` and ``pyscale trajectory``.

Exit status: 0 on success; 1 when an output cannot be written, or with ``--strict`` when some
image could not be processed; 2 for bad input (a one-line reason on standard error); 3 when an
optional dependency is missing (torch, the Inception weights, distributed); 130 after Ctrl-C and
143 after SIGTERM. An interrupted run stops its worker processes within seconds and keeps every
finished image: rerun the same command to resume.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import warnings

from .arguments import build_parser

__all__ = ["main", "build_parser"]


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


def _warnings_on_stderr(fn, *args, **kwargs):
    """Call ``fn``; print the warnings it gave on standard error, one line each."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = fn(*args, **kwargs)
    for w in caught:
        print(f"pyscale: warning: {_one_line(w.message)}", file=sys.stderr)
    return result


def _compare(args):
    from .compare import compare

    if args.max_size is None:
        max_size = "auto"
    elif args.max_size == 0:
        max_size = None
    else:
        max_size = args.max_size
    fid = args.fid_features if args.fid else False
    r = _warnings_on_stderr(
        compare,
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
        domain=args.domain,
        memory_budget="auto" if args.memory_budget is None else int(args.memory_budget * 2**30),
    )
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


def _study(args):
    from .study import study

    if args.bootstrap < 10:
        raise ValueError(f"--bootstrap must be at least 10 for a study, got {args.bootstrap}")
    r = _warnings_on_stderr(
        study,
        args.data,
        split=args.split,
        limit=args.limit,
        sizes=[s or None for s in args.sizes],
        domains=args.domains,
        colours=args.colours,
        counts=args.counts,
        times=args.times,
        fid=args.fid_features if args.fid else False,
        out=args.out,
        workers=args.workers,
        seed=args.seed,
        bootstrap=args.bootstrap,
        device=args.device,
        progress=not args.quiet,
    )
    if not args.quiet:
        print(f"{len(r.rows)} checks over {len(r.configurations)} comparisons in {r.seconds:.0f} s")
        print(f"report: {r.files['md']}")
    return 0


def _trajectory(args):
    from .grid import trajectory_grid

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
        commands = {"compare": _compare, "study": _study, "trajectory": _trajectory}
        return commands[args.command](args)
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
