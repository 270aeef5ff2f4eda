"""The range of each training option at its boundary, checked where values enter (check_options).

Each case cites the option's documented range (``edgecl/config.py`` help texts and docs/OPTIONS):
--lambda in (0, 1] (1 is the paper's upper end), --head-lr positive (0 would freeze the new head:
the task trains nothing it can predict with), --weight-decay >= 0 (negative decay pushes weights up).
"""
import pytest

from edgecl.config import check_options
from edgecl.errors import OptionError


@pytest.mark.parametrize("key, value", [("lam", 1.0), ("lam", 1e-9), ("head_lr", 1e-9),
                                        ("weight_decay", 0.0), ("weight_decay", 5e-4)])
def test_values_at_the_edge_of_their_range_are_accepted(key, value):
    check_options({key: value})


@pytest.mark.parametrize("key, value, flag", [("lam", 0.0, "--lambda"), ("lam", 1.0000001, "--lambda"),
                                              ("head_lr", 0.0, "--head-lr"), ("head_lr", -1e-3, "--head-lr"),
                                              ("weight_decay", -1e-9, "--weight-decay")])
def test_values_just_outside_their_range_are_refused_naming_the_flag(key, value, flag):
    with pytest.raises(OptionError, match=flag):
        check_options({key: value})
