"""`radar report` end to end on a small scored file and a brand book of its own."""

import csv
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from nlp.classifier.contract import BATCH_COLUMNS
from radar.cli import app

runner = CliRunner()

BOOK_YAML = """\
brands:
  United: {handles: [united], aliases: [United Airlines]}
  Delta: {handles: [Delta]}
  Virgin America: {handles: [VirginAmerica]}
"""
# id, brand, author, day of March 2015, p_complaint, p_churn_intent, text
POSTS = [
    ("p1", "United", "alice", "02", 0.9, 0.8, "@united lost my bag"),
    ("p2", "United", "alice", "10", 0.95, 0.9, "@united still no refund, I am switching"),
    ("p3", "United", "bob", "11", 0.1, 0.0, "@united smooth flight"),
    ("p4", "Delta", "dave", "04", 0.3, 0.0, "@Delta ok flight"),
    ("p5", "Delta", "erin", "12", 0.8, 0.6, "@Delta rude agent, never again"),
    ("p6", "", "frank", "12", 0.85, 0.0, "@VirginAmerica the wifi failed"),
    ("p7", "United", "united", "10", 0.0, 0.0, "@alice sorry to hear that"),  # brand account
    ("p8", "Delta", "AirlineNews", "11", 0.6, 0.0, "Delta cancels 200 flights"),  # news
    ("p2", "United", "alice", "10", 0.95, 0.9, "@united still no refund, I am switching"),
    ("p10", "Delta", "gina", "12", "abc", 0.0, "@Delta meh"),  # unreadable
    ("p11", "", "hank", "12", 0.1, 0.0, "lovely weather today"),  # no brand
]
BRANDS = ("United", "Delta", "Virgin America")


def _flat(output: str) -> str:
    """Output with line wrapping undone, so assertions do not depend on terminal width."""
    return " ".join(output.split())


@pytest.fixture
def files(tmp_path) -> dict[str, Path]:
    """A scored CSV in the batch contract's columns and the brand book for it."""
    scored = tmp_path / "scored.csv"
    with scored.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=BATCH_COLUMNS, restval="")
        writer.writeheader()
        for post_id, brand, author, day, complaint, churn, text in POSTS:
            writer.writerow({"id": post_id, "brand": brand, "author_id": author,
                             "created_at": f"2015-03-{day}T12:00:00Z", "p_complaint": complaint,
                             "p_positive": 0.1, "p_churn_intent": churn, "text": text,
                             "model_version": "fake-1"})
    book = tmp_path / "brands.yaml"
    book.write_text(BOOK_YAML, encoding="utf-8")
    return {"scored": scored, "brands": book, "dir": tmp_path}


def _report(files, *args: str):
    return runner.invoke(app, ["report", str(files["scored"]), "--brands", str(files["brands"]),
                               *args], env={"COLUMNS": "200"})


def test_report_prints_every_brand_and_writes_json_and_csv(files):
    out_json, out_csv = files["dir"] / "out.json", files["dir"] / "out.csv"
    result = _report(files, "--window", "7d", "--json", str(out_json), "--csv", str(out_csv))
    assert result.exit_code == 0, result.output
    for brand in BRANDS:
        assert brand in result.output
    accounting = [line for line in result.output.splitlines() if line.startswith("rows")]
    assert _flat(accounting[0]) == ("rows 11 = counted 6 + brand accounts 1 + news/bots 1 "
                                    "+ duplicates 1 + outside the windows (undated) 0 "
                                    "+ no brand 1 + unreadable 1")
    assert "row 10: column 'p_complaint' holds 'abc', not a number" in _flat(result.output)
    document = json.loads(out_json.read_text(encoding="utf-8"))
    # The file says what its headline figure is and what every field of a record means.
    assert document["measure"] == "expected share of customers at risk"
    assert (document["window"], document["score_version"]) == ("7d", "risk.v1")
    records = document["windows"]
    assert isinstance(records, list) and all(isinstance(r, dict) for r in records)
    assert set(records[0]) <= set(document["fields"]) | {"brand", "window_start", "window_end",
                                                         "latest"}
    assert {r["brand"] for r in records} == set(BRANDS)
    with out_csv.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == len(records) == 5  # United and Delta in two windows, Virgin in one
    assert [r["brand"] for r in rows] == [r["brand"] for r in records]


