"""The store and the monitor at scale, on SQLite and PostgreSQL: a store of --posts posts
(default 1,000,000) over --brands brands (50), all scored, then --new new posts (10,000);
one monitor cycle scores them and recomputes the history; then the dashboard's overview
and brand pages. Prints load rates, the cycle's steps, page times and the query plans
of the slowest queries.

    .venv/bin/python bench/store_scale.py                         # both backends, ~25 min
    .venv/bin/python bench/store_scale.py --posts 100000 --backends sqlite   # quick look
    .venv/bin/python bench/store_scale.py --pg-url postgresql://me@host/empty_db

The model is a deterministic fake (no weights): the figures are the store's and the
monitor's, not the classifier's. PostgreSQL: a throwaway server started like the tests'
(Debian's postgresql, initdb in a temporary folder, fsync off), unless --pg-url names an
empty database.
"""

from __future__ import annotations

import argparse
import random
import resource
import statistics
import sys
import tempfile
import time
import zlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from nlp.types import Post, Prediction  # noqa: E402
from radar.store import open_store  # noqa: E402

NOW = datetime.now(UTC).replace(microsecond=0)
SPAN = timedelta(days=364)  # the store's posts cover a year; the monitor keeps 12 weeks
THEMES = ("waiting", "billing", "unresolved", "staff_attitude", "product_failure")
BATCH = 10_000


class FakeClassifier:
    """Fast and deterministic: the cost measured is the store's, not a model's."""

    model_version = "fake-scale-1"

    def predict(self, texts, keys=None):
        out = []
        for _text, (source, post_id) in zip(texts, keys, strict=True):
            h = zlib.crc32(post_id.encode()) % 1000 / 1000
            out.append(Prediction(source, post_id, "negative" if h < 0.4 else "neutral",
                                  {"negative": h, "neutral": 1 - h, "positive": 0.0},
                                  h, {t: (h * (i + 3)) % 1 for i, t in enumerate(THEMES)},
                                  (h * 7) % 1, self.model_version))
        return out


def _posts(start: int, count: int, brands: int, newest: bool, rng: random.Random):
    for i in range(start, start + count):
        age = rng.random() * (timedelta(days=2) if newest else SPAN)
        yield Post(source="bench", post_id=f"p{i:08d}", brand=f"Brand{i % brands:02d}",
                   author_id=f"a{rng.randrange(count // 4 + 1)}", created_at=NOW - age,
                   text=f"post {i}: my bill went up again and nobody answers the phone",
                   url=f"https://example.com/{i}")


def load(store, posts: int, brands: int, model) -> dict[str, float]:
    """Fill the store with scored posts; their rates."""
    rng = random.Random(7)
    started = time.perf_counter()
    batch: list[Post] = []
    for post in _posts(0, posts, brands, False, rng):
        batch.append(post)
        if len(batch) == BATCH:
            store.save_posts(batch)
            store.save_predictions(model.predict([p.text for p in batch],
                                                 [p.key for p in batch]))
            batch = []
    if batch:
        store.save_posts(batch)
        store.save_predictions(model.predict([p.text for p in batch], [p.key for p in batch]))
    seconds = time.perf_counter() - started
    return {"posts+predictions/s": posts / seconds, "load s": seconds}


def monitor_cycle(store, target: str, new: int, brands: int, model, tmp: Path) -> dict:
    """Add ``new`` posts, then one monitor cycle: its steps' seconds."""
    from radar.monitor.config import load_monitor_config
    from radar.monitor.cycle import Stop, risk_step, score_step

    store.save_posts(list(_posts(10**8, new, brands, True, random.Random(11))))
    config_path = tmp / "monitor.yaml"
    listed = "".join(f"  Brand{b:02d}: {{imports: []}}\n" for b in range(brands))
    config_path.write_text(f"store: {target!r}\nmodel: fake\nwindow: 7d\n"
                           f"anchor: 2024-01-01\nhistory_windows: 12\nbrands:\n{listed}",
                           encoding="utf-8")
    config = load_monitor_config(config_path)
    timings = {}
    started = time.perf_counter()
    scored = score_step(store, model, 500, Stop(), log=lambda m: None)
    timings["score step s"] = time.perf_counter() - started
    started = time.perf_counter()
    windows = risk_step(store, config, model.model_version, datetime.now(UTC))
    timings["risk step s"] = time.perf_counter() - started
    timings["scored"] = scored
    timings["brand-windows"] = len(windows)
    return timings


