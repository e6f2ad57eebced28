"""Hostile dumps through the real readers (issue 18): every malformed row becomes one rejected
(``radar import``) or quarantined (``radar score``) row with its reason, the good rows beside
it are stored or scored, and rows in = stored/scored + rejected/quarantined, exactly.

Each file is built here; ``radar import`` runs through the CLI, ``radar score`` through the
CLI with the tiny random model (a real tokenizer, which a lone surrogate used to crash) or
through :func:`nlp.batch.score_dump`, the function it calls, with a fast fake classifier.
"""

from __future__ import annotations

import json
import re
import time
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from nlp.batch import quarantine_path_for, score_dump
from nlp.dumps import DumpReader, peek_columns
from radar.cli import app
from radar.store import open_store
from tests.nlp.classifier.conftest import tiny_model_dir, tiny_network, tiny_tokenizer  # noqa: F401
from tests.nlp.test_batch import FakeClassifier

runner = CliRunner()
GOOD_TIME = "2026-11-02T10:00:00Z"
IMPORT_LINE = re.compile(r"rows in ([\d,]+) = new ([\d,]+) \+ already stored ([\d,]+) \+ "
                         r"rejected ([\d,]+)(?: \+ skipped ([\d,]+))?")
SCORE_LINE = re.compile(r"rows in ([\d,]+) = scored ([\d,]+) \+ quarantined ([\d,]+)")


def _flat(output: str) -> str:
    return " ".join(output.split())


def _numbers(match: re.Match) -> tuple[int, ...]:
    return tuple(int((g or "0").replace(",", "")) for g in match.groups())


def _radar(*args: str) -> str:
    result = runner.invoke(app, list(args), env={"COLUMNS": "200"})
    assert result.exit_code == 0, (result.output, result.exception)
    return _flat(result.output)


def _import(path: Path, tmp_path: Path, *args: str) -> tuple[tuple[int, ...], dict, dict]:
    """``radar import`` of ``path`` into a new store: the printed counts (rows in, new, seen,
    rejected, skipped), the stored posts by id, and the rejected rows' reasons by line."""
    db = tmp_path / f"{path.stem}-{len(list(tmp_path.glob('*.db')))}.db"
    output = _radar("import", str(path), "--db", str(db), *args)
    match = IMPORT_LINE.search(output)
    assert match, output
    with open_store(db) as store:
        posts = {p.post_id: p for p in store.iter_posts()}
        runs = store.stats()["runs"]
        run_id = store.db.execute("SELECT run_id FROM runs ORDER BY started_at DESC").fetchone()[0]
        rejected = {line: reason for line, reason, _ in store.rejected_rows(run_id)}
    assert runs[0]["status"] == "done"
    counts = _numbers(match)
    assert counts[0] == sum(counts[1:]), output  # rows in = new + seen + rejected + skipped
    assert len(rejected) == counts[3]
    return counts, posts, rejected


def _records(path: Path) -> list[dict]:
    """The records of a JSONL file (none if it is absent)."""
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").split("\n") if line]


def _score(path: Path, tmp_path: Path) -> tuple[tuple[int, int, int], list[dict], list[dict]]:
    """:func:`score_dump` of ``path`` with the fake classifier: counts, scored, quarantined."""
    out = tmp_path / f"{path.stem}-scored.jsonl"
    result = score_dump(path, out, FakeClassifier(), chunk_size=7)
    scored = _records(out)
    held = _records(quarantine_path_for(out))
    counts = (result.rows_in, result.rows_scored, result.rows_quarantined)
    assert counts[0] == counts[1] + counts[2] and len(scored) == counts[1]
    assert len(held) == counts[2]
    return counts, scored, held


