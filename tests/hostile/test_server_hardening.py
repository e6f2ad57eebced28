"""Issue 18, hostile input: the server's edge.

- a ``Host`` allow-list against DNS rebinding (loopback names, the bound host, the address
  the connection arrived at, ``ServeSettings.allowed_hosts``; others get 400);
- ``Content-Security-Policy``, ``X-Frame-Options: DENY`` and ``X-Content-Type-Options:
  nosniff`` on every response, the API docs allowed their one inline script by hash;
- with an API key, ``/docs`` and ``/openapi.json`` need it too;
- wrong keys are throttled per client address (429 with ``Retry-After``);
- a warning when serving without a key on a non-loopback address;
- the dashboard's JSON links work for a browser signed in with HTTP Basic.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
import re

import pytest

pytest.importorskip("fastapi")
httpx = pytest.importorskip("httpx")
from fastapi.testclient import TestClient  # noqa: E402

import serve  # noqa: E402
from serve import ServeSettings, create_app  # noqa: E402
from tests.radar.dashboard.fixtures import build_fixture_store  # noqa: E402

API_KEY = "hardening-key-0123456789"
PSEUDONYM_KEY = "pseudonym-key-for-tests"


def basic(password: str, user: str = "me") -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


@pytest.fixture(scope="module")
def store_path(tmp_path_factory):
    return build_fixture_store(tmp_path_factory.mktemp("hardening") / "radar.db").db_path


@pytest.fixture
def make_app(store_path, tmp_path, monkeypatch):
    """The app over the fixture store, without a model (none is needed at the edge)."""
    monkeypatch.setenv("RADAR_PSEUDONYM_KEY", PSEUDONYM_KEY)

    def make(**settings) -> object:
        return create_app(ServeSettings(model_dir=tmp_path / "no-model", db_path=store_path,
                                        **settings))

    return make


@pytest.fixture
def client(make_app):
    with TestClient(make_app()) as c:
        yield c


@pytest.fixture
def keyed_client(make_app):
    with TestClient(make_app(api_key=API_KEY)) as c:
        yield c


# --- Host allow-list ----------------------------------------------------------------------


@pytest.mark.parametrize(("host", "name"), [
    ("evil.example", "evil.example"), ("Evil.Example:8000", "evil.example"),
    ("127.0.0.1.nip.io", "127.0.0.1.nip.io"), ("localhost.evil.example", "localhost.evil.example"),
    ("[::2]:8000", "::2"), ("10.0.0.7", "10.0.0.7")])
def test_a_foreign_host_header_is_refused(client, host, name):
    response = client.get("/healthz", headers={"Host": host})
    assert response.status_code == 400
    assert response.json() == {
        "detail": f"Host {name!r} is not served here; add it to RADAR_ALLOWED_HOSTS "
                  "(radar serve --allowed-host) if it should be"}


def test_an_empty_host_header_is_refused(client):
    response = client.get("/healthz", headers={"Host": ""})
    assert (response.status_code, response.json()) == (400, {"detail": "missing Host header"})


@pytest.mark.parametrize("host", ["localhost", "localhost:8000", "LocalHost.", "127.0.0.1",
                                  "127.0.0.1:8000", "[::1]", "[::1]:8000",
                                  "testserver"])  # the address the connection arrived at
def test_loopback_names_and_the_servers_own_address_are_served(client, host):
    assert client.get("/healthz", headers={"Host": host}).status_code == 200


def test_the_bound_host_and_configured_hosts_are_served(make_app):
    app = make_app(host="10.1.2.3", allowed_hosts=("radar.example.com", "Intranet"))
    with TestClient(app) as c:
        for host in ("10.1.2.3:8000", "radar.example.com", "RADAR.example.com:443",
                     "intranet"):
            assert c.get("/healthz", headers={"Host": host}).status_code == 200, host
        assert c.get("/healthz", headers={"Host": "other.example.com"}).status_code == 400
    with TestClient(make_app(allowed_hosts=("*",))) as c:  # e.g. behind a proxy that checks
        assert c.get("/healthz", headers={"Host": "anything.example"}).status_code == 200


def test_allowed_hosts_come_from_the_environment():
    settings = ServeSettings.from_env({"RADAR_ALLOWED_HOSTS": " radar.example.com, intranet ,"})
    assert settings.allowed_hosts == ("radar.example.com", "intranet")
    assert ServeSettings().allowed_hosts == ()
    with pytest.raises(ValueError, match="allowed_hosts: 'a b' is not a host name"):
        ServeSettings(allowed_hosts=("a b",))


# --- security headers ---------------------------------------------------------------------


def assert_security_headers(response) -> None:
    headers = response.headers
    assert headers["x-frame-options"] == "DENY", response.url
    assert headers["x-content-type-options"] == "nosniff", response.url
    csp = headers["content-security-policy"]
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";") if d.strip())
    assert directives["default-src"] == "'none'"
    assert directives["frame-ancestors"] == "'none'"
    assert directives["script-src"].split()[0] == "'self'"
    assert "'unsafe-inline'" not in directives["script-src"]
    assert "'unsafe-eval'" not in directives["script-src"]
    assert directives["object-src"] == "'none'"
    assert directives["base-uri"] == "'none'"
    assert directives["form-action"] == "'self'"


def test_every_response_carries_the_security_headers(client, keyed_client):
    responses = [client.get(path) for path in (
        "/healthz", "/readyz", "/", "/brands/AcmeTelco", "/brands/Nonesuch", "/overview.csv",
        "/v1/brands", "/docs", "/openapi.json", "/static/dashboard.js", "/static/dashboard.css",
        "/static/plotly.min.js", "/static/docs/swagger-ui.css", "/no-such-page")]
    responses += [
        client.post("/v1/classify", content="x", headers={"content-type": "text/plain"}),
        client.post("/v1/classify", content="{", headers={"content-type": "application/json"}),
        client.get("/healthz", headers={"Host": "evil.example"}),
        keyed_client.get("/"), keyed_client.get("/v1/model"),
    ]
    assert {r.status_code for r in responses} >= {200, 400, 401, 404, 415, 503}
    for response in responses:
        assert_security_headers(response)


def test_the_docs_page_may_run_its_own_inline_script_and_no_other(client):
    response = client.get("/docs")
    assert response.status_code == 200
    inline = re.findall(r"<script>(.*?)</script>", response.text, re.S)
    assert inline, "Swagger UI's page starts the UI from an inline script"
    csp = response.headers["content-security-policy"]
    script_src = next(d for d in csp.split(";") if d.strip().startswith("script-src"))
    hashes = {"'sha256-" + base64.b64encode(hashlib.sha256(s.encode()).digest()).decode() + "'"
              for s in inline}
    assert set(script_src.split()[2:]) == hashes
    assert_security_headers(response)


# --- the API docs need the key ------------------------------------------------------------


def test_docs_and_schema_need_the_key_when_one_is_set(keyed_client):
    for path in ("/docs", "/openapi.json"):
        refused = keyed_client.get(path)
        assert refused.status_code == 401, path
        assert refused.headers["www-authenticate"].startswith("Basic "), path
        assert "/v1/classify" not in refused.text
        assert keyed_client.get(path, headers={"X-API-Key": API_KEY}).status_code == 200
        assert keyed_client.get(path, headers=basic(API_KEY)).status_code == 200
        assert keyed_client.get(path, headers=basic("wrong-key-0123456789")).status_code == 401
    assert keyed_client.get("/redoc", headers={"X-API-Key": API_KEY}).status_code == 404
    schema = keyed_client.get("/openapi.json", headers={"X-API-Key": API_KEY}).json()
    assert "/v1/classify" in schema["paths"]


def test_docs_stay_open_without_a_key(client):
    assert client.get("/docs").status_code == 200
    assert client.get("/openapi.json").status_code == 200


# --- wrong keys are throttled -------------------------------------------------------------


def client_at(app, address: str) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(address, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1")


@pytest.mark.anyio
async def test_wrong_keys_are_throttled_per_client_address(make_app):
    app = make_app(api_key=API_KEY, auth_failures_max=3, auth_failure_window_s=2)
    right = {"X-API-Key": API_KEY}
    async with app.router.lifespan_context(app), client_at(app, "10.0.0.1") as attacker, \
            client_at(app, "10.0.0.2") as neighbour:
        wrong = [await attacker.get("/v1/brands", headers={"X-API-Key": f"guess-{i:016d}"})
                 for i in range(3)]
        locked = [await attacker.get("/v1/brands", headers={"X-API-Key": "guess-again-0123"}),
                  await attacker.get("/", headers=basic("guess-on-a-page-01")),
                  await attacker.get("/v1/brands", headers=right)]  # not even checked now
        other = await neighbour.get("/v1/brands", headers=right)
        await asyncio.sleep(2.1)
        later = await attacker.get("/v1/brands", headers=right)
    assert [r.status_code for r in wrong] == [401, 401, 401]
    assert [r.status_code for r in locked] == [429, 429, 429]
    for response in locked:
        assert response.headers["retry-after"] in ("1", "2")  # the window is 2 s
        assert "too many wrong API keys from this address; retry in " in response.text
    assert locked[1].headers["content-type"].startswith("text/html")  # a page for browsers
    assert locked[0].json() == {"detail": "too many wrong API keys from this address; "
                                          f"retry in {locked[0].headers['retry-after']} s"}
    assert other.status_code == 200
    assert later.status_code == 200


@pytest.mark.anyio
async def test_requests_without_a_key_are_not_counted_as_guesses(make_app):
    app = make_app(api_key=API_KEY, auth_failures_max=2, auth_failure_window_s=60)
    async with app.router.lifespan_context(app), client_at(app, "10.0.0.3") as browser:
        first_visits = [await browser.get("/") for _ in range(5)]
        signed_in = await browser.get("/", headers=basic(API_KEY))
    assert [r.status_code for r in first_visits] == [401] * 5
    assert signed_in.status_code == 200


def test_the_throttle_is_configurable_and_checked():
    settings = ServeSettings.from_env({"RADAR_AUTH_FAILURES_MAX": "5",
                                       "RADAR_AUTH_FAILURE_WINDOW_S": "120"})
    assert (settings.auth_failures_max, settings.auth_failure_window_s) == (5, 120.0)
    assert (ServeSettings().auth_failures_max, ServeSettings().auth_failure_window_s) == \
        (10, 60.0)
    with pytest.raises(ValueError, match="auth_failures_max must be >= 1, got 0"):
        ServeSettings(auth_failures_max=0)
    with pytest.raises(ValueError, match="auth_failure_window_s must be > 0 and finite, got -1"):
        ServeSettings(auth_failure_window_s=-1)


# --- warning when open on the network -----------------------------------------------------


@pytest.mark.parametrize(("host", "key", "warned"), [
    ("0.0.0.0", None, True), ("192.168.1.20", None, True), ("::", None, True),
    ("127.0.0.1", None, False), ("localhost", None, False), ("::1", None, False),
    ("0.0.0.0", API_KEY, False)])
def test_serving_without_a_key_beyond_loopback_logs_a_warning(make_app, caplog, host, key,
                                                             warned):
    with caplog.at_level(logging.WARNING, logger="complaint_radar.serve"), \
            TestClient(make_app(host=host, api_key=key)):
        pass
    messages = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    expected = (f"serving without an API key on {host}, which is not a loopback address: "
                "anyone who can reach it can use the API and read the dashboard; set "
                "RADAR_API_KEY")
    assert (expected in messages) is warned, messages


# --- the dashboard's JSON links with HTTP Basic -------------------------------------------


def test_the_dashboards_json_links_work_when_signed_in_with_basic(keyed_client):
    signed_in = basic(API_KEY)
    overview = keyed_client.get("/", headers=signed_in)
    brand = keyed_client.get("/brands/AcmeTelco", headers=signed_in)
    links = re.findall(r'href="(/v1/[^"]+)"', overview.text + brand.text)
    assert "/v1/brands" in links and "/v1/brands/AcmeTelco/history" in links
    for link in links:
        response = keyed_client.get(link, headers=signed_in)
        assert response.status_code == 200, link
        assert response.headers["content-type"] == "application/json"
    refused = keyed_client.get("/v1/brands", headers=basic("wrong-password-000"))
    assert refused.status_code == 401
    assert refused.json() == {"detail": "missing or wrong X-API-Key header"}
    # The model endpoints are for programs: the X-API-Key header only.
    assert keyed_client.post("/v1/classify", json={"posts": [{"text": "hi"}]},
                             headers=signed_in).status_code == 401


# --- radar serve ----------------------------------------------------------------------------


def test_radar_serve_takes_the_allowed_hosts(monkeypatch, tmp_path):
    from typer.testing import CliRunner

    from radar.cli.main import app as cli

    started = {}
    monkeypatch.setattr(serve, "create_app", lambda settings: started.setdefault("s", settings))
    monkeypatch.setattr("uvicorn.run", lambda app, **kw: None)
    monkeypatch.delenv("RADAR_ALLOWED_HOSTS", raising=False)
    result = CliRunner().invoke(cli, ["serve", "--model", str(tmp_path), "--allowed-host",
                                      "radar.example.com", "--allowed-host", "intranet"])
    assert result.exit_code == 0, result.output
    assert started["s"].allowed_hosts == ("radar.example.com", "intranet")


# --- in a real browser ----------------------------------------------------------------------

CSP_LISTENER = """
window.__csp = [];
document.addEventListener('securitypolicyviolation',
    e => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI));
"""


@pytest.mark.browser
def test_the_policy_blocks_nothing_the_dashboard_and_docs_need(store_path, tmp_path,
                                                               monkeypatch):
    pytest.importorskip("selenium")
    pytest.importorskip("uvicorn")
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    from tests.radar.dashboard.fixtures import browser_missing, chrome, running_server

    if reason := browser_missing():
        pytest.skip(reason)
    monkeypatch.setenv("RADAR_PSEUDONYM_KEY", PSEUDONYM_KEY)
    app = create_app(ServeSettings(model_dir=tmp_path / "no-model", db_path=store_path))
    driver = chrome()
    try:
        driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": CSP_LISTENER})
        with running_server(app) as url:
            seen = {}
            for path, ready in (("/", "tr.brand-row"),
                                ("/brands/AcmeTelco", "#risk-chart .main-svg"),
                                ("/docs", ".swagger-ui .opblock")):
                driver.get(url + path)
                WebDriverWait(driver, 20).until(
                    ec.presence_of_element_located((By.CSS_SELECTOR, ready)))
                seen[path] = driver.execute_script("return window.__csp")
    finally:
        driver.quit()
    assert seen == {"/": [], "/brands/AcmeTelco": [], "/docs": []}
