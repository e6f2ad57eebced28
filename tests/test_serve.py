"""The REST API (``serve.py``): endpoints, bad input, auth, micro-batching and the API docs.

Which model is served when none is named, and the ONNX backend: ``tests/test_serve_model.py``.

Every error is checked for its status code and its exact ``detail`` string, so a
client can rely on both; no error body may carry a traceback or a source path.
"""

from __future__ import annotations

import asyncio
import math
import re
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
httpx = pytest.importorskip("httpx")
from fastapi.testclient import TestClient  # noqa: E402

import serve  # noqa: E402
from nlp.classifier.contract import COLUMNS  # noqa: E402
from nlp.classifier.microbatch import MicroBatcher, QueueFullError  # noqa: E402
from nlp.summary import NO_BRAND  # noqa: E402
from nlp.taxonomy import SENTIMENTS, THEME_KEYS  # noqa: E402
from nlp.types import Prediction  # noqa: E402
from serve import ServeSettings, create_app  # noqa: E402
from tests.conftest import REPO  # noqa: E402

API_KEY = "test-key-0123456789abcdef"
LIMITS = {"max_posts": 3, "max_chars": 50, "max_body_bytes": 2000}
JSON = {"content-type": "application/json"}
TEXTS = [
    "@united my flight is delayed again, 3 hours on hold and nobody answers",
    "thank you @JetBlue, the crew was wonderful and we landed early!",
    "lost my bag and the app keeps crashing when I try to file a claim",
    "what time does the lounge at JFK open?",
]
NO_STACK_MARKERS = ("Traceback", 'File "', ".py", "site-packages")


@pytest.fixture(scope="module")
def model_dir(tiny_trained):
    return tiny_trained["result"].model_dir


@pytest.fixture(scope="module")
def client(model_dir):
    """The app with default settings (micro-batching on, no API key)."""
    with TestClient(create_app(ServeSettings(model_dir=model_dir))) as c:
        yield c


@pytest.fixture(scope="module")
def strict_client(model_dir):
    """The app with small limits, so every limit is cheap to cross."""
    with TestClient(create_app(ServeSettings(model_dir=model_dir, **LIMITS))) as c:
        yield c


@pytest.fixture(scope="module")
def keyed_client(model_dir):
    # The tests here try many wrong keys from one client: not throttled (tests/hostile/).
    settings = ServeSettings(model_dir=model_dir, api_key=API_KEY, auth_failures_max=10_000)
    with TestClient(create_app(settings)) as c:
        yield c


def posts(*texts: str, **fields) -> dict:
    return {"posts": [{"text": t, **fields} for t in texts]}


def assert_no_stack_trace(response) -> None:
    for marker in NO_STACK_MARKERS:
        assert marker not in response.text, f"{marker!r} leaked into {response.text!r}"


# --- the endpoints ---------------------------------------------------------------------


def test_service_reports_the_loaded_model(client):
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").json() == {"status": "ready"}
    body = client.get("/v1/model").json()
    assert (body["kind"], body["backend"]) == ("tfidf-logreg", "torch")
    assert body["model_version"].startswith("tiny-baseline-")
    assert [t["key"] for t in body["label_schema"]["themes"]][0] == "waiting"
    assert 0 < body["metrics"]["airline_accuracy"] <= 1


def test_service_without_a_model_is_alive_but_not_ready(tmp_path):
    with TestClient(create_app(ServeSettings(model_dir=tmp_path / "none"))) as client:
        assert client.get("/healthz").status_code == 200
        ready = client.get("/readyz")
        classify = client.post("/v1/classify", json=posts("hello"))
        risk = client.post("/v1/risk", json=posts("hello"))
        model = client.get("/v1/model")
    assert ready.status_code == 503
    assert "not a model folder" in ready.json()["detail"]
    for response in (classify, risk, model):
        assert response.status_code == 503
        assert response.json()["detail"] == ready.json()["detail"]
        assert response.json()["detail"].startswith("model not loaded: ")


def test_the_baseline_on_the_onnx_backend_is_not_ready_and_says_why(model_dir):
    with TestClient(create_app(ServeSettings(model_dir=model_dir, backend="onnx"))) as client:
        ready = client.get("/readyz")
    assert ready.status_code == 503
    assert ready.json()["detail"] == (
        f"model not loaded: {model_dir} is the TF-IDF baseline, which has no 'onnx' backend; "
        "--backend onnx is for fine-tuned models")