def _score_cli(path: Path, tmp_path: Path, model_dir: Path) -> tuple[tuple[int, ...], list]:
    """``radar score`` with the tiny model: its counts and the quarantined rows."""
    out = tmp_path / f"{path.stem}-cli.csv"
    output = _radar("score", str(path), "--out", str(out), "--model", str(model_dir))
    match = SCORE_LINE.search(output)
    assert match, output
    return _numbers(match), _records(quarantine_path_for(out))


def _jsonl(path: Path, lines: list[str | dict]) -> Path:
    path.write_text("".join((json.dumps(x) if isinstance(x, dict) else x) + "\n"
                            for x in lines), encoding="utf-8")
    return path


# --- 1. a JSONL line nested 100,000 deep --------------------------------------------------

DEEP_ARRAY = "[" * 100_000 + "]" * 100_000
DEEP_OBJECT = '{"a":' * 100_000 + "1" + "}" * 100_000


@pytest.fixture
def deep_jsonl(tmp_path) -> Path:
    return _jsonl(tmp_path / "deep.jsonl", [
        {"id": "g1", "text": "on hold for two hours", "brand": "Acme"},
        DEEP_ARRAY,
        {"id": "g2", "text": "refund still missing", "brand": "Acme"},
        DEEP_OBJECT,
        '{"id": "d3", "text": ' + "[" * 80 + "]" * 80 + "}",  # parses, but deeper than read
        {"id": "g3", "text": "switching to another bank", "brand": "Acme"},
    ])


def test_a_line_nested_100000_deep_is_one_rejected_row_on_import(deep_jsonl, tmp_path):
    counts, posts, rejected = _import(deep_jsonl, tmp_path)
    assert counts == (6, 3, 0, 3, 0)
    assert sorted(posts) == ["g1", "g2", "g3"]
    assert sorted(rejected) == [2, 4, 5]
    assert all("nested deeper than 64 levels" in reason for reason in rejected.values())


def test_a_line_nested_100000_deep_is_one_quarantined_row_when_scored(deep_jsonl, tmp_path):
    counts, scored, held = _score(deep_jsonl, tmp_path)
    assert counts == (6, 3, 3)
    assert [r["id"] for r in scored] == ["g1", "g2", "g3"]
    assert [(q["row"], q["line"]) for q in held] == [(2, 2), (4, 4), (5, 5)]
    assert all("nested deeper than 64 levels" in q["reason"] for q in held)


# --- 2. lone surrogates -------------------------------------------------------------------

@pytest.fixture
def surrogate_jsonl(tmp_path) -> Path:
    return _jsonl(tmp_path / "surrogates.jsonl", [
        {"id": "g1", "text": "on hold for two hours", "brand": "Acme"},
        '{"id": "s1", "text": "late \\ud800 again", "brand": "Acme"}',
        '{"id": "s2", "text": "fine text", "brand": "Ac\\udc00me"}',
        '{"id": "s3", "text": "fine text", "user": {"name": ["x\\udbff"]}}',
        '{"id": "ok", "text": "a real pair \\ud83d\\ude00 is an emoji", "brand": "Acme"}',
        {"id": "g2", "text": "refund still missing", "brand": "Acme"},
        {"id": "nul", "text": "a NUL \u0000 is a character, kept", "brand": "Acme"},
    ])


def test_a_lone_surrogate_is_rejected_on_import_naming_its_column(surrogate_jsonl, tmp_path):
    counts, posts, rejected = _import(surrogate_jsonl, tmp_path)
    assert counts == (7, 4, 0, 3, 0)
    assert sorted(posts) == ["g1", "g2", "nul", "ok"]
    assert posts["ok"].text == "a real pair \U0001F600 is an emoji"
    assert "column 'text' holds a lone surrogate (U+D800)" in rejected[2]
    assert "column 'brand' holds a lone surrogate (U+DC00)" in rejected[3]
    assert "column 'user' holds a lone surrogate (U+DBFF)" in rejected[4]


