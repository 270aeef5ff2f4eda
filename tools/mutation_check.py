#!/usr/bin/env python
"""Plant classic bugs in the code that carries the project's claims and report which survive.

Why: a green suite only means something if it goes red when the maths, the gate, the bundle
checks, the statistics or the loader break.  Each mutant below is one realistic bug (an
off-by-one comparison, a dropped term, a skipped check); a mutant that the tests do not kill
("survived") is a claim nobody tests.  Target: no survivors.  Run it before resolving an issue
that touches these files (it is not part of CI: a full run takes a while).

How: for every mutant the working tree (``git ls-files -co --exclude-standard``: tracked plus
untracked, not ignored) is copied to a temporary folder, ONE snippet is replaced in ONE file,
and ``python -m pytest -x -q -p no:cacheprovider <that mutant's test paths>`` runs inside the
copy.  The venv's editable install maps ``edgecl``, ``edgecl.exporters`` and ``edgecl_runtime``
to this checkout; a generated ``sitecustomize.py`` (on PYTHONPATH, so every subprocess the tests
start - ``python -m edgecl``, ``edgecl-rt``, torchrun workers - loads it too) rewrites that
mapping to the copy.  Before the tests, a probe checks that the three packages import from the
copy; ``--selfcheck`` proves it with marker prints, including a console script and a nested
subprocess.

Usage::

    python tools/mutation_check.py --list
    python tools/mutation_check.py --only energy-sigma2,gate-l1-ge
    python tools/mutation_check.py --baseline --jobs 2 --timeout 900

Exit status: 0 all killed, 1 some survived, 2 a mutant could not be planted or run (snippet
not found exactly once, baseline failing, timeout, import leak).

Editing the table: files move; when a snippet is no longer found exactly once the script stops
with one line naming the mutant and the file.  Fix ``path``/``original`` there.  Test paths
that do not exist (yet) are skipped with a note.
"""
from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

RT, EX, DATA = "tests/runtime", "tests/exporters", "tests/data"
INFLORA, LEARNING = "tests/inflora", "tests/learning"
REQUEST = "tests/learning/test_request.py"
CLI_EXPORT, CLI_CLAIMS = "tests/cli/test_export_cli.py", "tests/cli/test_learn_outcomes.py"
CLI_DIST = "tests/cli/test_distributed.py"
GATE, CLAIMS_CORE = "tests/runtime/bundle/test_gate.py", "tests/learning/test_interference.py"
MEMORY, DESIGN = "tests/inflora/test_memory.py", "tests/inflora/test_design_merge.py"


@dataclass(frozen=True)
class Mutant:
    id: str
    description: str
    path: str  # relative to the repository root
    original: str  # must occur exactly once in the file
    replacement: str
    tests: tuple[str, ...]  # test files/folders, run in this order with -x


