"""The Bluesky source: app-password session, searchPosts pages, expiry, through the runner.

Fixtures follow the documented shapes:
https://docs.bsky.app/docs/api/app-bsky-feed-search-posts (cursor, hitsTotal, posts[postView]),
https://docs.bsky.app/docs/api/com-atproto-server-create-session (accessJwt, refreshJwt, handle,
did), lexicons app/bsky/feed/defs.json#postView and app/bsky/feed/post.json in
https://github.com/bluesky-social/atproto; expired tokens answer
400 {"error": "ExpiredToken", "message": "Token has expired"}.
"""

from __future__ import annotations

import copy
import json
import random
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from radar.collect import bluesky
from radar.collect.base import AuthError, ConfigError, Query, TransientError
from radar.collect.bluesky import BlueskySource, make_source
from radar.collect.runner import RunnerConfig, collect_posts
from radar.store import open_store
from tests.radar.collect.conftest import load_fixture

HOST = "https://bsky.social"
SESSION = "/xrpc/com.atproto.server.createSession"
SEARCH = "/xrpc/app.bsky.feed.searchPosts"
HANDLE = "radar-bot.bsky.social"
PASSWORD = "abcd-efgh-ijkl-mnop"
ACCESS = "eyJhbGciOiJFUzI1NksifQ.access-one.sig"
EXPIRED = (400, {"error": "ExpiredToken", "message": "Token has expired"})
MAYA_URI = "at://did:plc:4ktv2qg6rq3d7dyz3ocgbyc4/app.bsky.feed.post/3kslnkb3zfs2c"
NOAH_URI = "at://did:plc:q6gjnaw2blty4crticxkmujt/app.bsky.feed.post/3kslq2ye7xk2a"
RUTH_URI = "at://did:plc:ewvi7nxzyoun6zhxrhs64oiz/app.bsky.feed.post/3ksl4ab2cd3ef"
ALL_URIS = {MAYA_URI, NOAH_URI, RUTH_URI,
            "at://did:plc:z72i7hdynmk6r22z27h6tvur/app.bsky.feed.post/3ksjzmt7ua22p",
            "at://did:plc:vwzwgnygau7ed7b7wt5ux7y2/app.bsky.feed.post/3ksiwqpsb3m2k"}


def session(access: str = ACCESS) -> tuple[int, dict]:
    body = load_fixture("bluesky/session.json")
    body["accessJwt"] = access
    return 200, body


def page(number: int) -> tuple[int, dict]:
    return 200, load_fixture(f"bluesky/search_page{number}.json")


class FakeApi:
    """An httpx.MockTransport serving queued (status, body, headers) per path, recording requests.

    The last response of a path repeats, like the local server's dict handler.
    """

    def __init__(self, routes: dict[str, list[tuple]]):
        self.routes = {path: list(responses) for path, responses in routes.items()}
        self.requests: list[httpx.Request] = []
        self.transport = httpx.MockTransport(self._handle)

    def _handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        queue = self.routes[request.url.path]
        status, body, *rest = queue.pop(0) if len(queue) > 1 else queue[0]
        headers = rest[0] if rest else {}
        if isinstance(body, bytes | str):
            return httpx.Response(status, content=body, headers=headers)
        return httpx.Response(status, json=body, headers=headers)

    def to(self, path: str) -> list[httpx.Request]:
        return [r for r in self.requests if r.url.path == path]


def make(api: FakeApi) -> BlueskySource:
    return BlueskySource(base_url=HOST, transport=api.transport, handle=HANDLE,
                         app_password=PASSWORD)


def query(**options: str) -> Query:
    return Query(terms="northwind", brand="Northwind", options=options)


