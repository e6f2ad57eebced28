"""Per-brand risk reports from a scored file: accounting, formats, records, customer listing."""

import csv
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from nlp.brands import BrandBook
from nlp.classifier.contract import BATCH_COLUMNS
from nlp.report import (
    PSEUDONYM_ENV,
    Pseudonymizer,
    ReportError,
    build_report,
    customer_rows,
    report_from_posts,
    report_records,
    write_csv,
    write_json,
)
from nlp.taxonomy import THEME_KEYS

BOOK_YAML = """\
brands:
  United: {handles: [united], aliases: [United Airlines]}
  Delta: {handles: [Delta]}
  Southwest: {handles: [SouthwestAir]}
  Virgin America: {handles: [VirginAmerica]}
"""


def _row(post_id, brand, author, when, text, complaint=0.1, positive=0.5, churn=None,
         **themes):
    """One scored row in the batch contract's columns; unnamed columns stay empty."""
    row = dict.fromkeys(BATCH_COLUMNS)
    row.update(id=post_id, brand=brand, author_id=author, text=text, model_version="fake-1",
               created_at=f"2015-03-{when}Z" if when else None, p_complaint=complaint,
               p_positive=positive, p_churn_intent=churn,
               **{f"p_{theme}": p for theme, p in themes.items()})
    return row


# Two 7-day windows: 2015-02-28..03-07 and 03-07..03-14 (the day after the latest post).
ROWS = [
    _row("p1", "United", "alice", "02T09:00:00", "@united lost my bag", 0.9, 0.05, 0.8,
         waiting=0.9),
    _row("p2", "United", "bob", "03T10:00:00", "@united great crew", 0.1, 0.9),
    _row("p16", "United", "Alice", "09T08:00:00", "@united which gate?", 0.02, 0.3, 0.0),
    _row("p3", "United", "alice", "10T12:00:00", "@united still no refund, I am switching",
         0.95, 0.02, 0.9, unresolved=0.8),
    _row("p4", "united airlines", "carol", "11T12:00:00", "@united smooth flight", 0.1, 0.9),
    _row("p5", "Delta", "dave", "12T07:00:00", "@Delta rude agent at the desk", 0.8, 0.05,
         staff_attitude=0.7),
    _row("p6", "Delta", "erin", "04T07:00:00", "@Delta ok flight", 0.3, 0.4),
    _row("p7", "southwestair", "frank", "13T10:00:00", "@SouthwestAir delayed again", 0.7, 0.1,
         waiting=0.8),
    _row("p8", "United", "united", "10T13:00:00", "@alice sorry to hear that", 0.0, 0.6),
    _row("p9", "Delta", "AirlineNews", "11T09:00:00", "Delta cancels 200 flights", 0.6, 0.1),
    _row("p3", "United", "alice", "10T12:00:00", "@united still no refund, I am switching",
         0.95, 0.02, 0.9, unresolved=0.8),  # the same post twice
    _row("p11", "Delta", "gina", "12T09:00:00", "@Delta meh", 1.7, 0.1),
    _row("p12", None, "hank", "12T10:00:00", "lovely weather today"),
    _row("p13", None, "ian", "12T11:00:00", "@VirginAmerica the wifi failed", 0.85, 0.05,
         product_failure=0.9),
    _row("p14", "United", "jack", None, "@united no date on this one", 0.9, 0.05),
    _row("p15", "Ryanair", "kim", "12T12:00:00", "@Ryanair fees again", 0.9, 0.05, billing=0.9),
]
BRANDS = ["Delta", "Ryanair", "Southwest", "United", "Virgin America"]


