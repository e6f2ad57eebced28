"""Property tests of the dump readers (issue 18): good rows mixed with malformed ones, in any
order, through ``radar import``'s :func:`~radar.collect.files.import_file` and ``radar score``'s
:func:`~nlp.batch.score_dump`. No row is ever lost: rows in = the rows written, every
malformed row is rejected (quarantined), and every good row is stored (scored) with its text.
"""

from __future__ import annotations

import csv
import io
import json
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nlp.batch import score_dump
from radar.collect.files import import_file
from radar.store import open_store
from tests.nlp.test_batch import FakeClassifier

SETTINGS = settings(max_examples=100, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
# Review text as people write it: quotes, commas, line breaks and emoji included; no lone
# surrogates (a UTF-8 file cannot hold them).
TEXT = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=40).filter(
    lambda t: t.strip() != "")
WORD = st.text("abcdefghij ", min_size=1, max_size=12)
# A CSV text that ends in a comma, a quote or a line break, followed by one that starts with
# one, can make a real multi-line field and a stray quote read the same (both parses are
# valid CSV); the reader then takes it for a stray quote, rejecting the line visibly (see
# nlp.csv_rows._rows_inside). Texts here may start with any of them, not end with one.
CSV_TEXT = TEXT.filter(lambda t: t[-1] not in ',"\r\n')


def _check(path: Path, good: dict[str, str], bad: int) -> None:
    """Import and score ``path``: exact counts, and every good row present with its text."""
    with tempfile.TemporaryDirectory() as folder:
        with open_store(Path(folder) / "radar.db") as store:
            result = import_file(path, store, chunk_size=5)
            assert (result.rows_in, result.posts_new, result.rejected) == (
                len(good) + bad, len(good), bad), result.first_rejects
            # the store keeps NUL as U+FFFD (PostgreSQL text cannot hold it); scored files
            # keep every character
            stored = {k.replace("\x00", "\ufffd"): v.replace("\x00", "\ufffd")
                      for k, v in good.items()}
            assert {p.post_id: p.text for p in store.iter_posts()} == stored
        out = Path(folder) / "scored.jsonl"
        scored = score_dump(path, out, FakeClassifier(), chunk_size=4)
        assert (scored.rows_in, scored.rows_scored, scored.rows_quarantined) == (
            len(good) + bad, len(good), bad)
        text = out.read_text(encoding="utf-8")  # not splitlines: texts may hold U+2028
        records = [json.loads(line) for line in text.split("\n") if line]
        assert {r["id"]: r["text"] for r in records} == good


# --- CSV ------------------------------------------------------------------------------------

def _csv_line(cells: list[str]) -> bytes:
    """One row as csv.writer writes it: with \r\n line ends, which also quotes a field that
    holds a bare \r (with \n line ends, Python 3.11 leaves it unquoted: a broken file)."""
    buffer = io.StringIO()
    csv.writer(buffer).writerow(cells)
    return buffer.getvalue().encode("utf-8")


# One physical line each (no line break in them), every one a row the reader must reject.
BAD_CSV = st.one_of(
    WORD.map(lambda w: f'"stray {w},Acme'),                 # a quote opened and never closed
    WORD.map(lambda w: f'{w},"Acme'),                       # ... in the last column
    WORD.map(lambda w: f"{w},Acme,extra"),                  # too many fields
    st.just("Acme"),                                        # too few
    WORD.map(lambda w: f"caf\xe9 {w},Acme"),                # not UTF-8 (written as Latin-1)
    WORD.map(lambda w: f"a bare\r{w},Acme"),                # a carriage return in a field
    st.just("   ,Acme"),                                    # empty text
    st.just("x" * 140_000 + ",Acme"),                       # over csv.field_size_limit
)


def _bad_csv_line(number: int, rest: str) -> bytes:
    encoding = "latin-1" if "\xe9" in rest else "utf-8"
    return f"m{number},{rest}\n".encode(encoding)


@SETTINGS
@given(st.lists(st.one_of(CSV_TEXT.map(lambda t: ("good", t)),
                          BAD_CSV.map(lambda b: ("bad", b))), max_size=14))
def test_csv_rows_are_never_lost(rows):
    good, bad, lines = {}, 0, [b"id,text,brand\n"]
    for number, (kind, value) in enumerate(rows):
        if kind == "good":
            good[f"g{number}"] = value
            lines.append(_csv_line([f"g{number}", value, "Acme"]))
        else:
            bad += 1
            lines.append(_bad_csv_line(number, value))
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "dump.csv"
        path.write_bytes(b"".join(lines))
        _check(path, good, bad)


# --- JSONL ----------------------------------------------------------------------------------

def _is_object(line: str) -> bool:
    try:
        value = json.loads(line)
    except (ValueError, RecursionError):
        return False
    return isinstance(value, dict)


DEPTH = st.integers(65, 3000)
BAD_JSONL = st.one_of(
    DEPTH.map(lambda n: "[" * n + "]" * n),                                   # nested deep
    DEPTH.map(lambda n: '{"text": "x", "a": ' + '{"b": ' * n + "1" + "}" * (n + 1)),
    st.sampled_from(["\\ud800", "\\udfff", "\\udbff x"]).map(
        lambda s: '{"text": "lone ' + s + '"}'),                                # lone surrogate
    st.sampled_from(["[1, 2]", "42", '"text"', "null", "true", "1e999"]),   # not an object
    st.integers(4301, 6000).map(lambda n: '{"text": "x", "n": ' + "7" * n + "}"),
    WORD.map(lambda w: '{"text": "' + w),                                     # cut short
    WORD.map(lambda w: '{"body": "' + w + '"}'),                              # no text
    st.sampled_from(['{"text": 3}', '{"text": null}', '{"text": ["a"]}', '{"text": "  "}']),
    st.sampled_from(["9999-12-31T23:00:00-08:00", "yesterday"]).map(
        lambda t: '{"text": "late", "created_at": "' + t + '"}'),             # bad times
    st.integers(10**20, 10**400).map(lambda n: '{"text": "late", "created_at": ' + str(n) + "}"),
    st.just('{"text": "caf\xe9"}'),                                           # not UTF-8
    st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\n"),
            min_size=1, max_size=30).filter(lambda s: s.strip() != ""
                                            and not _is_object(s)),
)


@SETTINGS
@given(st.lists(st.one_of(TEXT.map(lambda t: ("good", t)), BAD_JSONL.map(lambda b: ("bad", b))),
                max_size=14), st.booleans())
def test_jsonl_rows_are_never_lost(rows, ascii_only):
    # The columns a mapping is checked against are the first object's keys: a first object
    # without a text column stops the import with that error (tests/radar/collect).
    good, bad = {"first": "a first good row"}, 0
    lines = [b'{"id": "first", "text": "a first good row", "created_at": null}\n']
    for number, (kind, value) in enumerate(rows):
        if kind == "good":
            good[f"g{number}"] = value
            record = {"id": f"g{number}", "text": value}
            lines.append(json.dumps(record, ensure_ascii=ascii_only).encode("utf-8") + b"\n")
        else:
            bad += 1
            encoding = "latin-1" if value == '{"text": "caf\xe9"}' else "utf-8"
            lines.append(value.encode(encoding) + b"\n")
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "dump.jsonl"
        path.write_bytes(b"".join(lines))
        _check(path, good, bad)
