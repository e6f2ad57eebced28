"""Shared fixtures: the datasets mirror, isolated MLflow stores, a tiny trained baseline."""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import socket
import sqlite3
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DEFAULT_MIRROR = REPO.parent / "shared" / "datasets"


class NetworkBlocked(RuntimeError):
    """A test tried to reach beyond this machine; tests run offline (see pytest_configure)."""


def _is_local(host) -> bool:
    if isinstance(host, bytes):
        host = host.decode()
    if host in (None, "", "localhost"):
        return True
    try:
        return ipaddress.ip_address(str(host).split("%")[0]).is_loopback
    except ValueError:
        return False


def pytest_configure(config):
    """Enforce offline tests: connections and name lookups beyond loopback raise NetworkBlocked."""
    real_connect, real_connect_ex = socket.socket.connect, socket.socket.connect_ex
    real_getaddrinfo = socket.getaddrinfo

    def check(sock, address):
        if sock.family in (socket.AF_INET, socket.AF_INET6) and not _is_local(address[0]):
            raise NetworkBlocked(f"tests are offline: connection to {address!r} refused")

    def connect(sock, address):
        check(sock, address)
        return real_connect(sock, address)

    def connect_ex(sock, address):
        check(sock, address)
        return real_connect_ex(sock, address)

    def getaddrinfo(host, *args, **kwargs):
        if not _is_local(host):
            raise NetworkBlocked(f"tests are offline: name lookup of {host!r} refused")
        return real_getaddrinfo(host, *args, **kwargs)

    socket.socket.connect, socket.socket.connect_ex = connect, connect_ex
    socket.getaddrinfo = getaddrinfo


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch, tmp_path_factory):
    """Never write MLflow runs, dataset caches or post stores into the checkout."""
    scratch = tmp_path_factory.mktemp("env")
    monkeypatch.setenv("RADAR_DB", str(scratch / "radar.db"))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{scratch / 'mlflow.db'}")
    monkeypatch.setenv("RADAR_CACHE_DIR", str(scratch / "cache"))
    monkeypatch.setenv("RADAR_ONNX_CACHE", str(scratch / "onnx-cache"))
    if not os.environ.get("RADAR_DATA_MIRROR") and DEFAULT_MIRROR.is_dir():
        monkeypatch.setenv("RADAR_DATA_MIRROR", str(DEFAULT_MIRROR))


@pytest.fixture(scope="session")
def mirror_dir() -> Path:
    """The shared datasets mirror; tests on the real files skip where it is absent."""
    path = Path(os.environ.get("RADAR_DATA_MIRROR") or DEFAULT_MIRROR)
    if not (path / "complaints-2019").is_dir():
        pytest.skip(f"datasets mirror not found at {path} (set RADAR_DATA_MIRROR)")
    return path


@pytest.fixture(scope="session")
def real_datasets(mirror_dir):
    """Both registered datasets, loaded once per session."""
    from training import datasets as registry

    os.environ.setdefault("RADAR_DATA_MIRROR", str(mirror_dir))
    return {name: registry.load(name, download=False) for name in registry.REGISTRY}


@pytest.fixture(scope="session")
def tiny_trained(mirror_dir, tmp_path_factory):
    """The tiny baseline config trained once into a temporary model folder and MLflow store."""
    from training.config import load_config
    from training.train import train_baseline

    root = tmp_path_factory.mktemp("tiny")
    os.environ.setdefault("RADAR_DATA_MIRROR", str(mirror_dir))
    config = dataclasses.replace(load_config(REPO / "training/configs/tiny-baseline.yaml"),
                                 model_dir=str(root / "model"))
    uri = f"sqlite:///{root / 'mlflow.db'}"
    result = train_baseline(config, tracking_uri=uri)
    return {"config": config, "result": result, "tracking_uri": uri, "root": root}


def train_tiny_transformer(root: Path, mirror_dir: Path):
    """training/configs/tiny.yaml trained into ``root`` (model, corpus, cache, MLflow store).

    Returns the config, the run and the tracking URI. Tests take the session's run from the
    ``tiny_transformer`` fixture instead of training again.
    """
    from training.config import load_config
    from training.train_transformer import train_transformer

    config = dataclasses.replace(load_config(REPO / "training/configs/tiny.yaml"),
                                 model_dir=str(root / "model"), corpus_dir=str(root / "corpus"))
    uri = f"sqlite:///{root / 'mlflow.db'}"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("RADAR_DATA_MIRROR", str(mirror_dir))
        mp.setenv("RADAR_CACHE_DIR", str(root / "cache"))
        mp.setenv("MLFLOW_TRACKING_URI", uri)
        return config, train_transformer(config, tracking_uri=uri), uri


PRISTINE_DB = "mlflow.pristine.db"


@pytest.fixture(scope="session")
def tiny_transformer(mirror_dir, tmp_path_factory) -> dict:
    """tiny.yaml trained once per test run: the config, the run and its MLflow store.

    The model folder and corpus are shared and must not be changed; a module that logs to
    or registers in MLflow takes its own copy of the store with :func:`copy_tracking_store`.
    """
    root = tmp_path_factory.mktemp("tiny-transformer")
    config, result, uri = train_tiny_transformer(root, mirror_dir)
    copy_sqlite(root / "mlflow.db", root / PRISTINE_DB)
    return {"config": config, "result": result, "tracking_uri": uri, "root": root,
            "corpus_dir": Path(config.corpus_dir)}


def copy_tracking_store(tiny: dict, dst_dir: Path) -> str:
    """A private copy of the tiny run's MLflow store as it was right after training (its
    artifacts stay shared); returns its tracking URI."""
    dst_dir.mkdir(parents=True, exist_ok=True)
    copy_sqlite(tiny["root"] / PRISTINE_DB, dst_dir / "mlflow.db")
    return f"sqlite:///{dst_dir / 'mlflow.db'}"


def copy_sqlite(src: Path, dst: Path) -> None:
    """A consistent copy of a SQLite database, including what still sits in its write-ahead
    log (a file copy of ``src`` alone can miss the latest writes)."""
    with sqlite3.connect(src) as source, sqlite3.connect(dst) as target:
        source.backup(target)
    target.close()
    source.close()


@pytest.fixture
def anyio_backend():
    """Async tests run on asyncio only (selenium brings trio, which anyio would add)."""
    return "asyncio"


@pytest.fixture(scope="session")
def postgres_server():
    """A real PostgreSQL server for the session (see tests/postgres.py). Where the binaries
    are missing the PostgreSQL cases skip, saying why; with RADAR_REQUIRE_POSTGRES=1 (CI,
    make test) they fail instead, so a broken set-up cannot pass as skipped."""
    from tests.postgres import PostgresUnavailable, start_server

    try:
        server = start_server()
    except PostgresUnavailable as exc:
        if os.environ.get("RADAR_REQUIRE_POSTGRES") == "1":
            raise
        pytest.skip(f"PostgreSQL unavailable: {exc}")
    yield server
    server.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def store_db(request, tmp_path, monkeypatch) -> str:
    """Where a test's post store lives, once per backend: a SQLite file in ``tmp_path`` or
    a fresh database on the session's PostgreSQL server. ``$RADAR_DB`` points at it too."""
    if request.param == "sqlite":
        target = str(tmp_path / "radar.db")
    else:
        target = request.getfixturevalue("postgres_server").new_database()
    monkeypatch.setenv("RADAR_DB", target)
    return target