def test_a_search_page_becomes_posts_after_a_lazy_login():
    fixture = load_fixture("bluesky/search_page1.json")
    api = FakeApi({SESSION: [session()], SEARCH: [(200, fixture)]})
    source = make(api)
    assert api.requests == []  # no login before the first fetch
    since = datetime(2024, 5, 13, tzinfo=UTC)
    result = source.fetch_page(Query(terms="northwind", since=since), None)

    login, search = api.requests
    assert (login.method, login.url.path) == ("POST", SESSION)
    assert json.loads(login.content) == {"identifier": HANDLE, "password": PASSWORD}
    assert search.url.path == SEARCH
    assert dict(search.url.params) == {"q": "northwind", "limit": "100", "sort": "latest",
                                       "since": "2024-05-13T00:00:00.000Z"}
    assert search.headers["authorization"] == f"Bearer {ACCESS}"

    reply, fallback, original = result.posts
    assert reply.source == "bluesky"
    assert reply.post_id == NOAH_URI
    assert reply.text == "Same here, they told me to restart the router for the 4th time 🙄"
    assert reply.author_id == "did:plc:q6gjnaw2blty4crticxkmujt"
    assert reply.created_at == datetime(2024, 5, 14, 18, 5, tzinfo=UTC)  # from +02:00
    assert reply.parent_id == MAYA_URI
    assert reply.lang == "en"  # the first of ["en", "de"]
    # An unverified handle shows as handle.invalid; the did still makes a working link.
    assert reply.url == ("https://bsky.app/profile/did:plc:q6gjnaw2blty4crticxkmujt/post/"
                         "3kslq2ye7xk2a")
    assert reply.raw == fixture["posts"][0]

    # An unreadable record.createdAt falls back to the server's indexedAt.
    assert fallback.created_at == datetime(2024, 5, 14, 17, 58, 30, 500000, tzinfo=UTC)
    assert (fallback.lang, fallback.parent_id) == (None, None)
    assert fallback.url == "https://bsky.app/profile/ruth.example.com/post/3ksl4ab2cd3ef"

    assert original.post_id == MAYA_URI
    assert original.created_at == datetime(2024, 5, 14, 17, 40, 11, 123000, tzinfo=UTC)
    assert original.url == "https://bsky.app/profile/maya.bsky.social/post/3kslnkb3zfs2c"
    assert original.text.endswith("back to the main menu. #northwind")

    assert result.next_checkpoint == {"cursor": "3"}
    assert result.wait == 0.0


def test_pages_follow_the_cursor_until_a_response_has_none(tmp_path):
    api = FakeApi({SESSION: [session()], SEARCH: [page(1), page(2), page(3)]})
    store = open_store(tmp_path / "radar.db")
    waits: list[float] = []
    result = collect_posts(make(api), query(), store, sleep=waits.append)

    assert (result.status, result.done, result.pages, result.posts_new) == ("done", True, 3, 5)
    assert [r.url.params.get("cursor") for r in api.to(SEARCH)] == [None, "3", "4"]
    assert len(api.to(SESSION)) == 1  # one login for the whole run
    assert waits == []
    checkpoint = store.get_checkpoint("bluesky", query().key)
    assert checkpoint.done and checkpoint.state is None
    assert {p.post_id for p in store.iter_posts()} == ALL_URIS


# The error name sits after a long message: past the 200 characters an error message
# quotes of the body, so only the parsed ``code`` can see it.
EXPIRED_AFTER_LONG_MESSAGE = (400, {
    "message": "Token has expired. " + "Sign in again to get a new access token. " * 6,
    "error": "ExpiredToken"})


@pytest.mark.parametrize("expiry", [EXPIRED, EXPIRED_AFTER_LONG_MESSAGE,
                                    (401, {"error": "AuthenticationRequired"}),
                                    (401, "<html>401 Authorization Required</html>")],
                         ids=["400-ExpiredToken", "400-ExpiredToken-long-message", "401",
                              "401-not-json"])
