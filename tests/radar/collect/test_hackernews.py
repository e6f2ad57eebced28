"""Hacker News source: HN Search API (Algolia) ``search_by_date``, paged by time.

Response shape checked against https://hn.algolia.com/api (``hits`` with ``objectID``,
``created_at``, ``created_at_i``, ``author``, ``title``, ``story_text``, ``comment_text``,
``story_id``, ``parent_id``, ``_tags``; top level ``nbHits``, ``page``, ``nbPages``,
``hitsPerPage``, ``exhaustiveNbHits``, ``processingTimeMS``, ``params``).
"""

from __future__ import annotations

import copy
import random
from datetime import UTC, datetime

import httpx
import pytest

from radar.collect import hackernews
from radar.collect.base import AuthError, ConfigError, Query, TransientError
from radar.collect.hackernews import HackerNewsSource, html_to_text, make_source
from radar.collect.runner import RunnerConfig, collect_posts
from radar.store import open_store
from tests.radar.collect.conftest import load_fixture

BASE = "https://hn.algolia.com"
B1 = 1717425000  # oldest second of page 1, shared by two comments
B2 = 1717419600  # oldest second of page 2
PAGES = {None: "page1.json", f"created_at_i<={B1}": "page2.json",
         f"created_at_i<={B2}": "page3.json"}
ALL_IDS = {"40571234", "40570001", "40569990", "40569985", "40569000"}


def fixture(name: str) -> dict:
    return load_fixture(f"hackernews/{name}")


def by_filter(request: httpx.Request) -> httpx.Response:
    """The recorded pages, chosen by the time filter the source sent."""
    name = PAGES.get(request.url.params.get("numericFilters"))
    if name is None:
        return httpx.Response(400, json={"message": "unexpected numericFilters"})
    return httpx.Response(200, json=fixture(name))


def recording(*responders):
    """A MockTransport answering with each responder in turn (the last one repeats)."""
    requests: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        responder = responders[min(len(requests), len(responders)) - 1]
        return responder(request) if callable(responder) else responder

    return httpx.MockTransport(handle), requests


def source_with(*responders, hits_per_page: int = 3):
    transport, requests = recording(*responders)
    return HackerNewsSource(BASE, transport=transport, hits_per_page=hits_per_page), requests


def hit(object_id: str, second: int, text: str = "Comcast hold music again") -> dict:
    return {"objectID": object_id, "created_at_i": second, "author": "someone",
            "comment_text": text, "parent_id": 1, "story_id": 1,
            "_tags": ["comment", "author_someone", "story_1"]}


# --- 1. one page -------------------------------------------------------------------------

def test_a_page_parses_into_posts():
    source, requests = source_with(by_filter)
    page = source.fetch_page(Query("comcast"), None)

    assert [p.post_id for p in page.posts] == ["40571234", "40570001", "40569990"]
    comment, story, _ = page.posts
    assert comment.text == (
        "Comcast put me on hold for 2 hours and 14 minutes. The IVR kept saying "
        "\"I didn't get that\" & sent me back to the main menu.\n\n"
        "I'm switching to the fiber co-op as soon as they reach my street: "
        "https://example.org/fiber")
    assert comment.created_at == datetime(2024, 6, 3, 16, 0, tzinfo=UTC)
    assert comment.created_at.utcoffset().total_seconds() == 0
    assert comment.url == "https://news.ycombinator.com/item?id=40571234"
    assert comment.parent_id == "40570001"
    assert comment.author_id == "dsl_refugee"
    assert comment.source == "hackernews" and comment.lang is None
    assert comment.raw == fixture("page1.json")["hits"][0]  # _highlightResult and all

    assert story.text == (
        "Ask HN: Why does every ISP support line make you repeat your account number?\n"
        "Three transfers at Comcast, three times reading my account number out loud. "
        "Nobody knows who I am once the call is transferred.\n\n"
        "Is there any ISP where the agent actually sees your history?")
    assert story.parent_id is None
    assert story.created_at == datetime(2024, 6, 3, 15, 20, tzinfo=UTC)

    assert page.next_checkpoint == {"before": B1, "seen": ["40569990"]}
    params = requests[0].url.params
    assert requests[0].url.path == "/api/v1/search_by_date"
    assert params["query"] == "comcast"
    assert params["tags"] == "(story,comment)"
    assert params["hitsPerPage"] == "3"
    assert "numericFilters" not in params


