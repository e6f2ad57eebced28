"""App Store source: the public customer-reviews RSS feed as JSON, pages 1 to 10.

Feed shape (``feed.entry`` list or single object, values wrapped as ``{"label": ...}``,
``im:rating``, ``im:version``, ``author.uri``/``author.name``, ``updated`` with an offset,
an app-information entry first in some variants) checked against the feed URL pattern
documented at https://github.com/facundoolano/app-store-scraper/issues/4 and the field
walk-through at https://github.com/AngeloStavrow/app-store-reviews-in-manuscript/wiki/technical-spec
(Apple publishes no reference page for this legacy feed).
"""

from __future__ import annotations

import copy
import random
from datetime import UTC, datetime

import httpx
import pytest

from radar.collect import appstore
from radar.collect.appstore import AppStoreSource, make_source, post_from_entry
from radar.collect.base import AuthError, ConfigError, Query, TransientError
from radar.collect.runner import RunnerConfig, collect_posts
from radar.store import open_store
from tests.radar.collect.conftest import load_fixture

BASE = "https://itunes.apple.com"
APP = "1087651234"
PAGE_FILES = {1: "page1.json", 2: "page2.json", 3: "empty.json"}
ALL_IDS = {"11223344551", "11223344550", "11223344549", "11223344540"}
REVIEW_LINK = "https://itunes.apple.com/us/review?id=1087651234&type=Purple%20Software"


def fixture(name: str) -> dict:
    return load_fixture(f"appstore/{name}")


def feed_path(page: int, country: str = "us") -> str:
    return f"/{country}/rss/customerreviews/page={page}/id={APP}/sortby=mostrecent/json"


def by_page(request: httpx.Request) -> httpx.Response:
    """The recorded pages, chosen by the page number in the path the source asked for."""
    for page, name in PAGE_FILES.items():
        if request.url.path == feed_path(page):
            return httpx.Response(200, json=fixture(name))
    return httpx.Response(404, json={"error": f"no feed at {request.url.path}"})


def recording(*responders):
    """A MockTransport answering with each responder in turn (the last one repeats)."""
    requests: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        responder = responders[min(len(requests), len(responders)) - 1]
        return responder(request) if callable(responder) else responder

    return httpx.MockTransport(handle), requests


def source_with(*responders):
    transport, requests = recording(*responders)
    return AppStoreSource(BASE, transport=transport), requests


# --- 1. one page -------------------------------------------------------------------------

def test_a_page_parses_into_posts_and_skips_the_app_entry():
    source, requests = source_with(by_page)
    page = source.fetch_page(Query(APP), None)

    assert requests[0].url.path == feed_path(1)
    assert [p.post_id for p in page.posts] == ["11223344551", "11223344550", "11223344549"]
    first = page.posts[0]
    assert first.source == "appstore"
    assert first.text == (
        "Chat bot sends me in circles\nTried to reschedule a technician visit. The assistant "
        "asked for my account number three times and then told me to call. On the phone I "
        "waited 50 minutes.")
    # 18:45:11 at UTC-7 is 01:45:11 UTC the next day
    assert first.created_at == datetime(2024, 6, 3, 1, 45, 11, tzinfo=UTC)
    assert first.created_at.utcoffset().total_seconds() == 0
    assert first.author_id == "https://itunes.apple.com/us/reviews/id987654321"
    assert first.url == REVIEW_LINK
    assert first.parent_id is None and first.lang is None
    assert first.raw == fixture("page1.json")["feed"]["entry"][1]
    assert first.raw["im:rating"]["label"] == "1"
    assert first.raw["im:version"]["label"] == "5.12.0"
    assert page.next_checkpoint == {"page": 2}


def test_a_single_entry_object_is_one_review():
    source, requests = source_with(by_page)
    page = source.fetch_page(Query(APP), {"page": 2})
    assert requests[0].url.path == feed_path(2)
    assert [p.post_id for p in page.posts] == ["11223344540"]
    # no link on this entry: the author's page stands in for it
    assert page.posts[0].url == "https://itunes.apple.com/us/reviews/id55501234"
    assert page.posts[0].created_at == datetime(2024, 5, 30, 14, 0, tzinfo=UTC)
    assert page.next_checkpoint == {"page": 3}


def test_a_feed_without_entries_is_the_last_page():
    source, _ = source_with(by_page)
    page = source.fetch_page(Query(APP), {"page": 3})
    assert page.posts == () and page.next_checkpoint is None


def test_a_feed_with_only_the_app_entry_is_the_last_page():
    body = copy.deepcopy(fixture("page1.json"))
    body["feed"]["entry"] = body["feed"]["entry"][0]
    source, _ = source_with(httpx.Response(200, json=body))
    page = source.fetch_page(Query(APP), {"page": 4})
    assert page.posts == () and page.next_checkpoint is None


def test_page_ten_is_the_last_the_feed_serves():
    source, requests = source_with(httpx.Response(200, json=fixture("page1.json")))
    page = source.fetch_page(Query(APP), {"page": 10})
    assert requests[0].url.path == feed_path(10)
    assert len(page.posts) == 3 and page.next_checkpoint is None


