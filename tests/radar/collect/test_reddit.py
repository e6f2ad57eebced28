"""The Reddit source: app-only token, search and comment listings, through the runner.

Fixture shapes follow Reddit's documented API:
- OAuth2, application-only (client_credentials) token answer:
  https://github.com/reddit-archive/reddit/wiki/OAuth2#application-only-oauth
- rate-limit headers and User-Agent rules: https://github.com/reddit-archive/reddit/wiki/API
- Listing / t3 (link) / t1 (comment) objects: https://www.reddit.com/dev/api#listings
"""

from __future__ import annotations

import base64
import json
import random
from datetime import UTC, datetime
from urllib.parse import parse_qs

import httpx
import pytest

from radar.collect.base import AuthError, ConfigError, Query, TransientError
from radar.collect.reddit import (
    CREDENTIALS,
    OPTIONS,
    RATE_LIMIT,
    TERMS,
    RedditSource,
    make_source,
)
from radar.collect.runner import RunnerConfig, collect_posts
from radar.store import open_store
from tests.radar.collect.conftest import load_fixture

BASE = "https://reddit.test"
TOKEN = load_fixture("reddit/token.json")
PAGE1 = load_fixture("reddit/search_page1.json")
PAGE2 = load_fixture("reddit/search_page2.json")
PAGE3 = load_fixture("reddit/search_page3.json")
COMMENTS = load_fixture("reddit/comments_page.json")
ALL_IDS = ["t3_1cltq2x", "t3_1cltb7k", "t3_1clsx0d", "t3_1clr9aa", "t3_1clq0zz", "t3_1clo7ud"]


def ok(body, headers=None):
    return (200, headers or {}, body)


def mock_transport(routes):
    """MockTransport serving ``path -> [(status, headers, body)]`` in order (last repeats)."""
    seen: list[httpx.Request] = []
    queues = {path: list(responses) for path, responses in routes.items()}

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        queue = queues[request.url.path]
        status, headers, body = queue.pop(0) if len(queue) > 1 else queue[0]
        content = body if isinstance(body, bytes) else json.dumps(body).encode()
        return httpx.Response(status, headers={"content-type": "application/json", **headers},
                              content=content)

    return httpx.MockTransport(handler), seen


def source_for(routes, now=lambda: 1_715_000_000.0, **kwargs):
    transport, seen = mock_transport({"/api/v1/access_token": [ok(TOKEN)], **routes})
    source = RedditSource("app-id", "app-secret", base_url=BASE, auth_base_url=BASE,
                          transport=transport, now=now, **kwargs)
    return source, seen


def api_requests(seen, path="/search"):
    return [r for r in seen if r.url.path == path]


def token_requests(seen):
    return [r for r in seen if r.url.path == "/api/v1/access_token"]


def test_module_describes_itself():
    assert CREDENTIALS == ("REDDIT_CLIENT_ID", "REDDIT_CLIENT_SECRET")
    assert set(OPTIONS) == {"subreddit", "kind"}
    assert "per minute" in RATE_LIMIT and "Reddit" in TERMS
    assert RedditSource.name == "reddit" and RedditSource.newest_first is True


def test_search_page_parses_into_posts():
    source, seen = source_for({"/search": [ok(PAGE1)]})
    page = source.fetch_page(Query("xfinity outage"), None)

    assert [p.post_id for p in page.posts] == ALL_IDS[:3]
    first, deleted, third = page.posts
    assert first.source == "reddit"
    assert first.text.startswith("Xfinity outage 3rd time this week & nobody can tell me why\n\n"
                                 "Internet has been down since 6am.")
    assert '"no outage in your area"' in first.text
    assert first.created_at == datetime(2024, 5, 6, 14, 21, 9, tzinfo=UTC)
    assert first.url == ("https://www.reddit.com/r/Comcast_Xfinity/comments/1cltq2x/"
                         "xfinity_outage_3rd_time_this_week/")
    assert first.author_id == "mapleleaf_mo"
    assert first.parent_id is None and first.lang is None
    assert first.raw == PAGE1["data"]["children"][0]["data"]
    # a link post with no body is its title; a deleted author is nobody in particular
    assert deleted.text == "Billed twice for the same month"
    assert deleted.author_id is None
    assert third.created_at == datetime(2024, 5, 6, 13, 30, tzinfo=UTC)
    assert page.next_checkpoint == {"after": "t3_1clsx0d"}
    assert page.wait == 0.0

    (token_request,) = token_requests(seen)
    assert token_request.method == "POST"
    assert token_request.headers["authorization"] == \
        "Basic " + base64.b64encode(b"app-id:app-secret").decode()
    assert parse_qs(token_request.content.decode()) == {"grant_type": ["client_credentials"]}
    (search,) = api_requests(seen)
    assert dict(search.url.params) == {"q": "xfinity outage", "sort": "new", "limit": "100",
                                       "type": "link", "raw_json": "1"}
    assert search.headers["authorization"] == "bearer fixture-token-1"
    assert "complaint-radar" in search.headers["user-agent"]


