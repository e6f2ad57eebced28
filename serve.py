"""REST inference endpoint of complaint-radar (FastAPI app factory).

Endpoints: ``POST /v1/classify``, ``POST /v1/risk``, ``GET /v1/model``,
``GET /healthz``, ``GET /readyz``. The model is loaded once in ``lifespan`` into
``app.state`` (the named one, else the registered champion, else the newest folder in
``models/``: ``ServeSettings.with_model``); concurrent requests are micro-batched into one
model call that runs off the event loop (``nlp.classifier.microbatch``).

The API docs (``GET /docs``, Swagger UI) load their script and styles from this server,
copies shipped in the ``fastapi-offline`` package: they work without internet. There is no
``/redoc``: ReDoc's bundle fetches its logo from its vendor's CDN.

The monitoring dashboard (``GET /``, ``GET /brands/{brand}``, their CSV exports
``GET /overview.csv`` and ``GET /brands/{brand}/customers.csv``) and its JSON
(``GET /v1/brands``, ``GET /v1/brands/{brand}/history``) only read the risk history in
the post store (``RADAR_DB``), so they work without a model (docs/dashboard.md).

Hostile input (issue 18): every request has a time limit (``request_timeout_s``; past it
503 or 504 with ``Retry-After``) and big requests are split so small ones are served between
their batches (``nlp.classifier.microbatch``); a ``Host`` allow-list against DNS rebinding;
a Content-Security-Policy and anti-framing headers on every response; with an API key, the
API docs need it too, and wrong keys are throttled per client address (429). The guards
themselves (body and content-type limits, ``Host`` check, security headers, the key check)
live in ``radar.guards``; this module wires them in.

Run: ``radar serve`` or ``python serve.py`` (needs the ``serve`` extra).
Settings come from the environment when the app starts (``ServeSettings.from_env``).
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import hashlib
import importlib.metadata
import importlib.util
import logging
import math
import os
import re
import threading
from collections.abc import Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import quote

from nlp.errors import NotInstalled

try:
    from fastapi import Depends, FastAPI, Header, HTTPException, Query, Request
    from fastapi.concurrency import run_in_threadpool
    from fastapi.exceptions import RequestValidationError
    from fastapi.openapi.docs import get_swagger_ui_html
    from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
    from fastapi.staticfiles import StaticFiles
    from fastapi.templating import Jinja2Templates
    from pydantic import BaseModel, ConfigDict, Field, StrictStr
except ImportError as exc:
    raise NotInstalled(exc.name or "fastapi", "serve", "serve.py") from exc

from nlp.brands import BrandBook
from nlp.classifier import Classifier, ModelLoadError, load_classifier
from nlp.classifier.contract import Thresholds, score_record, thresholds_for
from nlp.classifier.loading import BACKENDS, choose_default_model
from nlp.classifier.microbatch import (
    MicroBatcher,
    QueueFullError,
    QueueTimeoutError,
    RunTimeoutError,
)
from nlp.glossary import FIELDS, HEADLINE, TOP_REASONS
from nlp.report import Pseudonymizer
from nlp.risk import SCORE_VERSION, Exclusions, RiskConfig, RiskPost, score_brands
from nlp.summary import BrandTally
from nlp.taxonomy import SCHEMA
from nlp.types import Prediction
from radar import dashboard
from radar.dashboard import export, views
from radar.dashboard.daterange import FROM_PARAM, DateRange
from radar.guards import (
    API_KEY_HEADER,
    BASIC_CHALLENGE,
    CSP_DIRECTIVES,
    HostGuard,
    KeyGuard,
    RequestGuard,
    SecurityHeaders,
    format_csp,
    is_loopback,
    locked_out_message,
)
from radar.store import (
    DB_ENV,
    PostStore,
    StoreError,
    StoreTarget,
    describe_target,
    open_store,
    resolve_db_path,
    store_exists,
    store_label,
)
from radar.store.history import (
    HistoryPoint,
    alert_payloads,
    brand_history,
    latest_points,
    window_customers,
)

log = logging.getLogger("complaint_radar.serve")
DEFAULT_BRANDS = Path("data/brands.yaml")
ENV_NAMES = {"db_path": DB_ENV}  # settings whose variable is not RADAR_<NAME>
VERSIONED_CACHE = "public, max-age=31536000, immutable"  # for URLs that carry a version
DOCS_PACKAGE = "fastapi_offline"  # ships Swagger UI's files (pip: fastapi-offline)
DOCS_ASSETS = {  # file in the package's static/ folder: its media type
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "swagger-ui.css": "text/css; charset=utf-8",
    "favicon.png": "image/png",
}
HOST_PATTERN = re.compile(r"^(\*|[A-Za-z0-9._:\[\]-]+)$")


@dataclass(frozen=True)
class ServeSettings:
    """How the service runs; ``from_env`` reads ``RADAR_*`` variables at start-up."""

    # None: the registered champion, else the newest folder in models/ (with_model).
    model_dir: Path | None = None
    backend: str = "torch"  # or "onnx": ONNX Runtime, int8 (fine-tuned models only)
    host: str = "127.0.0.1"
    port: int = 8000
    api_key: str | None = None  # set: every /v1 request needs it in the X-API-Key header
    # Host names besides localhost, 127.0.0.1, ::1 and `host` ("*": any, e.g. behind a
    # proxy that checks them); others get 400, against DNS rebinding.
    allowed_hosts: tuple[str, ...] = ()
    auth_failures_max: int = 10  # wrong keys per client address within the window: then 429
    auth_failure_window_s: float = 60.0
    max_posts: int = 256
    max_chars: int = 5000
    max_body_bytes: int = 2 * 1024 * 1024
    microbatch: bool = True
    batch_max: int = 64
    batch_wait_ms: float = 0.0  # > 0: also wait this long for company (more batching)
    queue_max: int = 256
    request_timeout_s: float = 30.0  # wait + run; past it 503 (still queued) or 504 (running)
    brands_path: Path | None = None  # brand book; None: data/brands.yaml when it exists
    # The dashboard's store (RADAR_DB); read per request, never created by a GET.
    db_path: StoreTarget = field(default_factory=resolve_db_path)  # a file or a URL
    dashboard_min_risk: float = views.DEFAULT_MIN_RISK  # customers listed on a brand page
    dashboard_customers: int = views.DEFAULT_CUSTOMER_LIMIT  # at most this many

    def __post_init__(self) -> None:
        if self.backend not in BACKENDS:
            raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, "
                             f"got {self.backend!r}")
        if not 0 < self.port < 65536:
            raise ValueError(f"port must be in 1..65535, got {self.port}")
        for name in ("max_posts", "max_chars", "max_body_bytes", "batch_max", "queue_max",
                     "dashboard_customers", "auth_failures_max"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("request_timeout_s", "auth_failure_window_s"):
            if not 0 < getattr(self, name) < math.inf:
                raise ValueError(f"{name} must be > 0 and finite, got {getattr(self, name):g}")
        for host in self.allowed_hosts:
            if not HOST_PATTERN.match(host):
                raise ValueError(f"allowed_hosts: {host!r} is not a host name; give names "
                                 "or addresses without scheme or path, e.g. radar.example.com")
        if self.batch_wait_ms < 0:
            raise ValueError(f"batch_wait_ms must be >= 0, got {self.batch_wait_ms}")
        if self.api_key is not None and len(self.api_key) < 16:
            raise ValueError("RADAR_API_KEY must be at least 16 characters")
        if not 0.0 <= self.dashboard_min_risk <= 1.0:
            raise ValueError(f"dashboard_min_risk must be in [0, 1], "
                             f"got {self.dashboard_min_risk}")

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> ServeSettings:
        """Read ``RADAR_MODEL_DIR``, ``RADAR_BACKEND`` (torch/onnx), ``RADAR_HOST``,
        ``RADAR_PORT``, ``RADAR_API_KEY``, ``RADAR_MAX_POSTS``, ``RADAR_MAX_CHARS``,
        ``RADAR_MAX_BODY_BYTES``, ``RADAR_MICROBATCH`` (1/0), ``RADAR_BATCH_MAX``,
        ``RADAR_BATCH_WAIT_MS``, ``RADAR_QUEUE_MAX``, ``RADAR_REQUEST_TIMEOUT_S``,
        ``RADAR_ALLOWED_HOSTS`` (comma-separated), ``RADAR_AUTH_FAILURES_MAX``,
        ``RADAR_AUTH_FAILURE_WINDOW_S``, ``RADAR_BRANDS_PATH``, ``RADAR_DB`` (the store;
        default ``data/radar.db``), ``RADAR_DASHBOARD_MIN_RISK``,
        ``RADAR_DASHBOARD_CUSTOMERS``."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in fields(cls):
            name = ENV_NAMES.get(f.name, f"RADAR_{f.name.upper()}")
            raw = env.get(name)
            if raw is None or raw == "":
                continue
            try:
                values[f.name] = _parse_setting(f.name, raw)
            except ValueError:
                raise ValueError(f"{name}={raw!r} is not a valid {f.name}") from None
        return cls(**values)

    def with_model(self) -> tuple[ServeSettings, str]:
        """These settings with the model to load filled in, and why it is that one.

        Raises:
            ModelLoadError: no model is named and there is no default one; the message says
                how to get one (``nlp.classifier.loading.choose_default_model``).
        """
        if self.model_dir is not None:
            return self, "as configured"
        choice = choose_default_model()
        return dataclasses.replace(self, model_dir=Path(choice.model)), choice.reason


