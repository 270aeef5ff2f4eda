"""The runtime's optional dependencies resolve to what each JetPack can run.

Checked by evaluating the extras' PEP 508 markers for each target (machine, Python) and asking
which published cuda-python versions each pin admits: unbounded, Python >= 3.10 would take 13.x,
whose bindings need a newer driver than JetPack 6's CUDA 12; a PyPI `tensorrt` wheel on aarch64
would shadow JetPack's own TensorRT.
"""
from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib", reason="tomllib needs Python >= 3.11")
packaging = pytest.importorskip("packaging.requirements", reason="needs the packaging module")
from packaging.requirements import Requirement  # noqa: E402

PYPROJECT = Path(__file__).resolve().parents[2] / "runtime" / "pyproject.toml"
PUBLISHED = ["11.8.2", "11.8.7", "12.2.1", "12.6.2.post1", "12.9.10", "13.4.4"]
TARGETS = {  # (machine, python) -> cuda-python versions that may be installed
    ("aarch64", "3.8"): ["11.8.2"],  # JetPack 5.1: CUDA 11.4
    ("aarch64", "3.10"): ["12.2.1", "12.6.2.post1"],  # JetPack 6.x: CUDA 12.2 / 12.6, no newer
    ("aarch64", "3.12"): ["13.4.4"],  # JetPack 7: CUDA 13
}


def _extra(name):
    return [Requirement(r) for r in tomllib.loads(PYPROJECT.read_text())["project"]
            ["optional-dependencies"][name]]


def _active(reqs, machine, python):
    env = {"platform_machine": machine, "python_version": python, "python_full_version": python + ".0",
           "sys_platform": "linux", "platform_system": "Linux", "extra": ""}
    return [r for r in reqs if r.marker is None or r.marker.evaluate(env)]


@pytest.mark.parametrize("target", sorted(TARGETS))
def test_trt_extra_pins_cuda_python_per_jetpack(target):
    active = _active(_extra("trt"), *target)
    cuda = [r for r in active if r.name == "cuda-python"]
    assert len(cuda) == 1
    assert [v for v in PUBLISHED if cuda[0].specifier.contains(v, prereleases=False)] == TARGETS[target]
    assert not [r for r in active if r.name == "tensorrt"]  # JetPack's TensorRT comes from apt


def test_x86_hosts_get_the_tensorrt_wheel():
    assert [r.name for r in _active(_extra("trt"), "x86_64", "3.10")] == ["tensorrt", "cuda-python"]


@pytest.mark.parametrize("extra,admits", [("jetpack5", ["11.8.2"]), ("jetpack60", ["12.2.1"]),
                                          ("jetpack61", ["12.6.2.post1"])])
def test_jetpack_extras_pin_the_cuda_minor(extra, admits):
    (req,) = [r for r in _extra(extra) if r.name == "cuda-python"]
    assert [v for v in PUBLISHED if req.specifier.contains(v)] == admits


@pytest.mark.parametrize("extra", ["jetpack5", "jetpack60", "jetpack61"])
def test_jetpack_extras_keep_numpy_below_2(extra):
    """TensorRT 10.3's module (built on numpy 1.23), the JetPack 6 onnxruntime-gpu wheel and apt's
    python3-opencv break with numpy 2."""
    (numpy,) = [r for r in _extra(extra) if r.name == "numpy"]
    assert numpy.specifier.contains("1.24.4") and not numpy.specifier.contains("2.0.0")


def _flavours(reqs):
    return sorted(r.name for r in reqs if r.name in ("onnxruntime", "onnxruntime-gpu"))


def test_no_install_line_gets_two_onnxruntime_flavours():
    """onnxruntime and onnxruntime-gpu share one module: with both the CUDA provider vanishes."""
    base = [Requirement(r) for r in tomllib.loads(PYPROJECT.read_text())["project"]["dependencies"]]
    assert _flavours(base) == []  # the flavour is a choice, never forced on a Jetson
    assert _flavours(_extra("ort")) == ["onnxruntime"]
    for extra in ("jetpack5", "jetpack60", "jetpack61", "trt", "video", "update"):
        assert _flavours(_extra(extra)) == [], extra
