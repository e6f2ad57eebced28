"""snscrape: its ``--jsonl`` archives as posts, and live public Telegram channels.

snscrape (GPL-3.0, last release 0.7.0.20230622, frozen) is the optional extra
``complaint-radar[snscrape]`` and imports only on Python < 3.12. Two parts:

- :func:`post_from_snscrape` turns one record of ``snscrape --jsonl`` output into a
  :class:`~nlp.types.Post`. It is pure JSON parsing and works without snscrape
  installed. Records map onto our own sources' ids (``x``, ``reddit``, ``mastodon``,
  ``telegram``), so an archive and a live collection of the same posts deduplicate.
- :class:`TelegramSource` runs snscrape's ``TelegramChannelScraper`` (the only one of
  its scrapers that still works) behind the :class:`~radar.collect.base.Source`
  protocol. snscrape is imported when a source is built, never when this module is.

Field names follow snscrape's dataclasses (``snscrape/modules/*.py``): ``Tweet``
(``id``, ``rawContent``, older ``content``, ``user.id``, ``inReplyToTweetId``, ``lang``,
``date``, ``url``), reddit ``Submission`` (``id``, ``title``, ``selftext``, ``author``)
and ``Comment`` (``id``, ``body``, ``parentId``, ``author``), mastodon ``Toot``
(``url``, ``text``, ``spoilerText``, ``user.account``) and ``Boost`` (``toot``), and
telegram ``TelegramPost`` (``url``, ``date``, ``content``). Dates are the ISO 8601
strings snscrape's JSON writer makes.
"""

from __future__ import annotations

import functools
import html
import json
import re
import sys
import time
import warnings
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from nlp.errors import NotInstalled, RowError
from nlp.times import parse_time
from nlp.types import Post
from radar.collect.base import (
    Checkpoint,
    CollectError,
    ConfigError,
    Page,
    Query,
    RateLimited,
    RejectedItem,
    Source,
    TransientError,
)
from radar.retry import parse_retry_after

DEFAULT_BASE_URL = "https://t.me"
CREDENTIALS: tuple[str, ...] = ()
DEFAULT_PAGE_SIZE = 20  # a t.me/s page shows about 20 messages: one request per page
MAX_PAGE_SIZE = 100
OPTIONS = {
    "page_size": f"messages per page, 1-{MAX_PAGE_SIZE} (default {DEFAULT_PAGE_SIZE}; a t.me "
                 "page holds about 20, more than that costs several requests per page)",
}
RATE_LIMIT = ("undocumented: t.me answers HTTP 429 to fast scraping; one request per page "
              "of about 20 messages, and the runner backs off on 429 and 5xx")
TERMS = ("public channels' web previews (t.me/s/<channel>) only, under Telegram's Terms of "
         "Service; snscrape is GPL-3.0, installed separately as an optional extra")

TWEET = "snscrape.modules.twitter.Tweet"
SUBMISSION = "snscrape.modules.reddit.Submission"
COMMENT = "snscrape.modules.reddit.Comment"
TOOT = "snscrape.modules.mastodon.Toot"
BOOST = "snscrape.modules.mastodon.Boost"
TELEGRAM_POST = "snscrape.modules.telegram.TelegramPost"

# The record types we import, and the source their posts belong to.
SNSCRAPE_TYPES: Mapping[str, str] = {
    TWEET: "x",
    SUBMISSION: "reddit",
    COMMENT: "reddit",
    TOOT: "mastodon",
    BOOST: "mastodon",
    TELEGRAM_POST: "telegram",
}

# Pushshift kept these in place of the text of removed or deleted Reddit posts.
_REDDIT_GONE = frozenset({"[removed]", "[deleted]"})
_CHANNEL = re.compile(r"[A-Za-z0-9_]{3,64}")


# --- archives: one snscrape JSONL record -> Post ---------------------------------------------

def is_snscrape_record(record: Any) -> bool:
    """Whether a JSON value is a record of ``snscrape --jsonl`` output (by its ``_type``)."""
    return (isinstance(record, Mapping) and isinstance(record.get("_type"), str)
            and record["_type"].startswith("snscrape.modules."))


