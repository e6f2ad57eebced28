"""Head-of-line blocking of the REST endpoint: how long a one-post request takes while
maximum-size requests are in flight (issue 18).

Starts ``serve:create_app`` under uvicorn on 127.0.0.1 (a free port, micro-batching on, as
``bench/load_test.py`` does), waits for ``/readyz`` and warms the model up, then:

1. idle: ``--idle-requests`` one-post requests one after the other, nothing else running;
2. loaded: ``--big-requests`` requests of ``--big-posts`` posts of ``--big-chars``
   characters each (the default limits: 256 x 5,000) sent at once, and, from
   ``--small-delay`` s later, one-post requests at ``--small-rate`` per second (open loop:
   latency counts from each request's scheduled send time) until every big request has
   answered or ``--max-duration`` s have passed.

It prints p50/p99/max of the one-post requests idle and loaded, their status codes, and the
big requests' latencies and status codes (503/504: the server's time limit). Run from the
repository root:

    .venv/bin/python bench/slow_requests.py                      # the champion, ~1-2 min
    .venv/bin/python bench/slow_requests.py --model DIR --big-requests 4
    .venv/bin/python bench/slow_requests.py --server-env RADAR_REQUEST_TIMEOUT_S=60

It prints figures; it asserts nothing.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Annotated

import httpx
import typer
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench/ is not a package
from load_test import BenchConfig, Server, load_texts, local_model, percentile  # noqa: E402

from nlp.classifier import remove_download  # noqa: E402

console = Console(width=None if sys.stdout.isatty() else 120)
FALLBACK_TEXTS = [  # when the airline tweets are not in the datasets mirror
    "@united my flight is delayed again, 3 hours on hold and nobody answers",
    "thank you @JetBlue, the crew was wonderful and we landed early!",
    "lost my bag and the app keeps crashing when I try to file a claim",
    "what time does the lounge at JFK open?",
]


@dataclass(frozen=True)
class Timed:
    """One request as the client saw it."""

    latency_s: float
    status: str  # "200", "503", ..., or the transport error's name


@dataclass(frozen=True)
class Figures:
    """Latency percentiles (ms) over the successful requests, and every status seen."""

    requests: int
    ok: int
    p50_ms: float
    p99_ms: float
    max_ms: float
    statuses: dict[str, int]

    @classmethod
    def of(cls, timed: list[Timed]) -> Figures:
        ok = sorted(t.latency_s * 1000 for t in timed if t.status == "200")
        return cls(len(timed), len(ok), percentile(ok, 50), percentile(ok, 99),
                   ok[-1] if ok else float("nan"), dict(Counter(t.status for t in timed)))


def long_texts(texts: list[str], count: int, chars: int) -> list[str]:
    """``count`` posts of exactly ``chars`` characters, each a different run of the texts."""
    posts = []
    for i in range(count):
        parts, size, j = [], 0, i
        while size < chars:
            parts.append(texts[j % len(texts)])
            size += len(parts[-1]) + 1
            j += 1
        posts.append(" ".join(parts)[:chars])
    return posts


async def post(client: httpx.AsyncClient, url: str, texts: list[str], started: float) -> Timed:
    try:
        response = await client.post(url, json={"posts": [{"text": t} for t in texts]})
    except httpx.HTTPError as exc:
        return Timed(time.perf_counter() - started, type(exc).__name__)
    return Timed(time.perf_counter() - started, str(response.status_code))


async def measure(server: Server, texts: list[str], args: dict) -> dict:
    url = f"{server.base_url}/v1/classify"
    headers = {"X-API-Key": os.environ["RADAR_API_KEY"]} if os.environ.get("RADAR_API_KEY") \
        else {}
    limits = httpx.Limits(max_connections=256, max_keepalive_connections=256)
    big_posts = long_texts(texts, args["big_posts"], args["big_chars"])
    async with httpx.AsyncClient(timeout=args["client_timeout"], limits=limits,
                                 headers=headers) as client:
        await server.wait_ready(client)
        await post(client, url, big_posts[:64], time.perf_counter())  # warm-up
        idle = []
        for i in range(args["idle_requests"]):
            idle.append(await post(client, url, [texts[i % len(texts)]], time.perf_counter()))
        console.print(f"  loaded: {args['big_requests']} x {args['big_posts']} posts x "
                      f"{args['big_chars']} chars, one-post requests at "
                      f"{args['small_rate']:g}/s")
        start = time.perf_counter()
        big = [asyncio.create_task(post(client, url, big_posts, start))
               for _ in range(args["big_requests"])]
        await asyncio.sleep(args["small_delay"])
        small, i = [], 0
        while not all(t.done() for t in big) and \
                time.perf_counter() - start < args["max_duration"]:
            due = start + args["small_delay"] + i / args["small_rate"]
            if (delay := due - time.perf_counter()) > 0:
                await asyncio.sleep(delay)
            small.append(asyncio.create_task(
                post(client, url, [texts[(i + 7) % len(texts)]], due)))
            i += 1
        big_timed = await asyncio.gather(*big)
        small_timed = await asyncio.gather(*small)
        loaded_s = time.perf_counter() - start
    return {"idle": Figures.of(idle), "loaded": Figures.of(small_timed),
            "big": Figures.of(big_timed), "big_all_ms": [round(t.latency_s * 1000)
                                                         for t in big_timed],
            "big_statuses": [t.status for t in big_timed], "loaded_s": loaded_s}


def render(result: dict, title: str) -> Table:
    table = Table(title=title)
    for name in ("requests", "what", "sent", "200", "other statuses", "p50 ms", "p99 ms",
                 "max ms"):
        table.add_column(name, no_wrap=True, justify="left" if name in (
            "requests", "what", "other statuses") else "right")
    for key, label, what in (("idle", "one post", "nothing else running"),
                             ("loaded", "one post", "big requests in flight"),
                             ("big", "big", "sent together")):
        f: Figures = result[key]
        others = ", ".join(f"{s} x{n}" for s, n in sorted(f.statuses.items()) if s != "200")
        table.add_row(label, what, str(f.requests), str(f.ok), others or "-",
                      f"{f.p50_ms:.0f}", f"{f.p99_ms:.0f}", f"{f.max_ms:.0f}")
    return table


def main(
    model: Annotated[str, typer.Option(
        help="Model the server loads: a folder, or an MLflow URI (downloaded once).")
    ] = "models:/complaint-radar@champion",
    tracking_uri: Annotated[str | None, typer.Option(
        help="MLflow tracking URI for a models:/ URI (default $MLFLOW_TRACKING_URI, else "
             "sqlite:///mlflow.db).")] = None,
    backend: Annotated[str, typer.Option(help="torch or onnx.")] = "torch",
    texts: Annotated[Path | None, typer.Option(
        help="File with one post per line, instead of the airline tweets.")] = None,
    big_requests: Annotated[int, typer.Option(help="Big requests sent at once.")] = 8,
    big_posts: Annotated[int, typer.Option(help="Posts per big request.")] = 256,
    big_chars: Annotated[int, typer.Option(help="Characters per post of a big request.")
                         ] = 5000,
    small_rate: Annotated[float, typer.Option(help="One-post requests per second while "
                                                   "the big ones are in flight.")] = 2.0,
    small_delay: Annotated[float, typer.Option(help="Seconds after the big requests "
                                                    "before the first one-post request.")
                           ] = 0.5,
    idle_requests: Annotated[int, typer.Option(help="One-post requests with nothing else "
                                                    "running.")] = 20,
    max_duration: Annotated[float, typer.Option(help="Stop sending one-post requests after "
                                                     "this many seconds.")] = 180.0,
    client_timeout: Annotated[float, typer.Option(help="Client timeout per request, s.")
                              ] = 300.0,
    server_env: Annotated[list[str] | None, typer.Option(
        help="NAME=VALUE for the server's environment, e.g. RADAR_REQUEST_TIMEOUT_S=60 "
             "(repeatable).")] = None,
    json_path: Annotated[Path | None, typer.Option(
        "--json", help="Also write the settings and figures to this JSON file.")] = None,
) -> None:
    """One-post latency (p50/p99) with maximum-size requests in flight."""
    env = {}
    for item in server_env or []:
        name, eq, value = item.partition("=")
        if not eq or not name.startswith("RADAR_"):
            console.print(f"[red]error:[/red] --server-env wants RADAR_NAME=VALUE, got {item!r}")
            raise typer.Exit(2)
        env[name] = value
    try:
        model_dir = local_model(model, tracking_uri).resolve()
        config = BenchConfig(model_dir=model_dir, modes=("on",), backends=(backend,))
    except Exception as exc:  # ModelLoadError, ValueError: the message says what to do
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from exc
    try:
        post_texts, source = load_texts(texts)
    except ValueError as exc:
        console.print(f"[yellow]{exc}; using {len(FALLBACK_TEXTS)} built-in posts[/yellow]")
        post_texts, source = FALLBACK_TEXTS, "built-in posts"
    log_dir = Path(tempfile.mkdtemp(prefix="radar-slow-"))
    server = Server(config, "on", backend, log_dir / "server.log", env)
    args = {"big_requests": big_requests, "big_posts": big_posts, "big_chars": big_chars,
            "small_rate": small_rate, "small_delay": small_delay,
            "idle_requests": idle_requests, "max_duration": max_duration,
            "client_timeout": client_timeout}
    console.print(f"model {model} ({model_dir}), {backend}, texts {source}, "
                  f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}, "
                  f"server env {env or '-'}; server log {server.log_path}")
    try:
        server.start()
        result = asyncio.run(measure(server, post_texts, args))
    except RuntimeError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from exc
    finally:
        server.stop()
        remove_download(model_dir)  # only a folder fetch_model_dir made
    console.print(render(result, f"POST /v1/classify, {result['loaded_s']:.0f} s loaded"))
    big = zip(result["big_statuses"], result["big_all_ms"], strict=True)
    console.print("big requests: " + ", ".join(f"{s} in {ms / 1000:.1f} s" for s, ms in big))
    console.print(f"load average (1 min) after: {os.getloadavg()[0]:.2f}")
    if json_path is not None:
        json_path.write_text(json.dumps(
            {"model": model, "backend": backend, "server_env": env, **args,
             **{k: asdict(v) if isinstance(v, Figures) else v for k, v in result.items()}},
            indent=2))


if __name__ == "__main__":
    typer.run(main)
