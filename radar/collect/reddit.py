"""Reddit: posts and comments about a brand, through the OAuth API with an app-only token.

Reddit's "application only" OAuth (client-credentials grant) reads public posts and
comments without a user login: ``POST {auth}/api/v1/access_token`` with the app's
client id and secret as HTTP basic auth gives a bearer token for ``oauth.reddit.com``.
The token is kept until ``expires_in`` says it is about to run out, and fetched again
once when the API answers 401 (a token can be revoked early). A 403 is not about the
token (a private, quarantined or banned subreddit, or a blocked app), so it stops the
run at once without fetching a new one.

Query options (``query.options``):

- ``subreddit``: search one subreddit (``r/NAME/search?restrict_sr=1``) instead of all
  of Reddit; ``a+b`` searches several.
- ``kind``: ``posts`` (default) searches submissions newest first; ``comments`` reads
  the subreddit's newest comments (``r/NAME/comments``, needs ``subreddit``) and keeps
  those whose body contains every query term, case-insensitively. That filter runs
  here, on the client: Reddit's API has no comment search, so every comment of the
  subreddit is fetched and most are dropped.

Listings come back newest first; the ``after`` fullname of a page is the checkpoint.
A child that cannot become a post (no fullname, no time, no text) is handed to the
runner as a :class:`~radar.collect.base.RejectedItem` with the whole child as its JSON;
``after`` comes from the Listing itself, so paging is unaffected.
"""

from __future__ import annotations

import html
import os
import re
import time
from collections.abc import Callable, Mapping
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

DEFAULT_BASE_URL = "https://oauth.reddit.com"
DEFAULT_AUTH_URL = "https://www.reddit.com"
WEB_URL = "https://www.reddit.com"
TOKEN_PATH = "/api/v1/access_token"
CREDENTIALS: tuple[str, ...] = ("REDDIT_CLIENT_ID", "REDDIT_CLIENT_SECRET")
USER_AGENT_ENV = "REDDIT_USER_AGENT"
# Reddit throttles generic User-Agents hard and asks for <platform>:<app id>:<version> (by /u/...).
DEFAULT_USER_AGENT = ("python:complaint-radar:0.1 (brand-chatter research; "
                      "set REDDIT_USER_AGENT to add 'by /u/<your reddit name>')")
OPTIONS: dict[str, str] = {
    "subreddit": "search only this subreddit (NAME or r/NAME; a+b for several)",
    "kind": "posts (default: search submissions) or comments (newest comments of the "
            "subreddit, filtered here for the query terms; needs subreddit)",
}
KINDS = ("posts", "comments")
RATE_LIMIT = ("100 queries per minute per OAuth client id, averaged over 10 minutes "
              "(Reddit Data API wiki); x-ratelimit-remaining/reset headers are honoured")
TERMS = ("Reddit Data API Terms and Developer Terms: a registered OAuth app with a descriptive "
         "User-Agent, non-commercial research unless Reddit agrees otherwise, delete content "
         "that was removed from Reddit")
PAGE_LIMIT = 100  # the most a listing returns per request
DEFAULT_EXPIRES_S = 3600.0  # Reddit documents tokens as valid for one hour
TOKEN_MARGIN_S = 60.0  # fetch a new token this long before the old one runs out
_SUBREDDIT = re.compile(r"^[A-Za-z0-9_]{2,21}(\+[A-Za-z0-9_]{2,21})*$")
_THINGS = ("t1", "t3")  # comment, link (submission); other kinds in a listing are not posts


