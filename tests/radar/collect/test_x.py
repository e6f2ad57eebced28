"""The X source: API v2 recent search with a bearer token, through the runner.

Fixture shapes follow X's documented API v2:
- recent search: https://developer.x.com/en/docs/x-api/tweets/search/api-reference/get-tweets-search-recent
  (``data``, ``includes.users``, ``meta.newest_id/oldest_id/result_count/next_token``;
  no ``data`` key when result_count is 0)
- pagination, newest first: https://docs.x.com/x-api/posts/search/integrate/paginate
- errors inside a 200 (partial errors) and error bodies:
  https://docs.x.com/x-api/fundamentals/response-codes-and-errors
"""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from radar.collect.base import AuthError, ConfigError, Query, TransientError
from radar.collect.runner import RunnerConfig, collect_posts
from radar.collect.x import (
    CREDENTIALS,
    OPTIONS,
    RATE_LIMIT,
    SEARCH_PATH,
    TERMS,
    XSource,
    make_source,
)
from radar.store import open_store
from tests.radar.collect.conftest import load_fixture

BASE = "https://x.test"
NOW = datetime(2024, 5, 6, 15, 0, tzinfo=UTC)
PAGE1 = load_fixture("x/search_page1.json")
PAGE2 = load_fixture("x/search_page2.json")
PAGE3 = load_fixture("x/search_page3.json")
TOKEN1 = PAGE1["meta"]["next_token"]
TOKEN2 = PAGE2["meta"]["next_token"]
ALL_IDS = [t["id"] for page in (PAGE1, PAGE2, PAGE3) for t in page["data"]]
ROOT = "1787467851494326275"  # the post the first one replies to


def ok(body, headers=None):
    return (200, headers or {}, body)


def mock_transport(responses):
    """MockTransport answering recent search with ``responses`` in order (last repeats)."""
    seen: list[httpx.Request] = []
    queue = list(responses)

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        assert request.url.path == SEARCH_PATH
        status, headers, body = queue.pop(0) if len(queue) > 1 else queue[0]
        content = body if isinstance(body, bytes) else json.dumps(body).encode()
        return httpx.Response(status, headers={"content-type": "application/json", **headers},
                              content=content)

    return httpx.MockTransport(handler), seen


def source_for(responses, now=None):
    transport, seen = mock_transport(responses)
    clock = now or NOW.timestamp
    return XSource("bearer-abc", base_url=BASE, transport=transport, now=clock), seen


def test_module_describes_itself():
    assert CREDENTIALS == ("X_BEARER_TOKEN",)
    assert set(OPTIONS) == {"max_results"}
    assert "15-minute" in RATE_LIMIT and "X Developer" in TERMS
    assert XSource.name == "x" and XSource.newest_first is True


def test_page_parses_into_posts():
    source, seen = source_for([ok(PAGE1)])
    page = source.fetch_page(Query("xfinity"), None)

    assert [p.post_id for p in page.posts] == ALL_IDS[:3]
    reply, spanish, suspended = page.posts
    assert reply.source == "x"
    assert reply.text.startswith('@XfinitySupport 3rd outage this week & your bot says '
                                 '"no outage in your area".')
    assert reply.author_id == "1456789012"
    assert reply.created_at == datetime(2024, 5, 6, 14, 21, 9, tzinfo=UTC)
    assert reply.url == f"https://x.com/danaokafor/status/{reply.post_id}"
    assert reply.parent_id == ROOT
    assert reply.lang == "en"
    assert reply.raw == PAGE1["data"][0]
    assert spanish.lang == "es" and spanish.parent_id is None
    assert spanish.url == f"https://x.com/luciamtz_/status/{spanish.post_id}"
    # the author is missing from includes (the partial error says why): generic URL
    assert suspended.url == f"https://x.com/i/web/status/{suspended.post_id}"
    assert suspended.lang is None  # "und": X could not tell
    assert suspended.text == "xfinity 🙃🙃🙃"
    assert page.next_checkpoint == {"next_token": TOKEN1, "start_time": None}
    assert page.wait == 0.0

    (request,) = seen
    assert dict(request.url.params) == {
        "query": "xfinity", "max_results": "100", "sort_order": "recency",
        "tweet.fields": "created_at,lang,author_id,conversation_id,referenced_tweets,note_tweet",
        "expansions": "author_id", "user.fields": "username"}
    assert request.headers["authorization"] == "Bearer bearer-abc"


