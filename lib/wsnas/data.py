"""CIFAR-10 with the NAS-Bench-101 split, held as uint8 tensors on the training device.

NB-101 (google-research/nasbench@1a4485305ffa4b987466dfd899d5b87a5697dd38,
`nasbench/scripts/generate_cifar10_tfrecords.py`) trains on the official `data_batch_1`..`4`
(40,000 images), validates on `data_batch_5` (10,000) and tests on `test_batch` (10,000).
The authors of the paper take the same split (torchvision's training set, indices 40,000-49,999
as validation). Two sources:

* ``lossless``: the official python batches (`cifar-10-batches-py/`), read with the restricted
  unpickler. The split is NB-101's exactly, in the official order.
* ``embedded``: `data/cifar10_jpeg_q75.tar.gz`, a JPEG (quality 75) copy numbered per class in the
  official order (`train/<class>/0000.jpg` is the class's first image in batches 1..5). Which
  batch an image came from is not recorded, so batch 5 cannot be singled out: we validate on the
  last 1,000 images of every class (numbers 4000-4999) and train on the first 4,000. Batch 5 is
  the last of the five, so these are mostly batch 5's images; but the official batches are not
  class-balanced (CIFAR-10's page: a batch may hold more images of one class than another), so
  batch 5's per-class counts, hence its exact membership, cannot be recovered from this copy. The
  pixels differ from the originals by the JPEG error (RMSE 6-11 per pixel). Good for offline demos
  and tests; the `paper` profile refuses it.
"""

from __future__ import annotations

import ctypes
import hashlib
import io
import tarfile
import warnings
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from . import safe_pickle
from .datafiles import atomic_path, data_path, user_cache_dir
from .profiles import PRECISION_SETTINGS
from .settings import TrainConfig

CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
# The authors' normalisation constants (utils.data_transforms_cifar10 in their repository).
CIFAR10_MEAN = (0.49139968, 0.48215827, 0.44653124)
CIFAR10_STD = (0.24703233, 0.24348505, 0.26158768)
EMBEDDED_ARCHIVE = "cifar10_jpeg_q75.tar.gz"
LOSSLESS_FOLDER = "cifar-10-batches-py"
TRAIN_BATCHES = ("data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4")
VALID_BATCH = "data_batch_5"
TEST_BATCH = "test_batch"
EMBEDDED_VALID_PER_CLASS = 1000
SOURCES = ("auto", "lossless", "embedded")
GET_LOSSLESS = (
    "download the official CIFAR-10 python version (https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz, "
    "md5 c58f30108f718f92721af3b95e74349a), extract it and pass its folder as `root` "
    "(or call wsnas.data.download_cifar10(root) where torchvision is installed); offline, set "
    "data_source=embedded to use the embedded JPEG q75 copy instead (lossy; its outputs say so)"
)


class DataSourceError(RuntimeError):
    """The requested CIFAR-10 source is missing, unreadable or not allowed."""


@dataclass(frozen=True)
class CifarSplit:
    """The NB-101 split as uint8 NCHW images and int64 labels on one device."""

    train_images: torch.Tensor
    train_labels: torch.Tensor
    valid_images: torch.Tensor
    valid_labels: torch.Tensor
    test_images: torch.Tensor
    test_labels: torch.Tensor
    source: str  # "lossless" or "embedded"
    description: str  # where the images came from and how the split was made

    @property
    def device(self) -> torch.device:
        return self.train_images.device


# --------------------------------------------------------------------------------------------
# Loading


