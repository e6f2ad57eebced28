import json
from datetime import UTC, datetime

import pytest

from nlp.dumps import ColumnMap, DumpError, DumpReader, RawRow, row_to_post
from nlp.errors import RowError
from nlp.times import parse_time


def _rows(path):
    return list(DumpReader(path).rows())


def test_csv_rows_keep_quoted_commas_and_newlines_and_flag_ragged_rows(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text('id,text\n1,"late, again"\n2,"two\nlines"\n3,a,extra\n4,ok\n')
    rows = _rows(path)
    assert [r.number for r in rows] == [1, 2, 3, 4]
    assert rows[0].values == {"id": "1", "text": "late, again"}
    assert rows[1].values["text"] == "two\nlines"
    assert rows[2].values is None and rows[2].error == "expected 2 fields, found 3"


def test_jsonl_rows_flag_bad_json_and_non_objects_and_skip_blank_lines(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_text('{"text": "a"}\n\n{bad\n[1, 2]\n{"text": "b", "brand": "X"}\n')
    rows = _rows(path)
    assert [r.number for r in rows] == [1, 2, 3, 4]
    assert rows[1].error.startswith("invalid JSON")
    assert rows[2].error == "expected a JSON object, found list"
    assert rows[3].values == {"text": "b", "brand": "X"}


def test_parquet_rows(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "d.parquet"
    pq.write_table(pa.table({"text": ["a", "b"], "n": [1, 2]}), path)
    reader = DumpReader(path)
    assert [r.values for r in reader.rows()] == [{"text": "a", "n": 1}, {"text": "b", "n": 2}]
    assert reader.position == reader.size == 2


def test_unknown_format_and_missing_file_are_clear(tmp_path):
    (tmp_path / "d.xlsx").write_text("x")
    with pytest.raises(DumpError, match="unknown format '.xlsx'"):
        DumpReader(tmp_path / "d.xlsx")
    with pytest.raises(DumpError, match="no such file"):
        DumpReader(tmp_path / "nope.csv")


def test_column_map_resolves_defaults_and_rejects_unknown_columns(tmp_path):
    resolved = ColumnMap().resolve(["post_id", "text", "author", "date"], tmp_path)
    assert (resolved.id, resolved.text, resolved.author, resolved.time, resolved.brand) == (
        "post_id", "text", "author", "date", None)
    with pytest.raises(DumpError, match="no column 'airline' \\(--brand-col\\)"):
        ColumnMap(brand="airline").resolve(["text"], tmp_path)
    with pytest.raises(DumpError, match="no text column"):
        ColumnMap().resolve(["body"], tmp_path)


@pytest.mark.parametrize(
    ("value", "fmt", "expected"),
    [
        ("2015-02-24T11:35:00-08:00", None, datetime(2015, 2, 24, 19, 35, tzinfo=UTC)),
        ("2015-02-24T19:35:00Z", None, datetime(2015, 2, 24, 19, 35, tzinfo=UTC)),
        ("2015-02-24 19:35", None, datetime(2015, 2, 24, 19, 35, tzinfo=UTC)),  # naive: UTC
        (1424806500, None, datetime(2015, 2, 24, 19, 35, tzinfo=UTC)),
        ("24-02-2015 19:35", "%d-%m-%Y %H:%M", datetime(2015, 2, 24, 19, 35, tzinfo=UTC)),
        ("", None, None),
    ],
)
def test_parse_time(value, fmt, expected):
    assert parse_time(value, "t", fmt) == expected


@pytest.mark.parametrize(
    ("value", "fmt", "message"),
    [("yesterday", None, "unparseable time"), ("2015-02-24", "%d-%m-%Y", "does not match"),
     ([1], None, "is a list")],
)
def test_parse_time_errors(value, fmt, message):
    with pytest.raises(RowError, match=message):
        parse_time(value, "t", fmt)


@pytest.mark.parametrize(
    ("values", "message"),
    [({"body": "x"}, "no value in text column"), ({"text": 5}, "holds a int"),
     ({"text": "   "}, "empty text")],
)
def test_row_to_post_reasons(values, message):
    with pytest.raises(RowError, match=message):
        row_to_post(RawRow(7, values), ColumnMap(text="text"), "dump")


def test_row_to_post_fills_ids_and_blanks():
    post = row_to_post(RawRow(7, {"text": "hi", "brand": " ", "author": "a1"}),
                       ColumnMap(text="text", brand="brand", author="author"), "dump.csv")
    assert post.key == ("dump.csv", "row-7") and post.brand is None and post.author_id == "a1"
    assert json.dumps(post.text) == '"hi"'
