"""wsnas.data on the embedded CIFAR-10 copy (real images from data/)."""

from __future__ import annotations

import io
import pickle
import shutil
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from wsnas import data
from wsnas.datafiles import data_path


@pytest.fixture(scope="module")
def split() -> data.CifarSplit:
    return data.load_cifar10("embedded")


def _jpegs(*names: str) -> list[np.ndarray]:
    """The named images decoded straight from the archive (one pass), CHW."""
    found = {}
    with tarfile.open(data_path(data.EMBEDDED_ARCHIVE), "r:gz") as tar:
        for member in tar:
            if member.name.strip("./") in names:
                with Image.open(io.BytesIO(tar.extractfile(member).read())) as image:
                    found[member.name.strip("./")] = np.asarray(image.convert("RGB")).transpose(2, 0, 1)
    assert set(found) == set(names), f"missing from the archive: {set(names) - set(found)}"
    return [found[name] for name in names]


def test_embedded_split_has_nb101_sizes_and_balanced_validation(split):
    assert split.source == "embedded"
    assert split.train_images.shape == (40_000, 3, 32, 32) and split.train_images.dtype == torch.uint8
    assert split.valid_images.shape == (10_000, 3, 32, 32)
    assert split.test_images.shape == (10_000, 3, 32, 32)
    assert torch.bincount(split.train_labels).tolist() == [4000] * 10
    assert torch.bincount(split.valid_labels).tolist() == [1000] * 10
    assert torch.bincount(split.test_labels).tolist() == [1000] * 10


def test_embedded_validation_is_the_last_thousand_of_each_class(split):
    # Arrays are ordered by class then number: valid row 1000·c + j is image 4000 + j of class c.
    bird, truck, dog = _jpegs("train/bird/4999.jpg", "train/truck/0000.jpg", "test/dog/0017.jpg")
    assert np.array_equal(split.valid_images[1000 * 2 + 999].numpy(), bird)
    assert np.array_equal(split.train_images[4000 * 9].numpy(), truck)
    assert np.array_equal(split.test_images[1000 * 5 + 17].numpy(), dog)


def _write_official_batches(folder, split):
    """An official-layout cifar-10-batches-py built from the embedded images, shuffled like the real one."""
    folder.mkdir()
    images = torch.cat([split.train_images, split.valid_images]).numpy()
    labels = torch.cat([split.train_labels, split.valid_labels]).numpy()
    order = np.random.default_rng(0).permutation(len(labels))
    names = [*data.TRAIN_BATCHES, data.VALID_BATCH]
    for number, name in enumerate(names):
        rows = order[10_000 * number : 10_000 * (number + 1)]
        batch = {"batch_label": name, "labels": labels[rows].tolist(), "data": images[rows].reshape(-1, 3072)}
        (folder / name).write_bytes(pickle.dumps(batch, protocol=4))
    test = {"batch_label": "test", "labels": split.test_labels.tolist(), "data": split.test_images.numpy().reshape(-1, 3072)}
    (folder / data.TEST_BATCH).write_bytes(pickle.dumps(test, protocol=4))
    return images[order], labels[order]


def test_lossless_reader_takes_batches_1_to_4_for_training_and_5_for_validation(tmp_path, split):
    images, labels = _write_official_batches(tmp_path / data.LOSSLESS_FOLDER, split)
    lossless = data.load_cifar10("auto", root=tmp_path)
    assert lossless.source == "lossless"
    assert np.array_equal(lossless.train_images.numpy(), images[:40_000])
    assert np.array_equal(lossless.valid_images.numpy(), images[40_000:])
    assert np.array_equal(lossless.valid_labels.numpy(), labels[40_000:])
    assert np.array_equal(lossless.test_images.numpy(), split.test_images.numpy())


def test_auto_falls_back_to_embedded_and_paper_settings_refuse_it(tmp_path):
    assert data.load_cifar10("auto", root=tmp_path, train_subset=100).source == "embedded"
    with pytest.raises(data.DataSourceError, match="cifar-10-python.tar.gz"):
        data.load_cifar10("auto", root=tmp_path, allow_lossy=False)
    with pytest.raises(data.DataSourceError, match="no official CIFAR-10 batches"):
        data.load_cifar10("lossless", root=tmp_path)
    with pytest.raises(data.DataSourceError, match="unknown CIFAR-10 source"):
        data.load_cifar10("jpeg")


