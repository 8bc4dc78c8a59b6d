"""Compiled CPU kernels on demand: numba where it is installed (compiled once, cached on disk), a one-line notice
and the caller's torch path where it is not.

Used by the spike-driven engine (:mod:`snnrl.agents.spike_engine`) and the Soft-DTW recursions
(:mod:`snnrl.continual.soft_dtw`). ``make`` compiles both into numba's cache at install time, so users never wait.

Example
-------
>>> def add(a, b):
...     return a + b
>>> compile_kernel(add, "an example kernel", cache=False)(1, 2) if numba_available("examples skip") else 3
3
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable
from typing import Any

__all__ = ["numba_available", "compile_kernel"]

logger = logging.getLogger("snnrl")
_NOTICES: set[str] = set()


def numba_available(fallback: str) -> bool:
    """True when numba imports; otherwise logs, once per ``fallback`` (what happens instead, e.g. "spiking
    policies run on the torch path"), a one-line notice."""
    try:
        import numba  # noqa: F401
    except ImportError:
        if fallback not in _NOTICES:
            _NOTICES.add(fallback)
            logger.warning(f"snnrl: numba is not installed, so {fallback} (slower; same results). Install it with "
                           "`pip install numba` for the compiled kernels.")
        return False
    return True


def compile_kernel(fn: Callable[..., Any], what: str, *, cache: bool = True) -> Any:
    """``fn`` as a numba ``njit`` dispatcher (no GIL, numpy error model), cached on disk; prints one line to stderr
    when ``what`` has to be compiled first (no cache entry yet). Needs numba (:func:`numba_available`)."""
    import numba

    dispatcher = numba.njit(cache=cache, nogil=True, error_model="numpy")(fn)
    if cache and not _is_cached(dispatcher):
        print(f"snnrl: compiling {what} (once; numba caches it on disk) ...", file=sys.stderr, flush=True)
    return dispatcher


def _is_cached(dispatcher: Any) -> bool:
    """Whether numba's on-disk cache has an entry for ``dispatcher`` (best effort: numba internals)."""
    try:
        return os.path.exists(dispatcher._cache._cache_file._index_path)
    except AttributeError:
        return True  # cannot tell: stay quiet
