"""serve hashes every file of a bundle before it serves it (``serve/server.py``): a newer bundle
altered so that only sha256 can tell (same size, same outputs, other bytes) is skipped with one log
line and the older verified one keeps serving. Driven by ``refresh()`` by hand: no waiting."""
from edgecl_runtime.serve import ModelServer
from tests.runtime.rt_factory import make_bundle
from tests.runtime.serve.helpers import publish


def test_a_newer_bundle_altered_at_the_same_size_is_not_served(tmp_path):
    run = tmp_path / "run"
    make_bundle(run / "task-01" / "export", task=1)
    logs = []
    server = ModelServer(run, log=logs.append)
    assert server.refresh() and server.served.task == 1
    publish(run, 2, tamper=True)
    assert server.refresh() is False and server.served.task == 1
    assert sum("skipping task 2" in line for line in logs) == 1, logs
    publish(run, 3)
    assert server.refresh() is True and server.served.task == 3
    server.served.classifier.close()


def test_an_altered_file_serve_never_reads_still_stops_the_swap(tmp_path):
    """Every listed file is hashed, not only the model serve runs: a bundle whose INT8 file was
    altered is not a bundle its signer shipped, so serve keeps the verified one."""
    from tests.runtime.rt_factory import tamper_same_size

    run = tmp_path / "run"
    make_bundle(run / "task-01" / "export", task=1)
    server = ModelServer(run, log=lambda line: None)
    assert server.refresh() and server.served.task == 1
    staging = run / ".task-02.tmp"
    bundle = make_bundle(staging / "export", task=2)
    tamper_same_size(bundle / "model.int8.onnx")  # serve runs fp32: it never opens this file
    staging.rename(run / "task-02")
    assert server.refresh() is False and server.served.task == 1
    server.served.classifier.close()