def test_a_truncated_batch_file_is_named(tmp_path, split):
    folder = tmp_path / data.LOSSLESS_FOLDER
    _write_official_batches(folder, split)
    (folder / "data_batch_3").write_bytes((folder / "data_batch_3").read_bytes()[:5000])
    with pytest.raises(data.DataSourceError, match="data_batch_3"):
        data.load_cifar10("lossless", root=tmp_path)


def test_damaged_cache_is_detected_and_rebuilt(tmp_path, monkeypatch, split):
    monkeypatch.setenv("WSNAS_CACHE", str(tmp_path))
    monkeypatch.delenv("WSNAS_CACHE")
    archive = data_path(data.EMBEDDED_ARCHIVE)
    arrays = data._embedded_arrays(archive)  # built by the `split` fixture: read from the cache
    source_cache = next(data.user_cache_dir().glob("cifar10_jpeg_q75_*.npz"))
    monkeypatch.setenv("WSNAS_CACHE", str(tmp_path))
    cache = tmp_path / source_cache.name
    shutil.copyfile(source_cache, cache)
    # A flipped pixel is caught by the checksum stored inside the cache.
    with np.load(cache) as stored:
        members = {name: stored[name] for name in stored.files}
    members["images"] = members["images"].copy()
    members["images"][0, 0, 0, 0] ^= 1
    tampered = tmp_path / "tampered.npz"
    np.savez(tampered, **members)
    assert data._read_cache(tampered)[1] == "checksum mismatch"
    # A truncated cache is rebuilt, with a warning, to the same arrays.
    cache.write_bytes(cache.read_bytes()[:1_000_000])
    with pytest.warns(UserWarning, match="rebuilding"):
        rebuilt = data._embedded_arrays(archive)
    assert all(np.array_equal(a, b) for a, b in zip(arrays, rebuilt))
    assert data._read_cache(cache)[1] is None


def test_augment_crops_a_padded_window_and_flips(split):
    images = split.train_images[:16]
    out = data.augment(images, torch.Generator().manual_seed(3))
    again = data.augment(images, torch.Generator().manual_seed(3))
    assert out.dtype == torch.uint8 and out.shape == images.shape and torch.equal(out, again)
    padded = torch.nn.functional.pad(images, (4, 4, 4, 4))
    flipped = 0
    for image, result in zip(padded, out):
        windows = [(image[:, y : y + 32, x : x + 32], flip) for y in range(9) for x in range(9) for flip in (False, True)]
        matches = [flip for window, flip in windows if torch.equal(window.flip(2) if flip else window, result)]
        assert matches, "an augmented image is not a (flipped) crop of its padded original"
        flipped += all(matches)
    assert 0 < flipped < 16


def test_normalise_standardises_the_training_set(split):
    normalised = data.normalise(split.train_images[::8])  # every class (arrays are ordered by class)
    assert normalised.dtype == torch.float32
    assert torch.allclose(normalised.mean((0, 2, 3)), torch.zeros(3), atol=0.03)
    assert torch.allclose(normalised.std((0, 2, 3)), torch.ones(3), atol=0.03)


def test_an_epoch_visits_every_training_image_once(split):
    small = data.load_cifar10("embedded", train_subset=1000, subset_seed=1)
    labels = torch.cat([batch_labels for _, batch_labels in data.epoch_batches(small, 256, torch.Generator().manual_seed(0))])
    assert len(labels) == 1000 and data.batches_per_epoch(1000, 256) == 4
    assert torch.equal(torch.bincount(labels), torch.bincount(small.train_labels))
    assert data.batches_per_epoch(40_000, 256) == 157


def test_skipping_a_batch_leaves_every_later_batch_as_plain_iteration_gives_it():
    """BNS-FT from the last of 4 batches skips the 3 before it without building them: the batches after a skip, in
    this pass and the next, are those of a plain iteration (same random draws), and a pass still ends in
    StopIteration."""
    small = data.load_cifar10("embedded", train_subset=600, subset_seed=2)
    plain = data.TrainingBatches(small, 256, seed=3)
    expected = [batch for _ in range(2) for batch in plain]  # two passes of 3 batches
    skipping = data.TrainingBatches(small, 256, seed=3)
    got = []
    for _ in range(2):
        batches = iter(skipping)
        batches.skip()
        got += [None, next(batches)]
        batches.skip()
        got.append(None)
        with pytest.raises(StopIteration):
            batches.skip()
    for mine, theirs in zip(got, expected):
        if mine is not None:
            assert torch.equal(mine[0], theirs[0]) and torch.equal(mine[1], theirs[1])