def test_a_lone_surrogate_is_quarantined_by_radar_score(surrogate_jsonl, tmp_path,
                                                         tiny_model_dir):  # noqa: F811
    counts, held = _score_cli(surrogate_jsonl, tmp_path, tiny_model_dir)
    assert counts == (7, 4, 3)
    assert [q["line"] for q in held] == [2, 3, 4]
    assert "column 'text' holds a lone surrogate (U+D800)" in held[0]["reason"]
    assert held[0]["raw"] == '{"id": "s1", "text": "late \\ud800 again", "brand": "Acme"}'


def test_surrogates_a_codec_makes_are_rejected_in_csv(tmp_path):
    # UTF-7 ("+2AA-" is U+D800) is one of the codecs that decode to lone surrogates.
    path = tmp_path / "utf7.csv"
    path.write_bytes(b"id,text\ng1,late again\ns1,bad +2AA- text\ng2,on hold\n")
    counts, posts, rejected = _import(path, tmp_path, "--encoding", "utf-7")
    assert counts == (3, 2, 0, 1, 0)
    assert sorted(posts) == ["g1", "g2"]
    assert "column 'text' holds a lone surrogate (U+D800)" in rejected[3]


# --- 3. an unbalanced quote in a CSV ------------------------------------------------------

def _quoted_csv(path: Path, rows: int = 1000, stray: dict[int, str] | None = None,
                text_last: bool = False, pad: int = 0) -> Path:
    """``rows`` rows; ``stray`` replaces row i's text (0-based) with hostile text."""
    header = "id,brand,created_at,text" if text_last else "id,brand,text,created_at"
    lines = [header]
    for i in range(rows):
        text = (stray or {}).get(i, f"review {i} " + "x" * pad)
        cells = ([f"r{i}", "Acme", GOOD_TIME, text] if text_last
                 else [f"r{i}", "Acme", text, GOOD_TIME])
        lines.append(",".join(cells))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


QUOTE_CASES = {
    # a quote that opens a field and is never closed: it would run to the end of the file
    "never-closed": dict(stray={9: '"stray quote here'}),
    "never-closed-last-column": dict(stray={9: '"stray quote here'}, text_last=True),
    # closed by row 20's quote, which is followed by more text
    "closed-by-a-later-quote": dict(stray={9: '"stray quote here', 19: 'he said "hi there'}),
    # long rows: the runaway field passes csv.field_size_limit before the end of the file
    "runs-past-the-field-limit": dict(stray={9: '"stray quote here'}, pad=300),
}


@pytest.mark.parametrize("case", sorted(QUOTE_CASES))
def test_an_unbalanced_quote_rejects_its_line_and_imports_every_other_row(case, tmp_path):
    path = _quoted_csv(tmp_path / "quote.csv", **QUOTE_CASES[case])
    counts, posts, rejected = _import(path, tmp_path)
    assert counts == (1000, 999, 0, 1, 0)
    assert "r9" not in posts and len(posts) == 999
    assert posts["r10"].text.startswith("review 10")
    assert list(rejected) == [11]
    assert rejected[11].startswith("row 10 (line 11): unbalanced quote: the quoted field that "
                                   "opens on line 11")


@pytest.mark.parametrize("case", sorted(QUOTE_CASES))
def test_an_unbalanced_quote_quarantines_its_line_and_scores_every_other_row(case, tmp_path):
    path = _quoted_csv(tmp_path / "quote.csv", **QUOTE_CASES[case])
    counts, scored, held = _score(path, tmp_path)
    assert counts == (1000, 999, 1)
    assert [(q["row"], q["line"]) for q in held] == [(10, 11)]
    assert held[0]["reason"].startswith("unbalanced quote: the quoted field that opens on "
                                        "line 11")
    assert len({r["id"] for r in scored}) == 999


def test_radar_score_reports_the_unbalanced_quote_in_its_counts(tmp_path,
                                                                 tiny_model_dir):  # noqa: F811
    path = _quoted_csv(tmp_path / "quote.csv", rows=60, stray={9: '"stray quote here'})
    counts, held = _score_cli(path, tmp_path, tiny_model_dir)
    assert counts == (60, 59, 1)
    assert held[0]["line"] == 11 and "unbalanced quote" in held[0]["reason"]


