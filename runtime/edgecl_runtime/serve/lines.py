"""Framing of the ``serve`` protocol: bounded byte lines in, one JSON answer line out per request.

Why bytes and bounds: a text-mode ``for line in sys.stdin`` decodes with the locale (one invalid
byte raised UnicodeDecodeError and ended the server) and buffers a whole line however long it is
(a 300 MiB line took the process to 778 MB). Here each line is read with ``readline(limit)`` on
the binary stream, so memory stays under the cap; the rest of an oversized line is read and
dropped in small chunks, and the line is answered with an error object. Each line is decoded as
UTF-8 on its own, and every failure (bad UTF-8, bad JSON, nesting too deep for the parser,
NaN/Infinity) becomes an error object: every non-blank line gets exactly one answer and the
server keeps serving. Blank lines are ignored (keep-alives).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import IO, Any, Callable, Dict, Iterator, Optional, TextIO

from ..errors import RuntimeFailure
from ..strict_json import StrictJSONError, loads_finite

DEFAULT_MAX_LINE_BYTES = 1 << 20
_DISCARD_CHUNK = 1 << 16


@dataclass(frozen=True)
class Line:
    """One input line without its newline; ``oversized`` = its byte count when over the cap."""

    data: bytes
    oversized: int = 0


def read_lines(stream: IO[bytes], max_bytes: int) -> Iterator[Line]:
    """Lines of a binary stream; a line over ``max_bytes`` yields an empty ``Line(oversized=n)``."""
    while True:
        chunk = _as_bytes(stream.readline(max_bytes + 1))
        if not chunk:
            return
        if len(chunk) > max_bytes and not chunk.endswith(b"\n"):
            yield Line(b"", oversized=len(chunk) + _discard_rest(stream))
        else:
            yield Line(chunk.rstrip(b"\r\n"))


def _as_bytes(chunk: Any) -> bytes:
    """A text stream without ``.buffer`` (an io.StringIO) gives str: encode it, odd code points kept."""
    return chunk.encode("utf-8", "surrogatepass") if isinstance(chunk, str) else chunk


def _discard_rest(stream: IO[bytes]) -> int:
    """Read and drop the rest of the current line in small chunks; the number of bytes dropped."""
    dropped = 0
    while True:
        chunk = _as_bytes(stream.readline(_DISCARD_CHUNK))
        dropped += len(chunk)
        if not chunk or chunk.endswith(b"\n"):
            return dropped


def _decode_request(data: bytes) -> Any:
    """The JSON value of one line; RuntimeFailure with a one-line reason when it is not one."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RuntimeFailure(f"request is not valid UTF-8 (byte 0x{data[exc.start]:02x} at offset "
                             f"{exc.start}); send UTF-8 encoded JSON") from None
    try:
        return loads_finite(text)  # strict: NaN, a repeated key or a lone surrogate is refused
    except StrictJSONError as exc:
        raise RuntimeFailure(f"request is not valid JSON ({exc.msg}); send one JSON object per line") from None
    except json.JSONDecodeError as exc:
        raise RuntimeFailure(f"request is not valid JSON ({exc.msg} at column {exc.colno}); "
                             "send one JSON object per line") from None
    except RecursionError:
        raise RuntimeFailure("request nests too deeply to parse; send a flat JSON object") from None
    except ValueError as exc:  # NaN/Infinity, or an integer with too many digits
        raise RuntimeFailure(f"request is not valid JSON ({exc}); send one JSON object per line") from None


def _respond(line: Line, handle: Callable[[Any], Dict[str, Any]], max_bytes: int
            ) -> Optional[Dict[str, Any]]:
    """The answer to one line (None for a blank line); never raises."""
    if line.oversized:
        return {"id": None, "error": f"request line has {line.oversized} bytes, over the limit of "
                                     f"{max_bytes} (--max-line-bytes); send smaller requests"}
    if not line.data.strip():
        return None
    try:
        return handle(_decode_request(line.data))
    except RuntimeFailure as exc:
        return {"id": None, "error": str(exc)}
    except Exception as exc:  # a line must never take the server down
        return {"id": None, "error": f"internal error: {type(exc).__name__}; the request was dropped"}


def _encode_answer(answer: Dict[str, Any]) -> str:
    """One JSON line (ASCII, so any stdout encoding carries it); an error line if it cannot be encoded."""
    try:
        return json.dumps(answer) + "\n"
    except (TypeError, ValueError, RecursionError) as exc:
        return json.dumps({"id": None, "error": f"internal error: answer not encodable "
                                                f"({type(exc).__name__})"}) + "\n"


def serve_stream(stdin: IO[Any], stdout: TextIO, handle: Callable[[Any], Dict[str, Any]],
                 max_bytes: int = DEFAULT_MAX_LINE_BYTES) -> int:
    """Answer every request line of ``stdin`` (binary, or text with a ``.buffer``) until EOF.

    Returns the number of answers written (one per non-blank line).
    """
    stream = getattr(stdin, "buffer", stdin)
    answered = 0
    for line in read_lines(stream, max_bytes):
        answer = _respond(line, handle, max_bytes)
        if answer is not None:
            stdout.write(_encode_answer(answer))
            stdout.flush()
            answered += 1
    return answered
