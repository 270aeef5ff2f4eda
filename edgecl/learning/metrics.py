"""Continual-learning metrics from the accuracy matrix (row i = after task i+1, entry j = task j+1).

A_T  = accuracy on every class seen after the last task (over the union of seen test sets);
mean incremental accuracy = mean over t of A_t;
forgetting = mean over old tasks j of (best accuracy on j before the last task - final on j);
backward transfer = mean over old tasks j of (final on j - accuracy on j right after learning j).
"""
from __future__ import annotations

from typing import Any


def forgetting(matrix: list[list[float]]) -> float:
    if len(matrix) < 2:
        return 0.0
    last = matrix[-1]
    drops = [max(row[j] for row in matrix[j:-1]) - last[j] for j in range(len(matrix) - 1)]
    return sum(drops) / len(drops)


def backward_transfer(matrix: list[list[float]]) -> float:
    if len(matrix) < 2:
        return 0.0
    last = matrix[-1]
    diffs = [last[j] - matrix[j][j] for j in range(len(matrix) - 1)]
    return sum(diffs) / len(diffs)


def run_metrics(task_metrics: list[dict[str, Any]]) -> dict[str, Any]:
    """The run's metrics.json (fixed keys) from the per-task metrics in task order."""
    matrix = [m["accuracy_row"] for m in task_metrics]
    seen = [m["seen_accuracy"] for m in task_metrics]
    return {
        "tasks_done": len(task_metrics),
        "accuracy_matrix": matrix,
        "final_accuracy": seen[-1] if seen else None,
        "average_incremental_accuracy": sum(seen) / len(seen) if seen else None,
        "forgetting": forgetting(matrix),
        "backward_transfer": backward_transfer(matrix),
        "interference": [
            {"task": m["task"], **{k: v for k, v in m["interference"].items()}} for m in task_metrics
        ],
        "seconds": [{"task": m["task"], **m["seconds"]} for m in task_metrics],
        "old_space_dim": [m.get("old_space_dim", []) for m in task_metrics],
    }