def test_a_stray_quote_closed_by_a_later_rows_quote_gives_those_rows_back(tmp_path):
    # Line 2's quote runs on to line 4, where row g2's quoted text opens: the record has the
    # right three fields, but lines 3-5 read as rows of their own, and row g2 is clean.
    path = tmp_path / "closed.csv"
    path.write_text('id,text,brand\nm0,w,"Acme\nm1,Acme\ng2,"\n\nbye",Acme\ng3,ok,Acme\n',
                    encoding="utf-8")
    counts, posts, rejected = _import(path, tmp_path)
    assert counts == (4, 2, 0, 2, 0)
    assert posts["g2"].text == "\n\nbye" and posts["g3"].text == "ok"
    assert "unbalanced quote: the quoted field that opens on line 2 runs on to line 4, over " \
           "lines that read as rows of their own" in rejected[2]
    assert "expected 3 fields, found 2" in rejected[3]


def test_quoted_fields_over_several_lines_are_still_one_row(tmp_path):
    path = tmp_path / "multi.csv"
    path.write_text('id,text,brand\n1,"two\nlines, one review",Acme\n2,"say ""hi""\n\nbye",'
                    'Acme\n3,plain,Acme\n4,"trailing line break\n",Acme\n5,"\nleading, too",'
                    'Acme\n', encoding="utf-8")
    counts, posts, _ = _import(path, tmp_path)
    assert counts == (5, 5, 0, 0, 0)
    assert posts["1"].text == "two\nlines, one review"
    assert posts["2"].text == 'say "hi"\n\nbye'


def test_a_header_with_an_unclosed_quote_stops_the_import_naming_line_1(tmp_path):
    path = tmp_path / "header.csv"
    path.write_text('id,"text,brand\n1,late,Acme\n', encoding="utf-8")
    result = runner.invoke(app, ["import", str(path), "--db", str(tmp_path / "h.db")],
                           env={"COLUMNS": "200"})
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert "the header row (line 1) opens a quote that is never closed" in _flat(result.output)


# --- 4. column discovery on a row of 40,000 keys -----------------------------------------

def test_columns_of_rows_with_40000_keys_are_found_in_linear_time(tmp_path):
    path = tmp_path / "wide.jsonl"
    _jsonl(path, [{f"k{i}": i for i in range(40_000)} | {"text": "late", "id": "w1"},
                  {"text": "on hold", "id": "w2", "extra": 1}])
    started = time.perf_counter()
    columns = peek_columns(path)
    reader = DumpReader(path)
    read = list(reader.rows())
    seconds = time.perf_counter() - started
    assert len(columns) == 40_002 and len(read) == 2 and len(reader.columns) == 40_003
    assert seconds < 2.0, f"{seconds:.1f} s: column discovery is not linear"  # was 8-19 s


# --- 5. every reader: malformed rows of every kind, exact counts ---------------------------

CSV_MATRIX = b"".join([
    b"id,brand,created_at,text\n",
    b"g1,Acme," + GOOD_TIME.encode() + b",on hold for two hours\n",               # line 2
    b"n1,Acme," + GOOD_TIME.encode() + b",a NUL \x00 byte is a character\n",        # line 3: kept
    b"b1,Acme," + GOOD_TIME.encode() + b",caf\xe9 card declined\n",                 # 4: bad utf-8
    b"big,Acme," + GOOD_TIME.encode() + b"," + b"x" * 200_000 + b"\n",            # 5: too long
    b"cr,Acme," + GOOD_TIME.encode() + b",a bare\rcarriage return\n",               # 6: bare CR
    b"t1,Acme,9999-12-31T23:00:00-08:00,time past year 9999 in UTC\n",             # 7
    b"t2,Acme," + b"1" * 5000 + b",epoch with 5000 digits\n",                       # 8
    b"t3,Acme,1e999,not a number of seconds\n",                                      # 9
    b"r1,Acme\n",                                                                     # 10: short
    b"g2,Acme," + GOOD_TIME.encode() + b",refund still missing\n",                  # 11
])