def read_options(options: Mapping[str, str]) -> tuple[str | None, str]:
    """The subreddit (or None) and kind from ``query.options``; raises ConfigError if bad."""
    unknown = sorted(set(options) - set(OPTIONS))
    if unknown:
        raise ConfigError(f"reddit: unknown query option(s) {', '.join(unknown)}; "
                          f"allowed: {', '.join(OPTIONS)}")
    kind = options.get("kind", "posts").strip().lower()
    if kind not in KINDS:
        raise ConfigError(f"reddit: option kind={options['kind']!r} is not one of "
                          f"{', '.join(KINDS)}")
    subreddit = options.get("subreddit")
    if subreddit is not None:
        subreddit = subreddit.strip().removeprefix("/").removeprefix("r/").strip("/")
        if not _SUBREDDIT.match(subreddit):
            raise ConfigError(f"reddit: option subreddit={options['subreddit']!r} is not a "
                              "subreddit name (2-21 letters, digits or _, e.g. 'Comcast' or "
                              "'r/Comcast'; 'a+b' for several)")
    if kind == "comments" and subreddit is None:
        raise ConfigError("reddit: option kind=comments needs option subreddit (Reddit has no "
                          "site-wide comment search); add subreddit=NAME")
    return subreddit, kind


def matches_terms(text: str, terms: str) -> bool:
    """True when ``text`` contains every whitespace-separated term, case-insensitively."""
    haystack = text.lower()
    words = [w.strip("\"'").lower() for w in terms.split()]
    return all(w in haystack for w in words if w)


def _author(data: Mapping[str, Any]) -> str | None:
    author = data.get("author")
    if isinstance(author, str) and author and author != "[deleted]":
        return author
    fullname = data.get("author_fullname")
    return fullname if isinstance(fullname, str) and fullname else None


def post_from_thing(thing: Mapping[str, Any]) -> Post:
    """A listing child (``{"kind": "t3"|"t1", "data": {...}}``) as a Post.

    Raises:
        RowError: the child lacks what a post needs (fullname, time, text), or is not
            an object.
    """
    if not isinstance(thing, Mapping):
        raise RowError(f"listing child is a {type(thing).__name__}, not an object")
    kind = thing.get("kind")
    data = thing.get("data")
    if not isinstance(data, Mapping):
        raise RowError(f"{kind} child has no 'data' object")
    fullname = data.get("name")
    if not isinstance(fullname, str) or not fullname:
        raise RowError(f"{kind} child has no 'name' (fullname)")
    created = data.get("created_utc")
    if created is None:
        raise RowError(f"{fullname}: no 'created_utc'")
    created_at = parse_time(created, "created_utc")
    if kind == "t3":
        title = data.get("title")
        if not isinstance(title, str):
            raise RowError(f"{fullname}: no 'title' text")
        selftext = data.get("selftext") or ""
        if not isinstance(selftext, str):
            raise RowError(f"{fullname}: 'selftext' is a {type(selftext).__name__}, not text")
        # raw_json=1 asks for unescaped text; unescape anyway so an escaped &amp; never
        # reaches the classifier.
        text = html.unescape(f"{title}\n\n{selftext}" if selftext.strip() else title)
        parent_id = None
    else:
        body = data.get("body")
        if not isinstance(body, str):
            raise RowError(f"{fullname}: no 'body' text")
        text = html.unescape(body)
        parent = data.get("parent_id")
        parent_id = parent if isinstance(parent, str) and parent else None
    permalink = data.get("permalink")
    if isinstance(permalink, str) and permalink:
        url = WEB_URL + permalink
    elif kind == "t1" and isinstance(data.get("link_id"), str) and data.get("id"):
        url = f"{WEB_URL}/comments/{data['link_id'].removeprefix('t3_')}/_/{data['id']}/"
    else:
        url = f"{WEB_URL}/comments/{fullname.removeprefix('t3_')}/"
    return Post(source="reddit", post_id=fullname, text=text, author_id=_author(data),
                created_at=created_at, url=url, parent_id=parent_id, lang=None,
                raw=dict(data))


def _fullname(child: Any) -> str | None:
    """A listing child's fullname (``t3_...``), when it has a readable one."""
    data = child.get("data") if isinstance(child, Mapping) else None
    name = data.get("name") if isinstance(data, Mapping) else None
    return name if isinstance(name, str) and name else None


