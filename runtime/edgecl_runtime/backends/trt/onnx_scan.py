"""What an ONNX file asks of a parser: its default-domain opset and the op types of its graph.

TensorRT 8.5's ONNX parser (JetPack 5.1) has no LayerNormalization: an opset-17 export fails with
"Plugin not found" deep in the build.  ``edgecl-rt build`` checks first and says what to do.
The ``onnx`` package is used when installed; the runtime does not require it, so without it a
minimal protobuf reader walks only the fields needed (ModelProto.opset_import, graph.node[].op_type,
functions[].node[].op_type), skipping the weights by their length without decoding them.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator, Set, Tuple

from ...errors import EngineError

_VARINT, _I64, _LEN, _I32 = 0, 1, 2, 5
# ModelProto: graph 7, opset_import 8, functions 25; GraphProto.node 1; NodeProto.op_type 4;
# FunctionProto.node 7; OperatorSetIdProto: domain 1, version 2.
_GRAPH, _OPSET, _FUNCTIONS, _GRAPH_NODE, _OP_TYPE, _FUNC_NODE = 7, 8, 25, 1, 4, 7
DEFAULT_DOMAINS = ("", "ai.onnx")


def _varint(buf: memoryview, pos: int) -> Tuple[int, int]:
    value, shift = 0, 0
    while True:
        if pos >= len(buf) or shift > 63:
            raise ValueError("truncated varint")
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7


def _fields(buf: memoryview) -> Iterator[Tuple[int, int, object]]:
    """(field number, wire type, int value or memoryview of a length-delimited field)."""
    pos = 0
    while pos < len(buf):
        key, pos = _varint(buf, pos)
        field, wire = key >> 3, key & 7
        if wire == _VARINT:
            value, pos = _varint(buf, pos)
            yield field, wire, value
        elif wire == _LEN:
            n, pos = _varint(buf, pos)
            if pos + n > len(buf):
                raise ValueError("truncated field")
            yield field, wire, buf[pos:pos + n]
            pos += n
        elif wire in (_I64, _I32):
            pos += 8 if wire == _I64 else 4
        else:
            raise ValueError(f"unsupported wire type {wire}")


def _op_types(container: memoryview, node_field: int) -> Set[str]:
    ops = set()
    for field, wire, value in _fields(container):
        if field == node_field and wire == _LEN:
            for f2, w2, v2 in _fields(value):  # type: ignore[arg-type]
                if f2 == _OP_TYPE and w2 == _LEN:
                    ops.add(bytes(v2).decode("utf-8", "replace"))  # type: ignore[arg-type]
    return ops


def scan_bytes(data: bytes) -> Tuple[int, Set[str]]:
    """(default-domain opset, op types) of a serialised ModelProto, without the onnx package."""
    opset, ops = 0, set()
    for field, wire, value in _fields(memoryview(data)):
        if field == _OPSET and wire == _LEN:
            domain, version = "", 0
            for f2, w2, v2 in _fields(value):  # type: ignore[arg-type]
                if f2 == 1 and w2 == _LEN:
                    domain = bytes(v2).decode("utf-8", "replace")  # type: ignore[arg-type]
                elif f2 == 2 and w2 == _VARINT:
                    version = int(v2)  # type: ignore[arg-type]
            if domain in DEFAULT_DOMAINS:
                opset = max(opset, version)
        elif field == _GRAPH and wire == _LEN:
            ops |= _op_types(value, _GRAPH_NODE)  # type: ignore[arg-type]
        elif field == _FUNCTIONS and wire == _LEN:
            ops |= _op_types(value, _FUNC_NODE)  # type: ignore[arg-type]
    return opset, ops


def _scan_with_onnx(path: Path) -> Tuple[int, Set[str]]:
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    opset = max([o.version for o in model.opset_import if o.domain in DEFAULT_DOMAINS] or [0])
    ops = {n.op_type for n in model.graph.node}
    for fn in model.functions:
        ops |= {n.op_type for n in fn.node}
    return opset, ops


def scan_onnx(path: "str | os.PathLike[str]") -> Tuple[int, Set[str]]:
    """(default-domain opset, op types) of the ONNX file; EngineError when it is not readable."""
    p = Path(path)
    try:
        try:
            import onnx  # noqa: F401  (optional: a faster, fully checked reader)
        except ImportError:
            return scan_bytes(p.read_bytes())
        return _scan_with_onnx(p)
    except OSError as exc:
        raise EngineError(f"cannot read {p} ({exc.strerror}); re-copy the bundle")
    except Exception as exc:  # a corrupt file: onnx raises DecodeError, the minimal reader ValueError
        raise EngineError(f"{p.name} is not a readable ONNX model ({type(exc).__name__}); "
                          "re-export the bundle")