def post_from_snscrape(record: Mapping[str, Any]) -> Post:
    """One record of ``snscrape --jsonl`` output as a post.

    ``post_id`` matches our live sources: tweets by their numeric id (source ``x``),
    Reddit by fullname (``t3_``/``t1_`` + id), Telegram by ``<channel>/<number>``.
    snscrape's ``Toot`` has no ActivityPub ``uri``, so a toot's ``post_id`` is its web
    ``url`` (a ``uri`` field, where a record has one, wins); the Mastodon API source keys
    by ``uri``, so archived toots do not deduplicate with live ones. A ``Boost`` becomes
    the toot it boosts. The record is kept as ``raw``.

    Raises:
        RowError: the record is not a supported snscrape post, or lacks its id or text;
            the message is the quarantine reason.
    """
    if not isinstance(record, Mapping):
        raise RowError(f"expected a JSON object (one snscrape record), found "
                       f"{type(record).__name__}")
    kind = record.get("_type")
    if kind is None:
        raise RowError("no '_type' field: not a line of `snscrape --jsonl` output")
    if not isinstance(kind, str) or kind not in SNSCRAPE_TYPES:
        raise RowError(f"unsupported snscrape record type {str(kind)[:80]!r}; supported: "
                       f"{', '.join(SNSCRAPE_TYPES)}")
    if kind == TWEET:
        return _post_from_tweet(record)
    if kind in (SUBMISSION, COMMENT):
        return _post_from_reddit(record, kind)
    if kind == TELEGRAM_POST:
        return _post_from_telegram(record)
    if kind == BOOST:
        toot = record.get("toot")
        if not isinstance(toot, Mapping):
            raise RowError("mastodon Boost has no 'toot' object")
        return _post_from_toot(toot, raw=record)
    return _post_from_toot(record, raw=record)


def _text(record: Mapping[str, Any], field: str, what: str) -> str | None:
    value = record.get(field)
    if value is None:
        return None
    if not isinstance(value, str):
        raise RowError(f"{what}: '{field}' holds a {type(value).__name__}, not text")
    return value


def _require_text(text: str | None, what: str, fields: str) -> str:
    if text is None:
        raise RowError(f"{what} has no text (no {fields})")
    if not text.strip():
        raise RowError(f"{what} has empty text ({fields})")
    return text


def _numeric_id(record: Mapping[str, Any], field: str, what: str) -> str | None:
    # snscrape writes "<field>.str" next to ids above 2**53 for JSON parsers that round them.
    value = record.get(f"{field}.str", record.get(field))
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return str(value)
    if isinstance(value, str) and value.strip().isdigit():
        return value.strip()
    raise RowError(f"{what}: '{field}' is {str(value)[:40]!r}, not a numeric id")


def _date(record: Mapping[str, Any]):
    return parse_time(record.get("date"), "date")


def _post_from_tweet(record: Mapping[str, Any]) -> Post:
    tweet_id = _numeric_id(record, "id", "tweet")
    if tweet_id is None:
        raise RowError("tweet has no 'id'")
    what = f"tweet {tweet_id}"
    # 0.7 writes rawContent (and content as a deprecated alias); older releases only content.
    raw_text = next((t for t in (_text(record, f, what) for f in
                                 ("rawContent", "content", "renderedContent")) if t is not None),
                    None)
    # Twitter's full_text escapes &, < and >; snscrape passes it on as is.
    text = html.unescape(_require_text(raw_text, what, "rawContent/content"))
    user = record.get("user")
    author_id = None
    if isinstance(user, Mapping):
        author_id = _numeric_id(user, "id", f"{what} user")
        username = user.get("username")
    else:
        username = record.get("username")  # releases before 0.4 had no user object
    if author_id is None and isinstance(username, str) and username:
        # Not the numeric id the X API gives, so kept apart from it by the "@".
        author_id = f"@{username}"
    lang = _text(record, "lang", what)
    # "und": X could not tell the language; dropped as the X source drops it.
    return Post(source="x", post_id=tweet_id, text=text, author_id=author_id,
                created_at=_date(record), url=_text(record, "url", what),
                parent_id=_numeric_id(record, "inReplyToTweetId", what),
                lang=lang if lang and lang != "und" else None, raw=dict(record))


