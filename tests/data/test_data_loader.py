"""Loaders: deterministic in (seed, epoch), independent of global RNG and process."""
import hashlib
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from edgecl.data.imageset import ArrayImageSet, FileImageSet
from edgecl.data.loader import iterate_batches, iterate_eval
from edgecl.data.transforms import AUGMENTATIONS
from edgecl_runtime.inputs.preprocess import input_spec, preprocess

RNG = np.random.default_rng(3)
SET = ArrayImageSet(RNG.integers(0, 256, (50, 28, 28), dtype=np.uint8), np.arange(50) % 5)
SPEC = input_spec("L", 28)
IDX = np.arange(3, 50, 2)


def _epoch(augment, seed=7, epoch=0, imageset=SET, spec=SPEC, idx=IDX, bs=8):
    return list(iterate_batches(imageset, idx, spec, bs, augment=augment, shuffle=True, seed=seed, epoch=epoch))


def _digest(batches):
    h = hashlib.sha256()
    for x, y in batches:
        h.update(x.numpy().tobytes())
        h.update(y.numpy().tobytes())
    return h.hexdigest()


@pytest.mark.parametrize("augment", AUGMENTATIONS)
def test_same_seed_epoch_same_batches_despite_global_rng(augment):
    torch.manual_seed(0)
    a = _epoch(augment)
    state = torch.random.get_rng_state()
    torch.manual_seed(12345)
    b = _epoch(augment)
    assert _digest(a) == _digest(b)
    torch.manual_seed(0)
    _epoch(augment)
    assert torch.equal(state, torch.random.get_rng_state()), "loader must not consume the global RNG"


@pytest.mark.parametrize("augment", AUGMENTATIONS)
def test_other_epoch_or_seed_differs_and_epoch_is_a_permutation(augment):
    a, b, c = _epoch(augment), _epoch(augment, epoch=1), _epoch(augment, seed=8)
    assert _digest(a) != _digest(b) and _digest(a) != _digest(c)
    for batches in (a, b):
        x = torch.cat([x for x, _ in batches])
        y = torch.cat([y for _, y in batches])
        assert x.shape == (len(IDX), 1, 28, 28) and x.dtype == torch.float32 and y.dtype == torch.int64
        assert 0.0 <= float(x.min()) and float(x.max()) <= 1.0
        assert sorted(y.tolist()) == sorted(SET.labels[IDX].tolist())


def test_augmentations_change_images_none_is_eval():
    plain = list(iterate_batches(SET, IDX, SPEC, 8, augment="none", shuffle=False, seed=1, epoch=0))
    x = torch.cat([b[0] for b in plain])
    ref = np.stack([preprocess(SET.image(int(i)), SPEC) for i in IDX])
    assert np.array_equal(x.numpy(), ref)
    assert torch.cat([b[1] for b in plain]).tolist() == SET.labels[IDX].tolist()
    for aug in ("shift", "crop-flip"):
        y = torch.cat([b[0] for b in iterate_batches(SET, IDX, SPEC, 8, augment=aug, shuffle=False, seed=1, epoch=0)])
        assert y.shape == x.shape and not torch.allclose(x, y, atol=1e-3)


def test_same_result_in_a_fresh_process():
    code = (
        "import numpy as np, hashlib, torch\n"
        "from edgecl.data.imageset import ArrayImageSet\n"
        "from edgecl.data.loader import iterate_batches\n"
        "from edgecl_runtime.inputs.preprocess import input_spec\n"
        "torch.set_num_threads(1); torch.manual_seed(99)\n"
        "s = ArrayImageSet(np.random.default_rng(3).integers(0, 256, (50, 28, 28), dtype=np.uint8), np.arange(50) % 5)\n"
        "h = hashlib.sha256()\n"
        "for aug in ('shift', 'crop-flip'):\n"
        "    for x, y in iterate_batches(s, np.arange(3, 50, 2), input_spec('L', 28), 8, augment=aug,\n"
        "                                shuffle=True, seed=7, epoch=2):\n"
        "        h.update(x.numpy().tobytes()); h.update(y.numpy().tobytes())\n"
        "print(h.hexdigest())\n"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout.strip()
    h = hashlib.sha256()
    for aug in ("shift", "crop-flip"):
        for x, y in _epoch(aug, epoch=2):
            h.update(x.numpy().tobytes())
            h.update(y.numpy().tobytes())
    assert out == h.hexdigest()


def test_rgb_spec_and_file_backed_crop_flip(tmp_path):
    paths = []
    for k, size in enumerate([(40, 30), (20, 50), (32, 32)]):
        p = tmp_path / f"{k}.png"
        Image.fromarray(RNG.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)).save(p)
        paths.append(p)
    files = FileImageSet(paths, [0, 1, 2])
    spec = input_spec("RGB", 24, resize=28)
    for aug in AUGMENTATIONS:
        a, b = _epoch(aug, imageset=files, spec=spec, idx=np.arange(3), bs=2), \
            _epoch(aug, imageset=files, spec=spec, idx=np.arange(3), bs=2)
        assert [x.shape[1:] for x, _ in a] == [(3, 24, 24)] * 2
        assert _digest(a) == _digest(b)
    rgb = _epoch("crop-flip", spec=input_spec("RGB", 28))
    assert rgb[0][0].shape == (8, 3, 28, 28)


def test_eval_iteration_and_errors():
    x, y = next(iterate_eval(SET, IDX, SPEC, batch_size=100))
    assert x.shape == (len(IDX), 1, 28, 28) and y.tolist() == SET.labels[IDX].tolist()
    with pytest.raises(ValueError, match="augmentation"):
        _epoch("mixup")
    with pytest.raises(ValueError, match="out of range"):
        _epoch("none", idx=np.array([0, 50]))
    with pytest.raises(ValueError, match="seed"):
        _epoch("none", seed=-1)


def test_crop_boxes_inside_image_and_fallback_matches_torchvision_rule():
    from edgecl.data.loader import make_generator
    from edgecl.data.transforms import _crop_boxes

    hw = torch.tensor([[28, 28], [32, 48], [500, 20], [1, 100], [100, 1]] * 40)
    top, left, h, w = _crop_boxes(hw, make_generator(0, 0)).unbind(1)
    H, W = hw[:, 0].double(), hw[:, 1].double()
    assert (h >= 1).all() and (w >= 1).all() and (top >= 0).all() and (left >= 0).all()
    assert (top + h <= H).all() and (left + w <= W).all()
    area = (h * w) / (H * W)
    normal = hw[:, 0] == 28
    assert (area[normal] >= 0.08 - 0.02).all() and area[normal].std() > 0.1  # random, not constant
    # 1x100 strip: no try fits, centre crop of ratio clamped to 4/3 -> 1x1 box at column 49
    strip = hw[:, 0] == 1
    assert (h[strip] == 1).all() and (w[strip] == 1).all() and (left[strip] == 49).all()
