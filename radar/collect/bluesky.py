"""Bluesky: post search through an account's session, newest first.

``app.bsky.feed.searchPosts`` needs an authenticated session on bsky.social, so the
source logs in with an app password (``com.atproto.server.createSession``) on its first
fetch and sends the session's ``accessJwt`` as a Bearer token. Access tokens live for
minutes; when one expires (HTTP 400 with the XRPC error ``ExpiredToken``, or 401, read
from the error's ``status`` and ``code``) the source logs in again once and repeats the
request. createSession has a tight limit of its own (30 per 5
minutes, 300 per day), which is why the session is made lazily and kept.

Results come with ``sort=latest`` (newest first) and pages follow the response's
``cursor``; a response without one is the last page. ``query.since`` is passed on as
``since``, so the platform skips older posts instead of sending them. A post view that
cannot become a post is handed to the runner as a
:class:`~radar.collect.base.RejectedItem`; the cursor comes from the response, so it
does not change paging.

Docs: https://docs.bsky.app/docs/api/app-bsky-feed-search-posts,
https://docs.bsky.app/docs/api/com-atproto-server-create-session,
https://docs.bsky.app/docs/advanced-guides/rate-limits
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import httpx

from nlp.errors import RowError
from nlp.times import parse_time
from nlp.types import Post
from radar.collect.base import (
    AuthError,
    Checkpoint,
    CollectError,
    ConfigError,
    Page,
    Query,
    RejectedItem,
    TransientError,
)
from radar.collect.http import HttpClient

DEFAULT_BASE_URL = "https://bsky.social"
HANDLE_ENV = "BLUESKY_HANDLE"
PASSWORD_ENV = "BLUESKY_APP_PASSWORD"
CREDENTIALS: tuple[str, ...] = (HANDLE_ENV, PASSWORD_ENV)
OPTIONS: dict[str, str] = {
    "lang": "only posts in this language (a language code such as en or pt-BR)",
}
RATE_LIMIT = ("3000 requests per 5 minutes per IP; createSession 30 per 5 minutes and 300 per "
              "day per account; ratelimit-* headers say what is left")
TERMS = ("Bluesky Terms of Service and Developer Guidelines: public posts only, honour "
         "deletions and account takedowns, and log in with an app password, not the account's")
PAGE_LIMIT = 100  # the documented maximum of searchPosts
SESSION_PATH = "/xrpc/com.atproto.server.createSession"
SEARCH_PATH = "/xrpc/app.bsky.feed.searchPosts"
WEB_URL = "https://bsky.app/profile/{actor}/post/{rkey}"
_CREDENTIALS_HINT = (f"check {HANDLE_ENV} and {PASSWORD_ENV} (an app password from "
                     "Settings > Privacy and security > App passwords)")
_LANG = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*$")


def post_from_view(view: Mapping[str, Any]) -> Post:
    """A ``postView`` from searchPosts as a :class:`Post`.

    ``created_at`` is the record's ``createdAt`` (set by the author's client); when that
    is missing or unreadable, the AppView's ``indexedAt``.

    Raises:
        RowError: the view lacks what a post must have (at:// uri, author did, record text).
    """
    if not isinstance(view, Mapping):
        raise RowError(f"expected a post view object, got {type(view).__name__}")
    uri = view.get("uri")
    parts = uri[len("at://"):].split("/") if isinstance(uri, str) else []
    if not isinstance(uri, str) or not uri.startswith("at://") or len(parts) != 3 \
            or not all(parts):
        raise RowError(f"post uri {uri!r} is not at://<did>/<collection>/<rkey>")
    author = view.get("author")
    did = author.get("did") if isinstance(author, Mapping) else None
    if not isinstance(did, str) or not did:
        raise RowError(f"post {uri} has no author did")
    record = view.get("record")
    if not isinstance(record, Mapping) or not isinstance(record.get("text"), str):
        raise RowError(f"post {uri} has no record text")
    try:
        created_at = parse_time(record.get("createdAt"), "record.createdAt")
    except RowError:
        created_at = None  # user-supplied; fall back to the server's time below
    if created_at is None:
        created_at = parse_time(view.get("indexedAt"), "indexedAt")
    if created_at is None:
        raise RowError(f"post {uri} has neither record.createdAt nor indexedAt")
    handle = author.get("handle")
    # An account whose handle no longer verifies shows as handle.invalid; its did still links.
    actor = handle if isinstance(handle, str) and handle and handle != "handle.invalid" else did
    reply = record.get("reply")
    parent = reply.get("parent") if isinstance(reply, Mapping) else None
    parent_uri = parent.get("uri") if isinstance(parent, Mapping) else None
    langs = record.get("langs")
    lang = langs[0] if isinstance(langs, list) and langs and isinstance(langs[0], str) else None
    return Post(
        source=BlueskySource.name,
        post_id=uri,
        text=record["text"],
        author_id=did,
        created_at=created_at,
        url=WEB_URL.format(actor=actor, rkey=parts[2]),
        parent_id=parent_uri if isinstance(parent_uri, str) and parent_uri else None,
        lang=lang or None,
        raw=dict(view),
    )


def format_since(moment: datetime) -> str:
    """``since`` as searchPosts reads it: ISO 8601 in UTC with a ``Z``."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _is_expired_token(exc: CollectError) -> bool:
    """True for a refusal that a new session can cure: 401, or 400 ``ExpiredToken``.

    The XRPC error name is the ``error`` field of the answer's JSON (``exc.code``), not
    words in its message: a 400 that only mentions ExpiredToken is something else.
    """
    return exc.status == 401 or (exc.status == 400 and exc.code == "ExpiredToken")


def _lang(query: Query) -> str | None:
    unknown = sorted(set(query.options) - set(OPTIONS))
    if unknown:
        raise ConfigError(f"bluesky: unknown query option(s) {unknown}; "
                          f"known options are {sorted(OPTIONS)}")
    lang = query.options.get("lang")
    if lang is not None and not _LANG.match(lang):
        raise ConfigError(f"bluesky: option lang={lang!r} is not a language code; "
                          "use a code such as en, de or pt-BR")
    return lang


class BlueskySource:
    """Bluesky posts matching a search query, newest first, through an app-password session."""

    name = "bluesky"
    newest_first = True  # searchPosts is always asked with sort=latest

    def __init__(self, base_url: str = DEFAULT_BASE_URL,
                 transport: httpx.BaseTransport | None = None, handle: str | None = None,
                 app_password: str | None = None):
        missing = [name for name, value in ((HANDLE_ENV, handle), (PASSWORD_ENV, app_password))
                   if not value]
        if missing:
            raise AuthError(_missing_message(missing))
        self.handle = handle
        self._app_password = app_password
        self._access_jwt: str | None = None
        self.http = HttpClient(base_url, transport=transport, auth_hint=_CREDENTIALS_HINT)

    def fetch_page(self, query: Query, checkpoint: Checkpoint | None) -> Page:
        """One page of posts after ``checkpoint`` (``None``: the newest)."""
        params: dict[str, Any] = {"q": query.terms, "limit": PAGE_LIMIT, "sort": "latest",
                                  "lang": _lang(query)}
        if query.since is not None:
            params["since"] = format_since(query.since)
        if checkpoint and checkpoint.get("cursor"):
            params["cursor"] = str(checkpoint["cursor"])
        body = self._search(params)
        where = f"GET {self.http.base_url}{SEARCH_PATH}"
        views = body.get("posts") if isinstance(body, Mapping) else None
        if not isinstance(views, list):
            raise TransientError(f"{where}: expected an object with a 'posts' array, got "
                                 f"{_describe(body)}")
        posts, rejected = _posts(views)
        cursor = body.get("cursor")
        # An empty page with a cursor would page forever on nothing; it ends the run too.
        # A page of only rejected views is not empty: the cursor goes on past it.
        done = not views or not isinstance(cursor, str) or not cursor
        return Page(posts, None if done else {"cursor": cursor}, wait=self.http.last_wait,
                    rejected=rejected)

    def _search(self, params: Mapping[str, Any]) -> Any:
        fresh = self._access_jwt is None
        if fresh:
            self._create_session()
        try:
            return self.http.get_json(SEARCH_PATH, params, headers=self._auth_headers())
        except CollectError as exc:
            # A session made for this very request is not stale: its refusal stands.
            if fresh or not _is_expired_token(exc):
                raise
        self._create_session()
        return self.http.get_json(SEARCH_PATH, params, headers=self._auth_headers())

    def _auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._access_jwt}"}

    def _create_session(self) -> None:
        self._access_jwt = None
        try:
            body = self.http.post_json(SESSION_PATH, body={"identifier": self.handle,
                                                           "password": self._app_password})
        except TransientError:
            raise  # 429, 5xx, network: the runner waits and tries again
        except AuthError as exc:
            raise AuthError(f"bluesky: login as {self.handle!r} failed: {exc}") from exc
        except CollectError as exc:
            raise AuthError(f"bluesky: login as {self.handle!r} failed: {exc}; "
                            f"{_CREDENTIALS_HINT}") from exc
        token = body.get("accessJwt") if isinstance(body, Mapping) else None
        if not isinstance(token, str) or not token:
            raise TransientError(f"POST {self.http.base_url}{SESSION_PATH}: expected a session "
                                 f"with an accessJwt, got {_describe(body)}")
        self._access_jwt = token