def _parse_setting(name: str, raw: str) -> Any:
    if name in ("model_dir", "brands_path"):
        return Path(raw)
    if name == "db_path":
        try:
            return resolve_db_path(raw)
        except StoreError as exc:
            raise ValueError(str(exc)) from exc
    if name in ("host", "api_key", "backend"):
        return raw
    if name == "microbatch":
        if raw.lower() not in ("1", "0", "true", "false", "yes", "no"):
            raise ValueError(raw)
        return raw.lower() in ("1", "true", "yes")
    if name == "allowed_hosts":
        return tuple(host.strip() for host in raw.split(",") if host.strip())
    if name in ("batch_wait_ms", "dashboard_min_risk", "request_timeout_s",
                "auth_failure_window_s"):
        return float(raw)
    return int(raw)


# --- HTTP schemas -------------------------------------------------------------------


class PostRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: StrictStr = Field(description="The post as published.")
    id: StrictStr | None = Field(None, description="Your id for the post; echoed back.")
    brand: StrictStr | None = None
    author: StrictStr | None = Field(None, description="Author id (pseudonymise if you must).")
    created_at: datetime | None = Field(None, description="ISO 8601 with a timezone.")


class ClassifyRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    posts: list[PostRequest] = Field(description="One or more posts.")


class PredictionResponse(BaseModel):
    id: str
    brand: str | None
    author_id: str | None
    created_at: str | None
    sentiment: str
    p_negative: float
    p_neutral: float
    p_positive: float
    complaint: bool
    p_complaint: float
    p_waiting: float | None
    p_ivr_menu: float | None
    p_not_known: float | None
    p_unresolved: float | None
    p_staff_attitude: float | None
    p_self_service: float | None
    p_billing: float | None
    p_product_failure: float | None
    p_marketing_spam: float | None
    themes: list[str] = Field(description="Theme keys at or above the threshold.")
    churn_intent: bool | None
    p_churn_intent: float | None = Field(description="None: the model does not predict it.")
    model_version: str


