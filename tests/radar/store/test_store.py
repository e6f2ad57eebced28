"""The post store: schema and migrations, idempotent upserts, predictions, checkpoints, runs."""

from __future__ import annotations

import dataclasses
import os
import sqlite3
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

import radar.store.posts as store_module
from nlp.types import Post, Prediction
from radar.store import (
    DEFAULT_DB_PATH,
    SCHEMA_VERSION,
    Database,
    RunRow,
    SaveCounts,
    StoreError,
    describe_target,
    is_database_url,
    open_store,
    resolve_db_path,
    store_exists,
)
from radar.store.database import connect_postgres, connect_sqlite

T0 = datetime(2024, 3, 1, 12, 0, 0, tzinfo=UTC)


def _post(post_id: str, source: str = "mastodon", **fields) -> Post:
    fields.setdefault("text", f"order {post_id} arrived late and the support chat never answered")
    return Post(source=source, post_id=post_id, **fields)


def _prediction(post_id: str, model_version: str = "baseline-1", complaint: float = 0.9,
                source: str = "mastodon") -> Prediction:
    return Prediction(source=source, post_id=post_id, sentiment="negative",
                      sentiment_probs={"negative": 0.8, "neutral": 0.15, "positive": 0.05},
                      complaint=complaint, themes={"delivery": 0.7}, churn_intent=0.4,
                      model_version=model_version)


@pytest.fixture
def store(store_db):
    """A store on each backend: a SQLite file, then a PostgreSQL database."""
    with open_store(store_db) as opened:
        yield opened


def _raw_rows(path: Path, sql: str, params=()) -> list[tuple]:
    with sqlite3.connect(path) as connection:
        return connection.execute(sql, params).fetchall()


def _bare_db(target: str) -> Database:
    """The database layer's connection alone, on either backend: no store is opened, so no
    migration runs and no table is checked (``?`` placeholders on both)."""
    return connect_postgres(target) if is_database_url(target) else connect_sqlite(Path(target))


def _db_rows(target: str, sql: str, params=()) -> list[tuple]:
    db = _bare_db(target)
    try:
        return [tuple(row) for row in db.execute(sql, params).fetchall()]
    finally:
        db.close()


def _db_execute(target: str, sql: str, params=()) -> None:
    """One statement, committed at once (the connection is in autocommit mode)."""
    db = _bare_db(target)
    try:
        db.execute(sql, params)
    finally:
        db.close()


def _columns(target: str, table: str) -> list[str]:
    from sqlalchemy import inspect

    db = _bare_db(target)
    try:
        return [column["name"] for column in inspect(db.connection).get_columns(table)]
    finally:
        db.close()


# --- opening, schema, migrations --------------------------------------------------------------

def test_open_creates_the_file_folders_and_schema(tmp_path):
    path = tmp_path / "nested" / "deeper" / "radar.db"
    assert not path.exists()
    with open_store(path) as opened:
        assert opened.schema_version() == SCHEMA_VERSION == len(store_module.MIGRATIONS)
        assert opened.count_posts() == 0
        assert opened.location == str(path)
    assert path.is_file()
    tables = {row[0] for row in _raw_rows(path, "SELECT name FROM sqlite_master "
                                                "WHERE type = 'table'")}
    assert {"posts", "post_brands", "predictions", "checkpoints", "runs", "rejected_rows",
            "schema_version"} <= tables
    assert _raw_rows(path, "SELECT version FROM schema_version") == [(SCHEMA_VERSION,)]


def test_open_creates_the_schema(store_db):
    """The backend-neutral part of the test above, on each backend: no store there yet (a
    missing file, an empty PostgreSQL database); opening it creates the schema."""
    assert not store_exists(store_db)
    with open_store(store_db) as opened:
        assert opened.schema_version() == SCHEMA_VERSION == len(store_module.MIGRATIONS)
        assert opened.count_posts() == 0
        assert opened.location == describe_target(store_db)
        assert {"posts", "post_brands", "predictions", "checkpoints", "runs", "rejected_rows",
                "schema_version"} <= opened.db.table_names()
    assert store_exists(store_db)
    assert _db_rows(store_db, "SELECT version FROM schema_version") == [(SCHEMA_VERSION,)]