def test_an_expired_token_means_one_new_login_and_the_same_request_again(expiry, tmp_path):
    api = FakeApi({SESSION: [session(), session("access-two")],
                   SEARCH: [page(1), expiry, page(2), page(3)]})
    store = open_store(tmp_path / "radar.db")
    waits: list[float] = []
    result = collect_posts(make(api), query(), store, sleep=waits.append)

    assert (result.status, store.count_posts()) == ("done", 5)
    assert waits == []  # handled inside the source: no backoff
    searches = api.to(SEARCH)
    assert [r.url.params.get("cursor") for r in searches] == [None, "3", "3", "4"]
    assert [r.headers["authorization"] for r in searches] == [
        f"Bearer {ACCESS}", f"Bearer {ACCESS}", "Bearer access-two", "Bearer access-two"]
    assert len(api.to(SESSION)) == 2


def test_a_token_refused_again_after_a_new_login_stops_the_run(tmp_path):
    refused = (401, {"error": "AuthenticationRequired", "message": "Token is invalid"})
    api = FakeApi({SESSION: [session(), session("access-two")], SEARCH: [page(1), refused]})
    store = open_store(tmp_path / "radar.db")
    with pytest.raises(AuthError, match="HTTP 401"):
        collect_posts(make(api), query(), store, sleep=lambda s: None)
    assert len(api.to(SESSION)) == 2  # one new login, not a loop
    assert store.count_posts() == 3


@pytest.mark.parametrize(("failure", "outcome"), [
    ((400, {"error": "BadQueryString", "message": "query too long"}), "failed"),
    # Only the error code counts, not the word in the message's prose.
    ((400, {"error": "BadQueryString",
            "message": "could not parse the query near 'ExpiredToken'"}), "failed"),
    ((403, {"error": "Forbidden"}), AuthError),
    ((502, "<html>Bad Gateway</html>"), "done"),
], ids=["400-other", "400-other-mentioning-ExpiredToken", "403", "502"])
def test_other_failures_on_a_later_page_do_not_log_in_again(failure, outcome, tmp_path):
    api = FakeApi({SESSION: [session(), session("access-two")],
                   SEARCH: [page(1), failure, page(3)]})
    store = open_store(tmp_path / "radar.db")

    def run():
        return collect_posts(make(api), query(), store, sleep=lambda s: None,
                             rng=random.Random(0))

    if outcome is AuthError:
        with pytest.raises(AuthError, match="HTTP 403"):
            run()
    else:
        result = run()
        assert result.status == outcome
        if outcome == "failed":
            assert "BadQueryString" in result.reason
    assert len(api.to(SESSION)) == 1


def test_a_fresh_session_refused_by_search_is_not_retried(tmp_path):
    api = FakeApi({SESSION: [session()], SEARCH: [(401, {"error": "AuthenticationRequired"})]})
    with pytest.raises(AuthError):
        collect_posts(make(api), query(), open_store(tmp_path / "radar.db"),
                      sleep=lambda s: None)
    assert len(api.to(SESSION)) == 1 and len(api.to(SEARCH)) == 1


@pytest.mark.parametrize("refusal", [
    (401, {"error": "AuthenticationRequired", "message": "Invalid identifier or password"}),
    (400, {"error": "InvalidRequest", "message": "Input/identifier must be a string"}),
])
def test_a_refused_login_is_an_auth_error_without_the_password(refusal, tmp_path):
    api = FakeApi({SESSION: [refusal], SEARCH: [page(1)]})
    store = open_store(tmp_path / "radar.db")
    with pytest.raises(AuthError) as caught:
        collect_posts(make(api), query(), store, sleep=lambda s: None)
    message = str(caught.value)
    assert "BLUESKY_HANDLE" in message and "BLUESKY_APP_PASSWORD" in message
    assert PASSWORD not in message
    assert api.to(SEARCH) == []
    assert store.stats()["runs"][0]["status"] == "failed"