class ClassifyResponse(BaseModel):
    model_version: str
    predictions: list[PredictionResponse]


class BrandSummaryResponse(BaseModel):
    brand: str
    posts: int
    negative_share: float
    complaint_share: float
    top_reasons: dict[str, float] = Field(description=TOP_REASONS)


class BrandRiskResponse(BaseModel):
    brand: str
    window_start: str | None = Field(description="None when no post has a created_at.")
    window_end: str | None
    customers: int = Field(description=FIELDS["customers"])
    posts: int
    at_risk_share: float = Field(description=FIELDS["at_risk_share"])
    ci_low: float
    ci_high: float
    ci_method: str = Field(description=FIELDS["ci_method"])
    expected_at_risk: float = Field(description=FIELDS["expected_at_risk"])
    drivers: dict[str, float] = Field(description=FIELDS["drivers"])


class ExcludedResponse(BaseModel):
    brand_account: int
    bot_or_news: int
    duplicate: int
    without_brand: int


class RiskResponse(BaseModel):
    kind: Literal["risk"] = Field(
        "risk", description="'risk': the ex-customer-at-risk score over the request's posts, "
                            "one window spanning them.")
    measure: str = Field(HEADLINE, description="What at_risk_share is.")
    score_version: str
    model_version: str
    brands: list[BrandRiskResponse] = Field(description="Highest at-risk share first.")
    summaries: list[BrandSummaryResponse] = Field(
        description="Per-brand shares over posts (negative, complaints, top reasons), by the "
                    "same resolved brands; posts without one under '(no brand)'.")
    excluded: ExcludedResponse


class ModelResponse(BaseModel):
    name: str
    kind: str
    model_version: str
    backend: str = Field(description="What runs the model: 'torch', or 'onnx' (ONNX Runtime, "
                                     "int8 weights).")
    label_schema: dict[str, Any]
    metrics: dict[str, float]


class HealthResponse(BaseModel):
    status: str


class ErrorResponse(BaseModel):
    detail: str


class HistoryPointResponse(BaseModel):
    brand: str
    window_start: str
    window_end: str
    score_version: str
    model_version: str = Field(description="The model that scored this window's posts.")
    customers: int
    posts: int
    at_risk_share: float = Field(description=FIELDS["at_risk_share"])
    ci_low: float
    ci_high: float
    ci_method: str = Field(description=FIELDS["ci_method"])
    expected_at_risk: float = Field(description=FIELDS["expected_at_risk"])
    previous_share: float | None
    trend: float | None = Field(description="Change of at-risk share against the previous "
                                            "window; None: no previous window.")
    trend_low: float | None = Field(description="The change's 95% interval.")
    trend_high: float | None
    trend_significant: bool | None
    drivers: dict[str, float] = Field(description=FIELDS["drivers"])
    computed_at: str = Field(description="When the monitor computed this point.")
    partial: bool = Field(False, description="The posts cover this window only in part.")
    previous_partial: bool = Field(False, description="... or the window before it; the "
                                                      "trend is then not compared.")
    earlier: bool = Field(False, description="The brand has an earlier window.")
    ranked: bool = Field(True, description="Enough customers to rank by share "
                                           "(RiskConfig.min_customers_ranked).")
    trend_label: Literal["up", "down", "flat", "new", "gap", "partial"] = Field(
        description="up/down: the change's interval excludes zero; flat: it does not; "
                    "new: no earlier window; gap: no customers in the window before; "
                    "partial: this or the previous window is covered only in part.")


class BrandsResponse(BaseModel):
    measure: str = Field(HEADLINE, description="What at_risk_share is.")
    score_version: str
    message: str | None = Field(
        None, description="Why there are no brands: no store yet, or no history in it.")
    brands: list[HistoryPointResponse] = Field(
        description="Each brand's latest window, highest at-risk share first.")


class CustomerPostResponse(BaseModel):
    source: str
    text: str = Field(description="The post with @handles and links masked.")
    created_at: str | None
    url: str | None = Field(description="The raw post, where the source has URLs.")


class AtRiskCustomerResponse(BaseModel):
    customer: str = Field(description="A pseudonym (keyed HMAC, RADAR_PSEUDONYM_KEY).")
    risk: float
    drivers: dict[str, float]
    posts: list[CustomerPostResponse] = Field(description="The posts that drove the risk.")


class BrandHistoryResponse(BaseModel):
    brand: str
    score_version: str
    points: list[HistoryPointResponse] = Field(description="Every window, earliest first.")
    window_start: str = Field(description="The latest window, whose customers are listed.")
    window_end: str
    min_risk: float
    theme: str | None
    customers: list[AtRiskCustomerResponse] = Field(description="Riskiest first.")


ERRORS = {code: {"model": ErrorResponse}
          for code in (400, 401, 413, 415, 422, 429, 503, 504)}
BUSY_RETRY_AFTER_S = 5  # Retry-After of a request that ran out of time (503, 504)