def test_reopening_keeps_data_and_does_not_rerun_migrations(store_db):
    path = store_db
    with open_store(path) as first:
        first.save_posts([_post("1")])
    with open_store(path) as second:
        assert second.count_posts() == 1
        assert second.schema_version() == SCHEMA_VERSION
    assert _db_rows(path, "SELECT COUNT(*) FROM schema_version") == [(1,)]


def test_migration_to_a_new_version_runs_on_open_and_keeps_data(store_db, monkeypatch):
    path = store_db
    current = SCHEMA_VERSION
    with open_store(path) as v1:
        v1.save_posts([_post("1", brand="Acme", raw={"id": "1"})])
        assert v1.schema_version() == current
    migrations = [*store_module.MIGRATIONS,
                  (current + 1, ("ALTER TABLE posts ADD COLUMN toxicity REAL",))]
    monkeypatch.setattr(store_module, "MIGRATIONS", migrations)
    monkeypatch.setattr(store_module, "SCHEMA_VERSION", current + 1)

    with open_store(path) as v2:
        assert v2.schema_version() == current + 1
        assert [(p.post_id, p.brand, p.raw) for p in v2.iter_posts(with_raw=True)] == [
            ("1", "Acme", {"id": "1"})]
    assert "toxicity" in _columns(path, "posts")
    assert _db_rows(path, "SELECT post_id, toxicity FROM posts") == [("1", None)]
    # a second open finds version 2 and applies nothing again (ALTER would fail twice)
    with open_store(path) as again:
        assert again.schema_version() == current + 1


def test_a_failing_migration_leaves_the_file_at_its_old_version(store_db, monkeypatch):
    path = store_db
    with open_store(path) as v1:
        v1.save_posts([_post("1")])
    current = SCHEMA_VERSION
    migrations = [*store_module.MIGRATIONS,
                  (current + 1, ("ALTER TABLE posts ADD COLUMN toxicity REAL",
                                 "ALTER TABLE no_such_table ADD COLUMN x TEXT"))]
    monkeypatch.setattr(store_module, "MIGRATIONS", migrations)
    monkeypatch.setattr(store_module, "SCHEMA_VERSION", current + 1)
    # the driver's own reason, as each backend words it
    reason = ('relation "no_such_table" does not exist' if is_database_url(path)
              else "no such table: no_such_table")
    with pytest.raises(StoreError, match=rf"migrating to schema version {current + 1} failed, "
                                         rf"nothing changed .*{reason}"):
        open_store(path)
    assert _db_rows(path, "SELECT version FROM schema_version") == [(current,)]
    assert "toxicity" not in _columns(path, "posts")


def test_a_file_from_a_newer_schema_is_refused(store_db):
    path = store_db
    open_store(path).close()
    _db_execute(path, "UPDATE schema_version SET version = ?", (SCHEMA_VERSION + 1,))
    with pytest.raises(StoreError, match=rf"schema version {SCHEMA_VERSION + 1}, newer.*"
                                         "upgrade complaint-radar"):
        open_store(path)


def test_a_file_that_is_not_sqlite_is_refused(tmp_path):
    path = tmp_path / "radar.db"
    path.write_bytes(os.urandom(8192))
    with pytest.raises(StoreError, match="not a complaint-radar store"):
        open_store(path)


def test_a_folder_as_db_path_is_refused(tmp_path):
    with pytest.raises(StoreError, match="is a folder"):
        open_store(tmp_path)