def _may_match(child: Any, terms: str) -> bool:
    """False only for a comment whose body is readable and lacks a query term."""
    data = child.get("data") if isinstance(child, Mapping) else None
    body = data.get("body") if isinstance(data, Mapping) else None
    return not isinstance(body, str) or matches_terms(html.unescape(body), terms)


def parse_listing(body: Any, what: str) -> tuple[list[Any], str | None]:
    """A Listing's children and its ``after`` cursor; TransientError if the shape is wrong."""
    if not isinstance(body, Mapping):
        raise TransientError(f"{what}: malformed response, expected a Listing object, "
                             f"got a JSON {type(body).__name__}")
    if body.get("kind") != "Listing":
        raise TransientError(f"{what}: malformed response, expected kind 'Listing', "
                             f"got {body.get('kind')!r}")
    data = body.get("data")
    if not isinstance(data, Mapping):
        raise TransientError(f"{what}: malformed Listing, no 'data' object")
    children = data.get("children")
    if not isinstance(children, list):
        raise TransientError(f"{what}: malformed Listing, 'data.children' is missing or "
                             "not a list")
    after = data.get("after")
    if after is not None and not isinstance(after, str):
        raise TransientError(f"{what}: malformed Listing, 'data.after' is a "
                             f"{type(after).__name__}, expected a fullname or null")
    return children, after or None


