"""Whole tasks on a tiny ViT: no interference, merging == the official unmerged way, state round trip."""
from dataclasses import replace

import timm
import torch

from edgecl.vit.classifier import IncrementalClassifier
from edgecl.inflora import SubspaceMemory
from edgecl.config import RunConfig
from edgecl.learning.learner import TaskData, Training, learn_task, lr_at_epoch
from edgecl.run.tensors import load_memories, load_tensors, save_memories, save_model
from tests.factory import TINY, synthetic_classes, tiny_vit

CONFIG = RunConfig(rank=3, epochs=3, lr=5e-3, lam=0.95, tasks=3, seed=0)
IMAGES, LABELS = synthetic_classes(6, 24, seed=1)


def batches_for(task: int, epoch: int = 0):
    idx = torch.nonzero((LABELS // 2) == task).flatten()
    order = idx[torch.randperm(len(idx), generator=torch.Generator().manual_seed(100 * task + epoch))]
    return [(IMAGES[order[i:i + 16]], LABELS[order[i:i + 16]]) for i in range(0, len(order), 16)]


def run_tasks(n_tasks: int, merge: bool = True, method: str = "inflora"):
    clf = IncrementalClassifier(tiny_vit(seed=3), [0.5], [0.5])
    memories = [SubspaceMemory.empty(32) for _ in clf.vit.blocks]
    history = []
    config = replace(CONFIG, method=method)
    for t in range(n_tasks):
        before = [b.attn.qkv.weight.detach().clone() for b in clf.vit.blocks]
        task = TaskData(t, 2, lambda t=t: batches_for(t), lambda e, t=t: batches_for(t, e))
        out = learn_task(clf, memories, task, config, Training(torch.device("cpu")), merge=merge)
        history.append((before, memories, out))
        memories = out.memories
    return clf, memories, history


def test_task_two_does_not_touch_old_inputs():
    clf, _, history = run_tasks(2)
    before, old_memories, out = history[1]
    d = 32
    for blk, w0, mem in zip(clf.vit.blocks, before, old_memories):
        delta = (blk.attn.qkv.weight.detach() - w0)[d:].double()
        assert delta.norm() > 1e-4  # the task did train
        assert float((delta @ mem.old_space_projector()).norm() / delta.norm()) < 1e-4
        assert torch.equal(blk.attn.qkv.weight.detach()[:d], w0[:d])  # Q untouched
    assert max(out.interference) < 1e-4
    assert all(m.old_space_dim >= o.old_space_dim for m, o in zip(out.memories, old_memories))


def test_seqlora_does_interfere():
    """SeqLoRA's random, trained D moves the old space that InfLoRA's designed D leaves alone."""
    seq, _, history = run_tasks(2, method="seqlora")
    before, _, out = history[1]
    assert out.memories[0].is_empty and out.designs == []  # no statistics, no memory
    _, _, inflora = run_tasks(2)
    old_space = inflora[1][1]  # InfLoRA's memory after task 1 (same model, data and seeds)
    ratios = []
    for blk, w0, mem in zip(seq.vit.blocks, before, old_space):
        delta = (blk.attn.qkv.weight.detach() - w0)[32:].double()
        ratios.append(float((delta @ mem.old_space_projector()).norm() / delta.norm()))
    assert min(ratios) > 1e-2, ratios
    assert min(ratios) > 1e3 * max(inflora[1][2].interference)


def test_merged_trajectory_equals_unmerged_branches():
    merged, mem_a, _ = run_tasks(3, merge=True)
    kept, mem_b, history = run_tasks(3, merge=False)
    assert all(h[2].adapter is not None and h[2].adapter.attached for h in history)
    x = torch.rand(8, 1, 28, 28, generator=torch.Generator().manual_seed(9))
    with torch.no_grad():
        a, b = merged.eval()(x), kept.eval()(x)
    assert a.shape == (8, 6)
    assert torch.allclose(a, b, atol=1e-4), float((a - b).abs().max())
    for ma, mb in zip(mem_a, mem_b):
        assert ma.old_space_dim == mb.old_space_dim


def test_state_round_trips_through_safetensors(tmp_path):
    clf, memories, _ = run_tasks(1)
    save_model(tmp_path / "weights.safetensors", clf.vit)
    save_memories(tmp_path / "memory.safetensors", memories)
    fresh = timm.create_model("vit_tiny_patch16_224", pretrained=False, num_classes=2, **TINY).eval()
    fresh.load_state_dict(load_tensors(tmp_path / "weights.safetensors"))
    x = torch.rand(3, 1, 28, 28)
    with torch.no_grad():
        assert torch.equal(fresh((x - 0.5) / 0.5), clf.eval()(x))
    back = load_memories(tmp_path / "memory.safetensors")
    assert [m.kind for m in back] == [m.kind for m in memories]
    assert all(torch.equal(a.basis, b.basis) for a, b in zip(back, memories))
    assert b"pickle" not in (tmp_path / "memory.safetensors").read_bytes()[:200]


def test_official_cosine_schedule():
    assert lr_at_epoch(1.0, 0, 20) == 1.0
    assert abs(lr_at_epoch(1.0, 19, 20) - 0.015707) < 1e-5
    assert lr_at_epoch(0.5, 0, 1) == 0.5