def load_cifar10(
    source: str = "auto",
    root: str | Path | None = None,
    device: str | torch.device = "cpu",
    train_subset: int | None = None,
    subset_seed: int = 0,
    allow_lossy: bool = True,
) -> CifarSplit:
    """CIFAR-10 with the NB-101 split; `auto` takes the lossless batches under `root` when present.

    `allow_lossy=False` stops `auto` from falling back to the embedded JPEG copy; asking for
    `embedded` by name always gives it (its description then says "JPEG q75").
    """
    if source not in SOURCES:
        raise DataSourceError(f"unknown CIFAR-10 source {source!r}; choose one of {SOURCES}")
    folder = _lossless_folder(root) if root is not None else None
    if source == "lossless" and folder is None:
        raise DataSourceError(f"no official CIFAR-10 batches under root={root!r}: {GET_LOSSLESS}")
    requested = source
    if source == "auto":
        source = "lossless" if folder is not None else "embedded"
    if source == "embedded" and requested == "auto" and not allow_lossy:  # an explicit "embedded" is a choice
        raise DataSourceError(
            "this profile needs the lossless CIFAR-10 and refuses the embedded JPEG copy "
            f"(root={root!r} holds no `{LOSSLESS_FOLDER}`): {GET_LOSSLESS}"
        )
    arrays, description = _read_lossless(folder) if source == "lossless" else _read_embedded()
    if train_subset is not None:
        keep = balanced_subset(arrays["train_labels"], train_subset, subset_seed)
        arrays["train_images"], arrays["train_labels"] = arrays["train_images"][keep], arrays["train_labels"][keep]
        description += f"; training set subsampled to {train_subset:,} images (class-balanced, seed {subset_seed})"
    tensors = {name: torch.from_numpy(np.ascontiguousarray(array)).to(device) for name, array in arrays.items()}
    for name in ("train_labels", "valid_labels", "test_labels"):
        tensors[name] = tensors[name].long()
    return CifarSplit(**tensors, source=source, description=description)


def balanced_subset(labels: np.ndarray, size: int, seed: int) -> np.ndarray:
    """Sorted indices of `size` images, as equal a number per class as possible, chosen by `seed`."""
    if not 10 <= size <= len(labels):
        raise ValueError(f"train_subset must be between 10 and {len(labels):,}, got {size!r}")
    rng = np.random.default_rng(seed)
    order = np.lexsort((rng.random(len(labels)), labels))  # by class, random within class
    sorted_labels = labels[order]
    class_start = np.searchsorted(sorted_labels, sorted_labels, side="left")
    rank_in_class = np.arange(len(labels)) - class_start
    # Ranks interleave the classes, so the first `size` of this order are balanced.
    balanced = order[np.lexsort((sorted_labels, rank_in_class))][:size]
    return np.sort(balanced)


def _lossless_folder(root: str | Path) -> Path | None:
    root = Path(root).expanduser()
    for folder in (root / LOSSLESS_FOLDER, root):
        if all((folder / name).is_file() for name in (*TRAIN_BATCHES, VALID_BATCH, TEST_BATCH)):
            return folder
    return None


def _read_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    try:
        batch = safe_pickle.load(path)
    except Exception as error:  # a truncated or foreign file: say which one
        raise DataSourceError(f"cannot read CIFAR-10 batch {path}: {error}; {GET_LOSSLESS}") from error
    batch = {key.decode() if isinstance(key, bytes) else key: value for key, value in batch.items()}
    images = np.asarray(batch["data"], dtype=np.uint8).reshape(-1, 3, 32, 32)
    return images, np.asarray(batch["labels"], dtype=np.int64)


def _read_lossless(folder: Path) -> tuple[dict[str, np.ndarray], str]:
    train = [_read_batch(folder / name) for name in TRAIN_BATCHES]
    valid_images, valid_labels = _read_batch(folder / VALID_BATCH)
    test_images, test_labels = _read_batch(folder / TEST_BATCH)
    arrays = {
        "train_images": np.concatenate([images for images, _ in train]),
        "train_labels": np.concatenate([labels for _, labels in train]),
        "valid_images": valid_images,
        "valid_labels": valid_labels,
        "test_images": test_images,
        "test_labels": test_labels,
    }
    description = f"lossless CIFAR-10 from {folder}: NB-101 split (train data_batch_1-4, valid data_batch_5, test test_batch)"
    return arrays, description


def _read_embedded() -> tuple[dict[str, np.ndarray], str]:
    archive = data_path(EMBEDDED_ARCHIVE)
    images, labels, numbers, is_test = _embedded_arrays(archive)
    is_valid = ~is_test & (numbers >= 5000 - EMBEDDED_VALID_PER_CLASS)
    is_train = ~is_test & ~is_valid
    arrays = {
        "train_images": images[is_train],
        "train_labels": labels[is_train],
        "valid_images": images[is_valid],
        "valid_labels": labels[is_valid],
        "test_images": images[is_test],
        "test_labels": labels[is_test],
    }
    description = (
        f"embedded JPEG q75 copy data/{EMBEDDED_ARCHIVE} (lossy): train = images 0-3999 of each class, "
        "valid = images 4000-4999 of each class (approximates NB-101's data_batch_5), test = test set"
    )
    return arrays, description


