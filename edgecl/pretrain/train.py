"""Pre-train the small ViT backbone that edgecl ships (``edgecl pretrain``).

Why this exists: InfLoRA adapts only K/V of a frozen backbone, so the backbone decides quality.
Pre-training must never see the stream's classes (digits) nor MNIST test images. Measured at 28 px:
supervised pre-training on 10 natural classes (MNIST/Fashion) or masked-image modelling does not
beat a random init on unseen classes, while supervised pre-training on *hundreds* of synthetic stroke
classes (``edgecl.pretrain.glyphs``: font letters/symbols + random Bezier shape families, heavy augmentation)
does. ``method="simclr"`` (contrastive, labels unused) is kept for comparison.

Output: ``<out>.safetensors`` (timm ViT state dict, no ``head.*``; load with
``timm.create_model(name, pretrained=False, num_classes=0, **model_kwargs)`` +
``load_state_dict(strict=False)``) and ``<out>.json`` with the exact config, normalisation, the probe
numbers (pre-trained and random init, on MNIST *train* only) and the file's sha256.
"""
from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import timm
import torch
import torch.nn.functional as F
from safetensors.torch import save_file
from torch import nn

from edgecl_runtime.atomic_io import sha256_file

from edgecl.data.sources import load_source
from edgecl.pretrain.glyphs import GlyphAugment, GlyphBank, make_bank, sample_batch
from edgecl.pretrain.probe import extract_features, probe_features
from edgecl.vit.model import Normalized

DEFAULT_MODEL = "vit_tiny_patch16_224"
DEFAULT_KWARGS: dict[str, Any] = {
    "img_size": 28, "in_chans": 1, "patch_size": 7, "embed_dim": 128, "depth": 6, "num_heads": 4,
    "global_pool": "avg",
}
METHODS = ("supervised", "simclr")
SOURCES = ("glyphs", "fashion-mnist")


# ----------------------------------------------------------------------------------------- data
def load_train_split(name: str, data_root: str | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """TRAIN split of ``mnist`` / ``fashion-mnist`` via ``edgecl.data``: (uint8 (N,1,28,28), int64 labels)."""
    train = load_source(name, data_root).train
    return torch.from_numpy(np.ascontiguousarray(train.array)).unsqueeze(1), torch.from_numpy(np.asarray(train.labels, np.int64))


def mnist_probe_split(data_root: str | None = None, n_train: int = 10000,
                      n_val: int = 5000) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Probe set from the MNIST *train* split only: first ``n_train`` to fit, last ``n_val`` to score."""
    x, y = load_train_split("mnist", data_root)
    return x[:n_train], y[:n_train], x[-n_val:], y[-n_val:]


class _FashionSource:
    """Fashion-MNIST train images as a (comparison) pre-training source; same interface as a bank."""

    def __init__(self, data_root: str | None = None) -> None:
        self.x, self.y = load_train_split("fashion-mnist", data_root)
        self.num_classes = 10

    def sample(self, n: int, gen: torch.Generator, augment: GlyphAugment | None) -> tuple[torch.Tensor, torch.Tensor]:
        i = torch.randint(0, self.x.shape[0], (n,), generator=gen)
        x = self.x[i].float().div_(255.0)
        return (augment(x, gen) if augment else x), self.y[i]


# ---------------------------------------------------------------------------------------- model
def create_backbone(model_name: str, model_kwargs: dict[str, Any], num_classes: int) -> nn.Module:
    """A timm ViT with fused qkv attention (what edgecl's InfLoRA hooks expect)."""
    model = timm.create_model(model_name, pretrained=False, num_classes=num_classes, **model_kwargs)
    if not hasattr(model, "blocks") or not hasattr(model.blocks[0].attn, "qkv"):
        raise ValueError(f"{model_name!r} is not a timm VisionTransformer with fused qkv attention")
    return model


def _nt_xent(z1: torch.Tensor, z2: torch.Tensor, tau: float) -> torch.Tensor:
    """SimCLR loss: each view must pick its partner among the 2B-1 other views."""
    z = F.normalize(torch.cat([z1, z2]), dim=1)
    sim = z @ z.T / tau
    n = z1.shape[0]
    sim.fill_diagonal_(float("-inf"))
    target = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)])
    return F.cross_entropy(sim, target)


def _lr_at(step: int, total: int, warmup: int, lr: float) -> float:
    if step < warmup:
        return lr * (step + 1) / warmup
    return 0.5 * lr * (1 + math.cos(math.pi * (step - warmup) / max(1, total - warmup)))


def backbone_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """State dict without the classifier head, contiguous (what safetensors stores)."""
    return {k: v.detach().contiguous().clone() for k, v in model.state_dict().items() if not k.startswith("head.")}


def probe_backbone(model: nn.Module, mean: float, std: float, probe_data: tuple[torch.Tensor, ...]) -> dict[str, float]:
    """Linear / NCM / Gaussian accuracy of frozen features on the MNIST-train probe split."""
    wrapped = Normalized(model, [mean], [std])
    xt, yt, xv, yv = probe_data
    return probe_features(extract_features(wrapped, xt), yt, extract_features(wrapped, xv), yv)


