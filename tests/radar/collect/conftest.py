"""Fixtures for collection tests: a local HTTP server on 127.0.0.1 and recorded responses.

``local_server(handler)`` starts a threaded server; ``handler`` is either a function
``(request) -> (status, headers, body)`` or a dict ``path -> [responses]`` served in
order (the last one repeats). ``server.requests`` records what was asked.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

FIXTURES = Path(__file__).parent / "fixtures"


def load_fixture(name: str):
    """A recorded response body from tests/radar/collect/fixtures, parsed JSON."""
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes


@dataclass
class LocalServer:
    url: str
    requests: list[RecordedRequest] = field(default_factory=list)


Response = tuple[int, dict[str, str], bytes | str | dict | list]


def _encode(body) -> bytes:
    if isinstance(body, bytes):
        return body
    if isinstance(body, str):
        return body.encode("utf-8")
    return json.dumps(body).encode("utf-8")


@pytest.fixture
def local_server():
    servers = []

    def start(handler: Callable[[RecordedRequest], Response] | dict[str, list[Response]]):
        if isinstance(handler, dict):
            queues = {path: list(responses) for path, responses in handler.items()}

            def by_path(request: RecordedRequest) -> Response:
                queue = queues.get(request.path)
                if not queue:
                    return 404, {}, {"error": f"no route {request.path}"}
                return queue.pop(0) if len(queue) > 1 else queue[0]

            handler_fn = by_path
        else:
            handler_fn = handler
        state = LocalServer(url="")

        class Handler(BaseHTTPRequestHandler):
            def _serve(self):
                length = int(self.headers.get("Content-Length") or 0)
                parts = urlsplit(self.path)
                request = RecordedRequest(self.command, parts.path, parse_qs(parts.query),
                                          {k.lower(): v for k, v in self.headers.items()},
                                          self.rfile.read(length) if length else b"")
                state.requests.append(request)
                status, headers, body = handler_fn(request)
                payload = _encode(body)
                self.send_response(status)
                if not any(k.lower() == "content-type" for k in headers):
                    self.send_header("Content-Type", "application/json")
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = _serve

            def log_message(self, *args):  # keep test output clean
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                                  daemon=True)
        thread.start()
        servers.append(server)
        state.url = f"http://127.0.0.1:{server.server_address[1]}"
        return state

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()
