"""The source protocol: fetch one page of posts for a query from a checkpoint.

A source knows one platform's API and nothing else: no retries, no sleeping, no
storage. It turns one HTTP response into posts (raw JSON kept) and the checkpoint
for the next page. The runner (:mod:`radar.collect.runner`) does the rest, so every
source gets the same resume, retry and rate-limit behaviour.

Failures are classified here so the runner can react to them the same way for
every platform: :class:`AuthError` stops at once, :class:`RateLimited` waits as
told, :class:`TransientError` (5xx, network, malformed JSON) backs off and retries.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from nlp.types import Post

# What a source needs to continue where it stopped: a cursor, a token, a page number.
# JSON-serialisable, because the store keeps it next to the posts it led to.
Checkpoint = Mapping[str, Any]


class CollectError(RuntimeError):
    """Collection cannot go on; the message says why and what to do.

    ``status`` is the HTTP status and ``code`` the platform's own error code (Bluesky's
    ``ExpiredToken``, ...) when the failure came from an answer, so sources can react
    to them without reading the message.
    """

    def __init__(self, message: str, status: int | None = None, code: str | None = None):
        super().__init__(message)
        self.status = status
        self.code = code


class AuthError(CollectError):
    """The platform refused our credentials (401/403), or none were given. Not retried."""


class TransientError(CollectError):
    """A failure worth retrying after a pause: 5xx, network trouble, malformed JSON."""


class RateLimited(TransientError):
    """The platform asked us to slow down (HTTP 429); ``retry_after`` is in seconds, if it said."""

    def __init__(self, message: str, retry_after: float | None = None,
                 status: int | None = 429, code: str | None = None):
        super().__init__(message, status, code)
        self.retry_after = retry_after


class ConfigError(CollectError):
    """The source was set up wrongly (missing query part, bad option); not retried."""


@dataclass(frozen=True)
class Query:
    """What to collect: search terms (or a hashtag, subreddit, app id), for which brand, since when.

    ``options`` carries source-specific settings (a Mastodon server's hashtag mode, an
    App Store country) as plain strings, so a query can be stored and compared.
    """

    terms: str
    brand: str | None = None
    since: datetime | None = None
    options: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.terms or not self.terms.strip():
            raise ConfigError("a query needs search terms (--query)")
        if self.since is not None and self.since.tzinfo is None:
            raise ConfigError(f"since must be timezone-aware, got {self.since!r}")

    @property
    def key(self) -> str:
        """Identifies the query's checkpoint: same terms and options resume the same run."""
        opts = ",".join(f"{k}={v}" for k, v in sorted(self.options.items()))
        return f"{self.terms}|{self.brand or ''}|{opts}"


@dataclass(frozen=True)
class RejectedItem:
    """An item of a page that cannot become a post: its id if known, why, and its JSON.

    One malformed item must neither stop collection (every run would stop at the same
    page) nor vanish: the runner stores it with the run, and counts it.
    """

    item_id: str | None
    reason: str
    raw: Any = None


@dataclass(frozen=True)
class Page:
    """One page of results: the posts, the checkpoint for the next page (``None``: no more).

    ``wait`` is how long to pause before the next request when the platform's rate-limit
    headers say the window is used up (remaining 0 until reset), in seconds. ``rejected``
    holds the page's items that could not be read as posts.
    """

    posts: tuple[Post, ...]
    next_checkpoint: Checkpoint | None
    wait: float = 0.0
    rejected: tuple[RejectedItem, ...] = ()


@runtime_checkable
class Source(Protocol):
    """One platform. ``name`` is the ``source`` of the posts it returns.

    ``newest_first`` tells the runner that results come newest first, so a page whose
    posts are all older than ``query.since`` ends the run.
    """

    name: str
    newest_first: bool

    def fetch_page(self, query: Query, checkpoint: Checkpoint | None) -> Page:
        """Fetch the page after ``checkpoint`` (``None``: the first page)."""
        ...
