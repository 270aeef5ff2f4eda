"""Backbone pre-training: file format, determinism, probe sanity (tiny model, seconds)."""
from __future__ import annotations

import json

import timm
import torch
from safetensors.torch import load_file

from edgecl.pretrain.glyphs import DIGIT_LOOKALIKES, FONT_CHARS, GlyphAugment, make_bank, sample_batch
from edgecl.pretrain.train import pretrain
from edgecl.pretrain.probe import gaussian_accuracy, linear_probe, ncm_accuracy

TINY = {"img_size": 28, "in_chans": 1, "patch_size": 7, "embed_dim": 32, "depth": 1, "num_heads": 2, "global_pool": "avg"}


def _run(path, seed=0):
    torch.set_num_threads(1)
    return pretrain(path, model_name="vit_tiny_patch16_224", model_kwargs=TINY, epochs=1, samples_per_epoch=64,
                    batch_size=32, lr=1e-3, seed=seed, stroke_classes=6, bank_variants=3, probe=False)


def test_pretrain_writes_loadable_backbone_and_sidecar(tmp_path):
    info = _run(tmp_path / "bb.safetensors")
    state = load_file(str(tmp_path / "bb.safetensors"))
    assert not any(k.startswith("head.") for k in state)
    model = timm.create_model("vit_tiny_patch16_224", pretrained=False, num_classes=0, **TINY)
    missing, unexpected = model.load_state_dict(state, strict=False)
    assert not missing and not unexpected
    assert model(torch.rand(2, 1, 28, 28)).shape == (2, 32)
    side = json.loads((tmp_path / "bb.json").read_text())
    assert side["sha256"] == info["sha256"] and len(side["sha256"]) == 64
    assert side["model_kwargs"] == TINY and side["config"]["seed"] == 0
    assert 0 < side["mean"][0] < 1 and 0 < side["std"][0] < 1


def test_pretrain_is_deterministic_for_a_seed(tmp_path):
    a = _run(tmp_path / "a.safetensors", seed=3)
    b = _run(tmp_path / "b.safetensors", seed=3)
    c = _run(tmp_path / "c.safetensors", seed=4)
    assert a["sha256"] == b["sha256"]
    assert a["sha256"] != c["sha256"]


def test_glyph_source_has_no_digits_and_is_seeded():
    assert not set(FONT_CHARS) & DIGIT_LOOKALIKES
    b1, b2 = make_bank(4, 2, seed=1, font_chars="AB"), make_bank(4, 2, seed=1, font_chars="AB")
    assert b1.images.shape == (6, 2, 28, 28) and torch.equal(b1.images, b2.images)
    assert b1.images.float().mean() > 5  # ink present
    x, y = sample_batch(b1, 16, torch.Generator().manual_seed(0), GlyphAugment())
    assert x.shape == (16, 1, 28, 28) and 0 <= x.min() and x.max() <= 1 and y.max() < 6


def _blobs(n: int, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Easy set: a small 3x3 dot (0) vs a large 12x12 square (1) at random positions, plus noise."""
    y = torch.randint(0, 2, (n,), generator=gen)
    x = torch.rand(n, 1, 28, 28, generator=gen) * 0.2
    pos = torch.randint(2, 14, (n, 2), generator=gen)
    for i in range(n):
        s = 3 if y[i] == 0 else 12
        x[i, 0, pos[i, 0] : pos[i, 0] + s, pos[i, 1] : pos[i, 1] + s] = 1.0
    return x, y


def test_probes_are_above_chance_on_an_easy_set():
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(0)
    model = timm.create_model("vit_tiny_patch16_224", pretrained=False, num_classes=0, **TINY)
    xt, yt = _blobs(200, gen)
    xv, yv = _blobs(100, gen)
    acc = linear_probe(model, xt, yt, xv, yv)
    assert 0.8 <= acc <= 1.0
    f = torch.randn(300, 4, generator=gen)
    lab = torch.arange(300) % 3
    f[torch.arange(300), lab] += 5.0
    assert ncm_accuracy(f[:200], lab[:200], f[200:], lab[200:]) > 0.8
    assert gaussian_accuracy(f[:200], lab[:200], f[200:], lab[200:]) > 0.8


def test_pretrain_command_runs_and_records_the_exact_command(tmp_path):
    import typer
    from typer.testing import CliRunner

    from edgecl.cli.pretrain import pretrain_command

    app = typer.Typer()
    app.command()(pretrain_command)
    out = tmp_path / "cli.safetensors"
    res = CliRunner().invoke(app, ["--out", str(out), "--model-kwargs", json.dumps(TINY), "--epochs", "1",
                                   "--samples-per-epoch", "32", "--batch-size", "16", "--stroke-classes", "2",
                                   "--threads", "1", "--no-probe"])
    assert res.exit_code == 0, res.output
    side = json.loads(out.with_suffix(".json").read_text())
    assert side["command"].startswith("edgecl pretrain --out ") and "--epochs 1" in side["command"]
    bad = CliRunner().invoke(app, ["--out", str(out), "--method", "nope", "--no-probe"])
    assert bad.exit_code == 1
