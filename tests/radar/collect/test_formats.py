"""Known exports as users have them: found without --format, hinted at when another is forced.

The twcs file is built as Kaggle's "Customer Support on Twitter" ``twcs.csv`` looks after a
round trip through pandas (the way a sample of it is usually made): a leading unnamed index
column, Twitter's ``Tue Oct 31 22:10:47 +0000 2017`` times, ``True``/``False`` inbound
flags, float reply ids (``3.0``) and quoted comma lists in ``response_tweet_id``.
"""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from nlp.batch import score_dump
from nlp.dumps import ColumnMap, DumpError
from radar.collect.files import TWCS_COLUMNS, guess_format, import_file, looks_like
from radar.store import open_store
from tests.nlp.test_batch import FakeClassifier

BRANDS = ("AppleSupport", "AmazonHelp", "SpotifyCares")
SNSCRAPE_ARCHIVE = Path(__file__).parent / "fixtures" / "snscrape" / "archive.jsonl"


@pytest.fixture
def store(tmp_path):
    with open_store(tmp_path / "radar.db") as opened:
        yield opened


def write_kaggle_twcs(path: Path, customers: int = 30, columns=TWCS_COLUMNS) -> dict[str, str]:
    """A twcs.csv sample as pandas writes it; returns each customer tweet's brand by id."""
    import pandas as pd

    start = datetime(2017, 10, 31, 22, 10, 47, tzinfo=UTC)
    rows, brand_of = [], {}
    for n in range(customers):
        brand, customer = BRANDS[n % len(BRANDS)], str(115712 + n)
        first, reply, follow_up = 1000 + 3 * n, 1001 + 3 * n, 1002 + 3 * n
        at = start + timedelta(minutes=n)
        rows += [
            (first, customer, True, at, f"@{brand} my order, again, is late #{n}",
             f"{reply}", None),
            (reply, brand, False, at + timedelta(minutes=2), f"@{customer} Sorry! DM us.",
             f"{follow_up},{follow_up + 100000}", first),
            (follow_up, customer, True, at + timedelta(minutes=5), "done, still waiting",
             None, reply),
        ]
        brand_of |= {str(first): brand, str(follow_up): brand}
    frame = pd.DataFrame(rows, columns=TWCS_COLUMNS)
    frame["created_at"] = frame["created_at"].map(lambda t: t.strftime(
        "%a %b %d %H:%M:%S %z %Y"))
    # A sample keeps the original row numbers as the index: not 0..n, and not the tweet id.
    frame.sample(frac=1, random_state=3)[list(columns)].to_csv(path)
    return brand_of


def test_a_kaggle_twcs_sample_is_found_and_imported_without_a_format(tmp_path, store):
    path = tmp_path / "twcs_sample.csv"
    brand_of = write_kaggle_twcs(path)
    assert path.read_text().startswith(",tweet_id,author_id,inbound,created_at,text,")
    assert guess_format(path) == "twcs"
    result = import_file(path, store)
    assert (result.format, result.rows_in, result.posts_new, result.skipped,
            result.rejected, result.no_brand, result.hint) == ("twcs", 90, 60, 30, 0, 0, "")
    posts = {p.post_id: p for p in store.iter_posts()}
    assert {k: p.brand for k, p in posts.items()} == brand_of
    assert posts["1000"].created_at == datetime(2017, 10, 31, 22, 10, 47, tzinfo=UTC)
    assert posts["1002"].parent_id == "1001"


def test_twcs_columns_in_another_order_are_still_twcs(tmp_path, store):
    path = tmp_path / "t.csv"
    write_kaggle_twcs(path, customers=3, columns=tuple(reversed(TWCS_COLUMNS)))
    assert guess_format(path) == "twcs"
    assert import_file(path, store).posts_new == 6


def test_radar_score_reads_a_twcs_sample_with_no_options(tmp_path):
    path = tmp_path / "twcs_sample.csv"
    write_kaggle_twcs(path)
    out = tmp_path / "scored.jsonl"
    result = score_dump(path, out, FakeClassifier(), chunk_size=16)
    assert (result.rows_in, result.rows_scored, result.rows_quarantined) == (90, 90, 0)
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert sorted(int(r["id"]) for r in records) == list(range(1000, 1090))  # tweet_id
    assert all(r["created_at"].startswith("2017-10-31T2") for r in records)
    first = next(r for r in records if r["id"] == "1000")
    assert first["created_at"] == "2017-10-31T22:10:47Z" and first["author_id"] == "115712"