@pytest.mark.parametrize(("env", "named", "not_named"), [
    ({}, ["BLUESKY_HANDLE", "BLUESKY_APP_PASSWORD"], []),
    ({"BLUESKY_HANDLE": HANDLE}, ["BLUESKY_APP_PASSWORD"], ["BLUESKY_HANDLE"]),
    ({"BLUESKY_HANDLE": HANDLE, "BLUESKY_APP_PASSWORD": ""}, ["BLUESKY_APP_PASSWORD"],
     ["BLUESKY_HANDLE"]),
])
def test_missing_credentials_name_the_variables_to_set(env, named, not_named):
    with pytest.raises(AuthError) as caught:
        make_source(env=env)
    for name in named:
        assert name in str(caught.value)
    for name in not_named:
        assert name not in str(caught.value)


def test_make_source_reads_the_environment():
    api = FakeApi({SESSION: [session()], SEARCH: [page(3)]})
    env = {"BLUESKY_HANDLE": "someone.bsky.social", "BLUESKY_APP_PASSWORD": "env-app-pass"}
    make_source(base_url="https://pds.example.org", transport=api.transport,
                env=env).fetch_page(query(), None)
    login = api.requests[0]
    assert login.url.host == "pds.example.org"
    assert json.loads(login.content) == {"identifier": "someone.bsky.social",
                                         "password": "env-app-pass"}
    assert make_source(env=env).http.base_url == bluesky.DEFAULT_BASE_URL


def test_429_on_search_waits_as_retry_after_says(tmp_path):
    api = FakeApi({SESSION: [session()],
                   SEARCH: [(429, {"error": "RateLimitExceeded"}, {"Retry-After": "12"}),
                            page(3)]})
    waits: list[float] = []
    store = open_store(tmp_path / "radar.db")
    result = collect_posts(make(api), query(), store, sleep=waits.append)
    assert waits == [12.0]
    assert (result.status, store.count_posts(), len(api.to(SESSION))) == ("done", 1, 1)


def test_429_on_login_is_waited_out_not_an_auth_error(tmp_path):
    api = FakeApi({SESSION: [(429, {"error": "RateLimitExceeded"}, {"Retry-After": "30"}),
                             session()], SEARCH: [page(3)]})
    waits: list[float] = []
    result = collect_posts(make(api), query(), open_store(tmp_path / "radar.db"),
                           sleep=waits.append)
    assert waits == [30.0]
    assert result.status == "done" and len(api.to(SESSION)) == 2


def test_a_5xx_is_retried_after_backoff(tmp_path):
    api = FakeApi({SESSION: [session()], SEARCH: [(502, "<html>Bad Gateway</html>"), page(3)]})
    waits: list[float] = []
    store = open_store(tmp_path / "radar.db")
    result = collect_posts(make(api), query(), store, sleep=waits.append,
                           rng=random.Random(0))
    assert waits == [RunnerConfig().backoff.delay(1, random.Random(0))]
    assert 0.5 <= waits[0] <= 1.0
    assert (result.status, store.count_posts()) == ("done", 1)
    assert len(api.to(SESSION)) == 1  # a server error is not a reason to log in again


def _page_with_a_post_without_author():
    body = copy.deepcopy(load_fixture("bluesky/search_page2.json"))
    del body["posts"][0]["author"]
    return body


@pytest.mark.parametrize(("body", "message"), [
    (b"<html>upstream error</html>", "malformed JSON"),
    ({"cursor": "3", "hitsTotal": 0}, "expected an object with a 'posts' array"),
    ([], "expected an object with a 'posts' array, got a list"),
    ({"cursor": "3", "posts": {"uri": MAYA_URI}}, "expected an object with a 'posts' array"),
])
def test_malformed_search_responses_are_transient_errors(body, message):
    api = FakeApi({SESSION: [session()], SEARCH: [(200, body)]})
    with pytest.raises(TransientError, match=message):
        make(api).fetch_page(query(), None)


