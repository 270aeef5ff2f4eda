"""The run report: collect numbers from the store (collect), render Markdown (markdown) and PNGs (plots)."""
from edgecl.reporting.collect import collect_report, write_report

__all__ = ["collect_report", "write_report"]
