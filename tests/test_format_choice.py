"""The one spelling of export formats (bare words a set, +/- changes to a base) and the keep rule:
a shipped format is dropped only when named."""
import json

import pytest

from edgecl.config import RunConfig, conflicts
from edgecl.errors import OptionError, UsageError
from edgecl.format_choice import FormatChoice, plan_formats, shipped_formats
from edgecl.learning.request import learn_request

RUN = ("fp16", "int8", "int8cpu")


@pytest.mark.parametrize("text, base, result", [
    ("fp16,int8", RUN, ("fp16", "int8")),
    ("int8 , fp16", (), ("fp16", "int8")),  # contract order, spaces ignored
    ("none", RUN, ()),
    ("+trt,-int8cpu", RUN, ("fp16", "int8", "trt")),
    ("fp16,+int8", (), ("fp16", "int8")),  # the old flags as aliases: --formats fp16 --int8
    ("+int8", RUN, RUN),
])
def test_one_spelling(text, base, result):
    assert FormatChoice.parse(text).apply(base) == result


@pytest.mark.parametrize("text, words", [("fp17", "unknown format 'fp17'"), ("+int8,-int8", "both keeps and removes"),
                                         ("fp16,-fp16", "both keeps and removes")])
def test_bad_spellings_are_one_option_error(text, words):
    with pytest.raises(OptionError, match=words):
        FormatChoice.parse(text)


def test_callers_sets_and_lists_are_whole_sets():
    assert FormatChoice.of({"int8", "fp16"}).apply(RUN) == ("fp16", "int8")
    assert FormatChoice.of([]).apply(RUN) == ()
    assert FormatChoice.of(None) is None
    with pytest.raises(OptionError):
        FormatChoice.of(3)


def test_keep_rule():
    keep = plan_formats(RUN, RUN, None, "task-05/export")
    assert keep.formats == RUN and keep.kept == RUN and keep.dropped == ()
    # a format an earlier export added to the bundle is kept too
    assert plan_formats(("fp16",), ("fp16", "trt"), None, "b").formats == ("fp16", "trt")
    named = plan_formats(RUN, RUN, FormatChoice.parse("-int8cpu,+trt"), "b")
    assert named.formats == ("fp16", "int8", "trt") and named.dropped == ("int8cpu",) and named.kept == ("fp16", "int8")
    with pytest.raises(UsageError, match="would remove int8, int8cpu from task-05/export"):
        plan_formats(RUN, RUN, FormatChoice.parse("fp16"), "task-05/export")
    with pytest.raises(UsageError, match="--formats -int8cpu"):
        plan_formats((), RUN, FormatChoice.parse("fp16,-int8"), "b")  # int8cpu: shipped, not named
    assert plan_formats(RUN, (), FormatChoice.parse("fp16"), "b").formats == ("fp16",)  # nothing shipped yet


def test_a_shipped_plan_is_never_replaced_where_it_cannot_be_rebuilt():
    with pytest.raises(UsageError, match="ships trt, which this machine cannot build.*--formats -trt"):
        plan_formats(("fp16",), ("fp16", "trt"), None, "task-05/export", unbuildable=("trt",))
    with pytest.raises(UsageError, match="cannot build"):
        plan_formats(("fp16",), ("fp16", "trt"), FormatChoice.parse("+int8"), "b", unbuildable=("trt",))
    dropped = plan_formats(("fp16",), ("fp16", "trt"), FormatChoice.parse("-trt"), "b", unbuildable=("trt",))
    assert dropped.formats == ("fp16",) and dropped.dropped == ("trt",)
    assert plan_formats(("fp16",), ("fp16",), None, "b", unbuildable=("trt",)).formats == ("fp16",)


def test_shipped_formats_are_the_files_of_the_manifest(tmp_path):
    assert shipped_formats(tmp_path) == frozenset()
    formats = {"fp32": {"file": "model.onnx"}, "fp16": {"file": "model.fp16.onnx"}, "int8": {"file": None},
               "trt_fp16": {"file": "model.fp16.plan"}}
    (tmp_path / "manifest.json").write_text(json.dumps({"formats": formats}))
    assert shipped_formats(tmp_path) == {"fp16", "trt"}  # int8's export failed: no file, nothing shipped


def test_learn_reads_the_same_spelling(tmp_path):
    assert learn_request(tmp_path, {"export_formats": "-int8cpu"}).options.config.export_formats == ["fp16", "int8"]
    config = tmp_path / "c.yaml"
    config.write_text("export_formats: [fp16]\n")
    assert learn_request(tmp_path, {"export_formats": "+trt"}, config).options.config.export_formats == ["fp16", "trt"]
    # an existing run: + and - change its own set, which is frozen
    frozen = RunConfig(export_formats=["int8", "fp16"])
    same = learn_request(tmp_path, {"export_formats": "+int8,-int8cpu"}).options
    assert conflicts(frozen, same.given_values(frozen)) == []
    fp16_only = RunConfig(export_formats=["fp16"])  # -int8 of the run's own set, not of the defaults
    assert conflicts(fp16_only, learn_request(tmp_path, {"export_formats": "-int8"}).options.given_values(fp16_only)) == []
    more = learn_request(tmp_path, {"export_formats": "+trt"}).options
    assert "conflicts with this run's export_formats" in conflicts(frozen, more.given_values(frozen))[0]
    with pytest.raises(OptionError, match="unknown format"):
        learn_request(tmp_path, {"export_formats": "+fp8"})