def test_serve_without_the_serve_extra_names_it(monkeypatch):
    import importlib
    import sys

    from nlp.errors import NotInstalled

    monkeypatch.setitem(sys.modules, "fastapi", None)  # import fails as if not installed
    monkeypatch.delitem(sys.modules, "serve")  # restored after the test
    with pytest.raises(NotInstalled) as caught:
        importlib.import_module("serve")
    assert str(caught.value) == ("serve.py needs fastapi, from the 'serve' extra: "
                                 "pip install -e '.[serve]'")


def test_settings_reject_bad_ports(monkeypatch):
    monkeypatch.setenv("RADAR_PORT", "eighty")
    with pytest.raises(ValueError, match="RADAR_PORT"):
        ServeSettings.from_env()
    with pytest.raises(ValueError, match="port must be"):
        ServeSettings(port=70000)


def test_classify_one_post_returns_every_contract_column(client):
    response = client.post("/v1/classify", json=posts(TEXTS[0]))
    assert response.status_code == 200
    body = response.json()
    model_version = client.get("/v1/model").json()["model_version"]
    assert body["model_version"] == model_version
    [row] = body["predictions"]
    assert set(row) == set(COLUMNS)
    assert row["id"] == "0"
    assert row["brand"] is None and row["author_id"] is None and row["created_at"] is None
    assert row["sentiment"] in SENTIMENTS
    assert isinstance(row["themes"], list)
    assert set(row["themes"]) <= set(THEME_KEYS)
    assert row["model_version"] == model_version


def test_classify_probabilities_are_consistent(client):
    body = client.post("/v1/classify", json=posts(*TEXTS)).json()
    assert len(body["predictions"]) == len(TEXTS)
    for row in body["predictions"]:
        probs = {s: row[f"p_{s}"] for s in SENTIMENTS}
        assert math.isclose(sum(probs.values()), 1.0, abs_tol=1e-6)
        assert row["sentiment"] == max(probs, key=probs.get)
        assert 0.0 <= row["p_complaint"] <= 1.0
        assert row["complaint"] == (row["p_complaint"] >= 0.5)
        for theme in THEME_KEYS:
            p = row[f"p_{theme}"]
            assert p is None or 0.0 <= p <= 1.0
            assert (theme in row["themes"]) == (p is not None and p >= 0.5)
        assert (row["churn_intent"] is None) == (row["p_churn_intent"] is None)


def test_classify_echoes_ids_in_order_and_numbers_the_missing_ones(client):
    body = {"posts": [{"text": TEXTS[0], "id": "b-7"}, {"text": TEXTS[1]},
                      {"text": TEXTS[2], "id": "a-1"}, {"text": TEXTS[3], "id": None}]}
    response = client.post("/v1/classify", json=body)
    assert response.status_code == 200
    assert [p["id"] for p in response.json()["predictions"]] == ["b-7", "1", "a-1", "3"]


def test_classify_echoes_brand_and_author(client):
    body = {"posts": [{"text": TEXTS[0], "brand": "united", "author": "u1"},
                      {"text": TEXTS[1], "brand": "jetblue"}]}
    rows = client.post("/v1/classify", json=body).json()["predictions"]
    assert [(r["brand"], r["author_id"]) for r in rows] == [("united", "u1"), ("jetblue", None)]


@pytest.mark.parametrize(("sent", "expected"), [
    ("2015-02-24T19:35:00Z", "2015-02-24T19:35:00Z"),
    ("2015-02-24T19:35:00+00:00", "2015-02-24T19:35:00Z"),
    ("2015-02-24T21:35:00+02:00", "2015-02-24T19:35:00Z"),
    ("2015-02-24T11:35:00-08:00", "2015-02-24T19:35:00Z"),
    ("2015-02-25T01:05:00+05:30", "2015-02-24T19:35:00Z"),
    ("2015-02-24T23:35:00-05:00", "2015-02-25T04:35:00Z"),  # crosses midnight
])
def test_classify_converts_created_at_to_utc(client, sent, expected):
    response = client.post("/v1/classify", json=posts(TEXTS[0], created_at=sent))
    assert response.status_code == 200
    assert response.json()["predictions"][0]["created_at"] == expected


def test_a_post_gets_the_same_prediction_alone_or_in_a_batch(client):
    together = client.post("/v1/classify", json=posts(*TEXTS)).json()["predictions"]
    for text, batched in zip(TEXTS, together, strict=True):
        [alone] = client.post("/v1/classify", json=posts(text)).json()["predictions"]
        for column in ("sentiment", "p_negative", "p_neutral", "p_positive", "p_complaint"):
            assert alone[column] == pytest.approx(batched[column])


