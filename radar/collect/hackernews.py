"""Hacker News stories and comments, through the HN Search API (Algolia), newest first.

``GET /api/v1/search_by_date`` returns hits newest first, but Algolia serves at most
1,000 hits per query however it is paged, so paging by page number stops early on any
busy term. We page by time instead: each page asks for hits at or before the oldest
second of the previous page (``numericFilters=created_at_i<=BEFORE``).

Several hits can share that boundary second, and the next page may start in the middle
of them. A strict ``<`` would skip the ones not yet seen; ``<=`` alone would return the
oldest hit again on every page and never reach an empty page. So the checkpoint keeps
the ids already returned at the boundary second (``seen``), and those are dropped from
the next page: nothing is lost, nothing is returned twice, and the last page ends the run.

A hit that cannot become a post (no ``objectID``, no ``created_at_i``, not an object) is
handed to the runner as a :class:`~radar.collect.base.RejectedItem`. Paging reads the raw
hits, not the posts: a page is full when it holds ``hitsPerPage`` hits, rejected ones
included, and a rejected hit's second, when readable, counts toward the boundary like
any other. (A rejected hit without an id cannot join ``seen``, and one without a second
cannot be placed in time; should the filter return such a hit again, it is rejected
again.)
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import httpx

from nlp.errors import RowError
from nlp.types import Post
from radar.collect.base import (
    Checkpoint,
    ConfigError,
    Page,
    Query,
    RejectedItem,
    Source,
    TransientError,
)
from radar.collect.http import HttpClient
from radar.collect.markup import html_to_text

DEFAULT_BASE_URL = "https://hn.algolia.com"
SEARCH_PATH = "/api/v1/search_by_date"
CREDENTIALS: tuple[str, ...] = ()
OPTIONS = {"tags": "which items to collect: story, comment or both (default both)"}
RATE_LIMIT = "HN Search API: about 10,000 requests per hour per IP; no key needed"
TERMS = ("HN Search API by Algolia is public and keyless; posts belong to their authors, "
         "link back to news.ycombinator.com")
ITEM_URL = "https://news.ycombinator.com/item?id={}"
HITS_PER_PAGE = 100
TAG_FILTERS = {"story": "story", "comment": "comment", "both": "(story,comment)"}


def post_from_hit(hit: Mapping[str, Any]) -> Post:
    """One search hit (story or comment) as a :class:`Post`.

    Raises:
        RowError: the hit lacks its ``objectID`` or its integer ``created_at_i``, or is
            not an object.
    """
    if not isinstance(hit, Mapping):
        raise RowError(f"expected a hit object, got a {type(hit).__name__}")
    post_id = hit.get("objectID")
    if not isinstance(post_id, str | int) or not str(post_id):
        raise RowError(f"hit without an objectID (keys: {sorted(hit)[:12]})")
    post_id = str(post_id)
    created = hit.get("created_at_i")
    if not isinstance(created, int) or isinstance(created, bool):
        raise RowError(f"hit {post_id} has no integer created_at_i (got {created!r})")
    tags = hit.get("_tags") or []
    is_comment = "comment" in tags if tags else hit.get("comment_text") is not None
    if is_comment:
        text = html_to_text(hit.get("comment_text") or "")
        parent = hit.get("parent_id")
        parent_id = str(parent) if parent is not None else None
    else:
        body = html_to_text(hit.get("story_text") or "")
        # Algolia sends titles as plain text; only the bodies are HTML.
        title = (hit.get("title") or "").strip()
        text = "\n".join(part for part in (title, body) if part)
        parent_id = None
    author = hit.get("author")
    return Post(source=HackerNewsSource.name, post_id=post_id, text=text,
                author_id=str(author) if author else None,
                created_at=datetime.fromtimestamp(created, tz=UTC),
                url=ITEM_URL.format(post_id), parent_id=parent_id, raw=dict(hit))


def _hit_key(hit: Any) -> tuple[str | None, int | None]:
    """A raw hit's id and second, each None when it is missing or unreadable."""
    if not isinstance(hit, Mapping):
        return None, None
    post_id = hit.get("objectID")
    post_id = str(post_id) if isinstance(post_id, str | int) and not isinstance(
        post_id, bool) and str(post_id) else None
    second = hit.get("created_at_i")
    second = second if isinstance(second, int) and not isinstance(second, bool) else None
    return post_id, second


def _tag_filter(query: Query) -> str:
    unknown = sorted(set(query.options) - set(OPTIONS))
    if unknown:
        raise ConfigError(f"hackernews: unknown option(s) {unknown}; known: {sorted(OPTIONS)}")
    kind = query.options.get("tags", "both")
    if kind not in TAG_FILTERS:
        raise ConfigError(f"hackernews: option tags must be one of {sorted(TAG_FILTERS)}, "
                          f"got {kind!r}")
    return TAG_FILTERS[kind]