def test_only_a_reply_has_a_parent_and_long_posts_use_the_note_text():
    long_post = dict(PAGE3["data"][0], note_tweet={"text": "Xfinity raised my bill " + "x" * 300})
    body = dict(PAGE2, data=[*PAGE2["data"], long_post])
    source, _ = source_for([ok(body)])
    quoting, support_reply, long_one = source.fetch_page(Query("xfinity"), None).posts

    assert quoting.parent_id is None  # a quote is not a reply
    assert support_reply.parent_id == PAGE2["data"][1]["referenced_tweets"][0]["id"]
    assert support_reply.url == f"https://x.com/XfinitySupport/status/{support_reply.post_id}"
    assert len(long_one.text) == len("Xfinity raised my bill ") + 300


@pytest.mark.parametrize(("since", "expected"), [
    (datetime(2024, 5, 6, 10, 0, 5, tzinfo=UTC), "2024-05-06T10:00:05Z"),
    # older than the seven days recent search covers: clamped, plus a minute's margin
    (datetime(2024, 4, 1, tzinfo=UTC), "2024-04-29T15:01:00Z"),
    # too close to now for X: moved back half a minute
    (NOW - timedelta(seconds=5), "2024-05-06T14:59:30Z"),
])
def test_since_becomes_start_time_inside_the_window(since, expected):
    source, seen = source_for([ok(PAGE1)])
    page = source.fetch_page(Query("xfinity", since=since), None)

    assert seen[0].url.params["start_time"] == expected
    assert page.next_checkpoint == {"next_token": TOKEN1, "start_time": expected}


def test_later_pages_keep_the_first_start_time_unless_it_left_the_window():
    clock = [NOW.timestamp()]
    source, seen = source_for([ok(PAGE2)], now=lambda: clock[0])
    query = Query("xfinity", since=datetime(2024, 5, 1, tzinfo=UTC))
    checkpoint = {"next_token": TOKEN1, "start_time": "2024-05-02T08:00:00Z"}

    source.fetch_page(query, checkpoint)
    assert seen[-1].url.params["start_time"] == "2024-05-02T08:00:00Z"
    assert seen[-1].url.params["next_token"] == TOKEN1

    clock[0] += timedelta(days=3).total_seconds()  # resumed three days later
    source.fetch_page(query, checkpoint)
    assert seen[-1].url.params["start_time"] == "2024-05-02T15:01:00Z"
    # the old token belonged to the old start_time: start again from the newest posts
    assert "next_token" not in seen[-1].url.params


def test_no_results_is_an_empty_final_page():
    source, _ = source_for([ok(load_fixture("x/empty.json"))])
    page = source.fetch_page(Query("xfinity"), None)
    assert page.posts == () and page.next_checkpoint is None


@pytest.mark.parametrize(("body", "message"), [
    (b'{"data": [', "malformed JSON"),
    (load_fixture("x/errors_only.json"), "'errors' but neither 'data' nor 'meta'.*Not Found"),
    (load_fixture("x/data_not_a_list.json"), "'data' is a dict"),
    ({"data": PAGE3["data"]}, "'meta' is missing"),
    ([PAGE1], "expected a JSON object"),
])
def test_malformed_answers_are_transient_errors(body, message):
    source, _ = source_for([ok(body)])
    with pytest.raises(TransientError, match=message):
        source.fetch_page(Query("xfinity"), None)


def test_malformed_posts_are_rejected_and_the_rest_of_the_page_kept():
    body = json.loads(json.dumps(PAGE1))
    del body["data"][0]["id"]
    body["data"][2]["created_at"] = "yesterday afternoon"
    body["data"].append(["1787479436161974999"])
    source, _ = source_for([ok(body)])
    page = source.fetch_page(Query("xfinity"), None)

    assert [p.post_id for p in page.posts] == ["1787483844375478281"]
    no_id, bad_time, not_an_object = page.rejected
    assert (no_id.item_id, no_id.reason, no_id.raw) == (None, "post has no string 'id'",
                                                        body["data"][0])
    assert bad_time.item_id == "1787479436161974284"
    assert "created_at" in bad_time.reason and "yesterday afternoon" in bad_time.reason
    assert bad_time.raw == body["data"][2]
    assert (not_an_object.item_id, not_an_object.raw) == (None, ["1787479436161974999"])
    assert "expected a post object" in not_an_object.reason
    assert page.next_checkpoint["next_token"] == TOKEN1


