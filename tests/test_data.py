import gzip
import pickle
import tarfile
from pathlib import Path

import numpy as np
import pytest

from actsearch.training import data
from actsearch.training.data import DEBIAN_FASHION_MNIST, load_task
from actsearch.errors import DataError
from tests.conftest import md5, write_cifar_folder, write_mnist_folder


def test_digits_is_bundled_and_split_stratified():
    d = load_task("digits")
    assert d.train_x.shape == (1437, 1, 8, 8) and d.test_x.shape == (360, 1, 8, 8)
    assert d.train_x.dtype.is_floating_point is False
    counts = np.bincount(d.test_y.numpy(), minlength=10)
    assert counts.min() >= 35  # every class in the test split, ~36 each
    assert load_task("digits").train_y.tolist() == d.train_y.tolist()  # fixed split


def test_mnist_idx_files_load(tmp_path):
    write_mnist_folder(tmp_path / "mnist")
    d = load_task("mnist", tmp_path, download=False)
    assert d.train_x.shape == (64, 1, 28, 28) and d.test_x.shape == (32, 1, 28, 28)
    assert d.num_classes == 10 and d.scale == pytest.approx(1 / 255)


def test_truncated_idx_file_is_reported(tmp_path):
    folder = tmp_path / "mnist"
    write_mnist_folder(folder)
    raw = gzip.open(folder / "train-images-idx3-ubyte.gz").read()
    with gzip.open(folder / "train-images-idx3-ubyte.gz", "wb") as f:
        f.write(raw[:-100])
    with pytest.raises(DataError, match="truncated or corrupted"):
        load_task("mnist", tmp_path, download=False)


def test_not_gzip_is_reported(tmp_path):
    folder = tmp_path / "mnist"
    write_mnist_folder(folder)
    (folder / "t10k-labels-idx1-ubyte.gz").write_bytes(b"garbage")
    with pytest.raises(DataError, match="not a readable gzip"):
        load_task("mnist", tmp_path, download=False)


def test_wrong_header_is_reported(tmp_path):
    folder = tmp_path / "mnist"
    write_mnist_folder(folder)
    # labels file where the images should be
    (folder / "train-images-idx3-ubyte.gz").write_bytes((folder / "train-labels-idx1-ubyte.gz").read_bytes())
    with pytest.raises(DataError, match="not an IDX file of 3-d"):
        load_task("mnist", tmp_path, download=False)


def test_missing_files_without_download(tmp_path):
    with pytest.raises(DataError, match="missing .*put the IDX .gz files there"):
        load_task("mnist", tmp_path / "empty", download=False)


@pytest.mark.parametrize("fine", [False, True])
def test_cifar_pickle_batches_load(tmp_path, fine):
    task = "cifar100" if fine else "cifar10"
    write_cifar_folder(tmp_path / ("cifar-100-python" if fine else "cifar-10-batches-py"), fine=fine)
    d = load_task(task, tmp_path, download=False)
    assert d.train_x.shape == ((20 if fine else 100), 3, 32, 32)
    assert d.num_classes == (100 if fine else 10) and d.augment