def _read_checkpoint(checkpoint: Checkpoint | None) -> tuple[int | None, frozenset[str]]:
    if checkpoint is None:
        return None, frozenset()
    before = checkpoint.get("before")
    seen = checkpoint.get("seen", [])
    if not isinstance(before, int) or not isinstance(seen, list):
        raise ConfigError(f"hackernews: checkpoint must look like {{'before': <epoch seconds>, "
                          f"'seen': [ids]}}, got {dict(checkpoint)!r}; rerun with --restart")
    return before, frozenset(str(s) for s in seen)


class HackerNewsSource:
    """Stories and comments matching a query, newest first, from the HN Search API."""

    name = "hackernews"
    newest_first = True

    def __init__(self, base_url: str = DEFAULT_BASE_URL,
                 transport: httpx.BaseTransport | None = None,
                 hits_per_page: int = HITS_PER_PAGE):
        if not 1 <= hits_per_page <= 1000:
            raise ConfigError(f"hackernews: hits_per_page must be 1..1000, got {hits_per_page}")
        self.http = HttpClient(base_url, transport=transport)
        self.hits_per_page = hits_per_page

    def fetch_page(self, query: Query, checkpoint: Checkpoint | None) -> Page:
        """Hits at or before the checkpoint's second, minus those it says were returned.

        Hits that cannot become posts come back in ``Page.rejected``.

        Raises:
            TransientError: the answer lacks the ``hits`` list, or a full page has no hit
                with a readable time to page on.
            ConfigError: a bad ``tags`` option or an unreadable checkpoint.
        """
        tags = _tag_filter(query)
        before, seen = _read_checkpoint(checkpoint)
        filters = []
        if before is not None:
            filters.append(f"created_at_i<={before}")
        if query.since is not None:
            filters.append(f"created_at_i>={int(query.since.timestamp())}")
        params = {"query": query.terms, "tags": tags, "hitsPerPage": self.hits_per_page,
                  "numericFilters": ",".join(filters) or None}
        body = self.http.get_json(SEARCH_PATH, params=params)
        hits = body.get("hits") if isinstance(body, dict) else None
        if not isinstance(hits, list):
            raise TransientError(f"hackernews: malformed answer from {SEARCH_PATH}: expected "
                                 f"a 'hits' list, got {type(body).__name__} with keys "
                                 f"{sorted(body)[:10] if isinstance(body, dict) else []}")
        posts: list[Post] = []
        rejected: list[RejectedItem] = []
        fresh: list[tuple[str | None, int | None]] = []  # (id, second) of hits not yet seen
        for hit in hits:
            hit_id, second = _hit_key(hit)
            if hit_id is not None and hit_id in seen and second == before:
                continue  # returned (or rejected) by the previous page
            fresh.append((hit_id, second))
            try:
                posts.append(post_from_hit(hit))
            except RowError as exc:
                rejected.append(RejectedItem(hit_id, str(exc), hit))
        return Page(tuple(posts), self._next_checkpoint(len(hits), fresh, before, seen),
                    wait=self.http.last_wait, rejected=tuple(rejected))

    def _next_checkpoint(self, count: int, fresh: list[tuple[str | None, int | None]],
                         before: int | None, seen: frozenset[str]) -> dict[str, Any] | None:
        """The checkpoint after a page of ``count`` hits, ``fresh`` of them not seen before."""
        if count < self.hits_per_page:
            # A short page holds everything left under the filter: asking again would only
            # return its boundary hits (and a server ignoring the filter would loop).
            return None
        timed = [(hit_id, second) for hit_id, second in fresh if second is not None]
        if not timed:
            if before is None:
                raise TransientError(f"hackernews: malformed answer from {SEARCH_PATH}: none "
                                     f"of the {count} hits has a created_at_i to page on")
            # A full page of hits that all share one already-seen second (100+ items in
            # one second): step past that second rather than ask for it forever.
            return {"before": before - 1, "seen": []}
        oldest = min(second for _, second in timed)
        at_oldest = {hit_id for hit_id, second in timed
                     if second == oldest and hit_id is not None}
        if oldest == before:
            at_oldest |= seen
        return {"before": oldest, "seen": sorted(at_oldest)}


def make_source(base_url: str | None = None, transport: httpx.BaseTransport | None = None,
                env: Mapping[str, str] | None = None) -> Source:
    """The Hacker News source.

    The HN Search API needs no credentials (``CREDENTIALS`` is empty), so ``env`` is not
    read; it is accepted so every source is built the same way.
    """
    return HackerNewsSource(base_url or DEFAULT_BASE_URL, transport=transport)
