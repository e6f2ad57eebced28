"""Tests of alert delivery (radar/monitor/notify.py) against real local receivers.

A threaded HTTP server on 127.0.0.1 plays the Slack-style webhook (answering from a
script of statuses), and aiosmtpd plays the SMTP server. An injected rise in scored
data fires exactly one alert per channel with the right content; a second run sends
nothing more; failures are retried with backoff, recorded with a reason free of
secrets, and retried by the next run; the YAML config takes secrets only from the
environment.
"""

from __future__ import annotations

import json
import logging
import random
import socket
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from email.policy import default as default_policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

from radar.monitor.alerts import AlertRules, find_alerts
from radar.monitor.notify import (
    DeliveryError,
    SmtpChannel,
    WebhookChannel,
    channels_from_config,
    deliver,
)
from radar.retry import Backoff
from radar.store import open_store
from radar.store.history import AlertDelivery, alert_payloads, delivery_status
from tests.radar.monitor.test_alerts import BRAND, customers_of, rising_history, sample_alert

WEBHOOK_PATH = "/services/T0001/B0002/s3cretT0ken"
PASSWORD = "hunter2-not-for-logs"


# --- receivers ---------------------------------------------------------------------------------


@dataclass
class WebhookReceiver:
    """Answers each POST with the next status of ``script`` (then 200), keeping the bodies."""

    url: str = ""
    script: list[int] = field(default_factory=list)
    requests: list[dict] = field(default_factory=list)
    accepted: list[dict] = field(default_factory=list)


@pytest.fixture
def webhook():
    receiver = WebhookReceiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - the name http.server calls
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            receiver.requests.append(body)
            status = receiver.script.pop(0) if receiver.script else 200
            if 200 <= status < 300:
                receiver.accepted.append(body)
                reply = b"ok"
            else:  # like many services, the error names the path it was asked for
                reply = f"no_service for {self.path}".encode()
            self.send_response(status)
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}{WEBHOOK_PATH}"
    yield receiver
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


class MailHandler:
    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's name
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos),
                              message_from_bytes(envelope.content, policy=default_policy)))
        return "250 Message accepted for delivery"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_smtp(**kwargs):
    handler = MailHandler()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port(), **kwargs)
    controller.start()
    return controller, handler


@pytest.fixture
def smtp():
    controller, handler = start_smtp()
    yield controller, handler
    controller.stop()


@pytest.fixture
def store(store_db):
    """The post store, once per backend (a SQLite file, a PostgreSQL database)."""
    opened = open_store(store_db)
    yield opened
    opened.db.close()


def smtp_channel(controller, **kwargs) -> SmtpChannel:
    return SmtpChannel("127.0.0.1", controller.port, "radar@example.com", ["cx@example.com"],
                       local_hostname="radar.test", **kwargs)


def waits_for(seed: int, failures: int) -> list[float]:
    """The backoff waits ``deliver`` must take with ``rng=random.Random(seed)``."""
    rng, backoff = random.Random(seed), Backoff(base_s=1.0, cap_s=60.0)
    return [backoff.delay(n, rng) for n in range(1, failures + 1)]


# --- the whole path ----------------------------------------------------------------------------