def write_scored(path: Path, rows=ROWS) -> Path:
    """Write rows as ``radar score`` would, in the format the file name's extension says."""
    if path.suffix == ".csv":
        with path.open("w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows({k: "" if v is None else v for k, v in r.items()} for r in rows)
    elif path.suffix == ".jsonl":
        path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    else:
        schema = pa.schema([(c, pa.float64() if c.startswith("p_") else
                             pa.bool_() if c in ("complaint", "churn_intent") else pa.string())
                            for c in BATCH_COLUMNS])
        pq.write_table(pa.Table.from_pylist(rows, schema=schema), path)
    return path


@pytest.fixture
def book(tmp_path) -> BrandBook:
    path = tmp_path / "brands.yaml"
    path.write_text(BOOK_YAML, encoding="utf-8")
    return BrandBook.from_yaml(path)


@pytest.fixture
def report(tmp_path, book):
    return build_report(write_scored(tmp_path / "scored.csv"), book)


def _summary(report) -> dict:
    """What must not depend on the input format."""
    return {"records": report_records(report), "rows_in": report.rows_in,
            "unreadable": report.unreadable, "examples": report.unreadable_examples,
            "without_brand": report.without_brand, "exclusions": report.exclusions,
            "brands_found": report.brands_found, "unknown": report.unknown_brands,
            "versions": report.model_versions}


# --- accounting -------------------------------------------------------------------------------


def test_every_row_is_accounted_for_exactly(report):
    e = report.exclusions
    counted = sum(w.posts for w in report.windows)
    assert report.rows_in == len(ROWS) == 16
    assert report.rows_in == (counted + e.brand_account + e.bot_or_news + e.duplicate
                              + e.outside_windows + report.without_brand + report.unreadable)
    assert (counted, e.brand_account, e.bot_or_news, e.duplicate, e.outside_windows) == \
        (10, 1, 1, 1, 1)
    assert (report.without_brand, report.unreadable) == (1, 1)


def test_brands_come_from_the_column_or_a_mention_and_unknown_ones_are_kept(report):
    assert sorted({w.risk.brand for w in report.windows}) == BRANDS
    found = {k: v for k, v in report.brands_found.items() if k != "column"}
    assert found == {"mention": 1, "unknown": 1, "none": 1}
    united = report.brand_window("UNITED")
    assert united.risk.customers == 2  # alice and carol, whose column says 'united airlines'
    assert report.unknown_brands == {"Ryanair": 1}
    assert report.model_versions == ("fake-1",)


def test_each_brand_records_how_it_was_found(report):
    assert report.has_book
    assert dict(report.brand_sources) == {
        "United": {"column": 8}, "Delta": {"column": 3}, "Southwest": {"column": 1},
        "Ryanair": {"unknown": 1}, "Virgin America": {"mention": 1}}


def test_without_a_book_brand_values_are_brands_as_written(tmp_path):
    result = build_report(write_scored(tmp_path / "scored.csv"))
    assert not result.has_book and result.brands_found["column"] == 13
    assert result.brand_sources["Ryanair"] == {"column": 1}
    assert sorted({w.risk.brand for w in result.windows}) == [
        "Delta", "Ryanair", "United", "southwestair", "united airlines"]


def test_stored_posts_report_as_their_scored_rows_do(tmp_path, book, report):
    """report_from_posts reads (Post, Prediction) pairs as the rows of a scored file."""
    from nlp.times import parse_time
    from nlp.types import Post, Prediction

    pairs = []
    for r in ROWS:
        if not 0 <= r["p_complaint"] <= 1:
            continue  # a store holds no unreadable prediction
        themes = {k[2:]: v for k, v in r.items()
                  if k[2:] in THEME_KEYS and v is not None}
        pairs.append((
            Post(source="s", post_id=r["id"], text=r["text"], brand=r["brand"],
                 author_id=r["author_id"], created_at=parse_time(r["created_at"], "t")),
            Prediction(source="s", post_id=r["id"], sentiment="negative",
                       sentiment_probs={"negative": 0.5 - r["p_positive"] / 2,
                                        "neutral": 0.5 - r["p_positive"] / 2,
                                        "positive": r["p_positive"]},
                       complaint=r["p_complaint"], themes=themes,
                       churn_intent=r["p_churn_intent"], model_version="fake-1")))
    stored = report_from_posts(pairs, book)
    assert report_records(stored) == report_records(report)
    assert stored.rows_in == report.rows_in - 1 and stored.unreadable == 0
    assert stored.brand_sources == report.brand_sources
    assert "s:p3" in stored.posts  # ids are source:post_id, unique across sources
    with pytest.raises(ReportError, match=r"the store \(brand X\): nothing to report on: "
                                          "no rows"):
        report_from_posts([], book, name="the store (brand X)")


def test_two_windows_and_the_latest_holds_every_brand(report):
    ends = sorted({w.risk.window_end.isoformat() for w in report.windows})
    assert ends == ["2015-03-07T00:00:00+00:00", "2015-03-14T00:00:00+00:00"]
    latest = report.latest()
    assert sorted(w.risk.brand for w in latest) == BRANDS
    shares = [w.risk.at_risk_share for w in latest if w.ranked]
    assert shares == sorted(shares, reverse=True)
    # brands below the ranking minimum come after the ranked ones, whatever their share
    flags = [w.ranked for w in latest]
    assert flags == sorted(flags, reverse=True)
    assert all(w.ranked == (w.risk.customers >= report.min_customers_ranked) for w in latest)


def test_unreadable_rows_carry_their_number_and_reason(report):
    assert report.unreadable_examples == (
        "row 12: column 'p_complaint' holds 1.7, not a probability in [0, 1]",)


def test_a_probability_that_is_not_a_number_is_unreadable(tmp_path, book):
    rows = [*ROWS[:2], {**ROWS[2], "p_positive": "abc"}]
    result = build_report(write_scored(tmp_path / "scored.csv", rows), book)
    assert result.unreadable == 1 and result.rows_in == 3
    assert result.unreadable_examples == ("row 3: column 'p_positive' holds 'abc', not a number",)


def test_a_file_without_required_columns_names_them(tmp_path, book):
    rows = [{k: v for k, v in r.items() if k not in ("p_complaint", "p_positive")} for r in ROWS]
    with pytest.raises(ReportError, match=r"no column\(s\) \['p_complaint', 'p_positive'\]"):
        build_report(write_scored(tmp_path / "scored.csv", rows), book)


def test_a_missing_file_is_a_report_error(tmp_path, book):
    with pytest.raises(ReportError, match="no such file") as info:
        build_report(tmp_path / "absent.csv", book)
    assert "absent.csv" in str(info.value)


def test_a_file_with_no_branded_row_says_so(tmp_path, book):
    with pytest.raises(ReportError, match="nothing to report on: no row has a brand"):
        build_report(write_scored(tmp_path / "scored.jsonl", [ROWS[12]]), book)


@pytest.mark.parametrize("suffix", [".jsonl", ".parquet"])
def test_csv_jsonl_and_parquet_give_the_same_report(tmp_path, book, report, suffix):
    other = build_report(write_scored(tmp_path / f"scored{suffix}"), book)
    assert _summary(other) == _summary(report)


# --- records ----------------------------------------------------------------------------------


def test_records_have_the_documented_fields(report):
    records = report_records(report)
    assert len(records) == len(report.windows)
    for field in ("brand", "window_start", "window_end", "customers", "at_risk_share", "ci_low",
                  "ci_high", "expected_at_risk", "trend", "drivers", "score_version", "latest"):
        assert all(field in r for r in records), field
    united = [r for r in records if r["brand"] == "United"]
    assert [(r["window_start"], r["window_end"], r["latest"]) for r in united] == [
        ("2015-02-28T00:00:00Z", "2015-03-07T00:00:00Z", False),
        ("2015-03-07T00:00:00Z", "2015-03-14T00:00:00Z", True)]
    assert united[0]["trend"] is None and isinstance(united[1]["trend"], float)
    # the first window has nothing to compare with; the second is compared (nlp.trend)
    assert united[0]["trend_label"] == "new"
    # the fixture's data starts inside the first window: partial, so the trend is not compared
    assert united[0]["partial"] is True and united[1]["previous_partial"] is True
    assert united[1]["trend_label"] == "partial"
    assert all(isinstance(r["ranked"], bool) for r in records)
    for r in records:
        assert r["score_version"] == "risk.v1"
        assert r["ci_low"] <= r["at_risk_share"] <= r["ci_high"]
        assert r["expected_at_risk"] == pytest.approx(r["at_risk_share"] * r["customers"],
                                                      abs=1e-3)
    assert sum(r["latest"] for r in records) == len(BRANDS)


def test_json_round_trips(tmp_path, report):
    records = report_records(report)
    write_json(records, tmp_path / "out.json")
    assert json.loads((tmp_path / "out.json").read_text(encoding="utf-8")) == records


def test_csv_round_trips_with_drivers_as_json(tmp_path, report):
    records = report_records(report)
    write_csv(records, tmp_path / "out.csv")
    with (tmp_path / "out.csv").open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == len(records)
    for row, record in zip(rows, records, strict=True):
        assert list(row) == list(record)
        assert json.loads(row["drivers"]) == record["drivers"]
        assert row["brand"] == record["brand"] and row["window_end"] == record["window_end"]
        assert float(row["at_risk_share"]) == record["at_risk_share"]
        assert row["trend"] == ("" if record["trend"] is None else str(record["trend"]))


# --- customers --------------------------------------------------------------------------------


def test_customers_are_pseudonymised_by_default(report):
    window, rows = customer_rows(report, "United")
    assert window.risk.brand == "United" and window.risk.window_end.day == 14
    assert len(rows) == 1  # alice; carol's smooth flight is below 0.5
    customer = rows[0]["customer"]
    assert customer.startswith("c_") and len(customer) == 14
    assert "alice" not in customer.casefold()
    assert rows[0]["risk"] >= 0.5


def test_reveal_shows_the_author_and_the_posts_that_drove_the_risk(report):
    _, rows = customer_rows(report, "united", reveal=True)
    assert rows[0]["customer"] == "alice"  # as written in the file
    # p16 (a question, same window) is alice's too but drove nothing; p1 is the earlier window.
    assert [p["id"] for p in rows[0]["posts"]] == ["p3"]
    assert rows[0]["posts"][0] == {"id": "p3", "created_at": "2015-03-10T12:00:00Z",
                                   "text": "@united still no refund, I am switching"}
    assert next(iter(rows[0]["drivers"])) == "churn_intent"


def test_min_risk_and_limit_bound_the_listing(report):
    _, everyone = customer_rows(report, "United", min_risk=0.0, reveal=True)
    assert [r["customer"] for r in everyone] == ["alice", "carol"]
    assert len(customer_rows(report, "United", min_risk=0.0, limit=1)[1]) == 1


def test_pseudonyms_are_stable_within_a_pseudonymizer():
    name = Pseudonymizer()
    assert name("@alice") == name("@Alice") != name("@bob")
    # A post without an author is an anonymous customer: its id (which can hold a handle
    # or a server path) is not shown either.
    assert name("post:p7") == name("post:p7") != name("post:P7")
    anonymous = name("post:p7")
    assert anonymous.startswith("anon_") and len(anonymous) == 17
    assert set(anonymous[5:]) <= set("0123456789abcdef")


def test_pseudonyms_repeat_across_runs_only_with_a_key(report, monkeypatch):
    monkeypatch.delenv(PSEUDONYM_ENV, raising=False)
    first, second = (customer_rows(report, "United")[1][0]["customer"] for _ in range(2))
    assert first != second
    monkeypatch.setenv(PSEUDONYM_ENV, "s3cret")
    first, second = (customer_rows(report, "United")[1][0]["customer"] for _ in range(2))
    assert first == second == Pseudonymizer("s3cret")("@alice")


def test_an_unknown_brand_lists_the_known_ones(report):
    with pytest.raises(ReportError, match="no brand 'Lufthansa' in the report; brands: "
                                          "Delta, Ryanair, Southwest, United, Virgin America"):
        customer_rows(report, "Lufthansa")
