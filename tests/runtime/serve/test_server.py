"""Hot swap: predictions stream while a newer task bundle appears; none fail, order holds.

No test here waits on time: bundles are published with one rename, and the tests wait on the
server's log lines, its answers and counted watcher polls (see serve_helpers).
"""
import json
import threading

from edgecl_runtime.serve import ModelServer, find_bundles
from tests.runtime.rt_factory import make_bundle, tamper_same_size
from tests.runtime.serve.helpers import LogWatch, Signal, count_polls, gray_png, publish


def test_find_bundles_layouts(tmp_path):
    make_bundle(tmp_path / "run" / "task-01" / "export", task=1)
    make_bundle(tmp_path / "run" / "task-02" / "export", task=2)
    assert [t for t, _ in find_bundles(tmp_path / "run")] == [2, 1]
    make_bundle(tmp_path / "flat" / "b3", task=3)
    make_bundle(tmp_path / "flat" / "b5", task=5)
    assert [t for t, _ in find_bundles(tmp_path / "flat")] == [5, 3]
    assert [t for t, _ in find_bundles(tmp_path / "flat" / "b3")] == [3]


def test_publish_staging_is_invisible(tmp_path):
    """The hidden staging folder publish() builds in is never a candidate."""
    run = tmp_path / "run"
    make_bundle(run / ".task-02.tmp" / "export", task=2)
    make_bundle(run / "task-01" / "export", task=1)
    assert [t for t, _ in find_bundles(run)] == [1]


def _stream(server, img, responses, grew):
    """Client loop: one request after the other until ``stop`` is set; wakes ``grew`` each time."""
    stop = threading.Event()

    def client():
        i = 0
        while not stop.is_set():
            responses.append(server.handle({"id": i, "image": str(img), "top_k": 10}))
            grew.notify()
            i += 1

    thread = threading.Thread(target=client)
    thread.start()
    return stop, thread


def test_hot_swap_streaming(tmp_path):
    run = tmp_path / "run"
    make_bundle(run / "task-01" / "export", task=1, k=4, seed=1)
    img = gray_png(tmp_path / "a.png")
    logs = LogWatch()
    server = ModelServer(run, poll_s=0.05, log=logs, allow=[tmp_path])
    server.start()
    polls = count_polls(server)
    responses, grew = [], Signal()
    stop, thread = _stream(server, img, responses, grew)
    try:
        assert grew.wait(lambda: len(responses) > 20)
        # a task 3 altered after hashing (same size, still a working model) must be skipped ...
        publish(run, 3, tamper=True, k=8, seed=3)
        assert logs.wait_for("skipping task 3")
        # ... while a good task 2 is swapped in
        publish(run, 2, k=6, seed=2)
        assert logs.wait_for("serving task 2")
        n_at_swap = len(responses)
        assert grew.wait(lambda: len(responses) > n_at_swap + 20)
        assert polls(3)  # the watcher looked at the unchanged task 3 again, three times
    finally:
        stop.set()
        thread.join()
        server.stop()
    assert all("error" not in r for r in responses), [r for r in responses if "error" in r][:1]
    tasks = [r["task"] for r in responses]
    assert tasks == sorted(tasks) and tasks[0] == 1 and tasks[-1] == 2 and 3 not in tasks
    for r in responses:  # every response is consistent with the model of its task
        names = {p["class"] for p in r["predictions"]}
        assert names == ({f"t1c{i}" for i in range(4)} if r["task"] == 1
                         else {f"t2c{i}" for i in range(6)})
    assert logs.count("skipping task 3") == 1, logs.lines  # not retried while unchanged


def test_rejected_bundle_retried_when_files_change(tmp_path):
    run = tmp_path / "run"
    make_bundle(run / "task-01" / "export", task=1)
    b2 = make_bundle(run / "task-02" / "export", task=2)
    good = (b2 / "golden.npz").read_bytes()
    (b2 / "golden.npz").write_bytes(b"half-copied")
    logs = []
    server = ModelServer(run, log=logs.append)
    server.start()  # no watcher polling needed: drive refresh by hand
    server.stop()
    assert server.served.task == 1 and sum("skipping task 2" in l for l in logs) == 1
    assert server.refresh() is False and sum("skipping task 2" in l for l in logs) == 1
    (b2 / "golden.npz").write_bytes(good)  # the copy finished
    assert server.refresh() is True and server.served.task == 2


def test_gate_failure_is_never_served(tmp_path):
    run = tmp_path / "run"
    make_bundle(run / "task-01" / "export", task=1)
    make_bundle(run / "task-02" / "export", task=2, logit_offset=0.5)
    logs = []
    server = ModelServer(run, log=logs.append)
    server.start()
    server.stop()
    assert server.served.task == 1 and any("gate failed: level 1" in l for l in logs)
    assert json.dumps(server.handle({"id": 1, "cmd": "status"}))


def test_same_size_alteration_is_never_served(tmp_path):
    """Only sha256 can catch this bundle: same sizes, a model that works and passes the gate."""
    run = tmp_path / "run"
    make_bundle(run / "task-01" / "export", task=1)
    b2 = make_bundle(run / "task-02" / "export", task=2)
    tamper_same_size(b2 / "model.onnx")
    logs = []
    server = ModelServer(run, log=logs.append)
    server.start()
    server.stop()
    assert server.served.task == 1
    assert any("skipping task 2" in line and "sha256" in line for line in logs), logs
