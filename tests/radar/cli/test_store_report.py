"""One path from the store to the report: `radar import`, `radar score --db`, `radar report --db`.

The newcomer's path on a Kaggle "Customer Support on Twitter" sample: the importer gives each
customer tweet its thread's brand (AppleSupport, AmazonHelp, SpotifyCares: none of them in
the brand book), the scoring step scores what is stored, and the report counts every brand
from the data, with nothing under "no brand".
"""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from radar.cli import app
from radar.store import open_store
from tests.radar.collect.test_formats import BRANDS, write_kaggle_twcs

REPO = Path(__file__).resolve().parents[3]
BOOK = REPO / "data" / "brands.yaml"  # airlines only: the twcs brands are not in it

runner = CliRunner()


def _flat(output: str) -> str:
    """Output with line wrapping undone, so assertions do not depend on terminal width."""
    return " ".join(output.split())


def _radar(*args: str):
    return runner.invoke(app, list(args), env={"COLUMNS": "200"})


def _ok(*args: str) -> str:
    result = _radar(*args)
    assert result.exit_code == 0, result.output
    return result.output


def _fails(*args: str) -> str:
    result = _radar(*args)
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    return _flat(result.output)


@pytest.fixture
def model_dir(tiny_trained) -> str:
    return str(tiny_trained["result"].model_dir)


@pytest.fixture
def twcs_db(tmp_path, model_dir) -> Path:
    """A store holding the twcs sample (30 customers, 60 customer tweets), scored."""
    path, db = tmp_path / "twcs_sample.csv", tmp_path / "radar.db"
    write_kaggle_twcs(path, customers=30)
    _ok("import", str(path), "--db", str(db))
    return db


def _score(db: Path, model_dir: str, *args: str) -> str:
    return _flat(_ok("score", "--db", str(db), "--model", model_dir, *args))


def _report(db: Path, *args: str) -> str:
    return _flat(_ok("report", "--db", str(db), "--brands", str(BOOK), *args))


def _table_row(output: str, brand: str) -> list[str]:
    """The cells of the risk table's row of ``brand`` (split on whitespace)."""
    rows = [line.split() for line in output.splitlines() if line.split()[:1] == [brand]]
    assert len(rows) == 1, (brand, output)
    return rows[0][1:]


# --- the newcomer's path -----------------------------------------------------------------------


def test_import_score_and_report_every_brand_of_a_twcs_export(twcs_db, model_dir, tmp_path):
    scored = _score(twcs_db, model_dir)
    assert "posts scored 60 (already scored 0)" in scored
    assert "per-brand summary of the 60 posts scored by model" in scored
    for brand in BRANDS:
        assert re.search(rf"{brand}\W+20\W", scored)  # the summary table: 20 posts a brand
    assert "(no brand)" not in scored

    out_json = tmp_path / "risk.json"
    result = _radar("report", "--db", str(twcs_db), "--brands", str(BOOK), "--window", "all",
                    "--json", str(out_json))
    assert result.exit_code == 0, result.output
    output = _flat(result.output)
    assert ("rows 60 = counted 60 + brand accounts 0 + news/bots 0 + duplicates 0 + outside "
            "the windows (undated) 0 + no brand 0 + unreadable 0") in output
    assert ("brands: AppleSupport 20, AmazonHelp 20, SpotifyCares 20 from the data (not in "
            "the brand book)") in output
    assert "no brand:" not in output and "not in the brand book]" not in output
    records = json.loads(out_json.read_text(encoding="utf-8"))["windows"]
    assert sorted(r["brand"] for r in records) == sorted(BRANDS)
    for record in records:
        assert (record["customers"], record["posts"], record["latest"]) == (10, 20, True)
        row = _table_row(result.output, record["brand"])
        assert row[:2] == [f"{record['customers']:,}", f"{record['at_risk_share']:.1%}"]
        assert row[3] == f"{record['expected_at_risk']:,.0f}"
    version = records[0]["score_version"]
    assert version == "risk.v1"


def test_a_second_score_scores_nothing_new(twcs_db, model_dir):
    _score(twcs_db, model_dir)
    again = _score(twcs_db, model_dir)
    assert "posts scored 0 (already scored 60)" in again
    assert "per-brand summary of the 60 posts" in again
    with open_store(twcs_db) as store:
        [(_, posts)] = store.model_versions()
    assert posts == 60  # one prediction per post, not two


def test_the_report_names_the_model_version_it_read(twcs_db, model_dir):
    _score(twcs_db, model_dir)
    with open_store(twcs_db) as store:
        [(version, _)] = store.model_versions()
    output = _report(twcs_db, "--window", "all")
    assert f"store {twcs_db}: posts scored by model {version}" in output
    assert f"(model {version})" in output
    assert _report(twcs_db, "--window", "all", "--model-version", version) == output
    assert "no predictions of model version 'v0'" in _fails(
        "report", "--db", str(twcs_db), "--model-version", "v0")


def test_the_default_window_is_the_file_paths(twcs_db, model_dir, tmp_path):
    _score(twcs_db, model_dir)
    out_json = tmp_path / "risk.json"
    _report(twcs_db, "--json", str(out_json))  # --window 7d: one window, ending at midnight
    records = json.loads(out_json.read_text(encoding="utf-8"))["windows"]
    assert {(r["window_start"], r["window_end"]) for r in records} == {
        ("2017-10-25T00:00:00Z", "2017-11-01T00:00:00Z")}


# --- filters -----------------------------------------------------------------------------------


