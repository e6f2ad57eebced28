"""REST edge of complaint-radar (FastAPI app factory).

This is the skeleton that issue [B] grows: the model is loaded once in
``lifespan`` into ``app.state``, and the service says whether it is alive,
ready, and which model it serves. Classification and risk endpoints come with [B].

Run: ``python serve.py`` (needs the ``serve`` extra: ``pip install -e '.[serve]'``).
"""

from __future__ import annotations

import os
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

try:
    from fastapi import FastAPI, HTTPException
    from pydantic import BaseModel
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "serve.py needs the 'serve' extra: pip install -e '.[serve]'"
    ) from exc

from nlp.classifier import Classifier, ModelLoadError, load_classifier
from nlp.taxonomy import SCHEMA


@dataclass(frozen=True)
class ServeSettings:
    """Where the model is and where to listen; read from the environment at start-up."""

    model_dir: Path = Path("models/baseline")
    host: str = "127.0.0.1"
    port: int = 8000

    def __post_init__(self) -> None:
        if not 0 < self.port < 65536:
            raise ValueError(f"port must be in 1..65535, got {self.port}")

    @classmethod
    def from_env(cls) -> ServeSettings:
        port = os.environ.get("RADAR_PORT", "8000")
        if not port.isdigit():
            raise ValueError(f"RADAR_PORT must be a port number, got {port!r}")
        return cls(model_dir=Path(os.environ.get("RADAR_MODEL_DIR", "models/baseline")),
                   host=os.environ.get("RADAR_HOST", "127.0.0.1"), port=int(port))


class HealthResponse(BaseModel):
    status: str


class ModelResponse(BaseModel):
    name: str
    kind: str
    model_version: str
    label_schema: dict[str, Any]
    metrics: dict[str, float]


def create_app(settings: ServeSettings | None = None) -> FastAPI:
    """Build the app; the model loads when the app starts, not when this is called."""
    settings = settings or ServeSettings.from_env()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        app.state.classifier = None
        app.state.load_error = None
        try:
            app.state.classifier = load_classifier(settings.model_dir)
        except (ModelLoadError, ValueError) as exc:
            # Stay up so /healthz and /readyz can say what is wrong.
            app.state.load_error = str(exc)
        yield

    app = FastAPI(title="complaint-radar", lifespan=lifespan)

    def _classifier() -> Classifier:
        if app.state.classifier is None:
            raise HTTPException(status_code=503, detail=f"model not loaded: {app.state.load_error}")
        return app.state.classifier

    @app.get("/healthz", response_model=HealthResponse)
    def healthz() -> HealthResponse:
        return HealthResponse(status="ok")

    @app.get("/readyz", response_model=HealthResponse)
    def readyz() -> HealthResponse:
        _classifier()
        return HealthResponse(status="ready")

    @app.get("/v1/model", response_model=ModelResponse)
    def model_info() -> ModelResponse:
        meta = _classifier().meta
        return ModelResponse(name=meta["name"], kind=meta["kind"],
                             model_version=meta["model_version"], label_schema=SCHEMA.to_dict(),
                             metrics=meta.get("metrics", {}))

    return app


if __name__ == "__main__":  # pragma: no cover
    import uvicorn

    env_settings = ServeSettings.from_env()
    uvicorn.run(create_app(env_settings), host=env_settings.host, port=env_settings.port)
