"""App Store customer reviews of one app in one country, from Apple's public RSS feed (JSON).

``GET /{country}/rss/customerreviews/page={n}/id={app_id}/sortby=mostrecent/json`` serves
the most recent reviews, newest first, in pages 1 to 10 (at most about 500 reviews per app
and country). Every value in the feed is wrapped as ``{"label": ...}``. ``entry`` is a list,
a single object when there is only one, and absent when there are no (more) reviews. Some
feed variants put an app-information entry first; it has no ``im:rating`` and is skipped.

A review that cannot become a post (no id, an unreadable time, not an object) is handed
to the runner as a :class:`~radar.collect.base.RejectedItem`. It still counts as a review
of its page, so a page whose reviews were all rejected is not mistaken for the end.
"""

from __future__ import annotations

import re
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

DEFAULT_BASE_URL = "https://itunes.apple.com"
CREDENTIALS: tuple[str, ...] = ()
OPTIONS = {"country": "two-letter App Store country code, e.g. us, gb, de (default us)"}
RATE_LIMIT = ("none published for the RSS feeds; Apple refuses heavy use (403/429), so "
              "collect a few apps at a time")
TERMS = ("Apple's public RSS feeds (Apple Media Services terms); reviews belong to their "
         "authors, used here for aggregate analysis")
MAX_PAGE = 10  # the feed serves no page beyond 10
FEED_PATH = "/{country}/rss/customerreviews/page={page}/id={app_id}/sortby=mostrecent/json"


def _label(entry: Mapping[str, Any], key: str) -> str | None:
    """``entry[key]["label"]``, the way the feed wraps every value; None when absent."""
    value = entry.get(key)
    if isinstance(value, list):  # some variants repeat an element (text and html content)
        value = next((v for v in value if isinstance(v, dict)
                      and (v.get("attributes") or {}).get("type") == "text"),
                     value[0] if value else None)
    if isinstance(value, dict) and isinstance(value.get("label"), str):
        return value["label"]
    return None


def _link(entry: Mapping[str, Any]) -> str | None:
    links = entry.get("link")
    links = links if isinstance(links, list) else [links]
    hrefs = [(link.get("attributes") or {}).get("href") for link in links
             if isinstance(link, dict)]
    return next((h for h in hrefs if isinstance(h, str) and h), None)


def is_review(entry: Any) -> bool:
    """A review has a rating; the app-information entry of older feed variants has none.

    An entry that is not an object is taken for a review (a broken one), so that it is
    rejected with its reason rather than dropped unseen.
    """
    return not isinstance(entry, Mapping) or "im:rating" in entry


def post_from_entry(entry: Mapping[str, Any]) -> Post:
    """One review entry as a :class:`Post` (text = title, newline, review body).

    Raises:
        RowError: the entry lacks ``id.label`` or a readable ``updated.label``, or is not
            an object.
    """
    if not isinstance(entry, Mapping):
        raise RowError(f"expected a review object, got a {type(entry).__name__}")
    post_id = _label(entry, "id")
    if not post_id:
        raise RowError(f"review entry without id.label (keys: {sorted(entry)[:12]})")
    updated = _label(entry, "updated")
    try:
        created_at = datetime.fromisoformat(updated) if updated else None
    except ValueError:
        created_at = None
    if created_at is None or created_at.tzinfo is None:
        raise RowError(f"review {post_id}: updated.label should be ISO 8601 with an offset, "
                       f"got {updated!r}")
    author = entry.get("author") if isinstance(entry.get("author"), dict) else {}
    author_uri = _label(author, "uri") or None
    author_id = author_uri or _label(author, "name") or None
    title = _label(entry, "title") or ""
    content = _label(entry, "content") or ""
    return Post(source=AppStoreSource.name, post_id=post_id,
                text="\n".join(part for part in (title, content) if part),
                author_id=author_id, created_at=created_at.astimezone(UTC),
                url=_link(entry) or author_uri, raw=dict(entry))