def test_risk_summarises_the_posts_per_brand(client):
    from nlp.brands import BrandBook

    brands = ["united", "united", "jetblue", None, "", "united"]
    body = {"posts": [{"text": TEXTS[i % len(TEXTS)], "brand": b} for i, b in enumerate(brands)]}
    response = client.post("/v1/risk", json=body)
    assert response.status_code == 200
    risk = response.json()
    assert (risk["kind"], risk["measure"]) == ("risk", "expected share of customers at risk")
    assert risk["score_version"] == "risk.v1"
    assert risk["model_version"] == client.get("/v1/model").json()["model_version"]
    # Summaries count posts by the brand each resolves to (its brand, else its mentions).
    book = BrandBook.from_yaml(REPO / "data" / "brands.yaml")
    resolved = [book.resolve(p["brand"], p["text"]).brand or NO_BRAND for p in body["posts"]]
    counts = {b["brand"]: b["posts"] for b in risk["summaries"]}
    assert counts == {b: resolved.count(b) for b in set(resolved)}
    assert "United" in counts and "united" not in counts  # canonical names
    # The shares are the classify endpoint's answers, counted per brand.
    rows = client.post("/v1/classify", json=body).json()["predictions"]
    for summary in risk["summaries"]:
        mine = [r for r, b in zip(rows, resolved, strict=True) if b == summary["brand"]]
        negative = sum(r["sentiment"] == "negative" for r in mine) / len(mine)
        complaints = sum(r["complaint"] for r in mine) / len(mine)
        assert summary["negative_share"] == pytest.approx(negative)
        assert summary["complaint_share"] == pytest.approx(complaints)
        assert set(summary["top_reasons"]) <= set(THEME_KEYS)


def test_risk_does_not_drop_posts_whose_ids_clash(client):
    body = {"posts": [{"text": "@united lost my bag", "id": "1", "author": "a"},
                      {"text": "@united on hold 2 hours", "author": "b"}]}  # default id "1"
    [united] = client.post("/v1/risk", json=body).json()["brands"]
    assert united["posts"] == 2 and united["customers"] == 2


def test_risk_scores_customers_per_brand_with_the_brand_book(client):
    body = {"posts": [
        {"text": "2 hours on hold, cancelling my account", "brand": "united", "author": "ann"},
        {"text": "still no refund, third call", "brand": "United", "author": "ann"},
        {"text": "@JetBlue lost my bag", "author": "bob"},  # brand from the mention
        {"text": "@JetBlue we are sorry, DM us", "author": "JetBlue"},  # the brand's own reply
        {"text": "nothing to see here"},  # no brand anywhere
    ]}
    risk = client.post("/v1/risk", json=body).json()
    by_brand = {b["brand"]: b for b in risk["brands"]}
    assert set(by_brand) == {"United", "JetBlue"}  # canonical names from data/brands.yaml
    assert by_brand["United"]["customers"] == 1 and by_brand["United"]["posts"] == 2
    assert by_brand["JetBlue"]["customers"] == 1  # the brand's reply does not count
    assert risk["excluded"] == {"brand_account": 1, "bot_or_news": 0, "duplicate": 0,
                                "without_brand": 1}
    for b in risk["brands"]:
        assert 0 <= b["ci_low"] <= b["at_risk_share"] <= b["ci_high"] <= 1
        assert b["ci_method"] == "wilson"  # one customer: the conservative interval
        assert b["ci_high"] - b["ci_low"] > 0.3
        assert sum(b["drivers"].values()) == pytest.approx(1.0)
    shares = [b["at_risk_share"] for b in risk["brands"]]
    assert shares == sorted(shares, reverse=True)


def test_healthz_and_readyz(client):
    assert client.get("/healthz").status_code == 200
    ready = client.get("/readyz")
    assert (ready.status_code, ready.json()) == (200, {"status": "ready"})


# --- bad input -------------------------------------------------------------------------

TZ_HINT = "posts[0].created_at needs a timezone, e.g. 2015-02-24T19:35:00Z"
NOT_A_STRING = "Input should be a valid string"
NOT_AN_OBJECT = "body: Input should be a valid dictionary or object to extract fields from"
TOO_LARGE = f"request body larger than {LIMITS['max_body_bytes']} bytes"

