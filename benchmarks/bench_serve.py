"""``edgecl-rt serve`` under a flood of requests: clean lines vs 10 % bad lines, side by side.

    python benchmarks/bench_serve.py                    # 1000 lines per flood, 5 repetitions
    python benchmarks/bench_serve.py --lines 4000 --reps 9

Why: a bad line must cost one error answer and nothing else, so a flood
with 10 % bad lines must lose no request (answers == lines, checked on every repetition) and
run at about the clean flood's rate. Each good line classifies one 28x28 image with the tiny
test bundle (tests/runtime/rt_factory.py) on ORT; the bad lines cycle through these
probes: 1,000 ``[``, an invalid UTF-8 byte, broken JSON, a path outside --allow, a folder, and a
line over the 1 MiB cap (read and dropped in 64 KiB chunks). The server runs in this process on
in-memory streams (``ModelServer.serve``), so the numbers are the request path alone, without
pipe or start-up costs. ratio = bad-flood requests/s / clean-flood requests/s, median of
same-repetition ratios.
"""
from __future__ import annotations

import argparse
import io
import json
import sys
import tempfile
from pathlib import Path
from typing import Callable, List

from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.runtime.rt_factory

from edgecl_runtime.serve import ModelServer  # noqa: E402
from tests.runtime.rt_factory import make_bundle  # noqa: E402
from timing import interleaved, median_ratio, print_table, ratio_spread  # noqa: E402

BAD_EVERY = 10  # every 10th line is bad: 10 %


def bad_lines(root: Path) -> List[bytes]:
    """One line per probe: malformed, undecodable, outside --allow, a folder, over the line cap."""
    return [b"[" * 1000, b'{"id": 1, "image": "\xff.png"}', b'{"id": 1, "image": ',
            json.dumps({"id": 1, "image": "/etc/passwd"}).encode(),
            json.dumps({"id": 1, "images": [str(root)]}).encode(), b"x" * ((1 << 20) + 1)]


def flood(good: bytes, bad: List[bytes], n: int, with_bad: bool) -> bytes:
    """``n`` request lines; with ``with_bad`` every BAD_EVERY-th one is a bad line."""
    lines = [bad[(i // BAD_EVERY) % len(bad)] if with_bad and i % BAD_EVERY == BAD_EVERY - 1 else good
             for i in range(n)]
    return b"".join(line + b"\n" for line in lines)


def case(server: ModelServer, data: bytes, n: int, counts: List[tuple]) -> Callable[[], None]:
    """Serve ``data`` once; fail loudly if any line went unanswered."""
    def run() -> None:
        out = io.StringIO()
        answered = server.serve(io.BytesIO(data), out)
        answers = [json.loads(line) for line in out.getvalue().splitlines()]
        if answered != n or len(answers) != n:
            raise SystemExit(f"lost requests: {n} lines, {answered} answers")
        counts.append((len(answers), sum("error" in a for a in answers)))
    return run


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lines", type=int, default=1000)
    ap.add_argument("--reps", type=int, default=5)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        make_bundle(root / "run" / "task-01" / "export", task=1)
        Image.new("L", (28, 28), 128).save(root / "a.png")
        server = ModelServer(root / "run", log=lambda msg: None, allow=[root])
        server.start()
        try:
            good = json.dumps({"id": 1, "image": str(root / "a.png")}).encode()
            bad = bad_lines(root)
            counts = {"clean": [], "10% bad": []}
            cases = {name: case(server, flood(good, bad, args.lines, name != "clean"), args.lines, counts[name])
                     for name in counts}
            times = interleaved(cases, args.reps)
        finally:
            server.stop()
    rows = [[name, args.lines, *counts[name][-1], f"{sorted(t)[len(t) // 2]:.3f}",
             f"{args.lines / sorted(t)[len(t) // 2]:.0f}"] for name, t in times.items()]
    print_table(f"serve flood, {args.lines} lines, median of {args.reps}",
                ["flood", "lines", "answers", "errors", "seconds", "requests/s"], rows)
    ratio = median_ratio(times, "clean", "10% bad")  # time_clean / time_bad = rate_bad / rate_clean
    print(f"\nratio 10%-bad / clean requests/s: {ratio:.2f} (IQR {ratio_spread(times, 'clean', '10% bad')}); "
          "no request lost in any repetition")


if __name__ == "__main__":
    main()
