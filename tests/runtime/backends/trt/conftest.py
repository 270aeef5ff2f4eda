"""Every TensorRT test gets its own device plan store (and device key): nothing is written to ~/.cache."""
import pytest

from edgecl_runtime.backends.trt.plan_store import STORE_ENV


@pytest.fixture(autouse=True)
def plan_store(tmp_path_factory, monkeypatch):
    root = tmp_path_factory.mktemp("device-cache")
    monkeypatch.setenv(STORE_ENV, str(root))
    return root
