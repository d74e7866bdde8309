"""Tasks: real data sets in their real on-disk formats, held whole in memory as uint8 tensors.

* ``digits``: scikit-learn's bundled 1,797 real 8x8 digits (no network, no files).
* ``mnist``, ``fashion-mnist``: the IDX ``.gz`` files.
* ``cifar10``, ``cifar100``: the python-pickle releases.

Files are looked up under the data folder (``--data-dir``, else ``$ACTSEARCH_DATA``, else a
per-user cache folder); Fashion-MNIST also where Debian's ``dataset-fashion-mnist`` package puts
it. Missing files are downloaded from the canonical release into a temporary file that is
renamed only once its published MD5 matches, so nothing half-written is ever taken as valid.
"""

from __future__ import annotations

import gzip
import hashlib
import math
import os
import pickle
import shutil
import struct
import tarfile
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from actsearch.choices import TASKS, unknown
from actsearch.errors import DataError

DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")

IDX_FILES = {  # split: (images, labels)
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
IDX_IMAGE_SHAPE = (28, 28)  # MNIST and Fashion-MNIST
IDX_RELEASES = {
    "mnist": (
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        {
            "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
            "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
            "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
            "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
        },
    ),
    "fashion-mnist": (
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
        {
            "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
            "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
            "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
            "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
        },
    ),
}
CIFAR_RELEASES = {  # task: (url, md5, folder, train files, test file, label key, classes)
    "cifar10": (
        "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
        "c58f30108f718f92721af3b95e74349a",
        "cifar-10-batches-py",
        [f"data_batch_{i}" for i in range(1, 6)],
        "test_batch",
        b"labels",
        10,
    ),
    "cifar100": (
        "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz",
        "eb9058c3a382ffc7106e4002c42a8d85",
        "cifar-100-python",
        ["train"],
        "test",
        b"fine_labels",
        100,
    ),
}


@dataclass
class Dataset:
    """A whole task in memory: uint8 images (N, C, H, W), int64 labels, and how to normalize."""

    name: str
    train_x: torch.Tensor
    train_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    num_classes: int
    scale: float  # raw value -> [0, 1]
    mean: tuple[float, ...]  # per channel, after scaling
    std: tuple[float, ...]
    augment: bool  # random flip and pad-and-crop in training (CIFAR)
    source: str  # where the data came from, recorded with every run

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return tuple(self.train_x.shape[1:])  # type: ignore[return-value]


def default_data_dir() -> Path:
    if os.environ.get("ACTSEARCH_DATA"):
        return Path(os.environ["ACTSEARCH_DATA"]).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache) / "actsearch" / "data"


def load_task(task: str, data_dir: str | Path | None = None, download: bool = True) -> Dataset:
    """Load a task by name; raise DataError with a fix when its files are missing or damaged."""
    if task not in TASKS:
        raise DataError(unknown("task", task, TASKS))
    root = Path(data_dir).expanduser() if data_dir else default_data_dir()
    if task == "digits":
        return _load_digits()
    if task in IDX_RELEASES:
        return _load_idx_task(task, root, download)
    return _load_cifar(task, root, download)


# --- digits ---------------------------------------------------------------------------------


def _load_digits() -> Dataset:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    bunch = load_digits()
    images = bunch.images.astype(np.uint8)[:, None]  # values 0..16
    labels = bunch.target.astype(np.int64)
    # A fixed seeded stratified split, the same on every machine.
    tr_x, te_x, tr_y, te_y = train_test_split(
        images, labels, test_size=0.2, random_state=0, stratify=labels
    )
    return _dataset("digits", tr_x, tr_y, te_x, te_y, 10, 1 / 16, augment=False,
                    source="sklearn.datasets.load_digits")


def _dataset(name, tr_x, tr_y, te_x, te_y, classes, scale, augment, source) -> Dataset:
    train_x = torch.from_numpy(np.array(tr_x, dtype=np.uint8))  # a writable copy
    scaled = train_x.double() * scale
    dims = [0, 2, 3]
    mean = tuple(scaled.mean(dim=dims).tolist())
    std = tuple(max(s, 1e-6) for s in scaled.std(dim=dims).tolist())
    return Dataset(
        name=name,
        train_x=train_x,
        train_y=torch.from_numpy(np.ascontiguousarray(tr_y)).long(),
        test_x=torch.from_numpy(np.array(te_x, dtype=np.uint8)),
        test_y=torch.from_numpy(np.ascontiguousarray(te_y)).long(),
        num_classes=classes,
        scale=scale,
        mean=mean,
        std=std,
        augment=augment,
        source=source,
    )


# --- IDX (MNIST, Fashion-MNIST) -------------------------------------------------------------


def _one_line(exc: BaseException) -> str:
    """An exception's message on one line (an unpickling error's may hold several)."""
    return " ".join(str(exc).split())


