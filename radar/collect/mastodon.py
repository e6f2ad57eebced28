"""Mastodon: one server's public hashtag timeline, or its status search (with a token).

Two ways in, chosen by the query option ``mode``:

- ``hashtag`` (default): ``GET /api/v1/timelines/tag/{hashtag}``, public on most servers.
  Newest first; the next page is asked for with ``max_id`` = the id of the page's last
  status (what the Link header's ``rel="next"`` says too, without parsing headers).
  That id is read from the raw timeline item, so a last status that cannot become a
  post still moves the cursor on.
- ``search``: ``GET /api/v2/search?type=statuses``, which needs a user token
  (``MASTODON_TOKEN``, scope ``read:search``). Mastodon orders status hits by id,
  newest first. Pages advance with ``offset``: the server turns ``max_id`` into a coarse
  ``before:`` date filter, which can skip statuses of the same day.

A status that cannot become a post (no uri, no time, not an object) is handed to the
runner as a :class:`~radar.collect.base.RejectedItem` with the reason and its JSON; the
rest of its page is collected as usual.

A status is the same post whichever server shows it, so ``post_id`` is the status
``uri`` (its federation id), not the server-local ``id``. Boosts are unwrapped: the
post is the boosted status, ``raw`` keeps the whole timeline item.

Docs: https://docs.joinmastodon.org/methods/timelines/#tag,
https://docs.joinmastodon.org/methods/search/#v2, https://docs.joinmastodon.org/entities/Status/
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote, urlsplit

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
from radar.collect.markup import html_to_text

DEFAULT_BASE_URL = "https://mastodon.social"
TOKEN_ENV = "MASTODON_TOKEN"
BASE_URL_ENV = "MASTODON_BASE_URL"
# The token is optional for hashtag timelines and required for search.
CREDENTIALS: tuple[str, ...] = (TOKEN_ENV,)
MODES = ("hashtag", "search")
OPTIONS: dict[str, str] = {
    "mode": "hashtag (default): the public timeline of the hashtag given as the query; "
            f"search: full-text status search, needs {TOKEN_ENV}",
}
RATE_LIMIT = ("300 requests per 5 minutes per account (per IP without a token) by default; "
              "servers may set their own, X-RateLimit-* headers say what is left")
TERMS = ("Each server's own terms apply (see its /about page): public statuses only, "
         "honour deletions, and respect members who opt out of indexing (noindex, #nobot)")
PAGE_LIMIT = 40  # the documented maximum for both endpoints
TAG_PATH = "/api/v1/timelines/tag/{tag}"
SEARCH_PATH = "/api/v2/search"

# Tags that end a line or a paragraph in Mastodon's (and other fediverse servers') HTML.
def full_acct(account: Mapping[str, Any], server_host: str) -> str:
    """The account as ``user@domain``, the same whichever server the status was read from.

    ``acct`` is relative to the server asked: a local account is just ``user``, a remote
    one ``user@domain``. Qualifying local accounts with the server's host keeps an author
    stable when the same status is collected through different servers (as ``post_id``
    is). The profile ``url`` would also be stable, but it is a display link that servers
    format differently. Limitation: a server whose web host differs from its account
    domain (split-domain setups) qualifies its local users with the web host.
    """
    acct = account.get("acct")
    if not isinstance(acct, str) or not acct.strip():
        raise RowError("status account has no acct")
    acct = acct.strip().lstrip("@")
    return acct if "@" in acct else f"{acct}@{server_host}"


def post_from_status(item: Mapping[str, Any], server_host: str) -> Post:
    """A timeline or search item (a Status entity) as a :class:`Post`.

    A boost is unwrapped to the boosted status. ``parent_id`` is ``in_reply_to_id``,
    which is the *server-local* id of the parent, not its uri: it identifies the parent
    only on ``server_host``.

    Raises:
        RowError: the item lacks what a status must have (uri, content, account, time).
    """
    if not isinstance(item, Mapping):
        raise RowError(f"expected a status object, got {type(item).__name__}")
    status = item.get("reblog") or item
    if not isinstance(status, Mapping):
        raise RowError(f"reblog is a {type(status).__name__}, not a status object")
    uri = status.get("uri")
    if not isinstance(uri, str) or not uri:
        raise RowError(f"status {status.get('id')!r} has no uri")
    content = status.get("content")
    if not isinstance(content, str):
        raise RowError(f"status {uri} has no HTML content")
    account = status.get("account")
    if not isinstance(account, Mapping):
        raise RowError(f"status {uri} has no account")
    created_at = parse_time(status.get("created_at"), "created_at")
    if created_at is None:
        raise RowError(f"status {uri} has no created_at")
    text = html_to_text(content)
    spoiler = status.get("spoiler_text")
    if isinstance(spoiler, str) and spoiler.strip():
        # A content warning is often the complaint's headline ("rant: my bank"); keep it.
        text = f"{spoiler.strip()}\n\n{text}" if text else spoiler.strip()
    parent = status.get("in_reply_to_id")
    lang = status.get("language")
    url = status.get("url")
    return Post(
        source=MastodonSource.name,
        post_id=uri,
        text=text,
        author_id=full_acct(account, server_host),
        created_at=created_at,
        url=url if isinstance(url, str) and url else None,
        parent_id=str(parent) if parent is not None else None,
        lang=lang if isinstance(lang, str) and lang else None,
        raw=dict(item),
    )


def _mode(query: Query) -> str:
    unknown = sorted(set(query.options) - set(OPTIONS))
    if unknown:
        raise ConfigError(f"mastodon: unknown query option(s) {unknown}; "
                          f"known options are {sorted(OPTIONS)}")
    mode = query.options.get("mode", "hashtag")
    if mode not in MODES:
        raise ConfigError(f"mastodon: option mode={mode!r} is not one of {', '.join(MODES)}")
    return mode


def _hashtag(terms: str) -> str:
    tag = terms.strip().removeprefix("#")
    if not tag or any(ch.isspace() or ch == "#" for ch in tag):
        raise ConfigError(f"mastodon: hashtag mode takes one hashtag as the query, got "
                          f"{terms!r}; for words or several tags use the option mode=search")
    return tag


class MastodonSource:
    """Statuses from one Mastodon server, by hashtag timeline or (with a token) search."""

    name = "mastodon"
    newest_first = True

    def __init__(self, base_url: str = DEFAULT_BASE_URL,
                 transport: httpx.BaseTransport | None = None, token: str | None = None):
        self.token = token or None
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else None
        hint = (f"check {TOKEN_ENV}: the token may be revoked or lack the read scopes"
                if self.token else
                f"this server shows its API only to signed-in apps: set {TOKEN_ENV} "
                "(scope read)")
        self.http = HttpClient(base_url, transport=transport, headers=headers, auth_hint=hint)
        self.server_host = (urlsplit(self.http.base_url).hostname or self.http.base_url).lower()

    def fetch_page(self, query: Query, checkpoint: Checkpoint | None) -> Page:
        """One page of statuses after ``checkpoint`` (``None``: the newest)."""
        if _mode(query) == "search":
            return self._search_page(query, checkpoint)
        return self._hashtag_page(query, checkpoint)

    def _hashtag_page(self, query: Query, checkpoint: Checkpoint | None) -> Page:
        path = TAG_PATH.format(tag=quote(_hashtag(query.terms), safe=""))
        max_id = checkpoint.get("max_id") if checkpoint else None
        body = self.http.get_json(path, {"limit": PAGE_LIMIT, "max_id": max_id})
        where = f"GET {self.http.base_url}{path}"
        if not isinstance(body, list):
            raise TransientError(f"{where}: expected a JSON array of statuses, got a "
                                 f"{type(body).__name__}")
        posts, rejected = self._posts(body)
        if not body:
            return Page(posts, None, wait=self.http.last_wait)
        # The cursor is the timeline item's own id: for a boost that is the boost, not the
        # boosted status (whose id can be far older). It comes from the raw items, so a
        # rejected last item still moves the cursor; should that item have no id at all,
        # the last one that has one does (its older neighbours come back and are rejected
        # again, but the cursor never stands still).
        last_id = next((item_id for item_id in map(_timeline_id, reversed(body))
                        if item_id is not None), None)
        if last_id is None:
            raise TransientError(f"{where}: none of the page's {len(body)} items has an id "
                                 "to page on")
        return Page(posts, {"max_id": last_id}, wait=self.http.last_wait, rejected=rejected)

    def _search_page(self, query: Query, checkpoint: Checkpoint | None) -> Page:
        if not self.token:
            raise AuthError(f"mastodon: status search needs a user access token; set "
                            f"{TOKEN_ENV} (scope read:search, from Preferences > Development "
                            "on your server), or use mode=hashtag which needs none")
        offset = _offset(checkpoint)
        params = {"q": query.terms, "type": "statuses", "limit": PAGE_LIMIT,
                  "offset": offset or None}
        body = self.http.get_json(SEARCH_PATH, params)
        where = f"GET {self.http.base_url}{SEARCH_PATH}"
        statuses = body.get("statuses") if isinstance(body, Mapping) else None
        if not isinstance(statuses, list):
            raise TransientError(f"{where}: expected an object with a 'statuses' array, got "
                                 f"{_describe(body)}")
        posts, rejected = self._posts(statuses)
        if not statuses:
            return Page(posts, None, wait=self.http.last_wait)
        # Advance by what was asked for, not what came back: the server drops filtered
        # statuses after applying limit/offset, so a short page is not necessarily the end.
        # Rejected statuses change nothing here for the same reason.
        return Page(posts, {"offset": offset + PAGE_LIMIT}, wait=self.http.last_wait,
                    rejected=rejected)

    def _posts(self, items: Sequence[Any]) -> tuple[tuple[Post, ...], tuple[RejectedItem, ...]]:
        """The page's items as posts, and those that cannot be (with why) as rejected."""
        posts, rejected = [], []
        for item in items:
            try:
                posts.append(post_from_status(item, self.server_host))
            except RowError as exc:
                rejected.append(RejectedItem(_status_key(item), str(exc), item))
        return tuple(posts), tuple(rejected)