class RedditSource:
    """Reddit search (or a subreddit's newest comments) with an application-only token."""

    name = "reddit"
    newest_first = True

    def __init__(self, client_id: str, client_secret: str,
                 base_url: str = DEFAULT_BASE_URL, auth_base_url: str = DEFAULT_AUTH_URL,
                 transport: httpx.BaseTransport | None = None,
                 user_agent: str | None = None, now: Callable[[], float] = time.time):
        if not client_id or not client_secret:
            raise AuthError(f"Reddit needs an app's client id and secret; set "
                            f"{' and '.join(CREDENTIALS)}")
        headers = {"User-Agent": user_agent or DEFAULT_USER_AGENT}
        hint = (f"check {' and '.join(CREDENTIALS)} (an app from "
                "https://www.reddit.com/prefs/apps)")
        self.http = HttpClient(base_url, transport=transport, headers=headers, now=now,
                               auth_hint=hint)
        self.auth_http = HttpClient(auth_base_url, transport=transport, headers=headers,
                                    now=now, auth_hint=hint)
        self.now = now
        self._credentials = (client_id, client_secret)
        self._token: str | None = None
        self._token_expires_at = 0.0

    def fetch_page(self, query: Query, checkpoint: Checkpoint | None) -> Page:
        """One listing page after ``checkpoint["after"]`` (``None``: the newest)."""
        subreddit, kind = read_options(query.options)
        after = None
        if checkpoint is not None:
            after = checkpoint.get("after")
            if not isinstance(after, str) or not after:
                raise ConfigError(f"reddit: stored checkpoint {dict(checkpoint)!r} has no "
                                  "'after' cursor; run again with --restart")
        if kind == "comments":
            path = f"/r/{subreddit}/comments"
            params: dict[str, Any] = {"limit": PAGE_LIMIT, "after": after, "raw_json": 1}
        else:
            path = f"/r/{subreddit}/search" if subreddit else "/search"
            params = {"q": query.terms, "sort": "new", "limit": PAGE_LIMIT, "after": after,
                      "type": "link", "raw_json": 1}
            if subreddit:
                params["restrict_sr"] = 1
        body = self._get_listing(path, params)
        children, next_after = parse_listing(body, f"GET {path}")
        posts, rejected = [], []
        for child in children:
            if isinstance(child, Mapping) and child.get("kind") not in _THINGS:
                continue  # "more" and other non-post things
            try:
                posts.append(post_from_thing(child))
            except RowError as exc:
                if kind == "comments" and not _may_match(child, query.terms):
                    continue  # unreadable, but its body shows it is not about the query
                rejected.append(RejectedItem(_fullname(child), str(exc), child))
        if not children:
            next_after = None  # an empty page with a cursor would loop forever
        if kind == "comments":
            oldest = min((p.created_at for p in posts if p.created_at), default=None)
            posts = [p for p in posts if matches_terms(p.text, query.terms)]
            # The runner stops at posts older than `since`, but it only sees the comments
            # that matched; stop here when the unfiltered stream got that old.
            if query.since is not None and oldest is not None and oldest < query.since:
                next_after = None
        next_checkpoint = {"after": next_after} if next_after else None
        return Page(tuple(posts), next_checkpoint, wait=self.http.last_wait,
                    rejected=tuple(rejected))

    def _get_listing(self, path: str, params: Mapping[str, Any]) -> Any:
        headers = self._auth_header()  # a refused token request raises here, not retried
        try:
            return self.http.get_json(path, params, headers=headers)
        except AuthError as exc:
            if exc.status != 401:
                # 403: the token is fine, the resource is not open to this app.
                raise AuthError(f"{exc}. Reddit answers 403 for private, quarantined or "
                                "banned subreddits (and for apps it blocks); a new token "
                                "would not help", exc.status, exc.code) from exc
            # Tokens can be revoked or expire early: one fresh token, one more try.
            self._token = None
        headers = self._auth_header()
        try:
            return self.http.get_json(path, params, headers=headers)
        except AuthError as exc:
            raise AuthError(f"{exc}. A fresh token was refused too", exc.status,
                            exc.code) from exc

    def _auth_header(self) -> dict[str, str]:
        if self._token is None or self.now() >= self._token_expires_at - TOKEN_MARGIN_S:
            self._fetch_token()
        return {"Authorization": f"bearer {self._token}"}

    def _fetch_token(self) -> None:
        what = f"POST {self.auth_http.base_url}{TOKEN_PATH}"
        fix = self.auth_http.auth_hint
        try:
            body = self.auth_http.post_json(TOKEN_PATH, data={"grant_type": "client_credentials"},
                                            auth=self._credentials)
        except AuthError as exc:
            raise AuthError(f"Reddit refused the app credentials: {exc}") from exc
        except TransientError:
            raise  # 5xx, network, 429: worth retrying, nothing wrong with the credentials
        except CollectError as exc:
            raise AuthError(f"Reddit token request failed: {exc}; {fix}") from exc
        token = body.get("access_token") if isinstance(body, Mapping) else None
        if not isinstance(token, str) or not token:
            error = body.get("error") if isinstance(body, Mapping) else None
            raise AuthError(f"{what}: no access_token in the answer (error: {error!r}); {fix}")
        expires_in = body.get("expires_in")
        if isinstance(expires_in, bool) or not isinstance(expires_in, int | float) \
                or expires_in <= 0:
            expires_in = DEFAULT_EXPIRES_S
        self._token = token
        self._token_expires_at = self.now() + float(expires_in)


def make_source(base_url: str | None = None, transport: httpx.BaseTransport | None = None,
                env: Mapping[str, str] | None = None) -> RedditSource:
    """A RedditSource from ``REDDIT_CLIENT_ID``, ``REDDIT_CLIENT_SECRET``, ``REDDIT_USER_AGENT``.

    ``base_url`` replaces both the API and the token URL (tests serve both from one place).

    Raises:
        AuthError: a credential is missing; the message names the variables to set.
    """
    env = os.environ if env is None else env
    missing = [name for name in CREDENTIALS if not env.get(name, "").strip()]
    if missing:
        raise AuthError(f"Reddit needs {' and '.join(CREDENTIALS)} (an app registered at "
                        "https://www.reddit.com/prefs/apps); not set: " + ", ".join(missing))
    return RedditSource(env["REDDIT_CLIENT_ID"].strip(), env["REDDIT_CLIENT_SECRET"].strip(),
                        base_url=base_url or DEFAULT_BASE_URL,
                        auth_base_url=base_url or DEFAULT_AUTH_URL, transport=transport,
                        user_agent=env.get(USER_AGENT_ENV, "").strip() or None)
