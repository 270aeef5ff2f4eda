"""``serve`` applies an update dropped into its models folder and swaps to the result only after it passed;
a bad update is logged once and the base keeps being served."""
import shutil

from edgecl_runtime.serve import ModelServer


def models_folder(made_update, tmp_path):
    run = made_update[0]
    models = tmp_path / "models"
    shutil.copytree(run / "task-01" / "export", models / "task-01")
    return models, run / "task-02" / "update-from-01"


def test_serve_applies_a_dropped_update_and_swaps(made_update, tmp_path):
    models, update = models_folder(made_update, tmp_path)
    logs = []
    server = ModelServer(models, log=logs.append)
    assert server.refresh() and server.served.task == 1
    shutil.copytree(update, models / "update-from-01")
    assert server.refresh()
    assert server.served.task == 2 and server.served.path == (models / "task-02").resolve()
    assert any("applied update" in line for line in logs)
    assert not server.refresh()  # applied once; nothing new afterwards
    server.served.classifier.close()


def test_a_tampered_dropped_update_is_logged_once_and_the_base_stays(made_update, tmp_path):
    models, update = models_folder(made_update, tmp_path)
    logs = []
    server = ModelServer(models, log=logs.append)
    server.refresh()
    dropped = shutil.copytree(update, models / "update-from-01")
    branch = dropped / "branch-02.safetensors"
    branch.write_bytes(branch.read_bytes()[:-4] + b"\0\0\0\0")
    assert not server.refresh() and not server.refresh()
    assert server.served.task == 1 and not (models / "task-02").exists()
    assert len([line for line in logs if "skipping update" in line]) == 1
    server.served.classifier.close()
