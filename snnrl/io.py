"""Atomic, versioned file I/O shared by every saved artifact of the toolkit.

Every file the toolkit writes (teachers, converted policies, checkpoints, reports) goes through
:func:`atomic_write_bytes`: the bytes are written to a temporary file in the same directory, flushed to
disk, and then renamed over the target. A crash at any point leaves either the old file or the new one,
never a truncated mix.

Versioned payloads (:func:`save_versioned` / :func:`load_versioned`) are torch pickles of a dict
``{"format": kind, "format_version": int, "payload": ...}``; loading checks both fields and raises
:class:`ArtifactError` with a clear message on a corrupt, truncated, foreign or wrong-version file.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import torch

__all__ = [
    "ArtifactError",
    "atomic_write_bytes",
    "atomic_write_text",
    "atomic_write_json",
    "save_versioned",
    "load_versioned",
    "load_versioned_any",
    "sha256_file",
    "describe_error",
    "snnrl_home",
]


class ArtifactError(ValueError):
    """A saved artifact could not be read: corrupt, truncated, of another kind or of another version."""


def snnrl_home() -> Path:
    """The toolkit's working folder for caches and resumable runs: ``$SNNRL_HOME``, else ``~/.cache/snnrl``."""
    return Path(os.environ.get("SNNRL_HOME", Path.home() / ".cache" / "snnrl"))


def describe_error(exc: BaseException, limit: int = 120) -> str:
    """``"Type: first line of the message"`` (at most ``limit`` characters of it), for error messages that wrap
    a library's exception."""
    text = str(exc)
    return f"{type(exc).__name__}: {text.splitlines()[0][:limit] if text else ''}"


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (temporary file in the same directory, fsync, rename)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.fchmod(fd, 0o666 & ~umask)  # mkstemp creates 0600; give the file ordinary permissions
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, target)
    except BaseException:
        try:
            os.unlink(tmp_name)
        except FileNotFoundError:
            pass
        raise
    return target


def atomic_write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Write UTF-8 ``text`` to ``path`` atomically."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike[str], obj: Any) -> Path:
    """Write ``obj`` as indented JSON to ``path`` atomically."""
    return atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False, default=_json_default) + "\n")


def _json_default(obj: Any) -> Any:
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"Object of type {type(obj).__name__} is not JSON serialisable")


def save_versioned(path: str | os.PathLike[str], *, kind: str, version: int, payload: Any) -> Path:
    """Save ``payload`` (tensors, numbers, strings, dicts, lists) as a versioned torch file, atomically."""
    buffer = io.BytesIO()
    torch.save({"format": kind, "format_version": int(version), "payload": payload}, buffer)
    return atomic_write_bytes(path, buffer.getvalue())


def load_versioned(path: str | os.PathLike[str], *, kind: str, version: int) -> Any:
    """Load a file written by :func:`save_versioned`, checking its kind and version.

    Raises
    ------
    ArtifactError
        If the file is missing, unreadable (corrupt or truncated), of another kind, or of another version.
    """
    return load_versioned_any(path, kind=kind, versions=(version,))[1]


def load_versioned_any(path: str | os.PathLike[str], *, kind: str, versions: tuple[int, ...]) -> tuple[int, Any]:
    """Like :func:`load_versioned` for a reader of several format versions: ``(version, payload)``."""
    source = Path(path)
    if not source.is_file():
        raise ArtifactError(f"No {kind} file at '{source}'. Check the path, or create one first.")
    try:
        blob = torch.load(source, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for truncated / foreign data
        raise ArtifactError(
            f"Could not read {kind} file '{source}': it is corrupt, truncated or not a snnrl file "
            f"({describe_error(exc)}). "
            "Re-create it from its source (re-run the command that wrote it)."
        ) from exc
    if not isinstance(blob, dict) or not {"format", "format_version", "payload"} <= blob.keys():
        raise ArtifactError(
            f"'{source}' is not a snnrl {kind} file (no format header, or no payload). Re-create it with snnrl."
        )
    if blob["format"] != kind:
        raise ArtifactError(f"'{source}' holds a '{blob['format']}' artifact, expected a '{kind}'.")
    if blob["format_version"] not in versions:
        readable = " or ".join(str(v) for v in versions)
        raise ArtifactError(
            f"'{source}' is a {kind} file of format version {blob['format_version']}, this snnrl reads "
            f"version {readable}. Re-create it with this version of snnrl (or install the snnrl that wrote it)."
        )
    return int(blob["format_version"]), blob["payload"]


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