def test_csv_malformed_rows_are_each_rejected_on_import(tmp_path):
    path = tmp_path / "matrix.csv"
    path.write_bytes(CSV_MATRIX)
    counts, posts, rejected = _import(path, tmp_path)
    assert counts == (10, 3, 0, 7, 0)
    assert sorted(posts) == ["g1", "g2", "n1"]
    # a NUL is read as a character; the store keeps it as U+FFFD, as PostgreSQL must
    assert posts["n1"].text == "a NUL \ufffd byte is a character"
    assert sorted(rejected) == [4, 5, 6, 7, 8, 9, 10]
    assert "line 4 is not valid utf-8" in rejected[4]
    assert "a field longer than 131,072 characters" in rejected[5]
    assert "a line break inside an unquoted field" in rejected[6]
    assert "out of range" in rejected[7] and "out of range" in rejected[8]
    assert "unparseable time '1e999'" in rejected[9]
    assert "expected 4 fields, found 2" in rejected[10]


def test_csv_malformed_rows_are_each_quarantined_when_scored(tmp_path):
    path = tmp_path / "matrix.csv"
    path.write_bytes(CSV_MATRIX)
    counts, scored, held = _score(path, tmp_path)
    assert counts == (10, 3, 7)
    assert [r["id"] for r in scored] == ["g1", "n1", "g2"]
    assert [q["line"] for q in held] == [4, 5, 6, 7, 8, 9, 10]


JSONL_MATRIX = [
    {"id": "g1", "text": "on hold for two hours", "created_at": GOOD_TIME},
    "[1, 2]",                                                                  # 2: a list
    "42",                                                                      # 3: a number
    '"just a string"',                                                         # 4
    "null",                                                                    # 5
    '{"id": "h", "text": "x", "n": ' + "7" * 5000 + "}",                      # 6: huge int
    '{"id": "d", "text": {"a": 1}}',                                           # 7: text a dict
    '{"id": "t1", "text": "x", "created_at": ' + "9" * 400 + "}",             # 8: epoch
    '{"id": "t2", "text": "x", "created_at": 1e300}',                          # 9
    '{"id": "t3", "text": "x", "created_at": true}',                           # 10
    '{"id": "t4", "text": "x", "created_at": "9999-12-31T23:00:00-08:00"}',    # 11
    '{"id": "nan", "text": NaN}',                                              # 12
    '{"id": "bad", "text": "caf\xe9"}',                                        # 13: bad utf-8
    "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]",  # 14
    {"id": ["a", "list"], "text": "an odd id is still an id", "created_at": None},  # 15
    {"id": "g2", "text": "refund still missing"},                              # 16
]


@pytest.fixture
def jsonl_matrix(tmp_path) -> Path:
    path = tmp_path / "matrix.jsonl"
    _jsonl(path, JSONL_MATRIX)
    raw = path.read_bytes().replace("caf\xe9".encode(), b"caf\xe9")
    path.write_bytes(raw)
    return path


def test_jsonl_malformed_rows_are_each_rejected_on_import(jsonl_matrix, tmp_path):
    counts, posts, rejected = _import(jsonl_matrix, tmp_path)
    assert counts == (16, 3, 0, 13, 0)
    assert sorted(posts) == ["['a', 'list']", "g1", "g2"]
    assert rejected[2] == "row 2 (line 2): expected a JSON object, found list"
    assert rejected[3].endswith("expected a JSON object, found int")
    assert rejected[5].endswith("expected a JSON object, found NoneType")
    assert "invalid JSON" in rejected[6] and "4,300 digits" in rejected[6]
    assert "text column 'text' holds a dict, not text" in rejected[7]
    assert all("out of range" in rejected[n] for n in (8, 9, 11))
    assert "is a bool, not a time" in rejected[10]
    assert "text column 'text' holds a float" in rejected[12]
    assert "line 13 is not valid utf-8" in rejected[13]
    assert "invalid JSON" in rejected[14]