# ------------------------------------------------------------------------------------- training
def pretrain(
    out_path: str | Path,
    *,
    model_name: str = DEFAULT_MODEL,
    model_kwargs: dict[str, Any] | None = None,
    source: str = "glyphs",
    epochs: int = 8,
    batch_size: int = 128,
    lr: float = 1e-3,
    seed: int = 0,
    method: str = "supervised",
    samples_per_epoch: int = 25_000,
    weight_decay: float = 0.05,
    warmup_frac: float = 0.05,
    label_smoothing: float = 0.1,
    stroke_classes: int = 400,
    bank_variants: int = 24,
    simclr_tau: float = 0.2,
    probe: bool = True,
    probe_data: tuple[torch.Tensor, ...] | None = None,
    data_root: str | None = None,
    mean_std: tuple[float, float] | None = None,
    command: str | None = None,
    progress: Callable[[int, int, float], None] | None = None,
) -> dict[str, Any]:
    """Train a backbone and write ``out_path`` (.safetensors) + ``out_path.with_suffix('.json')``.

    Deterministic for a seed on CPU at a fixed thread count (seeded torch/numpy generators only).
    ``samples_per_epoch`` fixes what an "epoch" is, because the glyph source is unlimited.
    ``data_root`` is the IDX folder for ``source="fashion-mnist"`` and for the MNIST probe (default:
    the installed packages, see ``edgecl.data.sources``). ``progress(step, total, loss)`` is called every step (the CLI draws a progress bar with it).
    Returns the sidecar dict.
    """
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {METHODS}")
    if source not in SOURCES:
        raise ValueError(f"unknown source {source!r}; choose one of {SOURCES}")
    out_path = Path(out_path)
    kwargs = dict(DEFAULT_KWARGS if model_kwargs is None else model_kwargs)
    t0 = time.perf_counter()
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    augment = GlyphAugment()

    if source == "glyphs":
        bank: GlyphBank | _FashionSource = make_bank(stroke_classes, bank_variants, seed=seed)
        draw = lambda n: sample_batch(bank, n, gen, augment)  # noqa: E731
        src_desc = {"name": "glyphs", "classes": bank.num_classes, "font_classes": sum(n.startswith("char:") for n in bank.names),
                    "stroke_classes": stroke_classes, "variants": bank_variants,
                    "font": "Pillow ImageFont.load_default (Aileron), no digits, no O/o/l/I/|"}
        ref = bank.images.float().div(255.0)
    else:
        bank = _FashionSource(data_root)
        draw = lambda n: bank.sample(n, gen, augment)  # noqa: E731
        src_desc = {"name": "fashion-mnist", "classes": 10}
        ref = bank.x[:10000].float().div(255.0)
    if mean_std is None:
        mean_std = (round(ref.mean().item(), 4), round(ref.std().item(), 4))
    mean, std = mean_std

    num_classes = bank.num_classes if method == "supervised" else 0
    model = create_backbone(model_name, kwargs, num_classes)
    proj: nn.Module | None = None
    params = list(model.parameters())
    if method == "simclr":
        d = model.num_features
        proj = nn.Sequential(nn.Linear(d, d), nn.GELU(), nn.Linear(d, 64))
        params += list(proj.parameters())
    random_state = backbone_state(model)
    decay = [p for p in params if p.ndim >= 2]
    no_decay = [p for p in params if p.ndim < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}], lr=lr)
    steps_per_epoch = max(1, samples_per_epoch // batch_size)
    total = epochs * steps_per_epoch
    warmup = max(1, int(warmup_frac * total))
    model.train()
    losses: list[float] = []
    for step in range(total):
        for g in opt.param_groups:
            g["lr"] = _lr_at(step, total, warmup, lr)
        if method == "supervised":
            x, y = draw(batch_size)
            loss = F.cross_entropy(model((x - mean) / std), y, label_smoothing=label_smoothing)
        else:
            x, _ = draw(batch_size)
            x1, x2 = augment(x.clone(), gen), augment(x, gen)
            z = model(torch.cat([(x1 - mean) / std, (x2 - mean) / std]))
            z = proj(z)
            loss = _nt_xent(z[:batch_size], z[batch_size:], simclr_tau)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        losses.append(loss.item())
        if progress is not None:
            progress(step + 1, total, losses[-1])
    train_s = time.perf_counter() - t0

    out_path.parent.mkdir(parents=True, exist_ok=True)
    state = backbone_state(model)
    # one metadata key only: safetensors writes its metadata map in hash order, so several keys
    # would make the bytes (and the sha256) differ between identical runs
    meta = json.dumps({"model_name": model_name, "model_kwargs": kwargs}, sort_keys=True)
    save_file(state, str(out_path), metadata={"edgecl_backbone": meta})
    results: dict[str, Any] = {}
    if probe:
        data = probe_data if probe_data is not None else mnist_probe_split(data_root)
        results["pretrained"] = probe_backbone(model, mean, std, data)
        rnd = create_backbone(model_name, kwargs, 0)
        rnd.load_state_dict(random_state, strict=False)
        results["random_init"] = probe_backbone(rnd, mean, std, data)
        results["probe_set"] = f"MNIST train[:{len(data[1])}] fit, train[-{len(data[3])}:] scored (never test)"
    sidecar: dict[str, Any] = {
        "model_name": model_name,
        "model_kwargs": kwargs,
        "mean": [mean],
        "std": [std],
        "source": src_desc,
        "method": method,
        "config": {"epochs": epochs, "batch_size": batch_size, "lr": lr, "seed": seed,
                   "samples_per_epoch": samples_per_epoch, "weight_decay": weight_decay,
                   "warmup_frac": warmup_frac, "label_smoothing": label_smoothing,
                   "simclr_tau": simclr_tau, "steps": total, "threads": torch.get_num_threads()},
        "command": command,
        "final_loss": float(np.mean(losses[-50:])) if losses else None,
        "train_seconds": round(train_s, 1),
        "num_params": sum(v.numel() for v in state.values()),
        "probe": results,
        "file": out_path.name,
        "sha256": sha256_file(out_path),
        "torch": torch.__version__,
        "timm": timm.__version__,
    }
    out_path.with_suffix(".json").write_text(json.dumps(sidecar, indent=2) + "\n")
    return sidecar
