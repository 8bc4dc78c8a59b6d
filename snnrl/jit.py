"""Compiled CPU kernels on demand: numba where it is installed (compiled once, cached on disk), a one-line notice
and the caller's torch path where it is not; and C sources built with the system's C compiler for this machine's
CPU (:func:`compile_c`, cached under ``$SNNRL_HOME/native``), a one-line notice and the caller's numba path where
there is no compiler.

Used by the spike-driven engine (:mod:`snnrl.agents.spike_engine`), the fused LIF layers (:mod:`snnrl.fused_lif`)
and the Soft-DTW recursions (:mod:`snnrl.continual.soft_dtw`). ``make`` compiles them at install time, so users
never wait.

Example
-------
>>> def add(a, b):
...     return a + b
>>> compile_kernel(add, "an example kernel", cache=False)(1, 2) if numba_available("examples skip") else 3
3
"""

from __future__ import annotations

import ctypes
import hashlib
import logging
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from snnrl.io import snnrl_home

__all__ = ["numba_available", "compile_kernel", "compile_c", "C_FLAGS"]

logger = logging.getLogger("snnrl")
_NOTICES: set[str] = set()


def numba_available(fallback: str) -> bool:
    """True when numba imports; otherwise logs, once per ``fallback`` (what happens instead, e.g. "spiking
    policies run on the torch path"), a one-line notice."""
    try:
        import numba  # noqa: F401
    except ImportError:
        _notice_once(fallback, f"snnrl: numba is not installed, so {fallback} (slower; same results). Install it "
                               "with `pip install numba` for the compiled kernels.")
        return False
    return True


def _notice_once(key: str, message: str) -> None:
    """Log the one-line ``message`` the first time ``key`` is seen in this process."""
    if key not in _NOTICES:
        _NOTICES.add(key)
        logger.warning(message)


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


C_FLAGS = ("-O3", "-march=native", "-ffp-contract=off", "-fPIC", "-shared")
"""How :func:`compile_c` builds: for this machine's CPU, and without fused multiply-adds (``-ffp-contract=off``), so a
multiply and an add round twice, as numba and torch compute them."""


def _cpu_signature() -> str:
    """What the build depends on besides the source: the CPU's feature flags (``-march=native``)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            return next((line for line in info if line.startswith(("flags", "Features"))), "")
    except OSError:
        return ""


def compile_c(source: Path, what: str, *, flags: tuple[str, ...] = C_FLAGS, cache: Path | None = None
              ) -> ctypes.CDLL | None:
    """``source`` built into a shared library and loaded, or ``None`` (with a one-line notice, once per ``what``)
    where no C compiler works. The library is cached under ``cache`` (default ``$SNNRL_HOME/native``), keyed by the
    source, the flags, the compiler and the CPU; the first build prints one line to stderr, and a build is written
    to a temporary file and renamed, so concurrent first uses never load a half-written library."""
    compiler = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        return _no_compiler(what, "no C compiler (cc) on the PATH")
    text = source.read_bytes()
    try:
        version = subprocess.run([compiler, "--version"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        return _no_compiler(what, f"{compiler} --version failed ({exc})")
    key = hashlib.sha256("\0".join([text.decode(), *flags, version, _cpu_signature()]).encode()).hexdigest()[:16]
    folder = cache if cache is not None else snnrl_home() / "native"
    target = folder / f"{source.stem}-{key}.so"
    if not target.exists():
        print(f"snnrl: compiling {what} (once; cached in {folder}) ...", file=sys.stderr, flush=True)
        folder.mkdir(parents=True, exist_ok=True)
        fd, partial = tempfile.mkstemp(dir=folder, suffix=".so.partial")
        os.close(fd)
        try:
            build = subprocess.run([compiler, *flags, str(source), "-o", partial, "-lm"], capture_output=True,
                                   text=True, timeout=300)
            if build.returncode != 0:
                first = (build.stderr.strip().splitlines() or ["no message"])[0]
                return _no_compiler(what, f"{compiler} failed: {first}")
            os.replace(partial, target)
        except (OSError, subprocess.SubprocessError) as exc:
            return _no_compiler(what, f"{compiler} failed ({exc})")
        finally:
            if os.path.exists(partial):
                os.unlink(partial)
    try:
        return ctypes.CDLL(str(target))
    except OSError as exc:
        return _no_compiler(what, f"the built library does not load ({exc})")


def _no_compiler(what: str, why: str) -> None:
    _notice_once(what, f"snnrl: {what} not built: {why}; the numba kernel runs instead (slower; same results). "
                       "Install a C compiler (Debian: `apt-get install gcc`) for it.")
    return None