def _risk_of_request(request: ClassifyRequest, predictions: list[Prediction],
                     book: BrandBook | None, own: Thresholds
                     ) -> tuple[list[BrandRiskResponse], list[BrandSummaryResponse],
                                ExcludedResponse]:
    """risk.v1 and the per-post summary over one request's posts, both by the brand each post
    resolves to (its ``brand`` or its mentions, through the brand book)."""
    config = RiskConfig(excluded_authors=book.handles if book else frozenset())
    posts, without_brand, tally = [], 0, BrandTally(own.complaint, own.theme, own.per_theme)
    for index, (post, pred) in enumerate(zip(request.posts, predictions, strict=True)):
        if book is not None:
            brand = book.resolve(post.brand, post.text).brand
        else:
            brand = post.brand.strip() if post.brand and post.brand.strip() else None
        tally.add(brand, pred)
        if brand is None:
            without_brand += 1
            continue
        # Internal ids: a client's ids may repeat or clash with the defaults.
        keyed = dataclasses.replace(pred, post_id=f"#{index}")
        posts.append(RiskPost.from_prediction(keyed, brand, post.author,
                                              _utc(post.created_at), post.text))
    windows, excluded = score_brands(posts, config, window=None) if posts else ([], Exclusions())
    brands = [BrandRiskResponse(
        brand=w.risk.brand, window_start=_iso(w.risk.window_start),
        window_end=_iso(w.risk.window_end), customers=w.risk.customers, posts=w.posts,
        at_risk_share=w.risk.at_risk_share, ci_low=w.risk.ci_low, ci_high=w.risk.ci_high,
        ci_method=w.ci_method, expected_at_risk=w.risk.expected_at_risk,
        drivers=dict(w.risk.drivers))
        for w in sorted(windows, key=lambda w: (-w.risk.at_risk_share, w.risk.brand))]
    summaries = [BrandSummaryResponse(brand=s.brand, posts=s.posts,
                                      negative_share=s.negative_share,
                                      complaint_share=s.complaint_share,
                                      top_reasons=dict(s.top_reasons))
                 for s in tally.summaries()]
    return brands, summaries, ExcludedResponse(
        brand_account=excluded.brand_account, bot_or_news=excluded.bot_or_news,
        duplicate=excluded.duplicate, without_brand=without_brand)


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat().replace("+00:00", "Z")


# --- the app ---------------------------------------------------------------------------


def create_app(settings: ServeSettings | None = None) -> FastAPI:
    """Build the app; the model loads when the app starts, not when this is called.

    With no model named and none to default to, the app does not start (ModelLoadError).
    """
    settings = settings or ServeSettings.from_env()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        app.state.classifier = None
        app.state.batcher = None
        app.state.load_error = None
        chosen, reason = settings.with_model()
        log.info("loading model %s with %s (%s)", chosen.model_dir, chosen.backend, reason)
        try:
            app.state.classifier = load_classifier(chosen.model_dir, backend=chosen.backend)
        except (ModelLoadError, ValueError, NotInstalled) as exc:
            # Stay up so /healthz answers and /readyz can say what is wrong.
            app.state.load_error = str(exc)
            log.error("model not loaded: %s", exc)
        # A broken brand book is an operator error: fail at start, not on the first request.
        book_path = settings.brands_path or (DEFAULT_BRANDS if DEFAULT_BRANDS.is_file() else None)
        app.state.brand_book = BrandBook.from_yaml(book_path) if book_path else None
        if settings.api_key is None and not is_loopback(settings.host):
            log.warning("serving without an API key on %s, which is not a loopback address: "
                        "anyone who can reach it can use the API and read the dashboard; set "
                        "RADAR_API_KEY", settings.host)
        if app.state.classifier is not None and settings.microbatch:
            app.state.batcher = MicroBatcher(app.state.classifier.predict, settings.batch_max,
                                             settings.batch_wait_ms, settings.queue_max)
            await app.state.batcher.start()
        yield
        if app.state.batcher is not None:
            await app.state.batcher.stop()

    # The docs page and the schema are served by _add_api_docs, behind the key when one is
    # set, the page from local copies of its script and styles.
    app = FastAPI(title="complaint-radar", version="1", lifespan=lifespan, docs_url=None,
                  redoc_url=None, openapi_url=None)
    # The last added runs first: headers on every answer, then Host, then the body limits.
    app.add_middleware(RequestGuard, max_body_bytes=settings.max_body_bytes)
    app.add_middleware(HostGuard, host=settings.host, allowed_hosts=settings.allowed_hosts)
    app.add_middleware(SecurityHeaders)
    _add_error_handlers(app)
    guard = KeyGuard(settings.api_key, settings.auth_failures_max,
                     settings.auth_failure_window_s)

    def refuse_json(refusal: tuple[int, int | None] | None, challenge: str) -> None:
        if refusal is None:
            return
        status, retry_after = refusal
        if status == 429:
            raise HTTPException(429, locked_out_message(retry_after),
                                headers={"Retry-After": str(retry_after)})
        raise HTTPException(401, f"missing or wrong {API_KEY_HEADER} header",
                            headers={"WWW-Authenticate": challenge})

    # The header parameters document the key in the schema; the guard reads the request.
    def require_key(request: Request, x_api_key: Annotated[str | None, Header()] = None) -> None:
        """The X-API-Key header: the model endpoints are for programs."""
        refuse_json(guard.check(request, basic=False), API_KEY_HEADER)

    def require_key_or_basic(request: Request,
                             x_api_key: Annotated[str | None, Header()] = None) -> None:
        """The header, or HTTP Basic with the key as password: the JSON the dashboard links
        and the API schema, which a signed-in browser fetches with its Basic credentials."""
        refuse_json(guard.check(request, basic=True), BASIC_CHALLENGE)

    def classifier() -> Classifier:
        if app.state.classifier is None:
            raise HTTPException(503, f"model not loaded: {app.state.load_error}")
        return app.state.classifier

    async def predict(request: ClassifyRequest) -> tuple[list[Prediction], list[str]]:
        _check_limits(request, settings)
        model = classifier()
        ids = [p.id if p.id is not None else str(i) for i, p in enumerate(request.posts)]
        texts = [p.text for p in request.posts]
        keys = [("api", post_id) for post_id in ids]
        limit = settings.request_timeout_s
        try:
            if app.state.batcher is not None:
                return await app.state.batcher.predict(texts, keys, timeout=limit), ids
            return await _run_with_limit(model.predict, texts, keys, limit), ids
        except QueueFullError as exc:
            raise HTTPException(503, str(exc), headers={"Retry-After": "1"}) from exc
        except QueueTimeoutError as exc:
            raise HTTPException(
                503, f"the request waited longer than the limit of {limit:g} s for the model, "
                     "which is busy; retry later",
                headers={"Retry-After": str(BUSY_RETRY_AFTER_S)}) from exc
        except RunTimeoutError as exc:
            raise HTTPException(
                504, f"the request took longer than the limit of {limit:g} s; retry later, "
                     "or send fewer posts per request",
                headers={"Retry-After": str(BUSY_RETRY_AFTER_S)}) from exc

    v1 = [Depends(require_key)]

    @app.post("/v1/classify", response_model=ClassifyResponse, dependencies=v1,
              responses=ERRORS)
    async def classify(request: ClassifyRequest) -> ClassifyResponse:
        predictions, ids = await predict(request)
        records = [
            score_record(pred, post_id, post.brand, post.author, _utc(post.created_at),
                         thresholds_for(classifier()))
            for pred, post_id, post in zip(predictions, ids, request.posts, strict=True)
        ]
        return ClassifyResponse(model_version=classifier().model_version,
                                predictions=[PredictionResponse(**r) for r in records])

    @app.post("/v1/risk", response_model=RiskResponse, dependencies=v1, responses=ERRORS)
    async def risk(request: ClassifyRequest) -> RiskResponse:
        predictions, _ = await predict(request)
        brands, summaries, excluded = await run_in_threadpool(
            _risk_of_request, request, predictions, app.state.brand_book,
            thresholds_for(classifier()))
        return RiskResponse(score_version=SCORE_VERSION, model_version=classifier().model_version,
                            brands=brands, summaries=summaries, excluded=excluded)

    @app.get("/v1/model", response_model=ModelResponse, dependencies=v1, responses=ERRORS)
    def model_info() -> ModelResponse:
        meta = classifier().meta
        return ModelResponse(name=meta["name"], kind=meta["kind"],
                             model_version=meta["model_version"], backend=settings.backend,
                             label_schema=SCHEMA.to_dict(), metrics=meta.get("metrics", {}))

    @app.get("/healthz", response_model=HealthResponse)
    def healthz() -> HealthResponse:
        return HealthResponse(status="ok")

    @app.get("/readyz", response_model=HealthResponse, responses=ERRORS)
    def readyz() -> HealthResponse:
        classifier()
        return HealthResponse(status="ready")

    page_access = _page_access(guard)
    _add_api_docs(app, [Depends(page_access)], [Depends(require_key_or_basic)])
    # The docs' files above go before the dashboard's /static mount, which would shadow them.
    _add_dashboard(app, settings, [Depends(page_access)], [Depends(require_key_or_basic)])
    return app


