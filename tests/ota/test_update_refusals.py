"""Two refusals of ``apply_update`` that protect the device from an update.json it cannot trust
(``edgecl_runtime/update/apply.py``): a name that climbs out of the update, base or new bundle
folder is refused before anything is read or written there, and an update of a newer format than
this runtime knows is refused (it may need steps this runtime would silently skip). No --trust
here: these hold for unsigned updates too, and signing does not make a bad name safe."""
import json

import pytest

from edgecl_runtime.errors import BundleError
from edgecl_runtime.update.apply import apply_update
from edgecl_runtime.update.format import UPDATE_VERSION


def _edit(update, change):
    path = update / "update.json"
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def _nothing_published(tmp_path):
    return not (tmp_path / "new").exists() and not list(tmp_path.glob(".new.*"))


def test_a_bundle_file_name_that_climbs_out_is_refused(update_copy, tmp_path):
    base, update = update_copy

    def climb(data):
        name = sorted(data["onnx"])[0]
        data["onnx"]["../" + name] = data["onnx"].pop(name)

    _edit(update, climb)
    with pytest.raises(BundleError, match="outside its folder"):
        apply_update(base, update, tmp_path / "new")
    assert _nothing_published(tmp_path)
    assert not [p for p in tmp_path.iterdir() if p.suffix == ".onnx"]


def test_an_update_of_a_newer_format_is_refused(update_copy, tmp_path):
    base, update = update_copy
    _edit(update, lambda data: data.update(update_version=UPDATE_VERSION + 1))
    with pytest.raises(BundleError, match="newer edgecl-runtime"):
        apply_update(base, update, tmp_path / "new")
    assert _nothing_published(tmp_path)


def test_the_unedited_copy_applies(update_copy, tmp_path):
    base, update = update_copy
    _edit(update, lambda data: None)
    assert apply_update(base, update, tmp_path / "new")["task"] == 2