def test_a_malformed_post_is_rejected_and_the_rest_of_the_page_kept():
    body = load_fixture("bluesky/search_page1.json")
    del body["posts"][1]["record"]["text"]
    body["posts"].append("not a post view")
    api = FakeApi({SESSION: [session()], SEARCH: [(200, body)]})
    page = make(api).fetch_page(query(), None)

    assert [p.post_id for p in page.posts] == [NOAH_URI, MAYA_URI]
    no_text, not_a_view = page.rejected
    assert no_text.item_id == RUTH_URI
    assert no_text.reason == f"post {RUTH_URI} has no record text"
    assert no_text.raw == body["posts"][1]
    assert (not_a_view.item_id, not_a_view.raw) == (None, "not a post view")
    assert "expected a post view object" in not_a_view.reason
    assert page.next_checkpoint == {"cursor": "3"}


def test_a_page_of_only_rejected_posts_follows_its_cursor():
    body = _page_with_a_post_without_author()
    api = FakeApi({SESSION: [session()], SEARCH: [(200, body)]})
    page = make(api).fetch_page(query(), {"cursor": "3"})
    assert page.posts == ()
    (rejected,) = page.rejected
    assert "has no author did" in rejected.reason and rejected.raw == body["posts"][0]
    assert page.next_checkpoint == {"cursor": "4"}  # not empty: the search goes on


def test_a_rejected_post_is_stored_with_the_run_and_collection_goes_on(tmp_path):
    broken = _page_with_a_post_without_author()
    api = FakeApi({SESSION: [session()], SEARCH: [page(1), (200, broken), page(3)]})
    store = open_store(tmp_path / "radar.db")
    result = collect_posts(make(api), query(), store, sleep=pytest.fail)

    assert (result.status, result.done, result.pages) == ("done", True, 3)
    assert (result.rejected, result.posts_new) == (1, 4)
    assert [r.url.params.get("cursor") for r in api.to(SEARCH)] == [None, "3", "4"]
    lost = broken["posts"][0]["uri"]
    assert {p.post_id for p in store.iter_posts()} == ALL_URIS - {lost}
    (row,) = store.rejected_rows(result.run_id)
    _, reason, raw = row
    assert reason == f"post {lost} has no author did"  # the id named once
    assert raw == broken["posts"][0]
    assert store.get_checkpoint("bluesky", query().key).done


def test_a_session_without_an_access_token_is_a_transient_error():
    api = FakeApi({SESSION: [(200, {"did": "did:plc:x", "handle": HANDLE})], SEARCH: [page(1)]})
    with pytest.raises(TransientError, match="accessJwt"):
        make(api).fetch_page(query(), None)
    assert api.to(SEARCH) == []


def test_malformed_pages_fail_the_run_without_storing_half_a_page(tmp_path):
    store = open_store(tmp_path / "radar.db")
    api = FakeApi({SESSION: [session()], SEARCH: [page(1), (200, b"{\"posts\": [")]})
    result = collect_posts(make(api), query(), store, config=RunnerConfig(max_retries=1),
                           sleep=lambda s: None, rng=random.Random(0))
    assert result.status == "failed" and "malformed JSON" in result.reason
    assert store.count_posts() == 3  # page 1 only
    assert store.get_checkpoint("bluesky", query().key).state == {"cursor": "3"}

    fresh = open_store(tmp_path / "fresh.db")
    api = FakeApi({SESSION: [session()], SEARCH: [(200, {"hitsTotal": 0})]})
    result = collect_posts(make(api), query(), fresh, config=RunnerConfig(max_retries=1),
                           sleep=lambda s: None, rng=random.Random(0))
    assert result.status == "failed" and "'posts' array" in result.reason
    assert fresh.count_posts() == 0 and fresh.get_checkpoint("bluesky", query().key) is None


