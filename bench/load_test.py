"""Load test of the REST endpoint: latency and throughput per backend (torch, ONNX int8),
with micro-batching on and off.

Starts ``serve:create_app`` under uvicorn on 127.0.0.1 (a free port) once per mode,
waits for ``/readyz``, runs two scenarios against ``POST /v1/classify`` and stops the
server again, whatever happens:

1. open loop: requests sent at a fixed rate, whether or not earlier ones have answered;
   latency is measured from each request's *scheduled* send time, so a client or server
   that falls behind shows up in the figures instead of hiding;
2. closed loop: ``--concurrency`` clients, each sending its next request as soon as the
   last one answered, for ``--duration`` seconds.

The posts are real airline tweets (``airline-sentiment-2015`` from the dataset registry)
or the lines of ``--texts FILE``. Run from the repository root:

    .venv/bin/python bench/load_test.py            # the champion, torch and onnx: ~3 min
    .venv/bin/python bench/load_test.py --model DIR --backends torch   # e.g. the baseline
    .venv/bin/python bench/load_test.py --quick    # smoke run

It prints figures; it asserts nothing. See bench/README.md.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Annotated

import httpx
import typer
from rich.console import Console
from rich.table import Table

from nlp.classifier import fetch_model_dir, is_mlflow_uri, remove_download

REPO_DIR = Path(__file__).resolve().parent.parent
DATASET = "airline-sentiment-2015"
MODES = {"on": "1", "off": "0"}
BACKENDS = ("torch", "onnx")
# Wide enough for the table when the output is a file or a pipe (rich assumes 80 there).
console = Console(width=None if sys.stdout.isatty() else 120)


@dataclass(frozen=True)
class BenchConfig:
    """What one benchmark run does; validated before any server starts."""

    model_dir: Path
    modes: tuple[str, ...] = ("on", "off")
    backends: tuple[str, ...] = ("torch",)
    rate: float = 50.0
    duration: float = 15.0
    concurrency: int = 16
    posts_per_request: int = 1
    warmup: int = 20
    timeout: float = 10.0
    max_requests: int = 50_000
    startup_timeout: float = 180.0  # the first ONNX start exports the model
    seed: int = 13

    def __post_init__(self) -> None:
        if not (self.model_dir / "meta.json").is_file():
            raise ValueError(f"--model {self.model_dir} is not a model folder (no meta.json); "
                             "train one with `radar train --config training/configs/baseline.yaml`")
        bad = [m for m in self.modes if m not in MODES]
        if bad or not self.modes:
            raise ValueError(f"--modes must name 'on' and/or 'off', got {','.join(self.modes)!r}")
        if not self.backends or any(b not in BACKENDS for b in self.backends):
            raise ValueError(f"--backends must name 'torch' and/or 'onnx', got "
                             f"{','.join(self.backends)!r}")
        kind = json.loads((self.model_dir / "meta.json").read_text(encoding="utf-8")).get("kind")
        if "onnx" in self.backends and kind == "tfidf-logreg":
            raise ValueError(f"--model {self.model_dir} is the TF-IDF baseline, which has no "
                             "onnx backend; give --backends torch")
        for name in ("rate", "duration", "timeout", "startup_timeout"):
            if getattr(self, name) <= 0:
                raise ValueError(f"--{name.replace('_', '-')} must be > 0, "
                                 f"got {getattr(self, name)}")
        for name in ("concurrency", "posts_per_request", "max_requests"):
            if getattr(self, name) < 1:
                raise ValueError(f"--{name.replace('_', '-')} must be >= 1, "
                                 f"got {getattr(self, name)}")
        if self.warmup < 0:
            raise ValueError(f"--warmup must be >= 0, got {self.warmup}")

    def to_dict(self) -> dict:
        return {**asdict(self), "model_dir": str(self.model_dir)}


@dataclass(frozen=True)
class Outcome:
    """One request as the client saw it: latency, and an error kind or None."""

    latency_s: float
    error: str | None = None
    detail: str = ""


@dataclass(frozen=True)
class ScenarioResult:
    """The figures of one scenario in one mode, as printed in the table."""

    mode: str
    scenario: str
    requests: int
    ok: int
    elapsed_s: float
    posts_per_request: int
    latencies_ms: dict[str, float]
    errors: dict[str, int] = field(default_factory=dict)
    error_examples: dict[str, str] = field(default_factory=dict)

    @property
    def error_rate(self) -> float:
        return (self.requests - self.ok) / self.requests if self.requests else 0.0

    @property
    def ok_per_s(self) -> float:
        return self.ok / self.elapsed_s if self.elapsed_s > 0 else 0.0

    @classmethod
    def from_outcomes(cls, mode: str, scenario: str, outcomes: list[Outcome],
                      elapsed_s: float, posts_per_request: int) -> ScenarioResult:
        ok = sorted(o.latency_s * 1000 for o in outcomes if o.error is None)
        failed = [o for o in outcomes if o.error is not None]
        examples: dict[str, str] = {}
        for o in failed:
            examples.setdefault(o.error, o.detail)
        latencies = {f"p{q}": percentile(ok, q) for q in (50, 90, 99)}
        latencies["max"] = ok[-1] if ok else float("nan")
        return cls(mode, scenario, len(outcomes), len(ok), elapsed_s, posts_per_request,
                   latencies, dict(Counter(o.error for o in failed)), examples)


def percentile(sorted_values: list[float], q: float) -> float:
    """Linear-interpolated percentile of already sorted values (nan when empty)."""
    if not sorted_values:
        return float("nan")
    pos = (len(sorted_values) - 1) * q / 100
    low = int(pos)
    high = min(low + 1, len(sorted_values) - 1)
    return sorted_values[low] + (sorted_values[high] - sorted_values[low]) * (pos - low)


# --- texts ---------------------------------------------------------------------------


def load_texts(texts_path: Path | None) -> tuple[list[str], str]:
    """The posts to send and where they came from: ``texts_path`` lines, else the dataset."""
    if texts_path is not None:
        if not texts_path.is_file():
            raise ValueError(f"--texts {texts_path}: no such file")
        texts = [line.strip() for line in texts_path.read_text(encoding="utf-8").splitlines()]
        texts = [t for t in texts if t]
        if not texts:
            raise ValueError(f"--texts {texts_path} holds no non-empty lines")
        return texts, str(texts_path)
    mirror = REPO_DIR.parent / "shared" / "datasets"
    if not os.environ.get("RADAR_DATA_MIRROR") and mirror.is_dir():
        os.environ["RADAR_DATA_MIRROR"] = str(mirror)  # as the Makefile does
    from training.datasets import DatasetError, load  # heavy import: only when needed

    try:
        dataset = load(DATASET, download=False)
    except DatasetError as exc:
        raise ValueError(f"cannot load {DATASET}: {exc}. Set RADAR_DATA_MIRROR to the "
                         "datasets mirror, or pass --texts FILE (one post per line)") from exc
    texts = [t for t in dataset["text"] if t and t.strip()]
    return texts, f"{DATASET} ({len(texts):,} tweets)"


class Payloads:
    """Request bodies cycling through the texts in a seeded random order."""

    def __init__(self, texts: list[str], posts_per_request: int, seed: int):
        self._texts = random.Random(seed).sample(texts, len(texts))
        self._per_request = posts_per_request
        self._next = 0

    def next(self) -> dict:
        posts = []
        for _ in range(self._per_request):
            posts.append({"text": self._texts[self._next % len(self._texts)]})
            self._next += 1
        return {"posts": posts}


# --- the server ------------------------------------------------------------------------


def free_loopback_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def local_model(model: str, tracking_uri: str | None) -> Path:
    """A folder as given, or an MLflow model downloaded once, so every server start loads
    the same files (and the ONNX export is made once)."""
    return fetch_model_dir(model, tracking_uri) if is_mlflow_uri(model) else Path(model)


class Server:
    """``serve:create_app`` under uvicorn on 127.0.0.1 in its own process group."""

    def __init__(self, config: BenchConfig, mode: str, backend: str, log_path: Path,
                 env: dict[str, str] | None = None):
        self.config, self.mode, self.backend, self.log_path = config, mode, backend, log_path
        self.env = env or {}  # more RADAR_* settings for this server (bench/slow_requests.py)
        self.port = free_loopback_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self._proc: subprocess.Popen | None = None
        self._log = None

    def start(self) -> None:
        env = {**os.environ, "RADAR_MODEL_DIR": str(self.config.model_dir),
               "RADAR_MICROBATCH": MODES[self.mode], "RADAR_BACKEND": self.backend,
               **self.env}
        command = [sys.executable, "-m", "uvicorn", "serve:create_app", "--factory",
                   "--host", "127.0.0.1", "--port", str(self.port),
                   "--no-access-log", "--log-level", "warning"]
        self._log = self.log_path.open("wb")
        # Own session: Ctrl-C reaches only this script, which then stops the server itself.
        self._proc = subprocess.Popen(command, cwd=REPO_DIR, env=env, stdout=self._log,
                                      stderr=subprocess.STDOUT, start_new_session=True)

    async def wait_ready(self, client: httpx.AsyncClient) -> None:
        deadline = time.monotonic() + self.config.startup_timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(f"server ({self.mode}) exited with code "
                                   f"{self._proc.returncode}:\n{self.log_tail()}")
            try:
                response = await client.get(f"{self.base_url}/readyz", timeout=2.0)
            except httpx.TransportError:
                await asyncio.sleep(0.2)
                continue
            if response.status_code == 200:
                return
            raise RuntimeError(f"server ({self.mode}) is up but not ready: "
                               f"{response.status_code} {response.text}")
        raise RuntimeError(f"server ({self.mode}) not ready after "
                           f"{self.config.startup_timeout:g} s:\n{self.log_tail()}")

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.send_signal(signal.SIGTERM)
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        if self._log is not None:
            self._log.close()

    def log_tail(self, lines: int = 30) -> str:
        if not self.log_path.is_file():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


# --- the scenarios -----------------------------------------------------------------------


async def send(client: httpx.AsyncClient, url: str, body: dict, started: float,
               expected_posts: int) -> Outcome:
    """POST one request; latency counts from ``started`` (the scheduled time, open loop)."""
    try:
        response = await client.post(url, json=body)
    except httpx.HTTPError as exc:
        return Outcome(time.perf_counter() - started, type(exc).__name__, str(exc)[:200])
    latency = time.perf_counter() - started
    if not response.is_success:
        return Outcome(latency, f"HTTP {response.status_code}", response.text[:200])
    try:
        returned = len(response.json()["predictions"])
    except (ValueError, KeyError, TypeError):
        return Outcome(latency, "bad body", response.text[:200])
    if returned != expected_posts:
        return Outcome(latency, "bad body", f"{returned} predictions for {expected_posts} posts")
    return Outcome(latency)


async def run_open_loop(client: httpx.AsyncClient, url: str, payloads: Payloads,
                        config: BenchConfig) -> tuple[list[Outcome], float]:
    """Send ``rate * duration`` requests on a fixed schedule, never waiting for answers."""
    total = min(config.max_requests, max(1, round(config.rate * config.duration)))
    start = time.perf_counter()
    tasks = []
    for i in range(total):
        due = start + i / config.rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(
            send(client, url, payloads.next(), due, config.posts_per_request)))
    outcomes = await asyncio.gather(*tasks)
    return list(outcomes), time.perf_counter() - start


async def run_closed_loop(client: httpx.AsyncClient, url: str, payloads: Payloads,
                          config: BenchConfig) -> tuple[list[Outcome], float]:
    """``concurrency`` clients back to back until ``duration`` or ``max_requests``."""
    outcomes: list[Outcome] = []
    start = time.perf_counter()
    deadline = start + config.duration

    async def one_client() -> None:
        while time.perf_counter() < deadline and len(outcomes) < config.max_requests:
            outcomes.append(await send(client, url, payloads.next(), time.perf_counter(),
                                       config.posts_per_request))

    await asyncio.gather(*(one_client() for _ in range(config.concurrency)))
    return outcomes, time.perf_counter() - start


async def run_mode(config: BenchConfig, mode: str, backend: str, texts: list[str],
                   log_dir: Path) -> list[ScenarioResult]:
    """Start a server on ``backend`` in ``mode``, warm it up, run both scenarios, stop it."""
    server = Server(config, mode, backend, log_dir / f"server-{backend}-microbatch-{mode}.log")
    headers = {}
    if os.environ.get("RADAR_API_KEY"):
        headers["X-API-Key"] = os.environ["RADAR_API_KEY"]
    # Enough connections that the pool never throttles the open loop below the server.
    limits = httpx.Limits(max_connections=max(64, config.concurrency),
                          max_keepalive_connections=max(64, config.concurrency))
    payloads = Payloads(texts, config.posts_per_request, config.seed)
    url = f"{server.base_url}/v1/classify"
    results = []
    try:
        server.start()
        async with httpx.AsyncClient(timeout=config.timeout, limits=limits,
                                     headers=headers) as client:
            await server.wait_ready(client)
            for _ in range(config.warmup):
                outcome = await send(client, url, payloads.next(), time.perf_counter(),
                                     config.posts_per_request)
                if outcome.error is not None:
                    console.print(f"[yellow]warm-up request failed: {outcome.error} "
                                  f"{outcome.detail!r}[/yellow]")
            for scenario, runner in (
                    (f"open {config.rate:g}/s", run_open_loop),
                    (f"closed x{config.concurrency}", run_closed_loop)):
                console.print(f"  {backend}, micro-batching {mode}: {scenario} for "
                              f"{config.duration:g} s")
                outcomes, elapsed = await runner(client, url, payloads, config)
                results.append(ScenarioResult.from_outcomes(
                    f"{backend}, {mode}", scenario, outcomes, elapsed, config.posts_per_request))
    finally:
        server.stop()
    if any(r.errors for r in results):
        tail = server.log_tail() or "(empty: no access log; only warnings and errors are logged)"
        console.print(f"[yellow]errors with {backend}, micro-batching {mode}; server log "
                      f"({server.log_path}), last lines:[/yellow]\n{tail}")
    return results


# --- report ------------------------------------------------------------------------------


def render_table(results: list[ScenarioResult], title: str) -> Table:
    table = Table(title=title)
    for name in ("backend, batching", "scenario", "requests", "errors", "ok req/s", "posts/s",
                 "p50 ms", "p90 ms", "p99 ms", "max ms"):
        table.add_column(name, no_wrap=True,
                         justify="left" if name in ("backend, batching", "scenario")
                         else "right")
    for r in results:
        table.add_row(r.mode, r.scenario, f"{r.requests:,}", f"{r.error_rate:.1%}",
                      f"{r.ok_per_s:.1f}", f"{r.ok_per_s * r.posts_per_request:.1f}",
                      *(f"{r.latencies_ms[k]:.1f}" for k in ("p50", "p90", "p99", "max")))
    return table


def print_errors(results: list[ScenarioResult]) -> None:
    for r in results:
        for kind, count in r.errors.items():
            console.print(f"  {r.mode} / {r.scenario}: {count} x {kind}: "
                          f"{r.error_examples[kind]!r}")


def main(
    model: Annotated[str, typer.Option(
        help="Model the server loads: a folder, or an MLflow URI (downloaded once).")
    ] = "models:/complaint-radar@champion",
    backends: Annotated[str, typer.Option(
        help="Backends to run: torch,onnx (onnx: fine-tuned models only).")] = "torch,onnx",
    tracking_uri: Annotated[str | None, typer.Option(
        help="MLflow tracking URI for a models:/ URI (default $MLFLOW_TRACKING_URI, else "
             "sqlite:///mlflow.db).")] = None,
    texts: Annotated[Path | None, typer.Option(
        help="File with one post per line, instead of the airline tweets.")] = None,
    rate: Annotated[float, typer.Option(help="Open loop: requests per second.")] = 50.0,
    duration: Annotated[float, typer.Option(help="Seconds per scenario and mode.")] = 15.0,
    concurrency: Annotated[int, typer.Option(help="Closed loop: concurrent clients.")] = 16,
    posts_per_request: Annotated[int, typer.Option(help="Posts in each request.")] = 1,
    modes: Annotated[str, typer.Option(help="Micro-batching modes to run: on,off.")] = "on,off",
    warmup: Annotated[int, typer.Option(help="Unmeasured requests after start-up.")] = 20,
    timeout: Annotated[float, typer.Option(help="Per-request timeout in seconds "
                                                "(a timeout counts as an error).")] = 10.0,
    max_requests: Annotated[int, typer.Option(help="Cap on requests per scenario.")] = 50_000,
    quick: Annotated[bool, typer.Option(
        help="Smoke run: 2 s per scenario, rate 20/s, 5 warm-up requests.")] = False,
    json_path: Annotated[Path | None, typer.Option(
        "--json", help="Also write the settings and results to this JSON file.")] = None,
    log_dir: Annotated[Path | None, typer.Option(
        help="Folder for the server logs (default: a new temporary folder).")] = None,
) -> None:
    """Load-test POST /v1/classify per backend, micro-batching on and off; print one table."""
    if quick:
        rate, duration, warmup = min(rate, 20.0), min(duration, 2.0), min(warmup, 5)
    try:
        model_dir = local_model(model, tracking_uri)
    except Exception as exc:  # ModelLoadError, NotInstalled: the message says what to do
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from exc
    try:
        config = BenchConfig(model_dir=model_dir.resolve(), modes=tuple(modes.split(",")),
                             backends=tuple(backends.split(",")),
                             rate=rate, duration=duration, concurrency=concurrency,
                             posts_per_request=posts_per_request, warmup=warmup,
                             timeout=timeout, max_requests=max_requests)
        post_texts, source = load_texts(texts)
    except ValueError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from exc
    log_dir = log_dir or Path(tempfile.mkdtemp(prefix="radar-bench-"))
    log_dir.mkdir(parents=True, exist_ok=True)
    load_before = os.getloadavg()
    console.print(f"model {model} ({config.model_dir}), texts {source}, {os.cpu_count()} CPUs, "
                  f"load average {load_before[0]:.2f}; server logs in {log_dir}")
    # SIGTERM takes the same path as Ctrl-C, so the servers are always stopped.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    started = time.perf_counter()
    results: list[ScenarioResult] = []
    try:
        for backend in config.backends:
            for mode in config.modes:
                results += asyncio.run(run_mode(config, mode, backend, post_texts, log_dir))
    except KeyboardInterrupt:
        console.print("[red]interrupted; servers stopped[/red]")
        raise typer.Exit(130) from None
    except RuntimeError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from exc
    finally:
        remove_download(config.model_dir)  # only a folder fetch_model_dir made
    total_s = time.perf_counter() - started
    console.print(render_table(results, f"POST /v1/classify, {source}, "
                                        f"{total_s:.0f} s in all"))
    print_errors(results)
    console.print(f"load average (1 min) {load_before[0]:.2f} before, "
                  f"{os.getloadavg()[0]:.2f} after; the client shares the CPUs with the server")
    if json_path is not None:
        json_path.write_text(json.dumps(
            {"config": config.to_dict(), "texts": source, "total_s": total_s,
             "results": [{**asdict(r), "error_rate": r.error_rate, "ok_per_s": r.ok_per_s}
                         for r in results]}, indent=2))


if __name__ == "__main__":
    typer.run(main)