def test_a_forced_format_that_does_not_fit_hints_at_the_one_that_does(tmp_path, store):
    path = tmp_path / "twcs_sample.csv"
    write_kaggle_twcs(path, customers=2)
    hint = "this looks like a twcs export; try --format twcs"
    with pytest.raises(DumpError, match=f"not an airline-2015 export: .*; {hint}$"):
        import_file(path, store, fmt="airline-2015")
    wrong = import_file(path, store, fmt="complaints-2019")
    assert (wrong.rows_in, wrong.rejected, wrong.hint) == (7, 7, hint)  # header row too
    generic = import_file(path, store, fmt="csv")
    assert (generic.posts_new, generic.hint) == (6, hint)  # brand replies kept, no brands
    assert import_file(path, store, fmt="twcs").hint == ""


def test_a_dump_that_is_no_known_export_gets_no_hint(tmp_path, store):
    path = tmp_path / "reviews.csv"
    path.write_text("id,text\n1,late\n")
    assert looks_like(path) is None and guess_format(path) == "csv"
    assert import_file(path, store, fmt="csv").hint == ""


def test_airline_columns_in_any_order_after_an_index_column(tmp_path):
    path = tmp_path / "tweets.csv"
    path.write_text(",text,airline,tweet_created,airline_sentiment,name,tweet_id\n"
                    "0,@united late again,United,2015-02-24 11:35:52 -0800,negative,ann,5\n")
    assert guess_format(path) == "airline-2015"


def test_snscrape_jsonl_is_found_without_a_format(tmp_path, store):
    path = tmp_path / "archive.jsonl"
    shutil.copy(SNSCRAPE_ARCHIVE, path)
    assert guess_format(path) == "snscrape"
    found = import_file(path, store)
    assert found.format == "snscrape" and found.posts_new > 0
    other = tmp_path / "reviews.jsonl"
    other.write_text('{"_type": "review", "text": "late"}\n')
    assert guess_format(other) == "jsonl"
    with pytest.raises(DumpError, match="no text column.*; this looks like snscrape --jsonl "
                                        "output; try --format snscrape$"):
        import_file(path, store, fmt="jsonl")


def test_a_semicolon_dump_imports_without_options(tmp_path, store):
    path = tmp_path / "reviews.csv"
    path.write_text("id;text;brand\n1;late, again;Acme\n2;\"rude; very\";Bolt\n")
    result = import_file(path, store)
    assert (result.posts_new, result.rejected) == (2, 0)
    assert {p.post_id: (p.text, p.brand) for p in store.iter_posts()} == {
        "1": ("late, again", "Acme"), "2": ("rude; very", "Bolt")}
    with pytest.raises(DumpError, match=r"columns are \['id;text;brand'\]\); if the header "
                                        "is split by another delimiter, give it with "
                                        "--delimiter$"):
        import_file(path, store, columns=ColumnMap(delimiter=","))


# --- the commands, as a newcomer runs them ------------------------------------------------


def test_radar_import_finds_twcs_and_warns_when_another_format_is_forced(tmp_path):
    from typer.testing import CliRunner

    from radar.cli import app

    path, db = tmp_path / "twcs_sample.csv", tmp_path / "radar.db"
    brand_of = write_kaggle_twcs(path, customers=6)
    result = CliRunner().invoke(app, ["import", str(path), "--db", str(db)])
    assert result.exit_code == 0, result.output
    assert "(twcs): rows in 18 = new 12" in " ".join(result.output.split())
    with open_store(db) as stored:
        assert {p.post_id: p.brand for p in stored.iter_posts()} == brand_of
    forced = CliRunner().invoke(app, ["import", str(path), "--db", str(tmp_path / "b.db"),
                                      "--format", "csv"])
    assert forced.exit_code == 0, forced.output
    assert "this looks like a twcs export; try --format twcs" in " ".join(forced.output.split())


def test_a_delimiter_option_overrides_the_sniffing_and_a_bad_one_is_refused(tmp_path):
    from typer.testing import CliRunner

    from radar.cli import app

    path = tmp_path / "pipes.csv"
    path.write_text("id|text|brand\n1|late again; nobody calls back|Acme\n", encoding="utf-8")
    db = tmp_path / "radar.db"
    ok = CliRunner().invoke(app, ["import", str(path), "--db", str(db), "--delimiter", "|"])
    assert ok.exit_code == 0, ok.output
    with open_store(db) as stored:
        assert [(p.post_id, p.text, p.brand) for p in stored.iter_posts()] == [
            ("1", "late again; nobody calls back", "Acme")]
    bad = CliRunner().invoke(app, ["import", str(path), "--db", str(db), "--delimiter", ";;"])
    assert bad.exit_code == 1
    assert "delimiter ';;'" in bad.output and "Traceback" not in bad.output