def pages(target: str, repeats: int = 5) -> dict[str, float]:
    """Median seconds of the dashboard's overview and one brand page."""
    from fastapi.testclient import TestClient

    from serve import ServeSettings, create_app

    settings = ServeSettings(model_dir=Path("/nonexistent-model"), db_path=target)
    out = {}
    with TestClient(create_app(settings)) as client:
        for name, path in (("overview", "/"), ("brand page", "/brands/Brand07"),
                           ("overview.csv", "/overview.csv")):
            times = []
            for _ in range(repeats):
                started = time.perf_counter()
                response = client.get(path)
                times.append(time.perf_counter() - started)
                if response.status_code != 200:
                    raise RuntimeError(f"{path}: {response.status_code} {response.text[:200]}")
            out[f"{name} s"] = statistics.median(times)
    return out


PLANS = {
    "next unscored batch": (
        "SELECT posts.source, posts.post_id FROM posts WHERE NOT EXISTS (SELECT 1 FROM "
        "predictions r WHERE r.source = posts.source AND r.post_id = posts.post_id AND "
        "r.model_version = ?) ORDER BY posts.source, posts.post_id LIMIT 500",
        ("fake-scale-1",)),
    # PostStore.scored_posts(brand=..., since=...), the risk step's read per brand
    "a brand's scored posts since the horizon": (
        "SELECT posts.post_id, r.complaint FROM posts JOIN post_brands b ON "
        "b.source = posts.source AND b.post_id = posts.post_id AND b.brand = ? "
        "JOIN predictions r ON posts.source = r.source AND posts.post_id = r.post_id AND "
        "r.model_version = ? WHERE b.created_at >= ? ORDER BY b.created_at IS NULL, "
        "b.created_at, posts.source, posts.post_id",
        ("Brand07", "fake-scale-1", (NOW - timedelta(weeks=13)).strftime(
            "%Y-%m-%dT%H:%M:%S.%fZ"))),
    # radar.store.history.post_coverage: every cycle and dashboard page
    "the dates the store covers (MIN; MAX alike)": (
        "SELECT MIN(created_at) FROM posts WHERE created_at IS NOT NULL", ()),
}


def plans(store) -> dict[str, str]:
    out = {}
    for name, (sql, params) in PLANS.items():
        explain = "EXPLAIN QUERY PLAN " if not store.db.is_postgres else "EXPLAIN "
        rows = store.db.execute(explain + sql, params).fetchall()
        out[name] = "\n".join("    " + " | ".join(str(v) for v in row) for row in rows)
    return out


def run_backend(name: str, target: str, args, tmp: Path) -> None:
    model = FakeClassifier()
    print(f"\n== {name}: {args.posts:,} posts over {args.brands} brands, then "
          f"{args.new:,} new ==", flush=True)
    with open_store(target) as store:
        figures = load(store, args.posts, args.brands, model)
        print(f"load: {figures['load s']:.0f} s ({figures['posts+predictions/s']:,.0f} "
              "posts with their predictions /s)", flush=True)
        cycle = monitor_cycle(store, target, args.new, args.brands, model, tmp)
        print(f"monitor cycle with {args.new:,} new posts: score step "
              f"{cycle['score step s']:.1f} s ({cycle['scored']:,} scored), risk step "
              f"{cycle['risk step s']:.1f} s ({cycle['brand-windows']} brand-windows)",
              flush=True)
        for query, plan in plans(store).items():
            print(f"plan, {query}:\n{plan}")
    for page, seconds in pages(target).items():
        print(f"dashboard {page}: {seconds * 1000:.0f} ms (median of 5)")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak memory of this process so far: {peak:,.0f} MB", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--posts", type=int, default=1_000_000)
    parser.add_argument("--brands", type=int, default=50)
    parser.add_argument("--new", type=int, default=10_000)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--pg-url", help="an empty PostgreSQL database to use instead of a "
                                         "throwaway server")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="radar-scale-") as folder:
        tmp = Path(folder)
        for backend in args.backends.split(","):
            if backend == "sqlite":
                run_backend("SQLite", str(tmp / "radar.db"), args, tmp)
            elif backend == "postgresql":
                server = None
                url = args.pg_url
                if url is None:
                    from tests.postgres import start_server

                    server = start_server()
                    url = server.new_database()
                try:
                    run_backend("PostgreSQL", url, args, tmp)
                finally:
                    if server is not None:
                        server.stop()
            else:
                parser.error(f"unknown backend {backend!r}")


if __name__ == "__main__":
    main()
