"""The Mastodon source: hashtag timeline and status search, through the runner into the store.

Fixtures follow the documented response shapes:
https://docs.joinmastodon.org/methods/timelines/#tag (array of Status),
https://docs.joinmastodon.org/methods/search/#v2 (Search: accounts, statuses, hashtags),
https://docs.joinmastodon.org/entities/Status/ and https://docs.joinmastodon.org/entities/Account/.
"""

from __future__ import annotations

import copy
import random
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from radar.collect import mastodon
from radar.collect.base import AuthError, ConfigError, Query, TransientError
from radar.collect.mastodon import MastodonSource, html_to_text, make_source
from radar.collect.runner import RunnerConfig, collect_posts
from radar.store import open_store
from tests.radar.collect.conftest import load_fixture

HOST = "https://mastodon.social"
TAG_PATH = "/api/v1/timelines/tag/northwind"
BOOST_ID = "112233430000000007"  # the boost that ends tag_page1: its own id is the cursor
PAGE2_LAST_ID = "112233100000000020"
CARLA_URI = "https://mastodon.social/users/carla_m/statuses/112233445566778899"
TAG_URIS = {
    CARLA_URI,
    "https://chaos.social/users/dieter/statuses/112233399887766554",
    "https://mastodon.online/users/priya/statuses/112233300000000042",
    "https://fosstodon.org/users/lee/statuses/112233200000000010",
    "https://mastodon.social/users/carla_m/statuses/112233100000000020",
}
EMPTY_SEARCH = {"accounts": [], "statuses": [], "hashtags": []}


class FakeApi:
    """An httpx.MockTransport that serves (status, body, headers) in order and records requests.

    The last response repeats, like the local server's dict handler.
    """

    def __init__(self, *responses):
        self.responses = list(responses)
        self.requests: list[httpx.Request] = []
        self.transport = httpx.MockTransport(self._handle)

    def _handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        status, body, *rest = self.responses.pop(0) if len(self.responses) > 1 \
            else self.responses[0]
        headers = rest[0] if rest else {}
        if isinstance(body, bytes | str):
            return httpx.Response(status, content=body, headers=headers)
        return httpx.Response(status, json=body, headers=headers)


def tag_query(**options: str) -> Query:
    return Query(terms="#northwind", brand="Northwind", options=options)


def search_query() -> Query:
    return Query(terms="northwind outage", brand="Northwind", options={"mode": "search"})


def test_a_hashtag_page_becomes_posts_with_plain_text_utc_times_and_raw_json():
    page1 = load_fixture("mastodon/tag_page1.json")
    api = FakeApi((200, page1))
    page = MastodonSource(base_url=HOST, transport=api.transport).fetch_page(tag_query(), None)

    request = api.requests[0]
    assert request.url.path == TAG_PATH
    assert dict(request.url.params) == {"limit": "40"}
    assert "authorization" not in request.headers  # the hashtag timeline is public

    local, remote, boost = page.posts
    assert local.source == "mastodon"
    assert local.post_id == CARLA_URI
    assert local.text == ("Day 3 of waiting for #northwind to fix my broadband. 47 minutes on "
                          "hold, \"your call is important to us\" & then cut off.\n\n"
                          "I'm done.\nSwitching provider on Monday.")
    assert local.created_at == datetime(2024, 5, 14, 18, 42, 7, 512000, tzinfo=UTC)
    assert local.created_at.utcoffset() == timedelta(0)
    assert local.url == "https://mastodon.social/@carla_m/112233445566778899"
    assert local.author_id == "carla_m@mastodon.social"  # local acct qualified with the server
    assert (local.parent_id, local.lang) == (None, "en")
    assert local.raw == page1[0]

    assert remote.post_id == "https://chaos.social/users/dieter/statuses/112233399887766554"
    assert remote.text == ("@northwind_support Seit zwei Wochen kein Internet. Ticket: "
                           "https://northwind.example/support/ticket/88231 #northwind")
    assert remote.author_id == "dieter@chaos.social"
    assert remote.parent_id == "112233400011122233"
    assert remote.lang == "de"

    # A boost is the boosted status (its author, time and text), with the whole item as raw.
    assert boost.post_id == "https://mastodon.online/users/priya/statuses/112233300000000042"
    assert boost.author_id == "priya@mastodon.online"
    assert boost.created_at == datetime(2024, 5, 14, 9, 12, 44, tzinfo=UTC)
    assert boost.text == ("billing rant\n\n#northwind charged me twice for May and the chatbot "
                          "keeps asking me to \"restart my router\". I want a human!")
    assert boost.url == "https://mastodon.online/@priya/112233300000000042"
    assert boost.raw == page1[2] and boost.raw["id"] == BOOST_ID

    assert page.next_checkpoint == {"max_id": BOOST_ID}
    assert page.wait == 0.0


