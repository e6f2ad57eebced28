"""Alert delivery: a Slack-compatible webhook and e-mail over SMTP, retried and recorded.

:func:`deliver` records each alert once (:func:`radar.store.history.record_alert`), sends it on
every channel that has not sent it yet, retries a failing channel with exponential
backoff and records the outcome per channel. An alert recorded as sent on a channel is not
sent there again, across monitor cycles too; one that failed is tried again by later
cycles (the monitor rebuilds it from its recorded payload). Delivery is at least once: a
crash between sending and recording, or a receiver that times out after accepting, can
repeat it, so receivers should use the alert's key (``radar.key``; the e-mail's
Message-ID is derived from it) to drop repeats.

Secrets (the webhook URL, SMTP credentials) come from environment variables named in
the YAML config, never from the file, and never appear in recorded errors or logs.
"""

from __future__ import annotations

import base64
import logging
import os
import random
import smtplib
import ssl as ssl_lib
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol
from urllib.parse import urlsplit

import httpx

from radar.collect.http import USER_AGENT
from radar.monitor.alerts import Alert
from radar.retry import Backoff, parse_retry_after
from radar.store import PostStore
from radar.store.history import delivery_status, record_alert, record_delivery

logger = logging.getLogger(__name__)

SENT, FAILED, ALREADY_SENT = "sent", "failed", "already_sent"
ERROR_CHARS = 300  # of a receiver's reply kept in the recorded reason
RETRYABLE_HTTP = frozenset({408, 425, 429, 500, 502, 503, 504})


class DeliveryError(Exception):
    """A channel could not deliver; the message is safe to record (no secrets).

    ``retryable`` is False where trying again within seconds cannot help (a refused
    login, a 4xx reply); ``retry_after`` is the receiver's own wait, in seconds.
    """

    def __init__(self, reason: str, retryable: bool = True, retry_after: float | None = None):
        super().__init__(reason)
        self.retryable = retryable
        self.retry_after = retry_after


class Channel(Protocol):
    """Somewhere an alert goes. ``send`` raises :class:`DeliveryError` on failure."""

    name: str

    def send(self, alert: Alert) -> None: ...

    def redact(self, text: str) -> str: ...


class _Redacting:
    """Masks a channel's secrets in any text about it (errors from libraries included)."""

    _secrets: tuple[str, ...] = ()

    def redact(self, text: str) -> str:
        for secret in sorted(self._secrets, key=len, reverse=True):
            if secret:
                text = text.replace(secret, "***")
        return text


class WebhookChannel(_Redacting):
    """POSTs ``alert.slack_payload()`` as JSON; any 2xx reply means delivered."""

    name = "webhook"

    def __init__(self, url: str, transport: httpx.BaseTransport | None = None,
                 timeout: float = 10.0):
        parts = urlsplit(url or "")
        if parts.scheme not in ("http", "https") or not parts.netloc:
            # The URL itself is a secret (Slack's carries the token): never echo it.
            raise ValueError("the webhook URL must be an http(s) URL with a host")
        self.url = url
        self.transport = transport
        self.timeout = timeout
        # The whole URL and the path that carries the token, in case a library quotes either.
        self._secrets = tuple(s for s in (url, parts.path if len(parts.path) > 1 else "",
                                          parts.query) if s)

    def send(self, alert: Alert) -> None:
        try:
            with httpx.Client(transport=self.transport, timeout=self.timeout,
                              headers={"User-Agent": USER_AGENT}) as client:
                response = client.post(self.url, json=alert.slack_payload())
        except httpx.HTTPError as exc:
            raise DeliveryError(self.redact(f"webhook unreachable: {type(exc).__name__}: {exc}")
                                ) from None
        if 200 <= response.status_code < 300:
            return
        reply = " ".join(response.text.split())[:ERROR_CHARS]
        reason = f"webhook answered HTTP {response.status_code}" + (f": {reply}" if reply else "")
        raise DeliveryError(self.redact(reason),
                            retryable=response.status_code in RETRYABLE_HTTP,
                            retry_after=parse_retry_after(response.headers.get("retry-after"),
                                                          time.time()))

    def __repr__(self) -> str:
        return f"WebhookChannel(host={urlsplit(self.url).hostname!r})"