def test_an_empty_page_ends_the_run_even_with_a_cursor():
    api = FakeApi({SESSION: [session()], SEARCH: [(200, {"cursor": "99", "posts": []})]})
    result = make(api).fetch_page(query(), None)
    assert result.posts == () and result.next_checkpoint is None


@pytest.mark.parametrize(("options", "error"), [
    ({"lang": "pt-BR"}, None),
    ({"lang": "english please"}, "lang='english please' is not a language code"),
    ({"sort": "top"}, "unknown query option"),
])
def test_the_lang_option_is_sent_and_checked(options, error):
    api = FakeApi({SESSION: [session()], SEARCH: [page(3)]})
    if error is None:
        make(api).fetch_page(query(**options), None)
        assert api.to(SEARCH)[0].url.params["lang"] == "pt-BR"
    else:
        with pytest.raises(ConfigError, match=error):
            make(api).fetch_page(query(**options), None)


def test_end_to_end_over_http_stores_each_post_once_and_reruns_add_nothing(
        local_server, tmp_path):
    pages = {None: load_fixture("bluesky/search_page1.json"),
             "3": load_fixture("bluesky/search_page2.json"),
             "4": load_fixture("bluesky/search_page3.json")}

    def handler(request):
        if request.method == "POST" and request.path == SESSION:
            if json.loads(request.body) != {"identifier": HANDLE, "password": PASSWORD}:
                return 401, {}, {"error": "AuthenticationRequired"}
            return session()[0], {}, session()[1]
        if request.path != SEARCH or request.headers.get("authorization") != f"Bearer {ACCESS}":
            return 401, {}, {"error": "AuthenticationRequired"}
        cursor = request.query.get("cursor", [None])[0]
        if cursor not in pages:
            return 400, {}, {"error": "InvalidRequest", "message": "bad cursor"}
        return 200, {"RateLimit-Remaining": "2990"}, pages[cursor]

    server = local_server(handler)
    env = {"BLUESKY_HANDLE": HANDLE, "BLUESKY_APP_PASSWORD": PASSWORD}
    source = make_source(base_url=server.url, env=env)
    store = open_store(tmp_path / "radar.db")

    first = collect_posts(source, query(), store, sleep=lambda s: None)
    assert (first.status, first.pages, first.posts_new) == ("done", 3, 5)
    ids = [p.post_id for p in store.iter_posts()]
    assert len(ids) == store.count_posts() == 5 and set(ids) == ALL_URIS
    stored = json.dumps([p.raw for p in store.iter_posts(with_raw=True)])
    assert PASSWORD not in stored and ACCESS not in stored

    again = collect_posts(source, query(), store, restart=True, sleep=lambda s: None)
    assert (again.posts_new, again.posts_seen, store.count_posts()) == (0, 5, 5)

    # A scheduled re-run asks only for what is newer than the newest stored post, less
    # the runner's one-hour look-back for posts that reach search late.
    incremental = collect_posts(source, query(), store, sleep=lambda s: None)
    assert (incremental.posts_new, store.count_posts()) == (0, 5)
    assert server.requests[-1].query["since"] == ["2024-05-14T17:05:00.000Z"]
    assert [r.path for r in server.requests].count(SESSION) == 1  # the session is kept


def test_module_contract_and_no_model_imports():
    assert bluesky.DEFAULT_BASE_URL == "https://bsky.social"
    assert bluesky.CREDENTIALS == ("BLUESKY_HANDLE", "BLUESKY_APP_PASSWORD")
    assert set(bluesky.OPTIONS) == {"lang"}
    assert BlueskySource.newest_first is True
    for line in (bluesky.RATE_LIMIT, bluesky.TERMS, *bluesky.OPTIONS.values()):
        assert line and "\n" not in line
    code = ("import sys, radar.collect.bluesky; "
            "bad = {'torch', 'transformers'} & set(sys.modules); assert not bad, bad")
    repo = Path(__file__).resolve().parents[3]
    subprocess.run([sys.executable, "-c", code], cwd=repo, check=True)
