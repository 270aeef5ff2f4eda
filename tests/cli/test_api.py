"""The public API: learn, export, report and open_run with keyword arguments, nothing printed."""
import inspect

import pytest

import edgecl
from edgecl.errors import EdgeclError, UsageError


def test_api_is_typed_and_documented():
    import edgecl.cli.app  # noqa: F401  (imports every submodule: none may shadow an API function)
    for name in ("learn", "export", "report", "open_run"):
        fn = getattr(edgecl, name)
        assert fn.__doc__ and inspect.signature(fn).return_annotation is not inspect.Signature.empty
    # every option after the run folder is keyword-only: no positional argument lists
    for name in ("learn", "export", "report"):
        params = list(inspect.signature(getattr(edgecl, name)).parameters.values())[1:]
        assert all(p.kind in (p.KEYWORD_ONLY, p.VAR_KEYWORD) for p in params), name


def test_learn_export_report_open_run(tmp_path, tiny_config, capsys):
    run = tmp_path / "run"
    result = edgecl.learn(run, config_file=tiny_config, export=False, threads=1)
    assert result.tasks == [1] and 1 in result.task_metrics and result.failed_exports == []
    opened = edgecl.open_run(run)
    assert opened.num_tasks == 5 and opened.finished_tasks() == [1] and opened.config.rank == 2
    manifest = edgecl.export(run, formats={"fp16"})
    assert manifest["task"] == 1 and manifest["formats"]["fp16"]["status"] == "passed"
    paths = edgecl.report(run, latency_iters=0)
    assert paths["markdown"].is_file() and paths["json"].is_file()
    assert capsys.readouterr().out == ""  # the library prints nothing


def test_api_refusals_are_edgecl_errors(tmp_path, tiny_config):
    with pytest.raises(UsageError, match="no run at"):
        edgecl.open_run(tmp_path / "nothing")
    run = tmp_path / "run"
    with pytest.raises(UsageError, match="needs task 2 first"):
        edgecl.learn(run, task=3, config_file=tiny_config, export=False, threads=1)
    with pytest.raises(EdgeclError):
        edgecl.export(run, task=1)
