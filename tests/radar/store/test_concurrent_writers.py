"""Several processes writing one store at once, on SQLite and on a real PostgreSQL server
(issue 19): every row lands exactly once, nobody fails with "database is locked" or a
traceback, and a brand-new store created by several processes at once comes up once. A
URL of a database we cannot store into is refused, not turned into a file named like it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from radar.cli import app
from radar.store import StoreError, open_store, resolve_db_path
from tests.conftest import REPO

ROWS = 3000


def _dump(path: Path, prefix: str) -> Path:
    lines = ["id,text,brand,author_id,created_at"]
    lines += [f"{prefix}{i},post {i} from {prefix} about the bill,Acme,{prefix}u{i % 97},"
              f"2024-01-{1 + i % 28:02d}T10:00:00Z" for i in range(ROWS)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_three_imports_into_one_new_store_at_once_all_land(tmp_path, store_db):
    db = store_db  # no store there yet: all three processes create and migrate it
    dumps = [_dump(tmp_path / f"{name}.csv", name) for name in ("a", "b", "c")]
    env = {**os.environ, "PYTHONPATH": str(REPO), "COLUMNS": "200"}
    procs = [subprocess.Popen([sys.executable, "-m", "radar.cli", "import", str(d), "--db",
                               str(db)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, env=env) for d in dumps]
    results = [(p.wait(timeout=300), p.stdout.read(), p.stderr.read()) for p in procs]
    for code, out, err in results:
        assert code == 0, (out, err)
        assert "locked" not in out + err and "Traceback" not in err
        assert f"rows in {ROWS:,} = new {ROWS:,}" in out, out
    with open_store(db) as store:
        assert store.db.execute("SELECT COUNT(*) FROM posts").fetchone()[0] == 3 * ROWS
        assert store.db.execute("SELECT COUNT(*) FROM schema_version").fetchone()[0] == 1


@pytest.mark.parametrize("url", ["mysql://x/y", "sqlite:///tmp/x.db", "oracle://h/db"])
def test_a_database_url_we_cannot_store_into_is_refused_and_no_file_is_made(url, tmp_path,
                                                                             monkeypatch):
    monkeypatch.chdir(tmp_path)
    dump = _dump(tmp_path / "d.csv", "d")
    result = CliRunner().invoke(app, ["import", str(dump), "--db", url])
    assert result.exit_code == 1
    assert "is a database URL complaint-radar cannot store into" in " ".join(
        result.output.split())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.csv"]  # nothing created
    monkeypatch.setenv("RADAR_DB", url)
    with pytest.raises(StoreError, match="cannot store into"):
        resolve_db_path()


@pytest.mark.parametrize("url", ["postgresql://user:s3cret@127.0.0.1:1/db",
                                 "postgres://user:s3cret@127.0.0.1:1/db"])
def test_a_postgres_store_out_of_reach_fails_clearly_and_no_file_is_made(url, tmp_path,
                                                                         monkeypatch):
    """Before, a PostgreSQL URL silently became a SQLite file named like it."""
    monkeypatch.chdir(tmp_path)
    dump = _dump(tmp_path / "d.csv", "d")
    result = CliRunner().invoke(app, ["import", str(dump), "--db", url])
    output = " ".join(result.output.split())
    assert result.exit_code == 1, output
    assert "cannot connect to postgresql://user:***@127.0.0.1:1/db" in output
    assert "s3cret" not in output and "Traceback" not in output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.csv"]


def test_a_postgres_url_without_a_database_is_refused(monkeypatch):
    monkeypatch.setenv("RADAR_DB", "postgresql://user@host:5432")
    with pytest.raises(StoreError, match="names no database"):
        resolve_db_path()


def _monitor_and_import(tmp_path: Path, store_db: str, batch: int, delay: float):
    """A monitor config importing 400 rows from ``dumps/`` and scoring in batches of
    ``batch``, a second dump of ROWS rows for another process to import, and a model
    slow enough (``delay`` s a batch) for the other writers to write between batches."""
    import time

    from tests.radar.monitor.test_cycle import FakeClassifier, _dump, imports_only_config

    config = imports_only_config(tmp_path, score_batch=batch, store=store_db)
    _dump(tmp_path / "dumps" / "a.csv", 0, 400)
    other = tmp_path / "other.csv"
    _dump(other, 1000, ROWS)

    class Slow(FakeClassifier):
        def predict(self, texts, keys=None):
            time.sleep(delay)
            return super().predict(texts, keys)

    return config, other, Slow


def test_an_import_while_a_monitor_cycle_scores_loses_nothing(tmp_path, store_db):
    """A monitor cycle scoring the store in small batches (slowly) while another process
    imports a file into it: both finish, every row of both is stored once, and every post
    the cycle saw is scored exactly once."""

    from radar.monitor.cycle import Stop, run_cycle

    config, other, Slow = _monitor_and_import(tmp_path, store_db, batch=20, delay=0.05)

    env = {**os.environ, "PYTHONPATH": str(REPO), "COLUMNS": "200"}
    with open_store(config.store) as store:
        store.db.execute("SELECT 1")  # the store exists before the import starts
        importer = subprocess.Popen(
            [sys.executable, "-m", "radar.cli", "import", str(other), "--db",
             str(config.store), "--source", "other", "--brand", "Acme"], stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True, env=env)
        result = run_cycle(config, store, Slow, Stop(), log=lambda m: None)
        code = importer.wait(timeout=300)
        out, err = importer.stdout.read(), importer.stderr.read()
        assert code == 0 and "locked" not in out + err, (out, err)
        assert f"rows in {ROWS:,} = new {ROWS:,}" in out, out
        assert not result.errors and result.scored >= 400
        posts = store.db.execute("SELECT COUNT(*) FROM posts").fetchone()[0]
        assert posts == 400 + ROWS
        duplicates = store.db.execute(
            "SELECT COUNT(*) FROM (SELECT source, post_id, model_version FROM predictions "
            "GROUP BY 1, 2, 3 HAVING COUNT(*) > 1) AS twice").fetchone()[0]
        assert duplicates == 0


COLLECT_PAGES, PER_PAGE = 30, 40


class _SlowPagedSource:
    """A collection source whose pages come a little late, so collection overlaps the rest."""

    name = "paged"
    newest_first = False

    def fetch_page(self, query, checkpoint):
        import time
        from datetime import UTC, datetime, timedelta

        from nlp.types import Post
        from radar.collect.base import Page

        page = checkpoint["page"] if checkpoint else 1
        time.sleep(0.03)
        when = datetime(2024, 3, 1, tzinfo=UTC) + timedelta(hours=page)
        posts = tuple(Post(source=self.name, post_id=f"{page}-{i}", author_id=f"c{i % 13}",
                           text=f"Acme order {page}-{i} is late, I'm switching", created_at=when)
                      for i in range(PER_PAGE))
        return Page(posts, {"page": page + 1} if page < COLLECT_PAGES else None)


def test_a_collector_an_import_a_monitor_and_a_dashboard_at_once(tmp_path, store_db):
    """The whole team on one store: a collector (thread) and an import (process) write,
    a monitor cycle scores in small batches, and the dashboard is read all the while.
    Every row lands once, every post the cycle saw is scored once, every page answers 200,
    and nothing says locked or prints a traceback."""
    import threading

    from fastapi.testclient import TestClient

    from radar.collect.base import Query
    from radar.collect.runner import RunnerConfig, collect_posts
    from radar.monitor.cycle import Stop, run_cycle
    from serve import ServeSettings, create_app

    config, other, Slow = _monitor_and_import(tmp_path, store_db, batch=25, delay=0.03)

    with open_store(store_db) as store:
        store.db.execute("SELECT 1")  # created before the writers start
    done = threading.Event()
    failures: list[str] = []
    collected = {}
    pages: list[int] = []

    def collect() -> None:
        try:
            with open_store(store_db) as own:
                collected["result"] = collect_posts(
                    _SlowPagedSource(), Query("late", brand="Acme"), own,
                    config=RunnerConfig(max_retries=0), sleep=lambda s: None)
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            failures.append(f"collector: {exc!r}")

    def read_dashboard() -> None:
        settings = ServeSettings(model_dir=tmp_path / "no-model", db_path=store_db)
        with TestClient(create_app(settings)) as client:
            while not done.is_set():
                for path in ("/", "/overview.csv"):
                    response = client.get(path)
                    pages.append(response.status_code)
                    if response.status_code != 200 or "locked" in response.text:
                        failures.append(f"dashboard {path}: {response.status_code}")

    env = {**os.environ, "PYTHONPATH": str(REPO), "COLUMNS": "200"}
    threads = [threading.Thread(target=collect), threading.Thread(target=read_dashboard)]
    for thread in threads:
        thread.start()
    importer = subprocess.Popen(
        [sys.executable, "-m", "radar.cli", "import", str(other), "--db", store_db,
         "--source", "other", "--brand", "Acme"], stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, env=env)
    try:
        with open_store(store_db) as store:
            result = run_cycle(config, store, Slow, Stop(), log=lambda m: None)
        code = importer.wait(timeout=300)
        threads[0].join(timeout=300)
    finally:
        done.set()
        threads[1].join(timeout=60)
    out, err = importer.stdout.read(), importer.stderr.read()
    assert failures == []
    assert code == 0 and "locked" not in out + err and "Traceback" not in err, (out, err)
    assert f"rows in {ROWS:,} = new {ROWS:,}" in out, out
    assert collected["result"].status == "done"
    assert collected["result"].posts_new == COLLECT_PAGES * PER_PAGE
    assert not result.errors and result.scored >= 400
    assert len(pages) >= 3 and set(pages) == {200}
    with open_store(store_db) as store:
        by_source = dict(store.db.execute(
            "SELECT source, COUNT(*) FROM posts GROUP BY source").fetchall())
        twice = store.db.execute(
            "SELECT COUNT(*) FROM (SELECT source, post_id, model_version FROM predictions "
            "GROUP BY 1, 2, 3 HAVING COUNT(*) > 1) AS twice").fetchone()[0]
    assert by_source == {"other": ROWS, "paged": COLLECT_PAGES * PER_PAGE,
                         next(s for s in by_source if s not in ("other", "paged")): 400}
    assert twice == 0


@pytest.mark.parametrize("url", ["postgresql:/radar:s3cret@dbhost/radar",
                                 "postgresql://radar:s3cret@dbhost:54x2/radar",
                                 "postgres ql://radar:s3cret@dbhost/radar"])
def test_a_malformed_url_is_refused_without_its_password_and_no_file_is_made(
        url, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["store", "stats", "--db", url])
    output = " ".join(result.output.split())
    assert result.exit_code == 1, output
    assert "s3cret" not in output and "***" in output and "Traceback" not in output
    assert list(tmp_path.iterdir()) == []


def test_a_password_in_the_query_string_is_hidden_too():
    from radar.store import describe_target

    assert describe_target("postgresql://radar@h/db?password=s3cret") == \
        "postgresql://radar@h/db?password=***"
