"""memory.safetensors keeps one gradient memory per block: every block's comes back, in order,
with its basis, kind and update count (a lost block would learn its next task unprotected)."""
import torch

from edgecl.inflora.memory import SubspaceMemory
from edgecl.run.tensors import load_memories, save_memories


def _memory(block: int, k: int) -> SubspaceMemory:
    gen = torch.Generator().manual_seed(block)
    q, _ = torch.linalg.qr(torch.randn(8, k, generator=gen, dtype=torch.float64))
    return SubspaceMemory(q, "remove" if block % 2 == 0 else "retain", block + 1)


def test_every_blocks_memory_round_trips_in_order(tmp_path):
    memories = [_memory(b, k) for b, k in enumerate((1, 2, 3))]
    save_memories(tmp_path / "memory.safetensors", memories)
    back = load_memories(tmp_path / "memory.safetensors")
    assert len(back) == len(memories)
    for a, b in zip(memories, back):
        assert torch.equal(a.basis, b.basis) and (a.kind, a.updates) == (b.kind, b.updates)