def test_db_path_precedence_argument_then_environment_then_default(tmp_path, monkeypatch):
    monkeypatch.setenv("RADAR_DB", str(tmp_path / "env.db"))
    assert resolve_db_path(tmp_path / "arg.db") == tmp_path / "arg.db"
    assert resolve_db_path(str(tmp_path / "arg.db")) == tmp_path / "arg.db"
    assert resolve_db_path(None) == tmp_path / "env.db"
    assert resolve_db_path("") == tmp_path / "env.db"
    monkeypatch.delenv("RADAR_DB")
    assert resolve_db_path(None) == DEFAULT_DB_PATH == Path("data/radar.db")
    monkeypatch.setenv("RADAR_DB", "")
    assert resolve_db_path(None) == DEFAULT_DB_PATH


def test_open_store_without_a_path_uses_the_environment(store_db):
    assert os.environ["RADAR_DB"] == store_db  # store_db sets it
    assert not store_exists(store_db)
    with open_store() as opened:
        assert opened.location == describe_target(store_db)
        assert opened.schema_version() == SCHEMA_VERSION
    assert store_exists(store_db)
    if not is_database_url(store_db):
        assert Path(store_db).is_file()


# --- posts ------------------------------------------------------------------------------------

def test_saving_the_same_posts_twice_is_idempotent(store):
    posts = [_post(str(i), created_at=T0 + timedelta(minutes=i)) for i in range(5)]
    assert store.save_posts(posts) == SaveCounts(new=5, seen=0)
    assert store.save_posts(posts) == SaveCounts(new=0, seen=5)
    assert store.count_posts() == 5
    mixed = [*posts[3:], _post("5"), _post("6")]
    assert store.save_posts(mixed) == SaveCounts(new=2, seen=2)
    assert store.count_posts() == 7


def test_a_post_repeated_within_one_write_is_stored_once_last_copy_wins(store):
    counts = store.save_posts([_post("1", text="first"), _post("1", text="second")])
    assert counts == SaveCounts(new=1, seen=1)
    assert [p.text for p in store.iter_posts()] == ["second"]


def test_an_update_changes_text_but_none_fields_do_not_erase(store):
    original = _post("1", text="refund still missing", brand="Acme", author_id="u1",
                     created_at=T0, url="https://m.example/@u1/1", parent_id="0", lang="en",
                     raw={"id": "1", "content": "refund still missing"})
    store.save_posts([original])
    assert store.save_posts([_post("1", text="refund still missing (edited)")]) == \
        SaveCounts(new=0, seen=1)
    (stored,) = store.iter_posts(with_raw=True)
    assert stored.text == "refund still missing (edited)"
    assert (stored.brand, stored.author_id, stored.created_at, stored.url, stored.parent_id,
            stored.lang) == ("Acme", "u1", T0, "https://m.example/@u1/1", "0", "en")
    assert stored.raw == {"id": "1", "content": "refund still missing"}
    # a new non-None value replaces the stored one; a second brand is added, not swapped
    store.save_posts([_post("1", text="x", brand="Globex", raw={"id": "1", "v": 2})])
    (stored,) = store.iter_posts(with_raw=True)
    assert (stored.text, stored.brand, stored.raw) == ("x", "Acme", {"id": "1", "v": 2})
    assert [p.brand for p in store.iter_posts(brand="Globex")] == ["Globex"]
    assert [p.brand for p in store.iter_posts(brand="Acme")] == ["Acme"]
    assert store.count_posts(brand="Acme") == store.count_posts(brand="Globex") == 1


def test_a_version_1_file_gets_post_brands_backfilled(store_db, monkeypatch):
    path = store_db
    all_migrations, version = store_module.MIGRATIONS, store_module.SCHEMA_VERSION
    monkeypatch.setattr(store_module, "MIGRATIONS", all_migrations[:1])
    monkeypatch.setattr(store_module, "SCHEMA_VERSION", 1)
    with open_store(path) as v1:
        v1.db.execute("INSERT INTO posts (source, post_id, brand, text, collected_at, "
                      "updated_at) VALUES ('x', '1', 'Acme', 't', 'a', 'a'), "
                      "('x', '2', NULL, 't', 'a', 'a')")
    monkeypatch.setattr(store_module, "MIGRATIONS", all_migrations)
    monkeypatch.setattr(store_module, "SCHEMA_VERSION", version)
    with open_store(path) as current:
        assert current.schema_version() == SCHEMA_VERSION
        assert [p.post_id for p in current.iter_posts(brand="Acme")] == ["1"]
        assert current.count_posts() == 2