def _app_and_country(query: Query) -> tuple[str, str]:
    app_id = query.terms.strip()
    if not re.fullmatch(r"[0-9]+", app_id):
        raise ConfigError(f"appstore: the query must be the app's numeric App Store id (the "
                          f"digits after 'id' in its apps.apple.com link), got {query.terms!r}")
    unknown = sorted(set(query.options) - set(OPTIONS))
    if unknown:
        raise ConfigError(f"appstore: unknown option(s) {unknown}; known: {sorted(OPTIONS)}")
    country = query.options.get("country", "us").strip().lower()
    if not re.fullmatch(r"[a-z]{2}", country):
        raise ConfigError(f"appstore: option country must be a two-letter country code "
                          f"such as us, gb or de, got {query.options['country']!r}")
    return app_id, country


def _read_page(checkpoint: Checkpoint | None) -> int:
    if checkpoint is None:
        return 1
    page = checkpoint.get("page")
    if not isinstance(page, int) or isinstance(page, bool) or not 1 <= page <= MAX_PAGE:
        raise ConfigError(f"appstore: checkpoint page must be 1..{MAX_PAGE}, got "
                          f"{dict(checkpoint)!r}; rerun with --restart")
    return page


class AppStoreSource:
    """Recent customer reviews of one app in one App Store country, newest first."""

    name = "appstore"
    newest_first = True

    def __init__(self, base_url: str = DEFAULT_BASE_URL,
                 transport: httpx.BaseTransport | None = None):
        self.http = HttpClient(base_url, transport=transport)

    def fetch_page(self, query: Query, checkpoint: Checkpoint | None) -> Page:
        """One feed page (up to 50 reviews); the next page until page 10 or an empty page.

        Reviews that cannot become posts come back in ``Page.rejected``.

        Raises:
            ConfigError: the query is not a numeric app id, or a bad ``country`` option.
            TransientError: the answer has no ``feed`` object, or ``entry`` is neither a
                list nor an object.
        """
        app_id, country = _app_and_country(query)
        page = _read_page(checkpoint)
        path = FEED_PATH.format(country=country, page=page, app_id=app_id)
        body = self.http.get_json(path)
        feed = body.get("feed") if isinstance(body, dict) else None
        if not isinstance(feed, dict):
            raise TransientError(f"appstore: malformed answer from {path}: expected a 'feed' "
                                 f"object, got {type(body).__name__} with keys "
                                 f"{sorted(body)[:10] if isinstance(body, dict) else []}")
        entries = feed.get("entry", [])  # no 'entry' at all: no reviews on this page
        if isinstance(entries, dict):
            entries = [entries]
        if not isinstance(entries, list):
            raise TransientError(f"appstore: malformed answer from {path}: feed.entry should "
                                 f"be a list of objects, got {type(entries).__name__}")
        reviews = [e for e in entries if is_review(e)]
        posts: list[Post] = []
        rejected: list[RejectedItem] = []
        for entry in reviews:
            try:
                posts.append(post_from_entry(entry))
            except RowError as exc:
                review_id = _label(entry, "id") if isinstance(entry, Mapping) else None
                rejected.append(RejectedItem(review_id, str(exc), entry))
        # The end is a page without reviews, not a page without readable ones.
        more = bool(reviews) and page < MAX_PAGE
        return Page(tuple(posts), {"page": page + 1} if more else None,
                    wait=self.http.last_wait, rejected=tuple(rejected))


def make_source(base_url: str | None = None, transport: httpx.BaseTransport | None = None,
                env: Mapping[str, str] | None = None) -> Source:
    """The App Store reviews source.

    The RSS feed needs no credentials (``CREDENTIALS`` is empty), so ``env`` is not read;
    it is accepted so every source is built the same way.
    """
    return AppStoreSource(base_url or DEFAULT_BASE_URL, transport=transport)
