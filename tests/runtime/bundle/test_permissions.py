"""verify on a bundle this user may not write (or read) answers in one line.

A bundle copied read-only, or owned by the exporting user, is normal on a device. The record is
then written where ``--record`` says, or skipped with one line; a file this user may not read is
one line naming it. Real file modes are tried where they apply (not as root, which ignores
them); the same paths are also driven by a PermissionError injected where the runtime reads or
writes, so that they are tested everywhere.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

import edgecl_runtime.bundle.files as files_mod
import edgecl_runtime.bundle.verify as verify_mod
from edgecl_runtime.cli import app
from edgecl_runtime.errors import UnreadableBundle
from edgecl_runtime.bundle.verify import verify_bundle
from tests.runtime.rt_factory import make_bundle
from tests.runtime.rt_cli import error_lines, one_error, runner

as_root = pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0,
                             reason="root ignores file modes")


def _denied(path: object) -> PermissionError:
    return PermissionError(13, "Permission denied", str(path))


def _refuse_write(path: object, obj: object) -> None:
    raise _denied(Path(str(path)).parent)


def _record_warning(stderr: str) -> str:
    lines = [line for line in error_lines(stderr) if "record not written" in line]
    assert len(lines) == 1 and lines[0].startswith("edgecl-rt: warning: "), stderr
    return lines[0]


def test_record_option_writes_there(tmp_path, bundle_template):
    target = tmp_path / "records" / "task1.json"
    target.parent.mkdir()
    res = runner.invoke(app, ["verify", str(bundle_template), "--record", str(target)])
    assert res.exit_code == 0 and f"record: {target}" in res.stdout, res.output
    assert json.loads(target.read_text())["passed"]
    assert not list(bundle_template.glob("verification-*.json"))


def test_unwritable_bundle_folder_skips_the_record_with_one_line(tmp_path, monkeypatch):
    bundle = make_bundle(tmp_path / "export")
    monkeypatch.setattr(verify_mod, "write_json_atomic", _refuse_write)
    res = runner.invoke(app, ["verify", str(bundle)])
    assert res.exit_code == 0 and "PASSED" in res.stdout, res.output
    assert "--record PATH" in _record_warning(res.stderr)
    rec = verify_bundle(bundle)
    assert rec["passed"] and rec["record"] is None and "not writable" in rec["record_error"]


def test_failed_verification_keeps_exit_1_without_a_record(tmp_path, monkeypatch):
    bundle = make_bundle(tmp_path / "export", logit_offset=0.01)
    monkeypatch.setattr(verify_mod, "write_json_atomic", _refuse_write)
    res = runner.invoke(app, ["verify", str(bundle)])
    assert res.exit_code == 1 and "FAILED: level 1" in res.stdout
    _record_warning(res.stderr)


def test_explicit_record_that_cannot_be_written_is_one_line(tmp_path, bundle_template):
    (tmp_path / "a-file").write_text("")
    res = runner.invoke(app, ["verify", str(bundle_template), "--record", str(tmp_path / "a-file" / "r.json")])
    assert res.exit_code == 1 and "--record" in one_error(res.stderr)


@pytest.mark.parametrize("command", ["verify", "predict", "bench"])
def test_unreadable_file_is_one_line_naming_it(tmp_path, monkeypatch, command):
    bundle = make_bundle(tmp_path / "export")

    def refuse(root, name, entry):
        raise _denied(root / name)

    monkeypatch.setattr(files_mod, "read_checked", refuse)
    args = [command, str(bundle)] + ([str(tmp_path / "a.png")] if command == "predict" else [])
    res = runner.invoke(app, args)
    line = one_error(res.stderr)
    assert res.exit_code == 1 and "permission denied" in line and "golden.npz" in line
    assert not list(bundle.glob("verification-*.json"))  # file modes are not a verdict
    with pytest.raises(UnreadableBundle):
        verify_bundle(bundle)


@as_root
def test_read_only_bundle_real_modes(tmp_path):
    bundle = make_bundle(tmp_path / "export")
    bundle.chmod(0o555)
    try:
        res = runner.invoke(app, ["verify", str(bundle)])
    finally:
        bundle.chmod(0o755)
    assert res.exit_code == 0 and "PASSED" in res.stdout, res.output
    _record_warning(res.stderr)


@as_root
@pytest.mark.parametrize("name", ["manifest.json", "model.onnx", "golden.npz"])
def test_private_file_real_modes(tmp_path, name):
    bundle = make_bundle(tmp_path / "export")
    (bundle / name).chmod(0o000)
    try:
        res = runner.invoke(app, ["verify", str(bundle)])
    finally:
        (bundle / name).chmod(0o644)
    line = one_error(res.stderr)
    assert res.exit_code == 1 and name in line and "permission denied" in line
