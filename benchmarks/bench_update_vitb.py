"""Over-the-air update size for a ViT-B/16 at 224 px with r = 10.

    python benchmarks/bench_update_vitb.py [--rank 10] [--threads 2]

A generated two-task model, no data: task 1 is a random-init ViT-B/16 with a 5-class head; task 2
is task 1 with random rank-r factors on every block's K/V rows merged by the reconstruction routine
(:func:`edgecl_runtime.update.math.apply_factors`, as ``learn`` merges) and a 10-class head. Both are
exported with the bundle's own exporters (FP32 ONNX, FP16 conversion); the update's ONNX patches
are cut and *rebuilt with the device routine* (so the sizes are of patches proven byte-identical).
Golden data is counted, not generated: the full bundle's golden.npz at its 64 MiB cap, the update's
``NEW_GOLDEN_BYTES`` of uint8 images plus float32 logits for every rebuilt row (the base's rows
and the new images). Bytes of manifests and configs (a few KB) are left out of both.
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from edgecl.exporters.onnx.fp16 import convert_fp16
from edgecl.exporters.parity.golden import DEFAULT_GOLDEN, DEFAULT_GOLDEN_BYTES
from edgecl.exporters.onnx.export import export_onnx
from edgecl.exporters.onnx.patch import reproducible_patch
from edgecl.exporters.update_package import NEW_GOLDEN, NEW_GOLDEN_BYTES
from edgecl.vit.model import Normalized, create_vit
from edgecl_runtime.update.math import apply_factors, factor_key

CHW = (3, 224, 224)


def task_models(rank: int) -> tuple[torch.nn.Module, torch.nn.Module, dict[str, np.ndarray]]:
    torch.manual_seed(0)
    first = create_vit("vit_base_patch16_224", 5)
    second = create_vit("vit_base_patch16_224", 10)
    state = first.state_dict()
    rng = np.random.default_rng(0)
    d = first.num_features
    factors = {}
    for b in range(len(first.blocks)):
        factors[factor_key(b, "D")] = (rng.standard_normal((rank, d)) / np.sqrt(3 * d)).astype(np.float32)
        factors[factor_key(b, "U_k")] = (0.01 * rng.standard_normal((d, rank))).astype(np.float32)
        factors[factor_key(b, "U_v")] = (0.01 * rng.standard_normal((d, rank))).astype(np.float32)
    qkv = {b: state[f"blocks.{b}.attn.qkv.weight"].numpy() for b in range(len(first.blocks))}
    merged = apply_factors(qkv, factors)
    new_state = {k: v for k, v in state.items() if not k.startswith("head")}
    new_state.update({f"blocks.{b}.attn.qkv.weight": torch.from_numpy(w) for b, w in merged.items()})
    new_state.update({k: v for k, v in second.state_dict().items() if k.startswith("head")})
    second.load_state_dict(new_state)
    wrap = lambda m: Normalized(m, [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]).eval()  # noqa: E731
    return wrap(first), wrap(second), {"merged": merged, "factors": factors}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rank", type=int, default=10)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    base_model, target_model, made = task_models(args.rank)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        started = time.perf_counter()
        for name, model in (("base", base_model), ("target", target_model)):
            export_onnx(model, root / f"{name}.onnx", input_shape=CHW)
            convert_fp16(root / f"{name}.onnx", root / f"{name}.fp16.onnx")
        export_s = (time.perf_counter() - started) / 2
        sizes = {}
        for suffix in (".onnx", ".fp16.onnx"):
            patch = reproducible_patch(root / f"target{suffix}", root / f"base{suffix}", made["merged"])
            full = (root / f"target{suffix}").stat().st_size
            sizes[suffix] = (full, full if patch is None else len(patch[0]), patch is not None)
    per_image = int(np.prod(CHW))
    golden_rows = min(DEFAULT_GOLDEN, DEFAULT_GOLDEN_BYTES // (4 * per_image))
    golden_full = golden_rows * per_image * 4 + golden_rows * (10 * 4 + 16)
    new_images = min(NEW_GOLDEN, NEW_GOLDEN_BYTES // per_image)
    golden_update = new_images * per_image + (golden_rows + new_images) * (10 * 4 + 16)
    factors = sum(v.nbytes for v in made["factors"].values())
    print(f"ViT-B/16, 224 px, r = {args.rank}: one export (FP32 + FP16) {export_s:.0f} s\n")
    print("| part | full bundle bytes | update bytes | update / full |")
    print("|---|---:|---:|---:|")
    for suffix, label in ((".onnx", "model.onnx (FP32)"), (".fp16.onnx", "model.fp16.onnx")):
        full, shipped, patched = sizes[suffix]
        print(f"| {label} | {full:,} | {shipped:,} {'(patch)' if patched else '(whole)'} | {100 * shipped / full:.2f} % |")
    print(f"| factors ({len(made['factors']) // 3} blocks) | - | {factors:,} | - |")
    print(f"| golden ({golden_rows} rows float32 / {new_images} new uint8 images + logits) | {golden_full:,} | "
          f"{golden_update:,} | {100 * golden_update / golden_full:.2f} % |")
    full_total = sizes[".onnx"][0] + sizes[".fp16.onnx"][0] + golden_full
    update_total = sizes[".onnx"][1] + sizes[".fp16.onnx"][1] + factors + golden_update
    print(f"| **total (FP32 + FP16 bundle)** | {full_total:,} | {update_total:,} | {100 * update_total / full_total:.2f} % |")
    print(f"\nupdate against the FP16 model file alone: {100 * update_total / sizes['.fp16.onnx'][0]:.2f} %")


if __name__ == "__main__":
    main()