def test_subreddit_option_searches_that_subreddit_only():
    source, seen = source_for({"/r/Comcast_Xfinity/search": [ok(PAGE3)]})
    page = source.fetch_page(Query("upload", options={"subreddit": "r/Comcast_Xfinity"}), None)

    assert [p.post_id for p in page.posts] == ["t3_1clo7ud"]
    assert page.next_checkpoint is None  # after: null ends the listing
    (search,) = api_requests(seen, "/r/Comcast_Xfinity/search")
    assert search.url.params["restrict_sr"] == "1"
    assert search.url.params["q"] == "upload"


def test_comments_are_filtered_here_for_every_term():
    source, seen = source_for({"/r/Comcast_Xfinity/comments": [ok(COMMENTS)]})
    options = {"kind": "comments", "subreddit": "Comcast_Xfinity"}

    page = source.fetch_page(Query("xfinity", options=options), None)
    assert [p.post_id for p in page.posts] == ["t1_l2v9k1a", "t1_l2v8m2x"]  # XFINITY matches too
    top = page.posts[0]
    assert top.text == ("Same here in Denver. Xfinity status page says all good & my modem "
                        "is blinking orange.")
    assert top.parent_id == "t3_1cltq2x"
    assert top.url == ("https://www.reddit.com/r/Comcast_Xfinity/comments/1cltq2x/"
                       "xfinity_outage_3rd_time_this_week/l2v9k1a/")
    assert top.created_at == datetime(2024, 5, 6, 14, 40, 12, tzinfo=UTC)
    assert page.next_checkpoint == {"after": "t1_l2v7qq0"}
    request = api_requests(seen, "/r/Comcast_Xfinity/comments")[0]
    assert request.url.params["limit"] == "100" and "q" not in request.url.params

    # both words, not next to each other: only the reply to another comment has them
    (reply,) = source.fetch_page(Query("restart router", options=options), None).posts
    assert reply.post_id == "t1_l2v8zz3" and reply.parent_id == "t1_l2v7qq0"
    # one comment says "restart", another "modem": neither has both
    assert source.fetch_page(Query("restart modem", options=options), None).posts == ()

    source.fetch_page(Query("xfinity", options=options), {"after": "t1_l2v7qq0"})
    assert seen[-1].url.params["after"] == "t1_l2v7qq0"


def test_comment_stream_stops_once_it_is_older_than_since():
    source, _ = source_for({"/r/Comcast_Xfinity/comments": [ok(COMMENTS)]})
    options = {"kind": "comments", "subreddit": "Comcast_Xfinity"}
    since = datetime(2024, 5, 6, 14, 30, tzinfo=UTC)  # the page reaches back to 14:25

    page = source.fetch_page(Query("xfinity", options=options, since=since), None)
    assert page.next_checkpoint is None
    assert [p.post_id for p in page.posts] == ["t1_l2v9k1a", "t1_l2v8m2x"]


@pytest.mark.parametrize(("options", "message"), [
    ({"kind": "comments"}, "needs option subreddit"),
    ({"kind": "threads"}, "posts, comments"),
    ({"subreddit": "not a name!"}, "not a subreddit name"),
    ({"subredit": "Comcast"}, "unknown query option"),
])
def test_bad_options_are_config_errors_before_any_request(options, message):
    source, seen = source_for({})
    with pytest.raises(ConfigError, match=message):
        source.fetch_page(Query("xfinity", options=options), None)
    assert seen == []


def test_pagination_through_the_runner(tmp_path):
    source, seen = source_for({"/search": [ok(PAGE1), ok(PAGE2), ok(PAGE3)]})
    store = open_store(tmp_path / "radar.db")
    query = Query("xfinity", brand="Xfinity")

    result = collect_posts(source, query, store, sleep=pytest.fail)

    assert (result.status, result.done, result.pages, result.posts_new) == ("done", True, 3, 6)
    assert [r.url.params.get("after") for r in api_requests(seen)] == \
        [None, "t3_1clsx0d", "t3_1clq0zz"]
    assert len(token_requests(seen)) == 1  # the token is reused until it runs out
    checkpoint = store.get_checkpoint("reddit", query.key)
    assert checkpoint.done and checkpoint.state is None
    stored = list(store.iter_posts(with_raw=True))
    assert sorted(p.post_id for p in stored) == sorted(ALL_IDS)
    assert {p.brand for p in stored} == {"Xfinity"}
    assert all(p.raw and p.raw["name"] == p.post_id for p in stored)


