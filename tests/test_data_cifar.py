"""CIFAR-10: generated archives in the official python format, round trips and malformed files."""

import io
import pickle
import tarfile

import numpy as np
import pytest
import torch

from fluctinit.datasets.cifar10 import CIFAR_TEST_BATCH, CIFAR_TRAIN_BATCHES, load_cifar10
from fluctinit.datasets import DataError
from fluctinit.errors import ParameterError


def batch_bytes(data, labels):
    return pickle.dumps({b"batch_label": b"x", b"data": data, b"labels": list(labels),
                         b"filenames": [b"f"] * len(labels)}, protocol=2)


def make_batches(rng, n=6):
    out = {}
    for name in (*CIFAR_TRAIN_BATCHES, CIFAR_TEST_BATCH):
        data = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
        out[name] = (data, rng.integers(0, 10, n))
    return out


def write_archive(path, batches, raw=None):
    with tarfile.open(path, "w:gz") as tar:
        for name, (data, labels) in batches.items():
            blob = raw.get(name) if raw and name in raw else batch_bytes(data, labels)
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(blob)
            tar.addfile(info, io.BytesIO(blob))


@pytest.fixture
def batches():
    return make_batches(np.random.default_rng(0))


@pytest.mark.parametrize("layout", ["archive", "folder"])
def test_round_trip(tmp_path, batches, layout):
    if layout == "archive":
        write_archive(tmp_path / "cifar-10-python.tar.gz", batches)
    else:
        folder = tmp_path / "cifar-10-batches-py"
        folder.mkdir()
        for name, (d, y) in batches.items():
            (folder / name).write_bytes(batch_bytes(d, y))
    s = load_cifar10(tmp_path, valid_fraction=0.1, seed=0)
    assert (len(s.train), len(s.valid), len(s.test)) == (27, 3, 6)
    d, y = batches[CIFAR_TEST_BATCH]
    # row layout: 1024 red, 1024 green, 1024 blue values, each 32x32 row-major
    assert torch.equal(s.test.images, torch.from_numpy(d.reshape(6, 3, 32, 32)))
    assert s.test.images[2, 1, 4, 5].item() == d[2, 1024 + 4 * 32 + 5]
    assert s.test.labels.tolist() == list(y)
    all_train = np.concatenate([batches[n][0] for n in CIFAR_TRAIN_BATCHES])
    got = torch.cat([s.train.images, s.valid.images]).reshape(30, -1).numpy()
    assert sorted(map(bytes, got)) == sorted(map(bytes, all_train))


def test_normalization_to_minus_one_one():
    from fluctinit.datasets.cifar10 import ImageDataset

    imgs = torch.zeros(2, 3, 32, 32, dtype=torch.uint8)
    imgs[1] = 255
    ds = ImageDataset(imgs, torch.tensor([0, 1]))
    x = ds.normalized()
    assert x[0].unique().tolist() == [-1.0] and x[1].unique().tolist() == [1.0]
    xb, yb = next(iter(ds.batches(2, shuffle=False)))
    assert torch.equal(xb, x) and yb.tolist() == [0, 1]


def test_missing_message(tmp_path):
    with pytest.raises(FileNotFoundError) as err:
        load_cifar10(tmp_path)
    assert "cifar-10-python.tar.gz" in str(err.value) and str(tmp_path) in str(err.value)


def test_missing_batch_in_folder(tmp_path, batches):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    (folder / "data_batch_1").write_bytes(batch_bytes(*batches["data_batch_1"]))
    with pytest.raises(FileNotFoundError, match="data_batch_2"):
        load_cifar10(tmp_path)


class _Evil:
    def __reduce__(self):
        import os

        return (os.system, ("echo pwned",))


@pytest.mark.parametrize(
    "blob, match",
    [
        (pickle.dumps({b"labels": [1]}, protocol=2), "missing key b'data'"),
        (pickle.dumps({b"data": np.zeros((2, 3072), np.uint8), b"labels": [1]}, protocol=2),
         "length mismatch"),
        (pickle.dumps({b"data": np.zeros((1, 3000), np.uint8), b"labels": [1]}, protocol=2),
         r"\(N, 3072\)"),
        (pickle.dumps({b"data": np.zeros((1, 3072), np.float32), b"labels": [1]}, protocol=2),
         "uint8"),
        (pickle.dumps({b"data": np.zeros((1, 3072), np.uint8), b"labels": [10]}, protocol=2),
         r"\[0, 10\)"),
        (pickle.dumps([1, 2]), "expected a pickled dict"),
        (pickle.dumps(_Evil()), "not allowed"),
        (b"garbage", "not a CIFAR-10 python batch"),
    ],
)
def test_malformed_batches(tmp_path, batches, blob, match):
    write_archive(tmp_path / "cifar-10-python.tar.gz", batches, raw={"data_batch_3": blob})
    with pytest.raises(DataError, match=match) as err:
        load_cifar10(tmp_path)
    assert "data_batch_3" in str(err.value)


def test_corrupt_archive(tmp_path):
    (tmp_path / "cifar-10-python.tar.gz").write_bytes(b"\x1f\x8bnope")
    with pytest.raises(DataError, match="not a readable tar.gz"):
        load_cifar10(tmp_path)


def test_archive_missing_member(tmp_path, batches):
    del batches["test_batch"]
    write_archive(tmp_path / "cifar-10-python.tar.gz", batches)
    with pytest.raises(DataError, match="missing member cifar-10-batches-py/test_batch"):
        load_cifar10(tmp_path)


def test_parameters_checked(tmp_path):
    with pytest.raises(ParameterError, match="`valid_fraction`"):
        load_cifar10(tmp_path, valid_fraction=1.5)
