"""The device's ONNX patch routine (:mod:`edgecl_runtime.update.onnx_fill`) against what it did not
write: quantisation is ONNX Runtime's own ``quantize_nparray`` bit for bit (per tensor, per channel,
ties, saturation), and a patch that does not fit its base, or names a scale the file lacks, is refused
in one line instead of producing another model."""
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from onnxruntime.quantization.quant_utils import quantize_nparray

from edgecl.exporters.onnx.patch import make_patch, reproducible_patch
from edgecl_runtime.errors import BundleError
from edgecl_runtime.update.onnx_fill import fill_onnx, quantized_raw


def _inits(**arrays):
    return {name: numpy_helper.from_array(np.asarray(a), name) for name, a in arrays.items()}


@pytest.mark.parametrize("axis", [None, 1])
def test_quantisation_is_onnx_runtimes_bit_for_bit(axis):
    rng = np.random.default_rng(0)
    w = rng.standard_normal((12, 8)).astype(np.float32)  # stored transposed: (8, 12), channels on axis 1
    scale = (np.abs(w.T).max(axis=0) / 127.0).astype(np.float32) if axis == 1 else np.float32(np.abs(w).max() / 127.0)
    w[0, 0] = 2.5 * (scale[0] if axis == 1 else scale)  # an exact tie: round half to even (2, not 3)
    w[1, 1] = 500.0 * (scale[1] if axis == 1 else scale)  # saturates at 127
    zero = np.zeros_like(scale, dtype=np.int8)
    fill = {"initializer": "w_q", "transposed": True, "dtype": "int8", "scale": "s", "zero_point": "z", "axis": axis}
    ours = quantized_raw(w, fill, _inits(s=scale, z=zero))
    wt = w.T
    if axis is None:
        theirs = quantize_nparray(TensorProto.INT8, wt, scale, zero)
    else:
        theirs = np.stack([quantize_nparray(TensorProto.INT8, wt[:, c], scale[c], zero[c])
                           for c in range(wt.shape[1])], axis=1)
    assert ours == np.ascontiguousarray(theirs).tobytes()


def test_a_fill_naming_a_missing_scale_is_refused():
    fill = {"initializer": "w_q", "transposed": False, "dtype": "int8", "scale": "gone", "zero_point": "z", "axis": None}
    with pytest.raises(BundleError, match="damaged"):
        quantized_raw(np.ones((2, 2), np.float32), fill, _inits(z=np.int8(0)))


def _model(weight, head, path):
    """A small Q/DQ model: y = x @ dequant(w_q) @ head, written to ``path``."""
    scale = (np.abs(weight).max(axis=0) / 127.0).astype(np.float32)
    zero = np.zeros(weight.shape[1], np.int8)
    q = np.clip(np.rint(weight / scale), -128, 127).astype(np.int8)
    nodes = [helper.make_node("DequantizeLinear", ["w_q", "s", "z"], ["w"], axis=1),
             helper.make_node("MatMul", ["x", "w"], ["h"]), helper.make_node("MatMul", ["h", "head"], ["y"])]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, head.shape[1]])],
                              [numpy_helper.from_array(a, n) for n, a in
                               (("w_q", q), ("s", scale), ("z", zero), ("head", head))])
    path.write_bytes(helper.make_model(graph).SerializeToString())
    return path


def test_patch_ships_the_head_and_scales_and_derives_the_weight(tmp_path):
    rng = np.random.default_rng(1)
    old_w, new_w = (rng.standard_normal((4, 12)).astype(np.float32) for _ in range(2))
    base = _model(old_w, rng.standard_normal((12, 2)).astype(np.float32), tmp_path / "base.onnx")
    target = _model(new_w, rng.standard_normal((12, 3)).astype(np.float32), tmp_path / "target.onnx")
    qkv = {0: np.ascontiguousarray(new_w.T)}  # the block weight is (3d x d); the file holds its transpose
    patch, lists, fills = reproducible_patch(target, base, qkv)
    assert [f["initializer"] for f in fills] == ["w_q"] and fills[0]["dtype"] == "int8"
    assert lists["node"]["replaced"] == [] and lists["output"]["replaced"] == [0]
    assert fill_onnx(patch, base, fills, qkv, lists) == target.read_bytes()