def _fullname(value: Any, prefix: str, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise RowError(f"{what} has no 'id'")
    value = value.strip()
    if value.startswith(prefix):
        return value
    if re.fullmatch(r"t\d_\w+", value):
        raise RowError(f"{what} id {value!r} is not a {prefix} fullname")
    return prefix + value  # releases before 0.4.3 wrote the bare base-36 id


def _reddit_author(record: Mapping[str, Any], what: str) -> str | None:
    author = _text(record, "author", what)
    return None if author in (None, "", "[deleted]") else author


def _post_from_reddit(record: Mapping[str, Any], kind: str) -> Post:
    if kind == SUBMISSION:
        post_id = _fullname(record.get("id"), "t3_", "reddit submission")
        what = f"reddit submission {post_id}"
        title = (_text(record, "title", what) or "").strip()
        body = (_text(record, "selftext", what) or "").strip()
        if body in _REDDIT_GONE:
            body = ""
        text = _require_text("\n\n".join(p for p in (title, body) if p), what,
                             "title or selftext")
        parent_id = None
    else:
        post_id = _fullname(record.get("id"), "t1_", "reddit comment")
        what = f"reddit comment {post_id}"
        body = _text(record, "body", what)
        if body is not None and body.strip() in _REDDIT_GONE:
            raise RowError(f"{what} was {body.strip()[1:-1]} before it was archived "
                           f"(body {body.strip()!r})")
        text = _require_text(body, what, "body")
        parent_id = _text(record, "parentId", what) or None
    # Reddit's markdown fields escape &, < and >, and Pushshift kept them escaped.
    return Post(source="reddit", post_id=post_id, text=html.unescape(text),
                author_id=_reddit_author(record, what), created_at=_date(record),
                url=_text(record, "url", what), parent_id=parent_id, raw=dict(record))


def _post_from_toot(toot: Mapping[str, Any], raw: Mapping[str, Any]) -> Post:
    url = _text(toot, "url", "mastodon toot")
    post_id = _text(toot, "uri", "mastodon toot") or url
    if not post_id or not post_id.strip():
        raise RowError("mastodon toot has no 'url' (its id here)")
    what = f"mastodon toot {post_id}"
    # With a content warning, snscrape's ``text`` is the warning and ``spoilerText`` the
    # post behind it; both are plain text already (read from the page's HTML).
    parts = [t.strip() for t in (_text(toot, "text", what), _text(toot, "spoilerText", what))
             if t is not None and t.strip()]
    text = _require_text("\n\n".join(parts) if parts else toot.get("text"), what,
                         "text or spoilerText")
    user = toot.get("user")
    account = user.get("account") if isinstance(user, Mapping) else None
    author_id = account.lstrip("@") if isinstance(account, str) and account.strip("@") else None
    return Post(source="mastodon", post_id=post_id, text=text, author_id=author_id,
                created_at=_date(toot), url=url, raw=dict(raw))


def telegram_post_key(url: Any) -> tuple[str, int]:
    """``(channel, message number)`` from a post url (``https://t.me/s/<channel>/<n>``).

    Raises:
        RowError: the url is not a channel post's.
    """
    if not isinstance(url, str) or not url.strip():
        raise RowError("telegram post has no 'url' (its id comes from the url)")
    try:
        parts = [p for p in urlsplit(url.strip()).path.split("/") if p]
    except ValueError:  # "http://[::1": no URL at all
        parts = []
    if parts and parts[0] == "s":  # snscrape's /s/ web-preview form of the same post
        parts = parts[1:]
    if len(parts) != 2 or not _CHANNEL.fullmatch(parts[0]) or not parts[1].isdecimal():
        raise RowError(f"telegram post url {url[:100]!r} is not "
                       "https://t.me/s/<channel>/<number>")
    return parts[0], int(parts[1])


def _post_from_telegram(record: Mapping[str, Any]) -> Post:
    channel, number = telegram_post_key(record.get("url"))
    what = f"telegram post {channel}/{number}"
    text = _require_text(_text(record, "content", what), what,
                         "content: a photo, video or sticker without a caption")
    # Channel posts have no author of their own: the channel speaks.
    return Post(source="telegram", post_id=f"{channel}/{number}", text=text, author_id=channel,
                created_at=_date(record), url=f"https://t.me/{channel}/{number}",
                raw=dict(record))


# --- live: public Telegram channels through snscrape ----------------------------------------

def _import_snscrape():
    """snscrape's telegram and base modules, or :class:`NotInstalled` saying how to get them."""
    python = ".".join(map(str, sys.version_info[:3]))
    try:
        with warnings.catch_warnings():
            # snscrape's module loader calls importlib APIs deprecated since Python 3.4; that
            # is snscrape's (frozen) business, not something a user of ours can act on.
            warnings.simplefilter("ignore", DeprecationWarning)
            import snscrape.base
            import snscrape.modules.telegram
    except ImportError as exc:
        raise NotInstalled("snscrape", "snscrape", "the Telegram source",
                           detail=f"{exc}; snscrape needs Python < 3.12, this is Python {python}"
                           ) from exc
    except AttributeError as exc:
        # snscrape's module loader uses importlib APIs that Python 3.12 removed.
        raise NotInstalled("snscrape", "snscrape", "the Telegram source",
                           detail=f"snscrape is installed but does not import on Python "
                                  f"{python} ({exc}); it needs Python < 3.12: install it in a "
                                  "Python 3.11 environment") from exc
    return snscrape.modules.telegram, snscrape.base


@functools.cache
def _scraper_class(telegram):
    """snscrape's channel scraper, starting from our URL instead of its hard-coded t.me one."""

    class ChannelPageScraper(telegram.TelegramChannelScraper):
        # snscrape builds its first URL as https://t.me/s/<channel> and each next one from
        # the page's "more" link (href="/s/<channel>?before=<n>", relative to the page).
        # Swapping the first URL is enough to start at a checkpoint or on another server.
        def __init__(self, channel: str, start_url: str, timeout: float, **kwargs):
            super().__init__(channel, **kwargs)
            self._hard_coded_start = f"https://t.me/s/{channel}"
            self.start_url = start_url
            self.timeout = timeout
            self.responses: list[Any] = []

        def _get(self, url, *args, **kwargs):
            if url == self._hard_coded_start:
                url = self.start_url
            kwargs.setdefault("timeout", self.timeout)  # the scraper's own calls pass none
            response = super()._get(url, *args, **kwargs)
            self.responses.append(response)
            return response

        def close(self) -> None:
            self._session.close()

    return ChannelPageScraper


def channel_name(terms: str) -> str:
    """The channel in ``query.terms``: ``name``, ``@name`` or a t.me link to it."""
    name = terms.strip()
    if "t.me/" in name:
        parts = [p for p in urlsplit(name if "//" in name else f"//{name}").path.split("/") if p]
        name = parts[1] if parts[:1] == ["s"] and len(parts) > 1 else (parts[0] if parts else "")
    name = name.lstrip("@")
    if not _CHANNEL.fullmatch(name):
        raise ConfigError(f"query terms {terms!r} are not a public Telegram channel name: "
                          "expected letters, digits and underscores (e.g. 'airline_help', "
                          "'@airline_help' or 'https://t.me/airline_help')")
    return name


def _page_size(options: Mapping[str, str]) -> int:
    value = options.get("page_size")
    if value is None:
        return DEFAULT_PAGE_SIZE
    try:
        size = int(str(value).strip())
    except ValueError:
        size = 0
    if not 1 <= size <= MAX_PAGE_SIZE:
        raise ConfigError(f"option page_size must be a whole number from 1 to {MAX_PAGE_SIZE}, "
                          f"got {value!r}")
    return size


def _before(checkpoint: Checkpoint | None) -> int | None:
    if checkpoint is None:
        return None
    before = checkpoint.get("before")
    if set(checkpoint) != {"before"} or isinstance(before, bool) or not isinstance(before, int) \
            or before < 1:
        raise ConfigError(f"checkpoint {dict(checkpoint)!r} is not one the Telegram source "
                          "writes ({'before': <message number>}); collect again with --restart")
    return before


class TelegramSource:
    """A public Telegram channel's posts, newest first, through snscrape's channel scraper.

    ``query.terms`` names the channel. One page is ``page_size`` messages (query option,
    default 20, about one t.me page). The checkpoint is ``{"before": n}``, the number of
    the oldest message handed out; the next page starts at ``t.me/s/<channel>?before=n``,
    the URL snscrape's own "more" link leads to, so a resumed run continues there
    instead of starting over. Messages without text (a photo or sticker without a
    caption) move the checkpoint on but give no post.

    A message with text that snscrape hands out but that cannot become a post (a url
    that is not ``t.me/<channel>/<number>``, say) is returned in ``Page.rejected`` with
    its record. It counts toward the page, but only messages whose number is readable
    move the checkpoint: when the page ends with such messages, the next page starts
    after the last readable one and meets them again (rejected again). A full page with
    no readable number at all cannot be paged on and is a malformed response.

    snscrape does its own HTTP with ``requests``; it is told not to retry, so retries
    and backoff stay with the runner.
    """

    name = "telegram"
    newest_first = True

    def __init__(self, base_url: str = DEFAULT_BASE_URL, timeout: float = 30.0):
        telegram, base = _import_snscrape()
        self._scraper_class = _scraper_class(telegram)
        self._scraper_error = base.ScraperException
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout

    def page_url(self, channel: str, before: int | None) -> str:
        """The web-preview page of ``channel`` with the messages before number ``before``."""
        url = f"{self.base_url}/s/{channel}"
        return url if before is None else f"{url}?before={before}"

    def fetch_page(self, query: Query, checkpoint: Checkpoint | None) -> Page:
        """The next ``page_size`` messages of the channel, older than the checkpoint's."""
        channel = channel_name(query.terms)
        size = _page_size(query.options)
        before = _before(checkpoint)
        start = self.page_url(channel, before)
        scraper = self._scraper_class(channel, start, self.timeout, retries=0)
        posts: list[Post] = []
        rejected: list[RejectedItem] = []
        seen, oldest = 0, before
        unreadable = ""  # why the last message without a readable number had none
        items = scraper.get_items()
        try:
            while seen < size:
                try:
                    item = next(items)
                except StopIteration:
                    break
                except self._scraper_error as exc:
                    raise self._classify(exc, scraper, start) from exc
                except (AttributeError, KeyError, TypeError, ValueError) as exc:
                    # snscrape's parser met markup it does not know: treat as a bad response.
                    raise TransientError(
                        f"GET {start}: the page lacks the structure snscrape's Telegram "
                        f"scraper reads ({type(exc).__name__}: {exc})") from exc
                seen += 1
                record = json.loads(item.json())
                has_text = bool(record.get("content") and str(record["content"]).strip())
                try:
                    post_channel, number = telegram_post_key(record.get("url"))
                except RowError as exc:
                    unreadable = str(exc)
                    if has_text:  # without text it would give no post anyway
                        rejected.append(RejectedItem(None, unreadable, record))
                    continue
                oldest = number
                if not has_text:
                    continue  # a photo or sticker without a caption: no post
                try:
                    posts.append(post_from_snscrape(record))
                except RowError as exc:
                    rejected.append(RejectedItem(f"{post_channel}/{number}", str(exc), record))
        finally:
            items.close()
            scraper.close()
        if scraper.responses and "/s/" not in scraper.responses[0].url:
            # t.me redirects channels without a public web preview to their plain page.
            raise ConfigError(f"channel {channel!r} has no public web preview ({start} led to "
                              f"{scraper.responses[0].url}); check the name, and that the "
                              "channel is public")
        if seen >= size and oldest == before:
            # Not one message number to start the next page from: asking again from the
            # same place would return the same page forever.
            raise TransientError(f"GET {start}: none of the {seen} messages has a post url "
                                 f"to page on ({unreadable})")
        more = seen >= size and oldest is not None and oldest > 1
        return Page(tuple(posts), {"before": oldest} if more else None,
                    rejected=tuple(rejected))

    def _classify(self, exc: Exception, scraper: Any, start: str) -> CollectError:
        """snscrape's ScraperException as our errors, from the status of its last response."""
        # snscrape raises it for a non-200 answer (then the last response is that answer)
        # and when a request fails outright (then its message names the URL).
        last = scraper.responses[-1] if scraper.responses else None
        status = getattr(last, "status_code", 200)
        if status == 200:
            return TransientError(f"network error reading channel pages from {start} ({exc})")
        where = last.url
        if status == 429:
            wait = parse_retry_after(last.headers.get("Retry-After"), time.time())
            return RateLimited(f"GET {where}: HTTP 429 rate limited", retry_after=wait)
        if status >= 500 or status == 408:
            return TransientError(f"GET {where}: HTTP {status} ({exc})")
        return CollectError(f"GET {where}: HTTP {status}; the channel page was refused as "
                            "asked for, so it is not retried (check the channel name)")


def make_source(base_url: str | None = None, transport=None,
                env: Mapping[str, str] | None = None) -> Source:
    """A :class:`TelegramSource`; no credentials (``env`` is not read).

    Raises:
        NotInstalled: snscrape is missing or cannot import on this Python (the shared
            :class:`nlp.errors.NotInstalled`, an ImportError, not a CollectError).
        ConfigError: an httpx ``transport`` was given; snscrape does its own HTTP with
            ``requests``, so point ``base_url`` at a test server instead.
    """
    if transport is not None:
        raise ConfigError("the Telegram source cannot use an httpx transport: snscrape does "
                          "its own HTTP with requests; give base_url instead")
    del env  # no credentials: public channels only
    return TelegramSource(base_url or DEFAULT_BASE_URL)
