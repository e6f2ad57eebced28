import csv
import json

import pytest

from nlp.csv_rows import sniff_delimiter
from nlp.dumps import (
    ColumnMap,
    DumpError,
    DumpReader,
    RawRow,
    peek_columns,
    row_to_post,
)
from nlp.errors import RowError


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


@pytest.mark.parametrize(("delimiter", "name"), [(";", "semicolon"), ("\t", "tab"),
                                                 ("|", "pipe"), (",", "comma")])
def test_the_csv_delimiter_is_sniffed(tmp_path, delimiter, name):
    path = tmp_path / f"{name}.csv"
    rows = [["id", "text", "brand"], ["1", "late, again; and again", "Acme"],
            ["2", 'she said "wait"\nthen hung up', "Bolt"], ["3", "ok | fine", "Acme"]]
    with path.open("w", newline="") as fh:
        csv.writer(fh, delimiter=delimiter).writerows(rows)
    reader = DumpReader(path)
    read = [r.values for r in reader.rows()]
    assert reader.delimiter == delimiter and reader.columns == ["id", "text", "brand"]
    assert read == [dict(zip(rows[0], row, strict=True)) for row in rows[1:]]


def test_punctuation_in_text_does_not_fool_the_sniffer():
    # One column: nothing to sniff, so the comma; the header decides, not the text.
    assert sniff_delimiter(["text\n", "late; again\n", "a|b|c\n"]) == ","
    assert sniff_delimiter(["id,text\n", "1,a;b;c\n", "2,d;e;f\n"]) == ","
    assert sniff_delimiter(["id;text\n", "1;a, b\n", "2;c, d, e\n"]) == ";"
    # A file without a header row: the known width decides.
    assert sniff_delimiter(['1;"a, b";1;x\n', "2;c;0;y\n"], width=4) == ";"


def test_a_given_delimiter_overrides_the_sniffing(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("id;text,brand\n1;late,Acme\n")
    assert peek_columns(path) == ["id;text", "brand"]
    assert peek_columns(path, delimiter=";") == ["id", "text,brand"]
    assert ColumnMap(delimiter="\\t").delimiter == ColumnMap(delimiter="tab").delimiter == "\t"
    with pytest.raises(DumpError, match="delimiter ';;': give one character"):
        ColumnMap(delimiter=";;")


@pytest.mark.parametrize("index_name", ["", "Unnamed: 0"])
def test_a_pandas_index_column_is_not_a_column_of_the_dump(tmp_path, index_name):
    import pandas as pd

    path = tmp_path / "d.csv"
    frame = pd.DataFrame({"text": ["late again", "rude, very rude"], "brand": ["A", "B"]},
                         index=[7, 3])  # a sampled frame: the index is not 0..n
    frame.rename_axis(index_name or None).to_csv(path)
    assert path.read_text().splitlines()[0] == f"{index_name},text,brand"
    reader = DumpReader(path)
    rows = list(reader.rows())
    assert reader.index_column and reader.columns == ["text", "brand"]
    assert [r.values for r in rows] == [{"text": "late again", "brand": "A"},
                                        {"text": "rude, very rude", "brand": "B"}]
    resolved = ColumnMap().resolve(reader.columns, path)
    assert resolved.id is None  # so posts are row-N, not the index value
    assert row_to_post(rows[0], resolved, "d.csv").post_id == "row-1"


def test_a_ragged_row_after_an_index_column_counts_every_field(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text(",id,text\n0,1,late\n1,2\n")
    rows = list(DumpReader(path).rows())
    assert rows[0].values == {"id": "1", "text": "late"}
    assert rows[1].error == "expected 3 fields, found 2"


def test_tweet_id_is_a_default_id_column(tmp_path):
    resolved = ColumnMap().resolve(["tweet_id", "text"], tmp_path)
    assert resolved.id == "tweet_id"
    assert ColumnMap().resolve(["tweet_id", "id", "text"], tmp_path).id == "id"


def test_an_unreadable_time_in_a_dump_says_to_give_its_format():
    row = RawRow(1, {"text": "hi", "created_at": "last Tuesday"})
    with pytest.raises(RowError, match=r"\(expected ISO 8601.*\); give its strptime format "
                                       r"with --time-format$"):
        row_to_post(row, ColumnMap(text="text", time="created_at"), "d")
    day_first = RawRow(1, {"text": "hi", "created_at": "31/10/2017"})
    with pytest.raises(RowError, match=r"first, and one value cannot say which: give "
                                       r"--time-format, e.g. '%d/%m/%Y %H:%M' or '%m/%d/%Y "
                                       r"%H:%M'$"):  # said once, not twice
        row_to_post(day_first, ColumnMap(text="text", time="created_at"), "d")
    with pytest.raises(RowError, match=r"does not match '%Y'$"):
        row_to_post(day_first, ColumnMap(text="text", time="created_at", time_format="%Y"),
                    "d")
