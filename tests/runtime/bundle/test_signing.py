"""with --trust, edgecl-rt runs only bundles signed by a trusted key.

sha256 proves integrity, not origin: whoever replaces a model can fix its hash. A signature over
the manifest (which carries every file's hash) ties the whole bundle to the operator's key.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from edgecl_runtime.cli import app
from edgecl_runtime.errors import BundleError
from edgecl_runtime.bundle.signing import generate_keypair, sign_bundle
from edgecl_runtime.backends.trt.compat import tensorrt_available
from edgecl_runtime.bundle.verify import verify_bundle
from tests.runtime.rt_factory import make_bundle, make_onnx, rehash
from tests.runtime.rt_cli import TRUST_WARNING, edit_manifest, one_error, runner


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Two key pairs: ``ours`` (the fleet's) and ``theirs`` (anyone else's)."""
    root = tmp_path_factory.mktemp("keys")
    ours, ours_pub = generate_keypair(root / "ours")
    theirs, theirs_pub = generate_keypair(root / "theirs")
    return {"ours": ours, "ours_pub": ours_pub, "theirs": theirs, "theirs_pub": theirs_pub}


@pytest.fixture()
def signed(tmp_path: Path, keys: dict[str, Path]) -> Path:
    bundle = make_bundle(tmp_path / "export")
    sign_bundle(bundle, keys["ours"])
    return bundle


def _verify(bundle: Path, trust: Path):
    return runner.invoke(app, ["verify", str(bundle), "--trust", str(trust)])


def test_signed_bundle_passes_with_trust(signed, keys):
    res = _verify(signed, keys["ours_pub"])
    assert res.exit_code == 0 and "PASSED" in res.stdout, res.output
    assert TRUST_WARNING not in res.stderr


def test_reindented_manifest_keeps_its_signature(signed, keys):
    """The signature covers canonical bytes: whitespace is not a change, a value is."""
    manifest = json.loads((signed / "manifest.json").read_text())
    (signed / "manifest.json").write_text(json.dumps(manifest, indent=7))
    assert _verify(signed, keys["ours_pub"]).exit_code == 0


def test_unsigned_bundle_is_refused_with_one_line(tmp_path, keys):
    bundle = make_bundle(tmp_path / "export")
    res = _verify(bundle, keys["ours_pub"])
    assert res.exit_code == 1 and "is not signed" in one_error(res.stderr)
    assert not list(bundle.glob("verification-*.json"))


def test_tampered_manifest_is_refused(signed, keys):
    edit_manifest(signed, lambda m: m["classes"].__setitem__(0, "renamed"))
    res = _verify(signed, keys["ours_pub"])
    assert res.exit_code == 1 and "does not match any trusted key" in one_error(res.stderr)


def test_swapped_model_with_fixed_sha256_is_refused(signed, keys):
    make_onnx(signed / "model.onnx", k=4, seed=7)
    rehash(signed)  # the attacker fixes the hash, but cannot re-sign
    res = _verify(signed, keys["ours_pub"])
    assert res.exit_code == 1 and "does not match any trusted key" in one_error(res.stderr)
    with pytest.raises(BundleError, match="does not match"):
        verify_bundle(signed, trusted=_load(keys["ours_pub"]), write=False)


def test_other_key_is_refused(tmp_path, keys):
    bundle = make_bundle(tmp_path / "export")
    sign_bundle(bundle, keys["theirs"])
    res = _verify(bundle, keys["ours_pub"])
    assert res.exit_code == 1 and "does not match any trusted key" in one_error(res.stderr)


def test_garbage_signature_is_one_line(signed, keys):
    (signed / "manifest.sig").write_text("not base64 at all!\n")
    res = _verify(signed, keys["ours_pub"])
    assert res.exit_code == 1 and "manifest.sig" in one_error(res.stderr)


def test_trust_folder_of_several_keys(tmp_path, signed, keys):
    folder = tmp_path / "trusted"
    folder.mkdir()
    shutil.copy(keys["theirs_pub"], folder / "old.pub")
    shutil.copy(keys["ours_pub"], folder / "current.pub")
    (folder / "README.txt").write_text("only *.pub files are keys")
    assert _verify(signed, folder).exit_code == 0
    (folder / "current.pub").unlink()
    res = _verify(signed, folder)
    assert res.exit_code == 1 and "does not match any trusted key" in one_error(res.stderr)


def test_missing_or_bad_trust_root_is_one_line(tmp_path, signed):
    res = _verify(signed, tmp_path / "nope.pub")
    assert res.exit_code == 1 and "not found" in one_error(res.stderr)
    (tmp_path / "bad.pub").write_text("hello")
    res = _verify(signed, tmp_path / "bad.pub")
    assert res.exit_code == 1 and "not a PEM public key" in one_error(res.stderr)


def test_without_trust_runs_as_before_with_one_warning(tmp_path):
    bundle = make_bundle(tmp_path / "export")
    res = runner.invoke(app, ["verify", str(bundle)])
    assert res.exit_code == 0 and "PASSED" in res.stdout
    warnings = [line for line in res.stderr.splitlines() if TRUST_WARNING in line]
    assert warnings == ["edgecl-rt: warning: bundle signatures are not checked (no --trust)"]


@pytest.mark.parametrize("command", [["predict"], ["bench", "--iters", "1", "--warmup", "0"]])
def test_predict_and_bench_refuse_unsigned(tmp_path, keys, command):
    bundle = make_bundle(tmp_path / "export")
    args = [command[0], str(bundle), *([str(tmp_path / "a.png")] if command[0] == "predict" else []),
            *command[1:], "--trust", str(keys["ours_pub"])]
    res = runner.invoke(app, args)
    assert res.exit_code == 1 and "is not signed" in one_error(res.stderr)
    sign_bundle(bundle, keys["ours"])
    if command[0] == "bench":
        assert runner.invoke(app, args).exit_code == 0


def test_predict_signed_bundle(tmp_path, signed, keys):
    from PIL import Image

    Image.new("L", (28, 28), 100).save(tmp_path / "a.png")
    res = runner.invoke(app, ["predict", str(signed), str(tmp_path / "a.png"), "--json",
                              "--trust", str(keys["ours_pub"])])
    assert res.exit_code == 0 and json.loads(res.stdout)["results"][0]["predictions"]


@pytest.mark.skipif(tensorrt_available(), reason="TensorRT present: build would run")
def test_build_refuses_unsigned_before_tensorrt(tmp_path, keys):
    bundle = make_bundle(tmp_path / "export")
    res = runner.invoke(app, ["build", str(bundle), "--trust", str(keys["ours_pub"])])
    assert res.exit_code == 1 and "is not signed" in one_error(res.stderr)


def _load(pub: Path):
    from edgecl_runtime.bundle.signing import load_trust

    return load_trust(pub)
