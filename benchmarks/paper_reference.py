"""The published InfLoRA numbers a paper-protocol run is compared with (figures, not code).

Sources (transcribed in the project's shared facts.md): the CVPR 2024 paper's tables (final
accuracy A_T / mean incremental accuracy, mean of seeds 0-4) and the official repository's seed-0
logs (liangyanshuo/InfLoRA, ``logs/``): the A_T after every task ("CNN top1 curve") and the
per-block old-space dimensions of the DualGPM memory after the first and the last task.
Keys are the config names in ``configs/``; a protocol without a published number has no key.
"""
from __future__ import annotations

# A_T / mean incremental accuracy (%), paper tables.
PAPER_FINAL: dict[str, tuple[float, float]] = {
    "cifar100-10": (86.51, 91.70),
    "imagenet-r-5": (77.52, 82.01),
    "imagenet-r-10": (75.65, 80.82),
    "imagenet-r-20": (71.01, 77.28),
}

# A_T after each task (%), official seed-0 logs (the +CA log stops after task 3).
SEED0_CURVE: dict[str, list[float]] = {
    "cifar100-10": [99.4, 96.55, 94.47, 92.1, 90.98, 89.05, 88.31, 87.76, 87.93, 86.34],
    "imagenet-r-10": [91.4, 87.88, 84.28, 81.15, 81.1, 79.87, 76.39, 75.41, 76.08, 75.35],
    "imagenet-r-10-ca": [90.11, 87.16, 85.98],
}

# Old-space dimension of blocks 1..12 after task t (1-based), official seed-0 logs.
SEED0_DIMS: dict[str, dict[int, list[int]]] = {
    "cifar100-10": {1: [6, 9, 11, 10, 13, 14, 14, 18, 20, 17, 7, 11],
                    10: [10, 24, 44, 67, 95, 142, 182, 264, 359, 410, 307, 325]},
    "imagenet-r-10": {1: [7, 11, 14, 19, 28, 26, 30, 31, 50, 60, 28, 81],
                      10: [17, 52, 124, 178, 237, 254, 304, 353, 483, 558, 524, 651]},
}
