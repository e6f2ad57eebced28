"""The shared HTTP layer: rate-limit headers, failure classification, no secrets.

Retry-After itself is read by :mod:`radar.retry` (tests/radar/test_retry.py).
"""

from __future__ import annotations

import base64
import gzip
import json
from datetime import UTC, datetime
from email.utils import format_datetime

import httpx
import pytest

from radar.collect.base import AuthError, CollectError, RateLimited, TransientError
from radar.collect.http import USER_AGENT, HttpClient, parse_reset, rate_limit_wait
from radar.retry import MAX_WAIT_S

NOW = 1_700_000_000.0  # 2023-11-14T22:13:20Z
TOKEN = "sk-live-SECRET-7f3a9c"  # must never show up in an error message


def _at(seconds_from_now: float) -> datetime:
    return datetime.fromtimestamp(NOW + seconds_from_now, tz=UTC)


def _client(handler, **kwargs) -> HttpClient:
    return HttpClient("https://api.example.test/v1", transport=httpx.MockTransport(handler),
                      now=lambda: NOW, **kwargs)


def _answer(status: int, body=b"", headers=None):
    def handler(request: httpx.Request) -> httpx.Response:
        content = body if isinstance(body, bytes) else json.dumps(body).encode()
        return httpx.Response(status, headers=headers or {}, content=content)
    return handler


# --- parse_reset ------------------------------------------------------------------------------

def test_an_unreadable_reset_is_none():
    # float("nan") parses; a NaN wait would slip past max_wait_s and crash time.sleep.
    assert parse_reset("nan", NOW) is None


def test_parse_reset_reads_epoch_seconds_delta_and_iso_times():
    assert parse_reset(str(int(NOW) + 45), NOW) == 45.0  # epoch (X, Bluesky)
    assert parse_reset("45", NOW) == 45.0  # seconds to go (Reddit)
    assert parse_reset("12.5", NOW) == 12.5
    assert parse_reset(_at(300).isoformat(), NOW) == 300.0  # ISO 8601 (Mastodon)
    assert parse_reset("2023-11-14T22:15:20Z", NOW) == 120.0
    assert parse_reset("2023-11-14T23:15:20+01:00", NOW) == 120.0
    assert parse_reset("2023-11-14T22:15:20", NOW) == 120.0  # naive: UTC


def test_parse_reset_clamps_past_and_far_future_and_rejects_garbage():
    assert parse_reset(str(int(NOW) - 100), NOW) == 0.0
    assert parse_reset("2020-01-01T00:00:00Z", NOW) == 0.0
    assert parse_reset("-5", NOW) == 0.0
    assert parse_reset(str(int(NOW) + 10 * 86400), NOW) == MAX_WAIT_S
    for garbage in (None, "", "later", "2023-13-45T99:00:00Z"):
        assert parse_reset(garbage, NOW) is None


# --- rate_limit_wait --------------------------------------------------------------------------

def test_rate_limit_wait_only_when_the_window_is_used_up():
    reset = str(int(NOW) + 30)
    assert rate_limit_wait({"x-ratelimit-remaining": "5", "x-ratelimit-reset": reset}, NOW) == 0
    assert rate_limit_wait({"x-ratelimit-remaining": "0", "x-ratelimit-reset": reset}, NOW) == 30
    assert rate_limit_wait({"x-rate-limit-remaining": "0", "x-rate-limit-reset": reset},
                           NOW) == 30
    assert rate_limit_wait({"ratelimit-remaining": "0.0", "ratelimit-reset": "12"}, NOW) == 12
    assert rate_limit_wait({"x-ratelimit-remaining": "0",
                            "x-ratelimit-reset": _at(20).isoformat()}, NOW) == 20
    # used up but no (readable) reset: a minute, the common window
    assert rate_limit_wait({"x-ratelimit-remaining": "0"}, NOW) == 60.0
    assert rate_limit_wait({"x-ratelimit-remaining": "0", "x-ratelimit-reset": "?"}, NOW) == 60.0
    # no or unreadable remaining: no pause
    assert rate_limit_wait({}, NOW) == 0.0
    assert rate_limit_wait({"x-ratelimit-reset": reset}, NOW) == 0.0
    assert rate_limit_wait({"x-ratelimit-remaining": "many"}, NOW) == 0.0