class SmtpChannel(_Redacting):
    """Sends ``alert.email_message(...)`` through an SMTP server (plain, STARTTLS or SSL)."""

    name = "email"

    def __init__(self, host: str, port: int, sender: str, recipients: Sequence[str],
                 username: str | None = None, password: str | None = None,
                 starttls: bool = False, ssl: bool = False, timeout: float = 10.0,
                 local_hostname: str | None = None):
        if isinstance(recipients, str):
            recipients = [recipients]
        if not host:
            raise ValueError("the SMTP channel needs a host")
        if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
            raise ValueError(f"the SMTP port must be a number in 1..65535, got {port!r}")
        if not sender or "@" not in sender:
            raise ValueError(f"the SMTP sender must be an e-mail address, got {sender!r}")
        if not recipients or not all(isinstance(r, str) and "@" in r for r in recipients):
            raise ValueError(f"the SMTP recipients must be e-mail addresses, got {recipients!r}")
        if starttls and ssl:
            raise ValueError("choose starttls (usually port 587) or ssl (usually 465), not both")
        if (username is None) != (password is None):
            raise ValueError("SMTP login needs both a username and a password")
        self.host, self.port, self.sender = host, port, sender
        self.recipients = list(recipients)
        self.username, self._password = username, password
        self.starttls, self.ssl, self.timeout = starttls, ssl, timeout
        self.local_hostname = local_hostname
        secrets = [password or ""]
        if username and password:
            # What AUTH PLAIN and LOGIN put on the wire, should a server quote it back.
            secrets += [_b64(f"\0{username}\0{password}"), _b64(password)]
        self._secrets = tuple(secrets)

    def send(self, alert: Alert) -> None:
        message = alert.email_message(self.sender, self.recipients, date=datetime.now(UTC))
        where = f"{self.host}:{self.port}"
        try:
            factory = smtplib.SMTP_SSL if self.ssl else smtplib.SMTP
            with factory(self.host, self.port, timeout=self.timeout,
                         local_hostname=self.local_hostname) as smtp:
                if self.starttls:
                    smtp.starttls(context=ssl_lib.create_default_context())
                if self.username is not None:
                    smtp.login(self.username, self._password)
                smtp.send_message(message)
        except smtplib.SMTPAuthenticationError as exc:
            raise DeliveryError(self.redact(f"SMTP login refused by {where}: "
                                            f"{exc.smtp_code} {_text(exc.smtp_error)}"),
                                retryable=False) from None
        except smtplib.SMTPNotSupportedError as exc:
            raise DeliveryError(self.redact(f"SMTP {where}: {exc}"), retryable=False) from None
        except smtplib.SMTPRecipientsRefused as exc:
            refused = ", ".join(f"{r} ({c} {_text(m)})" for r, (c, m) in exc.recipients.items())
            raise DeliveryError(self.redact(f"SMTP {where} refused recipients: {refused}"),
                                retryable=False) from None
        except smtplib.SMTPResponseException as exc:
            raise DeliveryError(self.redact(f"SMTP {where} answered {exc.smtp_code} "
                                            f"{_text(exc.smtp_error)}"),
                                retryable=exc.smtp_code < 500) from None
        except (smtplib.SMTPException, OSError) as exc:
            detail = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
            raise DeliveryError(self.redact(f"SMTP {where} failed: {type(exc).__name__}: "
                                            f"{detail}")) from None

    def __repr__(self) -> str:
        return (f"SmtpChannel(host={self.host!r}, port={self.port}, sender={self.sender!r}, "
                f"recipients={self.recipients!r}, login={self.username is not None})")


def _b64(text: str) -> str:
    return base64.b64encode(text.encode("utf-8")).decode("ascii")


def _text(value: bytes | str) -> str:
    text = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
    return " ".join(text.split())[:ERROR_CHARS]


# --- config -------------------------------------------------------------------------------

