"""One HTTP layer for every source: JSON in, failures classified, rate-limit headers read.

Sources build a :class:`HttpClient` from a base URL and an optional httpx transport,
so tests hand them ``httpx.MockTransport`` or point them at a local server. Error
messages name the method, path and status, never headers or credentials.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import httpx

from radar.collect.base import AuthError, CollectError, RateLimited, TransientError
from radar.retry import MAX_WAIT_S, parse_retry_after

USER_AGENT = "complaint-radar/0.1 (brand-chatter research; +https://github.com/complaint-radar)"
REMAINING_HEADERS = ("x-ratelimit-remaining", "x-rate-limit-remaining", "ratelimit-remaining")
RESET_HEADERS = ("x-ratelimit-reset", "x-rate-limit-reset", "ratelimit-reset")
# A reset value above this is an epoch timestamp, below it a number of seconds (Reddit).
EPOCH_CUTOFF = 1e9


def parse_reset(value: str | None, now: float) -> float | None:
    """A rate-limit reset header as seconds from ``now``.

    Platforms differ: epoch seconds (X, Bluesky), seconds to go (Reddit), or an ISO 8601
    time (Mastodon). All three are read.
    """
    if value is None or not value.strip():
        return None
    value = value.strip()
    try:
        number = float(value)
    except ValueError:
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return min(max(moment.timestamp() - now, 0.0), MAX_WAIT_S)
    if not math.isfinite(number):
        return None
    seconds = number - now if number > EPOCH_CUTOFF else number
    return min(max(seconds, 0.0), MAX_WAIT_S)


def rate_limit_wait(headers: Mapping[str, str], now: float) -> float:
    """Seconds to pause before the next request: non-zero only when the window is used up."""
    remaining = next((headers[h] for h in REMAINING_HEADERS if h in headers), None)
    if remaining is None:
        return 0.0
    try:
        if float(remaining) > 0:
            return 0.0
    except ValueError:
        return 0.0
    reset = next((headers[h] for h in RESET_HEADERS if h in headers), None)
    wait = parse_reset(reset, now)
    return 60.0 if wait is None else wait


def _error_code(response: httpx.Response) -> str | None:
    """The platform's error code from a JSON error body (``{"error": "ExpiredToken"}``)."""
    try:
        body = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None
    if isinstance(body, dict):
        code = body.get("error") or body.get("code")
        if isinstance(code, (str, int)) and not isinstance(code, bool):
            return str(code)
    return None


def _snippet(response: httpx.Response) -> str:
    text = response.text.strip().replace("\n", " ")
    return text[:200]


class HttpClient:
    """GET/POST JSON against one base URL; raises the errors of :mod:`radar.collect.base`."""

    def __init__(self, base_url: str, transport: httpx.BaseTransport | None = None,
                 headers: Mapping[str, str] | None = None, timeout: float = 30.0,
                 now: Callable[[], float] = time.time, auth_hint: str | None = None):
        self.base_url = base_url.rstrip("/")
        # What to check after a 401/403: the credentials' variables, or (no credentials)
        # that the platform is refusing this client, e.g. for too many requests.
        self.auth_hint = auth_hint or ("this source needs no credentials, so the platform "
                                       "is refusing this client (blocked or throttled); "
                                       "wait before trying again")
        self.now = now
        all_headers = {"User-Agent": USER_AGENT, "Accept": "application/json"}
        all_headers.update(headers or {})
        self._client = httpx.Client(base_url=self.base_url, transport=transport,
                                    headers=all_headers, timeout=timeout,
                                    follow_redirects=True)
        self.last_wait = 0.0

    def close(self) -> None:
        self._client.close()

    def get_json(self, path: str, params: Mapping[str, Any] | None = None,
                 headers: Mapping[str, str] | None = None) -> Any:
        """GET ``path`` and return its JSON; ``last_wait`` holds the rate-limit pause after it."""
        return self.request_json("GET", path, params=params, headers=headers)

    def post_json(self, path: str, body: Mapping[str, Any] | None = None,
                  data: Mapping[str, str] | None = None,
                  headers: Mapping[str, str] | None = None,
                  auth: tuple[str, str] | None = None) -> Any:
        """POST a JSON ``body`` or form ``data`` to ``path`` and return the JSON answer."""
        # Never re-send a body (a password, a client secret) to wherever a redirect points.
        return self.request_json("POST", path, json_body=body, data=data, headers=headers,
                                 auth=auth, follow_redirects=False)

    def request_json(self, method: str, path: str, params: Mapping[str, Any] | None = None,
                     json_body: Mapping[str, Any] | None = None,
                     data: Mapping[str, str] | None = None,
                     headers: Mapping[str, str] | None = None,
                     auth: tuple[str, str] | None = None,
                     follow_redirects: bool = True) -> Any:
        what = f"{method} {self.base_url}{path}"
        clean = {k: v for k, v in (params or {}).items() if v is not None}
        try:
            response = self._client.request(method, path, params=clean, json=json_body,
                                            data=data, headers=headers, auth=auth,
                                            follow_redirects=follow_redirects)
        except httpx.RequestError as exc:
            # Transport failures, bodies that do not match their encoding, redirect loops.
            raise TransientError(f"{what}: request failed ({type(exc).__name__}: {exc})"
                                 ) from exc
        now = self.now()
        status = response.status_code
        if status in (401, 403):
            raise AuthError(f"{what}: HTTP {status}, refused ({_snippet(response)!r}); "
                            f"{self.auth_hint}", status, _error_code(response))
        if status == 429:
            wait = parse_retry_after(response.headers.get("retry-after"), now)
            if wait is None:
                wait = rate_limit_wait({**response.headers, "x-ratelimit-remaining": "0"}, now) \
                    if any(h in response.headers for h in RESET_HEADERS) else None
            raise RateLimited(f"{what}: HTTP 429 rate limited", retry_after=wait,
                              code=_error_code(response))
        if 300 <= status < 400:
            raise CollectError(f"{what}: HTTP {status} redirect to "
                               f"{response.headers.get('location', '?')!r}, not followed (a "
                               "request with credentials goes only where it was sent); check "
                               "the base URL", status)
        if status >= 500 or status == 408:
            raise TransientError(f"{what}: HTTP {status} ({_snippet(response)!r})", status,
                                 _error_code(response))
        if status >= 400:
            raise CollectError(f"{what}: HTTP {status} ({_snippet(response)!r}); "
                               "the request was refused as sent, so it is not retried",
                               status, _error_code(response))
        try:
            value = response.json()
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise TransientError(f"{what}: malformed JSON in a {status} response "
                                 f"({_snippet(response)[:80]!r})", status) from exc
        self.last_wait = rate_limit_wait(response.headers, now)
        return value
