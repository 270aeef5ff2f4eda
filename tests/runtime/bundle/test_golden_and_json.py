"""One line, no traceback, for a golden set that does not fit its model (no rows, other channels, other
size, other class count), a manifest string that is not Unicode (under --trust too) and a manifest
that gives one key twice."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edgecl_runtime.bundle.signing import canonical_bytes, generate_keypair, sign_bundle
from edgecl_runtime.cli import app
from edgecl_runtime.errors import BundleError
from tests.runtime.rt_cli import one_error, runner
from tests.runtime.rt_factory import make_bundle, rehash

GOLDEN_CASES = {
    "no rows": (lambda g: {k: v[:0] for k, v in g.items()}, "0 rows"),
    "channels": (lambda g: {**g, "inputs": np.repeat(g["inputs"], 3, axis=1)}, "(3, 28, 28) per row"),
    "size": (lambda g: {**g, "inputs": g["inputs"][:, :, :20, :20]}, "(1, 20, 20) per row"),
    "classes": (lambda g: {**g, "logits": np.concatenate([g["logits"], g["logits"][:, :1]], 1)},
                "5 columns"),
}


@pytest.mark.parametrize("case", sorted(GOLDEN_CASES))
def test_a_golden_set_that_does_not_fit_the_model_fails_verify_in_one_line(tmp_path, case):
    bundle = make_bundle(tmp_path / "export")
    change, text = GOLDEN_CASES[case]
    golden = dict(np.load(bundle / "golden.npz"))
    np.savez(bundle / "golden.npz", **change(golden))
    rehash(bundle)
    result = runner.invoke(app, ["verify", str(bundle)])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.exception
    failed = [line for line in result.stdout.splitlines() if line.startswith("FAILED:")]
    assert len(failed) == 1 and "golden.npz" in failed[0] and text in failed[0], result.stdout


def _write_manifest_text(bundle: Path, change) -> None:
    path = bundle / "manifest.json"
    path.write_text(change(path.read_text()))


def test_a_lone_surrogate_in_a_manifest_is_one_line_under_trust(tmp_path):
    private, public = generate_keypair(tmp_path / "keys")
    bundle = make_bundle(tmp_path / "export")
    sign_bundle(bundle, private)
    _write_manifest_text(bundle, lambda text: text.replace('"t1c0"', '"t1c0\\ud800"', 1))
    result = runner.invoke(app, ["verify", str(bundle), "--trust", str(public)])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.exception
    assert "surrogate" in one_error(result.stderr)


def test_a_name_that_is_not_utf8_cannot_be_signed_in_one_line():
    with pytest.raises(BundleError, match="not valid Unicode"):
        canonical_bytes({"classes": ["caf\udce9"]})  # os.fsdecode of a Latin-1 folder name


@pytest.mark.parametrize("trust", [False, True])
def test_a_manifest_giving_a_key_twice_is_refused(tmp_path, trust):
    private, public = generate_keypair(tmp_path / "keys")
    bundle = make_bundle(tmp_path / "export")
    sign_bundle(bundle, private)
    _write_manifest_text(bundle, lambda text: text.replace('{', '{"task": 7, ', 1))
    result = runner.invoke(app, ["verify", str(bundle), *(["--trust", str(public)] if trust else [])])
    assert result.exit_code == 1
    assert "appears twice" in one_error(result.stderr)