MUTANTS: list[Mutant] = [
    # --- the gate (runtime/edgecl_runtime/bundle/gate.py; shared by exporters and edgecl-rt verify)
    Mutant("gate-l1-ge", "gate level 1 fails at max|dlogit| == threshold (> became >=)",
           "runtime/edgecl_runtime/bundle/gate.py",
           'elif not t["max_abs_diff"] <= thr["max_abs_diff"]:',
           'elif not t["max_abs_diff"] < thr["max_abs_diff"]:', (GATE, RT, EX)),
    Mutant("gate-l2-le", "gate level 2 fails at agreement == threshold (< became <=)",
           "runtime/edgecl_runtime/bundle/gate.py",
           'if not agree >= thr["top1_agreement"]:', 'if not agree > thr["top1_agreement"]:',
           (GATE, RT, EX)),
    Mutant("gate-l3-sign", "gate level 3 ignores accuracy drops (abs() dropped)",
           "runtime/edgecl_runtime/bundle/gate.py",
           'if not abs(delta) <= thr["accuracy_delta_pp"]:', 'if not delta <= thr["accuracy_delta_pp"]:',
           (GATE, RT, EX)),
    Mutant("fp32-loose", "FP32 top-1 / accuracy thresholds loosened to 0.95 and 5 pp",
           "runtime/edgecl_runtime/contract.py",
           '"fp32": {"max_abs_diff": 1e-4, "top1_agreement": 1.0, "accuracy_delta_pp": 0.1}',
           '"fp32": {"max_abs_diff": 1e-4, "top1_agreement": 0.95, "accuracy_delta_pp": 5.0}',
           (GATE, RT, EX)),
    Mutant("int8-agree", "INT8 top-1 agreement threshold loosened from 0.99 to 0.9",
           "runtime/edgecl_runtime/contract.py",
           '"int8": {"max_abs_diff": 1.0, "top1_agreement": 0.99,',
           '"int8": {"max_abs_diff": 1.0, "top1_agreement": 0.9,',
           (GATE, "tests/exporters/quantize/test_int8.py", RT, EX)),
    # --- bundle checks
    Mutant("bundle-no-sha", "bundle check skips the sha256 comparison (size only)",
           "runtime/edgecl_runtime/bundle/files.py",
           'if hashlib.sha256(data).hexdigest() != str(entry.get("sha256", "")).lower():',
           'if False and hashlib.sha256(data).hexdigest() != str(entry.get("sha256", "")).lower():',
           ("tests/runtime/bundle/test_read.py", RT, EX)),
    Mutant("serve-no-sha", "serve loads bundles without checking sha256",
           "runtime/edgecl_runtime/serve/server.py",
           "load_bundle(path, check_hashes=True)", "load_bundle(path, check_hashes=False)",
           ("tests/runtime/serve/test_server.py", RT)),
    Mutant("golden-last-task", "golden set drawn from the last task's test set only",
           "edgecl/exporting.py",
           "select_golden(test_sets, seed=config.seed)",
           "select_golden(test_sets[-1:], seed=config.seed)", (CLI_CLAIMS, EX, CLI_EXPORT)),
    Mutant("calib-last-task", "INT8 calibration images from the last task only",
           "edgecl/exporting.py",
           'idx = np.concatenate([data.indices("train", j) for j in range(1, task + 1)])',
           'idx = np.concatenate([data.indices("train", j) for j in range(task, task + 1)])',
           (CLI_CLAIMS, EX, CLI_EXPORT)),
    # --- statistics, memory, design, merge (edgecl/inflora)
    Mutant("stats-no-cls", "second moments leave out the CLS token",
           "edgecl/inflora/stats.py",
           "tokens = x.detach().reshape(-1, x.shape[-1])",
           "tokens = x.detach()[:, 1:].reshape(-1, x.shape[-1])",
           (CLAIMS_CORE, INFLORA, LEARNING, CLI_CLAIMS)),
    Mutant("energy-sigma2", "first-task energy is sigma^2 instead of sigma^4",
           "edgecl/inflora/memory.py",
           "energy = s**2\n        ratios", "energy = s\n        ratios",
           (MEMORY, CLAIMS_CORE, INFLORA, LEARNING)),
    Mutant("crossing-excluded", "_grow_remove stops before the direction that crosses eps",
           "edgecl/inflora/memory.py",
           "while take < len(energy) and acc < eps:",
           "while take < len(energy) and acc + float(energy[take]) < eps:",
           (MEMORY, CLAIMS_CORE, INFLORA, LEARNING)),
    Mutant("first-half-remove", "first task with k == d/2 stored as remove (< became <=)",
           "edgecl/inflora/memory.py",
           "if k < self.dim / 2:", "if k <= self.dim / 2:",
           (MEMORY, CLAIMS_CORE, INFLORA, LEARNING)),
    Mutant("flip-never", "remove memory never flips to retain past d/2",
           "edgecl/inflora/memory.py",
           "self.basis.shape[1] > self.dim / 2", "self.basis.shape[1] > self.dim",
           (MEMORY, CLAIMS_CORE, INFLORA, LEARNING)),
    Mutant("schedule-off-by-one", "threshold schedule uses t+1 (1-based) instead of t",
           "edgecl/inflora/memory.py",
           "return lam + (1.0 - lam) * task_index / num_tasks",
           "return lam + (1.0 - lam) * (task_index + 1) / num_tasks",
           (MEMORY, CLAIMS_CORE, INFLORA, LEARNING)),
    Mutant("design-unprojected", "design SVD taken on C, not on C projected off the old space",
           "edgecl/inflora/design.py",
           "torch.linalg.svd(project_away_old(c, memory))", "torch.linalg.svd(c)",
           (DESIGN, CLAIMS_CORE, INFLORA, LEARNING)),
    Mutant("design-no-sqrt3", "design rows lose the 1/sqrt(3) scale",
           "edgecl/inflora/design.py",
           ".T / math.sqrt(3.0)", ".T / 1.0",
           (DESIGN, CLAIMS_CORE, INFLORA, LEARNING)),
    Mutant("merge-q-rows", "merged K delta applied to the Q rows of qkv",
           "edgecl/inflora/branch.py",
           "torch.cat([zeros, self.up_k.double() @ d, self.up_v.double() @ d], dim=0)",
           "torch.cat([self.up_k.double() @ d, zeros, self.up_v.double() @ d], dim=0)",
           (DESIGN, CLAIMS_CORE, INFLORA, LEARNING)),
    # --- classifier alignment, distributed, loader
    Mutant("align-skipped", "classifier alignment never runs (stats still saved)",
           "edgecl/learning/step.py",
           "    if task > 1:\n        sizes = [len(c) for c in data.tasks[:task]]",
           "    if False:\n        sizes = [len(c) for c in data.tasks[:task]]",
           (CLAIMS_CORE, "tests/learning/test_align.py", LEARNING, CLI_CLAIMS)),
    Mutant("head-lr-dropped", "the optimiser gets no head rate from the run (heads train at --lr)",
           "edgecl/learning/learner.py",
           "config.lr, config.head_lr, config.weight_decay", "config.lr, None, config.weight_decay",
           (REQUEST, LEARNING)),
    Mutant("workers-unchecked", "--workers is not checked where it enters (refused later, exit 1)",
           "edgecl/learning/request.py",
           "return None if value >= 0 else f\"--workers", "return None if True else f\"--workers",
           (REQUEST, "tests/data/test_workers.py")),
    Mutant("run-json-reparsed", "rank 0 reads run.json again after opening the run",
           "edgecl/learning/driver.py",
           "    if run is None:  # ranks other than 0", "    if True:  # ranks other than 0",
           (REQUEST, CLI_CLAIMS)),
    Mutant("allreduce-noop", "all_reduce_sum_ does nothing",
           "edgecl/learning/distributed.py",
           "    if not dist.is_initialized():\n        return tensor\n",
           "    return tensor\n", (CLI_DIST, CLI_CLAIMS)),
    Mutant("shuffle-no-seed", "loader shuffle ignores the seed",
           "edgecl/data/loader.py",
           "make_generator(seed, epoch, 0)", "make_generator(0, epoch, 0)",
           ("tests/data/test_data_loader.py", DATA)),
    Mutant("shuffle-no-epoch", "loader shuffle ignores the epoch (same order every epoch)",
           "edgecl/data/loader.py",
           "make_generator(seed, epoch, 0)", "make_generator(seed, 0, 0)",
           ("tests/data/test_data_loader.py", DATA)),
]

