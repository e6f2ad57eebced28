"""The HTTP guards in front of ``serve.py``'s routes: who and what may reach them at all.

``serve.py`` builds the app and its routes; everything that only decides whether a request
gets in (before any route runs, or as the API key check the routes depend on) lives here,
so the routes module stays about routes and this one can be read as the server's front door:

- :class:`RequestGuard`: 413 for bodies over the limit, 415 for POSTs that are not JSON,
  before FastAPI reads or parses anything.
- :class:`HostGuard`: 400 for a ``Host`` header that names none of the server's hosts
  (against DNS rebinding).
- :class:`SecurityHeaders`: a Content-Security-Policy and anti-framing headers on every
  response.
- :class:`KeyGuard`: the API key (``X-API-Key`` header or HTTP Basic), with wrong keys
  throttled per client address (429).

The three ASGI middlewares wrap the app (``app.add_middleware``); ``KeyGuard`` answers
whether a request may pass, and the app turns a refusal into a JSON error or a page.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import ipaddress
import math
import threading
import time
from collections import deque

from nlp.errors import NotInstalled

try:
    from fastapi import HTTPException, Request
    from fastapi.responses import JSONResponse
except ImportError as exc:
    raise NotInstalled(exc.name or "fastapi", "serve", "radar.guards") from exc

API_KEY_HEADER = "X-API-Key"
BASIC_CHALLENGE = 'Basic realm="complaint-radar", charset="UTF-8"'
LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
WILDCARD_HOSTS = frozenset({"", "0.0.0.0", "::", "*"})  # bind addresses naming no one host
# Scripts come from this server only; the pages' JSON sits in <script type=
# "application/json">, which is data, not script. Styles allow inline: the overview's bars
# are positioned by style attributes and plotly adds its own style rules at run time.
CSP_DIRECTIVES = {
    "default-src": "'none'", "script-src": "'self'", "style-src": "'self' 'unsafe-inline'",
    "img-src": "'self' data:", "font-src": "'self'", "connect-src": "'self'",
    "base-uri": "'none'", "form-action": "'self'", "frame-ancestors": "'none'",
    "object-src": "'none'",
}


# --- body size and content type, before any parsing ------------------------------------


class _BodyTooLarge(HTTPException):
    """Raised from ``receive``. FastAPI re-raises an HTTPException met while it reads
    the body (any other error becomes a generic 400), so the client gets the 413."""


class RequestGuard:
    """ASGI middleware: 413 for bodies over the limit (declared or streamed), 415 for
    POSTs that are not JSON. Runs before FastAPI reads or parses anything."""

    def __init__(self, app, max_body_bytes: int):
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = {k.lower(): v for k, v in scope["headers"]}
        if scope["method"] == "POST":
            content_type = headers.get(b"content-type", b"").decode("latin-1")
            if content_type.split(";")[0].strip().lower() != "application/json":
                return await _send_error(send, 415, "Content-Type must be application/json, "
                                         f"got {content_type or 'none'!r}")
        declared = headers.get(b"content-length")
        if declared is not None:
            if not declared.isdigit():
                return await _send_error(send, 400, "invalid Content-Length header")
            if int(declared) > self.max_body_bytes:
                return await _send_error(send, 413, self._too_large())
        received = 0
        started = False

        async def limited_receive():
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    raise _BodyTooLarge(413, self._too_large())
            return message

        async def tracking_send(message):
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _BodyTooLarge:
            if not started:
                await _send_error(send, 413, self._too_large())

    def _too_large(self) -> str:
        return f"request body larger than {self.max_body_bytes} bytes"


async def _send_error(send, status: int, detail: str) -> None:
    response = JSONResponse({"detail": detail}, status_code=status)
    await send({"type": "http.response.start", "status": status,
                "headers": response.raw_headers})
    await send({"type": "http.response.body", "body": response.body})


def _host_name(value: str) -> str:
    """The host of a ``Host`` header or setting, compared as: lower case, no port, no
    brackets around an IPv6 address, no trailing dot."""
    value = value.strip().lower()
    if value.startswith("["):
        value = value[1:].partition("]")[0]
    elif value.count(":") == 1:
        value = value.partition(":")[0]
    return value.rstrip(".")


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a name or address, port allowed) is this machine only."""
    name = _host_name(host)
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


