"""X (Twitter): posts about a brand from the official API v2 recent search, with a bearer token.

``GET /2/tweets/search/recent`` returns posts newest first, up to 100 a request, with
``meta.next_token`` for the next page; the token is the checkpoint. The author's
username comes from the ``author_id`` expansion (``includes.users``) and builds the
post's web URL.

Recent search only covers the last seven days. A ``since`` older than that is clamped
to seven days ago plus a minute (X refuses an older ``start_time``), so such a run
silently covers less than asked: the week is all the endpoint has. The clamp uses the
source's clock (``now``), which tests replace.

Response shapes (all HTTP 200):

- ``{"data": [...], "includes": {...}, "meta": {...}}``: a page of posts. An
  ``errors`` list next to ``data`` describes expansions that could not be filled in
  (a deleted referenced post, a suspended author) and is ignored: the posts are fine.
- ``{"meta": {"result_count": 0}}``: no (more) matches, an empty final page; there
  is no ``data`` key at all.
- ``{"errors": [...]}`` with neither ``data`` nor ``meta``: the request failed inside
  a 200. Treated as a malformed response (``TransientError``, retried by the runner),
  with the first error's title and detail in the message.

A post object in ``data`` that cannot become a post (no id, no text, not an object) is
handed to the runner as a :class:`~radar.collect.base.RejectedItem`; ``next_token``
comes from ``meta``, so paging is unaffected.
"""

from __future__ import annotations

import html
import os
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from nlp.errors import RowError
from nlp.times import parse_time
from nlp.types import Post
from radar.collect.base import (
    AuthError,
    Checkpoint,
    ConfigError,
    Page,
    Query,
    RejectedItem,
    TransientError,
)
from radar.collect.http import HttpClient

DEFAULT_BASE_URL = "https://api.x.com"
SEARCH_PATH = "/2/tweets/search/recent"
WEB_URL = "https://x.com"
CREDENTIALS: tuple[str, ...] = ("X_BEARER_TOKEN",)
OPTIONS: dict[str, str] = {
    "max_results": "posts per request, 10 to 100 (default 100)",
}
RATE_LIMIT = ("recent search: 450 requests per 15-minute window per app with an app-only "
              "bearer token (X API reference; lower on smaller access tiers, and monthly post "
              "caps apply); x-rate-limit-remaining/reset headers are honoured")
TERMS = ("X Developer Agreement and Policy: official API only, share post IDs rather than "
         "content, honour deletions and protected accounts, no surveillance of individuals")
# note_tweet carries the full text of posts longer than 280 characters; `text` is cut short.
TWEET_FIELDS = "created_at,lang,author_id,conversation_id,referenced_tweets,note_tweet"
MAX_RESULTS = (10, 100)
RECENT_WINDOW = timedelta(days=7)
WINDOW_MARGIN = timedelta(minutes=1)  # the request takes time; stay inside the window
MIN_AGE = timedelta(seconds=30)  # X refuses a start_time less than ~10 s before the request
TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"  # what X accepts: second granularity, UTC


def read_max_results(options: Mapping[str, str]) -> int:
    """``max_results`` from ``query.options`` (default 100); ConfigError if unknown or bad."""
    unknown = sorted(set(options) - set(OPTIONS))
    if unknown:
        raise ConfigError(f"x: unknown query option(s) {', '.join(unknown)}; "
                          f"allowed: {', '.join(OPTIONS)}")
    value = options.get("max_results")
    if value is None:
        return MAX_RESULTS[1]
    low, high = MAX_RESULTS
    try:
        number = int(str(value).strip())
    except ValueError:
        number = None
    if number is None or not low <= number <= high:
        raise ConfigError(f"x: option max_results={value!r} must be a whole number from "
                          f"{low} to {high}")
    return number


def clamp_start_time(since: datetime | None, now: datetime) -> datetime | None:
    """``since`` moved inside recent search's window: not before now-7d+1min, not after now-30s."""
    if since is None:
        return None
    earliest = now - RECENT_WINDOW + WINDOW_MARGIN
    return min(max(since, earliest), now - MIN_AGE)


