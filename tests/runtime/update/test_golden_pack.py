"""The rebuilt golden set is the same bytes on every writer; the safetensors reader refuses bad files;
float16 K/V are rounded by the bundle converter's rule."""
import io

import numpy as np
import pytest
from safetensors.numpy import save_file

from edgecl_runtime.update.golden_pack import compose_golden, new_images_uint8, npz_bytes
from edgecl_runtime.safetensors_read import read_safetensors


def arrays(n=3):
    rng = np.random.default_rng(0)
    base = rng.random((n, 1, 4, 4), dtype=np.float32)
    new = new_images_uint8(rng.random((2, 1, 4, 4)))
    return compose_golden(base, new, np.arange(n + 2), np.ones(n + 2, int), rng.random((n + 2, 3)))


def test_npz_bytes_are_deterministic_and_load_without_pickle():
    first = npz_bytes(arrays())
    assert npz_bytes(arrays()) == first
    with np.load(io.BytesIO(first), allow_pickle=False) as npz:
        assert npz["inputs"].dtype == np.float32 and npz["inputs"].shape == (5, 1, 4, 4)
        assert np.array_equal(npz["labels"], np.arange(5))


def test_compose_refuses_mismatched_rows():
    with pytest.raises(ValueError, match="disagree"):
        compose_golden(np.zeros((2, 1, 4, 4), np.float32), np.zeros((1, 1, 4, 4), np.uint8),
                       np.arange(2), np.ones(3, int), np.zeros((3, 2)))


def test_safetensors_reader_matches_the_library_and_refuses_truncation(tmp_path):
    tensors = {"a": np.arange(6, dtype=np.float32).reshape(2, 3), "b": np.arange(4, dtype=np.uint8)}
    path = tmp_path / "t.safetensors"
    save_file(tensors, str(path))
    got = read_safetensors(path)
    assert all(np.array_equal(got[k], v) and got[k].dtype == v.dtype for k, v in tensors.items())
    path.write_bytes(path.read_bytes()[:-3])
    with pytest.raises(ValueError, match="truncated"):
        read_safetensors(path)


def test_float16_rule_matches_the_bundle_converter():
    from onnxruntime.transformers.float16 import convert_np_to_float16

    from edgecl_runtime.update.onnx_fill import to_float16

    rng = np.random.default_rng(3)
    x = (rng.standard_normal(20000) * 0.02).astype(np.float32)
    x[:6] = [1e-9, -3e-8, 7e4, -1e5, 0.0, np.inf]
    assert to_float16(x).tobytes() == convert_np_to_float16(x).tobytes()