def _timeline_id(item: Any) -> str | None:
    """A timeline item's own (server-local) id, the ``max_id`` cursor; None if it has none."""
    item_id = item.get("id") if isinstance(item, Mapping) else None
    if isinstance(item_id, str | int) and not isinstance(item_id, bool) and item_id != "":
        return str(item_id)
    return None


def _status_key(item: Any) -> str | None:
    """What identifies a rejected item: its status uri (the post id), else its own id."""
    if isinstance(item, Mapping):
        status = item.get("reblog") or item
        uri = status.get("uri") if isinstance(status, Mapping) else None
        if isinstance(uri, str) and uri:
            return uri
    return _timeline_id(item)


def _offset(checkpoint: Checkpoint | None) -> int:
    value = checkpoint.get("offset", 0) if checkpoint else 0
    try:
        offset = int(value)
    except (TypeError, ValueError):
        offset = -1
    if offset < 0:
        raise ConfigError(f"mastodon: the stored search checkpoint has offset {value!r}, "
                          "expected a whole number >= 0; collect again with --restart to start "
                          "from the first page")
    return offset


def _describe(body: Any) -> str:
    if isinstance(body, Mapping):
        return f"an object with keys {sorted(body)[:8]}"
    return f"a {type(body).__name__}"


def make_source(base_url: str | None = None, transport: httpx.BaseTransport | None = None,
                env: Mapping[str, str] | None = None) -> MastodonSource:
    """A :class:`MastodonSource` configured from the environment.

    Reads ``MASTODON_BASE_URL`` (the server; default mastodon.social) unless ``base_url``
    is given, and ``MASTODON_TOKEN`` (optional for hashtags, required for ``mode=search``,
    which raises :class:`AuthError` naming it when it is missing).
    """
    env = os.environ if env is None else env
    url = base_url or env.get(BASE_URL_ENV) or DEFAULT_BASE_URL
    return MastodonSource(base_url=url, transport=transport, token=env.get(TOKEN_ENV) or None)