def test_429_waits_as_told_then_succeeds(tmp_path):
    limited = (429, {"Retry-After": "7"}, {"message": "Too Many Requests", "error": 429})
    source, seen = source_for({"/search": [limited, ok(PAGE3)]})
    waits: list[float] = []

    result = collect_posts(source, Query("xfinity"), open_store(tmp_path / "radar.db"),
                           sleep=waits.append)

    assert waits == [7.0]
    assert (result.status, result.posts_new, result.requests) == ("done", 1, 2)
    assert len(api_requests(seen)) == 2


def test_server_error_backs_off_then_succeeds(tmp_path):
    source, _ = source_for({"/search": [(503, {"content-type": "text/html"}, b"<h1>down</h1>"),
                                        ok(PAGE3)]})
    waits: list[float] = []
    config = RunnerConfig()

    result = collect_posts(source, Query("xfinity"), open_store(tmp_path / "radar.db"),
                           config=config, sleep=waits.append, rng=random.Random(0))

    assert waits == [config.backoff.delay(1, random.Random(0))]
    assert 0.5 <= waits[0] <= 1.0
    assert (result.status, result.posts_new) == ("done", 1)


def test_rate_limit_headers_on_success_become_the_page_wait():
    headers = {"x-ratelimit-used": "100", "x-ratelimit-remaining": "0.0",
               "x-ratelimit-reset": "42"}
    source, _ = source_for({"/search": [ok(PAGE1, headers)]})
    assert source.fetch_page(Query("xfinity"), None).wait == 42.0


def test_malformed_bodies_are_transient_errors():
    source, _ = source_for({"/search": [(200, {}, b"{not json"), ok(load_fixture(
        "reddit/not_a_listing.json")), ok([PAGE1])]})
    with pytest.raises(TransientError, match="malformed JSON"):
        source.fetch_page(Query("xfinity"), None)
    with pytest.raises(TransientError, match="children"):
        source.fetch_page(Query("xfinity"), None)
    with pytest.raises(TransientError, match="expected a Listing object"):
        source.fetch_page(Query("xfinity"), None)


def test_malformed_children_are_rejected_and_the_rest_of_the_page_kept():
    body = json.loads(json.dumps(PAGE2))
    del body["data"]["children"][1]["data"]["created_utc"]
    body["data"]["children"].insert(0, "t3_1clsxx1")
    body["data"]["children"].append({"kind": "more", "data": {"count": 12, "children": []}})
    source, _ = source_for({"/search": [ok(body)]})
    page = source.fetch_page(Query("xfinity"), {"after": "t3_1clsx0d"})

    assert [p.post_id for p in page.posts] == ["t3_1clr9aa"]
    not_an_object, no_time = page.rejected  # "more" is not a post: skipped, not rejected
    assert (not_an_object.item_id, not_an_object.raw) == (None, "t3_1clsxx1")
    assert "listing child is a str" in not_an_object.reason
    assert no_time.item_id == "t3_1clq0zz"
    assert no_time.reason == "t3_1clq0zz: no 'created_utc'"
    assert no_time.raw == body["data"]["children"][2]  # the whole child, kind and data
    assert page.next_checkpoint == {"after": "t3_1clq0zz"}


def test_a_broken_comment_is_rejected_only_when_it_may_be_about_the_query():
    body = json.loads(json.dumps(COMMENTS))
    for child in body["data"]["children"]:
        del child["data"]["created_utc"]
    source, _ = source_for({"/r/Comcast_Xfinity/comments": [ok(body)]})
    options = {"kind": "comments", "subreddit": "Comcast_Xfinity"}
    page = source.fetch_page(Query("xfinity", options=options), None)

    # Two of the four comments mention Xfinity; the other two are dropped unseen, as
    # readable comments without the terms are.
    assert page.posts == ()
    assert [r.item_id for r in page.rejected] == ["t1_l2v9k1a", "t1_l2v8m2x"]
    assert page.next_checkpoint == {"after": "t1_l2v7qq0"}


