"""What the security probes share: a CliRunner with stderr apart, manifest edits, error lines."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

from typer.testing import CliRunner

try:
    runner = CliRunner(mix_stderr=False)  # click < 8.2 mixes stderr into stdout by default
except TypeError:
    runner = CliRunner()  # click >= 8.2 always captures stderr separately

TRUST_WARNING = "signatures are not checked"


def edit_manifest(bundle: Path, change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    """Load manifest.json, let ``change`` edit it in place, write it back (as an attacker would)."""
    path = bundle / "manifest.json"
    manifest = json.loads(path.read_text())
    change(manifest)
    path.write_text(json.dumps(manifest, indent=2))
    return manifest


def error_lines(stderr: str) -> list[str]:
    """stderr lines less the trust warning printed without --trust."""
    return [line for line in stderr.strip().splitlines() if TRUST_WARNING not in line]


def one_error(stderr: str) -> str:
    """The single error line of a refused command (fails the test when there are more)."""
    lines = error_lines(stderr)
    assert len(lines) == 1 and lines[0].startswith("edgecl-rt: error: "), stderr
    return lines[0]