SITECUSTOMIZE = '''\
# Generated by tools/mutation_check.py: import the project from the mutated copy, not the checkout.
import os as _os, sys as _sys
_src, _dst = _os.environ["MUTCHECK_SRC"], _os.environ["MUTCHECK_DST"]
def _under(p, root):
    return p == root or p.startswith(root + _os.sep)
def _move(p):  # the venv may live inside the checkout: it stays where it is
    return _dst + p[len(_src):] if _under(p, _src) and not _under(p, _sys.prefix) else p
for _f in list(_sys.meta_path):  # setuptools' editable finder keeps {package: folder} in MAPPING
    _m = getattr(_sys.modules.get(getattr(_f, "__module__", "")), "MAPPING", None)
    if isinstance(_m, dict):
        for _k, _v in list(_m.items()):
            _m[_k] = _move(_v)
_sys.path[:] = [_move(p) for p in _sys.path]  # a plain .pth/path install
'''
PROBE = ("import edgecl, edgecl.exporters.parity.golden, edgecl_runtime.bundle.gate\n"
         "for m in (edgecl, edgecl.exporters.parity.golden, edgecl_runtime.bundle.gate): print(m.__file__)")


class PlantError(Exception):
    """A mutant cannot be planted (snippet missing or ambiguous)."""


def check_snippet(m: Mutant, root: Path = REPO) -> str:
    """The file's text; raises PlantError naming the mutant and file unless found exactly once."""
    target = root / m.path
    if not target.is_file():
        raise PlantError(f"mutant {m.id}: file {m.path} does not exist (moved? edit MUTANTS)")
    text = target.read_text(encoding="utf-8")
    count = text.count(m.original)
    if count != 1:
        raise PlantError(f"mutant {m.id}: snippet found {count} times in {m.path}, expected exactly "
                         f"once (edit MUTANTS): {m.original!r}")
    return text


def copy_tree(dst: Path) -> None:
    """Tracked + untracked-not-ignored files of the working tree (deleted ones skipped)."""
    out = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=REPO,
                         check=True, capture_output=True).stdout.decode()
    for rel in filter(None, out.split("\0")):
        src = REPO / rel
        if src.is_file() and not src.is_symlink():
            (dst / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst / rel)