def test_injected_rise_is_delivered_once_per_channel_with_its_content(store, webhook, smtp):
    controller, mail = smtp
    data = rising_history(store)
    alerts = find_alerts(data.history, customers_of(store), AlertRules())
    assert len(alerts) == 1
    alert = alerts[0]
    channels = [WebhookChannel(webhook.url), smtp_channel(controller)]
    waits: list[float] = []

    results = deliver(store, alerts, channels, sleep=waits.append)

    assert [(r.channel, r.status, r.attempts) for r in results] == [
        ("webhook", "sent", 1), ("email", "sent", 1)]
    assert waits == []
    # The webhook got the Slack message with the structured alert.
    assert len(webhook.requests) == 1
    body = webhook.requests[0]
    assert body["text"] == f"complaint-radar: {alert.headline}"
    assert body["radar"]["brand"] == BRAND and body["radar"]["kind"] == "risk_rise"
    assert body["radar"]["change"] == pytest.approx(alert.change)
    assert body["radar"]["change_low"] == pytest.approx(alert.change_low)
    assert len(body["radar"]["examples"]) == 3
    assert f"*{BRAND}*" in body["blocks"][0]["text"]["text"]
    assert alert.change_text() in body["blocks"][0]["text"]["text"]
    # The e-mail: subject, brand, change, examples.
    assert len(mail.messages) == 1
    sender, recipients, message = mail.messages[0]
    assert (sender, recipients) == ("radar@example.com", ["cx@example.com"])
    assert message["Subject"] == f"complaint-radar: {BRAND} share of customers at risk up " \
        f"{alert.change * 100:.1f} pts (week ending 2026-11-30)"
    text = message.get_content()
    assert f"Brand: {BRAND}" in text and alert.change_text() in text
    assert text.count("social.example/posts/") == 3
    # No author id went out on either channel.
    sent = json.dumps(body) + message.as_string()
    assert not [a for a in data.authors if a in sent]
    # Recorded: the alert once, each channel sent after one attempt.
    [recorded] = alert_payloads(store, BRAND)
    assert (recorded.alert_key, recorded.brand, recorded.kind, recorded.window_end) == (
        alert.key, BRAND, "risk_rise", alert.window_end)
    assert recorded.payload == json.loads(json.dumps(alert.to_payload()))
    assert recorded.deliveries == (AlertDelivery("email", 1, "sent", None),
                                   AlertDelivery("webhook", 1, "sent", None))

    # The next monitor cycle finds the same alert again and sends nothing more.
    again = find_alerts(data.history, customers_of(store), AlertRules())
    results = deliver(store, again, channels, sleep=waits.append)

    assert [r.status for r in results] == ["already_sent", "already_sent"]
    assert len(webhook.requests) == 1 and len(mail.messages) == 1
    assert len(alert_payloads(store)) == 1


def test_receiver_failing_twice_gets_the_alert_once_after_two_backoff_waits(store, webhook):
    webhook.script = [500, 500]
    waits: list[float] = []

    [result] = deliver(store, [sample_alert()], [WebhookChannel(webhook.url)],
                       sleep=waits.append, rng=random.Random(7))

    assert (result.status, result.attempts) == ("sent", 3)
    assert len(webhook.requests) == 3 and len(webhook.accepted) == 1
    assert waits == pytest.approx(waits_for(7, 2))
    assert 0.5 <= waits[0] <= 1.0 and 1.0 <= waits[1] <= 2.0  # exponential, with jitter
    [recorded] = alert_payloads(store)[0].deliveries
    assert (recorded.attempts, recorded.status, recorded.last_error) == (3, "sent", None)


def test_receiver_always_failing_is_recorded_failed_and_retried_next_cycle(store, webhook,
                                                                           caplog):
    webhook.script = [503] * 4
    waits: list[float] = []
    channel = WebhookChannel(webhook.url)

    with caplog.at_level(logging.WARNING, logger="radar.monitor.notify"):
        [result] = deliver(store, [sample_alert()], [channel], sleep=waits.append,
                           rng=random.Random(1))

    assert (result.status, result.attempts) == ("failed", 4)
    assert len(waits) == 3 and waits == pytest.approx(waits_for(1, 3))
    [recorded] = alert_payloads(store)[0].deliveries
    assert (recorded.status, recorded.attempts) == ("failed", 4)
    assert recorded.last_error.startswith("webhook answered HTTP 503: no_service for")
    # The URL's token was in the receiver's reply; it is masked in the record and the log.
    assert "s3cretT0ken" not in recorded.last_error and "***" in recorded.last_error
    assert "HTTP 503" in caplog.text and "s3cretT0ken" not in caplog.text
    assert webhook.accepted == []

    # Next cycle: the receiver is back; the failed delivery is tried again and sent.
    [result] = deliver(store, [sample_alert()], [channel], sleep=waits.append)

    assert (result.status, result.attempts) == ("sent", 1)
    assert len(webhook.accepted) == 1
    [recorded] = alert_payloads(store)[0].deliveries
    assert (recorded.status, recorded.attempts, recorded.last_error) == ("sent", 5, None)


def test_the_recorded_time_is_a_fixed_time_or_a_clock(store, webhook):
    fixed = datetime(2026, 12, 1, 6, 0, tzinfo=UTC)
    ticks = iter([fixed, fixed + timedelta(seconds=5)])
    webhook.script = [500]

    deliver(store, [sample_alert()], [WebhookChannel(webhook.url)], max_attempts=1,
            now=lambda: next(ticks))
    deliver(store, [sample_alert(key="b|k|risk_rise|")], [WebhookChannel(webhook.url)],
            now=fixed)

    rows = store.db.execute("SELECT a.created_at, d.updated_at FROM alerts a JOIN "
                            "alert_deliveries d USING (alert_key) ORDER BY a.alert_key"
                            ).fetchall()
    assert rows == [("2026-12-01T06:00:00.000000Z", "2026-12-01T06:00:05.000000Z"),
                    ("2026-12-01T06:00:00.000000Z", "2026-12-01T06:00:00.000000Z")]


