"""`edgecl export`: a correct export passes (exit 0); a perturbed weight fails the gate (exit 1)."""
import copy
import json

import torch
from typer.testing import CliRunner

import edgecl.exporters.bundle as bundle_module
from edgecl.cli.app import app

runner = CliRunner()


def test_export_gate_pass_fail_and_refusals(tmp_path, tiny_config, monkeypatch):
    run = tmp_path / "run"
    out = runner.invoke(app, ["export", "--run", str(run)])
    assert out.exit_code == 2 and "no run at" in out.output
    learn = runner.invoke(app, ["learn", "--run", str(run), "--config", str(tiny_config), "--no-export",
                                "--quiet", "--threads", "1"])
    assert learn.exit_code == 0, learn.output
    out = runner.invoke(app, ["export", "--run", str(run), "--task", "2"])
    assert out.exit_code == 2 and "task 2 is not learned yet" in out.output

    out = runner.invoke(app, ["export", "--run", str(run), "--formats", "fp16"])  # no bundle yet: any set
    assert out.exit_code == 0, out.output
    manifest = json.loads((run / "task-01" / "export" / "manifest.json").read_text())
    assert manifest["formats"]["fp32"]["status"] == "passed" and manifest["formats"]["fp16"]["status"] == "passed"

    real = bundle_module.export_onnx

    def perturbed(model, path, **kwargs):  # ship a model whose head weight was changed
        broken = copy.deepcopy(model)
        with torch.no_grad():
            broken.model.head.weight.add_(0.5 * torch.randn_like(broken.model.head.weight))
        return real(broken, path, **kwargs)

    monkeypatch.setattr(bundle_module, "export_onnx", perturbed)
    out = runner.invoke(app, ["export", "--run", str(run), "--formats", "fp16"])  # the set the bundle ships
    assert out.exit_code == 1 and "formats failed their gate or export: fp32" in out.output
    manifest = json.loads((run / "task-01" / "export" / "manifest.json").read_text())
    gate = manifest["formats"]["fp32"]["gate"]
    assert manifest["formats"]["fp32"]["status"] == "gate_failed" and 1 in gate["failed_levels"]
    assert "level 1" in gate["reason"]
