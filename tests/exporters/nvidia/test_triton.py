"""a verified bundle published as version N of a Triton model.

``config.pbtxt`` is parsed with the ``model_config.proto`` schema that ships in ``tritonclient`` (the
same schema Triton reads), and every field is checked against the ONNX graph. The server itself is
not installable here.
"""
from __future__ import annotations

import json
import shutil

import onnx
import pytest
from google.protobuf import text_format
from tritonclient.grpc import model_config_pb2

from tests.exporters.conftest import export_with
from edgecl.exporters.nvidia.triton import TritonNameError, TritonRefused, publish_triton
from edgecl_runtime.atomic_io import sha256_file

ONNX_TYPES = {onnx.TensorProto.FLOAT: model_config_pb2.TYPE_FP32}


def _export(setup, out, task):
    return export_with(setup.model, out, classes=setup.classes, input_spec=setup.spec, golden=setup.golden,
                         test_sets=setup.test_sets, run_name="r", task=task, max_batch=8)


@pytest.fixture(scope="module")
def bundles(setup, tmp_path_factory):
    root = tmp_path_factory.mktemp("triton")
    return {task: (root / f"t{task}", _export(setup, root / f"t{task}", task)) for task in (2, 3)}


def _config(model_dir):
    return text_format.Parse((model_dir / "config.pbtxt").read_text(), model_config_pb2.ModelConfig())


def _io(value):
    t = value.type.tensor_type
    return value.name, ONNX_TYPES[t.elem_type], [d.dim_value for d in t.shape.dim[1:]]


def test_config_parses_with_tritons_schema_and_matches_the_onnx(bundles, setup, tmp_path):
    bundle, man = bundles[2]
    done = publish_triton(bundle, tmp_path / "repo", "digits")
    model_dir = tmp_path / "repo" / "digits"
    cfg = _config(model_dir)
    assert cfg.name == "digits" and cfg.backend == "onnxruntime" and cfg.max_batch_size == 8
    assert cfg.version_policy.WhichOneof("policy_choice") == "latest"
    assert cfg.version_policy.latest.num_versions == 1
    assert cfg.HasField("dynamic_batching")
    graph = onnx.load(str(model_dir / "2" / "model.onnx")).graph
    assert len(cfg.input) == len(graph.input) == 1 and len(cfg.output) == len(graph.output) == 1
    for got, want in ((cfg.input[0], graph.input[0]), (cfg.output[0], graph.output[0])):
        assert (got.name, got.data_type, list(got.dims)) == _io(want)
    assert graph.input[0].type.tensor_type.shape.dim[0].dim_param  # batch axis dynamic: max_batch_size > 0 fits
    assert cfg.output[0].label_filename == "labels.txt"
    assert (model_dir / "labels.txt").read_text().splitlines() == setup.classes
    assert sha256_file(model_dir / "2" / "model.onnx") == man["files"]["model.onnx"]["sha256"]
    assert done["version"] == 2 and done["model"] == str(model_dir / "2" / "model.onnx")


def test_a_newer_task_becomes_the_next_version_and_nothing_is_left_half_written(bundles, tmp_path):
    repo = tmp_path / "repo"
    publish_triton(bundles[2][0], repo, "m")
    publish_triton(bundles[3][0], repo, "m")
    publish_triton(bundles[3][0], repo, "m")  # the same task again replaces its folder
    assert sorted(p.name for p in (repo / "m").iterdir()) == ["2", "3", "config.pbtxt", "labels.txt"]
    assert sorted(p.name for p in (repo / "m" / "3").iterdir()) == ["model.onnx"]
    assert "newest published task 3" in (repo / "m" / "config.pbtxt").read_text()


def test_an_older_task_than_the_served_version_is_refused(bundles, tmp_path):
    repo = tmp_path / "repo"
    publish_triton(bundles[3][0], repo, "m")
    with pytest.raises(TritonRefused, match="already serves version 3, newer than task 2"):
        publish_triton(bundles[2][0], repo, "m")
    assert sorted(p.name for p in (repo / "m").iterdir()) == ["3", "config.pbtxt", "labels.txt"]


def test_a_bundle_whose_fp32_gate_failed_is_not_published(bundles, tmp_path):
    copy = tmp_path / "bundle"
    shutil.copytree(bundles[2][0], copy)
    man = json.loads((copy / "manifest.json").read_text())
    man["formats"]["fp32"]["status"] = "gate_failed"
    (copy / "manifest.json").write_text(json.dumps(man))
    with pytest.raises(TritonRefused, match="did not pass its gate"):
        publish_triton(copy, tmp_path / "repo", "m")
    assert not (tmp_path / "repo").exists()


def test_an_altered_bundle_is_not_published(bundles, tmp_path):
    from edgecl_runtime.errors import BundleError

    copy = tmp_path / "bundle"
    shutil.copytree(bundles[2][0], copy)
    with open(copy / "model.onnx", "ab") as fh:
        fh.write(b"\0")
    with pytest.raises(BundleError, match="model.onnx"):
        publish_triton(copy, tmp_path / "repo", "m")
    assert not (tmp_path / "repo").exists()


@pytest.mark.parametrize("name", ["", "a/b", "..", ".hidden", "-x", "sp ace", "x" * 129])
def test_unusable_model_names_are_one_line_refusals(bundles, tmp_path, name):
    with pytest.raises(TritonNameError, match="--triton-name") as err:
        publish_triton(bundles[2][0], tmp_path / "repo", name)
    assert "\n" not in str(err.value)
    assert not (tmp_path / "repo").exists()