def test_cifar_corrupted_batch(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    write_cifar_folder(folder)
    (folder / "data_batch_3").write_bytes((folder / "data_batch_3").read_bytes()[:500])
    with pytest.raises(DataError, match="data_batch_3 is not a valid CIFAR batch"):
        load_task("cifar10", tmp_path, download=False)


def test_cifar_loader_refuses_code_in_pickles(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    write_cifar_folder(folder)

    class Evil:
        def __reduce__(self):
            return (Path.touch, (tmp_path / "pwned",))

    (folder / "test_batch").write_bytes(pickle.dumps({b"data": Evil(), b"labels": []}, protocol=2))
    with pytest.raises(DataError, match="refusing to load"):
        load_task("cifar10", tmp_path, download=False)
    assert not (tmp_path / "pwned").exists()


def _serve_mnist(tmp_path, monkeypatch, corrupt: str | None = None):
    source = tmp_path / "server"
    write_mnist_folder(source)
    md5s = {p.name: md5(p) for p in source.iterdir()}
    if corrupt:
        md5s[corrupt] = "0" * 32
    monkeypatch.setitem(data.IDX_RELEASES, "mnist", (source.as_uri() + "/", md5s))


def test_download_verifies_and_renames(tmp_path, monkeypatch):
    _serve_mnist(tmp_path, monkeypatch)
    d = load_task("mnist", tmp_path / "dl")
    assert len(d.train_y) == 64
    files = sorted(p.name for p in (tmp_path / "dl" / "mnist").iterdir())
    assert files == sorted(data.IDX_RELEASES["mnist"][1])  # no .part leftovers


def test_download_checksum_mismatch_keeps_nothing(tmp_path, monkeypatch):
    _serve_mnist(tmp_path, monkeypatch, corrupt="t10k-images-idx3-ubyte.gz")
    with pytest.raises(DataError, match="expected 0{32}.*Nothing was kept"):
        load_task("mnist", tmp_path / "dl")
    left = {p.name for p in (tmp_path / "dl" / "mnist").iterdir()}
    assert "t10k-images-idx3-ubyte.gz" not in left
    assert not any(name.endswith(".part") for name in left)


def test_download_without_network_says_where_to_put_files(tmp_path, monkeypatch):
    def offline(url):
        raise data.urllib.error.URLError("Name or service not known")

    monkeypatch.setattr(data, "_open_url", offline)
    with pytest.raises(DataError, match="cannot download .*put it at .*cifar-10-python.tar.gz"):
        load_task("cifar10", tmp_path / "dl")
    assert not any((tmp_path / "dl").iterdir())


def test_cifar_archive_download_and_extract(tmp_path, monkeypatch):
    build = tmp_path / "build"
    write_cifar_folder(build / "cifar-10-batches-py")
    archive = tmp_path / "server" / "cifar-10-python.tar.gz"
    archive.parent.mkdir()
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(build / "cifar-10-batches-py", arcname="cifar-10-batches-py")
    release = list(data.CIFAR_RELEASES["cifar10"])
    release[0], release[1] = archive.as_uri(), md5(archive)
    monkeypatch.setitem(data.CIFAR_RELEASES, "cifar10", tuple(release))
    d = load_task("cifar10", tmp_path / "dl")
    assert d.train_x.shape == (100, 3, 32, 32)
    assert (tmp_path / "dl" / "cifar-10-batches-py" / "test_batch").is_file()


@pytest.mark.skipif(not DEBIAN_FASHION_MNIST.is_dir(), reason="apt-get install dataset-fashion-mnist")
def test_real_fashion_mnist_from_debian_package(tmp_path):
    d = load_task("fashion-mnist", tmp_path / "nothing-here", download=False)
    assert d.train_x.shape == (60000, 1, 28, 28) and d.test_x.shape == (10000, 1, 28, 28)
    assert np.bincount(d.train_y.numpy()).tolist() == [6000] * 10


def test_archive_escaping_its_folder_is_refused(tmp_path, monkeypatch):
    import io

    archive = tmp_path / "server" / "cifar-10-python.tar.gz"
    archive.parent.mkdir()
    with tarfile.open(archive, "w:gz") as tar:
        payload = b"owned"
        info = tarfile.TarInfo("../../escaped.txt")
        info.size = len(payload)
        tar.addfile(info, io.BytesIO(payload))
    release = list(data.CIFAR_RELEASES["cifar10"])
    release[0], release[1] = archive.as_uri(), md5(archive)
    monkeypatch.setitem(data.CIFAR_RELEASES, "cifar10", tuple(release))
    with pytest.raises(DataError):
        load_task("cifar10", tmp_path / "dl" / "inner")
    assert not (tmp_path / "dl" / "escaped.txt").exists() and not (tmp_path / "escaped.txt").exists()