@pytest.mark.parametrize(("options", "message"), [
    ({"max_results": "5"}, "from 10 to 100"),
    ({"max_results": "lots"}, "from 10 to 100"),
    ({"lang": "en"}, "unknown query option"),
])
def test_bad_options_are_config_errors_before_any_request(options, message):
    source, seen = source_for([ok(PAGE1)])
    with pytest.raises(ConfigError, match=message):
        source.fetch_page(Query("xfinity", options=options), None)
    assert seen == []


def test_max_results_option_is_sent():
    source, seen = source_for([ok(PAGE1)])
    source.fetch_page(Query("xfinity", options={"max_results": "25"}), None)
    assert seen[0].url.params["max_results"] == "25"


def test_pagination_through_the_runner(tmp_path):
    source, seen = source_for([ok(PAGE1), ok(PAGE2), ok(PAGE3)])
    store = open_store(tmp_path / "radar.db")
    query = Query("xfinity", brand="Xfinity")

    result = collect_posts(source, query, store, sleep=pytest.fail)

    assert (result.status, result.done, result.pages, result.posts_new) == ("done", True, 3, 6)
    assert [r.url.params.get("next_token") for r in seen] == [None, TOKEN1, TOKEN2]
    checkpoint = store.get_checkpoint("x", query.key)
    assert checkpoint.done and checkpoint.state is None
    stored = list(store.iter_posts(with_raw=True))
    assert sorted(p.post_id for p in stored) == sorted(ALL_IDS)
    assert {p.brand for p in stored} == {"Xfinity"}
    assert all(p.raw["id"] == p.post_id for p in stored)


def test_429_waits_as_told_then_succeeds(tmp_path):
    limited = (429, {"Retry-After": "7"}, {"title": "Too Many Requests", "status": 429,
                                           "detail": "Too Many Requests", "type": "about:blank"})
    source, seen = source_for([limited, ok(PAGE3)])
    waits: list[float] = []

    result = collect_posts(source, Query("xfinity"), open_store(tmp_path / "radar.db"),
                           sleep=waits.append)

    assert waits == [7.0]
    assert (result.status, result.posts_new, len(seen)) == ("done", 1, 2)


def test_429_without_retry_after_waits_until_the_reset_epoch(tmp_path):
    reset = {"x-rate-limit-limit": "450", "x-rate-limit-remaining": "0",
             "x-rate-limit-reset": str(int(NOW.timestamp()) + 90)}
    source, _ = source_for([(429, reset, {"title": "Too Many Requests"}), ok(PAGE3)])
    waits: list[float] = []

    collect_posts(source, Query("xfinity"), open_store(tmp_path / "radar.db"),
                  sleep=waits.append)

    assert waits == [90.0]


def test_used_up_window_on_a_success_becomes_the_page_wait():
    headers = {"x-rate-limit-remaining": "0", "x-rate-limit-reset": str(int(NOW.timestamp()) + 600)}
    source, _ = source_for([ok(PAGE1, headers)])
    assert source.fetch_page(Query("xfinity"), None).wait == 600.0


def test_server_error_backs_off_then_succeeds(tmp_path):
    source, _ = source_for([(503, {}, {"title": "Service Unavailable"}), ok(PAGE3)])
    waits: list[float] = []
    config = RunnerConfig()

    result = collect_posts(source, Query("xfinity"), open_store(tmp_path / "radar.db"),
                           config=config, sleep=waits.append, rng=random.Random(0))

    assert waits == [config.backoff.delay(1, random.Random(0))]
    assert (result.status, result.posts_new) == ("done", 1)