def test_html_to_text_keeps_paragraphs_and_unescapes():
    assert html_to_text("<p>one</p><p>two &amp; three</p>") == "one\n\ntwo & three"
    assert html_to_text("first<p>second<br>third") == "first\n\nsecond\nthird"
    assert html_to_text("<i>never</i> again &gt;:(") == "never again >:("


# --- the boundary second -----------------------------------------------------------------

def test_hits_sharing_the_boundary_second_are_kept_once():
    source, requests = source_with(by_filter)
    page = source.fetch_page(Query("comcast"), {"before": B1, "seen": ["40569990"]})

    assert requests[0].url.params["numericFilters"] == f"created_at_i<={B1}"
    # 40569990 came back (same second) and is dropped; 40569985 shares its second and is kept
    assert [p.post_id for p in page.posts] == ["40569985", "40569000"]
    assert page.next_checkpoint == {"before": B2, "seen": ["40569000"]}


def test_a_page_of_only_seen_boundary_hits_is_the_last():
    source, _ = source_with(by_filter)
    page = source.fetch_page(Query("comcast"), {"before": B2, "seen": ["40569000"]})
    assert page.posts == ()
    assert page.next_checkpoint is None


def test_empty_hits_is_the_last_page():
    source, _ = source_with(httpx.Response(200, json=fixture("empty.json")))
    page = source.fetch_page(Query("comcast"), {"before": 1717000000, "seen": []})
    assert page.posts == () and page.next_checkpoint is None


def test_new_hits_in_the_boundary_second_join_the_seen_list():
    body = {"hits": [hit("a", 500), hit("b", 500), hit("c", 500)], "nbHits": 4, "page": 0,
            "nbPages": 2, "hitsPerPage": 3}
    source, _ = source_with(httpx.Response(200, json=body))
    page = source.fetch_page(Query("comcast"), {"before": 500, "seen": ["a"]})
    assert [p.post_id for p in page.posts] == ["b", "c"]
    assert page.next_checkpoint == {"before": 500, "seen": ["a", "b", "c"]}


def test_a_full_page_of_seen_hits_steps_past_that_second():
    body = {"hits": [hit("a", 500), hit("b", 500), hit("c", 500)], "nbHits": 9, "page": 0,
            "nbPages": 3, "hitsPerPage": 3}
    source, _ = source_with(httpx.Response(200, json=body))
    page = source.fetch_page(Query("comcast"), {"before": 500, "seen": ["a", "b", "c"]})
    assert page.posts == ()
    assert page.next_checkpoint == {"before": 499, "seen": []}


# --- options -----------------------------------------------------------------------------

def test_since_and_tags_go_into_the_request():
    source, requests = source_with(httpx.Response(200, json=fixture("empty.json")))
    since = datetime(2024, 6, 3, 14, 0, tzinfo=UTC)
    source.fetch_page(Query("comcast", since=since, options={"tags": "comment"}),
                      {"before": B1, "seen": []})
    params = requests[0].url.params
    assert params["tags"] == "comment"
    assert params["numericFilters"] == f"created_at_i<={B1},created_at_i>={int(since.timestamp())}"


@pytest.mark.parametrize("options, words", [({"tags": "ask_hn"}, ["tags", "both"]),
                                            ({"sort": "date"}, ["sort", "tags"])])
def test_bad_options_are_config_errors(options, words):
    source, requests = source_with(by_filter)
    with pytest.raises(ConfigError) as info:
        source.fetch_page(Query("comcast", options=options), None)
    assert all(word in str(info.value) for word in words)
    assert requests == []  # refused before asking the platform


# --- 2. pagination through the runner ----------------------------------------------------

def test_pages_through_the_runner_into_the_store(tmp_path):
    source, requests = source_with(by_filter)
    store = open_store(tmp_path / "radar.db")
    query = Query("comcast", brand="Comcast")
    result = collect_posts(source, query, store, sleep=lambda s: None)

    assert (result.status, result.done, result.pages, result.requests) == ("done", True, 3, 3)
    assert result.posts_new == 5
    assert [r.url.params.get("numericFilters") for r in requests] == [
        None, f"created_at_i<={B1}", f"created_at_i<={B2}"]
    stored = list(store.iter_posts(with_raw=True))
    assert {p.post_id for p in stored} == ALL_IDS
    assert {p.brand for p in stored} == {"Comcast"}
    checkpoint = store.get_checkpoint("hackernews", query.key)
    assert checkpoint.done and checkpoint.state is None