def test_jsonl_malformed_rows_are_each_quarantined_when_scored(jsonl_matrix, tmp_path):
    counts, scored, held = _score(jsonl_matrix, tmp_path)
    assert counts == (16, 3, 13)
    assert [q["line"] for q in held] == list(range(2, 15))


@pytest.fixture
def parquet_matrix(tmp_path) -> Path:
    """Five rows: good, text not valid UTF-8, a time Python cannot hold, no text, good."""
    texts = [b"on hold for two hours", b"caf\xe9 card declined", b"ok", b"", b"refund late"]
    offsets, data = [0], b""
    for text in texts:
        data += text
        offsets.append(len(data))
    text = pa.StringArray.from_buffers(len(texts), pa.array(offsets, pa.int32()).buffers()[1],
                                       pa.py_buffer(data), pa.py_buffer(bytes([0b11110111])))
    path = tmp_path / "matrix.parquet"
    pq.write_table(pa.table({
        "id": ["g1", "u1", "t1", "n1", "g2"], "text": text,
        "created_at": pa.array([0, 0, 10**15, 0, 0], pa.timestamp("s")),
    }), path)
    return path


def test_parquet_values_python_cannot_read_are_rejected_on_import(parquet_matrix, tmp_path):
    counts, posts, rejected = _import(parquet_matrix, tmp_path)
    assert counts == (5, 2, 0, 3, 0)
    assert sorted(posts) == ["g1", "g2"]
    assert "column 'text' is not valid UTF-8" in rejected[2]
    assert "column 'created_at' holds a value Python cannot hold" in rejected[3]
    assert "no value in text column 'text'" in rejected[4]


def test_parquet_values_python_cannot_read_are_quarantined_when_scored(parquet_matrix,
                                                                        tmp_path):
    counts, scored, held = _score(parquet_matrix, tmp_path)
    assert counts == (5, 2, 3)
    assert [q["row"] for q in held] == [2, 3, 4]
    assert "'id': 'u1'" in str(held[0]["raw"])  # the values it could read


def test_twcs_rows_with_ids_and_times_out_of_range_are_rejected_or_kept(tmp_path):
    tweet = "Tue Oct 31 22:10:47 +0000 2017"
    path = tmp_path / "twcs.csv"
    path.write_bytes("\n".join([
        "tweet_id,author_id,inbound,created_at,text,response_tweet_id,in_response_to_tweet_id",
        f"1,c1,True,{tweet},@AcmeHelp late again,2,",
        f"2,AcmeHelp,False,{tweet},@c1 sorry,,1",
        f"99999999999999999999999,c2,True,{tweet},@AcmeHelp an id past int64,,1",
        f"3,c3,True,{tweet},@AcmeHelp replying to 1.5e400,,1.5e400",
        "4,c4,True,9999-12-31T23:00:00-08:00,@AcmeHelp time past 9999,,",
        f"5,c5,maybe,{tweet},@AcmeHelp unsure,,",
        f"6,c6,True,{tweet},  ,,",
        "",
    ]).encode() + f"7,c7,True,{tweet},caf\xe9,,\n".encode("latin-1"))
    counts, posts, rejected = _import(path, tmp_path)
    assert counts == (8, 3, 0, 4, 1)
    assert sorted(posts) == ["1", "3", "99999999999999999999999"]
    assert {p.brand for p in posts.values()} == {"AcmeHelp"}
    assert "out of range" in rejected[6]
    assert "inbound is 'maybe'" in rejected[7]
    assert "empty text" in rejected[8]
    assert "not valid utf-8" in rejected[9]