BAD_REQUESTS = {
    # name: (request keyword arguments, status, detail)
    "too many posts": ({"json": posts("a", "b", "c", "d")}, 422,
                       "at most 3 posts per request, got 4"),
    "too many characters": ({"json": {"posts": [{"text": "ok"}, {"text": "x" * 51}]}}, 422,
                            "posts[1].text has 51 characters; at most 50 allowed"),
    "empty text": ({"json": posts("")}, 422, "posts[0].text is empty"),
    "whitespace-only text": ({"json": {"posts": [{"text": "fine"}, {"text": " \t\n\u3000 "}]}},
                             422, "posts[1].text is empty"),
    "text is a number": ({"json": posts(42)}, 422, f"posts.0.text: {NOT_A_STRING}"),
    "text is null": ({"json": posts(None)}, 422, f"posts.0.text: {NOT_A_STRING}"),
    "text is a list": ({"json": posts(["a"])}, 422, f"posts.0.text: {NOT_A_STRING}"),
    "text is missing": ({"json": {"posts": [{"id": "1"}]}}, 422, "posts.0.text: Field required"),
    "id is a number": ({"json": posts("a", id=7)}, 422, f"posts.0.id: {NOT_A_STRING}"),
    "unknown post field": ({"json": posts("a", score=1)}, 422,
                           "posts.0.score: Extra inputs are not permitted"),
    "unknown top-level field": ({"json": {**posts("a"), "debug": True}}, 422,
                                "debug: Extra inputs are not permitted"),
    "empty posts list": ({"json": {"posts": []}}, 422, "posts must hold at least one post"),
    "posts missing": ({"json": {}}, 422, "posts: Field required"),
    "posts is a string": ({"json": {"posts": "hello"}}, 422, "posts: Input should be a valid list"),
    "posts is an object": ({"json": {"posts": {"text": "a"}}}, 422,
                           "posts: Input should be a valid list"),
    "body is a list": ({"json": [{"text": "a"}]}, 422, NOT_AN_OBJECT),
    "body is a string": ({"json": "hello"}, 422, NOT_AN_OBJECT),
    "body is null": ({"content": b"null", "headers": JSON}, 422, NOT_AN_OBJECT),
    "body is empty": ({"content": b"", "headers": JSON}, 422, "body: Field required"),
    "malformed JSON": ({"content": b'{"posts": [', "headers": JSON}, 400, "malformed JSON body"),
    "JSON with a trailing comma": ({"content": b'{"posts": [{"text": "a"},]}', "headers": JSON},
                                   400, "malformed JSON body"),
    "text/plain": ({"content": b'{"posts": [{"text": "a"}]}',
                    "headers": {"content-type": "text/plain"}}, 415,
                   "Content-Type must be application/json, got 'text/plain'"),
    "form data": ({"data": {"text": "a"}}, 415,
                  "Content-Type must be application/json, got 'application/x-www-form-urlencoded'"),
    "multipart": ({"files": {"f": ("a.json", b"{}")}}, 415, None),  # boundary varies
    "no content type": ({"content": b'{"posts": [{"text": "a"}]}'}, 415,
                        "Content-Type must be application/json, got 'none'"),
    "declared body over the limit": ({"content": b'{"posts": [' + b" " * 2000 + b"]}",
                                      "headers": JSON}, 413, TOO_LARGE),
    "Content-Length not a number": ({"content": b"{}", "headers": {**JSON, "content-length": "x"}},
                                    400, "invalid Content-Length header"),
    "naive created_at": ({"json": posts("a", created_at="2015-02-24T19:35:00")}, 422, TZ_HINT),
    "date without time": ({"json": posts("a", created_at="2015-02-24")}, 422, TZ_HINT),
    "invalid created_at": ({"json": posts("a", created_at="yesterday")}, 422,
                           "posts.0.created_at: Input should be a valid datetime or date, "
                           "input is too short"),
    "impossible created_at": ({"json": posts("a", created_at="2015-02-30T10:00:00Z")}, 422,
                              "posts.0.created_at: Input should be a valid datetime or date, "
                              "day value is outside expected range"),
    "created_at past year 9999 in UTC": (
        {"json": posts("a", created_at="9999-12-31T23:00:00-05:00")}, 422,
        "posts[0].created_at is out of range once converted to UTC"),
    "created_at before year 1 in UTC": (
        {"json": posts("a", created_at="0001-01-01T01:00:00+05:00")}, 422,
        "posts[0].created_at is out of range once converted to UTC"),
    "lone surrogate in id": ({"content": b'{"posts": [{"text": "a", "id": "\\ud800"}]}',
                              "headers": JSON}, 422,
                             "posts[0].id is not valid Unicode (it holds a lone surrogate)"),
    "lone surrogate in brand": ({"content": b'{"posts": [{"text": "a", "brand": "x\\udfff"}]}',
                                 "headers": JSON}, 422,
                                "posts[0].brand is not valid Unicode (it holds a lone surrogate)"),
    "lone surrogate in text": ({"content": b'{"posts": [{"text": "\\ud83d"}]}',
                                "headers": JSON}, 422,
                               "posts[0].text is not valid Unicode (it holds a lone surrogate)"),
}