# --- 3. rate limited ---------------------------------------------------------------------

def test_429_waits_as_told_then_succeeds(tmp_path):
    source, requests = source_with(httpx.Response(429, headers={"Retry-After": "7"}), by_filter)
    waits: list[float] = []
    result = collect_posts(source, Query("comcast"), open_store(tmp_path / "radar.db"),
                           sleep=waits.append)
    assert waits == [7.0]
    assert result.status == "done" and result.posts_new == 5
    assert len(requests) == 4  # the refused one, then three pages


# --- 4. server error ---------------------------------------------------------------------

def test_5xx_backs_off_then_succeeds(tmp_path):
    source, _ = source_with(httpx.Response(503, text="upstream timeout"), by_filter)
    waits: list[float] = []
    config = RunnerConfig()
    result = collect_posts(source, Query("comcast"), open_store(tmp_path / "radar.db"),
                           config=config, sleep=waits.append, rng=random.Random(0))
    assert waits == [config.backoff.delay(1, random.Random(0))]
    assert 0.5 <= waits[0] <= 1.0
    assert result.status == "done" and result.posts_new == 5


# --- 5. malformed answers ----------------------------------------------------------------

@pytest.mark.parametrize("response, words", [
    (httpx.Response(200, text="<html>Service Unavailable"), ["malformed JSON"]),
    (httpx.Response(200, json={"results": []}), ["'hits'", "results"]),
    (httpx.Response(200, json={"hits": {"objectID": "1"}}), ["'hits'"]),
])
def test_malformed_answers_are_transient(response, words):
    source, _ = source_with(response)
    with pytest.raises(TransientError) as info:
        source.fetch_page(Query("comcast"), None)
    assert all(word in str(info.value) for word in words)


def test_a_hit_without_its_time_is_rejected_and_the_page_still_leads_on():
    body = copy.deepcopy(fixture("page1.json"))
    del body["hits"][1]["created_at_i"]
    source, _ = source_with(httpx.Response(200, json=body))
    page = source.fetch_page(Query("comcast"), None)

    assert [p.post_id for p in page.posts] == ["40571234", "40569990"]
    (rejected,) = page.rejected
    assert rejected.item_id == "40570001"
    assert "created_at_i" in rejected.reason
    assert rejected.raw == body["hits"][1]
    # Three hits of three: a full page, so there is more (two posts alone would be short).
    assert page.next_checkpoint == {"before": B1, "seen": ["40569990"]}


def test_a_full_page_of_rejected_hits_pages_on_from_their_times():
    no_id = [{k: v for k, v in hit(i, second).items() if k != "objectID"}
             for i, second in (("a", 600), ("b", 550))]
    body = {"hits": [*no_id, ["not", "a", "hit"]], "nbHits": 9, "hitsPerPage": 3}
    source, _ = source_with(httpx.Response(200, json=body))
    page = source.fetch_page(Query("comcast"), None)

    assert page.posts == ()
    assert [r.item_id for r in page.rejected] == [None, None, None]
    assert "objectID" in page.rejected[0].reason and "hit object" in page.rejected[2].reason
    assert page.rejected[2].raw == ["not", "a", "hit"]
    assert page.next_checkpoint == {"before": 550, "seen": []}


def test_a_full_page_without_any_readable_time_is_malformed():
    body = {"hits": [{k: v for k, v in hit(i, 500).items() if k != "created_at_i"}
                     for i in ("a", "b", "c")]}
    source, _ = source_with(httpx.Response(200, json=body))
    with pytest.raises(TransientError, match="none of the 3 hits has a created_at_i"):
        source.fetch_page(Query("comcast"), None)


def test_a_rejected_hit_is_stored_with_the_run_and_collection_goes_on(tmp_path):
    broken = copy.deepcopy(fixture("page1.json"))
    del broken["hits"][1]["created_at_i"]

    def serve(request: httpx.Request) -> httpx.Response:
        if "numericFilters" not in request.url.params:
            return httpx.Response(200, json=broken)
        return by_filter(request)

    source, requests = source_with(serve)
    store = open_store(tmp_path / "radar.db")
    query = Query("comcast", brand="Comcast")
    result = collect_posts(source, query, store, sleep=pytest.fail)

    assert (result.status, result.done, result.pages) == ("done", True, 3)
    assert (result.rejected, result.posts_new) == (1, 4)
    assert [r.url.params.get("numericFilters") for r in requests] == [
        None, f"created_at_i<={B1}", f"created_at_i<={B2}"]
    assert {p.post_id for p in store.iter_posts()} == ALL_IDS - {"40570001"}
    (row,) = store.rejected_rows(result.run_id)
    _, reason, raw = row
    assert reason.count("40570001") == 1 and "created_at_i" in reason  # id named once
    assert raw == broken["hits"][1]
    assert store.get_checkpoint("hackernews", query.key).done


