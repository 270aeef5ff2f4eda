"""``serve --trust`` holds dropped updates to the same keys as bundles: an unsigned update is never
applied, a signed one is. Without this, a fleet pinned to a key would accept any update.json."""
import shutil

from edgecl_runtime.bundle.signing import load_trust, sign_bundle
from edgecl_runtime.serve import ModelServer


def _trusted_models(made_update, tmp_path):
    """A models folder whose base bundle is signed by the run's key, and that key loaded as trusted."""
    run, keys, _ = made_update
    models = tmp_path / "models"
    shutil.copytree(run / "task-01" / "export", models / "task-01")
    sign_bundle(models / "task-01", keys / "edgecl-sign.key")
    return models, run / "task-02" / "update-from-01", load_trust(keys / "edgecl-sign.pub")


def test_an_unsigned_update_is_refused_under_trust_and_the_base_stays(made_update, tmp_path):
    models, update, trusted = _trusted_models(made_update, tmp_path)
    logs = []
    server = ModelServer(models, log=logs.append, trusted=trusted)
    assert server.refresh() and server.served.task == 1
    dropped = shutil.copytree(update, models / "update-from-01")
    (dropped / "update.sig").unlink()
    assert not server.refresh()
    assert server.served.task == 1 and not (models / "task-02").exists()
    assert any("skipping update" in line and "not signed" in line for line in logs), logs
    server.served.classifier.close()


def test_a_signed_update_is_applied_under_trust(made_update, tmp_path):
    models, update, trusted = _trusted_models(made_update, tmp_path)
    server = ModelServer(models, log=lambda msg: None, trusted=trusted)
    assert server.refresh() and server.served.task == 1
    shutil.copytree(update, models / "update-from-01")
    assert server.refresh() and server.served.task == 2
    server.served.classifier.close()
