"""``radar import``, ``radar collect``, ``radar sources`` and ``radar store``, end to end."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from radar.cli import app
from radar.store import open_store

runner = CliRunner()


def _flat(output: str) -> str:
    return " ".join(output.split())


def test_import_then_stats_then_rejects(tmp_path):
    db = tmp_path / "radar.db"
    dump = tmp_path / "reviews.csv"
    dump.write_bytes(b"id,text,brand\n1,on hold forever,Acme\n2,,Acme\n3,bill doubled\xff,Acme\n"
                     b"4,switching to Bolt,Acme\n")
    result = runner.invoke(app, ["import", str(dump), "--db", str(db)])
    assert result.exit_code == 0, result.output
    out = _flat(result.output)
    assert "rows in 4 = new 2 + already stored 0 + rejected 2" in out
    assert "rejected row 2 (line 3): empty text in column 'text'" in out
    assert "rejected row 3 (line 4): line 4 is not valid utf-8" in out

    stats = runner.invoke(app, ["store", "stats", "--db", str(db), "--json"])
    assert stats.exit_code == 0, stats.output
    data = json.loads(stats.output)
    assert data["posts"] == 2
    assert data["by_source_brand"] == [{"source": f"file:{dump.resolve()}", "brand": "Acme",
                                        "posts": 2, "first": None, "last": None}]
    run_id = data["runs"][0]
    assert run_id["status"] == "done" and run_id["rejected"] == 2

    with open_store(db) as store:
        run = store.stats()["runs"][0]
        assert run["rows_in"] == 4
        ids = store.db.execute("SELECT run_id FROM runs").fetchall()
    rejects = runner.invoke(app, ["store", "rejects", ids[0][0], "--db", str(db)])
    assert rejects.exit_code == 0, rejects.output
    assert "2 rejected rows" in rejects.output and "empty text" in rejects.output

    table = runner.invoke(app, ["store", "stats", "--db", str(db)], env={"COLUMNS": "200"})
    assert table.exit_code == 0 and "reviews.csv" in table.output


def test_import_refuses_unknown_format_and_reports_whole_file_errors(tmp_path):
    dump = tmp_path / "r.csv"
    dump.write_text("id,body\n1,x\n")
    bad_format = runner.invoke(app, ["import", str(dump), "--format", "xml",
                                     "--db", str(tmp_path / "d.db")])
    assert bad_format.exit_code == 1
    assert "--format 'xml': use one of csv, jsonl, parquet, twcs" in _flat(bad_format.output)
    no_text = runner.invoke(app, ["import", str(dump), "--db", str(tmp_path / "d.db")])
    assert no_text.exit_code == 1
    assert "no text column; name it with --text-col" in _flat(no_text.output)
    mapped = runner.invoke(app, ["import", str(dump), "--text-col", "body",
                                 "--db", str(tmp_path / "d.db")])
    assert mapped.exit_code == 0, mapped.output
    assert "new 1" in mapped.output


def test_store_stats_without_a_store_says_what_to_do(tmp_path):
    result = runner.invoke(app, ["store", "stats", "--db", str(tmp_path / "none.db")])
    assert result.exit_code == 1
    output = _flat(result.output)
    assert "no post store at" in output and "radar import FILE" in output


def test_store_path_from_the_environment(tmp_path, monkeypatch):
    db = tmp_path / "env.db"
    monkeypatch.setenv("RADAR_DB", str(db))
    dump = tmp_path / "r.jsonl"
    dump.write_text('{"text": "never again"}\n')
    assert runner.invoke(app, ["import", str(dump)]).exit_code == 0
    with open_store(db) as store:
        assert store.count_posts() == 1


def test_collect_checks_its_input_before_any_request(tmp_path):
    db = ["--db", str(tmp_path / "d.db")]
    unknown = runner.invoke(app, ["collect", "myspace", "-q", "acme", *db])
    assert unknown.exit_code == 1 and "unknown source 'myspace'" in unknown.output
    bad_since = runner.invoke(app, ["collect", "hackernews", "-q", "acme", "--since",
                                    "last week", *db])
    assert bad_since.exit_code == 1 and "expected an ISO 8601 date" in _flat(bad_since.output)
    bad_option = runner.invoke(app, ["collect", "hackernews", "-q", "acme", "-o", "colour",
                                     *db])
    assert bad_option.exit_code == 1 and "expected KEY=VALUE" in _flat(bad_option.output)
    foreign = runner.invoke(app, ["collect", "hackernews", "-q", "acme", "-o", "lang=en", *db])
    assert foreign.exit_code == 1 and "hackernews has no option ['lang']" in _flat(
        foreign.output)


def test_collect_without_credentials_names_the_variables(tmp_path, monkeypatch):
    monkeypatch.delenv("X_BEARER_TOKEN", raising=False)
    result = runner.invoke(app, ["collect", "x", "-q", "acme", "--db", str(tmp_path / "d.db")])
    assert result.exit_code == 1
    assert "X_BEARER_TOKEN" in result.output


def test_collect_without_the_snscrape_extra_prints_the_install_command(tmp_path, monkeypatch):
    import sys

    for name in ("snscrape", "snscrape.base", "snscrape.modules", "snscrape.modules.telegram"):
        monkeypatch.setitem(sys.modules, name, None)
    result = runner.invoke(app, ["collect", "snscrape-telegram", "-q", "flycomplaints",
                                 "--db", str(tmp_path / "d.db")], env={"COLUMNS": "300"})
    assert result.exit_code == 1
    # One error line, the extra's brackets intact (not eaten as console markup).
    assert "error: the Telegram source needs snscrape, from the 'snscrape' extra: pip install " \
           "-e '.[snscrape]'" in _flat(result.output)


def test_sources_lists_every_source_with_its_credentials():
    result = runner.invoke(app, ["sources"], env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    for name in ("mastodon", "bluesky", "reddit", "x", "hackernews", "appstore"):
        assert name in result.output
    assert "BLUESKY_APP_PASSWORD" in result.output and "REDDIT_CLIENT_SECRET" in result.output


def test_collect_end_to_end_against_a_local_server_then_incremental(tmp_path, local_server):
    from tests.radar.collect.conftest import load_fixture

    page = load_fixture("hackernews/page1.json")
    server = local_server({"/api/v1/search_by_date": [(200, {}, page)]})
    db = tmp_path / "radar.db"
    args = ["collect", "hackernews", "-q", "comcast", "--brand", "Comcast",
            "--base-url", server.url, "--db", str(db)]
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    assert "1 pages, 1 requests, 3 new posts, 0 already stored" in _flat(first.output)
    assert "done: no more pages" in _flat(first.output)
    with open_store(db) as store:
        posts = list(store.iter_posts())
    assert len(posts) == 3 and {p.brand for p in posts} == {"Comcast"}
    assert {p.source for p in posts} == {"hackernews"}
    assert server.requests[0].query["query"] == ["comcast"]

    again = runner.invoke(app, args)
    assert again.exit_code == 0, again.output
    # The finished query's next run asks only for what is newer than the newest stored post.
    assert "0 new posts" in _flat(again.output)
    assert any("created_at_i>=" in f for f in server.requests[1].query["numericFilters"][0]
               .split(","))
    with open_store(db) as store:
        assert store.count_posts() == 3
        runs = store.stats()["runs"]
    assert [r["status"] for r in runs] == ["done", "done"]


def test_collect_failure_exits_nonzero_with_the_reason(tmp_path, local_server):
    server = local_server({"/api/v1/search_by_date": [(503, {}, {"message": "down"})]})
    result = runner.invoke(app, ["collect", "hackernews", "-q", "x", "--base-url", server.url,
                                 "--max-retries", "0", "--db", str(tmp_path / "d.db")])
    assert result.exit_code == 1
    assert "failed: gave up after 1 consecutive failed requests" in _flat(result.output)
    assert "HTTP 503" in result.output