# --------------------------------------------------------------------------------------------
# The decoded cache of the embedded archive


def _embedded_arrays(archive: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(images uint8 NCHW, labels, per-class number, is_test) of every image in the archive, cached."""
    archive_sha = hashlib.sha256(archive.read_bytes()).hexdigest()
    cache = user_cache_dir() / f"cifar10_jpeg_q75_{archive_sha[:16]}.npz"
    if cache.exists():
        arrays, problem = _read_cache(cache)
        if problem is None:
            return arrays
        warnings.warn(f"decoded CIFAR-10 cache {cache} is unusable ({problem}); rebuilding it", stacklevel=3)
    arrays = _decode_archive(archive)
    with atomic_path(cache) as temporary:
        with open(temporary, "wb") as handle:
            np.savez(handle, images=arrays[0], labels=arrays[1], numbers=arrays[2], is_test=arrays[3],
                     checksum=np.frombuffer(_checksum(*arrays), dtype=np.uint8))
    return arrays


def _checksum(*arrays: np.ndarray) -> bytes:
    digest = hashlib.sha256()
    for array in arrays:
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.digest()


def _read_cache(cache: Path) -> tuple[tuple | None, str | None]:
    try:
        with np.load(cache) as stored:
            arrays = tuple(stored[name] for name in ("images", "labels", "numbers", "is_test"))
            checksum = stored["checksum"].tobytes()
    except Exception as error:  # truncated zip, missing member, bad header: all mean "rebuild"
        return None, f"{type(error).__name__}: {error}"
    if checksum != _checksum(*arrays):
        return None, "checksum mismatch"
    return arrays, None


def _decode_archive(archive: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    images, labels, numbers, is_test = [], [], [], []
    with tarfile.open(archive, "r:gz") as tar:
        for member in tar:
            parts = member.name.strip("./").split("/")
            if not member.isfile() or len(parts) != 3 or not parts[2].endswith(".jpg"):
                continue
            split, class_name, file_name = parts
            payload = tar.extractfile(member).read()
            with Image.open(io.BytesIO(payload)) as image:
                images.append(np.asarray(image.convert("RGB"), dtype=np.uint8))
            labels.append(CLASSES.index(class_name))
            numbers.append(int(file_name[:-4]))
            is_test.append(split == "test")
    order = np.lexsort((numbers, labels, is_test))  # train then test, by class, by number
    stacked = np.stack(images).transpose(0, 3, 1, 2)[order]
    arrays = (np.ascontiguousarray(stacked), np.asarray(labels, np.int64)[order],
              np.asarray(numbers, np.int64)[order], np.asarray(is_test, bool)[order])
    expected = {False: 50_000, True: 10_000}
    for test_flag, count in expected.items():
        if (arrays[3] == test_flag).sum() != count:
            raise DataSourceError(f"{archive} holds {(arrays[3] == test_flag).sum()} images for split "
                                  f"{'test' if test_flag else 'train'}, expected {count}")
    return arrays


def download_cifar10(root: str | Path) -> Path:
    """Download the lossless CIFAR-10 into `root` with torchvision (md5-checked) and return `root`."""
    try:
        from torchvision.datasets import CIFAR10  # noqa: PLC0415 (optional: only the lossless download needs it)
    except Exception as error:  # torchvision absent or built for another torch
        raise DataSourceError(f"torchvision does not import here ({error}); instead {GET_LOSSLESS}") from error
    CIFAR10(str(root), train=True, download=True)
    return Path(root)


# --------------------------------------------------------------------------------------------
# On-device preprocessing


def normalise(images: torch.Tensor) -> torch.Tensor:
    """uint8 NCHW images to float32, scaled to [0, 1] and standardised with the CIFAR-10 mean/std."""
    mean = torch.tensor(CIFAR10_MEAN, device=images.device).view(1, 3, 1, 1)
    std = torch.tensor(CIFAR10_STD, device=images.device).view(1, 3, 1, 1)
    return (images.float() / 255.0 - mean) / std


MEMORY_FORMATS = {"contiguous": torch.contiguous_format, "channels_last": torch.channels_last}


def memory_format(name: str) -> torch.memory_format:
    """The torch memory format of a profile's `memory_format` setting."""
    if name not in MEMORY_FORMATS:
        raise ValueError(f"unknown memory_format {name!r}; choose one of {sorted(MEMORY_FORMATS)}")
    return MEMORY_FORMATS[name]


PRECISIONS = tuple(setting for setting in PRECISION_SETTINGS if setting != "auto")  # fp32, bf16: what auto resolves to


def native_bf16(device: torch.device | str) -> bool:
    """Whether `device` computes bf16 in hardware: a CUDA GPU with bf16, or a CPU with AVX-512 BF16 or AMX.

    Elsewhere (an AVX2 CPU) oneDNN emulates bf16 and a training step is 2-5x slower than fp32.
    """
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        return torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported()
    return False


# glibc's mallopt parameters (malloc.h): M_TRIM_THRESHOLD, M_MMAP_THRESHOLD
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
_KEEP_BYTES = 1 << 30
_LARGEST_INT = 2**31 - 1  # mallopt takes a C int


@cache
def keep_freed_memory() -> bool:
    """Let this process reuse the memory of freed tensors instead of handing it back to the OS (glibc only).

    By default glibc serves large allocations (above 128 KiB, a threshold it raises adaptively up to 32 MiB) with
    mmap and unmaps them on free, so each activation of a forward pass is a fresh mapping whose pages fault in
    zeroed: about 100,000 page faults and 30-45 % of the CPU time of a cpu-study evaluation (benchmarks/RESULTS.md). Raising the mmap threshold to 1 GiB and the trim threshold to 2 GiB keeps
    freed blocks in the heap for the next batch. Arithmetic is unchanged; the process keeps its peak memory. Returns
    whether the thresholds were set (False where the C library is not glibc).
    """
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return False
    return bool(libc.mallopt(_M_MMAP_THRESHOLD, _KEEP_BYTES)) and bool(libc.mallopt(_M_TRIM_THRESHOLD, _LARGEST_INT))


def _check_precision_setting(setting: str) -> None:
    if setting not in PRECISION_SETTINGS:
        raise ValueError(f"unknown precision {setting!r}; choose one of {list(PRECISION_SETTINGS)}")


def training_precision(setting: str, device: torch.device | str) -> str:
    """The precision a training step runs in: `setting`, with auto = bf16 where `device` has native bf16, else fp32.

    bf16 training passed the learning-curve check and is the fastest step on such CPUs (benchmarks/RESULTS.md).
    """
    _check_precision_setting(setting)
    if setting == "auto":
        return "bf16" if native_bf16(device) else "fp32"
    return setting


def validation_precision(setting: str, device: torch.device | str = "cpu") -> str:
    """The precision of the validation passes (a profile's `eval_precision`): `setting`, with auto = bf16 where
    `device` has native bf16, else fp32.

    On a CPU with native bf16 the bf16 evaluation passes the ranking check (Spearman against fp32 >= 0.99, ρ with
    NB-101 within 0.01) and is the fastest; elsewhere oneDNN emulates bf16 and it is slower (benchmarks/RESULTS.md).
    """
    return training_precision(setting, device)


def precision_context(device: torch.device | str, precision: str) -> torch.autocast:
    """bf16 autocast on `device` when `precision` is bf16; a disabled (no-op) autocast for fp32."""
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; choose one of {list(PRECISIONS)}")
    return torch.autocast(device_type=torch.device(device).type, dtype=torch.bfloat16, enabled=precision == "bf16")


def augmentation_draws(count: int, generator: torch.Generator, padding: int = 4) -> tuple[torch.Tensor, torch.Tensor]:
    """The random numbers `augment` draws for a batch of `count`: crop offsets (2, count) and flips (count)."""
    offsets = torch.randint(0, 2 * padding + 1, (2, count), generator=generator)
    flips = torch.rand(count, generator=generator) < 0.5
    return offsets, flips


def augment(images: torch.Tensor, generator: torch.Generator, padding: int = 4,
            layout: str = "contiguous") -> torch.Tensor:
    """Random crop after zero-padding by `padding`, then random horizontal flip, for a whole uint8 batch."""
    count, _, height, width = images.shape
    padded = F.pad(images, (padding,) * 4)
    offsets, flips = (draws.to(images.device) for draws in augmentation_draws(count, generator, padding))
    rows = offsets[0, :, None] + torch.arange(height, device=images.device)  # (N, H)
    cols = offsets[1, :, None] + torch.arange(width, device=images.device)  # (N, W)
    cols = torch.where(flips[:, None], cols.flip(1), cols)
    batch = torch.arange(count, device=images.device)[:, None, None]
    cropped = padded[batch, :, rows[:, :, None], cols[:, None, :]]  # (N, H, W, C): advanced dims first
    # (N, H, W, C) permuted to NCHW is channels-last already; one copy gives either layout
    return cropped.permute(0, 3, 1, 2).contiguous(memory_format=memory_format(layout))


def batches_per_epoch(num_images: int, batch_size: int) -> int:
    """Mini-batches in one pass, the last one partial (40,000 / 256 -> 157, as in the paper)."""
    return -(-num_images // batch_size)


def epoch_batches(split: CifarSplit, batch_size: int, generator: torch.Generator,
                  layout: str = "contiguous") -> EpochBatches:
    """(normalised augmented images, labels) mini-batches of one shuffled pass over the training set."""
    return EpochBatches(split, batch_size, generator, layout)


class EpochBatches:
    """Iterator over one shuffled pass of (normalised augmented images, labels) training mini-batches.

    `skip()` passes over the next batch without building it: its random draws are still made, so every batch after
    it is the one plain iteration gives (BNS-FT from the last of 4 batches needs only the fourth).
    """

    def __init__(self, split: CifarSplit, batch_size: int, generator: torch.Generator, layout: str = "contiguous"):
        self.split, self.batch_size, self.generator, self.layout = split, batch_size, generator, layout
        self._order: torch.Tensor | None = None  # drawn at the first batch, as a generator function would
        self._start = 0

    def __iter__(self) -> EpochBatches:
        return self

    def __next__(self) -> tuple[torch.Tensor, torch.Tensor]:
        index = self._next_index()
        images = augment(self.split.train_images[index], self.generator, layout=self.layout)
        return normalise(images), self.split.train_labels[index]

    def skip(self) -> None:
        """Advance past the next batch (StopIteration at the end of the pass) without building it."""
        augmentation_draws(len(self._next_index()), self.generator)

    def _next_index(self) -> torch.Tensor:
        if self._order is None:
            self._order = torch.randperm(len(self.split.train_labels), generator=self.generator).to(self.split.device)
        if self._start >= len(self._order):
            raise StopIteration
        index = self._order[self._start : self._start + self.batch_size]
        self._start += self.batch_size
        return index


class TrainingBatches:
    """Re-iterable (normalised, augmented) training mini-batches: every iter() starts a fresh shuffled pass.

    One generator seeded once drives all passes, so the sequence of batches is fixed by `seed`
    (BNS-FT takes its statistics batches from it).
    """

    def __init__(self, split: CifarSplit, batch_size: int, seed: int, layout: str = "contiguous"):
        self.split, self.batch_size, self.layout = split, batch_size, layout
        self.generator = torch.Generator().manual_seed(seed)

    def __iter__(self):
        return epoch_batches(self.split, self.batch_size, self.generator, self.layout)


def eval_batches(images: torch.Tensor, labels: torch.Tensor, batch_size: int = 1000, layout: str = "contiguous"):
    """Yield normalised, un-augmented (images, labels) in order."""
    for start in range(0, len(labels), batch_size):
        batch = normalise(images[start : start + batch_size]).contiguous(memory_format=memory_format(layout))
        yield batch, labels[start : start + batch_size]


def load_training_data(config: TrainConfig) -> CifarSplit:
    """The CIFAR-10 split a run trains and evaluates on, as its settings choose it (source, subset, device)."""
    return load_cifar10(config.data_source, root=config.data_root or None, device=config.device,
                        train_subset=config.train_subset or None, subset_seed=config.seed,
                        allow_lossy=config.allow_lossy)