def test_author_name_when_the_uri_is_empty():
    entry = copy.deepcopy(fixture("page2.json")["feed"]["entry"])
    entry["author"]["uri"]["label"] = ""
    post = post_from_entry(entry)
    assert post.author_id == "nine_years_gone" and post.url is None


# --- query validation --------------------------------------------------------------------

@pytest.mark.parametrize("query, words", [
    (Query("com.example.xfinity"), ["numeric", "com.example.xfinity"]),
    (Query("id1087651234"), ["numeric"]),
    (Query(APP, options={"country": "usa"}), ["country", "two-letter", "usa"]),
    (Query(APP, options={"country": "u1"}), ["country"]),
    (Query(APP, options={"lang": "en"}), ["lang", "country"]),
])
def test_bad_queries_are_config_errors(query, words):
    source, requests = source_with(by_page)
    with pytest.raises(ConfigError) as info:
        source.fetch_page(query, None)
    assert all(word in str(info.value) for word in words)
    assert requests == []


def test_country_goes_into_the_path_in_lower_case():
    source, requests = source_with(httpx.Response(200, json=fixture("empty.json")))
    source.fetch_page(Query(f" {APP} ", options={"country": "GB"}), None)
    assert requests[0].url.path == feed_path(1, country="gb")


# --- 2. pagination through the runner ----------------------------------------------------

def test_pages_through_the_runner_into_the_store(tmp_path):
    source, requests = source_with(by_page)
    store = open_store(tmp_path / "radar.db")
    query = Query(APP, brand="Xfinity")
    result = collect_posts(source, query, store, sleep=lambda s: None)

    assert (result.status, result.done, result.pages, result.requests) == ("done", True, 3, 3)
    assert [r.url.path for r in requests] == [feed_path(1), feed_path(2), feed_path(3)]
    stored = list(store.iter_posts(with_raw=True))
    assert {p.post_id for p in stored} == ALL_IDS
    assert {p.brand for p in stored} == {"Xfinity"}
    assert {p.raw["im:rating"]["label"] for p in stored} == {"1", "2", "4"}
    checkpoint = store.get_checkpoint("appstore", query.key)
    assert checkpoint.done and checkpoint.state is None


# --- 3. rate limited ---------------------------------------------------------------------

def test_429_waits_as_told_then_succeeds(tmp_path):
    source, requests = source_with(httpx.Response(429, headers={"Retry-After": "12"}), by_page)
    waits: list[float] = []
    result = collect_posts(source, Query(APP), open_store(tmp_path / "radar.db"),
                           sleep=waits.append)
    assert waits == [12.0]
    assert result.status == "done" and result.posts_new == 4
    assert [r.url.path for r in requests[:2]] == [feed_path(1), feed_path(1)]


# --- 4. server error ---------------------------------------------------------------------

def test_5xx_backs_off_then_succeeds(tmp_path):
    source, _ = source_with(httpx.Response(502, text="Bad Gateway"), by_page)
    waits: list[float] = []
    config = RunnerConfig()
    result = collect_posts(source, Query(APP), open_store(tmp_path / "radar.db"),
                           config=config, sleep=waits.append, rng=random.Random(0))
    assert waits == [config.backoff.delay(1, random.Random(0))]
    assert result.status == "done" and result.posts_new == 4


# --- 5. malformed answers ----------------------------------------------------------------

def _without_id() -> dict:
    body = copy.deepcopy(fixture("page1.json"))
    del body["feed"]["entry"][2]["id"]
    return body


def _bad_time() -> dict:
    body = copy.deepcopy(fixture("page1.json"))
    body["feed"]["entry"][1]["updated"]["label"] = "June 2, 2024"
    return body


@pytest.mark.parametrize("response, words", [
    (httpx.Response(200, text="<?xml version=\"1.0\"?><feed/>"), ["malformed JSON"]),
    (httpx.Response(200, json={"resultCount": 0, "results": []}), ["'feed'", "results"]),
    (httpx.Response(200, json={"feed": {"entry": "none"}}), ["feed.entry", "str"]),
])
def test_malformed_answers_are_transient(response, words):
    source, _ = source_with(response)
    with pytest.raises(TransientError) as info:
        source.fetch_page(Query(APP), None)
    assert all(word in str(info.value) for word in words)


def _not_an_object() -> dict:
    body = copy.deepcopy(fixture("page1.json"))
    body["feed"]["entry"][3] = "11223344549"
    return body


@pytest.mark.parametrize("body, index, review_id, words, kept", [
    (_without_id(), 2, None, ["id.label"], ["11223344551", "11223344549"]),
    (_bad_time(), 1, "11223344551", ["11223344551", "updated.label", "June 2"],
     ["11223344550", "11223344549"]),
    (_not_an_object(), 3, None, ["review object", "str"], ["11223344551", "11223344550"]),
], ids=["no-id", "bad-time", "not-an-object"])
def test_a_malformed_review_is_rejected_and_the_rest_of_the_page_kept(body, index, review_id,
                                                                      words, kept):
    source, _ = source_with(httpx.Response(200, json=body))
    page = source.fetch_page(Query(APP), None)

    assert [p.post_id for p in page.posts] == kept
    (rejected,) = page.rejected
    assert rejected.item_id == review_id
    assert all(word in rejected.reason for word in words)
    assert rejected.raw == body["feed"]["entry"][index]
    assert page.next_checkpoint == {"page": 2}


