"""Data worker processes: same batches and same weights for every worker count; errors by name."""
import json
import subprocess
import sys

import numpy as np
import pytest
import torch
import yaml
from PIL import Image

from edgecl.data.imageset import ArrayImageSet, FileImageSet, Source
from edgecl.data.loader import iterate_batches, make_generator, run_batches
from edgecl.data.run_data import RunData, default_workers
from edgecl.data.transforms import _raw_images, random_resized_crop_flip, train_batch
from edgecl.errors import DataError
from edgecl_runtime.inputs.preprocess import input_spec

RNG = np.random.default_rng(5)
ARRAY = ArrayImageSet(RNG.integers(0, 256, (40, 28, 28), dtype=np.uint8), np.arange(40) % 4)
KWARGS = {"img_size": 28, "patch_size": 7, "embed_dim": 32, "depth": 2, "num_heads": 2}


def smooth_jpegs(folder, n=10, seed=0):
    """JPEGs of mixed sizes with smooth content (so resampling methods differ little)."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for k in range(n):
        h, w = int(rng.integers(30, 60)), int(rng.integers(35, 70))
        yy, xx = np.mgrid[0:h, 0:w]
        img = np.stack([xx * 255 // w, yy * 255 // h, (xx + yy) * 255 // (w + h)], -1).astype(np.uint8)
        paths.append(folder / f"{k}.jpg")
        Image.fromarray(img).save(paths[-1], quality=95)
    return paths


def batches(imageset, spec, augment, workers, idx=None, bs=3):
    idx = np.arange(len(imageset)) if idx is None else idx
    return list(iterate_batches(imageset, idx, spec, bs, augment=augment, shuffle=True, seed=11, epoch=3,
                                workers=workers))


def same(a, b):
    assert len(a) == len(b)
    for (xa, ya), (xb, yb) in zip(a, b):
        assert xa.dtype == xb.dtype and torch.equal(xa, xb) and torch.equal(ya, yb)


@pytest.mark.parametrize("augment", ["none", "shift", "crop-flip"])
def test_array_batches_bit_identical_for_0_1_2_workers(augment):
    spec = input_spec("L", 28)
    ref = batches(ARRAY, spec, augment, 0, bs=8)
    same(ref, batches(ARRAY, spec, augment, 1, bs=8))
    same(ref, batches(ARRAY, spec, augment, 2, bs=8))


@pytest.mark.parametrize("augment", ["none", "crop-flip"])
def test_file_batches_bit_identical_for_0_and_2_workers(tmp_path, augment):
    paths = smooth_jpegs(tmp_path)
    files = FileImageSet(paths, np.arange(len(paths)) % 2)
    spec = input_spec("RGB", 24, resize=28)
    ref = batches(files, spec, augment, 0)
    assert [tuple(x.shape) for x, _ in ref] == [(3, 3, 24, 24)] * 3 + [(1, 3, 24, 24)]
    same(ref, batches(files, spec, augment, 2))


def test_sharded_batches_bit_identical_for_0_and_2_workers(tmp_path):
    paths = smooth_jpegs(tmp_path)
    files = FileImageSet(paths, np.arange(len(paths)) % 2)
    source = Source("photos", ["a", "b"], files, files, "RGB", None)
    spec = input_spec("RGB", 24, resize=28)
    for rank in (0, 1):
        runs = [RunData(source, [[0], [1]], spec, rank=rank, world=2, workers=w)
                .train_batches(np.arange(len(paths)), 4, augment="crop-flip", shuffle=True, seed=2, epoch=1)
                for w in (0, 2)]
        assert len(runs[0]) == len(runs[1]) == 3
        same(list(runs[0]), list(runs[1]))


def test_pil_crop_flip_uses_the_same_boxes_and_flips_as_grid_sample(tmp_path):
    """File-backed crop-flip (PIL, antialiased) vs the float grid_sample path on the same draws:
    same crops and flips, pixel values close (smooth images; the resampling filters differ)."""
    paths = smooth_jpegs(tmp_path, n=12)
    files = FileImageSet(paths, [0] * len(paths))
    spec = input_spec("RGB", 24, resize=28)
    idx = np.arange(len(paths))
    pil = train_batch(files, idx, spec, "crop-flip", make_generator(4, 0, 1, 0))
    grid = random_resized_crop_flip(_raw_images(files, idx, "RGB"), 24, make_generator(4, 0, 1, 0))
    assert pil.dtype == torch.float32 and pil.shape == grid.shape == (12, 3, 24, 24)
    assert torch.equal(pil * 255, (pil * 255).round())  # uint8 pixels / 255
    err = (pil - grid).abs().mean((1, 2, 3))
    assert float(err.max()) < 0.03, err
    # a flipped crop would be far off: the red channel is a left-to-right ramp
    mirrored = (pil - grid.flip(-1)).abs().mean((1, 2, 3))
    assert bool((mirrored > err).all())


def test_bad_image_in_a_worker_is_one_line_naming_the_file(tmp_path):
    paths = smooth_jpegs(tmp_path, n=6)
    paths[4].write_bytes(paths[4].read_bytes()[:200])  # truncated JPEG
    files = FileImageSet(paths, [0] * len(paths))
    for augment in ("none", "crop-flip"):
        with pytest.raises(DataError) as info:
            batches(files, input_spec("RGB", 24, resize=28), augment, 2, idx=np.arange(6), bs=2)
        message = str(info.value)
        assert "\n" not in message and str(paths[4]) in message and "cannot read image" in message


def test_run_batches_order_and_worker_errors():
    assert [b for b in run_batches(lambda b: b * b, 5, workers=2)] == [0, 1, 4, 9, 16]
    assert list(run_batches(lambda b: b, 0, workers=2)) == []
    for bad in (-1, 1.5, True, "2"):
        with pytest.raises(DataError, match="workers"):
            list(run_batches(lambda b: b, 3, workers=bad))


def test_default_workers(tmp_path):
    assert default_workers(Source("a", ["x"], ARRAY, ARRAY, "L", 28), cores=16) == 0  # arrays: in process
    files = FileImageSet(smooth_jpegs(tmp_path, n=1), [0])
    photos = Source("p", ["x"], files, files, "RGB", None)
    assert [default_workers(photos, cores=c) for c in (1, 2, 3, 4, 6, 16)] == [0, 2, 2, 3, 5, 8]


def _learn(run, config, workers, task=1):
    cmd = [sys.executable, "-m", "edgecl", "learn", "--run", str(run), "--task", str(task), "--no-export", "--quiet",
           "--threads", "1", "--workers", str(workers), *(["--config", str(config)] if config else [])]
    out = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stdout + out.stderr


def test_cli_learn_workers_0_and_2_give_identical_weights(tmp_path):
    for split, n in (("train", 12), ("test", 4)):
        for c in range(2):
            smooth_jpegs(tmp_path / "photos" / split / f"class_{c}", n=n, seed=c + 10 * len(split))
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump({
        "dataset": "imagefolder", "data_root": str(tmp_path / "photos"), "weights": "none",
        "model": "vit_tiny_patch16_224", "model_kwargs": KWARGS, "tasks": 2, "rank": 2, "epochs": 1,
        "batch_size": 8, "resize": 32, "augment": "crop-flip", "export_formats": []}))
    _learn(tmp_path / "w0", config, 0)
    _learn(tmp_path / "w2", config, 2)
    for name in ("weights.safetensors", "memory.safetensors", "features.safetensors"):
        assert (tmp_path / "w0" / "task-01" / name).read_bytes() == (tmp_path / "w2" / "task-01" / name).read_bytes()
    record = json.loads((tmp_path / "w2" / "run.json").read_text())
    assert "workers" not in record["config"]  # an execution choice, not frozen in run.json
    _learn(tmp_path / "w2", None, 1, task=2)  # so another value later is no conflict


def test_cli_refuses_negative_workers_in_one_line(tmp_path):
    from typer.testing import CliRunner

    from edgecl.cli.app import app

    out = CliRunner().invoke(app, ["learn", "--run", str(tmp_path / "r"), "--workers", "-1", "--quiet"])
    assert out.exit_code != 0 and "--workers must be a non-negative integer" in out.output
    assert not (tmp_path / "r").exists()
