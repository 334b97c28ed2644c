"""Datasets on disk -> uint8 tensors -> cached -> stratified splits, on small generated data."""

import gzip
import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision
from PIL import Image

from conftest import require_real
from ranksearch.config import DataConfig
from ranksearch.data import ImageDataset, load_dataset, make_splits, stratified_split, stratified_subset
from ranksearch.errors import UserError
from ranksearch.tensor_cache import checksum

# torchvision announces that its image codecs will move to TorchCodec; ranksearch.data still uses them.
pytestmark = pytest.mark.filterwarnings("ignore:The image decoding and encoding:DeprecationWarning")


# --- writers for torchvision's on-disk layouts -------------------------------------------------


def write_idx(path: Path, array, gz: bool = False) -> Path:
    array = np.ascontiguousarray(array, dtype=np.uint8)
    raw = bytes([0, 0, 8, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape) + array.tobytes()
    if gz:
        path = path.with_name(path.name + ".gz")
        raw = gzip.compress(raw)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(raw)
    return path


def write_idx_dataset(root: Path, sub: str = "MNIST", n_train=60, n_test=20, gz=False, seed=0):
    """ROOT/<sub>/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]; returns the arrays written."""
    rng = np.random.default_rng(seed)
    arrays = {
        "train": (rng.integers(0, 256, (n_train, 28, 28)), np.arange(n_train) % 10),
        "t10k": (rng.integers(0, 256, (n_test, 28, 28)), rng.permutation(np.arange(n_test) % 10)),
    }
    for prefix, (x, y) in arrays.items():
        write_idx(root / sub / "raw" / f"{prefix}-images-idx3-ubyte", x, gz)
        write_idx(root / sub / "raw" / f"{prefix}-labels-idx1-ubyte", y, gz)
    return arrays


def _pickle(path: Path, obj) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as fh:
        pickle.dump(obj, fh)


def write_cifar10(root: Path, per_batch=8, n_test=10, seed=0):
    """torchvision's cifar-10-batches-py: data_batch_1..5, test_batch, batches.meta."""
    rng = np.random.default_rng(seed)
    folder = root / "cifar-10-batches-py"
    names = [f"class{i}" for i in range(10)]
    batches = []
    for i in range(1, 6):
        x = rng.integers(0, 256, (per_batch, 3072), dtype=np.uint8)
        y = [int(v) for v in rng.integers(0, 10, per_batch)]
        batches.append((x, y))
        _pickle(folder / f"data_batch_{i}", {
            b"batch_label": f"training batch {i} of 5".encode(), b"labels": y, b"data": x,
            b"filenames": [f"img{i}_{j}.png".encode() for j in range(per_batch)],
        })
    tx = rng.integers(0, 256, (n_test, 3072), dtype=np.uint8)
    ty = [int(v) for v in np.arange(n_test) % 10]
    _pickle(folder / "test_batch", {b"batch_label": b"testing batch 1 of 1", b"labels": ty, b"data": tx,
                                    b"filenames": [b"t.png"] * n_test})
    _pickle(folder / "batches.meta", {b"num_cases_per_batch": per_batch, b"label_names": [n.encode() for n in names],
                                      b"num_vis": 3072})
    return batches, (tx, ty), names


def write_cifar100(root: Path, n_train=200, n_test=100, seed=0):
    """torchvision's cifar-100-python: train, test, meta (fine_labels, coarse_labels)."""
    rng = np.random.default_rng(seed)
    folder = root / "cifar-100-python"
    out = {}
    for split, n in (("train", n_train), ("test", n_test)):
        x = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
        fine = [int(v) for v in rng.permutation(np.arange(n) % 100)]
        _pickle(folder / split, {
            b"filenames": [f"{split}{j}.png".encode() for j in range(n)], b"batch_label": split.encode(),
            b"fine_labels": fine, b"coarse_labels": [v // 5 for v in fine], b"data": x,
        })
        out[split] = (x, fine)
    names = [f"fine{i:02d}" for i in range(100)]
    _pickle(folder / "meta", {b"fine_label_names": [n.encode() for n in names],
                              b"coarse_label_names": [f"coarse{i}".encode() for i in range(20)]})
    return out, names


def write_image(path: Path, img: torch.Tensor) -> None:
    """A C x H x W uint8 tensor as a PNG (lossless) or a JPEG (quality 95)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = img.permute(1, 2, 0).numpy()
    Image.fromarray(pixels[:, :, 0] if pixels.shape[2] == 1 else pixels).save(path, quality=95)


def write_image_folder(root: Path, classes=("cat", "dog", "emu"), n_train=4, n_test=2, channels=1, size=(8, 8),
                       suffix=".png", seed=0):
    """ROOT/{train,test}/<class>/<i>.png; returns {split: [(class index, image), ...]} in file order."""
    gen = torch.Generator().manual_seed(seed)
    written = {}
    for split, n in (("train", n_train), ("test", n_test)):
        written[split] = []
        for ci, c in enumerate(classes):
            for i in range(n):
                img = torch.randint(0, 256, (channels, *size), dtype=torch.uint8, generator=gen)
                write_image(root / split / c / f"{i:03d}{suffix}", img)
                written[split].append((ci, img))
    return written


# --- formats ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("name,sub", [("mnist", "MNIST"), ("fashion-mnist", "FashionMNIST")])
@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gz"])
def test_idx_round_trip(tmp_path, name, sub, gz):
    arrays = write_idx_dataset(tmp_path, sub, gz=gz)
    data = load_dataset(name, tmp_path)
    assert data.train_x.dtype == torch.uint8 and data.train_y.dtype == torch.int64
    assert data.train_x.shape == (60, 1, 28, 28) and data.test_x.shape == (20, 1, 28, 28)
    assert torch.equal(data.train_x[:, 0], torch.from_numpy(arrays["train"][0].astype(np.uint8)))
    assert torch.equal(data.train_y, torch.from_numpy(arrays["train"][1].astype(np.int64)))
    assert torch.equal(data.test_x[:, 0], torch.from_numpy(arrays["t10k"][0].astype(np.uint8)))
    assert torch.equal(data.test_y, torch.from_numpy(arrays["t10k"][1].astype(np.int64)))
    names = {"mnist": [str(i) for i in range(10)], "fashion-mnist": torchvision.datasets.FashionMNIST.classes}
    assert data.classes == names[name]  # what a saved model's .classes names its outputs by
    assert (data.in_channels, data.image_size, data.num_classes) == (1, 28, 10)


def test_truncated_idx_file_is_a_user_error_naming_it(tmp_path):
    write_idx_dataset(tmp_path)
    labels = tmp_path / "MNIST" / "raw" / "t10k-labels-idx1-ubyte"
    labels.write_bytes(labels.read_bytes()[:-3])
    with pytest.raises(UserError, match="t10k-labels-idx1-ubyte"):
        load_dataset("mnist", tmp_path)


def test_cifar10_pickles_round_trip(tmp_path):
    batches, (tx, ty), names = write_cifar10(tmp_path)
    data = load_dataset("cifar10", tmp_path)
    x = np.concatenate([b[0] for b in batches]).reshape(-1, 3, 32, 32)
    y = [v for b in batches for v in b[1]]
    assert data.train_x.shape == (40, 3, 32, 32) and data.train_x.dtype == torch.uint8
    assert torch.equal(data.train_x, torch.from_numpy(x))
    assert data.train_y.tolist() == y
    assert torch.equal(data.test_x, torch.from_numpy(tx.reshape(-1, 3, 32, 32)))
    assert data.test_y.tolist() == ty
    assert data.classes == names
    # channel-major rows: the first 1024 bytes of a row are the red plane
    assert torch.equal(data.train_x[0, 0].flatten(), torch.from_numpy(batches[0][0][0, :1024]))


def test_cifar100_pickles_use_fine_labels(tmp_path):
    out, names = write_cifar100(tmp_path)
    data = load_dataset("cifar100", tmp_path)
    assert data.train_x.shape == (200, 3, 32, 32) and data.test_x.shape == (100, 3, 32, 32)
    assert torch.equal(data.train_x, torch.from_numpy(out["train"][0].reshape(-1, 3, 32, 32)))
    assert data.train_y.tolist() == out["train"][1]
    assert data.test_y.tolist() == out["test"][1]
    assert data.classes == names and data.num_classes == 100


def test_image_folder_grey_png_round_trips_exactly(tmp_path):
    written = write_image_folder(tmp_path / "shapes", channels=1, size=(9, 9))
    data = load_dataset(str(tmp_path / "shapes"))
    assert data.classes == ["cat", "dog", "emu"]
    assert data.train_x.shape == (12, 1, 9, 9) and data.test_x.shape == (6, 1, 9, 9)
    for split, x, y in (("train", data.train_x, data.train_y), ("test", data.test_x, data.test_y)):
        assert y.tolist() == [c for c, _ in written[split]]
        assert torch.equal(x, torch.stack([img for _, img in written[split]]))


def test_image_folder_rgb_resizes_to_the_first_image(tmp_path):
    root = tmp_path / "rgb"
    written = write_image_folder(root, classes=("a", "b"), channels=3, size=(10, 10), n_train=3)
    odd = torch.full((3, 20, 20), 77, dtype=torch.uint8)  # a larger, flat image: resizing keeps it flat
    write_image(root / "train" / "b" / "zzz.png", odd)
    data = load_dataset(str(root))
    assert data.train_x.shape == (7, 3, 10, 10)
    assert data.train_y.tolist() == [0, 0, 0, 1, 1, 1, 1]
    assert torch.equal(data.train_x[:6], torch.stack([img for _, img in written["train"]]))
    assert torch.equal(data.train_x[6], torch.full((3, 10, 10), 77, dtype=torch.uint8))


def test_image_folder_mixed_grey_and_rgb_jpg_becomes_rgb(tmp_path):
    root = tmp_path / "mixed"
    write_image_folder(root, classes=("x", "y"), channels=1, size=(12, 12), suffix=".jpg", n_train=2, n_test=1)
    colour = torch.zeros(3, 16, 16, dtype=torch.uint8)
    colour[0] = 200
    write_image(root / "test" / "y" / "colour.jpg", colour)
    grey = root / "train" / "x" / "000.jpg"
    data = load_dataset(str(root))
    assert data.train_x.shape == (4, 3, 12, 12) and data.test_x.shape == (3, 3, 12, 12)
    assert data.test_y.tolist() == [0, 1, 1]
    # a grey image is copied to all three channels, pixel for pixel as decoded
    with Image.open(grey) as im:
        expected = torch.from_numpy(np.array(im))
    assert im.mode == "L" and torch.equal(data.train_x[0], expected.expand(3, -1, -1))
    red = data.test_x[2].float().mean(dim=(1, 2))
    assert red[0] > 150 and red[1] < 50 and red[2] < 50


def _save_pil(path: Path, image) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path)


def test_image_folder_reads_palette_and_16_bit_images_as_a_person_sees_them(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(0)
    root = tmp_path / "modes"
    pictures = {}
    for split in ("train", "test"):
        for c in ("a", "b"):
            for i in range(2):
                rgb = Image.fromarray(rng.integers(0, 256, (10, 10, 3), dtype=np.uint8))
                palette = rgb.quantize(16)  # stored as indices 0..15 into a colour table
                _save_pil(root / split / c / f"p{i}.png", palette)
                pictures[(split, c, i)] = np.asarray(palette.convert("RGB"))
    data = load_dataset(str(root))
    assert data.train_x.shape == (4, 3, 10, 10)
    expected = torch.from_numpy(np.stack([pictures[("train", c, i)] for c in ("a", "b") for i in range(2)])).permute(0, 3, 1, 2)
    assert torch.equal(data.train_x, expected)  # the colours, not the palette indices
    assert data.train_x.float().mean() > 60

    grey16 = tmp_path / "grey16"
    for split in ("train", "test"):
        for c in ("a", "b"):
            _save_pil(grey16 / split / c / "0.png", Image.fromarray(np.full((8, 8), 65535 // 2, dtype=np.uint16)))
    data = load_dataset(str(grey16))
    assert data.train_x.shape == (2, 1, 8, 8) and data.train_x.eq(127).all()  # half of white, in 8 bits


def test_an_animated_image_is_read_as_its_first_frame(tmp_path):
    root = tmp_path / "anim"
    write_image_folder(root, classes=("a", "b"), channels=3, size=(8, 8), n_train=1, n_test=1)
    first, second = Image.new("RGB", (8, 8), (250, 0, 0)), Image.new("RGB", (8, 8), (0, 0, 250))
    first.save(root / "train" / "b" / "moving.gif", save_all=True, append_images=[second])
    data = load_dataset(str(root))
    moving = data.train_x[2].float().mean(dim=(1, 2))  # train/b/moving.gif sorts after train/b/000.png
    assert moving[0] > 200 and moving[2] < 50


def test_image_folder_with_an_empty_class_folder_is_a_user_error(tmp_path):
    root = tmp_path / "imgs"
    write_image_folder(root, classes=("a", "b"), n_train=2, n_test=1)
    (root / "train" / "c").mkdir()
    with pytest.raises(UserError, match=r"train/c: a class folder with no images"):
        load_dataset(str(root))


@pytest.mark.parametrize("where,raw,said", [
    ("train/b/broken.png", b"\x89PNG\r\n\x1a\n not really", r"broken.png: cannot decode image"),
    ("test/a/empty.jpg", b"", r"empty.jpg: cannot decode image \(an empty file\)"),
], ids=["damaged", "empty"])
def test_an_image_that_does_not_decode_is_named(tmp_path, where, raw, said):
    root = tmp_path / "imgs"
    write_image_folder(root, classes=("a", "b"), n_train=2, n_test=1)
    (root / where).write_bytes(raw)
    with pytest.raises(UserError, match=said):
        load_dataset(str(root))


def test_a_missing_idx_file_is_named_alone(tmp_path):
    write_idx_dataset(tmp_path)
    (tmp_path / "MNIST" / "raw" / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(UserError, match=r"not found in .*: t10k-labels-idx1-ubyte \(or .gz; 1 of its 4 files\)"):
        load_dataset("mnist", tmp_path)


def test_a_train_subset_smaller_than_the_classes_is_a_user_error(tmp_path):
    write_idx_dataset(tmp_path)
    data = load_dataset("mnist", tmp_path)
    with pytest.raises(UserError, match="--train-subset 1 is fewer images than the 10 classes"):
        make_splits(data, DataConfig("mnist", train_subset=1))
    assert len(make_splits(data, DataConfig("mnist", train_subset=10)).train_y) == 10


def test_image_folder_without_train_and_test_is_a_user_error(tmp_path):
    (tmp_path / "flat" / "cat").mkdir(parents=True)
    with pytest.raises(UserError, match="train/ and test/"):
        load_dataset(str(tmp_path / "flat"))


def test_unknown_dataset_name_is_a_user_error():
    with pytest.raises(UserError, match="unknown dataset 'no-such-set'"):
        load_dataset("no-such-set")


# --- tensor cache --------------------------------------------------------------------------------


def _cache_files() -> list[Path]:
    return sorted(Path(os.environ["RANKSEARCH_CACHE"]).rglob("*.pt"))


def test_second_load_reads_the_tensor_cache(tmp_path):
    write_idx_dataset(tmp_path)
    first = load_dataset("mnist", tmp_path)
    files = _cache_files()
    assert len(files) == 1 and files[0].name.startswith("mnist-")
    again = load_dataset("mnist", tmp_path)
    for k in ("train_x", "train_y", "test_x", "test_y"):
        assert torch.equal(getattr(first, k), getattr(again, k))
    assert again.classes == first.classes
    # Proof that the second load came from the cache and not from the IDX files: mark the cached copy
    # (with the checksum of what it now holds, as if the cache had been written so).
    cached = torch.load(files[0], weights_only=True)
    cached["train_y"] = torch.full_like(cached["train_y"], 7)
    cached["checksum"] = checksum(cached)
    torch.save(cached, files[0])
    assert load_dataset("mnist", tmp_path).train_y.eq(7).all()


def test_a_cache_file_changed_at_the_same_size_is_decoded_again_with_a_note(tmp_path):
    write_idx_dataset(tmp_path)
    first = load_dataset("mnist", tmp_path)
    assert first.notes == []
    (cache,) = _cache_files()
    raw = bytearray(cache.read_bytes())
    x = first.train_x.numpy().tobytes()
    at = bytes(raw).find(x[:64])  # the training images' bytes inside the file
    assert at > 0
    raw[at + 100] ^= 0xFF  # one pixel changed; the file keeps its size and still loads
    cache.write_bytes(bytes(raw))
    again = load_dataset("mnist", tmp_path)
    assert torch.equal(again.train_x, first.train_x)
    assert len(again.notes) == 1 and "did not match their checksum" in again.notes[0]
    third = load_dataset("mnist", tmp_path)  # rebuilt: read from the cache again, no note
    assert torch.equal(third.train_x, first.train_x) and third.notes == []


def test_a_changed_source_file_gets_a_new_cache_entry(tmp_path):
    write_idx_dataset(tmp_path)
    load_dataset("mnist", tmp_path)
    labels = tmp_path / "MNIST" / "raw" / "train-labels-idx1-ubyte"
    write_idx(labels, np.full(60, 3))  # same size, new content
    st = labels.stat()
    os.utime(labels, ns=(st.st_atime_ns, st.st_mtime_ns + 5_000_000_000))  # a surely different mtime
    assert load_dataset("mnist", tmp_path).train_y.eq(3).all()
    assert len(_cache_files()) == 2
    images = tmp_path / "MNIST" / "raw" / "train-images-idx3-ubyte"
    write_idx(images, np.zeros((59, 28, 28)))  # new size
    write_idx(labels, np.full(59, 4))
    data = load_dataset("mnist", tmp_path)
    assert data.train_x.shape[0] == 59 and data.train_y.eq(4).all()
    assert len(_cache_files()) == 3


def test_a_broken_cache_file_is_rebuilt(tmp_path):
    write_idx_dataset(tmp_path)
    first = load_dataset("mnist", tmp_path)
    (cache,) = _cache_files()
    cache.write_bytes(b"not a tensor file")
    again = load_dataset("mnist", tmp_path)
    assert torch.equal(again.train_x, first.train_x)
    assert torch.load(cache, weights_only=True)["train_x"].shape == first.train_x.shape


def test_a_slow_decode_is_announced_and_a_cache_hit_is_not(tmp_path):
    root = tmp_path / "imgs"
    write_image_folder(root, classes=("a", "b"), n_train=500, n_test=10)  # 1,020 images
    heard = []
    load_dataset(str(root), say=heard.append)
    assert len(heard) == 1 and heard[0].startswith("decoding 1,020 images into tensors, once")
    load_dataset(str(root), say=heard.append)
    assert len(heard) == 1
    write_idx_dataset(tmp_path)
    load_dataset("mnist", tmp_path, say=heard.append)  # four IDX files decode at once: nothing to wait for
    assert len(heard) == 1


def test_cifar10_by_name_and_its_image_folder_by_path_share_one_cache_file(tmp_path):
    jpeg = tmp_path / "cifar10-jpeg"
    write_image_folder(jpeg, classes=("airplane", "automobile"), channels=3, suffix=".jpg")
    by_name, by_path = load_dataset("cifar10", tmp_path), load_dataset(str(jpeg))
    assert len(_cache_files()) == 1
    assert (by_name.name, by_path.name) == ("cifar10", str(jpeg))  # each as the user named it
    assert torch.equal(by_name.train_x, by_path.train_x) and by_name.classes == by_path.classes


def test_image_folder_cache_key_follows_the_files(tmp_path):
    root = tmp_path / "imgs"
    write_image_folder(root, classes=("a", "b"), n_train=2, n_test=1)
    assert load_dataset(str(root)).train_x.shape[0] == 4
    write_image(root / "train" / "a" / "new.png", torch.zeros(1, 8, 8, dtype=torch.uint8))
    assert load_dataset(str(root)).train_x.shape[0] == 5
    assert len(_cache_files()) == 2


# --- splits ----------------------------------------------------------------------------------------

COUNTS = [53, 31, 20, 7, 3, 1]  # deliberately unbalanced, with tiny classes


def _labels(counts=COUNTS, seed=0) -> torch.Tensor:
    y = torch.cat([torch.full((n,), c) for c, n in enumerate(counts)])
    return y[torch.randperm(len(y), generator=torch.Generator().manual_seed(seed))]


def _tagged_dataset(counts=COUNTS, n_test=12) -> ImageDataset:
    """Every image carries its own identity: pixel (0,0) = index, pixel (0,1) = 1 for test images."""
    y = _labels(counts)
    x = torch.zeros(len(y), 1, 4, 4, dtype=torch.uint8)
    x[:, 0, 0, 0] = torch.arange(len(y), dtype=torch.uint8)
    tx = torch.zeros(n_test, 1, 4, 4, dtype=torch.uint8)
    tx[:, 0, 0, 0] = torch.arange(n_test, dtype=torch.uint8)
    tx[:, 0, 0, 1] = 1
    ty = torch.arange(n_test) % len(counts)
    return ImageDataset("tagged", x, y, tx, ty, [str(c) for c in range(len(counts))])


@pytest.mark.parametrize("fraction", [0.1, 0.25, 0.5])
def test_validation_split_is_stratified_disjoint_and_complete(fraction):
    y = _labels()
    rest, val = stratified_split(y, fraction, seed=0)
    assert set(rest.tolist()).isdisjoint(val.tolist())
    assert sorted(rest.tolist() + val.tolist()) == list(range(len(y)))
    for c, n in enumerate(COUNTS):
        assert abs(int((y[val] == c).sum()) - n * fraction) <= 1
    assert abs(len(val) - len(y) * fraction) <= 1


def test_validation_split_is_not_empty_on_a_small_dataset():
    y = torch.arange(40) % 10  # 4 images per class: 10 % is 4 images in all, not 0
    _, val = stratified_split(y, 0.1, seed=0)
    assert len(val) == 4
    assert all(int((y[val] == c).sum()) <= 1 for c in range(10))


def test_validation_split_depends_only_on_the_seed():
    y = _labels()
    a, b = stratified_split(y, 0.1, seed=3), stratified_split(y, 0.1, seed=3)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert not torch.equal(stratified_split(y, 0.1, seed=4)[1], a[1])


def test_default_split_is_ten_percent():
    assert DataConfig("mnist").val_fraction == 0.1
    data = _tagged_dataset(counts=[100, 100, 50])
    splits = make_splits(data, DataConfig("tagged"))
    assert len(splits.val_y) == 25 and len(splits.train_y) == 225
    assert splits.val_y.bincount().tolist() == [10, 10, 5]


@pytest.mark.parametrize("n", [1, 10, 37, 200])
def test_train_subset_is_exact_stratified_and_outside_validation(n):
    y = _labels()
    rest_y = y[stratified_split(y, 0.1, 0)[0]]
    idx = stratified_subset(rest_y, n, seed=0)
    assert len(idx) == min(n, len(rest_y)) and len(set(idx.tolist())) == len(idx)
    if n < len(rest_y):
        for c in range(len(COUNTS)):
            share = int((rest_y == c).sum()) * n / len(rest_y)
            assert abs(int((rest_y[idx] == c).sum()) - share) < 1
    assert torch.equal(idx, stratified_subset(rest_y, n, seed=0))


def test_make_splits_never_mixes_test_into_train_or_val():
    data = _tagged_dataset()
    splits = make_splits(data, DataConfig("tagged", train_subset=40, split_seed=5))
    train_ids = splits.train_x[:, 0, 0, 0].tolist()
    val_ids = splits.val_x[:, 0, 0, 0].tolist()
    assert len(train_ids) == 40 and len(set(train_ids)) == 40
    assert set(train_ids).isdisjoint(val_ids)
    assert not splits.train_x[:, 0, 0, 1].any() and not splits.val_x[:, 0, 0, 1].any()
    # labels travel with their images
    assert torch.equal(splits.train_y, data.train_y[splits.train_x[:, 0, 0, 0].long()])
    assert torch.equal(splits.val_y, data.train_y[splits.val_x[:, 0, 0, 0].long()])
    assert torch.equal(splits.test_x, data.test_x) and torch.equal(splits.test_y, data.test_y)
    assert splits.num_classes == len(COUNTS)
    # without a subset, train and validation together are the whole training set
    whole = make_splits(data, DataConfig("tagged", split_seed=5))
    ids = whole.train_x[:, 0, 0, 0].tolist() + whole.val_x[:, 0, 0, 0].tolist()
    assert sorted(ids) == list(range(len(data.train_y)))
    assert torch.equal(whole.val_x, splits.val_x)  # the subset is drawn after validation is set aside


@pytest.mark.slow
def test_the_real_cifar10_jpeg_folder_reads_as_torchvisions_image_folder_does():
    """The real folder: every image in torchvision's order with its label, and every 997th with the pixels
    torchvision's ImageFolder gives."""
    datasets = require_real("cifar10-jpeg")
    data = load_dataset("cifar10", datasets)
    assert data.train_x.shape == (50000, 3, 32, 32) and data.test_x.shape == (10000, 3, 32, 32)
    assert data.classes[:3] == ["airplane", "automobile", "bird"] and len(data.classes) == 10
    for split, x, y in (("train", data.train_x, data.train_y), ("test", data.test_x, data.test_y)):
        folder = torchvision.datasets.ImageFolder(str(datasets / "cifar10-jpeg" / split))
        assert y.tolist() == folder.targets
        for i in range(0, len(folder), 997):
            image, _ = folder[i]
            assert torch.equal(x[i], torch.from_numpy(np.array(image)).permute(2, 0, 1)), (split, i)
