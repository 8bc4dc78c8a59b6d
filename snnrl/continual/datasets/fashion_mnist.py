"""Fashion-MNIST from the idx ``.gz`` files of Debian's ``dataset-fashion-mnist``, and the idx reader."""

from __future__ import annotations

import functools
import gzip
import os
from pathlib import Path

import numpy as np

from snnrl.continual.datasets.common import DatasetError, ImageDataset, _check_split, _missing_text, _to_dataset

__all__ = ["load_fashion_mnist", "read_idx", "FASHION_MNIST_ROOT", "FASHION_MNIST_FILES"]

#: Where Debian's ``dataset-fashion-mnist`` package installs its files.
FASHION_MNIST_ROOT = Path("/usr/share/datasets/fashion-mnist")

FASHION_MNIST_FILES = {
    "train_x": "train-images-idx3-ubyte.gz",
    "train_y": "train-labels-idx1-ubyte.gz",
    "test_x": "t10k-images-idx3-ubyte.gz",
    "test_y": "t10k-labels-idx1-ubyte.gz",
}


_IDX_DTYPES = {0x08: np.dtype(np.uint8), 0x09: np.dtype(np.int8), 0x0B: np.dtype(">i2"), 0x0C: np.dtype(">i4"),
               0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}


def read_idx(path: str | os.PathLike[str]) -> np.ndarray:
    """Read an idx file (the MNIST format), gzip-compressed if its name ends in ``.gz``.

    The header is two zero bytes, a type byte (``0x08`` uint8, ``0x09`` int8, ``0x0B`` int16,
    ``0x0C`` int32, ``0x0D`` float32, ``0x0E`` float64), a byte with the number of dimensions ``d``,
    then ``d`` big-endian uint32 sizes; the data follow, big-endian, row-major. The result is in
    native byte order and may be a read-only view of the file's bytes (copy it to modify it).

    Raises
    ------
    DatasetError
        If the file is truncated, not gzip where expected, or its header is not an idx header.
    """
    path = Path(path)
    try:
        raw = gzip.decompress(path.read_bytes()) if path.name.endswith(".gz") else path.read_bytes()
    except (OSError, EOFError) as exc:  # gzip.BadGzipFile is an OSError
        raise DatasetError(f"{path} could not be read ({type(exc).__name__}: {exc}); the file is damaged or "
                           "truncated.") from exc
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES:
        raise DatasetError(f"{path} is not an idx file: expected a header 00 00 <type> <ndim> with type in "
                           f"{sorted(hex(k) for k in _IDX_DTYPES)}, got {raw[:4].hex(' ') or 'an empty file'}.")
    dtype, ndim = _IDX_DTYPES[raw[2]], raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DatasetError(f"{path} is truncated: its header announces {ndim} dimensions but the file has only "
                           f"{len(raw)} bytes.")
    dims = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    expected = header + int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    if len(raw) != expected:
        raise DatasetError(f"{path} is damaged: its header announces an array {dims} of {dtype} ({expected} bytes "
                           f"with the header) but the file has {len(raw)} bytes.")
    data = np.frombuffer(raw, dtype=dtype, offset=header).reshape(dims)
    return data.astype(dtype.newbyteorder("="), copy=False)


def _fashion_paths(root: Path) -> dict[str, Path]:
    return {key: root / name for key, name in FASHION_MNIST_FILES.items()}


@functools.lru_cache(maxsize=2)
def _fashion_arrays(root: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    paths = _fashion_paths(root)
    missing = [str(p) for p in paths.values() if not p.is_file()]
    if missing:
        raise DatasetError("Fashion-MNIST files not found. Expected " + ", ".join(str(p) for p in paths.values())
                           + f"; {_missing_text(missing, len(paths))}. Fix: apt-get install dataset-fashion-mnist "
                           f"(installs them under {FASHION_MNIST_ROOT}), or pass root= the folder that holds these "
                           "four files.")
    fix = ("Fix: reinstall them (apt-get install --reinstall dataset-fashion-mnist), or pass root= a folder with "
           "intact copies.")
    try:
        arrays = tuple(read_idx(paths[key]) for key in ("train_x", "train_y", "test_x", "test_y"))
    except DatasetError as exc:
        raise DatasetError(f"Fashion-MNIST data is damaged: {exc} {fix}") from exc
    train_x, train_y, test_x, test_y = arrays
    _check_split("Fashion-MNIST", "train", train_x, train_y, shape=(60000, 28, 28), counts=(6000,) * 10, fix=fix)
    _check_split("Fashion-MNIST", "test", test_x, test_y, shape=(10000, 28, 28), counts=(1000,) * 10, fix=fix)
    for a in arrays:
        a.setflags(write=False)
    return train_x, train_y, test_x, test_y


def load_fashion_mnist(root: str | os.PathLike[str] | None = None) -> ImageDataset:
    """Fashion-MNIST (60000 train / 10000 test, ``[N, 1, 28, 28]``, 10 classes) from idx ``.gz`` files.

    Parameters
    ----------
    root : path, optional
        Folder holding ``train-images-idx3-ubyte.gz``, ``train-labels-idx1-ubyte.gz``,
        ``t10k-images-idx3-ubyte.gz`` and ``t10k-labels-idx1-ubyte.gz``. Defaults to
        :data:`FASHION_MNIST_ROOT`, where ``apt-get install dataset-fashion-mnist`` puts them.

    Raises
    ------
    DatasetError
        If a file is missing (the message lists the exact paths) or the data is damaged.
    """
    folder = Path(root).expanduser().resolve() if root is not None else FASHION_MNIST_ROOT
    train_x, train_y, test_x, test_y = _fashion_arrays(folder)
    return _to_dataset("fashion-mnist", train_x[:, None], train_y, test_x[:, None], test_y, num_classes=10,
                       scale=255.0)