@pytest.mark.parametrize(("html", "text"), [
    ("<p>a &amp; b</p><p>c<br>d<br />e</p>", "a & b\n\nc\nd\ne"),
    ('<p>see <a href="https://ex.com/a/b"><span class="invisible">https://</span>'
     '<span class="ellipsis">ex.com/a</span><span class="invisible">/b</span></a></p>',
     "see https://ex.com/a/b"),
    ("<ul><li>no signal</li><li>no refund</li></ul>", "no signal\nno refund"),
    ("plain &lt;3 &#x1F621; &quot;ok&quot;", 'plain <3 😡 "ok"'),
    ("", ""),
])
def test_html_to_text_keeps_line_breaks_and_unescapes_entities(html, text):
    assert html_to_text(html) == text


def test_rate_limit_headers_become_the_page_wait():
    reset = (datetime.now(UTC) + timedelta(seconds=120)).isoformat().replace("+00:00", "Z")
    api = FakeApi((200, [], {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": reset}))
    page = MastodonSource(base_url=HOST, transport=api.transport).fetch_page(tag_query(), None)
    assert 100 < page.wait <= 120
    assert page.posts == () and page.next_checkpoint is None


def test_hashtag_pages_are_followed_with_max_id_until_an_empty_page(tmp_path):
    api = FakeApi((200, load_fixture("mastodon/tag_page1.json")),
                  (200, load_fixture("mastodon/tag_page2.json")), (200, []))
    store = open_store(tmp_path / "radar.db")
    waits: list[float] = []
    query = tag_query()
    result = collect_posts(MastodonSource(base_url=HOST, transport=api.transport), query, store,
                           sleep=waits.append)

    assert (result.status, result.done, result.pages, result.posts_new) == ("done", True, 3, 5)
    assert [r.url.params.get("max_id") for r in api.requests] == [None, BOOST_ID, PAGE2_LAST_ID]
    assert waits == []
    checkpoint = store.get_checkpoint("mastodon", query.key)
    assert checkpoint.done and checkpoint.state is None
    posts = list(store.iter_posts())
    assert {p.post_id for p in posts} == TAG_URIS
    assert {p.brand for p in posts} == {"Northwind"}


def test_search_mode_sends_the_token_and_pages_with_offset(tmp_path):
    api = FakeApi((200, load_fixture("mastodon/search_page1.json")),
                  (200, load_fixture("mastodon/search_page2.json")), (200, EMPTY_SEARCH))
    source = MastodonSource(base_url=HOST, transport=api.transport, token="tok-search-123")
    store = open_store(tmp_path / "radar.db")
    result = collect_posts(source, search_query(), store, sleep=lambda s: None)

    assert (result.status, result.posts_new) == ("done", 3)
    first, second, third = api.requests
    assert first.url.path == "/api/v2/search"
    assert dict(first.url.params) == {"q": "northwind outage", "type": "statuses", "limit": "40"}
    assert second.url.params["offset"] == "40" and third.url.params["offset"] == "80"
    assert {r.headers["authorization"] for r in api.requests} == {"Bearer tok-search-123"}
    texts = {p.author_id: p.text for p in store.iter_posts()}
    assert texts["june@hachyderm.io"].endswith("They clearly don't know who I am.")


def test_search_without_a_token_is_an_auth_error_naming_the_variable(tmp_path):
    api = FakeApi((200, EMPTY_SEARCH))
    source = make_source(transport=api.transport, env={})
    store = open_store(tmp_path / "radar.db")
    with pytest.raises(AuthError, match="MASTODON_TOKEN"):
        collect_posts(source, search_query(), store, sleep=lambda s: None)
    assert api.requests == []  # refused before asking the server
    assert store.stats()["runs"][0]["status"] == "failed"


@pytest.mark.parametrize(("query", "message"), [
    (tag_query(mode="stream"), "mode='stream' is not one of hashtag, search"),
    (tag_query(local="true"), "unknown query option"),
    (Query(terms="northwind outage"), "hashtag mode takes one hashtag"),
])
def test_bad_query_options_are_config_errors(query, message):
    api = FakeApi((200, []))
    with pytest.raises(ConfigError, match=message):
        MastodonSource(base_url=HOST, transport=api.transport).fetch_page(query, None)
    assert api.requests == []


def test_429_waits_as_retry_after_says_then_succeeds(tmp_path):
    api = FakeApi((429, {"error": "Too many requests"}, {"Retry-After": "7"}),
                  (200, load_fixture("mastodon/tag_page2.json")), (200, []))
    waits: list[float] = []
    store = open_store(tmp_path / "radar.db")
    result = collect_posts(MastodonSource(base_url=HOST, transport=api.transport), tag_query(),
                           store, sleep=waits.append)
    assert waits == [7.0]
    assert (result.status, result.requests, store.count_posts()) == ("done", 3, 2)


def test_a_5xx_is_retried_after_backoff(tmp_path):
    api = FakeApi((503, "<html>Service Unavailable</html>"),
                  (200, load_fixture("mastodon/tag_page2.json")), (200, []))
    waits: list[float] = []
    store = open_store(tmp_path / "radar.db")
    result = collect_posts(MastodonSource(base_url=HOST, transport=api.transport), tag_query(),
                           store, sleep=waits.append, rng=random.Random(0))
    expected = RunnerConfig().backoff.delay(1, random.Random(0))
    assert 0.5 <= expected <= 1.0
    assert waits == [expected]
    assert (result.status, store.count_posts()) == ("done", 2)


@pytest.mark.parametrize(("body", "message"), [
    (b"<html>502 Bad Gateway</html>", "malformed JSON"),
    ({"error": "Record not found"}, "expected a JSON array of statuses"),
    (["not a status", {"uri": "x"}], "none of the page's 2 items has an id to page on"),
])
def test_malformed_responses_are_transient_errors(body, message):
    api = FakeApi((200, body))
    with pytest.raises(TransientError, match=message):
        MastodonSource(base_url=HOST, transport=api.transport).fetch_page(tag_query(), None)


def test_a_status_without_uri_is_rejected_and_the_rest_of_the_page_kept():
    body = load_fixture("mastodon/tag_page2.json")
    del body[0]["uri"]
    api = FakeApi((200, body))
    page = MastodonSource(base_url=HOST, transport=api.transport).fetch_page(tag_query(), None)

    assert [p.post_id for p in page.posts] == [
        "https://mastodon.social/users/carla_m/statuses/112233100000000020"]
    (rejected,) = page.rejected
    assert rejected.item_id == "112233200000000010"  # no uri: the server's own id
    assert rejected.reason == "status '112233200000000010' has no uri"
    assert rejected.raw == body[0]
    assert page.next_checkpoint == {"max_id": PAGE2_LAST_ID}


def _page1_with_a_broken_boost() -> list:
    body = load_fixture("mastodon/tag_page1.json")
    del body[2]["reblog"]["created_at"]
    return body


def test_a_rejected_last_item_still_moves_the_cursor():
    body = _page1_with_a_broken_boost()
    api = FakeApi((200, body))
    page = MastodonSource(base_url=HOST, transport=api.transport).fetch_page(tag_query(), None)

    assert [p.post_id for p in page.posts] == [
        CARLA_URI, "https://chaos.social/users/dieter/statuses/112233399887766554"]
    (rejected,) = page.rejected
    assert rejected.item_id == "https://mastodon.online/users/priya/statuses/112233300000000042"
    assert "created_at" in rejected.reason
    assert rejected.raw == body[2]
    # The boost's own id, read from the raw item: the next request does not repeat this page.
    assert page.next_checkpoint == {"max_id": BOOST_ID}


def test_a_last_item_without_any_id_pages_on_from_the_last_that_has_one():
    body = [*load_fixture("mastodon/tag_page2.json"), "<status lost in transit>"]
    api = FakeApi((200, body))
    page = MastodonSource(base_url=HOST, transport=api.transport).fetch_page(tag_query(), None)

    assert len(page.posts) == 2
    (rejected,) = page.rejected
    assert (rejected.item_id, rejected.raw) == (None, "<status lost in transit>")
    assert "expected a status object" in rejected.reason
    assert page.next_checkpoint == {"max_id": PAGE2_LAST_ID}


def test_a_rejected_status_is_stored_with_the_run_and_collection_goes_on(tmp_path):
    broken = _page1_with_a_broken_boost()
    api = FakeApi((200, broken), (200, load_fixture("mastodon/tag_page2.json")), (200, []))
    store = open_store(tmp_path / "radar.db")
    query = tag_query()
    result = collect_posts(MastodonSource(base_url=HOST, transport=api.transport), query, store,
                           sleep=pytest.fail)

    assert (result.status, result.done, result.pages) == ("done", True, 3)
    assert (result.rejected, result.posts_new) == (1, 4)
    assert [r.url.params.get("max_id") for r in api.requests] == [None, BOOST_ID, PAGE2_LAST_ID]
    boosted = "https://mastodon.online/users/priya/statuses/112233300000000042"
    assert {p.post_id for p in store.iter_posts()} == TAG_URIS - {boosted}
    (row,) = store.rejected_rows(result.run_id)
    _, reason, raw = row
    assert reason.count(boosted) == 1 and "created_at" in reason  # id named once
    assert raw == broken[2]
    assert store.get_checkpoint("mastodon", query.key).done


def test_a_rejected_search_hit_keeps_the_offset_paging(tmp_path):
    first = load_fixture("mastodon/search_page1.json")
    first["statuses"][0]["account"] = None
    api = FakeApi((200, first), (200, load_fixture("mastodon/search_page2.json")),
                  (200, EMPTY_SEARCH))
    source = MastodonSource(base_url=HOST, transport=api.transport, token="tok-search-123")
    store = open_store(tmp_path / "radar.db")
    result = collect_posts(source, search_query(), store, sleep=pytest.fail)

    assert (result.status, result.rejected, result.posts_new) == ("done", 1, 2)
    assert [r.url.params.get("offset") for r in api.requests] == [None, "40", "80"]
    (row,) = store.rejected_rows(result.run_id)
    assert "has no account" in row[1] and row[2] == first["statuses"][0]


def test_a_search_body_without_statuses_is_a_transient_error():
    api = FakeApi((200, {"accounts": [], "hashtags": []}))
    source = MastodonSource(base_url=HOST, transport=api.transport, token="t")
    with pytest.raises(TransientError, match="'statuses' array.*keys \\['accounts', 'hashtags'\\]"):
        source.fetch_page(search_query(), None)


def test_malformed_pages_fail_the_run_without_storing_half_a_page(tmp_path):
    store = open_store(tmp_path / "radar.db")
    query = tag_query()
    api = FakeApi((200, load_fixture("mastodon/tag_page1.json")), (200, b"{not json"))
    result = collect_posts(MastodonSource(base_url=HOST, transport=api.transport), query, store,
                           config=RunnerConfig(max_retries=1), sleep=lambda s: None,
                           rng=random.Random(0))
    assert result.status == "failed"
    assert "gave up after 2 consecutive failed requests" in result.reason
    assert "malformed JSON" in result.reason
    assert store.count_posts() == 3  # page 1, committed whole; nothing of page 2
    assert store.get_checkpoint("mastodon", query.key).state == {"max_id": BOOST_ID}

    # The next run resumes at page 2 and finishes.
    api = FakeApi((200, load_fixture("mastodon/tag_page2.json")), (200, []))
    result = collect_posts(MastodonSource(base_url=HOST, transport=api.transport), query, store,
                           sleep=lambda s: None)
    assert result.resumed and result.status == "done"
    assert api.requests[0].url.params["max_id"] == BOOST_ID
    assert store.count_posts() == 5


def test_a_malformed_first_page_stores_nothing(tmp_path):
    store = open_store(tmp_path / "radar.db")
    api = FakeApi((200, {"error": "not a timeline"}))
    result = collect_posts(MastodonSource(base_url=HOST, transport=api.transport), tag_query(),
                           store, config=RunnerConfig(max_retries=1), sleep=lambda s: None,
                           rng=random.Random(0))
    assert result.status == "failed" and "expected a JSON array" in result.reason
    assert store.count_posts() == 0
    assert store.get_checkpoint("mastodon", tag_query().key) is None


def test_401_stops_the_run_with_an_auth_error_and_no_retry(tmp_path):
    api = FakeApi((401, {"error": "The access token is invalid"}))
    source = MastodonSource(base_url=HOST, transport=api.transport, token="revoked-token-42")
    store = open_store(tmp_path / "radar.db")
    with pytest.raises(AuthError, match="HTTP 401") as caught:
        collect_posts(source, tag_query(), store, sleep=lambda s: None)
    assert "check MASTODON_TOKEN" in str(caught.value)
    assert "revoked-token-42" not in str(caught.value)
    assert len(api.requests) == 1
    assert store.stats()["runs"][0]["status"] == "failed"


def test_a_server_without_public_timelines_asks_for_the_token():
    api = FakeApi((401, {"error": "This method requires an authenticated user"}))
    with pytest.raises(AuthError, match="HTTP 401.*set MASTODON_TOKEN"):
        make_source(transport=api.transport, env={}).fetch_page(tag_query(), None)


def test_the_same_status_read_through_two_servers_is_one_post(tmp_path):
    original = load_fixture("mastodon/tag_page1.json")[0]
    # fosstodon.org knows Carla's status under its own id and sees her as a remote account.
    relayed = copy.deepcopy(original)
    relayed["id"] = "112233445599990000"
    relayed["account"]["id"] = "110000000000000777"
    relayed["account"]["acct"] = "carla_m@mastodon.social"
    home = MastodonSource(base_url=HOST, transport=FakeApi((200, [original])).transport)
    other = MastodonSource(base_url="https://fosstodon.org",
                           transport=FakeApi((200, [relayed])).transport)
    (a,) = home.fetch_page(tag_query(), None).posts
    (b,) = other.fetch_page(tag_query(), None).posts
    assert (a.post_id, a.author_id) == (b.post_id, b.author_id) == (CARLA_URI,
                                                                    "carla_m@mastodon.social")
    store = open_store(tmp_path / "radar.db")
    store.save_posts([a, b])
    assert store.count_posts() == 1


def test_make_source_reads_the_server_and_token_from_the_environment():
    api = FakeApi((200, []))
    env = {"MASTODON_BASE_URL": "https://fosstodon.org", "MASTODON_TOKEN": "env-token"}
    make_source(transport=api.transport, env=env).fetch_page(tag_query(), None)
    make_source(base_url="https://hachyderm.io", transport=api.transport,
                env=env).fetch_page(tag_query(), None)
    assert [r.url.host for r in api.requests] == ["fosstodon.org", "hachyderm.io"]
    assert api.requests[0].headers["authorization"] == "Bearer env-token"
    assert make_source(env={}).http.base_url == mastodon.DEFAULT_BASE_URL


def test_end_to_end_over_http_stores_each_post_once_and_reruns_add_nothing(
        local_server, tmp_path):
    pages = {None: load_fixture("mastodon/tag_page1.json"),
             BOOST_ID: load_fixture("mastodon/tag_page2.json"), PAGE2_LAST_ID: []}

    def handler(request):
        max_id = request.query.get("max_id", [None])[0]
        if request.path != TAG_PATH or max_id not in pages:
            return 404, {}, {"error": "Record not found"}
        return 200, {"X-RateLimit-Remaining": "299"}, pages[max_id]

    server = local_server(handler)
    source = make_source(env={"MASTODON_BASE_URL": server.url})
    store = open_store(tmp_path / "radar.db")
    query = tag_query()

    first = collect_posts(source, query, store, sleep=lambda s: None)
    assert (first.status, first.pages, first.posts_new) == ("done", 3, 5)
    ids = [p.post_id for p in store.iter_posts()]
    assert len(ids) == store.count_posts() == 5 and set(ids) == TAG_URIS
    assert [r.query.get("max_id") for r in server.requests] == [None, [BOOST_ID],
                                                                [PAGE2_LAST_ID]]

    again = collect_posts(source, query, store, restart=True, sleep=lambda s: None)
    assert (again.posts_new, again.posts_seen, store.count_posts()) == (0, 5, 5)

    # A scheduled re-run only reads until it meets what it already has: one request.
    incremental = collect_posts(source, query, store, sleep=lambda s: None)
    assert (incremental.requests, incremental.posts_new, store.count_posts()) == (1, 0, 5)


def test_module_contract_and_no_model_imports():
    assert mastodon.DEFAULT_BASE_URL == "https://mastodon.social"
    assert mastodon.CREDENTIALS == ("MASTODON_TOKEN",)
    assert set(mastodon.OPTIONS) == {"mode"}
    for line in (mastodon.RATE_LIMIT, mastodon.TERMS, *mastodon.OPTIONS.values()):
        assert line and "\n" not in line
    code = ("import sys, radar.collect.mastodon; "
            "bad = {'torch', 'transformers'} & set(sys.modules); assert not bad, bad")
    repo = Path(__file__).resolve().parents[3]
    subprocess.run([sys.executable, "-c", code], cwd=repo, check=True)