def post_from_tweet(tweet: Mapping[str, Any], usernames: Mapping[str, str]) -> Post:
    """One post object from ``data`` as a Post; ``usernames`` maps author id to username.

    Raises:
        RowError: the object lacks an id or text, or is not an object at all.
    """
    if not isinstance(tweet, Mapping):
        raise RowError(f"expected a post object, got a {type(tweet).__name__}")
    post_id = tweet.get("id")
    if not isinstance(post_id, str) or not post_id:
        raise RowError("post has no string 'id'")
    note = tweet.get("note_tweet")
    text = note.get("text") if isinstance(note, Mapping) else None
    if not isinstance(text, str) or not text:
        text = tweet.get("text")
    if not isinstance(text, str):
        raise RowError(f"post {post_id}: no 'text'")
    author_id = tweet.get("author_id")
    author_id = author_id if isinstance(author_id, str) and author_id else None
    username = usernames.get(author_id) if author_id else None
    url = (f"{WEB_URL}/{username}/status/{post_id}" if username
           else f"{WEB_URL}/i/web/status/{post_id}")
    parent_id = None
    references = tweet.get("referenced_tweets") or []
    if not isinstance(references, list):
        raise RowError(f"post {post_id}: 'referenced_tweets' is not a list")
    for ref in references:
        if isinstance(ref, Mapping) and ref.get("type") == "replied_to":
            parent_id = str(ref.get("id")) if ref.get("id") else None
            break
    lang = tweet.get("lang")
    # "und": X could not tell the language; that is not a language code to filter on.
    lang = lang if isinstance(lang, str) and lang and lang != "und" else None
    return Post(source="x", post_id=post_id, text=html.unescape(text), author_id=author_id,
                created_at=parse_time(tweet.get("created_at"), "created_at"), url=url,
                parent_id=parent_id, lang=lang, raw=dict(tweet))


def _usernames(body: Mapping[str, Any], what: str) -> dict[str, str]:
    includes = body.get("includes") or {}
    users = includes.get("users", []) if isinstance(includes, Mapping) else None
    if not isinstance(users, list):
        raise TransientError(f"{what}: malformed response, 'includes.users' is not a list")
    return {u["id"]: u["username"] for u in users
            if isinstance(u, Mapping) and isinstance(u.get("id"), str)
            and isinstance(u.get("username"), str)}


def parse_search(body: Any, what: str
                 ) -> tuple[list[Post], list[RejectedItem], str | None]:
    """Posts, rejected post objects and ``meta.next_token`` of one recent-search answer.

    Raises:
        TransientError: the answer as a whole is malformed (no ``meta``, ``data`` not a
            list, an error-only body).
    """
    if not isinstance(body, Mapping):
        raise TransientError(f"{what}: malformed response, expected a JSON object, got a "
                             f"{type(body).__name__}")
    data, meta = body.get("data"), body.get("meta")
    if data is None and meta is None:
        errors = body.get("errors")
        if isinstance(errors, list) and errors:
            first = errors[0] if isinstance(errors[0], Mapping) else {}
            raise TransientError(f"{what}: answer has 'errors' but neither 'data' nor 'meta' "
                                 f"({len(errors)} error(s); first: {first.get('title')!r}: "
                                 f"{first.get('detail')!r})")
        raise TransientError(f"{what}: malformed response, neither 'data' nor 'meta'")
    if not isinstance(meta, Mapping):
        raise TransientError(f"{what}: malformed response, 'meta' is missing or not an object "
                             "(needed to know whether more pages follow)")
    if data is None:
        data = []  # result_count 0: X leaves `data` out
    if not isinstance(data, list):
        raise TransientError(f"{what}: malformed response, 'data' is a "
                             f"{type(data).__name__}, expected a list of posts")
    usernames = _usernames(body, what)
    posts, rejected = [], []
    for tweet in data:
        try:
            posts.append(post_from_tweet(tweet, usernames))
        except RowError as exc:
            post_id = tweet.get("id") if isinstance(tweet, Mapping) else None
            rejected.append(RejectedItem(post_id if isinstance(post_id, str) and post_id
                                         else None, str(exc), tweet))
    next_token = meta.get("next_token")
    if next_token is not None and not isinstance(next_token, str):
        raise TransientError(f"{what}: malformed response, 'meta.next_token' is a "
                             f"{type(next_token).__name__}, expected a string")
    return posts, rejected, next_token or None