_WEBHOOK_KEYS = {"url_env", "timeout"}
_EMAIL_KEYS = {"host", "port", "from", "to", "username_env", "password_env", "starttls", "ssl",
               "timeout"}
_LITERAL_SECRETS = {"url": "url_env", "password": "password_env", "username": "username_env"}


def channels_from_config(mapping: Mapping[str, Any] | None,
                         env: Mapping[str, str] = os.environ) -> list[Channel]:
    """The channels of the YAML ``alerts.channels`` section, secrets read from ``env``.

    Example::

        webhook: {url_env: RADAR_WEBHOOK_URL}
        email: {host: smtp.example.com, port: 587, from: radar@example.com,
                to: [cx@example.com], username_env: RADAR_SMTP_USER,
                password_env: RADAR_SMTP_PASSWORD, starttls: true}

    Raises:
        ValueError: an unknown channel or key, a secret written into the file, a named
            environment variable that is not set, or a bad value; the message says which.
    """
    mapping = dict(mapping or {})
    unknown = sorted(set(mapping) - {"webhook", "email"})
    if unknown:
        raise ValueError(f"alerts.channels: unknown channels {unknown}; known: "
                         "['email', 'webhook']")
    channels: list[Channel] = []
    if mapping.get("webhook") is not None:
        section = _section(mapping["webhook"], "webhook", _WEBHOOK_KEYS)
        url = _from_env(section, "url_env", "webhook", env, required=True)
        try:
            channels.append(WebhookChannel(url, timeout=_timeout(section, "webhook")))
        except ValueError as exc:
            raise ValueError(f"alerts.channels.webhook: ${section['url_env']}: {exc}") from None
    if mapping.get("email") is not None:
        section = _section(mapping["email"], "email", _EMAIL_KEYS)
        missing = [k for k in ("host", "from", "to") if not section.get(k)]
        if missing:
            raise ValueError(f"alerts.channels.email needs {missing}")
        starttls, use_ssl = (_flag(section, key) for key in ("starttls", "ssl"))
        port = section.get("port", 465 if use_ssl else 587 if starttls else 25)
        try:
            channels.append(SmtpChannel(
                host=section["host"], port=port, sender=section["from"],
                recipients=section["to"],
                username=_from_env(section, "username_env", "email", env),
                password=_from_env(section, "password_env", "email", env),
                starttls=starttls, ssl=use_ssl, timeout=_timeout(section, "email")))
        except ValueError as exc:
            raise ValueError(f"alerts.channels.email: {exc}") from None
    return channels


def _section(value: Any, name: str, known: set[str]) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise ValueError(f"alerts.channels.{name} must be a mapping, got {type(value).__name__}")
    for literal, env_key in _LITERAL_SECRETS.items():
        if literal in value:
            raise ValueError(f"alerts.channels.{name}.{literal}: secrets do not go in the "
                             f"config file; put it in an environment variable and name that "
                             f"variable with {env_key}")
    unknown = sorted(set(value) - known)
    if unknown:
        raise ValueError(f"alerts.channels.{name}: unknown keys {unknown}; known: "
                         f"{sorted(known)}")
    return dict(value)


def _from_env(section: Mapping[str, Any], key: str, name: str, env: Mapping[str, str],
              required: bool = False) -> str | None:
    variable = section.get(key)
    if variable is None:
        if required:
            raise ValueError(f"alerts.channels.{name} needs {key} (the name of the environment "
                             "variable that holds the secret)")
        return None
    if not isinstance(variable, str) or not variable.strip():
        raise ValueError(f"alerts.channels.{name}.{key} must name an environment variable, "
                         f"got {variable!r}")
    value = env.get(variable)
    if not value:
        raise ValueError(f"environment variable {variable} (alerts.channels.{name}.{key}) is "
                         "not set")
    return value


def _flag(section: Mapping[str, Any], key: str) -> bool:
    value = section.get(key, False)
    if not isinstance(value, bool):  # "no" in quotes would otherwise read as True
        raise ValueError(f"alerts.channels.email.{key} must be true or false, got {value!r}")
    return value