def test_the_report_says_how_each_brand_was_found(files):
    result = _report(files)
    assert result.exit_code == 0, result.output
    assert ("brands: United 5, Delta 3 from the data, named in the brand book; Virgin America 1 "
            "from mentions of a brand-book handle or alias; no brand: 1 have no brand value "
            "and mention no brand the book knows") in _flat(result.output)
    assert "import the dump into a store" in _flat(result.output)  # where brands come from


def test_a_brand_the_book_does_not_know_is_a_brand_not_a_warning(files):
    with files["scored"].open("a", newline="", encoding="utf-8") as fh:
        csv.DictWriter(fh, fieldnames=BATCH_COLUMNS, restval="").writerow(
            {"id": "p12", "brand": "AppleSupport", "author_id": "ivy",
             "created_at": "2015-03-12T12:00:00Z", "p_complaint": 0.9, "p_positive": 0.1,
             "text": "my phone died", "model_version": "fake-1"})
    result = _report(files)
    assert result.exit_code == 0, result.output
    output = _flat(result.output)
    assert "AppleSupport 1 from the data (not in the brand book)" in output
    assert "add them to --brands" not in output  # no longer flagged as unknown
    assert "AppleSupport" in [line.split()[0] for line in result.output.splitlines()
                              if line.split()]  # a row of the risk table


def test_brand_lists_customers_under_pseudonyms(files):
    result = _report(files, "--brand", "united airlines")  # any name the brand book knows
    assert result.exit_code == 0, result.output
    assert "United: customers at risk >= 50%" in _flat(result.output)
    assert "c_" in result.output
    assert "p2" not in result.output  # post ids lead back to the author: hidden
    assert "alice" not in result.output  # neither as author nor in the shown text


def test_show_authors_reveals_the_real_author(files):
    result = _report(files, "--brand", "United", "--show-authors")
    assert result.exit_code == 0, result.output
    assert "alice" in result.output and "p2" in result.output
    assert "@united still no refund" in _flat(result.output)


def test_a_bad_window_is_named(files):
    result = _report(files, "--window", "7x")
    assert result.exit_code == 1
    assert "window '7x': expected a positive length like 7d" in _flat(result.output)
    assert "Traceback" not in result.output


def test_a_missing_file_fails_with_a_clear_message(files):
    missing = files["dir"] / "absent.csv"
    result = runner.invoke(app, ["report", str(missing), "--brands", str(files["brands"])])
    assert result.exit_code == 1
    assert "error:" in result.output and "no such file" in result.output
    assert "absent.csv" in _flat(result.output)
    assert "Traceback" not in result.output


def test_a_broken_brand_book_fails(files):
    files["brands"].write_text("brands:\n  United: [unclosed\n", encoding="utf-8")
    result = _report(files)
    assert result.exit_code == 1
    assert "not valid YAML" in _flat(result.output)
    assert "Traceback" not in result.output


def test_an_unknown_brand_lists_the_known_ones(files):
    result = _report(files, "--brand", "Lufthansa")
    assert result.exit_code == 1
    assert "no brand 'Lufthansa' in the report; brands: Delta, United, Virgin America" in \
        _flat(result.output)


def test_json_into_a_folder_is_refused(files):
    result = _report(files, "--json", str(files["dir"]))
    assert result.exit_code == 1
    assert "is a folder" in _flat(result.output)
    assert "Traceback" not in result.output


def test_an_absurd_window_is_refused(files):
    result = _report(files, "--window", "999999d")
    assert result.exit_code == 1 and "longer than 3660 days" in _flat(result.output)


def test_the_risk_table_colours_the_shared_trend_arrows():
    from radar.cli.main import _trend_arrow

    arrows = [_trend_arrow(label) for label in ("up", "down", "flat", "new")]
    assert [(a.plain, str(a.style)) for a in arrows] == [
        ("▲", "red"), ("▼", "green"), ("≈", ""), ("new", "")]