class XSource:
    """X API v2 recent search (last seven days) with an app-only bearer token."""

    name = "x"
    newest_first = True

    def __init__(self, bearer_token: str, base_url: str = DEFAULT_BASE_URL,
                 transport: httpx.BaseTransport | None = None,
                 now: Callable[[], float] = time.time):
        if not bearer_token:
            raise AuthError(f"X needs an app bearer token; set {CREDENTIALS[0]}")
        self.now = now
        self.http = HttpClient(base_url, transport=transport,
                               headers={"Authorization": f"Bearer {bearer_token}"}, now=now,
                               auth_hint=f"check {CREDENTIALS[0]} (the app's bearer token); a "
                                         "403 can also mean the app's access level does not "
                                         "include recent search")

    def _start_time(self, query: Query, checkpoint: Checkpoint | None) -> str | None:
        now = datetime.fromtimestamp(self.now(), tz=UTC)
        since = query.since
        if checkpoint is not None and checkpoint.get("start_time"):
            # Keep the first page's start_time so later pages match the next_token's query,
            # unless a long pause pushed it out of the window.
            since = datetime.strptime(checkpoint["start_time"], TIME_FORMAT).replace(tzinfo=UTC)
        start = clamp_start_time(since, now)
        return start.strftime(TIME_FORMAT) if start is not None else None

    def fetch_page(self, query: Query, checkpoint: Checkpoint | None) -> Page:
        """One page of recent search after ``checkpoint["next_token"]`` (``None``: the newest)."""
        max_results = read_max_results(query.options)
        next_token = None
        if checkpoint is not None:
            next_token = checkpoint.get("next_token")
            if not isinstance(next_token, str) or not next_token:
                raise ConfigError(f"x: stored checkpoint {dict(checkpoint)!r} has no "
                                  "'next_token'; run again with --restart")
        start_time = self._start_time(query, checkpoint)
        if next_token is not None and start_time != checkpoint.get("start_time"):
            # The pause outlasted X's 7-day window: the token belongs to a query X no longer
            # answers, so start again from the newest posts within the window.
            next_token = None
        params = {"query": query.terms, "max_results": max_results, "sort_order": "recency",
                  "tweet.fields": TWEET_FIELDS, "expansions": "author_id",
                  "user.fields": "username", "start_time": start_time,
                  "next_token": next_token}
        body = self.http.get_json(SEARCH_PATH, params)
        posts, rejected, following = parse_search(body, f"GET {SEARCH_PATH}")
        next_checkpoint = ({"next_token": following, "start_time": start_time}
                           if following else None)
        return Page(tuple(posts), next_checkpoint, wait=self.http.last_wait,
                    rejected=tuple(rejected))


def make_source(base_url: str | None = None, transport: httpx.BaseTransport | None = None,
                env: Mapping[str, str] | None = None) -> XSource:
    """An XSource with the bearer token from ``X_BEARER_TOKEN``.

    Raises:
        AuthError: the token is missing; the message names the variable to set.
    """
    env = os.environ if env is None else env
    token = env.get(CREDENTIALS[0], "").strip()
    if not token:
        raise AuthError(f"X needs {CREDENTIALS[0]} (the app's bearer token from the X developer "
                        "portal, Keys and tokens); set it in the environment")
    return XSource(token, base_url=base_url or DEFAULT_BASE_URL, transport=transport)