def test_the_same_post_id_under_two_sources_is_two_posts(store):
    store.save_posts([_post("42", source="mastodon", text="from mastodon"),
                      _post("42", source="bluesky", text="from bluesky")])
    assert store.count_posts() == 2
    assert store.count_posts(source="mastodon") == 1
    assert store.count_posts(source="bluesky") == 1
    assert {(p.source, p.text) for p in store.iter_posts()} == {
        ("mastodon", "from mastodon"), ("bluesky", "from bluesky")}
    # updating one leaves the other alone
    store.save_posts([_post("42", source="bluesky", text="edited")])
    assert {(p.source, p.text) for p in store.iter_posts()} == {
        ("mastodon", "from mastodon"), ("bluesky", "edited")}


def test_raw_json_round_trips_and_is_only_read_when_asked(store):
    raw = {"id": "9", "content": "<p>Caf\u00e9 \U0001F621 &amp; co</p>", "tags": ["a", "b"],
           "nested": {"n": 1, "f": 0.5, "none": None, "ok": True}}
    store.save_posts([_post("9", raw=raw), _post("10")])
    by_id = {p.post_id: p for p in store.iter_posts(with_raw=True)}
    assert by_id["9"].raw == raw
    assert by_id["10"].raw is None
    assert all(p.raw is None for p in store.iter_posts())


def test_times_round_trip_in_utc_and_iter_posts_orders_by_time(store):
    zero_offset = timezone(timedelta(0), "GMT")
    t_late = datetime(2024, 5, 2, 8, 30, 15, 123456, tzinfo=zero_offset)
    t_mid = datetime(2024, 5, 1, 23, 59, 59, 999999, tzinfo=UTC)
    t_early = datetime(2023, 12, 31, 0, 0, tzinfo=UTC)
    store.save_posts([_post("late", created_at=t_late), _post("undated"),
                      _post("early", created_at=t_early), _post("mid", created_at=t_mid)])
    posts = list(store.iter_posts())
    assert [p.post_id for p in posts] == ["early", "mid", "late", "undated"]
    assert posts[2].created_at == t_late
    assert posts[2].created_at.tzinfo is UTC
    assert posts[2].created_at.microsecond == 123456
    assert posts[3].created_at is None
    stored_text = [tuple(row) for row in store.db.execute(
        "SELECT created_at FROM posts WHERE post_id = 'late'").fetchall()]
    assert stored_text == [("2024-05-02T08:30:15.123456Z",)]
    # time filters: since inclusive, until exclusive
    assert [p.post_id for p in store.iter_posts(since=t_mid, until=t_late)] == ["mid"]
    assert [p.post_id for p in store.iter_posts(since=t_mid)] == ["mid", "late"]


def test_iter_posts_filters_by_source_and_brand_and_streams_in_batches(store):
    store.save_posts([_post(str(i), brand="Acme" if i % 2 else "Globex",
                            created_at=T0 + timedelta(seconds=i)) for i in range(7)])
    store.save_posts([_post("x", source="reddit", brand="Acme")])
    acme = [p.post_id for p in store.iter_posts(source="mastodon", brand="Acme", batch_size=2)]
    assert acme == ["1", "3", "5"]
    assert store.count_posts(brand="Acme") == 4
    assert store.count_posts(source="mastodon", brand="Globex") == 4


# --- predictions ------------------------------------------------------------------------------

