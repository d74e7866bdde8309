"""Writers of tiny data sets in the exact on-disk formats of the real releases."""

from __future__ import annotations

import os

# Wide enough that rich never wraps the words the CLI tests look for (set before any Console).
os.environ["COLUMNS"] = "200"

import gzip
import hashlib
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, settings
from hypothesis.database import DirectoryBasedExampleDatabase

# Hypothesis profiles for the fuzz tests (tests/test_fuzz_*.py). "default" keeps the whole fuzz
# run to seconds; HYPOTHESIS_PROFILE=long is the nightly-style run (25x the examples of each test).
# Examples are small documents, but some touch the file system or the CLI: no per-example deadline.
settings.register_profile("default", max_examples=40, deadline=None, print_blob=True,
                          database=DirectoryBasedExampleDatabase(".pytest_cache/hypothesis"),  # git-ignored
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
settings.register_profile("long", parent=settings.get_profile("default"), max_examples=1000)  # tests/strategies.examples scales per test
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


def write_idx(path: Path, array: np.ndarray) -> None:
    """An IDX file as MNIST ships it: 0x0000, type 0x08 (ubyte), ndim, big-endian sizes, data."""
    header = struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())


def write_mnist_folder(folder: Path, n_train: int = 64, n_test: int = 32, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        labels = rng.integers(0, 10, n)
        # Learnable: a bright square whose position encodes the label.
        images = rng.integers(0, 40, (n, 28, 28))
        for i, y in enumerate(labels):
            r, c = divmod(int(y), 5)
            images[i, 4 + 10 * r : 12 + 10 * r, 2 + 5 * c : 6 + 5 * c] = 255
        write_idx(folder / f"{prefix}-images-idx3-ubyte.gz", images)
        write_idx(folder / f"{prefix}-labels-idx1-ubyte.gz", labels)


def write_cifar_folder(folder: Path, fine: bool = False, n: int = 20, seed: int = 0) -> None:
    """cifar-10-batches-py/ (data_batch_1..5, test_batch) or cifar-100-python/ (train, test),
    pickled dicts with bytes keys as the releases are (protocol 2, Python 2 era)."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    key = b"fine_labels" if fine else b"labels"
    classes = 100 if fine else 10
    names = ["train", "test"] if fine else [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    for name in names:
        batch = {
            b"batch_label": name.encode(),
            b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
            key: rng.integers(0, classes, n).tolist(),
        }
        with open(folder / name, "wb") as f:
            pickle.dump(batch, f, protocol=2)


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


@pytest.fixture(autouse=True)
def _isolate(monkeypatch, tmp_path):
    """No test reads or writes the user's data cache, and every test starts single-seeded."""
    monkeypatch.setenv("ACTSEARCH_DATA", str(tmp_path / "data-cache"))
    torch.manual_seed(0)
