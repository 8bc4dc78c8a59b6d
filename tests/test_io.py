import pytest
import torch

from snnrl.io import ArtifactError, atomic_write_bytes, load_versioned, save_versioned, sha256_file


def test_versioned_round_trip(tmp_path):
    path = save_versioned(tmp_path / "a.pt", kind="thing", version=2, payload={"w": torch.arange(3)})
    assert torch.equal(load_versioned(path, kind="thing", version=2)["w"], torch.arange(3))
    assert [p.name for p in tmp_path.iterdir()] == ["a.pt"]  # no temp file left behind


@pytest.mark.parametrize("damage", ["truncate", "garbage", "empty"])
def test_corrupt_files_raise_artifact_error(tmp_path, damage):
    path = save_versioned(tmp_path / "a.pt", kind="thing", version=1, payload={"w": torch.ones(100)})
    data = path.read_bytes()
    path.write_bytes({"truncate": data[: len(data) // 2], "garbage": b"\x00junk" * 50, "empty": b""}[damage])
    with pytest.raises(ArtifactError, match="corrupt"):
        load_versioned(path, kind="thing", version=1)


def test_wrong_kind_version_and_missing(tmp_path):
    path = save_versioned(tmp_path / "a.pt", kind="thing", version=1, payload=1)
    with pytest.raises(ArtifactError, match="format version 1"):
        load_versioned(path, kind="thing", version=2)
    with pytest.raises(ArtifactError, match="expected a 'other'"):
        load_versioned(path, kind="other", version=1)
    with pytest.raises(ArtifactError, match="No thing file"):
        load_versioned(tmp_path / "missing.pt", kind="thing", version=1)
    torch.save({"w": 1}, tmp_path / "plain.pt")
    with pytest.raises(ArtifactError, match="no format header"):
        load_versioned(tmp_path / "plain.pt", kind="thing", version=1)


def test_failed_write_keeps_the_old_file(tmp_path, monkeypatch):
    target = tmp_path / "keep.bin"
    atomic_write_bytes(target, b"old")
    digest = sha256_file(target)

    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr("os.replace", boom)
    with pytest.raises(OSError):
        atomic_write_bytes(target, b"new")
    assert target.read_bytes() == b"old" and sha256_file(target) == digest
    assert [p.name for p in tmp_path.iterdir()] == ["keep.bin"]
