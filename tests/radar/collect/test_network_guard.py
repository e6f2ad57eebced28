"""The test suite cannot reach the internet: the guard in tests/conftest.py refuses it."""

import socket

import httpx
import pytest

from tests.conftest import NetworkBlocked


def test_name_lookup_beyond_loopback_is_refused():
    with pytest.raises(NetworkBlocked):
        socket.getaddrinfo("mastodon.social", 443)


def test_connection_to_a_public_address_is_refused():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock, pytest.raises(NetworkBlocked):
        sock.connect(("1.1.1.1", 443))


def test_httpx_cannot_reach_a_platform():
    with pytest.raises(NetworkBlocked):
        httpx.get("https://api.bsky.app/xrpc/app.bsky.feed.searchPosts", timeout=2)


def test_loopback_is_allowed(local_server):
    server = local_server({"/ping": [(200, {}, b'{"ok": true}')]})
    assert httpx.get(f"{server.url}/ping").json() == {"ok": True}