def _posts(views: Sequence[Any]) -> tuple[tuple[Post, ...], tuple[RejectedItem, ...]]:
    """The page's views as posts, and those that cannot be (with why) as rejected."""
    posts, rejected = [], []
    for view in views:
        try:
            posts.append(post_from_view(view))
        except RowError as exc:
            uri = view.get("uri") if isinstance(view, Mapping) else None
            rejected.append(RejectedItem(uri if isinstance(uri, str) and uri else None,
                                         str(exc), view))
    return tuple(posts), tuple(rejected)


def _describe(body: Any) -> str:
    if isinstance(body, Mapping):
        return f"an object with keys {sorted(body)[:8]}"
    return f"a {type(body).__name__}"


def _missing_message(missing: Sequence[str]) -> str:
    return (f"bluesky: search needs a logged-in account; set {' and '.join(missing)} "
            "(the handle, e.g. name.bsky.social, and an app password from Settings > "
            "Privacy and security > App passwords)")


def make_source(base_url: str | None = None, transport: httpx.BaseTransport | None = None,
                env: Mapping[str, str] | None = None) -> BlueskySource:
    """A :class:`BlueskySource` logging in with ``BLUESKY_HANDLE`` and ``BLUESKY_APP_PASSWORD``.

    Raises:
        AuthError: naming whichever of the two variables is unset or empty.
    """
    env = os.environ if env is None else env
    handle = env.get(HANDLE_ENV) or None
    password = env.get(PASSWORD_ENV) or None
    missing = [name for name, value in ((HANDLE_ENV, handle), (PASSWORD_ENV, password))
               if not value]
    if missing:
        raise AuthError(_missing_message(missing))
    return BlueskySource(base_url=base_url or DEFAULT_BASE_URL, transport=transport,
                         handle=handle, app_password=password)
