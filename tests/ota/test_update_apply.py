"""an update made by ``edgecl export --update-from`` rebuilds task N's bundle on a
device byte for byte (model.onnx and every other listed file), passes the golden gate and
``edgecl-rt verify``; tampered, truncated, wrong-base, unsigned-under-trust updates are refused in
one line with nothing written."""
import json

from typer.testing import CliRunner

from edgecl_runtime.atomic_io import read_json, sha256_file
from edgecl_runtime.cli import app as rt_app
from edgecl_runtime.bundle.verify import verify_bundle

rt = CliRunner()


def rt_update(base, update, out, *extra):
    return rt.invoke(rt_app, ["update", str(base), str(update), "--out", str(out), *map(str, extra)])


def refused(result, text, out):
    lines = [ln for ln in result.output.strip().splitlines() if "warning" not in ln]
    assert result.exit_code == 1, result.output
    assert len(lines) == 1 and text in lines[0] and "Traceback" not in result.output, result.output
    assert not out.exists() and not list(out.parent.glob(f".{out.name}.*"))


def test_export_reports_the_update_and_its_size(made_update):
    run, _, output = made_update
    assert "update:" in output and "% of the full bundle" in output and "signed" in output
    update = read_json(run / "task-02" / "update-from-01" / "update.json")
    assert update["task"] == 2 and update["base_task"] == 1
    assert all(not spec["whole"] for spec in update["onnx"].values())  # FP32 and FP16 both as skeletons


def test_apply_rebuilds_the_full_export_byte_for_byte_and_verifies(made_update, tmp_path):
    run, keys, _ = made_update
    new = tmp_path / "NEW"
    result = rt_update(run / "task-01" / "export", run / "task-02" / "update-from-01", new,
                       "--trust", keys / "edgecl-sign.pub")
    assert result.exit_code == 0, result.output
    full = run / "task-02" / "export"
    for name in ("model.onnx", "model.fp16.onnx"):
        assert sha256_file(new / name) == sha256_file(full / name)
    manifest = read_json(new / "manifest.json")
    listed = {p.relative_to(new).as_posix() for p in new.rglob("*") if p.is_file()}
    assert listed == set(manifest["files"]) | {"manifest.json", "manifest.sig"}
    assert manifest["update"]["from_task"] == 1
    for precision in ("fp32", "fp16"):
        rec = verify_bundle(new, "ort", precision, write=False)
        assert rec["passed"], rec["reason"]


def test_tampered_factors_are_refused(update_copy, tmp_path):
    base, update = update_copy
    path = update / "branch-02.safetensors"
    data = bytearray(path.read_bytes())
    data[-1] ^= 0x01
    path.write_bytes(bytes(data))
    refused(rt_update(base, update, tmp_path / "NEW"), "was altered", tmp_path / "NEW")


def test_truncated_skeleton_is_refused(update_copy, tmp_path):
    base, update = update_copy
    path = update / "onnx" / "model.onnx"
    path.write_bytes(path.read_bytes()[:1000])
    refused(rt_update(base, update, tmp_path / "NEW"), "truncated", tmp_path / "NEW")


def test_wrong_base_is_refused(made_update, update_copy, tmp_path):
    run = made_update[0]
    _, update = update_copy
    refused(rt_update(run / "task-02" / "export", update, tmp_path / "NEW"), "not the base", tmp_path / "NEW")


def test_altered_base_file_is_refused(update_copy, tmp_path):
    base, update = update_copy
    (base / "labels.txt").write_text("x\ny\n")
    refused(rt_update(base, update, tmp_path / "NEW"), "missing or altered", tmp_path / "NEW")


def test_unsigned_update_is_refused_under_trust(made_update, update_copy, tmp_path):
    _, keys, _ = made_update
    base, update = update_copy
    (update / "update.sig").unlink()
    refused(rt_update(base, update, tmp_path / "NEW", "--trust", keys / "edgecl-sign.pub"), "not signed",
            tmp_path / "NEW")


def test_edited_update_json_fails_the_signature(made_update, update_copy, tmp_path):
    _, keys, _ = made_update
    base, update = update_copy
    data = json.loads((update / "update.json").read_text())
    data["base_task"] = 0
    (update / "update.json").write_text(json.dumps(data))
    refused(rt_update(base, update, tmp_path / "NEW", "--trust", keys / "edgecl-sign.pub"),
            "does not match any trusted key", tmp_path / "NEW")


def test_existing_out_is_refused_and_kept(update_copy, tmp_path):
    base, update = update_copy
    out = tmp_path / "NEW"
    out.mkdir()
    (out / "keep").write_text("mine")
    result = rt_update(base, update, out)
    assert result.exit_code == 1 and "already exists" in result.output
    assert (out / "keep").read_text() == "mine"


def test_missing_onnx_package_is_one_line(update_copy, tmp_path, monkeypatch):
    import builtins

    real = builtins.__import__

    def no_onnx(name, *args, **kwargs):
        if name == "onnx" or name.startswith("onnx."):
            raise ImportError("no onnx")
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_onnx)
    base, update = update_copy
    refused(rt_update(base, update, tmp_path / "NEW"), "needs the onnx package", tmp_path / "NEW")


def test_malformed_update_json_is_one_line(update_copy, tmp_path):
    base, update = update_copy
    data = json.loads((update / "update.json").read_text())
    data["steps"] = "none"
    (update / "update.json").write_text(json.dumps(data))
    refused(rt_update(base, update, tmp_path / "NEW"), "malformed", tmp_path / "NEW")