@pytest.mark.parametrize("path", ["/v1/classify", "/v1/risk"])
@pytest.mark.parametrize("case", list(BAD_REQUESTS), ids=list(BAD_REQUESTS))
def test_bad_input_is_rejected_with_a_clear_reason(strict_client, path, case):
    kwargs, status, detail = BAD_REQUESTS[case]
    response = strict_client.post(path, **kwargs)
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"detail"}
    if detail is None:
        assert body["detail"].startswith("Content-Type must be application/json, got ")
    else:
        assert body["detail"] == detail
    assert_no_stack_trace(response)


def test_limits_are_inclusive(strict_client):
    at_limit = {"posts": [{"text": "x" * 50}, {"text": "y"}, {"text": "z"}]}
    response = strict_client.post("/v1/classify", json=at_limit)
    assert response.status_code == 200
    assert len(response.json()["predictions"]) == 3


def _body_of_size(size: int) -> bytes:
    start, end = b'{"posts": [{"text": "hello"}]', b"}"
    return start + b" " * (size - len(start) - len(end)) + end


def test_a_body_exactly_at_the_byte_limit_is_accepted(strict_client):
    body = _body_of_size(LIMITS["max_body_bytes"])
    assert len(body) == LIMITS["max_body_bytes"]
    assert strict_client.post("/v1/classify", content=body, headers=JSON).status_code == 200
    over = strict_client.post("/v1/classify", content=body + b" ", headers=JSON)
    assert (over.status_code, over.json()["detail"]) == (413, TOO_LARGE)


@pytest.mark.parametrize("size", [LIMITS["max_body_bytes"], LIMITS["max_body_bytes"] + 1, 50_000])
def test_a_streamed_body_without_content_length_is_limited_too(strict_client, size):
    body = _body_of_size(size)

    def chunks():  # a generator makes the client send chunked, with no Content-Length
        for start in range(0, len(body), 300):
            yield body[start:start + 300]

    response = strict_client.post("/v1/classify", content=chunks(), headers=JSON)
    assert "content-length" not in response.request.headers
    assert response.request.headers["transfer-encoding"] == "chunked"
    if size <= LIMITS["max_body_bytes"]:
        assert response.status_code == 200
    else:
        assert (response.status_code, response.json()) == (413, {"detail": TOO_LARGE})


def test_methods_other_than_the_documented_ones_are_refused(client):
    assert client.get("/v1/classify").status_code == 405
    assert client.put("/v1/risk", json=posts("a")).status_code == 405
    assert client.post("/v1/unknown", json=posts("a")).status_code == 404


def test_an_internal_error_answers_500_without_a_traceback(model_dir):
    app = create_app(ServeSettings(model_dir=model_dir, microbatch=False))
    with TestClient(app, raise_server_exceptions=False) as client:
        def broken(texts, keys=None):
            raise RuntimeError(f"cannot read {model_dir}/heads.joblib in serve.py")

        app.state.classifier.predict = broken
        response = client.post("/v1/classify", json=posts("hello"))
    assert (response.status_code, response.json()) == (500, {"detail": "internal error"})
    assert_no_stack_trace(response)
    assert str(model_dir) not in response.text


# --- auth ------------------------------------------------------------------------------

V1_CALLS = [("post", "/v1/classify", posts("hello")), ("post", "/v1/risk", posts("hello")),
            ("get", "/v1/model", None)]


@pytest.mark.parametrize(("method", "path", "body"), V1_CALLS)
@pytest.mark.parametrize("key", [None, "", "wrong-key-0123456789", API_KEY.upper(), API_KEY + "x"])
def test_v1_endpoints_refuse_a_missing_or_wrong_key(keyed_client, method, path, body, key):
    headers = {} if key is None else {"X-API-Key": key}
    response = keyed_client.request(method, path, json=body, headers=headers)
    assert response.status_code == 401
    assert response.json() == {"detail": "missing or wrong X-API-Key header"}
    assert response.headers["www-authenticate"] == "X-API-Key"


@pytest.mark.parametrize(("method", "path", "body"), V1_CALLS)
def test_v1_endpoints_accept_the_right_key(keyed_client, method, path, body):
    response = keyed_client.request(method, path, json=body, headers={"X-API-Key": API_KEY})
    assert response.status_code == 200


