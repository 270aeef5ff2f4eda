"""The published InfLoRA numbers a paper-protocol run is compared with (figures, not code).

Sources (transcribed in the project's shared facts.md): the CVPR 2024 paper's tables (final
accuracy A_T / mean incremental accuracy, mean of seeds 0-4) and the official repository's seed-0
logs (liangyanshuo/InfLoRA, ``logs/``): the A_T after every task ("CNN top1 curve") and the
per-block old-space dimensions of the DualGPM memory after the first and the last task.
Keys are the config names in ``configs/``; a protocol without a published number has no key.
A log is keyed to a config only when its folder's hyper-parameters (optimiser, rank, lambda, lr)
are the config's (``SEED0_LOG``; tests/learning/test_paper_check.py checks this). Where a log holds
several runs, the curve is the run that reached the last task: the +CA logs end with restarts
that repeat the same values and stop early (task 3 on ImageNet-R, task 4 on CIFAR-100).
The -b5 and +CA logs print no memory dims.
"""
from __future__ import annotations

# A_T / mean incremental accuracy (%), paper tables.
PAPER_FINAL: dict[str, tuple[float, float]] = {
    "cifar100-10": (86.51, 91.70),
    "imagenet-r-5": (77.52, 82.01),
    "imagenet-r-10": (75.65, 80.82),
    "imagenet-r-20": (71.01, 77.28),
}

# The official seed-0 log each curve below is read from (liangyanshuo/InfLoRA, read at commit 3c97364).
SEED0_LOG: dict[str, str] = {
    "cifar100-10": "logs/cifar100/10_10_sip/InfLoRA/adam/10/0.95_1.0-0.0005/0.log",
    "cifar100-10-b5": "logs/cifar100/10_10_sip/InfLoRAb5/adam/10/0.95_1.0-0.001/0.log",
    "cifar100-10-ca": "logs/cifar100/10_10_sip/InfLoRA_CA1/sgd/5/0.95_1.0-0.001/0.log",
    "imagenet-r-10": "logs/ImageNet_R/20_20_sip/InfLoRA/adam/10/0.98_1.0-0.0005/0.log",
    "imagenet-r-10-b5": "logs/ImageNet_R/20_20_sip/InfLoRAb5/adam/10/0.99_1.0-0.0005/0.log",
    "imagenet-r-10-ca": "logs/ImageNet_R/20_20_sip/InfLoRA_CA/sgd/10/0.95_1.0-0.001/0.log",
}

# A_T after each task (%), official seed-0 logs.
SEED0_CURVE: dict[str, list[float]] = {
    "cifar100-10": [99.4, 96.55, 94.47, 92.1, 90.98, 89.05, 88.31, 87.76, 87.93, 86.34],
    "cifar100-10-b5": [99.4, 96.7, 95.0, 92.65, 91.9, 88.82, 88.11, 87.59, 87.7, 86.34],
    "cifar100-10-ca": [99.3, 97.45, 96.1, 95.6, 94.4, 93.42, 92.63, 92.18, 92.37, 91.66],
    "imagenet-r-10": [91.4, 87.88, 84.28, 81.15, 81.1, 79.87, 76.39, 75.41, 76.08, 75.35],
    "imagenet-r-10-b5": [89.68, 85.86, 80.81, 78.0, 77.91, 76.46, 74.63, 74.06, 74.16, 73.95],
    "imagenet-r-10-ca": [90.11, 87.16, 85.98, 84.09, 83.19, 82.0, 80.71, 79.4, 80.12, 79.48],
}

# Curves whose log stopped before the last task (none at present); the check allows them short.
SEED0_STOPPED_EARLY: frozenset[str] = frozenset()

# Old-space dimension of blocks 1..12 after task t (1-based), official seed-0 logs.
SEED0_DIMS: dict[str, dict[int, list[int]]] = {
    "cifar100-10": {1: [6, 9, 11, 10, 13, 14, 14, 18, 20, 17, 7, 11],
                    10: [10, 24, 44, 67, 95, 142, 182, 264, 359, 410, 307, 325]},
    "imagenet-r-10": {1: [7, 11, 14, 19, 28, 26, 30, 31, 50, 60, 28, 81],
                      10: [17, 52, 124, 178, 237, 254, 304, 353, 483, 558, 524, 651]},
}
