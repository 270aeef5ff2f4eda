"""What ``edgecl export``/``learn`` print about a bundle: every format that did not pass is named
with its reason under the table (the exit code alone does not say which format failed or why)."""
from edgecl.cli.console import console, print_manifest


def _manifest(**statuses):
    formats = {}
    for name, status in statuses.items():
        gate = {"top1_agreement": 0.5, "max_abs_diff": 3.0, "reason": f"{name} level 2 failed"}
        formats[name] = {"status": status, "gate": gate if status == "gate_failed" else {},
                         "error": "onnx conversion crashed" if status == "export_failed" else ""}
    return {"task": 2, "formats": formats}


def test_every_format_that_did_not_pass_is_listed_with_its_reason():
    with console.capture() as cap:
        print_manifest(_manifest(fp32="passed", fp16="gate_failed", int8="export_failed"))
    text = cap.get()
    assert "fp16: fp16 level 2 failed" in text
    assert "int8: onnx conversion crashed" in text
    assert "fp32:" not in text


def test_a_bundle_that_passed_lists_no_failures():
    with console.capture() as cap:
        print_manifest(_manifest(fp32="passed", fp16="passed"))
    assert ": " not in "".join(line for line in cap.get().splitlines() if line.startswith("  "))