def test_runner_gives_up_on_malformed_pages_and_keeps_what_was_stored(tmp_path):
    source, _ = source_with(by_filter, httpx.Response(200, text="{\"hits\": ["))
    store = open_store(tmp_path / "radar.db")
    query = Query("comcast")
    result = collect_posts(source, query, store, config=RunnerConfig(max_retries=1),
                           sleep=lambda s: None, rng=random.Random(0))
    assert result.status == "failed" and not result.done
    assert "malformed JSON" in result.reason
    assert store.count_posts() == 3  # page 1 only; nothing of the broken page
    checkpoint = store.get_checkpoint("hackernews", query.key)
    assert checkpoint.state == {"before": B1, "seen": ["40569990"]} and not checkpoint.done


def test_runner_fails_on_a_wrong_shape_and_stores_nothing(tmp_path):
    source, _ = source_with(httpx.Response(200, json={"message": "ok", "results": []}))
    store = open_store(tmp_path / "radar.db")
    result = collect_posts(source, Query("comcast"), store, config=RunnerConfig(max_retries=1),
                           sleep=lambda s: None, rng=random.Random(0))
    assert result.status == "failed" and "'hits'" in result.reason
    assert store.count_posts() == 0
    assert store.get_checkpoint("hackernews", Query("comcast").key) is None


# --- 6. auth -----------------------------------------------------------------------------

@pytest.mark.parametrize("status", [401, 403])
def test_auth_error_stops_the_run(tmp_path, status):
    source, requests = source_with(httpx.Response(status, json={"message": "forbidden"}))
    store = open_store(tmp_path / "radar.db")
    with pytest.raises(AuthError, match=str(status)):
        collect_posts(source, Query("comcast"), store, sleep=lambda s: None)
    assert len(requests) == 1  # not retried
    assert store.count_posts() == 0
    assert store.stats()["runs"][0]["status"] == "failed"


def test_no_credentials_are_needed():
    assert hackernews.CREDENTIALS == ()
    source = make_source(env={})  # nothing to read, so nothing missing
    assert source.name == "hackernews" and source.newest_first
    assert source.http.base_url == hackernews.DEFAULT_BASE_URL
    assert set(hackernews.OPTIONS) == {"tags"}
    assert hackernews.RATE_LIMIT and hackernews.TERMS


# --- 7. end to end over real HTTP --------------------------------------------------------

def test_end_to_end_against_a_local_server(tmp_path, local_server):
    def serve(request):
        name = PAGES.get((request.query.get("numericFilters") or [None])[0])
        if name is None:
            # the incremental re-run asks for hits newer than the newest stored one
            return 200, {}, fixture("page1.json")
        return 200, {}, fixture(name)

    server = local_server(serve)
    store = open_store(tmp_path / "radar.db")
    query = Query("comcast", brand="Comcast")
    # The fixtures are pages of 3 (a short page is the last one), so ask for 3 per page.
    source = HackerNewsSource(base_url=server.url, hits_per_page=3)
    result = collect_posts(source, query, store, sleep=lambda s: None)

    assert result.status == "done" and result.posts_new == 5
    first = server.requests[0]
    assert first.path == "/api/v1/search_by_date"
    assert first.query["hitsPerPage"] == ["3"] and first.query["query"] == ["comcast"]
    assert "complaint-radar" in first.headers["user-agent"]
    ids = [p.post_id for p in store.iter_posts()]
    assert sorted(ids) == sorted(ALL_IDS) and store.count_posts() == 5

    again = collect_posts(make_source(base_url=server.url), query, store, restart=True,
                          sleep=lambda s: None)
    assert again.status == "done" and again.posts_new == 0
    assert store.count_posts() == 5

    incremental = collect_posts(make_source(base_url=server.url), query, store,
                                sleep=lambda s: None)
    # the newest stored post less the runner's one-hour look-back
    assert server.requests[-1].query["numericFilters"] == ["created_at_i>=1717426800"]
    assert incremental.posts_new == 0 and store.count_posts() == 5