def test_predictions_save_replace_and_iterate_per_model_version(store):
    store.save_posts([_post("1"), _post("2"), _post("3")])
    assert store.save_predictions([_prediction("1"), _prediction("2")]) == 2
    store.save_predictions([_prediction("1", model_version="transformer-1", complaint=0.1)])
    assert [p.post_id for p in store.iter_predictions("baseline-1")] == ["1", "2"]
    # a rescore replaces, it does not add
    store.save_predictions([_prediction("1", complaint=0.25)])
    baseline = list(store.iter_predictions("baseline-1"))
    assert len(baseline) == 2
    assert baseline[0] == _prediction("1", complaint=0.25)
    assert dict(baseline[0].sentiment_probs) == {"negative": 0.8, "neutral": 0.15,
                                                 "positive": 0.05}
    assert dict(baseline[0].themes) == {"delivery": 0.7}
    assert [p.complaint for p in store.iter_predictions("transformer-1")] == [0.1]


def test_iter_unscored_lists_posts_without_a_prediction_of_that_version(store):
    store.save_posts([_post("1", brand="Acme"), _post("2", brand="Acme"),
                      _post("3", brand="Globex"), _post("1", source="reddit", brand="Acme")])
    store.save_predictions([_prediction("1"), _prediction("3", model_version="other")])
    assert [p.key for p in store.iter_unscored("baseline-1")] == [
        ("mastodon", "2"), ("mastodon", "3"), ("reddit", "1")]
    assert [p.key for p in store.iter_unscored("baseline-1", brand="Acme", batch_size=1)] == [
        ("mastodon", "2"), ("reddit", "1")]
    assert [p.key for p in store.iter_unscored("other")] == [
        ("mastodon", "1"), ("mastodon", "2"), ("reddit", "1")]


# --- checkpoints ------------------------------------------------------------------------------

def test_checkpoints_set_get_replace_and_delete(store):
    assert store.get_checkpoint("mastodon", "q") is None
    store.set_checkpoint("mastodon", "q", {"max_id": "123", "n": 2}, done=False, since=T0,
                         high_water=T0 + timedelta(hours=1))
    row = store.get_checkpoint("mastodon", "q")
    assert row.state == {"max_id": "123", "n": 2}
    assert row.done is False
    assert row.since == T0
    assert row.high_water == T0 + timedelta(hours=1)
    store.set_checkpoint("mastodon", "q", None, done=True, since=None, high_water=None)
    row = store.get_checkpoint("mastodon", "q")
    assert (row.state, row.done, row.since, row.high_water) == (None, True, None, None)
    assert store.get_checkpoint("mastodon", "other") is None
    assert store.get_checkpoint("reddit", "q") is None
    store.delete_checkpoint("mastodon", "q")
    assert store.get_checkpoint("mastodon", "q") is None


# --- runs, rejected rows, stats ---------------------------------------------------------------

def test_runs_record_counters_and_a_new_run_marks_a_stale_one_interrupted(store):
    first = store.start_run("collect", "mastodon", "q", "Acme")
    other = store.start_run("collect", "reddit", "q", "Acme")
    run = store.run(first)
    assert [f.name for f in dataclasses.fields(RunRow)] == [
        "run_id", "kind", "source", "target", "brand", "started_at", "finished_at", "status",
        "pages", "requests", "rows_in", "posts_new", "posts_seen", "rejected", "message"]
    assert isinstance(run, RunRow) and run.run_id == first
    assert (run.kind, run.source, run.target, run.brand, run.status) == (
        "collect", "mastodon", "q", "Acme", "running")
    assert (run.pages, run.requests, run.posts_new, run.finished_at) == (
        0, 0, 0, None)
    second = store.start_run("collect", "mastodon", "q", "Acme")
    assert store.run(first).status == "interrupted"
    assert "killed or crashed" in store.run(first).message
    assert store.run(other).status == "running"  # another source's run is not touched
    store.finish_run(second, "done", "no more pages", requests=7)
    done = store.run(second)
    assert (done.status, done.message, done.requests) == ("done", "no more pages", 7)
    assert done.started_at.tzinfo == UTC and done.started_at <= done.finished_at
    assert done.finished_at.tzinfo == UTC
    with pytest.raises(StoreError, match="no run 'nope'"):
        store.run("nope")


