"""``radar store migrate``: a SQLite store copied whole into a real PostgreSQL database
(and back), all or nothing, read the same on both; an old store upgraded."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from typer.testing import CliRunner

from nlp.types import Post, Prediction
from radar.cli import app
from radar.store import SCHEMA_VERSION, StoreError, open_store
from radar.store.copy import TABLES, copy_store
from radar.store.history import record_alert

T0 = datetime(2024, 5, 1, 9, 30, 15, 123456, tzinfo=UTC)


def _fill(store, posts: int = 1200) -> None:
    store.save_posts([Post(source="x", post_id=f"p{i:05d}", brand=("Acme", "Bolt")[i % 2],
                           author_id=f"a{i % 37}", text=f"bill {i} doubled, I'm leaving \u00e9",
                           created_at=T0 + timedelta(minutes=i), raw={"n": i, "tags": ["a"]})
                      for i in range(posts)])
    store.save_posts([Post(source="x", post_id="p00000", brand="Bolt", text="bill 0 doubled, "
                           "I'm leaving \u00e9")])  # a second brand for one post
    store.save_predictions([Prediction(
        source="x", post_id=f"p{i:05d}", sentiment="negative",
        sentiment_probs={"negative": 0.1 + i / 10_000, "neutral": 0.2, "positive": 0.7},
        complaint=1 / 3, themes={"billing": 0.123456789012345}, churn_intent=0.7,
        model_version="m1") for i in range(0, posts, 3)])
    run = store.start_run("import", "file", "dump.csv")
    store.add_rows(run, [], [(7, "no text", {"id": "bad"})])
    store.finish_run(run, "done")
    store.set_checkpoint("x", "q|Acme|", {"page": 3}, False, T0, T0)
    record_alert(store, "k1", "Acme", T0, "rise", {"share": 0.31}, T0)


def _everything(store) -> dict[str, list[tuple]]:
    """Every row of every table, in key order, as plain tuples."""
    out = {}
    for table in TABLES:
        rows = store.db.execute(f"SELECT * FROM {table}").fetchall()
        out[table] = sorted((tuple(r) for r in rows), key=repr)
    return out


def test_the_copy_list_names_every_table_of_the_schema(tmp_path):
    with open_store(tmp_path / "radar.db") as store:
        assert set(TABLES) == store.db.table_names() - {"schema_version"}


def test_a_sqlite_store_copied_into_postgres_holds_the_same_rows_and_reads_the_same(
        tmp_path, postgres_server):
    target_url = postgres_server.new_database()
    with open_store(tmp_path / "radar.db") as source:
        _fill(source)
        before = _everything(source)
    result = CliRunner().invoke(app, ["store", "migrate", "--db", str(tmp_path / "radar.db"),
                                      "--to", target_url])
    assert result.exit_code == 0, result.output
    assert "posts: 1,200 = 1,200" in result.output
    assert "predictions: 400 = 400" in result.output
    with open_store(target_url) as target:
        assert target.schema_version() == SCHEMA_VERSION
        assert _everything(target) == before  # floats to the last bit, times, JSON, NULLs
        assert [p.post_id for p in target.iter_posts(brand="Bolt")][:2] == ["p00000", "p00001"]
        assert target.count_unscored("m1") == 800
    # ... and back again, into a new SQLite file: the round trip changes nothing
    with open_store(target_url) as target, open_store(tmp_path / "back.db") as back:
        counts = copy_store(target, back)
        assert counts.source == counts.target
        assert _everything(back) == before


def test_copying_into_a_store_that_holds_rows_is_refused_and_changes_nothing(
        tmp_path, store_db):
    with open_store(tmp_path / "source.db") as source, open_store(store_db) as target:
        _fill(source, posts=10)
        target.save_posts([Post(source="y", post_id="1", text="already here")])
        with pytest.raises(StoreError, match=r"already holds rows \(posts 1\); copy into a new"):
            copy_store(source, target)
        assert target.count_posts() == 1


def test_a_copy_that_fails_midway_leaves_the_target_empty(tmp_path, store_db, monkeypatch):
    import radar.store.copy as copy_module

    monkeypatch.setattr(copy_module, "COPY_BATCH", 100)
    with open_store(tmp_path / "source.db") as source, open_store(store_db) as target:
        _fill(source, posts=500)
        calls = []
        original = target.db.executemany

        def fail_on_the_third(sql, rows):
            calls.append(sql)
            if len(calls) == 3:
                raise RuntimeError("disk full")
            return original(sql, rows)

        monkeypatch.setattr(target.db, "executemany", fail_on_the_third)
        with pytest.raises(RuntimeError, match="disk full"):
            copy_store(source, target)
        monkeypatch.undo()
        assert {t: target.db.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]
                for t in TABLES} == dict.fromkeys(TABLES, 0)


def test_migrate_without_to_upgrades_a_version_1_store(tmp_path):
    import sqlite3

    from radar.store.database import MIGRATIONS

    path = tmp_path / "old.db"
    with sqlite3.connect(path) as raw:
        raw.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
        raw.execute("INSERT INTO schema_version VALUES (1)")
        for statement in MIGRATIONS[0][1]:
            raw.execute(statement)
        raw.execute("INSERT INTO posts (source, post_id, brand, text, collected_at, "
                    "updated_at) VALUES ('x', '1', 'Acme', 'late', 't', 't')")
    raw.close()
    result = CliRunner().invoke(app, ["store", "migrate", "--db", str(path)])
    assert result.exit_code == 0, result.output
    assert f"schema v1 -> v{SCHEMA_VERSION}" in result.output
    with open_store(path) as store:
        assert [p.brand for p in store.iter_posts(brand="Acme")] == ["Acme"]


def test_migrate_of_a_missing_store_says_so(tmp_path):
    result = CliRunner().invoke(app, ["store", "migrate", "--db", str(tmp_path / "none.db")])
    assert result.exit_code == 1
    assert "no post store at" in result.output
    assert not (tmp_path / "none.db").exists()
