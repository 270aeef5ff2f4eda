"""A started-and-stopped server over one tiny bundle, for tests that feed it request lines."""
import pytest

from edgecl_runtime.serve import ModelServer
from tests.runtime.rt_factory import make_bundle

@pytest.fixture
def server(tmp_path):
    make_bundle(tmp_path / "run" / "task-01" / "export", task=1)
    srv = ModelServer(tmp_path / "run", log=lambda msg: None, allow=[tmp_path])
    srv.start()
    srv.stop()
    return srv