async def _run_with_limit(predict, texts: list[str], keys: list[tuple[str, str]],
                          limit: float) -> list[Prediction]:
    """``predict`` in a worker thread, given up on after ``limit`` seconds (without
    micro-batching). The thread cannot be stopped: it finishes, and its answer is dropped."""
    started = threading.Event()

    def run() -> list[Prediction]:
        started.set()
        return predict(texts, keys)

    # Not run_in_threadpool: a cancelled anyio thread call waits for the thread to end.
    future = asyncio.get_running_loop().run_in_executor(None, run)
    try:
        return await asyncio.wait_for(future, limit)
    except TimeoutError:
        if started.is_set():
            raise RunTimeoutError(f"took over {limit:g} s") from None
        raise QueueTimeoutError(f"waited over {limit:g} s for a thread") from None


def _page_access(guard: KeyGuard):
    """The pages' (and the API docs') dependency: the X-API-Key header, or HTTP Basic with
    the key as password (browsers); a refusal is a page, which makes browsers ask."""

    def page_access(request: Request) -> None:
        refusal = guard.check(request, basic=True)
        if refusal is None:
            return
        status, retry_after = refusal
        if status == 429:
            raise PageError(429, "Too many wrong keys", locked_out_message(retry_after),
                            headers={"Retry-After": str(retry_after)})
        raise PageError(401, "Sign in",
                        "this page needs the service's API key: sign in with any user name "
                        f"and the key as password, or send the {API_KEY_HEADER} header",
                        headers={"WWW-Authenticate": BASIC_CHALLENGE})

    return page_access


# --- the API docs, without a CDN ---------------------------------------------------------