def test_add_rows_keeps_posts_and_rejected_rows_and_counts(store):
    run_id = store.start_run("import", "dump", "complaints.csv")
    counts = store.add_rows(run_id, [_post("1", source="dump"), _post("2", source="dump")],
                            [(3, "no text column", {"id": "3"}), (5, "bad date", ["x", 1])])
    assert counts == SaveCounts(new=2, seen=0)
    assert store.add_rows(run_id, [_post("1", source="dump")],
                          [(7, "empty text", None)]) == SaveCounts(new=0, seen=1)
    assert store.rejected_rows(run_id) == [(3, "no text column", {"id": "3"}),
                                           (5, "bad date", ["x", 1]), (7, "empty text", None)]
    run = store.run(run_id)
    # rows in = posts new + posts seen + rejected
    assert (run.rows_in, run.posts_new, run.posts_seen, run.rejected) == (
        6, 2, 1, 3)
    assert store.count_posts() == 2


def test_stats_summarise_posts_predictions_checkpoints_and_runs(store):
    store.save_posts([_post("1", brand="Acme", created_at=T0),
                      _post("2", brand="Acme", created_at=T0 + timedelta(days=2)),
                      _post("3", source="reddit", brand=None)])
    store.save_predictions([_prediction("1")])
    store.set_checkpoint("mastodon", "q", None, True, None, T0)
    run_id = store.start_run("collect", "mastodon", "q", "Acme")
    store.finish_run(run_id, "done", "no more pages", requests=3)
    stats = store.stats()
    assert stats["schema_version"] == SCHEMA_VERSION
    assert stats["posts"] == 3
    assert stats["by_source_brand"] == [
        {"source": "mastodon", "brand": "Acme", "posts": 2,
         "first": "2024-03-01T12:00:00.000000Z", "last": "2024-03-03T12:00:00.000000Z"},
        {"source": "reddit", "brand": None, "posts": 1, "first": None, "last": None}]
    assert stats["predictions"] == [{"model_version": "baseline-1", "posts": 1}]
    assert [(c["source"], c["query"], c["done"]) for c in stats["checkpoints"]] == [
        ("mastodon", "q", True)]
    assert [(r["status"], r["requests"], r["message"]) for r in stats["runs"]] == [
        ("done", 3, "no more pages")]


# --- save_page --------------------------------------------------------------------------------

def test_save_page_stores_posts_checkpoint_and_run_counters_together(store):
    run_id = store.start_run("collect", "mastodon", "q")
    counts = store.save_page("mastodon", "q", run_id, [_post("1"), _post("2")],
                             {"page": 2}, False, None, T0, requests=1)
    assert counts == SaveCounts(new=2, seen=0)
    store.save_page("mastodon", "q", run_id, [_post("2"), _post("3")], None, True, None, T0,
                    requests=3)
    assert store.get_checkpoint("mastodon", "q").done is True
    run = store.run(run_id)
    assert (run.pages, run.requests, run.rows_in, run.posts_new,
            run.posts_seen) == (2, 3, 4, 3, 1)


def test_save_page_is_all_or_nothing(store, monkeypatch):
    run_id = store.start_run("collect", "mastodon", "q")
    store.save_page("mastodon", "q", run_id, [_post("1")], {"page": 2}, False, None, None, 1)

    def broken_checkpoint(*args, **kwargs):
        raise sqlite3.OperationalError("disk I/O error (simulated)")

    with monkeypatch.context() as patch, \
            pytest.raises(sqlite3.OperationalError, match="simulated"):
        patch.setattr(store, "set_checkpoint", broken_checkpoint)
        store.save_page("mastodon", "q", run_id, [_post("2"), _post("3"), _post("1", text="x")],
                        {"page": 3}, False, None, None, 2)
    assert [(p.post_id, p.text) for p in store.iter_posts()] == [("1", _post("1").text)]
    assert store.get_checkpoint("mastodon", "q").state == {"page": 2}
    run = store.run(run_id)
    assert (run.pages, run.requests, run.posts_new) == (1, 1, 1)
    # the store is usable afterwards: no transaction was left open
    store.save_page("mastodon", "q", run_id, [_post("2")], {"page": 3}, False, None, None, 3)
    assert store.count_posts() == 2