def test_airline_times_out_of_range_are_rejected(tmp_path):
    path = tmp_path / "Tweets.csv"
    path.write_text("\n".join([
        "tweet_id,airline_sentiment,airline,name,text,tweet_created",
        "1,negative,United,u1,@united lost my bag,24-02-2015 11:35",
        "2,negative,United,u2,@united far future,31-12-9999 23:00",
        "3,negative,United,u3,@united far future too,9999-12-31 23:00:00 -0800",
        "4,negative,United,u4,@united never,yesterday",
        "5,negative,United,u5,@united late again,2015-02-24 11:35:52 -0800",
    ]) + "\n", encoding="utf-8")
    counts, posts, rejected = _import(path, tmp_path, "--format", "airline-2015")
    assert counts == (5, 2, 0, 3, 0)
    assert sorted(posts) == ["1", "5"]
    assert "out of range" in rejected[3] and "out of range" in rejected[4]
    assert "is neither DD-MM-YYYY HH:MM" in rejected[5]


def test_snscrape_records_of_odd_shapes_are_rejected(tmp_path):
    tweet = "snscrape.modules.twitter.Tweet"
    telegram = "snscrape.modules.telegram.TelegramPost"
    path = _jsonl(tmp_path / "archive.jsonl", [
        {"_type": tweet, "id": 1, "rawContent": "@Acme late again", "date": GOOD_TIME},
        {"_type": telegram, "url": "http://[::1", "content": "x"},
        {"_type": telegram, "url": "https://t.me/s/flycomplaints/5", "content": "late",
         "date": "9999-12-31T23:00:00-08:00"},
        '{"_type": "' + tweet + '", "id": 2, "rawContent": "bad \\ud800"}',
        '{"_type": "' + tweet + '", "id": 3, "rawContent": "x", "user": ' + "[" * 70
        + "]" * 70 + "}",
        {"_type": tweet, "id": 4, "rawContent": "@Acme user is a list", "user": [1, 2]},
        "[1, 2]",
    ])
    counts, posts, rejected = _import(path, tmp_path)
    assert counts == (7, 2, 0, 5, 0)
    assert sorted(posts) == ["1", "4"]
    assert "is not https://t.me/s/<channel>/<number>" in rejected[2]
    assert "out of range" in rejected[3]
    assert "column 'rawContent' holds a lone surrogate (U+D800)" in rejected[4]
    assert "nested deeper than 64 levels" in rejected[5]
    assert "expected a JSON object" in rejected[7]


def test_complaints_rows_with_a_stray_quote_are_rejected_one_by_one(tmp_path):
    path = tmp_path / "complaints.csv"
    path.write_text("1,late again,1,airline\n2,\"stray quote,1,airline\n3,fine,0,telecom\n"
                    "4,ragged,0\n5,refund missing,1,retail\n", encoding="utf-8")
    counts, posts, rejected = _import(path, tmp_path, "--format", "complaints-2019")
    assert counts == (5, 3, 0, 2, 0)
    assert sorted(posts) == ["1", "3", "5"]
    assert "unbalanced quote" in rejected[2]
    assert "expected 4 fields, found 3" in rejected[4]


def test_json_written_to_the_store_and_parts_holds_any_string():
    """The last guard behind the readers: a lone surrogate that reaches a JSON writer (a
    collector's raw payload, a quarantined row) is escaped, and reads back exactly."""
    from nlp.text import to_json

    value = {"text": "late \ud800 again", "when": datetime(2024, 1, 1, tzinfo=UTC), "ok": "é😀"}
    text = to_json(value)
    text.encode("utf-8")  # what SQLite and the part files need
    assert json.loads(text) == {**value, "when": "2024-01-01 00:00:00+00:00"}
    assert to_json({"ok": "é😀"}) == '{"ok": "é😀"}'  # readable characters stay as they are
