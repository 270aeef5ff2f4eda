"""Model and memory state as safetensors (never pickle), written atomically."""
from __future__ import annotations

from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from edgecl_runtime.atomic_io import atomic_path
from edgecl.inflora import SubspaceMemory


def save_tensors(path: str | Path, tensors: dict[str, torch.Tensor], metadata: dict[str, str] | None = None) -> None:
    with atomic_path(path) as tmp:
        save_file({k: v.detach().contiguous().cpu() for k, v in tensors.items()}, str(tmp), metadata=metadata)


def load_tensors(path: str | Path, what: str = "tensor file") -> dict[str, torch.Tensor]:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{what} not found: {path}")
    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise ValueError(f"{what} is corrupt (not a safetensors file): {path}: {exc}") from None


def save_model(path: str | Path, model: nn.Module) -> None:
    save_tensors(path, model.state_dict())


def save_memories(path: str | Path, memories: list[SubspaceMemory]) -> None:
    tensors: dict[str, torch.Tensor] = {}
    for i, mem in enumerate(memories):
        tensors.update(mem.to_tensors(f"blocks.{i}"))
    save_tensors(path, tensors, {"format": "edgecl-dualgpm-1"})  # one key: safetensors orders metadata randomly


def load_memories(path: str | Path) -> list[SubspaceMemory]:
    tensors = load_tensors(path, "memory file")
    count = len({k.split(".")[1] for k in tensors if k.startswith("blocks.")})
    return [SubspaceMemory.from_tensors(tensors, f"blocks.{i}") for i in range(count)]