def env_for(copy: Path, boot: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("PYTEST_ADDOPTS", None)
    env.update(MUTCHECK_SRC=str(REPO), MUTCHECK_DST=str(copy), PYTHONDONTWRITEBYTECODE="1",
               PYTHONPATH=os.pathsep.join([str(boot), str(copy)]))
    return env


def run_group(cmd: list[str], cwd: Path, env: dict, timeout: float) -> tuple[int | None, str]:
    """Run in its own process group; on timeout kill that group (our processes only)."""
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=timeout)
        return proc.returncode, out
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        return None, out


def existing(tests: tuple[str, ...], root: Path = REPO) -> list[str]:
    return [t for t in tests if (root / t).exists()]


def expand(tests: list[str], root: Path = REPO) -> list[str]:
    """Folders become their test files, so that files named first run first (pytest itself
    merges a file and its folder into folder order); duplicates dropped, order kept."""
    out: list[str] = []
    for t in tests:
        files = [t] if (root / t).is_file() else sorted(
            str(p.relative_to(root)) for pat in ("test_*.py", "*_test.py") for p in (root / t).rglob(pat))
        out += [f for f in files if f not in out]
    return out


def first_failure(out: str) -> str:
    for line in out.splitlines():
        if line.startswith(("FAILED ", "ERROR ")):
            return line.split(" - ")[0]
    tail = [l for l in out.splitlines() if l.strip()]
    return tail[-1][:100] if tail else ""


@dataclass
class Result:
    id: str
    status: str  # killed | survived | error | timeout
    seconds: float
    detail: str