def _timeout(section: Mapping[str, Any], name: str) -> float:
    value = section.get("timeout", 10.0)
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise ValueError(f"alerts.channels.{name}.timeout must be a positive number of "
                         f"seconds, got {value!r}")
    return float(value)


# --- delivery -----------------------------------------------------------------------------


@dataclass(frozen=True)
class DeliveryResult:
    """One alert on one channel in this call: ``sent``, ``failed`` or ``already_sent``."""

    alert_key: str
    channel: str
    status: str
    attempts: int  # in this call (the store adds them up over calls)
    error: str | None = None


def deliver(store: PostStore, alerts: Sequence[Alert], channels: Sequence[Channel],
            max_attempts: int = 4, backoff_base_s: float = 1.0, backoff_cap_s: float = 60.0,
            sleep: Callable[[float], None] = time.sleep, rng: random.Random | None = None,
            now: datetime | Callable[[], datetime] | None = None) -> list[DeliveryResult]:
    """Record each alert and send it on every channel that has not sent it yet.

    A failing attempt is retried after :meth:`radar.retry.Backoff.delay` (or the
    receiver's Retry-After, when longer, up to ``backoff_cap_s``) until ``max_attempts``;
    a failure that retrying cannot fix stops at once. Each outcome is recorded with
    :func:`radar.store.history.record_delivery`; a channel that failed is tried again by the next
    call. One channel failing never stops the others.

    Args:
        now: the time recorded: a fixed time, a clock to call at each record, or None
            for the UTC clock.

    Returns:
        One result per alert and channel, in order.
    """
    if isinstance(max_attempts, bool) or not isinstance(max_attempts, int) or max_attempts < 1:
        raise ValueError(f"max_attempts must be a whole number >= 1, got {max_attempts!r}")
    names = [c.name for c in channels]
    if len(set(names)) != len(names):
        raise ValueError(f"channel names must be unique (deliveries are recorded by name), "
                         f"got {names}")
    backoff = Backoff(backoff_base_s, backoff_cap_s)  # ValueError names the bad pair
    rng = rng or random.Random()

    def clock() -> datetime:
        if callable(now):
            return now()
        return now if now is not None else datetime.now(UTC)

    results: list[DeliveryResult] = []
    for alert in alerts:
        record_alert(store, alert.key, alert.brand, alert.window_end, alert.kind,
                     alert.to_payload(), clock())
        for channel in channels:
            if delivery_status(store, alert.key, channel.name) == SENT:
                results.append(DeliveryResult(alert.key, channel.name, ALREADY_SENT, 0))
                continue
            attempts, error = _send_with_retries(channel, alert, max_attempts, backoff, sleep,
                                                 rng)
            status = SENT if error is None else FAILED
            record_delivery(store, alert.key, channel.name, attempts, status, error, clock())
            if error is not None:
                logger.warning("alert %s not delivered by %s after %d attempt(s): %s",
                               alert.key, channel.name, attempts, error)
            results.append(DeliveryResult(alert.key, channel.name, status, attempts, error))
    return results


def _send_with_retries(channel: Channel, alert: Alert, max_attempts: int,
                       backoff: Backoff, sleep: Callable[[float], None],
                       rng: random.Random) -> tuple[int, str | None]:
    """Attempts made and the last error (None: delivered)."""
    error: str | None = None
    for attempt in range(1, max_attempts + 1):
        retry_after: float | None = None
        try:
            channel.send(alert)
            return attempt, None
        except DeliveryError as exc:
            error, retryable, retry_after = str(exc), exc.retryable, exc.retry_after
        except Exception as exc:  # a broken channel must not stop the others
            # Recorded, redacted and retried; no traceback in the log, as a library's
            # message (and so its traceback) can quote a secret.
            redact = getattr(channel, "redact", None)
            error = (redact(f"{type(exc).__name__}: {exc}") if redact is not None
                     else type(exc).__name__)[:ERROR_CHARS]
            retryable = True
        if not retryable or attempt == max_attempts:
            return attempt, error
        wait = backoff.delay(attempt, rng)
        if retry_after is not None:
            wait = max(wait, min(retry_after, backoff.cap_s))
        sleep(wait)
    return max_attempts, error
