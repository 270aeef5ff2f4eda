"""Signed bundles on the training side: ``edgecl keygen``, ``learn --sign-key`` (kept in
run.json, so later bundles are signed too) and ``export --sign-key``; a bad key is refused in one
line before any work, with nothing written."""
import json
import stat

import pytest
from edgecl_runtime.atomic_io import read_json
from edgecl_runtime.contract import MANIFEST_NAME
from edgecl_runtime.errors import BundleError
from edgecl_runtime.bundle.signing import check_signature, load_trust
from typer.testing import CliRunner

from edgecl.cli.app import app

runner = CliRunner()
FAST = ["--quiet", "--threads", "1"]


def keygen(folder):
    out = runner.invoke(app, ["keygen", "--out", str(folder)])
    assert out.exit_code == 0, out.output
    return folder / "edgecl-sign.key", folder / "edgecl-sign.pub"


def assert_signed(bundle, public):
    manifest = read_json(bundle / MANIFEST_NAME)
    check_signature(bundle, manifest, load_trust(public))  # raises unless signed by this key


def one_line_error(out, text):
    assert out.exit_code != 0, out.output
    lines = out.output.strip().splitlines()
    assert len(lines) == 1 and text in lines[0] and "Traceback" not in out.output, out.output


def test_keygen_writes_a_private_0600_key_and_refuses_to_overwrite(tmp_path):
    private, public = keygen(tmp_path / "keys")
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    before = private.read_bytes()
    assert b"BEGIN PRIVATE KEY" in before and "BEGIN PUBLIC KEY" in public.read_text()
    out = runner.invoke(app, ["keygen", "--out", str(tmp_path / "keys")])
    one_line_error(out, "already holds a signing key")
    assert out.exit_code == 2 and private.read_bytes() == before


def test_learn_with_sign_key_signs_every_bundle_and_export_too(tmp_path, tiny_config):
    private, public = keygen(tmp_path / "keys")
    run = tmp_path / "run"
    out = runner.invoke(app, ["learn", "--run", str(run), "--config", str(tiny_config), "--formats", "none",
                              "--sign-key", str(private), *FAST])
    assert out.exit_code == 0, out.output
    assert json.loads((run / "run.json").read_text())["config"]["sign_key"] == str(private.resolve())
    assert_signed(run / "task-01" / "export", public)

    other_private, other_public = keygen(tmp_path / "other")
    out = runner.invoke(app, ["export", "--run", str(run), "--task", "1", "--sign-key", str(other_private)])
    assert out.exit_code == 0, out.output
    assert "signed" in out.output
    assert_signed(run / "task-01" / "export", other_public)
    with pytest.raises(BundleError, match="does not match any trusted key"):
        assert_signed(run / "task-01" / "export", public)

    out = runner.invoke(app, ["export", "--run", str(run), "--task", "1"])  # the run's key from run.json
    assert out.exit_code == 0, out.output
    assert_signed(run / "task-01" / "export", public)


def test_export_of_an_unsigned_run_with_sign_key(tmp_path, tiny_config):
    private, public = keygen(tmp_path / "keys")
    run = tmp_path / "run"
    assert runner.invoke(app, ["learn", "--run", str(run), "--config", str(tiny_config), "--no-export", *FAST]
                         ).exit_code == 0
    out = runner.invoke(app, ["export", "--run", str(run), "--sign-key", str(private)])
    assert out.exit_code == 0, out.output
    assert_signed(run / "task-01" / "export", public)


@pytest.mark.parametrize("kind", ["missing", "not-a-key", "public-key"])
def test_bad_sign_key_is_refused_before_any_work(tmp_path, tiny_config, kind):
    _, public = keygen(tmp_path / "keys")
    bad = {"missing": tmp_path / "nope.key", "public-key": public, "not-a-key": tmp_path / "junk.key"}[kind]
    if kind == "not-a-key":
        bad.write_text("hello\n")
    run = tmp_path / "run"
    out = runner.invoke(app, ["learn", "--run", str(run), "--config", str(tiny_config), "--sign-key", str(bad), *FAST])
    one_line_error(out, "--sign-key")
    assert not (run / "run.json").exists() and not (run / "task-01").exists()

    assert runner.invoke(app, ["learn", "--run", str(run), "--config", str(tiny_config), "--no-export", *FAST]
                         ).exit_code == 0
    out = runner.invoke(app, ["export", "--run", str(run), "--sign-key", str(bad)])
    one_line_error(out, "--sign-key")
    assert not (run / "task-01" / "export").exists()
    assert not list((run / "task-01").glob(".export*"))
    out = runner.invoke(app, ["learn", "--run", str(run), "--sign-key", str(bad), *FAST])  # a later learn too
    one_line_error(out, "--sign-key")
    assert not (run / "task-02").exists()
    assert json.loads((run / "run.json").read_text())["config"]["sign_key"] is None