def test_a_rejected_child_is_stored_with_the_run_and_collection_goes_on(tmp_path):
    broken = json.loads(json.dumps(PAGE2))
    del broken["data"]["children"][1]["data"]["created_utc"]
    source, seen = source_for({"/search": [ok(PAGE1), ok(broken), ok(PAGE3)]})
    store = open_store(tmp_path / "radar.db")
    query = Query("xfinity", brand="Xfinity")

    result = collect_posts(source, query, store, sleep=pytest.fail)

    assert (result.status, result.done, result.pages) == ("done", True, 3)
    assert (result.rejected, result.posts_new) == (1, 5)
    assert [r.url.params.get("after") for r in api_requests(seen)] == \
        [None, "t3_1clsx0d", "t3_1clq0zz"]
    assert sorted(p.post_id for p in store.iter_posts()) == \
        sorted(set(ALL_IDS) - {"t3_1clq0zz"})
    (row,) = store.rejected_rows(result.run_id)
    _, reason, raw = row
    assert reason == "t3_1clq0zz: no 'created_utc'"  # the id named once
    assert raw == broken["data"]["children"][1]
    assert store.get_checkpoint("reddit", query.key).done


def test_malformed_first_page_through_the_runner_stores_nothing(tmp_path):
    source, _ = source_for({"/search": [(200, {}, b"<html>rate limited</html>")]})
    store = open_store(tmp_path / "radar.db")

    result = collect_posts(source, Query("xfinity"), store, config=RunnerConfig(max_retries=1),
                           sleep=lambda s: None, rng=random.Random(0))

    assert result.status == "failed" and "malformed JSON" in result.reason
    assert store.count_posts() == 0


def test_refused_credentials_stop_the_run(tmp_path):
    transport, seen = mock_transport({
        "/api/v1/access_token": [(401, {}, {"message": "Unauthorized", "error": 401})],
        "/search": [ok(PAGE1)]})
    source = RedditSource("app-id", "the-app-secret", base_url=BASE, auth_base_url=BASE,
                          transport=transport)
    store = open_store(tmp_path / "radar.db")

    with pytest.raises(AuthError, match="REDDIT_CLIENT_ID") as caught:
        collect_posts(source, Query("xfinity"), store, sleep=pytest.fail)

    assert "the-app-secret" not in str(caught.value)
    assert api_requests(seen) == [] and len(token_requests(seen)) == 1  # not retried
    assert store.stats()["runs"][0]["status"] == "failed"


@pytest.mark.parametrize(("answer", "error", "message"), [
    ((200, {}, {"error": "invalid_grant"}), AuthError, "invalid_grant"),
    ((400, {}, {"error": "unsupported_grant_type"}), AuthError, "token request failed"),
    ((503, {}, b"upstream connect error"), TransientError, "HTTP 503"),
])
def test_token_request_failures(answer, error, message):
    transport, _ = mock_transport({"/api/v1/access_token": [answer], "/search": [ok(PAGE1)]})
    source = RedditSource("app-id", "app-secret", base_url=BASE, auth_base_url=BASE,
                          transport=transport)
    with pytest.raises(error, match=message):
        source.fetch_page(Query("xfinity"), None)


def test_one_401_gets_a_fresh_token_and_one_retry():
    fresh = dict(TOKEN, access_token="fixture-token-2")
    transport, seen = mock_transport({
        "/api/v1/access_token": [ok(TOKEN), ok(fresh)],
        "/search": [(401, {}, {"message": "Unauthorized", "error": 401}), ok(PAGE3)]})
    source = RedditSource("app-id", "app-secret", base_url=BASE, auth_base_url=BASE,
                          transport=transport)

    page = source.fetch_page(Query("xfinity"), None)

    assert [p.post_id for p in page.posts] == ["t3_1clo7ud"]
    assert len(token_requests(seen)) == 2
    assert [r.headers["authorization"] for r in api_requests(seen)] == \
        ["bearer fixture-token-1", "bearer fixture-token-2"]


def test_a_second_401_is_an_auth_error():
    unauthorized = (401, {}, {"message": "Unauthorized", "error": 401})
    source, seen = source_for({"/search": [unauthorized]})
    with pytest.raises(AuthError, match="fresh token was refused too") as caught:
        source.fetch_page(Query("xfinity"), None)
    assert "REDDIT_CLIENT_SECRET" in str(caught.value)
    assert caught.value.status == 401
    assert len(token_requests(seen)) == 2
    assert len(api_requests(seen)) == 2


def test_a_403_is_not_a_token_problem_and_is_not_retried():
    forbidden = (403, {}, {"reason": "private", "message": "Forbidden", "error": 403})
    source, seen = source_for({"/r/secretclub/search": [forbidden]})
    with pytest.raises(AuthError, match="HTTP 403") as caught:
        source.fetch_page(Query("xfinity", options={"subreddit": "secretclub"}), None)
    message = str(caught.value)
    assert "private" in message and "REDDIT_CLIENT_SECRET" in message
    assert (caught.value.status, caught.value.code) == (403, "403")
    assert len(token_requests(seen)) == 1  # no new token for a refusal a token cannot cure
    assert len(api_requests(seen, "/r/secretclub/search")) == 1


