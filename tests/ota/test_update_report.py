"""``edgecl report`` lists each task's over-the-air updates with their sizes: the bytes a fleet
downloads against the whole bundle, each ONNX file's share of its own file, and whether it is signed;
an unreadable update is named, not skipped."""
import re

from edgecl.reporting.collect import collect_report
from edgecl.reporting.markdown import render_markdown
from edgecl.updating import update_breakdown


def test_report_lists_the_update_with_its_sizes(made_update):
    run = made_update[0]
    data = collect_report(run, latency_iters=0)
    task2 = next(s for s in data["exports"] if s["task"] == 2)
    [update] = task2["updates"]
    assert update == update_breakdown(run / "task-02" / "update-from-01")
    assert update["signed"] and 0 < update["bytes"] < update["bundle_bytes"]
    assert set(update["onnx"]) == {"model.onnx", "model.fp16.onnx"}
    text = render_markdown(data)
    line = next(ln for ln in text.splitlines() if ln.startswith("Update from task 1:"))
    assert f"{update['bytes']:,} bytes" in line and "signed" in line
    assert re.search(r"`model\.fp16\.onnx` \d+\.\d %", line), line


def test_an_unreadable_update_is_named(made_update, tmp_path):
    import shutil
    run = shutil.copytree(made_update[0], tmp_path / "run")
    (run / "task-02" / "update-from-01" / "update.json").write_text("{")
    data = collect_report(run, latency_iters=0)
    [update] = next(s for s in data["exports"] if s["task"] == 2)["updates"]
    assert update == {"folder": "update-from-01", "error": "unreadable (ValueError)"}
    assert "Update update-from-01: unreadable (ValueError)." in render_markdown(data)
