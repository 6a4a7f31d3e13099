"""Thread pool for the ``nogil`` Numba kernels: safe from many threads and across fork.

Numba's own parallel layers are either not thread-safe or not fork-safe, and pyscale is called
from data-loader worker processes and from many threads at once. So each Numba kernel is serial
and works on an index range; this module splits a range into ``workers`` contiguous pieces and
runs them on a process-local pool. The pieces are computed independently of one another, so the
result does not depend on the number of threads.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor

__all__ = ["run_chunked"]

_lock = threading.Lock()
_pool = None
_pool_pid = None
_MIN_CHUNK = 1 << 15  # elements below which one thread does the whole range


def _get_pool():
    global _pool, _pool_pid
    with _lock:
        if _pool is None or _pool_pid != os.getpid():  # a forked child needs its own threads
            _pool = ThreadPoolExecutor(
                max_workers=os.cpu_count() or 1, thread_name_prefix="pyscale"
            )
            _pool_pid = os.getpid()
        return _pool


def run_chunked(kernel, n, workers, *args, cost=1):
    """Run ``kernel(*args, lo, hi)`` over ``[0, n)`` split into at most ``workers`` pieces.

    ``cost`` is the number of elements one index stands for (used to skip threading for small
    work). Returns the list of the pieces' return values, in order.
    """
    pieces = max(1, min(int(workers), n, (n * cost) // _MIN_CHUNK or 1))
    if pieces == 1:
        return [kernel(*args, 0, n)]
    bounds = [n * i // pieces for i in range(pieces + 1)]
    pool = _get_pool()
    futures = [
        pool.submit(kernel, *args, lo, hi) for lo, hi in zip(bounds[:-1], bounds[1:], strict=True)
    ]
    return [f.result() for f in futures]