def test_a_refusal_that_retrying_cannot_fix_is_not_retried(store, webhook):
    webhook.script = [404]
    waits: list[float] = []

    [result] = deliver(store, [sample_alert()], [WebhookChannel(webhook.url)],
                       sleep=waits.append)

    assert (result.status, result.attempts, waits) == ("failed", 1, [])
    assert "HTTP 404" in result.error


def test_rate_limited_receiver_is_waited_for_as_it_asks(store):
    answers = iter([httpx.Response(429, headers={"Retry-After": "30"}), httpx.Response(200)])
    transport = httpx.MockTransport(lambda request: next(answers))
    waits: list[float] = []

    [result] = deliver(store, [sample_alert()],
                       [WebhookChannel("https://hooks.example/x", transport=transport)],
                       sleep=waits.append)

    assert (result.status, result.attempts, waits) == ("sent", 2, [30.0])


def test_unreachable_webhook_is_recorded_and_does_not_stop_email(store, smtp):
    controller, mail = smtp
    closed = f"http://127.0.0.1:{free_port()}{WEBHOOK_PATH}"
    alerts = [sample_alert(), sample_alert(key="other|key|risk_rise|")]
    waits: list[float] = []

    results = deliver(store, alerts, [WebhookChannel(closed), smtp_channel(controller)],
                      max_attempts=2, sleep=waits.append)

    assert [(r.channel, r.status, r.attempts) for r in results] == [
        ("webhook", "failed", 2), ("email", "sent", 1)] * 2
    assert len(mail.messages) == 2
    assert len(waits) == 2  # one between the two attempts, for each alert
    assert results[0].error.startswith("webhook unreachable: ConnectError")
    assert "s3cretT0ken" not in results[0].error


def test_a_channel_that_breaks_unexpectedly_is_recorded_and_the_others_go_on(store, webhook):
    class Broken:
        name = "broken"

        def send(self, alert):
            raise KeyError("token-123")

        def redact(self, text):
            return text.replace("token-123", "***")

    results = deliver(store, [sample_alert()], [Broken(), WebhookChannel(webhook.url)],
                      max_attempts=2, sleep=lambda s: None)

    assert [(r.channel, r.status) for r in results] == [("broken", "failed"),
                                                        ("webhook", "sent")]
    assert results[0].error == "KeyError: '***'"


# --- SMTP failures -----------------------------------------------------------------------------


def test_smtp_login_refused_is_recorded_without_the_password(store, caplog):
    def refuse(server, session, envelope, mechanism, auth_data):
        return AuthResult(success=False, handled=False)

    controller, mail = start_smtp(authenticator=refuse, auth_require_tls=False)
    try:
        channel = smtp_channel(controller, username="radar", password=PASSWORD)
        waits: list[float] = []
        with caplog.at_level(logging.WARNING, logger="radar.monitor.notify"):
            [result] = deliver(store, [sample_alert()], [channel], sleep=waits.append)
    finally:
        controller.stop()

    assert (result.status, result.attempts, waits) == ("failed", 1, [])  # not retried
    assert mail.messages == []
    error = alert_payloads(store)[0].deliveries[0].last_error
    assert error.startswith("SMTP login refused by 127.0.0.1:") and "535" in error
    assert PASSWORD not in error and PASSWORD not in caplog.text
    assert delivery_status(store, sample_alert().key, "email") == "failed"


def test_smtp_server_down_is_retried_then_recorded(store):
    channel = SmtpChannel("127.0.0.1", free_port(), "radar@example.com", ["cx@example.com"],
                          username="radar", password=PASSWORD, local_hostname="radar.test")
    waits: list[float] = []

    [result] = deliver(store, [sample_alert()], [channel], max_attempts=3, sleep=waits.append,
                       rng=random.Random(2))

    assert (result.status, result.attempts) == ("failed", 3)
    assert waits == pytest.approx(waits_for(2, 2))
    assert "Connection refused" in result.error or "ConnectionRefused" in result.error
    assert PASSWORD not in result.error