def run_one(m: Mutant | None, tests: list[str], timeout: float, keep: bool = False) -> Result:
    """Copy, plant ``m`` (None: the unmutated baseline), probe the imports, run pytest."""
    name = m.id if m else "baseline"
    start = time.perf_counter()
    tmp = Path(tempfile.mkdtemp(prefix=f"mutcheck-{name}-"))
    try:
        copy, boot = tmp / "repo", tmp / "boot"
        copy.mkdir()
        boot.mkdir()
        (boot / "sitecustomize.py").write_text(SITECUSTOMIZE, encoding="utf-8")
        copy_tree(copy)
        if m is not None:
            text = check_snippet(m, copy)
            (copy / m.path).write_text(text.replace(m.original, m.replacement), encoding="utf-8")
        env = env_for(copy, boot)
        rc, out = run_group([sys.executable, "-c", PROBE], copy, env, 300)
        leaked = [l for l in out.splitlines() if l.endswith(".py") and not l.startswith(str(copy))]
        if rc != 0 or leaked:
            why = f"import leak: {leaked[0]}" if leaked else f"probe failed: {first_failure(out)}"
            return Result(name, "error", time.perf_counter() - start, why)
        if not tests:
            return Result(name, "error", time.perf_counter() - start, "none of its test paths exist")
        cmd = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *tests]
        rc, out = run_group(cmd, copy, env, timeout)
        secs = time.perf_counter() - start
        if keep:
            (tmp / "pytest.log").write_text(out, encoding="utf-8")
        if rc is None:
            return Result(name, "timeout", secs, f"over {timeout:.0f} s")
        if rc == 0:
            return Result(name, "survived" if m else "passed", secs, "")
        if rc in (1, 2):  # test failures / errors, collection errors (e.g. the mutant broke imports)
            return Result(name, "killed" if m else "failed", secs, first_failure(out))
        return Result(name, "error", secs, f"pytest exit {rc}: {first_failure(out)}")
    except PlantError as exc:
        return Result(name, "error", time.perf_counter() - start, str(exc))
    finally:
        if keep:
            print(f"kept {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)


def selfcheck() -> int:
    """Marker prints in the copy's three packages must show up in every way the tests import."""
    tmp = Path(tempfile.mkdtemp(prefix="mutcheck-selfcheck-"))
    try:
        copy, boot = tmp / "repo", tmp / "boot"
        copy.mkdir()
        boot.mkdir()
        (boot / "sitecustomize.py").write_text(SITECUSTOMIZE, encoding="utf-8")
        copy_tree(copy)
        marks = {"edgecl": "edgecl/__init__.py", "exporters": "exporters/__init__.py",
                 "runtime": "runtime/edgecl_runtime/__init__.py"}
        for tag, rel in marks.items():
            with open(copy / rel, "a", encoding="utf-8") as fh:
                fh.write(f"\nimport sys as _s; _s.stderr.write('MUTCHECK-MARK {tag}\\n')\n")
        bindir = Path(sys.executable).parent
        nested = ("import subprocess, sys; sys.exit(subprocess.run([sys.executable, '-c', "
                  "'import edgecl.exporters, edgecl_runtime']).returncode)")
        checks = [
            ("python -c import", [sys.executable, "-c", "import edgecl.exporters, edgecl_runtime"],
             ("edgecl", "exporters", "runtime")),
            ("nested subprocess", [sys.executable, "-c", nested], ("edgecl", "exporters", "runtime")),
            ("python -m edgecl --help", [sys.executable, "-m", "edgecl", "--help"], ("edgecl",)),
            ("edgecl-rt --help", [str(bindir / "edgecl-rt"), "--help"], ("runtime",)),
        ]
        bad = 0
        for label, cmd, tags in checks:
            rc, out = run_group(cmd, copy, env_for(copy, boot), 300)
            missing = [t for t in tags if f"MUTCHECK-MARK {t}" not in out]
            bad += bool(missing or rc != 0)
            print(f"{'ok  ' if not missing and rc == 0 else 'FAIL'} {label}: exit {rc}, "
                  f"markers seen {[t for t in tags if t not in missing]}, missing {missing}")
            if missing or rc != 0:
                print(textwrap.indent(out[-1500:], "    | "))
        return 2 if bad else 0
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def show(results: list[Result]) -> None:
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:
        for r in results:
            print(f"{r.id:22} {r.status:9} {r.seconds:7.1f}s  {r.detail}")
        return
    from rich.text import Text  # Text, not markup: test ids contain brackets

    colour = {"killed": "green", "passed": "green", "survived": "bold red", "failed": "bold red"}
    table = Table(title="mutation check")
    for col in ("mutant", "result", "seconds", "first failing test / note"):
        table.add_column(col, overflow="fold")
    for r in results:
        table.add_row(r.id, Text(r.status, style=colour.get(r.status, "yellow")),
                      f"{r.seconds:.1f}", Text(r.detail))
    Console(width=max(120, shutil.get_terminal_size().columns)).print(table)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", help="comma-separated mutant ids")
    ap.add_argument("--list", action="store_true", help="list the mutants and check their snippets")
    ap.add_argument("--jobs", type=int, default=1, help="mutants run in parallel (default 1)")
    ap.add_argument("--timeout", type=float, default=1200, help="seconds per mutant's pytest run")
    ap.add_argument("--baseline", action="store_true",
                    help="first run the selected test paths unmutated; stop if they fail")
    ap.add_argument("--selfcheck", action="store_true",
                    help="prove that the copy (not the checkout) is imported, also in subprocesses")
    ap.add_argument("--keep", action="store_true",
                    help="keep the temporary copies and their pytest.log (debugging)")
    args = ap.parse_args(argv)

    if args.selfcheck:
        return selfcheck()
    ids = [m.id for m in MUTANTS]
    assert len(set(ids)) == len(ids), "duplicate mutant ids"
    selected = MUTANTS
    if args.only:
        wanted = [w.strip() for w in args.only.split(",") if w.strip()]
        unknown = [w for w in wanted if w not in ids]
        if unknown:
            print(f"mutation_check: unknown mutant(s) {', '.join(unknown)}; see --list", file=sys.stderr)
            return 2
        selected = [m for m in MUTANTS if m.id in wanted]
    problems = []
    for m in selected:
        try:
            check_snippet(m)
        except PlantError as exc:
            problems.append(str(exc))
    if args.list:
        for m in selected:
            tests = existing(m.tests)
            gone = [t for t in m.tests if t not in tests]
            print(f"{m.id:22} {m.path}\n{'':22} {m.description}\n{'':22} tests: {' '.join(tests)}"
                  + (f"  (missing, skipped: {' '.join(gone)})" if gone else ""))
    for p in problems:
        print(f"mutation_check: {p}", file=sys.stderr)
    if problems or args.list:
        return 2 if problems else 0

    if args.baseline:
        union = expand([t for m in selected for t in existing(m.tests)])
        print(f"baseline: {len(union)} test files", flush=True)
        base = run_one(None, union, args.timeout, args.keep)
        show([base])
        if base.status != "passed":
            print("mutation_check: the unmutated tests do not pass; fix them first", file=sys.stderr)
            return 2
    for m in selected:
        gone = [t for t in m.tests if t not in existing(m.tests)]
        if gone:
            print(f"note: {m.id}: test paths not found, skipped: {' '.join(gone)}", file=sys.stderr)

    def job(m: Mutant) -> Result:
        r = run_one(m, expand(existing(m.tests)), args.timeout, args.keep)
        print(f"{r.id}: {r.status} ({r.seconds:.0f} s) {r.detail}", flush=True)
        return r

    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        results = list(pool.map(job, selected))
    show(results)
    survived = [r.id for r in results if r.status == "survived"]
    if survived:
        print(f"SURVIVED ({len(survived)}): {', '.join(survived)}")
        return 1
    return 2 if any(r.status in ("error", "timeout") for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