def test_a_page_whose_only_review_is_rejected_is_not_the_last():
    body = copy.deepcopy(fixture("page2.json"))
    del body["feed"]["entry"]["updated"]
    source, _ = source_with(httpx.Response(200, json=body))
    page = source.fetch_page(Query(APP), {"page": 2})
    assert page.posts == () and len(page.rejected) == 1
    assert page.rejected[0].item_id == "11223344540"
    assert page.next_checkpoint == {"page": 3}  # reviews were there: the feed goes on


def test_a_rejected_review_is_stored_with_the_run_and_collection_goes_on(tmp_path):
    broken = _bad_time()

    def serve(request: httpx.Request) -> httpx.Response:
        if request.url.path == feed_path(1):
            return httpx.Response(200, json=broken)
        return by_page(request)

    source, requests = source_with(serve)
    store = open_store(tmp_path / "radar.db")
    query = Query(APP, brand="Xfinity")
    result = collect_posts(source, query, store, sleep=pytest.fail)

    assert (result.status, result.done, result.pages) == ("done", True, 3)
    assert (result.rejected, result.posts_new) == (1, 3)
    assert [r.url.path for r in requests] == [feed_path(1), feed_path(2), feed_path(3)]
    assert {p.post_id for p in store.iter_posts()} == ALL_IDS - {"11223344551"}
    (row,) = store.rejected_rows(result.run_id)
    _, reason, raw = row
    assert reason.count("11223344551") == 1 and "updated.label" in reason  # id named once
    assert raw == broken["feed"]["entry"][1]
    assert store.get_checkpoint("appstore", query.key).done


def test_runner_gives_up_on_malformed_pages_and_keeps_what_was_stored(tmp_path):
    source, _ = source_with(by_page, httpx.Response(200, json={"results": []}))
    store = open_store(tmp_path / "radar.db")
    result = collect_posts(source, Query(APP), store, config=RunnerConfig(max_retries=1),
                           sleep=lambda s: None, rng=random.Random(0))
    assert result.status == "failed" and not result.done
    assert "'feed'" in result.reason
    assert store.count_posts() == 3  # page 1 only
    checkpoint = store.get_checkpoint("appstore", Query(APP).key)
    assert checkpoint.state == {"page": 2} and not checkpoint.done


def test_runner_fails_on_invalid_json_and_stores_nothing(tmp_path):
    source, _ = source_with(httpx.Response(200, text="{\"feed\": {\"entry\": ["))
    store = open_store(tmp_path / "radar.db")
    result = collect_posts(source, Query(APP), store, config=RunnerConfig(max_retries=1),
                           sleep=lambda s: None, rng=random.Random(0))
    assert result.status == "failed" and "malformed JSON" in result.reason
    assert store.count_posts() == 0
    assert store.get_checkpoint("appstore", Query(APP).key) is None


# --- 6. auth -----------------------------------------------------------------------------

@pytest.mark.parametrize("status", [401, 403])
def test_auth_error_stops_the_run(tmp_path, status):
    source, requests = source_with(httpx.Response(status, text="Forbidden"))
    store = open_store(tmp_path / "radar.db")
    with pytest.raises(AuthError, match=str(status)):
        collect_posts(source, Query(APP), store, sleep=lambda s: None)
    assert len(requests) == 1
    assert store.count_posts() == 0
    assert store.stats()["runs"][0]["status"] == "failed"


def test_no_credentials_are_needed():
    assert appstore.CREDENTIALS == ()
    source = make_source(env={})
    assert source.name == "appstore" and source.newest_first
    assert source.http.base_url == appstore.DEFAULT_BASE_URL
    assert set(appstore.OPTIONS) == {"country"}
    assert appstore.RATE_LIMIT and appstore.TERMS


# --- 7. end to end over real HTTP --------------------------------------------------------

def test_end_to_end_against_a_local_server(tmp_path, local_server):
    server = local_server({feed_path(page): [(200, {"Content-Type": "text/javascript"},
                                              fixture(name))]
                           for page, name in PAGE_FILES.items()})
    store = open_store(tmp_path / "radar.db")
    query = Query(APP, brand="Xfinity", options={"country": "us"})
    result = collect_posts(make_source(base_url=server.url), query, store,
                           sleep=lambda s: None)

    assert result.status == "done" and result.posts_new == 4
    assert [r.path for r in server.requests] == [feed_path(1), feed_path(2), feed_path(3)]
    ids = [p.post_id for p in store.iter_posts()]
    assert sorted(ids) == sorted(ALL_IDS) and store.count_posts() == 4

    again = collect_posts(make_source(base_url=server.url), query, store, restart=True,
                          sleep=lambda s: None)
    assert again.status == "done" and again.posts_new == 0 and again.posts_seen == 4
    assert store.count_posts() == 4
