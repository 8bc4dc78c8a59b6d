"""Output folders of the command-line runs: checked before any work, locked, resumable.

A run folder (``--out``) holds a record of the command that writes it (``snnrl-run.json``: the command and every
option that changes its results) and a lock file (``.snnrl.lock``, held with ``flock`` while the run is alive, so a
killed run leaves no stale lock). :meth:`RunFolder.open`:

* fails at once when ``--out`` is a file, cannot be created or is not writable;
* fails when another live run holds the lock (the message names the lock file and its pid);
* starts fresh in an empty or new folder, **resumes** when the folder's record equals this command's, and refuses a
  non-empty folder otherwise, unless ``overwrite`` (then it empties the folder; only a folder with a record, so
  a mistyped ``--out`` never wipes a folder snnrl did not write).

Example
-------
>>> import tempfile
>>> with tempfile.TemporaryDirectory() as tmp:
...     with RunFolder.open(tmp + "/out", record={"command": "evaluate", "episodes": 2}) as first:
...         pass
...     with RunFolder.open(tmp + "/out", record={"command": "evaluate", "episodes": 2}) as again:
...         again.resumed
True
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

from snnrl.io import atomic_write_json

__all__ = ["RunFolder", "RunFolderError", "RUN_RECORD", "LOCK_FILE", "unique_names"]

RUN_RECORD = "snnrl-run.json"
LOCK_FILE = ".snnrl.lock"
_RECORD_KIND, _RECORD_VERSION = "snnrl-run", 1


class RunFolderError(ValueError):
    """An output folder cannot be used (a file, not writable, locked by another run, holding another run)."""


def unique_names(names: list[str]) -> list[str]:
    """``names`` made distinct in order: a repeated name gets ``-2``, ``-3``, ... (one output folder per input).

    >>> unique_names(["hopper", "walker", "hopper"])
    ['hopper', 'walker', 'hopper-2']
    """
    seen: dict[str, int] = {}
    out = []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        candidate = name if seen[name] == 1 else f"{name}-{seen[name]}"
        while candidate in out:
            seen[name] += 1
            candidate = f"{name}-{seen[name]}"
        out.append(candidate)
    return out


class RunFolder:
    """An output folder opened for one run; use as a context manager (the lock is released on exit)."""

    def __init__(self, path: Path, handle: Any, resumed: bool) -> None:
        self.path = path
        self.resumed = resumed
        self._handle = handle

    @classmethod
    def open(cls, path: str | os.PathLike[str], *, record: dict[str, Any], overwrite: bool = False,
             flag: str = "--out") -> "RunFolder":
        """Check, lock and prepare ``path`` for a run described by ``record`` (JSON-able); see the module docs.

        Raises
        ------
        RunFolderError
            With a one-line message naming ``flag``, the folder and what to do.
        """
        import fcntl

        folder = Path(path)
        if folder.exists() and not folder.is_dir():
            raise RunFolderError(f"{flag} {folder} is a file, expected a folder; give a folder path.")
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise RunFolderError(f"{flag} {folder} cannot be created ({exc.strerror}); give a writable folder.") \
                from exc
        if not os.access(folder, os.W_OK | os.X_OK):
            raise RunFolderError(f"{flag} {folder} is not writable; give a writable folder.")
        lock = folder / LOCK_FILE
        handle = open(lock, "a+", encoding="utf-8")
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "?"
            handle.close()
            raise RunFolderError(f"{flag} {folder} is in use by another snnrl run (pid {holder} holds the lock "
                                 f"{lock}); wait for it to end or give another {flag}.") from None
        try:
            resumed = cls._prepare(folder, record, overwrite=overwrite, flag=flag)
            handle.seek(0)
            handle.truncate()
            handle.write(f"{os.getpid()}\n")
            handle.flush()
        except BaseException:
            handle.close()
            raise
        return cls(folder, handle, resumed)

    @staticmethod
    def _prepare(folder: Path, record: dict[str, Any], *, overwrite: bool, flag: str) -> bool:
        document = {"kind": _RECORD_KIND, "schema_version": _RECORD_VERSION, **record}
        entries = [p for p in folder.iterdir() if p.name != LOCK_FILE]
        stored = None
        if (folder / RUN_RECORD).is_file():
            try:
                stored = json.loads((folder / RUN_RECORD).read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, json.JSONDecodeError):
                stored = {}
        # JSON round trip: tuples and lists, ints and floats compare as they were stored.
        resumed = bool(entries) and stored == json.loads(json.dumps(document, default=str))
        if entries and not resumed:
            if stored is None:
                raise RunFolderError(f"{flag} {folder} is not empty and holds no {RUN_RECORD} (not an snnrl output "
                                     "folder); give a new or empty folder.")
            if not overwrite:
                what = stored.get("command", "another") if isinstance(stored, dict) else "another"
                raise RunFolderError(f"{flag} {folder} holds the results of another `snnrl {what}` run (other "
                                     "options); give --overwrite to replace them, another folder, or the same "
                                     "options to resume it.")
            for entry in entries:
                shutil.rmtree(entry) if entry.is_dir() and not entry.is_symlink() else entry.unlink()
        atomic_write_json(folder / RUN_RECORD, json.loads(json.dumps(document, default=str)))
        return resumed

    def close(self) -> None:
        """Release the lock."""
        if self._handle is not None:
            self._handle.close()   # closing the descriptor releases the flock
            self._handle = None

    def __enter__(self) -> "RunFolder":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