def test_brand_reads_only_that_brands_posts_and_lists_its_customers(twcs_db, model_dir,
                                                                    tmp_path):
    _score(twcs_db, model_dir, "--brand", "AmazonHelp")
    with open_store(twcs_db) as store:
        [(version, posts)] = store.model_versions()
        assert posts == 20  # --brand scored only AmazonHelp's posts
    out_json = tmp_path / "risk.json"
    output = _report(twcs_db, "--window", "all", "--brand", "AmazonHelp", "--min-risk", "0",
                     "--json", str(out_json))
    assert [r["brand"] for r in json.loads(out_json.read_text())["windows"]] == ["AmazonHelp"]
    assert "rows 20 = counted 20" in output
    assert "AmazonHelp: customers at risk >= 0%" in output and "10 customers" in output
    assert "no posts of brand 'Amazon'; its brands: AmazonHelp, AppleSupport, SpotifyCares" in \
        _fails("report", "--db", str(twcs_db), "--brand", "Amazon")


def test_since_and_until_bound_the_posts_read(twcs_db, model_dir, tmp_path):
    _score(twcs_db, model_dir)
    out_json = tmp_path / "risk.json"
    # First tweets at 22:10:47 + n minutes, follow-ups 5 minutes later: n = 10..19 and 5..14.
    output = _report(twcs_db, "--window", "all", "--since", "2017-10-31T22:20:00Z",
                     "--until", "2017-10-31T22:30:00", "--json", str(out_json))
    assert "rows 20 = counted 20" in output
    assert sum(r["customers"] for r in json.loads(out_json.read_text())["windows"]) == 15
    assert "nothing to report on: no rows" in _fails(
        "report", "--db", str(twcs_db), "--since", "2018-01-01")
    assert "--until 'soon': expected an ISO 8601 date" in _fails(
        "report", "--db", str(twcs_db), "--until", "soon")


# --- one brand resolution for files and stores -------------------------------------------------


# id, brand, author, text: a brand the book does not know, one it knows by another name, and
# a post without a brand that mentions a handle the book knows.
ROWS = [("1", "Ryanair", "ann", "@Ryanair fees again, I am done"),
        ("2", "Ryanair", "bo", "@Ryanair lovely crew"),
        ("3", "united airlines", "cy", "lost my bag"),
        ("4", "", "di", "@DeltaAssist rude agent at the desk"),
        ("5", "", "ed", "what a lovely day")]


def test_a_store_and_its_scored_file_give_the_same_report(tmp_path, model_dir):
    dump, db = tmp_path / "reviews.csv", tmp_path / "radar.db"
    with dump.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["id", "brand", "author_id", "created_at", "text"])
        writer.writerows((i, b, a, f"2024-05-0{i}T10:00:00Z", t) for i, b, a, t in ROWS)
    _ok("import", str(dump), "--db", str(db))
    _score(db, model_dir)
    _ok("score", str(dump), "--out", str(tmp_path / "scored.csv"), "--model", model_dir)
    from_store = _report(db, "--json", str(tmp_path / "store.json"))
    from_file = _flat(_ok("report", str(tmp_path / "scored.csv"), "--brands", str(BOOK),
                          "--json", str(tmp_path / "file.json")))
    brands = ("brands: Ryanair 2 from the data (not in the brand book); United 1 from the "
              "data, named in the brand book; Delta 1 from mentions of a brand-book handle or "
              "alias; no brand: 1 have no brand value and mention no brand the book knows")
    assert brands in from_store and brands in from_file
    assert "rows 5 = counted 4" in from_store and "rows 5 = counted 4" in from_file
    assert json.loads((tmp_path / "store.json").read_text()) == \
        json.loads((tmp_path / "file.json").read_text())
    assert "import the dump into a store" in from_file  # the way to brands from the data
    assert "import the dump into a store" not in from_store


# --- inputs that cannot be reported on ---------------------------------------------------------


@pytest.mark.parametrize("command", ["score", "report"])
def test_exactly_one_of_a_file_and_db(tmp_path, command):
    neither = _fails(command)
    assert "--db PATH (a post store such as data/radar.db), not neither" in neither
    both = _fails(command, str(tmp_path / "x.csv"), "--db", str(tmp_path / "radar.db"))
    assert "not both" in both
    assert not (tmp_path / "radar.db").exists()


def test_options_that_do_not_apply_are_named(tmp_path):
    db = str(tmp_path / "radar.db")
    assert "--out, --text-col apply to a DUMP" in _fails(
        "score", "--db", db, "--out", "x.csv", "--text-col", "body")
    assert "--out is required with a DUMP" in _fails("score", str(tmp_path / "x.csv"))
    assert "--brand applies to --db" in _fails(
        "score", "x.csv", "--out", "y.csv", "--brand", "United")
    assert "--since applies to --db" in _fails("report", "x.csv", "--since", "7d")


def test_an_empty_or_missing_store_says_so(tmp_path, model_dir):
    missing = tmp_path / "absent.db"
    assert "absent.db; put posts in one first" in _fails("report", "--db", str(missing))
    assert not missing.exists()  # a report never creates a store
    empty = tmp_path / "empty.db"
    open_store(empty).close()
    for args in (("report", "--db", str(empty)),
                 ("score", "--db", str(empty), "--model", model_dir)):
        assert "the store holds no posts yet" in _fails(*args)


def test_a_store_nothing_has_scored_says_how_to_score_it(twcs_db):
    message = _fails("report", "--db", str(twcs_db))
    assert "none of its 60 posts is scored yet" in message
    assert f"radar score --db {twcs_db}" in message


def test_a_dump_given_as_db_is_told_apart(tmp_path):
    dump = tmp_path / "reviews.csv"
    dump.write_text("id,text\n1,hello\n", encoding="utf-8")
    message = _fails("report", "--db", str(dump))
    assert "not a complaint-radar store" in message
    assert f"score it with `radar score {dump} --out FILE`" in message