# --- HttpClient: success ----------------------------------------------------------------------

def test_get_json_sends_params_headers_and_returns_json():
    seen: list[httpx.Request] = []

    def handler(request):
        seen.append(request)
        return httpx.Response(200, json={"statuses": [{"id": "1"}]},
                              headers={"X-RateLimit-Remaining": "299"})

    client = _client(handler, headers={"Authorization": f"Bearer {TOKEN}"})
    assert client.get_json("/search", {"q": "acme refund", "max_id": None, "limit": 40}) == {
        "statuses": [{"id": "1"}]}
    (request,) = seen
    assert request.url.path == "/v1/search"
    assert dict(request.url.params) == {"q": "acme refund", "limit": "40"}  # None dropped
    assert request.headers["authorization"] == f"Bearer {TOKEN}"
    assert request.headers["user-agent"] == USER_AGENT
    assert client.last_wait == 0.0


def test_last_wait_follows_the_rate_limit_headers_of_the_latest_success():
    answers = iter([
        httpx.Response(200, json=[], headers={"x-ratelimit-remaining": "0",
                                              "x-ratelimit-reset": str(int(NOW) + 42)}),
        httpx.Response(200, json=[], headers={"x-ratelimit-remaining": "10"}),
    ])
    client = _client(lambda request: next(answers))
    client.get_json("/a")
    assert client.last_wait == 42.0
    client.get_json("/a")
    assert client.last_wait == 0.0


def test_post_json_sends_a_json_body_or_form_data_and_basic_auth():
    seen: list[httpx.Request] = []

    def handler(request):
        seen.append(request)
        return httpx.Response(200, json={"ok": True})

    client = _client(handler)
    assert client.post_json("/session", body={"identifier": "me"}) == {"ok": True}
    client.post_json("/token", data={"grant_type": "client_credentials"}, auth=("id", TOKEN))
    assert seen[0].method == "POST"
    assert json.loads(seen[0].content) == {"identifier": "me"}
    assert seen[1].content == b"grant_type=client_credentials"
    assert seen[1].headers["authorization"].startswith("Basic ")


# --- HttpClient: failures ---------------------------------------------------------------------

@pytest.mark.parametrize("status", [401, 403])
def test_refused_credentials_are_auth_errors(status):
    with pytest.raises(AuthError, match=rf"GET https://api.example.test/v1/me: HTTP {status}"):
        _client(_answer(status, {"error": "invalid token"})).get_json("/me")


def test_429_with_retry_after_seconds_or_date():
    with pytest.raises(RateLimited) as seconds:
        _client(_answer(429, {"error": "slow down"}, {"Retry-After": "17"})).get_json("/s")
    assert seconds.value.retry_after == 17.0
    date = format_datetime(_at(25), usegmt=True)
    with pytest.raises(RateLimited) as by_date:
        _client(_answer(429, b"", {"Retry-After": date})).get_json("/s")
    assert by_date.value.retry_after == 25.0


def test_429_without_retry_after_uses_reset_headers_or_leaves_it_to_the_runner():
    headers = {"X-RateLimit-Remaining": "3", "X-RateLimit-Reset": str(int(NOW) + 8)}
    with pytest.raises(RateLimited) as reset:
        _client(_answer(429, b"", headers)).get_json("/s")
    assert reset.value.retry_after == 8.0
    with pytest.raises(RateLimited) as bare:
        _client(_answer(429, b"")).get_json("/s")
    assert bare.value.retry_after is None
    assert isinstance(bare.value, TransientError)  # the runner backs off instead