def test_the_key_is_checked_before_the_body_is_validated(keyed_client):
    response = keyed_client.post("/v1/classify", json={"posts": [{"text": 5}]})
    assert response.status_code == 401


def test_health_endpoints_need_no_key(keyed_client):
    assert keyed_client.get("/healthz").json() == {"status": "ok"}
    assert keyed_client.get("/readyz").json() == {"status": "ready"}


def test_without_a_configured_key_no_header_is_needed(client):
    assert client.post("/v1/classify", json=posts("hello")).status_code == 200
    assert client.get("/v1/model", headers={"X-API-Key": "anything"}).status_code == 200


def test_radar_api_key_in_the_environment_turns_auth_on(model_dir, monkeypatch):
    monkeypatch.setenv("RADAR_MODEL_DIR", str(model_dir))
    monkeypatch.setenv("RADAR_API_KEY", API_KEY)
    settings = ServeSettings.from_env()
    assert settings.api_key == API_KEY
    with TestClient(create_app()) as client:  # create_app reads the environment itself
        assert client.post("/v1/classify", json=posts("hi")).status_code == 401
        ok = client.post("/v1/classify", json=posts("hi"), headers={"X-API-Key": API_KEY})
    assert ok.status_code == 200


def test_a_short_api_key_is_rejected(monkeypatch):
    monkeypatch.setenv("RADAR_API_KEY", "x" * 15)
    with pytest.raises(ValueError, match="RADAR_API_KEY must be at least 16 characters"):
        ServeSettings.from_env()
    with pytest.raises(ValueError, match="at least 16 characters"):
        ServeSettings(api_key="short")
    assert ServeSettings(api_key="x" * 16).api_key == "x" * 16


def test_settings_from_env_parse_each_type():
    settings = ServeSettings.from_env({"RADAR_MICROBATCH": "0", "RADAR_BATCH_WAIT_MS": "2.5",
                                       "RADAR_MAX_POSTS": "10", "RADAR_API_KEY": "",
                                       "RADAR_BACKEND": "onnx", "RADAR_MODEL_DIR": "m/x"})
    assert (settings.microbatch, settings.batch_wait_ms, settings.max_posts) == (False, 2.5, 10)
    assert (settings.backend, settings.model_dir) == ("onnx", Path("m/x"))
    assert settings.api_key is None  # empty means unset
    defaults = ServeSettings.from_env({})
    assert (defaults.backend, defaults.model_dir) == ("torch", None)  # None: the default model
    with pytest.raises(ValueError, match="backend must be one of torch, onnx, got 'tensorrt'"):
        ServeSettings.from_env({"RADAR_BACKEND": "tensorrt"})
    with pytest.raises(ValueError, match="backend must be one of torch, onnx, got 'ONNX'"):
        ServeSettings(backend="ONNX")
    with pytest.raises(ValueError, match="RADAR_MICROBATCH='maybe' is not a valid microbatch"):
        ServeSettings.from_env({"RADAR_MICROBATCH": "maybe"})
    with pytest.raises(ValueError, match="max_posts must be >= 1, got 0"):
        ServeSettings.from_env({"RADAR_MAX_POSTS": "0"})


# --- the API docs, without a CDN ---------------------------------------------------------

DOCS_TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8",
              ".png": "image/png"}


def _asset_urls(html: str) -> list[str]:
    """Every script, stylesheet and icon URL a page names."""
    return re.findall(r"""<(?:script|link)\b[^>]*\b(?:src|href)=["']([^"']+)["']""", html)


def test_api_docs_load_every_file_from_this_server(client):
    response = client.get("/docs")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert "url: '/openapi.json'" in response.text
    urls = _asset_urls(response.text)
    assert {url.split("?")[0].rsplit("/", 1)[1] for url in urls} == {
        "swagger-ui-bundle.js", "swagger-ui.css", "favicon.png"}
    for url in urls:
        assert url.startswith("/static/docs/"), url  # same server: no scheme, no host
        asset = client.get(url)
        assert asset.status_code == 200, url
        assert asset.headers["content-type"] == DOCS_TYPES[Path(url.split("?")[0]).suffix]
        assert asset.headers["cache-control"] == serve.VERSIONED_CACHE
        assert len(asset.content) > 100
    assert not re.search(r"https?://|//[a-z]", response.text)


def test_there_is_no_redoc_page(client):
    """ReDoc's bundle fetches its logo from its vendor's CDN; /docs is the one docs page."""
    assert client.get("/redoc").status_code == 404