def _bad_lists(lists, case):
    bad = {k: dict(v) for k, v in lists.items()}
    if case == "field":
        bad["opset_import"] = {"length": 1, "replaced": []}
    elif case == "index":
        bad["initializer"]["replaced"] = [99]
    elif case == "longer":
        bad["node"]["length"] += 1  # an element the base lacks and the patch does not carry
    elif case == "moved_out":
        bad["node"]["moved"] = [[0, 999]]  # a base element that does not exist
    elif case == "moved_twice":
        bad["initializer"]["moved"] = [[bad["initializer"]["replaced"][0], 0]]  # one index, two sources
    elif case == "tail":  # one more element than the base, not carried, though the count would allow it
        bad["initializer"]["length"] += 1
    elif case == "huge":
        bad["node"]["length"] = 10 ** 12  # refused before anything of that size is built
    elif case == "order":
        bad["initializer"]["replaced"] = list(reversed(bad["initializer"]["replaced"]))
    return bad


@pytest.mark.parametrize("case", ["field", "index", "longer", "tail", "huge", "moved_out", "moved_twice", "order"])
def test_a_patch_that_does_not_fit_its_base_is_refused(tmp_path, case):
    rng = np.random.default_rng(2)
    base = _model(rng.standard_normal((4, 12)).astype(np.float32), np.ones((12, 2), np.float32), tmp_path / "b.onnx")
    target = _model(rng.standard_normal((4, 12)).astype(np.float32), np.ones((12, 3), np.float32), tmp_path / "t.onnx")
    patch, lists, fills = make_patch(target, base, {})
    assert len(lists["initializer"]["replaced"]) >= 2  # w_q, s and head changed
    with pytest.raises(BundleError, match="damaged|another base"):
        fill_onnx(patch, base, fills, {}, _bad_lists(lists, case))


def test_a_patch_against_another_base_gives_another_file_not_silence(tmp_path):
    """Applied to a base it was not made for, a patch yields bytes that differ from the target: the
    update's sha256 proof (manifest) is what refuses it, and it does."""
    rng = np.random.default_rng(3)
    base = _model(rng.standard_normal((4, 12)).astype(np.float32), np.ones((12, 2), np.float32), tmp_path / "b.onnx")
    other = _model(rng.standard_normal((4, 12)).astype(np.float32), np.full((12, 2), 2, np.float32), tmp_path / "o.onnx")
    target = _model(rng.standard_normal((4, 12)).astype(np.float32), np.ones((12, 2), np.float32), tmp_path / "t.onnx")
    patch, lists, fills = make_patch(target, base, {})
    assert fill_onnx(patch, other, fills, {}, lists) != target.read_bytes()
    assert onnx.load_model_from_string(fill_onnx(patch, base, fills, {}, lists)) is not None


def test_elements_the_base_holds_elsewhere_travel_as_moves(tmp_path):
    """ONNX Runtime's quantiser may order nodes and initializers differently from one export to the
    next: an element the base holds at another index is named, not shipped."""
    rng = np.random.default_rng(4)
    weight, head = rng.standard_normal((4, 12)).astype(np.float32), rng.standard_normal((12, 2)).astype(np.float32)
    base = _model(weight, head, tmp_path / "b.onnx")
    model = onnx.load(str(base))
    inits = list(model.graph.initializer)
    del model.graph.initializer[:]
    model.graph.initializer.extend(reversed(inits))
    target = tmp_path / "t.onnx"
    target.write_bytes(model.SerializeToString())
    patch, lists, fills = reproducible_patch(target, base, {})
    assert lists["initializer"]["replaced"] == [] and len(lists["initializer"]["moved"]) == len(inits) - (len(inits) % 2)
    assert len(patch) < 0.5 * target.stat().st_size