def test_smtp_channel_masks_the_password_in_any_reason():
    channel = SmtpChannel("smtp.example.com", 587, "radar@example.com", ["cx@example.com"],
                          username="radar", password=PASSWORD, starttls=True)

    assert channel.redact(f"server said: {PASSWORD}") == "server said: ***"
    assert PASSWORD not in repr(channel)


# --- config ------------------------------------------------------------------------------------


ENV = {"RADAR_WEBHOOK_URL": "https://hooks.example.com/services/T1/B2/tok",
       "RADAR_SMTP_USER": "radar", "RADAR_SMTP_PASSWORD": PASSWORD}
CONFIG = {"webhook": {"url_env": "RADAR_WEBHOOK_URL"},
          "email": {"host": "smtp.example.com", "port": 587, "from": "radar@example.com",
                    "to": ["cx@example.com"], "username_env": "RADAR_SMTP_USER",
                    "password_env": "RADAR_SMTP_PASSWORD", "starttls": True}}


def test_channels_from_config_reads_secrets_from_the_environment():
    webhook_channel, email_channel = channels_from_config(CONFIG, env=ENV)

    assert (webhook_channel.name, email_channel.name) == ("webhook", "email")
    assert webhook_channel.url == ENV["RADAR_WEBHOOK_URL"]
    assert (email_channel.host, email_channel.port, email_channel.starttls) == (
        "smtp.example.com", 587, True)
    assert (email_channel.username, email_channel.recipients) == ("radar", ["cx@example.com"])
    assert "tok" not in repr(webhook_channel) and PASSWORD not in repr(email_channel)
    assert channels_from_config(None, env={}) == []
    assert channels_from_config({"email": {"host": "mail", "from": "a@b", "to": "c@d"}},
                                env={})[0].port == 25


@pytest.mark.parametrize(("section", "changes", "message"), [
    ("webhook", {"url": "https://hooks.example.com/x"}, r"webhook\.url: .*url_env"),
    ("email", {"password": "hunter2"}, r"email\.password: .*password_env"),
    ("email", {"username": "radar"}, r"email\.username: .*username_env"),
    ("email", {"tls": True}, r"unknown keys \['tls'\]"),
    ("email", {"ssl": True}, "starttls .* or ssl .*, not both"),
    ("email", {"to": []}, r"needs \['to'\]"),
    ("email", {"port": "587"}, "port must be a number"),
    ("webhook", {"timeout": 0}, "timeout must be a positive number"),
    ("email", {"starttls": "yes"}, "starttls must be true or false"),
])
def test_bad_channel_config_is_refused(section, changes, message):
    config = {name: dict(values) for name, values in CONFIG.items()}
    config[section].update(changes)

    with pytest.raises(ValueError, match=message):
        channels_from_config(config, env=ENV)


@pytest.mark.parametrize("variable", ["RADAR_WEBHOOK_URL", "RADAR_SMTP_PASSWORD"])
def test_a_missing_environment_variable_is_named(variable):
    env = {k: v for k, v in ENV.items() if k != variable}

    with pytest.raises(ValueError, match=f"environment variable {variable} .* is not set"):
        channels_from_config(CONFIG, env=env)


def test_unknown_channel_and_bad_webhook_url_are_refused_without_echoing_it():
    with pytest.raises(ValueError, match=r"unknown channels \['sms'\]"):
        channels_from_config({"sms": {}}, env=ENV)
    with pytest.raises(ValueError, match="RADAR_WEBHOOK_URL: the webhook URL must be") as info:
        channels_from_config(CONFIG, env={**ENV, "RADAR_WEBHOOK_URL": "hooks/secret-tok"})
    assert "secret-tok" not in str(info.value)


def test_deliver_checks_its_arguments(store):
    with pytest.raises(ValueError, match="max_attempts"):
        deliver(store, [sample_alert()], [], max_attempts=0)
    with pytest.raises(ValueError, match="need 0 <= backoff_base_s <= backoff_cap_s, got 10 "
                                         "and 1"):
        deliver(store, [sample_alert()], [], backoff_base_s=10, backoff_cap_s=1)
    twice = [WebhookChannel("https://a.example/x"), WebhookChannel("https://b.example/y")]
    with pytest.raises(ValueError, match="channel names must be unique"):
        deliver(store, [sample_alert()], twice)


def test_delivery_error_carries_whether_to_retry():
    error = DeliveryError("HTTP 429", retry_after=5.0)
    assert (str(error), error.retryable, error.retry_after) == ("HTTP 429", True, 5.0)