def read_idx(path: Path, expected_dims: int) -> np.ndarray:
    """Parse one gzip'd IDX file (big-endian header: magic 0x0000 08 nd, then nd uint32 sizes)."""
    try:
        with gzip.open(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise DataError(f"{path} is not a readable gzip file ({_one_line(exc)}); delete it and download "
                        "it again") from None
    if len(raw) < 4:
        raise DataError(f"{path} is truncated (no IDX header); delete it and download it again")
    zero, dtype_code, ndim = struct.unpack(">HBB", raw[:4])
    if zero != 0 or dtype_code != 0x08 or ndim != expected_dims:
        raise DataError(f"{path} is not an IDX file of {expected_dims}-d unsigned bytes "
                        f"(header {raw[:4].hex()}); check the file name and its contents")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"{path} is truncated (its IDX header announces {ndim} sizes, the file ends before "
                        "them); delete it and download it again")
    shape = struct.unpack(f">{ndim}I", raw[4:header])
    count = math.prod(shape)  # Python ints: numpy's product of 2**22 * 2**22 * 2**20 wraps to 0
    if len(raw) - header != count:
        raise DataError(f"{path} is truncated or corrupted: the header announces {count} bytes "
                        f"of data, the file has {len(raw) - header}; delete it and download it again")
    try:
        return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)
    except ValueError:  # no data and sizes like (0, 2**32 - 1, 2**32 - 1), which numpy cannot shape
        raise DataError(f"{path} is corrupted: its IDX header announces sizes {list(shape)}; delete it and "
                        "download it again") from None


def _idx_folder(task: str, root: Path, download: bool) -> Path:
    url, md5s = IDX_RELEASES[task]
    candidates = [root / task, root]
    if task == "fashion-mnist":
        candidates.append(DEBIAN_FASHION_MNIST)
    for folder in candidates:
        if all((folder / name).is_file() for name in md5s):
            return folder
    folder = root / task
    missing = [n for n in md5s if not (folder / n).is_file()]
    if not download:
        raise DataError(f"{task}: missing {', '.join(missing)} in {folder}; put the IDX .gz files "
                        "there or pass --data-dir")
    for name in missing:
        fetch(url + name, folder / name, md5s[name], task)
    return folder


def _load_idx_task(task: str, root: Path, download: bool) -> Dataset:
    folder = _idx_folder(task, root, download)
    arrays = {}
    for split, (images, labels) in IDX_FILES.items():
        x = read_idx(folder / images, 3)
        y = read_idx(folder / labels, 1)
        if len(x) != len(y):
            raise DataError(f"{folder}: {images} has {len(x)} images but {labels} has {len(y)} "
                            "labels; the files do not belong together")
        if len(x) == 0:
            raise DataError(f"{folder / images} holds no images (a valid but empty {split} split); put the "
                            "release's files there, or delete them to download them again")
        if x.shape[1:] != IDX_IMAGE_SHAPE:
            raise DataError(f"{folder / images} holds {x.shape[1]}x{x.shape[2]} images, not the release's "
                            f"{IDX_IMAGE_SHAPE[0]}x{IDX_IMAGE_SHAPE[1]}; put the right files there")
        if y.max() >= 10:
            raise DataError(f"{folder / labels}: label {int(y.max())} is out of range 0..9; the file is "
                            "damaged or of another data set")
        arrays[split] = (x[:, None], y.astype(np.int64))
    (tr_x, tr_y), (te_x, te_y) = arrays["train"], arrays["test"]
    return _dataset(task, tr_x, tr_y, te_x, te_y, 10, 1 / 255, augment=False, source=str(folder))


# --- CIFAR (python pickle batches) ----------------------------------------------------------


class _CifarUnpickler(pickle.Unpickler):
    """Unpickles only what a CIFAR batch holds (dicts, lists, bytes, numpy arrays).

    A pickle can run any code on load; the CIFAR releases are pickles, so this refuses every
    global except the few numpy reconstructors their arrays need.
    """

    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("_codecs", "encode"),  # how Python 3 writes bytes inside protocol-2 pickles
    }

    def find_class(self, module, name):
        if (module, name) in self.ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}")


