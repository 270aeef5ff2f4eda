"""exporters/parity: the golden set and the export-side gate over streamed test sets."""
from .base import Mutant

PACKAGE = "exporters.parity"
PARITY = "tests/exporters/parity"
GOLDEN, GATE = "exporters/parity/golden.py", "exporters/parity/gate.py"
MUTANTS = [
    Mutant("golden-labels-misaligned", "golden labels taken from the first rows, not the chosen ones",
           GOLDEN, "ys.append(src.labels[idx])", "ys.append(src.labels[:len(idx)])", (PARITY,)),
    Mutant("golden-task-zero-based", "golden task ids 0-based instead of 1-based",
           GOLDEN, "np.full(len(idx), t, dtype=np.int64)", "np.full(len(idx), t - 1, dtype=np.int64)",
           (PARITY,)),
    Mutant("golden-bytes-uncapped", "the golden set ignores its byte cap",
           GOLDEN, "min(int(n), max(1, int(max_bytes) // per_image))", "int(n)", (PARITY,)),
    Mutant("stream-labels-unchecked", "a test set whose batches carry other labels than announced passes",
           GATE, "if check is not None and not np.array_equal(", "if False and not np.array_equal(", (PARITY,)),
    Mutant("stream-count-unchecked", "a test set that yields fewer images than its labels passes",
           GATE, "    if len(logits) != len(source):\n", "    if False:\n",
           ("tests/exporters/parity/test_stream_checks.py", PARITY)),
]
