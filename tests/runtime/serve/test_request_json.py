"""A request line is strict JSON: NaN/Infinity anywhere in it, even in a field serve does not read,
makes the line an error object (the module contract of ``serve/lines.py``), and the next line is
still served."""
import pytest

from tests.runtime.serve.helpers import serve_lines

STATUS = b'{"id": "next", "cmd": "status"}'


@pytest.mark.parametrize("literal", [b"NaN", b"Infinity", b"-Infinity"])
def test_a_non_finite_literal_in_an_unread_field_is_refused(server, literal):
    line = b'{"id": 1, "cmd": "status", "note": ' + literal + b"}"
    answers = serve_lines(server, [line, STATUS])
    assert len(answers) == 2
    assert answers[0] == {"id": None, "error": answers[0]["error"]}
    assert "not valid JSON" in answers[0]["error"]
    assert answers[1]["id"] == "next" and answers[1]["task"] == 1


def test_the_same_line_with_a_finite_number_is_served(server):
    answers = serve_lines(server, [b'{"id": 1, "cmd": "status", "note": 1.5}'])
    assert answers[0]["id"] == 1 and answers[0]["task"] == 1
