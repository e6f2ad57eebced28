"""Acceptance: a collection killed mid-run (SIGKILL or Ctrl-C) resumes with every post once.

A real subprocess runs ``collect_posts`` with a small source that uses ``HttpClient``
against a local paged JSON API (6 pages x 20 posts, each answer ~0.3 s late). Once the
store shows two committed pages the process is killed; the store must then hold whole
pages only, and a second process must finish the job without asking again for a page
already stored.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from pathlib import Path

import pytest

from radar.store import open_store

REPO = Path(__file__).resolve().parents[3]
PAGES = 6
PER_PAGE = 20
DELAY_S = 0.3
SOURCE = "paged"
QUERY_TERMS = "late delivery"

# Runs in a subprocess: argv = server URL, store path, run tag (sent as X-Run header).
COLLECT_SCRIPT = '''
import dataclasses
import json
import signal
import sys
from datetime import datetime

from radar.collect.base import Page, Query
from radar.collect.http import HttpClient
from radar.collect.runner import RunnerConfig, collect_posts
from radar.store import open_store
from nlp.types import Post


class PagedSource:
    name = "paged"
    newest_first = False

    def __init__(self, base_url, tag):
        self.http = HttpClient(base_url, headers={"X-Run": tag}, timeout=10)

    def fetch_page(self, query, checkpoint):
        number = checkpoint["page"] if checkpoint else 1
        body = self.http.get_json("/posts", {"q": query.terms, "page": number})
        posts = tuple(
            Post(source=self.name, post_id=item["id"], text=item["text"],
                 created_at=datetime.fromisoformat(item["created_at"]), raw=item)
            for item in body["items"])
        following = {"page": body["next"]} if body["next"] else None
        return Page(posts, following, wait=self.http.last_wait)


def main():
    url, db_path, tag = sys.argv[1:4]
    # a child of a non-interactive shell may start with SIGINT ignored; Ctrl-C must work here
    signal.signal(signal.SIGINT, signal.default_int_handler)
    store = open_store(db_path)
    try:
        result = collect_posts(PagedSource(url, tag), Query("late delivery", brand="Acme"),
                               store, config=RunnerConfig(max_retries=0))
    except KeyboardInterrupt:
        print(json.dumps({"interrupted": True}), flush=True)
        return 130
    finally:
        store.close()
    print(json.dumps(dataclasses.asdict(result)), flush=True)
    return 0


sys.exit(main())
'''


def _post_id(page: int, index: int) -> str:
    return f"{page}-{index:02d}"


def _page_ids(pages) -> set[str]:
    return {_post_id(page, i) for page in pages for i in range(PER_PAGE)}


def _paged_api(request):
    """GET /posts?page=N: 20 complaints a page, 6 pages, every answer a little late."""
    time.sleep(DELAY_S)
    if request.path != "/posts":
        return 404, {}, {"error": f"no route {request.path}"}
    page = int(request.query["page"][0])
    items = [{"id": _post_id(page, i),
              "text": f"Acme order #{page}{i:02d} is two weeks late and support is silent",
              "created_at": f"2024-06-{page:02d}T10:{i:02d}:00+00:00"}
             for i in range(PER_PAGE)]
    return 200, {}, {"items": items, "next": page + 1 if page < PAGES else None}


def _start(script: Path, url: str, db_path: Path, tag: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen([sys.executable, str(script), url, str(db_path), tag], cwd=REPO,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _running_pages(db_path: Path) -> int:
    """Pages the running collection has committed, read without taking any write lock."""
    if not db_path.exists():
        return 0
    try:
        with closing(sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=1)) as db:
            row = db.execute("SELECT pages FROM runs WHERE status = 'running'").fetchone()
    except sqlite3.Error:  # not created yet, or the schema is still being written
        return 0
    return row[0] if row else 0


def _wait_for_pages(process: subprocess.Popen, db_path: Path, pages: int,
                    timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while _running_pages(db_path) < pages:
        if process.poll() is not None:
            out, err = process.communicate()
            pytest.fail(f"collector exited early ({process.returncode}):\n{out}\n{err}")
        if time.monotonic() > deadline:
            process.kill()
            out, err = process.communicate()
            pytest.fail(f"no {pages} committed pages after {timeout_s} s:\n{out}\n{err}")
        time.sleep(0.02)


def _requested_pages(server, tag: str) -> list[int]:
    return [int(r.query["page"][0]) for r in server.requests if r.headers.get("x-run") == tag]


@pytest.fixture
def script(tmp_path) -> Path:
    path = tmp_path / "collect_script.py"
    path.write_text(COLLECT_SCRIPT, encoding="utf-8")
    return path


@pytest.mark.parametrize("stop", [signal.SIGKILL, signal.SIGINT], ids=["sigkill", "ctrl-c"])
def test_a_killed_collection_resumes_with_every_post_exactly_once(local_server, script,
                                                                  tmp_path, stop):
    server = local_server(_paged_api)
    db_path = tmp_path / "radar.db"

    first = _start(script, server.url, db_path, "first")
    try:
        _wait_for_pages(first, db_path, 2)
        first.send_signal(stop)
        out, err = first.communicate(timeout=15)
    finally:
        if first.poll() is None:
            first.kill()
            first.communicate()
    if stop == signal.SIGKILL:
        assert first.returncode == -signal.SIGKILL
    else:
        assert first.returncode == 130, err
        assert json.loads(out) == {"interrupted": True}

    # only whole pages, and the checkpoint points just past them
    with open_store(db_path) as store:
        (killed,) = store.stats()["runs"]
        committed = killed["pages"]
        assert 2 <= committed < PAGES, "the run must be stopped mid-way"
        assert {p.post_id for p in store.iter_posts()} == _page_ids(range(1, committed + 1))
        assert store.count_posts() == committed * PER_PAGE
        checkpoint = store.get_checkpoint(SOURCE, f"{QUERY_TERMS}|Acme|")
        assert (checkpoint.state, checkpoint.done) == ({"page": committed + 1}, False)
        if stop == signal.SIGINT:
            assert killed["status"] == "interrupted"
            assert "Ctrl-C" in killed["message"]
        else:
            assert killed["status"] == "running"  # nobody could record it; the next run will
    asked_first = _requested_pages(server, "first")
    assert asked_first[:committed] == list(range(1, committed + 1))
    assert len(asked_first) in (committed, committed + 1)  # perhaps one in flight

    second = _start(script, server.url, db_path, "second")
    try:
        out, err = second.communicate(timeout=30)
    finally:
        if second.poll() is None:
            second.kill()
            second.communicate()
    assert second.returncode == 0, err
    result = json.loads(out)
    assert (result["status"], result["done"], result["resumed"]) == ("done", True, True)
    assert result["pages"] == PAGES - committed
    assert result["posts_new"] == (PAGES - committed) * PER_PAGE
    assert result["posts_seen"] == 0
    # the resumed run asked only for the pages not yet stored, each once
    assert _requested_pages(server, "second") == list(range(committed + 1, PAGES + 1))

    with open_store(db_path) as store:
        posts = list(store.iter_posts(with_raw=True))
        ids = [p.post_id for p in posts]
        assert len(ids) == len(set(ids)) == PAGES * PER_PAGE == store.count_posts()
        assert set(ids) == _page_ids(range(1, PAGES + 1))
        assert all(p.brand == "Acme" and p.raw["id"] == p.post_id for p in posts)
        assert store.get_checkpoint(SOURCE, f"{QUERY_TERMS}|Acme|").done is True
        runs = store.stats()["runs"]
    by_status = sorted((r["status"], r["pages"]) for r in runs)
    assert by_status == sorted([("interrupted", committed), ("done", PAGES - committed)])
    (old,) = [r for r in runs if r["status"] == "interrupted"]
    assert ("killed or crashed" if stop == signal.SIGKILL else "Ctrl-C") in old["message"]
