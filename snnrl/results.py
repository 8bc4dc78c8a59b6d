"""Benchmark result files: one JSON document per benchmark run, with what is needed to trust and re-render it.

Every document carries ``schema_version``, ``benchmark`` (its name), ``config``, ``seed``, ``versions`` (packages),
``machine`` (CPU, cores, platform), ``raw`` (per-run numbers) and ``summary`` (what tables and plots show).
:func:`write_result` writes one atomically; :func:`load_result` reads one back and raises
:class:`~snnrl.io.ArtifactError` naming the file and the problem for anything truncated, corrupt or of another
schema version.
"""

from __future__ import annotations

import json
import os
import platform
from importlib import metadata
from pathlib import Path
from typing import Any

from snnrl.io import ArtifactError, atomic_write_json

__all__ = ["RESULT_SCHEMA_VERSION", "package_versions", "machine_info", "result_document", "write_result",
           "load_result"]

RESULT_SCHEMA_VERSION = 1
_REQUIRED = ("schema_version", "benchmark", "config", "versions", "machine", "raw", "summary")
_PACKAGES = ("snnrl", "torch", "stable-baselines3", "gymnasium", "mujoco", "numpy", "avalanche-lib",
             "spikingjelly", "tslearn", "ray")


def package_versions() -> dict[str, str]:
    """Versions of the installed packages a result may depend on."""
    out = {}
    for name in _PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return out


def machine_info() -> dict[str, Any]:
    """Python, platform, processor and the cores this process may use."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {"python": platform.python_version(), "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(), "cores": cores}


def result_document(benchmark: str, *, config: dict[str, Any], raw: Any, summary: Any,
                    seed: int | None = None) -> dict[str, Any]:
    """A result document in the common schema (see the module docstring)."""
    return {"schema_version": RESULT_SCHEMA_VERSION, "benchmark": benchmark, "config": config, "seed": seed,
            "versions": package_versions(), "machine": machine_info(), "raw": raw, "summary": summary}


def write_result(path: str | os.PathLike[str], benchmark: str, *, config: dict[str, Any], raw: Any, summary: Any,
                 seed: int | None = None) -> Path:
    """Write :func:`result_document` atomically to ``path``; returns the path."""
    return atomic_write_json(path, result_document(benchmark, config=config, raw=raw, summary=summary, seed=seed))


def load_result(path: str | os.PathLike[str], *, benchmark: str | None = None) -> dict[str, Any]:
    """Read a result document, checking its schema (and its benchmark name when given).

    Raises
    ------
    ArtifactError
        The file is missing, not JSON, not a result document, of another schema version or another benchmark.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ArtifactError(f"{path}: no such result file; run the benchmark that writes it first.") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ArtifactError(f"{path}: cannot read the result file ({exc}).") from exc
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ArtifactError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno}); the file is truncated or "
                            "corrupt, re-run the benchmark that writes it.") from None
    if not isinstance(doc, dict):
        raise ArtifactError(f"{path}: a result file holds a JSON object, found {type(doc).__name__}.")
    missing = [k for k in _REQUIRED if k not in doc]
    if missing:
        raise ArtifactError(f"{path}: not a benchmark result document (missing {', '.join(missing)}).")
    if doc["schema_version"] != RESULT_SCHEMA_VERSION:
        raise ArtifactError(f"{path}: result schema version {doc['schema_version']!r}, this snnrl reads version "
                            f"{RESULT_SCHEMA_VERSION}; re-run the benchmark with this version.")
    if benchmark is not None and doc["benchmark"] != benchmark:
        raise ArtifactError(f"{path}: holds benchmark {doc['benchmark']!r}, expected {benchmark!r}.")
    return doc
