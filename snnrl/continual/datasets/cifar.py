"""CIFAR-10 / CIFAR-100 from the python-pickle files users download themselves."""

from __future__ import annotations

import os
import pickle
from pathlib import Path
from typing import Any

import numpy as np

from snnrl.continual.datasets.common import DatasetError, ImageDataset, _missing_text, _to_dataset

__all__ = ["load_cifar10", "load_cifar100", "CIFAR_URL", "CIFAR10_DIR", "CIFAR100_DIR"]

CIFAR_URL = "https://www.cs.toronto.edu/~kriz/cifar.html"
CIFAR10_DIR = "cifar-10-batches-py"
_CIFAR10_TRAIN = tuple(f"data_batch_{i}" for i in range(1, 6))
_CIFAR10_TEST = "test_batch"
CIFAR100_DIR = "cifar-100-python"


def _cifar_folder(root: str | os.PathLike[str], subdir: str, names: tuple[str, ...], title: str) -> Path:
    """``root/subdir`` if it exists, else ``root`` if it is that folder; otherwise a DatasetError."""
    base = Path(root).expanduser()
    for folder in (base / subdir, base):
        if all((folder / n).is_file() for n in names):
            return folder
    folder = base if base.name == subdir else base / subdir
    missing = [str(folder / n) for n in names if not (folder / n).is_file()]
    raise DatasetError(f"{title} files not found under {base}. Expected {', '.join(str(folder / n) for n in names)}; "
                       f"{_missing_text(missing, len(names))}. Fix: download the 'python version' archive from "
                       f"{CIFAR_URL} and extract it so that the folder {subdir}/ lies in root, then pass root= the "
                       f"folder that contains {subdir}/ (or {subdir}/ itself).")


def _read_cifar_pickle(path: Path, label_key: str, num_classes: int, title: str) -> tuple[np.ndarray, np.ndarray]:
    """Images ``[N, 3, 32, 32]`` uint8 and labels ``[N]`` of one CIFAR python pickle, validated."""
    fix = f"Fix: extract the archive from {CIFAR_URL} again."
    try:
        with open(path, "rb") as handle:
            # CIFAR's pickles are Python 2 pickles of a dict; encoding="bytes" keeps their bytes keys.
            entry = pickle.load(handle, encoding="bytes")
    except Exception as exc:  # truncated or corrupt pickles raise many kinds of errors
        raise DatasetError(f"{title} file {path} is damaged or truncated: it could not be unpickled "
                           f"({type(exc).__name__}: {exc}). {fix}") from exc
    if not isinstance(entry, dict):
        raise DatasetError(f"{title} file {path} is not a CIFAR batch: expected a pickled dict, got "
                           f"{type(entry).__name__}. {fix}")

    def get(key: str) -> Any:
        for k in (key.encode(), key):
            if k in entry:
                return entry[k]
        raise DatasetError(f"{title} file {path} is not a CIFAR batch: expected the keys b'data' and "
                           f"b'{label_key}', got {sorted(map(repr, entry))}. {fix}")

    data, labels = np.asarray(get("data")), np.asarray(get(label_key))
    if data.ndim != 2 or data.shape[1] != 3072 or data.dtype != np.uint8:
        raise DatasetError(f"{title} file {path} is damaged: expected b'data' as an N x 3072 uint8 array, got shape "
                           f"{tuple(data.shape)} and dtype {data.dtype}. {fix}")
    if labels.ndim != 1 or len(labels) != len(data) or not np.issubdtype(labels.dtype, np.integer):
        raise DatasetError(f"{title} file {path} is damaged: expected {len(data)} integer labels in "
                           f"b'{label_key}', got an array of shape {tuple(labels.shape)} and dtype {labels.dtype}. "
                           f"{fix}")
    if len(labels) and (int(labels.min()) < 0 or int(labels.max()) >= num_classes):
        raise DatasetError(f"{title} file {path} is damaged: labels must lie in [0, {num_classes}), got labels in "
                           f"[{int(labels.min())}, {int(labels.max())}]. {fix}")
    return data.reshape(-1, 3, 32, 32), labels.astype(np.int64)


def _load_cifar(root: str | os.PathLike[str], *, subdir: str, train: tuple[str, ...], test: str, label_key: str,
                num_classes: int, name: str, title: str) -> ImageDataset:
    folder = _cifar_folder(root, subdir, (*train, test), title)
    parts = [_read_cifar_pickle(folder / n, label_key, num_classes, title) for n in train]
    test_x, test_y = _read_cifar_pickle(folder / test, label_key, num_classes, title)
    train_x = np.concatenate([p[0] for p in parts])
    train_y = np.concatenate([p[1] for p in parts])
    return _to_dataset(name, train_x, train_y, test_x, test_y, num_classes=num_classes, scale=255.0)


def load_cifar10(root: str | os.PathLike[str]) -> ImageDataset:
    """CIFAR-10 (``[N, 3, 32, 32]``, 10 classes) from the python-pickle files.

    Parameters
    ----------
    root : path
        The folder that contains ``cifar-10-batches-py/`` (with ``data_batch_1`` ... ``data_batch_5``
        and ``test_batch``), or ``cifar-10-batches-py/`` itself.

    Raises
    ------
    DatasetError
        If a file is missing (the message lists the exact paths), truncated or not a CIFAR batch.

    Notes
    -----
    The files are unpickled: only load files from a source you trust.
    """
    return _load_cifar(root, subdir=CIFAR10_DIR, train=_CIFAR10_TRAIN, test=_CIFAR10_TEST, label_key="labels",
                       num_classes=10, name="cifar10", title="CIFAR-10")


def load_cifar100(root: str | os.PathLike[str]) -> ImageDataset:
    """CIFAR-100 (``[N, 3, 32, 32]``, 100 fine classes) from the python-pickle files.

    Parameters
    ----------
    root : path
        The folder that contains ``cifar-100-python/`` (with ``train`` and ``test``), or
        ``cifar-100-python/`` itself.

    Raises
    ------
    DatasetError
        If a file is missing (the message lists the exact paths), truncated or not a CIFAR file.

    Notes
    -----
    The files are unpickled: only load files from a source you trust.
    """
    return _load_cifar(root, subdir=CIFAR100_DIR, train=("train",), test="test", label_key="fine_labels",
                       num_classes=100, name="cifar100", title="CIFAR-100")
