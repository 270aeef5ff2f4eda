"""PyTorch -> ONNX FP32 with the ONNX Runtime parity check built in.

Exporter choice (measured on this 2-core CPU, torch 2.14.1, timm 1.0.31, fused attention off,
max |logit diff| vs PyTorch on 5 random inputs via ORT CPU):

    model                    exporter     opset  export s  nodes  max|dlogit|  LayerNormalization
    vit 28px/1ch e128 d4 h4  torchscript  16     0.12      387    4.5e-7       no (decomposed)
                             torchscript  17     0.11      297    4.5e-7       yes
                             dynamo       16     3.2       141    4.2e-7       yes: graph came out as opset 18
                             dynamo       17     3.1       141    4.2e-7       yes
    vit_small_patch16_224    torchscript  16     0.95      1075   1.3e-6       no
                             torchscript  17     1.8       825    1.3e-6       yes
                             dynamo       17     6.5       397    1.3e-6       yes

Both agree with PyTorch equally well and ORT runs both graphs at the same speed after its own graph
optimisation (vit_small b1: 70 vs 67 ms, within noise), so node count does not matter on the device.
TorchScript is the default because it is 3-30x faster to export and it is the only one of the two that
really emits opset 16 (JetPack 5 / TensorRT 8.5 cannot parse LayerNormalization, so it needs the
decomposed LayerNorm of opset 16); the dynamo exporter is kept as an option for opset >= 17 and is
refused below that rather than silently returning an opset-18 graph. TorchScript export is deprecated
in torch 2.9+; its deprecation warning is silenced here because this choice is deliberate.
"""
from __future__ import annotations

import warnings
from pathlib import Path
from typing import Sequence

import numpy as np
import onnx
import torch
from edgecl_runtime.atomic_io import move_into_place, temp_dir_beside
from torch import nn

from ..parity.ort_session import onnx_logits
from ..parity.reference import export_mode, model_device, torch_logits

EXPORTERS = ("torchscript", "dynamo")
DEFAULT_EXPORTER = "torchscript"
MIN_OPSET = {"torchscript": 14, "dynamo": 17}
MAX_OPSET = 20
INPUT_NAME = "input"
OUTPUT_NAME = "logits"
PARITY_ATOL = 1e-4  # export sanity check on random inputs; the real gate lives in edgecl_runtime.bundle.gate
_PROTOBUF_LIMIT = 2 * 1024**3 - 64 * 1024**2  # single-file ONNX must stay under 2 GB; keep graph headroom


class ExportError(RuntimeError):
    """An export produced no usable graph (bad arguments, checker failure, parity failure)."""


def export_onnx(
    model: nn.Module,
    path: str | Path,
    *,
    input_shape: Sequence[int],
    opset: int = 17,
    exporter: str = DEFAULT_EXPORTER,
    parity_atol: float = PARITY_ATOL,
) -> Path:
    """Export ``model`` (an ``edgecl.model.Normalized`` ViT) to ``path`` and verify it; returns ``path``.

    Graph: input ``input`` float32 (batch, C, H, W) with a dynamic batch axis, output ``logits``
    float32 (batch, K). The graph passes ``onnx.checker.check_model(full_check=True)`` and ORT's
    logits on 3 random inputs (a batch size different from the traced one, so the dynamic axis is
    exercised) match PyTorch's to ``parity_atol`` absolute. One self-contained file unless the weights
    exceed 2 GB (then ``<name>.data`` beside it). Written atomically: nothing at ``path`` on failure.
    """
    shape = _check_args(model, input_shape, opset, exporter)
    path = Path(path)
    with temp_dir_beside(path) as tmp_dir, export_mode(model):
        tmp = tmp_dir / path.name
        example = _example(model, shape, batch=2, seed=0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", category=(DeprecationWarning, FutureWarning, torch.jit.TracerWarning))
            try:
                if exporter == "torchscript":
                    _export_torchscript(model, example, tmp, opset)
                else:
                    _export_dynamo(model, example, tmp, opset, external=_too_big(model))
            except Exception as exc:  # torch raises many types, often with pages of trace text
                first = (str(exc).strip().splitlines() or [""])[0][:300]
                raise ExportError(f"{exporter} export failed: {type(exc).__name__}: {first}") from exc
        check_graph(tmp, opset=opset)
        check_parity(model, tmp, _example(model, shape, batch=3, seed=1).cpu().numpy(), atol=parity_atol)
        _move_files(tmp_dir, path.parent)
    return path


def _check_args(model: nn.Module, input_shape: Sequence[int], opset: int, exporter: str) -> tuple[int, int, int]:
    if not isinstance(model, nn.Module):
        raise ExportError(f"model must be a torch nn.Module, got {type(model).__name__}")
    if exporter not in EXPORTERS:
        raise ExportError(f"unknown exporter {exporter!r}: choose one of {', '.join(EXPORTERS)}")
    if not (MIN_OPSET[exporter] <= int(opset) <= MAX_OPSET):
        hint = "; below 17 use the torchscript exporter" if exporter == "dynamo" else ""
        raise ExportError(f"opset {opset} not supported by the {exporter} exporter"
                          f" (use {MIN_OPSET[exporter]}..{MAX_OPSET}{hint})")
    shape = tuple(int(v) for v in input_shape)
    if len(shape) != 3 or min(shape) < 1:
        raise ExportError(f"input_shape must be (C, H, W) with positive sizes, got {tuple(input_shape)}")
    return shape  # type: ignore[return-value]


def _example(model: nn.Module, shape: tuple[int, int, int], *, batch: int, seed: int) -> torch.Tensor:
    """Uniform [0, 1) inputs, the value range every edgecl model sees."""
    gen = torch.Generator().manual_seed(seed)
    return torch.rand((batch, *shape), generator=gen).to(model_device(model))


def _too_big(model: nn.Module) -> bool:
    size = sum(t.numel() * t.element_size() for t in list(model.parameters()) + list(model.buffers()))
    return size > _PROTOBUF_LIMIT


def _export_torchscript(model: nn.Module, example: torch.Tensor, out: Path, opset: int) -> None:
    # The TorchScript exporter switches to external data by itself when the protobuf would pass 2 GB.
    with torch.no_grad():
        torch.onnx.export(
            model, (example,), str(out), dynamo=False, opset_version=int(opset),
            input_names=[INPUT_NAME], output_names=[OUTPUT_NAME], do_constant_folding=True,
            dynamic_axes={INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}},
        )


