"""jobs.data.jsonl, the one JSONL reader: true line numbers, BOM, deep nesting and bad UTF-8, for every reader that uses it."""
import json

import pytest

from jobs.data import jsonl
from jobs.models import registry
from tests.conftest import write_jsonl

DEEP = b"[" * 50_000 + b"]" * 50_000          # RecursionError in a plain json.loads
DEEP_OBJECT = b'{"a": ' * 150 + b"1" + b"}" * 150


def rows_with(bad: bytes, at: int, total: int) -> bytes:
    lines = [json.dumps({"q": f"question {i}", "a": str(i)}).encode() for i in range(1, total + 1)]
    lines[at - 1] = bad
    return b"\n".join(lines) + b"\n"


def test_bom_is_skipped_and_the_first_row_reads():
    data = b"\xef\xbb\xbf" + b'{"q": "\xe4\xbd\xa0\xe5\xa5\xbd", "a": "1"}\n{"q": "b", "a": "2"}\n'
    assert jsonl.read(data) == [{"q": "你好", "a": "1"}, {"q": "b", "a": "2"}]
    assert registry.check_jsonl(data).errors == [] and registry.check_jsonl(data).columns == ["q", "a"]
    # A BOM is only a BOM at the start of the file; later it is a bad line.
    later = b'{"q": 1}\n\xef\xbb\xbf{"q": 2}\n'
    assert [str(v) for _, v in jsonl.scan(later) if isinstance(v, jsonl.BadLine)][0].startswith("line 2: invalid JSON")


@pytest.mark.parametrize("deep", [DEEP, DEEP_OBJECT, b'{"q": ' + b"[" * 3000 + b"]" * 3000 + b"}"])
def test_deep_nesting_is_a_clear_error_not_a_recursion_error(deep):
    data = rows_with(deep, 2, 4)
    with pytest.raises(jsonl.BadLine, match=r"^line 2: nested deeper than 100 levels"):
        jsonl.read(data)
    assert registry.check_jsonl(data).errors == ["line 2: nested deeper than 100 levels of arrays or objects"]
    assert len(jsonl.rows(data)) == 3


def test_brackets_inside_strings_do_not_count_as_nesting():
    row = {"q": "[" * 500 + "{" * 500, "a": [[["x"]]]}
    assert jsonl.read(json.dumps(row).encode()) == [row]


@pytest.mark.parametrize("line,total", [(3, 10), (5000, 6000)])
def test_invalid_utf8_is_reported_on_its_true_line(line, total):
    data = rows_with(b'{"q": "caf\xe9", "a": "1"}', line, total)
    with pytest.raises(jsonl.BadLine) as e:
        jsonl.read(data)
    assert e.value.line == line and str(e.value).startswith(f"line {line}: not UTF-8 text")
    assert registry.check_jsonl(data).errors == [f"line {line}: not UTF-8 text (invalid continuation byte at "
                                                 "column 11); save the file as UTF-8"]


def test_line_numbers_count_blank_lines_and_only_newline_splits():
    # U+2028 inside a string is legal JSON; a reader that splits on it (str.splitlines) misnumbers every later line.
    data = '{"q": "a\u2028b"}\n\n\r\n{"q": 2}\n{oops\n'.encode()
    got = list(jsonl.scan(data))
    assert [n for n, _ in got] == [1, 4, 5]
    assert got[0][1] == {"q": "a\u2028b"} and str(got[2][1]).startswith("line 5: invalid JSON")


def test_not_an_object_names_what_it_is():
    assert [str(v) for _, v in jsonl.scan(b'[1]\n"x"\nnull\n3\n')] == [
        "line 1: expected a JSON object, got an array", "line 2: expected a JSON object, got a string",
        "line 3: expected a JSON object, got null", "line 4: expected a JSON object, got a number"]
    assert jsonl.read(b"[1]\n", objects=False) == [[1]]


def test_upload_rejects_deep_and_bad_utf8_lines(ws):
    with pytest.raises(registry.JsonlError, match="line 2: nested deeper"):
        registry.register_dataset(ws, "deep", rows_with(DEEP, 2, 3))
    with pytest.raises(registry.JsonlError, match="line 3: not UTF-8"):
        registry.register_dataset(ws, "latin", rows_with(b'{"q": "caf\xe9", "a": "1"}', 3, 4))
    assert "deep" not in registry.list_datasets(ws) and "latin" not in registry.list_datasets(ws)


def test_registry_and_preview_read_a_bom_file_and_survive_a_deep_line(ws):
    from dashboard.views.datasets import preview

    (ws.datasets / "bom.jsonl").write_bytes(b"\xef\xbb\xbf" + rows_with(DEEP, 3, 4))
    path = registry.list_datasets(ws)["bom"]
    assert registry.first_row_keys(path) == ["q", "a"]
    df = preview(path)
    assert list(df["q"][:2]) == ["question 1", "question 2"]
    assert df["(invalid line)"].dropna().tolist() == ["line 3: nested deeper than 100 levels of arrays or objects"]


def test_trainer_reader_names_the_true_line(ws):
    from trainer.data import read_jsonl
    from trainer.errors import TrainerError

    (ws.datasets / "u.jsonl").write_bytes(rows_with(b'{"q": "caf\xe9"}', 5000, 5001))
    with pytest.raises(TrainerError, match=r"dataset 'u': line 5000: not UTF-8 text"):
        read_jsonl(ws.datasets / "u.jsonl", -1, "u")
    assert len(read_jsonl(ws.datasets / "u.jsonl", 4999, "u")) == 4999  # the cap stops before the bad line
    (ws.datasets / "d.jsonl").write_bytes(b"\xef\xbb\xbf" + rows_with(DEEP, 2, 2))
    with pytest.raises(TrainerError, match="line 2: nested deeper"):
        read_jsonl(ws.datasets / "d.jsonl", -1, "d")
    write_jsonl(ws.datasets / "ok.jsonl", [{"q": "a"}, {"q": "b"}])
    assert read_jsonl(ws.datasets / "ok.jsonl", -1, "ok") == [{"q": "a"}, {"q": "b"}]


def test_a_cut_off_line_reads_as_unterminated_and_the_message_is_not_garbled():
    from jobs.data.jsonl import BadLine, parse_line
    for raw in (b'{"instruction": "hello wor\n', b'{"instruction": "hello wor\r\n'):
        try:
            parse_line(raw, 7)
        except BadLine as e:
            text = str(e)
        assert "Unterminated string" in text and "at at" not in text and "control character" not in text, text
    try:
        parse_line(b'{"a": "x\x01y"}\n', 3)
    except BadLine as e:
        text = str(e)
    assert "Invalid control character at column" in text and "at at" not in text, text
