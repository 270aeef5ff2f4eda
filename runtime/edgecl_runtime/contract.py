"""The bundle contract: every name, version, format and status that trainer and device share.

This is the one place they are defined. The exporters write bundles by it, the runtime reads them
by it, and the trainer's config validation, CLI flags and report all take their format lists from
``FORMATS``. A new format is one new row here. It lives in the runtime package because the
device must not depend on the trainer, and it imports nothing but the standard library so that
both sides can import it.

A format row: ``name`` is the manifest key (``formats.<name>``); ``precision`` picks the gate
thresholds; ``file`` is its file in the bundle; ``request`` is the word a user writes to ask for
it (`--fp16`, ``export_formats: [int8]``; None: always exported); ``onnx`` says whether the file
is an ONNX model (as opposed to a TensorRT plan, which ships with its ``.plan.json``
record: ``edgecl_runtime.backends.trt.plan_record``). An ONNX row's name is its precision: the runtime looks a
precision's file up as ``formats.<precision>`` (``Bundle.onnx_path``). ``int8cpu`` is the CPU-only
INT8 file (``edgecl.exporters.quantize.int8cpu``); TensorRT, DeepStream and Triton-TensorRT take only the
``TRT_PRECISIONS``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

MANIFEST_NAME = "manifest.json"
MANIFEST_VERSION = 1
GOLDEN_NAME = "golden.npz"
SIGNATURE_NAME = "manifest.sig"  # Ed25519 signature of the manifest's canonical bytes (bundle/signing.py)
VERIFICATION_PREFIX = "verification"  # verification-<backend>-<precision>.json, written on the device


@dataclass(frozen=True)
class Format:
    name: str
    precision: str
    file: str
    request: Optional[str]
    onnx: bool = True


FORMATS: tuple[Format, ...] = (
    Format("fp32", "fp32", "model.onnx", None),
    Format("fp16", "fp16", "model.fp16.onnx", "fp16"),
    Format("int8", "int8", "model.int8.onnx", "int8"),
    Format("int8cpu", "int8cpu", "model.int8cpu.onnx", "int8cpu"),
    Format("trt_fp16", "fp16", "model.fp16.plan", "trt", onnx=False),
)
PRECISIONS = ("fp32", "fp16", "int8", "int8cpu")
# The precisions TensorRT builds (and DeepStream / Triton-TensorRT / Jetson files are made for).
# int8cpu is ONNX Runtime CPU's file (dynamic uint8 activations: DynamicQuantizeLinear + MatMulInteger,
# which TensorRT does not build); TensorRT's INT8 is the Q/DQ ``model.int8.onnx``.
TRT_PRECISIONS = ("fp32", "fp16", "int8")
CPU_ONLY_PRECISIONS = tuple(p for p in PRECISIONS if p not in TRT_PRECISIONS)  # refused by every TensorRT path
ONNX_FILES = {f.precision: f.file for f in FORMATS if f.onnx}  # {precision: ONNX file}
REQUESTS = tuple(f.request for f in FORMATS if f.request)  # what export_formats / flags accept
DEFAULT_REQUESTS = ("fp16", "int8", "int8cpu")  # exported after every task unless the run says otherwise

# Gate thresholds per precision (their reasoning: edgecl_runtime.bundle.gate). They belong to the
# contract, not to a bundle: the device judges a bundle by these, whatever its manifest says.
DEFAULT_THRESHOLDS: dict[str, dict[str, float]] = {
    "fp32": {"max_abs_diff": 1e-4, "top1_agreement": 1.0, "accuracy_delta_pp": 0.1},
    "fp16": {"max_abs_diff": 5e-2, "top1_agreement": 0.995, "accuracy_delta_pp": 0.3},
    "int8": {"max_abs_diff": 1.0, "top1_agreement": 0.99, "accuracy_delta_pp": 1.0},
    "int8cpu": {"max_abs_diff": 1.0, "top1_agreement": 0.99, "accuracy_delta_pp": 1.0},  # int8's gate
}
THRESHOLD_KEYS = ("max_abs_diff", "top1_agreement", "accuracy_delta_pp")

STATUSES = ("passed", "gate_failed", "export_failed")
STATUS_GLYPHS = {"passed": "✅", "gate_failed": "❎", "export_failed": "❌"}
STATUS_WORDS = {"passed": "passed", "gate_failed": "gate failed", "export_failed": "export failed"}


def base_precision(fmt: str) -> str:
    """Map a format name (``fp16``, ``trt_fp16``, ``engine_int8`` ...) to fp32/fp16/int8.

    Here rather than beside the gate because the TensorRT builder (below the gate) needs it too.
    """
    for prec in PRECISIONS:
        if fmt == prec or fmt.endswith("_" + prec):
            return prec
    raise ValueError(f"unknown precision/format {fmt!r}: expected one of {', '.join(PRECISIONS)} "
                     "(optionally prefixed, e.g. trt_fp16)")


def format_named(name: str) -> Format:
    """The row for a manifest key; one-line error naming the known ones otherwise."""
    for fmt in FORMATS:
        if fmt.name == name:
            return fmt
    raise ValueError(f"unknown format {name!r}: expected one of {', '.join(f.name for f in FORMATS)}")


def formats_for_requests(requests: set[str] | frozenset[str]) -> list[Format]:
    """The formats a set of requested words produces, in table order (fp32 always first)."""
    return [f for f in FORMATS if f.request is None or f.request in requests]