def docs_asset_path(name: str) -> Path:
    """One of Swagger UI's files (``DOCS_ASSETS``) as the fastapi-offline package ships it.
    Found without importing the package.

    Raises:
        NotInstalled: fastapi-offline (the ``serve`` extra) is missing, or lacks the file.
    """
    spec = importlib.util.find_spec(DOCS_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise NotInstalled("fastapi-offline", "serve", "the API docs (/docs)")
    path = Path(next(iter(spec.submodule_search_locations))) / "static" / name
    if not path.is_file():
        raise NotInstalled("fastapi-offline", "serve", "the API docs (/docs)",
                           hint="pip install --force-reinstall fastapi-offline",
                           detail=f"fastapi-offline is installed but {path} is missing")
    return path


def _add_api_docs(app: FastAPI, page_access: list, json_access: list) -> None:
    """``/docs`` (Swagger UI) and ``/openapi.json``, behind the key when one is set, with the
    page's files under ``/static/docs/`` (open: they are Swagger UI's own): FastAPI's own
    page would load them from a CDN."""
    try:
        version = importlib.metadata.version("fastapi-offline")
    except importlib.metadata.PackageNotFoundError:
        version = "0"

    def asset_file(name: str) -> Path:
        try:
            return docs_asset_path(name)
        except NotInstalled as exc:  # 503 with the install command, not a blank page
            raise HTTPException(503, str(exc)) from exc

    def asset_url(request: Request, name: str) -> str:
        asset_file(name)
        return f"{request.scope.get('root_path', '')}/static/docs/{name}?v={version}"

    @app.get("/openapi.json", include_in_schema=False, dependencies=json_access)
    def openapi_schema() -> JSONResponse:
        return JSONResponse(app.openapi())

    @app.get("/docs", include_in_schema=False, dependencies=page_access)
    def swagger_ui(request: Request) -> HTMLResponse:
        page = get_swagger_ui_html(
            openapi_url=f"{request.scope.get('root_path', '')}/openapi.json",
            title=f"{app.title} - API docs",
            swagger_js_url=asset_url(request, "swagger-ui-bundle.js"),
            swagger_css_url=asset_url(request, "swagger-ui.css"),
            swagger_favicon_url=asset_url(request, "favicon.png"),
            swagger_ui_parameters={"validatorUrl": None})  # no badge from validator.swagger.io
        # The page starts Swagger UI from an inline script: allowed by its hash, alone.
        hashes = [_script_hash(script) for script in
                  re.findall(r"<script>(.*?)</script>", page.body.decode(), re.S)]
        page.headers["Content-Security-Policy"] = format_csp(
            {**CSP_DIRECTIVES, "script-src": " ".join(["'self'", *hashes])})
        return page

    @app.get("/static/docs/{name}", include_in_schema=False)
    def docs_asset(name: str) -> FileResponse:
        if name not in DOCS_ASSETS:
            raise HTTPException(404, f"no such docs file: {name}")
        return FileResponse(asset_file(name), media_type=DOCS_ASSETS[name],
                            headers={"Cache-Control": VERSIONED_CACHE})


def _script_hash(script: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(script.encode()).digest()).decode() + "'"


# --- the dashboard -----------------------------------------------------------------------


class PageError(Exception):
    """An HTML page that cannot be shown as asked: rendered as a message page, not JSON."""

    def __init__(self, status: int, title: str, message: str,
                 links: list[tuple[str, str]] | None = None,
                 headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.title, self.message = status, title, message
        self.links, self.headers = links or [], headers


def _page_dates(request: Request, first: Annotated[str | None, Query(alias=FROM_PARAM)] = None,
                to: str | None = None) -> DateRange:
    """A page's ``from``/``to`` range; a bad one is a 400 page saying what is expected."""
    try:
        return DateRange.parse(first, to)
    except ValueError as exc:
        path = request.scope["path"].removeprefix(request.scope.get("root_path", ""))
        same = views.with_query(quote(path), {"theme": request.query_params.get("theme")})
        raise PageError(400, "Invalid date range", str(exc),
                        [("the whole history instead", same)]) from None


PageDates = Annotated[DateRange, Depends(_page_dates)]


def _add_dashboard(app: FastAPI, settings: ServeSettings, pages: list, v1: list) -> None:
    """The pages, their static files and their JSON; they read the store, never the model."""
    templates = Jinja2Templates(directory=dashboard.TEMPLATES_DIR)
    templates.env.filters.update(pct=views.percent, pts=views.points_change,
                                 utc=views.format_utc, day=views.format_day)
    pseudonymize = Pseudonymizer()  # one key per app: pseudonyms stay put across requests
    asset_version = dashboard.static_version()
    plotly_version = dashboard.plotly_version()
    brand_errors = {**ERRORS, 404: {"model": ErrorResponse}}

    def render(request: Request, name: str, status: int = 200,
               headers: dict[str, str] | None = None, **context: Any) -> HTMLResponse:
        # Before sign-in (401) a page says nothing about the server: no store path.
        context.update(base=request.scope.get("root_path", ""), asset_version=asset_version,
                       plotly_version=plotly_version, score_version=SCORE_VERSION,
                       confidence=views.CONFIDENCE_LABEL,
                       min_customers_ranked=views.MIN_CUSTOMERS_RANKED, headline=HEADLINE,
                       fields=FIELDS, top_reasons_help=TOP_REASONS)
        # The pages name customers' posts: no shared cache may keep them.
        return templates.TemplateResponse(request, name, context, status_code=status,
                                          headers={"Cache-Control": "no-store",
                                                   **(headers or {})})

    @app.exception_handler(PageError)
    async def page_error(request: Request, exc: PageError) -> HTMLResponse:
        return render(request, "message.html", exc.status, exc.headers, title=exc.title,
                      message=exc.message, links=exc.links, show_home=exc.status != 401)

    @contextmanager
    def read_store(page: bool) -> Iterator[PostStore | None]:
        """The store for one request, closed after it; None while there is no store yet.

        A missing store is the state before the monitor's first run, not a server fault: the
        pages and JSON say so (no 5xx), and a GET never creates it. A file that is no store
        (or from a newer version), or a database server out of reach, is a fault: 503 with
        the store's message.
        """
        try:
            store = open_store(settings.db_path) if store_exists(settings.db_path) else None
        except StoreError as exc:
            # The reason, without where the server keeps the store (the log has it).
            log.error("store unreadable: %s", exc)
            shown = str(exc).replace(describe_target(settings.db_path),
                                     store_label(settings.db_path))
            raise PageError(503, "Store unreadable", shown) if page \
                else HTTPException(503, shown) from exc
        if store is None:
            yield None
            return
        try:
            yield store
        finally:
            store.close()

    def points_or_message(store: PostStore | None) -> tuple[list[HistoryPoint], str | None]:
        """Each brand's latest point, or what to say when there is none."""
        if store is None:
            return [], views.missing_store_message()
        points = latest_points(store, SCORE_VERSION)
        return points, (None if points else
                        views.empty_history_message(SCORE_VERSION))

    def resolve_brand(store: PostStore | None, brand: str, page: bool) -> HistoryPoint:
        """The brand's latest point (the name matched exactly, else ignoring case)."""
        points, message = points_or_message(store)
        latest = {p.brand: p for p in points}
        name = views.find_brand(latest, brand)
        if name is None:
            # No history at all says why (no store, or an empty one); else name the brands.
            message = message or views.unknown_brand_message(brand, sorted(latest))
            if page:
                raise PageError(404, "Unknown brand" if points else "No risk history", message,
                                [(b, views.brand_href(b)) for b in sorted(latest)])
            raise HTTPException(404, message)
        return latest[name]

    def overview_points(store: PostStore | None, dates: DateRange
                        ) -> tuple[list[HistoryPoint], str | None]:
        """Each brand's latest point in the range, or what to say when there is none."""
        points, message = points_or_message(store)
        if message is None and dates.is_set:
            histories = [brand_history(store, p.brand, SCORE_VERSION) for p in points]
            points = views.latest_in_range(histories, dates)
            if not points:
                message = views.empty_range_message(dates, [p for h in histories for p in h])
        return points, message

    def brand_window(store: PostStore | None, brand: str, theme: str | None,
                     dates: DateRange) -> tuple[str | None, list[HistoryPoint], HistoryPoint]:
        """A brand page's checked theme, its history in the range, and the window whose
        customers it lists (the latest in the range)."""
        latest = resolve_brand(store, brand, page=True)
        name = latest.brand
        try:
            theme = views.check_theme(theme)
        except ValueError as exc:
            links = [(f"{t.key} ({t.label})", views.brand_href(name, t.key, dates))
                     for t in views.theme_choices()]
            raise PageError(400, "Unknown theme", str(exc), links) from None
        history = brand_history(store, name, SCORE_VERSION)
        if not dates.is_set:
            return theme, history, latest
        shown = dates.select(history)
        if not shown:
            raise PageError(404, "No windows in range",
                            views.empty_range_message(dates, history, name),
                            [(f"{name} over the whole history", views.brand_href(name, theme)),
                             ("all brands in the same range", views.overview_href(dates))])
        return theme, shown, shown[-1]

    def csv_response(text: str, filename: str) -> Response:
        return Response(text, media_type=export.CSV_MEDIA_TYPE, headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "no-store"})

    @app.get("/static/plotly.min.js", include_in_schema=False)
    def plotly_js() -> FileResponse:
        try:
            path = dashboard.plotly_js_path()
        except NotInstalled as exc:
            raise HTTPException(503, str(exc)) from exc
        return FileResponse(path, media_type="text/javascript; charset=utf-8",
                            headers={"Cache-Control": VERSIONED_CACHE})

    app.mount("/static", StaticFiles(directory=dashboard.STATIC_DIR), name="static")

    @app.get("/", response_class=HTMLResponse, dependencies=pages, include_in_schema=False)
    def overview(request: Request, dates: PageDates) -> HTMLResponse:
        with read_store(page=True) as store:
            points, message = overview_points(store, dates)
        rows = views.overview_rows(points, dates)
        last = max((p.computed_at for p in points), default=None)
        return render(request, "overview.html", rows=rows, message=message, last_update=last,
                      dates=dates, page_path="/", range_clear_href="/",
                      csv_href=views.overview_href(dates, "/overview.csv"))

    @app.get("/overview.csv", dependencies=pages, include_in_schema=False)
    def overview_csv(dates: PageDates) -> Response:
        with read_store(page=True) as store:
            points, _ = overview_points(store, dates)
        return csv_response(export.overview_csv(views.overview_rows(points, dates)),
                            export.csv_filename("overview", *dates.params().values()))

    # Before the brand page, whose {brand:path} would take "X/customers.csv" for a name.
    @app.get("/brands/{brand:path}/customers.csv", dependencies=pages, include_in_schema=False)
    def customers_csv(brand: str, dates: PageDates, theme: str | None = None) -> Response:
        with read_store(page=True) as store:
            theme, _, point = brand_window(store, brand, theme, dates)
            rows = window_customers(store, point, settings.dashboard_min_risk, theme,
                                    settings.dashboard_customers)
        text = export.customers_csv(views.brand_row(point),
                                    views.customer_views(rows, pseudonymize))
        return csv_response(text, export.csv_filename(
            point.brand, "customers", views.format_day(point.window_start),
            *([theme] if theme else [])))

    @app.get("/brands/{brand:path}", response_class=HTMLResponse, dependencies=pages,
             include_in_schema=False)
    def brand_page(request: Request, brand: str, dates: PageDates,
                   theme: str | None = None) -> HTMLResponse:
        with read_store(page=True) as store:
            theme, history, point = brand_window(store, brand, theme, dates)
            name = point.brand
            rows = window_customers(store, point, settings.dashboard_min_risk, theme,
                                    settings.dashboard_customers)
            # In a range, the alerts of the windows shown; else every recorded one.
            ends = {p.window_end for p in history}
            alerts = views.alert_views(a for a in alert_payloads(store, name)
                                       if not dates.is_set or a.window_end in ends)
        return render(
            request, "brand.html", row=views.brand_row(point, dates=dates),
            brand_path=views.brand_href(name).removeprefix("/brands/"),
            risk_figure=views.risk_figure(history), driver_figure=views.driver_figure(history),
            customers=views.customer_views(rows, pseudonymize), alerts=alerts,
            themes=views.theme_choices(), theme=theme,
            theme_label=views.driver(theme).label if theme else None,
            min_risk=settings.dashboard_min_risk, limit=settings.dashboard_customers,
            dates=dates, page_path=views.brand_href(name),
            range_clear_href=views.brand_href(name, theme),
            overview_href=views.overview_href(dates),
            csv_href=views.brand_href(name, theme, dates, "/customers.csv"))

    @app.get("/v1/brands", response_model=BrandsResponse, dependencies=v1, responses=ERRORS)
    def brands_json() -> BrandsResponse:
        with read_store(page=False) as store:
            points, message = points_or_message(store)
        ordered = sorted(points, key=lambda p: (-p.at_risk_share, p.brand))
        return BrandsResponse(score_version=SCORE_VERSION, message=message, brands=[
            HistoryPointResponse(**views.point_record(p)) for p in ordered])

    @app.get("/v1/brands/{brand:path}/history", response_model=BrandHistoryResponse,
             dependencies=v1, responses=brand_errors)
    def brand_history_json(
            brand: str, theme: str | None = None,
            min_risk: Annotated[float, Query(ge=0.0, le=1.0)] = settings.dashboard_min_risk,
            limit: Annotated[int, Query(ge=1, le=1000)] = settings.dashboard_customers,
    ) -> BrandHistoryResponse:
        with read_store(page=False) as store:
            latest = resolve_brand(store, brand, page=False)
            try:
                theme = views.check_theme(theme)
            except ValueError as exc:
                raise HTTPException(400, str(exc)) from None
            history = brand_history(store, latest.brand, SCORE_VERSION)
            rows = window_customers(store, latest, min_risk, theme, limit)
        record = views.point_record(latest)
        return BrandHistoryResponse(
            brand=latest.brand, score_version=SCORE_VERSION,
            points=[HistoryPointResponse(**views.point_record(p)) for p in history],
            window_start=record["window_start"], window_end=record["window_end"],
            min_risk=min_risk, theme=theme,
            customers=[AtRiskCustomerResponse(**views.customer_record(c))
                       for c in views.customer_views(rows, pseudonymize)])


def _check_limits(request: ClassifyRequest, settings: ServeSettings) -> None:
    if not request.posts:
        raise HTTPException(422, "posts must hold at least one post")
    if len(request.posts) > settings.max_posts:
        raise HTTPException(
            422, f"at most {settings.max_posts} posts per request, got {len(request.posts)}")
    for i, post in enumerate(request.posts):
        for name in ("text", "id", "brand", "author"):
            # JSON may escape lone surrogates ("\ud800"); they cannot be encoded back.
            value = getattr(post, name)
            if value is not None and not _is_encodable(value):
                raise HTTPException(
                    422, f"posts[{i}].{name} is not valid Unicode (it holds a lone surrogate)")
        if not post.text.strip():
            raise HTTPException(422, f"posts[{i}].text is empty")
        if len(post.text) > settings.max_chars:
            raise HTTPException(
                422, f"posts[{i}].text has {len(post.text)} characters; "
                     f"at most {settings.max_chars} allowed")
        if post.created_at is not None and post.created_at.utcoffset() is None:
            raise HTTPException(
                422, f"posts[{i}].created_at needs a timezone, e.g. 2015-02-24T19:35:00Z")
        if post.created_at is not None and _utc_overflows(post.created_at):
            raise HTTPException(
                422, f"posts[{i}].created_at is out of range once converted to UTC")


def _is_encodable(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _utc_overflows(value: datetime) -> bool:
    try:
        value.astimezone(UTC)
    except OverflowError:
        return True
    return False


def _utc(value: datetime | None) -> datetime | None:
    return None if value is None else value.astimezone(UTC)


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        if any(e.get("type") == "json_invalid" for e in errors):
            return JSONResponse({"detail": "malformed JSON body"}, status_code=400)
        parts = []
        for e in errors[:5]:
            where = ".".join(str(p) for p in e.get("loc", ()) if p != "body")
            parts.append(f"{where or 'body'}: {e.get('msg', 'invalid')}")
        more = f" (+{len(errors) - 5} more)" if len(errors) > 5 else ""
        return JSONResponse({"detail": "; ".join(parts) + more}, status_code=422)

    @app.exception_handler(Exception)
    async def unexpected_error(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return JSONResponse({"detail": "internal error"}, status_code=500)


def main() -> None:  # pragma: no cover - starts a server
    import sys

    import uvicorn

    try:
        settings, reason = ServeSettings.from_env().with_model()
    except (ModelLoadError, NotInstalled, ValueError) as exc:
        sys.exit(f"error: {exc}")
    print(f"model: {settings.model_dir} ({reason}), backend {settings.backend}", file=sys.stderr)
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port)


if __name__ == "__main__":  # pragma: no cover
    main()