def test_another_applications_sqlite_file_is_refused_untouched(tmp_path):
    import sqlite3

    path = tmp_path / "other.db"
    with sqlite3.connect(path) as other:
        other.execute("CREATE TABLE posts (id INTEGER)")
        other.execute("INSERT INTO posts VALUES (1)")
    with pytest.raises(StoreError, match="holds another application's tables"):
        open_store(path)
    with sqlite3.connect(path) as other:
        tables = {r[0] for r in other.execute("SELECT name FROM sqlite_master")}
        assert tables == {"posts"}


def test_another_applications_database_is_refused_untouched(store_db):
    """The test above on either backend, the other application's table made through the
    bare connection (which creates nothing of its own)."""
    _db_execute(store_db, "CREATE TABLE posts (id INTEGER)")
    _db_execute(store_db, "INSERT INTO posts VALUES (1)")
    with pytest.raises(StoreError, match="holds another application's tables"):
        open_store(store_db)
    other = _bare_db(store_db)
    try:
        assert other.table_names() == {"posts"}
        assert [tuple(r) for r in other.execute("SELECT id FROM posts").fetchall()] == [(1,)]
    finally:
        other.close()


def test_an_edited_post_loses_its_predictions_so_it_is_scored_again(store):
    store.save_posts([_post("1", text="late delivery"), _post("2", text="rude agent")])
    store.save_predictions([_prediction("1"), _prediction("2")])
    store.save_posts([_post("1", text="late delivery, now refunded"),
                      _post("2", text="rude agent")])
    assert [p.post_id for p in store.iter_unscored("baseline-1")] == ["1"]


def test_a_brands_posts_by_date_follow_the_posts_date_however_it_arrives(store):
    """post_brands keeps a copy of each post's date for the (brand, created_at) index: a
    date filled in later, or a later copy without a date, must not leave it stale."""
    from radar.store.history import latest_post_time

    when = datetime(2024, 5, 2, 8, 30, tzinfo=UTC)
    store.save_posts([_post("1", brand="A")])  # first seen undated
    store.save_posts([_post("1", brand="B", created_at=when)])  # dated, under a second brand
    store.save_posts([_post("1", brand="A")])  # a later copy without a date keeps it
    store.save_predictions([_prediction("1")])
    for brand in ("A", "B"):
        assert latest_post_time(store, brand) == when
        window = list(store.scored_posts("baseline-1", brand=brand,
                                         since=when - timedelta(hours=1),
                                         until=when + timedelta(hours=1)))
        assert [(p.post_id, p.brand, p.created_at) for p, _ in window] == [("1", brand, when)]
    assert list(store.scored_posts("baseline-1", brand="A", since=when + timedelta(hours=1))
                ) == []


def test_nul_characters_are_stored_alike_on_both_backends_and_resaving_changes_nothing(
        store):
    """PostgreSQL text cannot hold NUL: both backends store U+FFFD, so an id with NUL can be
    saved twice and a re-saved text with NUL keeps its predictions."""
    post = _post("id\x00two", text="a NUL \x00 here", brand="Acme")
    assert store.save_posts([post]) == SaveCounts(new=1, seen=0)
    store.save_predictions([_prediction("id\ufffdtwo")])
    assert store.save_posts([post]) == SaveCounts(new=0, seen=1)
    assert list(store.iter_unscored("baseline-1")) == []
    (stored,) = store.iter_posts()
    assert (stored.post_id, stored.text) == ("id\ufffdtwo", "a NUL \ufffd here")