def test_swagger_ui_is_the_real_bundle_and_asks_no_validator(client):
    html = client.get("/docs").text
    assert '"validatorUrl": null' in html
    [bundle_url] = [url for url in _asset_urls(html) if "swagger-ui-bundle.js" in url]
    bundle = client.get(bundle_url)
    assert b"SwaggerUIBundle" in bundle.content


def test_api_docs_urls_follow_the_root_path(model_dir):
    with TestClient(create_app(ServeSettings(model_dir=model_dir)), root_path="/radar") as c:
        html = c.get("/docs").text
    assert all(url.startswith("/radar/static/docs/") for url in _asset_urls(html))
    assert "url: '/radar/openapi.json'" in html


def test_api_docs_need_the_key_when_one_is_set_but_not_their_files(keyed_client):
    """Issue 18: the docs and the schema need the key (header, or Basic for browsers); the
    docs' script and styles are Swagger UI's own, open to all."""
    assert keyed_client.get("/docs").status_code == 401
    assert keyed_client.get("/openapi.json").status_code == 401
    docs = keyed_client.get("/docs", headers={"X-API-Key": API_KEY})
    assert docs.status_code == 200
    assert keyed_client.get("/openapi.json", headers={"X-API-Key": API_KEY}).status_code == 200
    assert all(keyed_client.get(url).status_code == 200 for url in _asset_urls(docs.text))
    assert keyed_client.get("/v1/model").status_code == 401


def test_an_unknown_docs_file_is_404(client):
    response = client.get("/static/docs/swagger-ui.js.map")
    assert (response.status_code, response.json()) == (
        404, {"detail": "no such docs file: swagger-ui.js.map"})


def test_api_docs_without_fastapi_offline_name_the_extra(client, monkeypatch):
    monkeypatch.setattr(serve, "DOCS_PACKAGE", "no_such_docs_package")
    expected = {"detail": "the API docs (/docs) needs fastapi-offline, from the 'serve' "
                          "extra: pip install -e '.[serve]'"}
    for url in ("/docs", "/static/docs/swagger-ui.css"):
        response = client.get(url)
        assert (response.status_code, response.json()) == (503, expected), url


# --- micro-batching ----------------------------------------------------------------------


async def _until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.005)


def _async_client(app) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


@pytest.mark.anyio
async def test_concurrent_requests_share_batches_and_get_their_own_predictions(model_dir):
    bodies = [{"posts": [{"text": TEXTS[(i + j) % len(TEXTS)] + f" #{i}", "id": f"r{i}-p{j}"}
                         for j in range(1 + i % 3)]} for i in range(8)]
    with TestClient(create_app(ServeSettings(model_dir=model_dir, microbatch=False))) as plain:
        expected = [plain.post("/v1/classify", json=b).json()["predictions"] for b in bodies]
    # The texts differ enough that a mix-up between requests would show.
    assert len({round(p[0]["p_negative"], 6) for p in expected}) > 1

    app = create_app(ServeSettings(model_dir=model_dir, microbatch=True, batch_wait_ms=50))
    async with app.router.lifespan_context(app), _async_client(app) as client:
        responses = await asyncio.gather(*(client.post("/v1/classify", json=b) for b in bodies))
        batches_run = app.state.batcher.batches_run
    assert [r.status_code for r in responses] == [200] * len(bodies)
    assert 1 <= batches_run < len(bodies)
    for response, want in zip(responses, expected, strict=True):
        got = response.json()["predictions"]
        assert [p["id"] for p in got] == [p["id"] for p in want]
        for g, w in zip(got, want, strict=True):
            assert g["sentiment"] == w["sentiment"]
            for column in ("p_negative", "p_neutral", "p_positive", "p_complaint"):
                assert g[column] == pytest.approx(w[column])


class _GatedClassifier:
    """Wraps the real model; ``predict`` blocks until the test opens the gate."""

    def __init__(self, inner):
        self.inner, self.meta = inner, inner.meta
        self.entered, self.gate = threading.Event(), threading.Event()

    @property
    def model_version(self) -> str:
        return self.inner.model_version

    def predict(self, texts, keys=None):
        self.entered.set()
        self.gate.wait(timeout=30)
        return self.inner.predict(texts, keys)


