"""An update reads and publishes only its own listed files: names outside its folder, symbolic links
and files the target manifest does not list are refused in one line, nothing written, and no error
line repeats a byte of a file it should not have read."""
import hashlib
import json
import os

import pytest

from tests.ota.test_update_apply import refused, rt_update

SECRET = b"\x7fSECRETbytes-not-for-the-update\n"


def _relist(update, name, path):
    """List ``name`` in update.json's contents as an attacker without --trust would."""
    data = json.loads((update / "update.json").read_text())
    blob = path.read_bytes()
    data["contents"][name] = {"sha256": hashlib.sha256(blob).hexdigest(), "bytes": len(blob)}
    (update / "update.json").write_text(json.dumps(data))
    return data


def _edit(update, change):
    data = json.loads((update / "update.json").read_text())
    change(data)
    (update / "update.json").write_text(json.dumps(data))


@pytest.fixture
def secret(tmp_path):
    path = tmp_path / "secret.bin"
    path.write_bytes(SECRET)
    return path


def _leaks(output):
    """Whether an error line shows the secret or its first 8 bytes read as a number."""
    return "SECRET" in output or str(int.from_bytes(SECRET[:8], "little")) in output


@pytest.mark.parametrize("how", ["absolute", "climbing"])
def test_factors_outside_the_update_are_refused_unread(update_copy, tmp_path, secret, how):
    base, update = update_copy
    name = str(secret) if how == "absolute" else os.path.relpath(secret, update)

    def point(data):
        data["steps"][0]["factors"] = name

    _edit(update, point)
    result = rt_update(base, update, tmp_path / "NEW")
    refused(result, "outside its folder", tmp_path / "NEW")
    assert not _leaks(result.output), result.output


@pytest.mark.parametrize("how", ["absolute", "climbing"])
def test_golden_outside_the_update_is_refused_unread(update_copy, tmp_path, secret, how):
    base, update = update_copy
    name = str(secret) if how == "absolute" else os.path.relpath(secret, update)
    _edit(update, lambda data: data.update(golden=name))
    result = rt_update(base, update, tmp_path / "NEW")
    refused(result, "outside its folder", tmp_path / "NEW")
    assert not _leaks(result.output), result.output


def test_a_symlinked_file_is_refused_not_copied_into_the_new_bundle(update_copy, tmp_path, secret):
    base, update = update_copy
    link = update / "bundle" / "notes.txt"
    link.symlink_to(secret)
    _relist(update, "bundle/notes.txt", secret)
    result = rt_update(base, update, tmp_path / "NEW")
    refused(result, "symbolic link", tmp_path / "NEW")
    assert not _leaks(result.output), result.output


def test_a_symlinked_listed_factor_file_is_refused(update_copy, tmp_path):
    base, update = update_copy
    real = update / "branch-02.safetensors"
    moved = tmp_path / "elsewhere.safetensors"
    real.rename(moved)
    real.symlink_to(moved)  # same bytes, same sha256: only the link itself is wrong
    refused(rt_update(base, update, tmp_path / "NEW"), "symbolic link", tmp_path / "NEW")


def test_a_file_the_target_manifest_does_not_list_is_refused(update_copy, tmp_path):
    base, update = update_copy
    extra = update / "bundle" / "extra.txt"
    extra.write_text("not in the manifest\n")
    _relist(update, "bundle/extra.txt", extra)
    refused(rt_update(base, update, tmp_path / "NEW"), "does not list", tmp_path / "NEW")


def test_an_onnx_name_outside_the_bundle_is_refused(update_copy, tmp_path):
    base, update = update_copy

    def climb(data):
        data["onnx"]["../escaped.onnx"] = data["onnx"].pop("model.fp16.onnx")

    _edit(update, climb)
    refused(rt_update(base, update, tmp_path / "NEW"), "outside its folder", tmp_path / "NEW")
    assert not (tmp_path / "escaped.onnx").exists()