def _export_dynamo(model: nn.Module, example: torch.Tensor, out: Path, opset: int, *, external: bool) -> None:
    # Batch 2 in the example: torch.export specialises a size-1 dimension, so a traced 1 would be static.
    batch = torch.export.Dim("batch")
    with torch.no_grad():
        torch.onnx.export(
            model, (example,), str(out), dynamo=True, opset_version=int(opset),
            input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
            dynamic_shapes=({0: batch},), external_data=external, verbose=False,
        )


def check_graph(path: str | Path, *, opset: int | None = None) -> onnx.ModelProto:
    """Full ONNX checker plus the edgecl interface: ``input`` (?, C, H, W) float32 -> ``logits`` (?, K).

    Returns the model without external weights loaded (enough for interface checks).
    """
    path = Path(path)
    try:
        onnx.checker.check_model(str(path), full_check=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as exc:
        raise ExportError(f"ONNX checker rejected {path.name}: {str(exc).strip().splitlines()[0]}") from exc
    m = onnx.load(str(path), load_external_data=False)
    got = {o.version for o in m.opset_import if o.domain in ("", "ai.onnx")}
    if opset is not None and got != {int(opset)}:
        raise ExportError(f"exported graph has opset {sorted(got)}, asked for {opset}")
    ins, outs = list(m.graph.input), list(m.graph.output)
    if [i.name for i in ins] != [INPUT_NAME] or [o.name for o in outs] != [OUTPUT_NAME]:
        got_io = f"{[i.name for i in ins]} -> {[o.name for o in outs]}"
        raise ExportError(f"graph I/O is {got_io}, want ['input'] -> ['logits']")
    for v, rank in ((ins[0], 4), (outs[0], 2)):
        t = v.type.tensor_type
        if t.elem_type != onnx.TensorProto.FLOAT or len(t.shape.dim) != rank or t.shape.dim[0].dim_value:
            raise ExportError(f"graph {v.name!r} must be float32 rank {rank} with a dynamic batch axis")
    return m


def check_parity(model: nn.Module, onnx_path: str | Path, x: np.ndarray, *, atol: float = PARITY_ATOL) -> float:
    """Max |ORT - PyTorch| logits on ``x``; raises :class:`ExportError` above ``atol`` (absolute)."""
    ref = torch_logits(model, x)
    got = onnx_logits(onnx_path, x)
    if got.shape != ref.shape:
        raise ExportError(f"ONNX logits shape {got.shape} != PyTorch {ref.shape}")
    diff = float(np.max(np.abs(got - ref))) if ref.size else 0.0
    if not np.isfinite(diff) or diff > atol:
        raise ExportError(f"ONNX parity check failed: max |logit diff| {diff:.3g} > {atol:g}")
    return diff


def _move_files(src_dir: Path, dst_dir: Path) -> None:
    """Move every produced file into place; weights data first, so the .onnx never points at nothing."""
    files = sorted(src_dir.iterdir(), key=lambda p: p.suffix == ".onnx")
    for f in files:
        move_into_place(f, dst_dir / f.name)
