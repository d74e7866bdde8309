"""Fuzz: IDX (MNIST, Fashion-MNIST) and CIFAR pickle files: headers, dims, counts, label types
and ranges, truncation. Property: only DataError, one line naming the file; whatever loads is a
usable data set (both splits non-empty, labels in range)."""

from __future__ import annotations

import gzip
import pickle
import shutil

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from actsearch.errors import DataError
from actsearch.training.data import IDX_FILES, load_task, read_cifar_batch, read_idx
from tests.conftest import write_cifar_folder, write_idx, write_mnist_folder
from tests.strategies import cifar_batches, examples, idx_bytes, idx_files

IDX_NAMES = [name for pair in IDX_FILES.values() for name in pair]
CIFAR10_NAMES = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]


@pytest.fixture(scope="module")
def clean_folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("clean")
    write_mnist_folder(root / "mnist", n_train=8, n_test=4)
    write_cifar_folder(root / "cifar-10-batches-py", n=4)
    write_cifar_folder(root / "cifar-100-python", fine=True, n=4)
    return root


def _usable(d, classes):
    assert len(d.train_x) > 0 and len(d.test_x) > 0
    assert len(d.train_x) == len(d.train_y) and len(d.test_x) == len(d.test_y)
    for y in (d.train_y, d.test_y):
        assert 0 <= int(y.min()) and int(y.max()) < classes


def _one_line(exc, path):
    message = str(exc)
    assert "\n" not in message and str(path) in message, message


@examples(60)
@given(raw=idx_files(3), ndim=st.sampled_from([3, 1]))
@example(raw=gzip.compress(idx_bytes((4194304, 4194304, 1048576), b"")), ndim=3)
@example(raw=gzip.compress(idx_bytes((2**32 - 1, 2**32 - 1, 2**32 - 1), b"")), ndim=3)
@example(raw=gzip.compress(idx_bytes((0, 2**32 - 1, 2**32 - 1), b"")), ndim=3)  # found by the long profile
def test_idx_reader_raises_only_data_error(tmp_path_factory, raw, ndim):
    path = tmp_path_factory.mktemp("idx") / "x-idx3-ubyte.gz"
    path.write_bytes(raw)
    try:
        array = read_idx(path, ndim)
    except DataError as exc:
        _one_line(exc, path)
        return
    assert array.ndim == ndim and array.dtype == np.uint8


@examples(60)
@given(name=st.sampled_from(IDX_NAMES), raw=st.data())
def test_mnist_folder_with_one_damaged_file(tmp_path_factory, clean_folders, name, raw):
    root = tmp_path_factory.mktemp("data")
    shutil.copytree(clean_folders / "mnist", root / "mnist")
    path = root / "mnist" / name
    path.write_bytes(raw.draw(idx_files(1 if "labels" in name else 3)))
    try:
        d = load_task("mnist", root, download=False)
    except DataError as exc:
        _one_line(exc, path.parent)
        return
    _usable(d, 10)


@examples(60)
@given(raw=cifar_batches(b"labels"))
@example(raw=pickle.dumps({b"data": np.zeros((10, 3072), np.uint8), b"labels": ["x"] * 10}, protocol=2))
def test_cifar_batch_reader_raises_only_data_error(tmp_path_factory, raw):
    path = tmp_path_factory.mktemp("cifar") / "data_batch_1"
    path.write_bytes(raw)
    try:
        data, labels = read_cifar_batch(path, b"labels")
    except DataError as exc:
        _one_line(exc, path)
        return
    assert data.shape[1:] == (3, 32, 32) and labels.dtype == np.int64 and len(data) == len(labels)


@examples(40)
@given(task=st.sampled_from(["cifar10", "cifar100"]), which=st.sampled_from([0, -1]), raw=st.data())
def test_cifar_folder_with_one_damaged_batch(tmp_path_factory, clean_folders, task, which, raw):
    root = tmp_path_factory.mktemp("data")
    folder, names, key, classes = (("cifar-10-batches-py", CIFAR10_NAMES, b"labels", 10) if task == "cifar10"
                                   else ("cifar-100-python", ["train", "test"], b"fine_labels", 100))
    shutil.copytree(clean_folders / folder, root / folder)
    path = root / folder / names[which]
    path.write_bytes(raw.draw(cifar_batches(key)))
    try:
        d = load_task(task, root, download=False)
    except DataError as exc:
        _one_line(exc, root / folder)
        return
    _usable(d, classes)


# --- the table, exactly -----------------------------------------------------------------------


def test_zero_image_test_split_is_refused(tmp_path):
    folder = tmp_path / "mnist"
    write_mnist_folder(folder, n_train=8, n_test=4)
    write_idx(folder / "t10k-images-idx3-ubyte.gz", np.zeros((0, 28, 28), np.uint8))
    write_idx(folder / "t10k-labels-idx1-ubyte.gz", np.zeros((0,), np.uint8))
    with pytest.raises(DataError, match=r"t10k-images-idx3-ubyte.gz holds no images"):
        load_task("mnist", tmp_path, download=False)


def test_huge_header_dims_without_data(tmp_path):
    path = tmp_path / "train-images-idx3-ubyte.gz"
    path.write_bytes(gzip.compress(idx_bytes((4194304, 4194304, 1048576), b"")))
    with pytest.raises(DataError, match=r"train-images-idx3-ubyte.gz is truncated or corrupted"):
        read_idx(path, 3)


def test_string_labels_in_a_cifar_batch(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    write_cifar_folder(folder, n=10)
    with open(folder / "data_batch_1", "wb") as f:
        pickle.dump({b"data": np.zeros((10, 3072), np.uint8), b"labels": ["x"] * 10}, f, protocol=2)
    with pytest.raises(DataError, match=r"data_batch_1: labels are not integers"):
        load_task("cifar10", tmp_path, download=False)


@pytest.mark.parametrize("labels", [[10] * 4, [-1] * 4, [2**70] * 4, [0.5] * 4])
def test_cifar_labels_out_of_range_name_the_file(tmp_path, labels):
    folder = tmp_path / "cifar-10-batches-py"
    write_cifar_folder(folder, n=4)
    with open(folder / "test_batch", "wb") as f:
        pickle.dump({b"data": np.zeros((4, 3072), np.uint8), b"labels": labels}, f, protocol=2)
    with pytest.raises(DataError, match="test_batch"):
        load_task("cifar10", tmp_path, download=False)


def test_idx_labels_out_of_range_name_the_file(tmp_path):
    folder = tmp_path / "mnist"
    write_mnist_folder(folder, n_train=8, n_test=4)
    write_idx(folder / "t10k-labels-idx1-ubyte.gz", np.full(4, 200, np.uint8))
    with pytest.raises(DataError, match=r"t10k-labels-idx1-ubyte.gz: label 200 is out of range 0..9"):
        load_task("mnist", tmp_path, download=False)