class HostGuard:
    """ASGI middleware: 400 for a ``Host`` header that names none of this server's hosts.

    A page on a hostile site whose name is re-pointed at 127.0.0.1 (DNS rebinding) would
    otherwise read this server as same-origin; its requests carry its own name in ``Host``.
    Served: the loopback names, the bound ``host``, ``allowed_hosts`` (``ServeSettings``;
    ``"*"``: any) and the address the connection arrived at (a literal address is never a
    rebound name).
    """

    def __init__(self, app, host: str, allowed_hosts: tuple[str, ...]):
        self.app = app
        names = {_host_name(h) for h in (*LOOPBACK_NAMES, host, *allowed_hosts)}
        self.any_host = "*" in allowed_hosts
        self.allowed = frozenset(names - WILDCARD_HOSTS)

    async def __call__(self, scope, receive, send):
        if scope["type"] not in ("http", "websocket") or self.any_host:
            return await self.app(scope, receive, send)
        raw = dict(scope["headers"]).get(b"host", b"").decode("latin-1")
        name = _host_name(raw)
        server = scope.get("server") or (None, None)
        if name and (name in self.allowed or name == _host_name(str(server[0] or ""))):
            return await self.app(scope, receive, send)
        if scope["type"] == "websocket":
            return await send({"type": "websocket.close", "code": 1008})
        detail = (f"Host {name[:100]!r} is not served here; add it to RADAR_ALLOWED_HOSTS "
                  "(radar serve --allowed-host) if it should be") if name \
            else "missing Host header"
        await _send_error(send, 400, detail)


def format_csp(directives: dict[str, str]) -> str:
    """A ``Content-Security-Policy`` header value from directive name: sources."""
    return "; ".join(f"{name} {value}" for name, value in directives.items())


SECURITY_HEADERS = [
    (b"content-security-policy", format_csp(CSP_DIRECTIVES).encode()),
    (b"x-frame-options", b"DENY"),  # frame-ancestors for browsers without CSP 2
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),  # the pages link raw posts on other sites
]


class SecurityHeaders:
    """ASGI middleware: :data:`SECURITY_HEADERS` on every response, errors included; a
    response that sets its own ``Content-Security-Policy`` (the API docs) keeps it."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                headers += [(n, v) for n, v in SECURITY_HEADERS if n not in present]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


# --- the API key, and slowing down those who guess it -------------------------------------


class KeyGuard:
    """Checks the API key, and counts wrong ones per client address: after
    ``max_failures`` within ``window_s`` that address gets 429 until the oldest failure ages
    out, without its keys being checked (today's alternative: 485 guesses a second).

    Requests without a key are not guesses and are not counted (a browser's first visit).
    Behind a reverse proxy every client has the proxy's address: run uvicorn with
    ``--proxy-headers`` and ``--forwarded-allow-ips`` so the client's own address is seen.
    """

    MAX_CLIENTS = 10_000  # addresses remembered; beyond that the quietest are forgotten

    def __init__(self, api_key: str | None, max_failures: int, window_s: float):
        self.api_key = api_key
        self.max_failures, self.window_s = max_failures, window_s
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()  # sync dependencies run in a thread pool

    def check(self, request: Request, basic: bool) -> tuple[int, int | None] | None:
        """None when the request may pass; else (401, None) or (429, Retry-After s)."""
        if self.api_key is None:
            return None
        client = request.client.host if request.client else "unknown"
        given = [request.headers.get(API_KEY_HEADER)]
        if basic:
            given.append(_basic_password(request.headers.get("authorization")))
        given = [g for g in given if g is not None]
        with self._lock:
            wait = self._retry_after(client)
            if wait is not None:
                return 429, wait
            if any(_same_secret(g, self.api_key) for g in given):
                self._failures.pop(client, None)
                return None
            if given:
                self._failed(client)
        return 401, None

    def _retry_after(self, client: str) -> int | None:
        failures = self._failures.get(client)
        if not failures:
            return None
        now = time.monotonic()
        while failures and failures[0] <= now - self.window_s:
            failures.popleft()
        if len(failures) < self.max_failures:
            return None
        return max(1, math.ceil(failures[0] + self.window_s - now))

    def _failed(self, client: str) -> None:
        now = time.monotonic()
        self._failures.setdefault(client, deque(maxlen=self.max_failures)).append(now)
        if len(self._failures) > self.MAX_CLIENTS:
            self._failures = {c: f for c, f in self._failures.items()
                              if f and f[-1] > now - self.window_s}
            while len(self._failures) > self.MAX_CLIENTS:
                del self._failures[next(iter(self._failures))]


def locked_out_message(retry_after: int) -> str:
    """What a client locked out by :class:`KeyGuard` is told (with its 429)."""
    return f"too many wrong API keys from this address; retry in {retry_after} s"


def _basic_password(authorization: str | None) -> str | None:
    """The password of an HTTP Basic ``Authorization`` header; None if there is none."""
    scheme, _, encoded = (authorization or "").partition(" ")
    if scheme.lower() != "basic" or not encoded.strip():
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    _user, colon, password = decoded.partition(":")
    return password if colon else None


def _same_secret(given: str | None, expected: str) -> bool:
    return given is not None and hmac.compare_digest(given.encode(), expected.encode())