@pytest.mark.anyio
async def test_a_full_queue_answers_503_with_retry_after(model_dir, monkeypatch):
    gated = []
    load = serve.load_classifier

    def load_gated(path, **options):
        gated.append(_GatedClassifier(load(path, **options)))
        return gated[-1]

    monkeypatch.setattr(serve, "load_classifier", load_gated)
    app = create_app(ServeSettings(model_dir=model_dir, queue_max=1, batch_max=1,
                                   batch_wait_ms=0))
    async with app.router.lifespan_context(app), _async_client(app) as client:
        model = gated[0]
        try:
            running = asyncio.create_task(client.post("/v1/classify", json=posts(TEXTS[0])))
            await _until(model.entered.is_set)  # the worker holds the first request
            queued = asyncio.create_task(client.post("/v1/classify", json=posts(TEXTS[1])))
            await _until(app.state.batcher.full)  # the second one fills the queue
            shed = await client.post("/v1/classify", json=posts(TEXTS[2]))
        finally:
            model.gate.set()
        first, second = await asyncio.gather(running, queued)
    assert shed.status_code == 503
    assert shed.headers["retry-after"] == "1"
    assert shed.json() == {"detail": "too many requests queued; retry shortly"}
    assert (first.status_code, second.status_code) == (200, 200)


def _fake_prediction(text: str, key: tuple[str, str]) -> Prediction:
    sentiment = SENTIMENTS[len(text) % len(SENTIMENTS)]
    probs = {s: 1.0 if s == sentiment else 0.0 for s in SENTIMENTS}
    return Prediction(source=key[0], post_id=key[1], sentiment=sentiment, sentiment_probs=probs,
                      complaint=0.0, themes={}, churn_intent=None, model_version="fake")


@pytest.mark.anyio
async def test_microbatcher_hands_each_request_its_own_slice():
    calls = []

    def predict(texts, keys):
        calls.append(list(texts))
        return [_fake_prediction(t, k) for t, k in zip(texts, keys, strict=True)]

    batcher = MicroBatcher(predict, max_batch=64, max_wait_ms=50, max_queue=16)
    await batcher.start()
    try:
        jobs = [[f"text {i}-{j}" for j in range(i + 1)] for i in range(5)]
        results = await asyncio.gather(*(
            batcher.predict(texts, [("api", t) for t in texts]) for texts in jobs))
    finally:
        await batcher.stop()
    assert [[p.post_id for p in r] for r in results] == jobs
    assert batcher.batches_run == len(calls) < len(jobs)
    assert Counter(t for call in calls for t in call) == Counter(t for j in jobs for t in j)


@pytest.mark.anyio
async def test_microbatcher_hands_a_model_error_to_every_waiting_request():
    def predict(texts, keys):
        raise ValueError("model exploded")

    batcher = MicroBatcher(predict, max_batch=64, max_wait_ms=50, max_queue=16)
    await batcher.start()
    try:
        results = await asyncio.gather(
            *(batcher.predict([f"t{i}"], [("api", str(i))]) for i in range(3)),
            return_exceptions=True)
        assert all(isinstance(r, ValueError) and str(r) == "model exploded" for r in results)
        assert batcher.batches_run == 0
        # The worker survives the error and serves the next request.
        batcher._predict = lambda texts, keys: [_fake_prediction(t, k) for t, k in
                                                zip(texts, keys, strict=True)]
        [ok] = await batcher.predict(["again"], [("api", "x")])
        assert ok.post_id == "x"
    finally:
        await batcher.stop()


@pytest.mark.anyio
async def test_microbatcher_refuses_work_when_the_queue_is_full_or_it_is_stopped():
    entered, gate = threading.Event(), threading.Event()

    def predict(texts, keys):
        entered.set()
        gate.wait(timeout=30)
        return [_fake_prediction(t, k) for t, k in zip(texts, keys, strict=True)]

    batcher = MicroBatcher(predict, max_batch=1, max_wait_ms=0, max_queue=1)
    with pytest.raises(RuntimeError, match="micro-batcher is not running"):
        await batcher.predict(["a"], [("api", "a")])
    await batcher.start()
    try:
        running = asyncio.create_task(batcher.predict(["a"], [("api", "a")]))
        await _until(entered.is_set)
        queued = asyncio.create_task(batcher.predict(["b"], [("api", "b")]))
        await _until(batcher.full)
        with pytest.raises(QueueFullError, match="too many requests queued; retry shortly"):
            await batcher.predict(["c"], [("api", "c")])
    finally:
        gate.set()
    assert [p.post_id for p in await running + await queued] == ["a", "b"]
    await batcher.stop()


def test_microbatcher_rejects_bad_settings():
    with pytest.raises(ValueError, match="max_batch >= 1"):
        MicroBatcher(lambda texts, keys: [], max_batch=0)
