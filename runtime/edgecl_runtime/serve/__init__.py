"""Serving: answer JSON-lines requests from stdin with the newest verified bundle, hot-swapping.

Owns the long-running side: line limits, request policy, allowed folders, dropped-in updates.
"""
from __future__ import annotations

from .lines import DEFAULT_MAX_LINE_BYTES, read_lines, serve_stream
from .paths import AllowedRoots
from .requests import DEFAULT_MAX_IMAGES, RequestPolicy
from .server import ModelServer, find_bundles

__all__ = ["DEFAULT_MAX_LINE_BYTES", "read_lines", "serve_stream", "AllowedRoots",
           "DEFAULT_MAX_IMAGES", "RequestPolicy", "ModelServer", "find_bundles"]
