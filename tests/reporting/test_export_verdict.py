"""The report's verdict on one task's bundle (``edgecl/reporting/exports.py``, ``export_section``):
``all_passed`` only when every format in the manifest passed its gate; a format that failed its
gate or its export keeps the verdict false and is shown with its reason. Built from a manifest
alone (latency_iters=0 measures nothing), so no model is needed."""
import json

import pytest

from edgecl.reporting.exports import export_section


def _task_dir(tmp_path, statuses):
    export = tmp_path / "task-01" / "export"
    export.mkdir(parents=True)
    formats = {name: {"file": None, "status": status,
                      "gate": {"reason": f"{name} failed level 2"} if status == "gate_failed" else {}}
               for name, status in statuses.items()}
    (export / "manifest.json").write_text(json.dumps({"formats": formats, "files": {}}))
    return tmp_path / "task-01"


@pytest.mark.parametrize("statuses", [{"fp32": "passed", "fp16": "gate_failed"},
                                      {"fp32": "passed", "int8": "export_failed"},
                                      {"fp32": "gate_failed", "fp16": "passed", "int8": "passed"}])
def test_one_format_that_did_not_pass_makes_the_verdict_false(tmp_path, statuses):
    section = export_section(_task_dir(tmp_path, statuses), latency_iters=0)
    assert section["state"] == "present" and section["all_passed"] is False


def test_every_format_passed_makes_the_verdict_true(tmp_path):
    section = export_section(_task_dir(tmp_path, {"fp32": "passed", "fp16": "passed"}), latency_iters=0)
    assert section["all_passed"] is True
    assert [r["status"] for r in section["formats"]] == ["passed", "passed"]