def read_cifar_batch(path: Path, label_key: bytes, classes: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(uint8 images (N, 3, 32, 32), int64 labels (N,)) of one batch; labels checked to lie in
    0..classes-1 when ``classes`` is given. Every problem is a DataError naming the file."""
    try:
        with open(path, "rb") as f:
            batch = _CifarUnpickler(f, encoding="bytes").load()
    except FileNotFoundError:
        raise DataError(f"{path} is missing; put the extracted CIFAR folder there or pass "
                        "--data-dir") from None
    except Exception as exc:  # any unpickling failure means a damaged or foreign file
        raise DataError(f"{path} is not a valid CIFAR batch ({type(exc).__name__}: {_one_line(exc)}); "
                        "delete the folder and download it again") from None
    if not isinstance(batch, dict) or b"data" not in batch or label_key not in batch:
        raise DataError(f"{path} has no {b'data'!r} and {label_key!r} entries; is it the right "
                        "CIFAR release?")
    damaged = "the file is damaged; delete the folder and download it again"
    try:
        data = np.asarray(batch[b"data"])
        labels = np.asarray(batch[label_key])
    except (ValueError, TypeError, OverflowError):  # ragged nested lists and the like
        raise DataError(f"{path}: its data or labels are not arrays; {damaged}") from None
    if labels.ndim != 1 or labels.size and not np.issubdtype(labels.dtype, np.integer):
        raise DataError(f"{path}: labels are not integers (a {labels.dtype} array of shape {labels.shape}); {damaged}")
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072 or len(data) != len(labels):
        raise DataError(f"{path}: expected uint8 data of shape (N, 3072) and N labels, got "
                        f"{data.dtype} {data.shape} and {len(labels)} labels; {damaged}")
    labels = labels.astype(np.int64)  # any integer dtype, in range once checked below
    if classes is not None and labels.size and (labels.min() < 0 or labels.max() >= classes):
        bad = labels[(labels < 0) | (labels >= classes)][0]
        raise DataError(f"{path}: label {int(bad)} is outside 0..{classes - 1}; {damaged}")
    return data.reshape(-1, 3, 32, 32), labels


def _load_cifar(task: str, root: Path, download: bool) -> Dataset:
    url, md5, folder_name, train_files, test_file, label_key, classes = CIFAR_RELEASES[task]
    folder = root / folder_name
    if not folder.is_dir():
        if not download:
            raise DataError(f"{task}: {folder} does not exist; extract {url.rsplit('/', 1)[1]} "
                            f"under {root} or pass --data-dir")
        archive = root / url.rsplit("/", 1)[1]
        if not archive.is_file():
            fetch(url, archive, md5, task)
        _extract(archive, root, folder_name)
    parts = [read_cifar_batch(folder / name, label_key, classes) for name in train_files]
    tr_x = np.concatenate([p[0] for p in parts])
    tr_y = np.concatenate([p[1] for p in parts])
    te_x, te_y = read_cifar_batch(folder / test_file, label_key, classes)
    for x, what in ((tr_x, ", ".join(train_files)), (te_x, test_file)):
        if len(x) == 0:
            raise DataError(f"{folder}: {what} hold(s) no images; delete the folder and download it again")
    return _dataset(task, tr_x, tr_y, te_x, te_y, classes, 1 / 255, augment=True, source=str(folder))


def _safe_extract(tar: tarfile.TarFile, dest: Path) -> None:
    """Extract plain files and folders inside ``dest`` only (no links, no absolute or ../ paths)."""
    if hasattr(tarfile, "data_filter"):  # Python >= 3.10.12 / 3.11.4
        tar.extractall(dest, filter="data")
        return
    root = dest.resolve()
    for member in tar.getmembers():
        target = (dest / member.name).resolve()
        if not (member.isfile() or member.isdir()) or root not in (target, *target.parents):
            raise DataError(f"refusing to extract {member.name!r}: not a plain file inside the archive's folder")
    tar.extractall(dest)


def _extract(archive: Path, root: Path, folder_name: str) -> None:
    """Extract into a temporary folder, then rename: a crash never leaves a half folder."""
    with tempfile.TemporaryDirectory(dir=root, prefix=".extract-") as tmp:
        try:
            with tarfile.open(archive, "r:gz") as tar:
                _safe_extract(tar, Path(tmp))
        except (tarfile.TarError, OSError, EOFError) as exc:
            raise DataError(f"{archive} cannot be extracted ({_one_line(exc)}); delete it and download it "
                            "again") from None
        extracted = Path(tmp) / folder_name
        if not extracted.is_dir():
            raise DataError(f"{archive} has no {folder_name}/ folder; is it the right release?")
        extracted.rename(root / folder_name)


# --- downloading ----------------------------------------------------------------------------


def md5sum(path: Path) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _open_url(url: str):
    """The one network call (tests patch it)."""
    return urllib.request.urlopen(url, timeout=60)


def fetch(url: str, dest: Path, md5: str, task: str) -> None:
    """Download ``url`` to ``dest`` through a temporary file renamed only once the MD5 matches."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    tmp = Path(tmp_name)
    try:
        try:
            with os.fdopen(fd, "wb") as out, _open_url(url) as response:
                shutil.copyfileobj(response, out, 1 << 20)
        except (urllib.error.URLError, OSError, ValueError) as exc:
            reason = getattr(exc, "reason", exc)
            raise DataError(
                f"{task}: cannot download {url} ({reason}); download it yourself and put it at "
                f"{dest}, or pass --data-dir to a folder that has it"
            ) from None
        got = md5sum(tmp)
        if got != md5:
            raise DataError(
                f"{task}: {url} downloaded with MD5 {got}, expected {md5}; the download is "
                f"corrupted or not the official file. Nothing was kept; try again or put the "
                f"verified file at {dest}"
            )
        tmp.replace(dest)
    finally:
        tmp.unlink(missing_ok=True)


__all__ = ["Dataset", "TASKS", "default_data_dir", "fetch", "load_task", "read_cifar_batch", "read_idx"]