def test_token_is_renewed_when_it_is_about_to_expire():
    clock = [1_000.0]
    short = dict(TOKEN, expires_in=120)
    source, seen = source_for({"/api/v1/access_token": [ok(short)], "/search": [ok(PAGE3)]},
                              now=lambda: clock[0])

    source.fetch_page(Query("xfinity"), None)
    clock[0] += 30  # 90 s left: still good
    source.fetch_page(Query("xfinity"), None)
    assert len(token_requests(seen)) == 1
    clock[0] += 40  # 50 s left: inside the one-minute margin
    source.fetch_page(Query("xfinity"), None)
    assert len(token_requests(seen)) == 2


def test_make_source_needs_both_credentials_and_never_echoes_them():
    with pytest.raises(AuthError) as caught:
        make_source(env={})
    assert "REDDIT_CLIENT_ID" in str(caught.value) and "REDDIT_CLIENT_SECRET" in str(caught.value)

    with pytest.raises(AuthError, match="not set: REDDIT_CLIENT_ID$") as caught:
        make_source(env={"REDDIT_CLIENT_SECRET": "s3cr3t-value"})
    assert "s3cr3t-value" not in str(caught.value)


def test_make_source_uses_the_user_agent_from_the_environment():
    transport, seen = mock_transport({"/api/v1/access_token": [ok(TOKEN)],
                                      "/search": [ok(PAGE3)]})
    env = {"REDDIT_CLIENT_ID": "app-id", "REDDIT_CLIENT_SECRET": "app-secret",
           "REDDIT_USER_AGENT": "linux:radar-test:0.1 (by /u/radar_bot)"}
    source = make_source(base_url=BASE, transport=transport, env=env)

    source.fetch_page(Query("xfinity"), None)

    assert {r.headers["user-agent"] for r in seen} == {"linux:radar-test:0.1 (by /u/radar_bot)"}
    assert {r.url.host for r in seen} == {"reddit.test"}


def test_end_to_end_against_a_local_server(local_server, tmp_path):
    pages = {None: PAGE1, "t3_1clsx0d": PAGE2, "t3_1clq0zz": PAGE3}

    def reddit(request):
        if request.path == "/api/v1/access_token":
            return 200, {}, TOKEN
        if request.path == "/search":
            after = request.query.get("after", [None])[0]
            return 200, {"x-ratelimit-remaining": "97.0", "x-ratelimit-reset": "300"}, \
                pages[after]
        return 404, {}, {"message": "Not Found", "error": 404}

    server = local_server(reddit)
    env = {"REDDIT_CLIENT_ID": "app-id", "REDDIT_CLIENT_SECRET": "app-secret"}
    store = open_store(tmp_path / "radar.db")
    query = Query("xfinity", brand="Xfinity")

    first = collect_posts(make_source(base_url=server.url, env=env), query, store,
                          sleep=pytest.fail)

    assert (first.status, first.pages, first.posts_new) == ("done", 3, 6)
    assert store.count_posts() == 6
    assert sorted(p.post_id for p in store.iter_posts()) == sorted(ALL_IDS)
    token_request = next(r for r in server.requests if r.path == "/api/v1/access_token")
    assert token_request.method == "POST"
    assert token_request.headers["authorization"].startswith("Basic ")
    assert parse_qs(token_request.body.decode()) == {"grant_type": ["client_credentials"]}
    searches = [r for r in server.requests if r.path == "/search"]
    assert [r.query.get("after") for r in searches] == [None, ["t3_1clsx0d"], ["t3_1clq0zz"]]
    assert {r.headers["authorization"] for r in searches} == {"bearer fixture-token-1"}

    # a scheduled re-run: only what is newer than the newest stored post (less the one-hour
    # look-back) counts, and the posts in the look-back are stored again, not twice
    again = collect_posts(make_source(base_url=server.url, env=env), query, store,
                          sleep=pytest.fail)
    assert (again.status, again.posts_new, again.posts_seen) == ("done", 0, 3)
    # a full restart walks every page again and still stores each post once
    restart = collect_posts(make_source(base_url=server.url, env=env), query, store,
                            restart=True, sleep=pytest.fail)
    assert (restart.posts_new, restart.posts_seen) == (0, 6)
    assert store.count_posts() == 6
