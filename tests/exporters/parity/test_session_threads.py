"""``--threads`` reaches ONNX Runtime: after ``use_threads(n)`` every session the exporters open (the
parity gates, the fallback search, the FLOP probe) has ``n`` intra-op threads; without it, ORT chooses."""
import onnxruntime as ort
import pytest

from edgecl.exporters.parity import ort_session
from edgecl.threads import use_threads


@pytest.fixture
def opened(monkeypatch):
    """The SessionOptions of every InferenceSession created during the test."""
    seen = []
    real = ort.InferenceSession

    def spy(model, opts=None, **kw):
        seen.append(opts)
        return real(model, opts, **kw)
    monkeypatch.setattr(ort, "InferenceSession", spy)
    yield seen
    ort_session.set_session_threads(None)  # the setting is process-wide: leave none behind


def _tiny(tmp_path):
    from tests.runtime.rt_factory import make_onnx
    return make_onnx(tmp_path / "m.onnx", 3)


def test_threads_reach_every_exporter_session(opened, tmp_path):
    import torch
    before = torch.get_num_threads()
    try:
        use_threads(1)
        ort_session.make_session(_tiny(tmp_path))
        ort_session.session_options(ort.GraphOptimizationLevel.ORT_DISABLE_ALL)
        assert [o.intra_op_num_threads for o in opened] == [1]
        assert ort_session.session_options().intra_op_num_threads == 1
    finally:
        torch.set_num_threads(before)


def test_without_threads_ort_chooses(opened, tmp_path):
    ort_session.make_session(_tiny(tmp_path))
    assert [o.intra_op_num_threads for o in opened] == [0]  # 0: ONNX Runtime's own choice