@pytest.mark.parametrize("status", [500, 502, 503, 504, 408])
def test_server_errors_and_timeouts_are_transient(status):
    with pytest.raises(TransientError, match=f"HTTP {status}") as info:
        _client(_answer(status, b"<html>upstream down</html>")).get_json("/s")
    assert not isinstance(info.value, RateLimited)
    assert "upstream down" in str(info.value)


@pytest.mark.parametrize("status", [400, 404, 410, 422])
def test_other_client_errors_are_not_retried(status):
    with pytest.raises(CollectError, match=f"HTTP {status}.*not retried") as info:
        _client(_answer(status, {"error": "bad query"})).get_json("/s")
    assert not isinstance(info.value, (TransientError, AuthError))


@pytest.mark.parametrize("body", [b"{not json", b"<html>maintenance</html>", b"",
                                  b"\xff\xfe\x00garbage"])
def test_invalid_json_in_a_success_is_transient(body):
    with pytest.raises(TransientError, match="malformed JSON in a 200 response"):
        _client(_answer(200, body)).get_json("/s")


def test_network_errors_are_transient():
    def refuse(request):
        raise httpx.ConnectError("[Errno 111] Connection refused", request=request)

    with pytest.raises(TransientError, match="request failed .*ConnectError.*refused"):
        _client(refuse).get_json("/s")

    def slow(request):
        raise httpx.ReadTimeout("timed out", request=request)

    with pytest.raises(TransientError, match="ReadTimeout"):
        _client(slow).get_json("/s")


def test_a_corrupt_compressed_body_is_transient(local_server):
    server = local_server({"/s": [(200, {"Content-Encoding": "gzip"}, b"not gzip at all")]})
    client = HttpClient(server.url)
    with pytest.raises(TransientError):
        client.get_json("/s")


def test_a_compressed_body_is_decoded(local_server):
    body = gzip.compress(b'{"ok": true}')
    server = local_server({"/s": [(200, {"Content-Encoding": "gzip"}, body)]})
    assert HttpClient(server.url).get_json("/s") == {"ok": True}


def test_error_messages_never_contain_credentials_from_headers():
    secret_headers = {"Authorization": f"Bearer {TOKEN}", "X-Api-Key": TOKEN}
    basic = "Basic " + base64.b64encode(f"client:{TOKEN}".encode()).decode()
    messages = []
    for status in (401, 403, 429, 500, 404):
        with pytest.raises(CollectError) as info:
            _client(_answer(status, {"error": "nope"}), headers=secret_headers).get_json(
                "/search", {"q": "acme"}, headers={"X-Token": TOKEN})
        messages.append(str(info.value))

    def refuse(request):
        raise httpx.ConnectError("connection refused", request=request)

    with pytest.raises(TransientError) as network:
        _client(refuse, headers=secret_headers).get_json("/s", headers={"X-Token": TOKEN})
    messages.append(str(network.value))
    with pytest.raises(AuthError) as refused:
        _client(_answer(401, b"")).post_json("/token", data={"grant_type": "x"},
                                            auth=("client", TOKEN))
    messages.append(str(refused.value))
    assert len(messages) == 7
    for message in messages:
        assert "https://api.example.test/v1/" in message  # they do say what failed
        assert TOKEN not in message
        assert "Bearer" not in message
        assert basic.split()[1] not in message


def test_a_post_with_credentials_does_not_follow_a_redirect(local_server):
    stolen = []

    def handler(request):
        if request.path == "/login":
            return 307, {"Location": "/elsewhere"}, b""
        stolen.append(request.body)
        return 200, {}, {"ok": True}

    server = local_server(handler)
    with pytest.raises(CollectError, match="HTTP 307 redirect to '/elsewhere', not followed"):
        HttpClient(server.url).post_json("/login", body={"password": "hunter2-secret"})
    assert stolen == []