def test_balanced_subset_is_seeded_and_balanced(split):
    labels = split.train_labels.numpy()
    first = data.balanced_subset(labels, 1005, seed=4)
    assert np.array_equal(first, data.balanced_subset(labels, 1005, seed=4))
    assert not np.array_equal(first, data.balanced_subset(labels, 1005, seed=5))
    counts = np.bincount(labels[first], minlength=10)
    assert counts.sum() == 1005 and counts.max() - counts.min() <= 1
    with pytest.raises(ValueError, match="train_subset"):
        data.balanced_subset(labels, 50_000, seed=0)


def test_precision_context_autocasts_only_for_bf16_and_names_the_choices():
    from wsnas.data import precision_context

    weights, inputs = torch.randn(4, 4), torch.randn(2, 4)
    with precision_context("cpu", "bf16"):
        assert (inputs @ weights).dtype == torch.bfloat16
    with precision_context(torch.device("cpu"), "fp32"):
        assert (inputs @ weights).dtype == torch.float32
    with pytest.raises(ValueError, match=r"unknown precision 'fp16'; choose one of \['fp32', 'bf16'\]"):
        precision_context("cpu", "fp16")


def test_auto_precision_trains_and_evaluates_in_bf16_only_where_the_cpu_has_it():
    from wsnas.data import native_bf16, training_precision, validation_precision

    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():  # torch's answer agrees with the CPU's own flags
        flags = set(cpuinfo.read_text().split())
        assert native_bf16("cpu") == bool(flags & {"avx512_bf16", "amx_bf16"})
    assert training_precision("auto", "cpu") == ("bf16" if native_bf16("cpu") else "fp32")
    assert validation_precision("auto", "cpu") == ("bf16" if native_bf16("cpu") else "fp32")
    for explicit in ("fp32", "bf16"):
        assert training_precision(explicit, "cpu") == validation_precision(explicit, "cpu") == explicit
    with pytest.raises(ValueError, match=r"unknown precision 'fp16'; choose one of \['fp32', 'bf16', 'auto'\]"):
        training_precision("fp16", "cpu")



FAULTS_OF_AN_EVALUATION = """
import resource, sys, torch
from wsnas import data
from wsnas.space import cells_at, sample_cells
from wsnas.supernet import SuperNet
if sys.argv[1] == "keep" and not data.keep_freed_memory():
    sys.exit(3)
torch.set_num_threads(1)
net = SuperNet("A4", stem_channels=16, cells_per_stack=1).eval()
cells = cells_at(sample_cells("A4", 3, seed=0))
images = torch.randn(500, 3, 32, 32)
with torch.inference_mode():
    for _ in range(2):  # until the heap holds the largest activations of these cells (how soon depends on the CPU)
        for cell in cells:
            net(images, cell)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for cell in cells:
        net(images, cell)
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def test_keeping_freed_memory_removes_the_page_faults_of_forward_passes():
    """glibc maps large activations afresh and unmaps them on free; with its thresholds raised the next forward
    pass reuses them. Page faults of a third pass over three cells, in fresh processes without and with.

    Measured (AMD EPYC, AVX2, fp32): 111k without, 0 with. Counted after one warm pass only, as this test first did,
    the heap still grew on this CPU (66k against 23k) while it had stopped on another (100-160k against 18-20k)."""
    import subprocess
    import sys

    faults = {}
    for mode in ("default", "keep"):
        done = subprocess.run([sys.executable, "-c", FAULTS_OF_AN_EVALUATION, mode], capture_output=True, text=True)
        if done.returncode == 3:
            pytest.skip("not glibc: mallopt is not available")
        assert done.returncode == 0, done.stderr[-1500:]
        faults[mode] = int(done.stdout.split()[-1])
    assert faults["default"] > 10_000 and faults["keep"] < faults["default"] / 10, faults