def test_a_rejected_post_is_stored_with_the_run_and_collection_goes_on(tmp_path):
    broken = json.loads(json.dumps(PAGE2))
    del broken["data"][1]["text"]
    source, seen = source_for([ok(PAGE1), ok(broken), ok(PAGE3)])
    store = open_store(tmp_path / "radar.db")
    query = Query("xfinity", brand="Xfinity")

    result = collect_posts(source, query, store, sleep=pytest.fail)

    assert (result.status, result.done, result.pages) == ("done", True, 3)
    assert (result.rejected, result.posts_new) == (1, 5)
    assert [r.url.params.get("next_token") for r in seen] == [None, TOKEN1, TOKEN2]
    lost = broken["data"][1]["id"]
    assert sorted(p.post_id for p in store.iter_posts()) == sorted(set(ALL_IDS) - {lost})
    (row,) = store.rejected_rows(result.run_id)
    _, reason, raw = row
    assert reason == f"post {lost}: no 'text'"  # the id named once
    assert raw == broken["data"][1]
    assert store.get_checkpoint("x", query.key).done


def test_invalid_json_through_the_runner_stores_nothing(tmp_path):
    source, _ = source_for([(200, {}, b"<html>upstream</html>")])
    store = open_store(tmp_path / "radar.db")

    result = collect_posts(source, Query("xfinity"), store, config=RunnerConfig(max_retries=1),
                           sleep=lambda s: None, rng=random.Random(0))

    assert result.status == "failed" and "malformed JSON" in result.reason
    assert store.count_posts() == 0


def test_refused_token_stops_the_run(tmp_path):
    unauthorized = (401, {}, {"title": "Unauthorized", "type": "about:blank", "status": 401,
                              "detail": "Unauthorized"})
    source, seen = source_for([unauthorized])
    store = open_store(tmp_path / "radar.db")

    with pytest.raises(AuthError, match="HTTP 401") as caught:
        collect_posts(source, Query("xfinity"), store, sleep=pytest.fail)

    assert "X_BEARER_TOKEN" in str(caught.value) and "bearer-abc" not in str(caught.value)
    assert len(seen) == 1  # not retried
    assert store.stats()["runs"][0]["status"] == "failed"


def test_make_source_needs_the_bearer_token():
    with pytest.raises(AuthError, match="X_BEARER_TOKEN"):
        make_source(env={})
    with pytest.raises(AuthError, match="X_BEARER_TOKEN"):
        make_source(env={"X_BEARER_TOKEN": "   "})


def test_end_to_end_against_a_local_server(local_server, tmp_path):
    pages = {None: PAGE1, TOKEN1: PAGE2, TOKEN2: PAGE3}

    def x_api(request):
        if request.path != SEARCH_PATH:
            return 404, {}, {"title": "Not Found Error"}
        token = request.query.get("next_token", [None])[0]
        return 200, {"x-rate-limit-remaining": "449"}, pages[token]

    server = local_server(x_api)
    env = {"X_BEARER_TOKEN": "bearer-abc"}
    store = open_store(tmp_path / "radar.db")
    query = Query("xfinity", brand="Xfinity")

    first = collect_posts(make_source(base_url=server.url, env=env), query, store,
                          sleep=pytest.fail)

    assert (first.status, first.pages, first.posts_new) == ("done", 3, 6)
    assert store.count_posts() == 6
    assert sorted(p.post_id for p in store.iter_posts()) == sorted(ALL_IDS)
    assert [r.query.get("next_token") for r in server.requests] == [None, [TOKEN1], [TOKEN2]]
    assert {r.headers["authorization"] for r in server.requests} == {"Bearer bearer-abc"}

    # a scheduled re-run asks from the newest stored post on and stores nothing twice
    again = collect_posts(make_source(base_url=server.url, env=env), query, store,
                          sleep=pytest.fail)
    # the posts within the runner's one-hour look-back are seen again, stored once
    assert (again.status, again.posts_new, again.posts_seen) == ("done", 0, 3)
    assert "start_time" in server.requests[-1].query
    restart = collect_posts(make_source(base_url=server.url, env=env), query, store,
                            restart=True, sleep=pytest.fail)
    assert (restart.posts_new, restart.posts_seen) == (0, 6)
    assert store.count_posts() == 6
