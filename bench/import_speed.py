"""Import throughput and memory: a synthetic twcs export of N rows into a fresh store.

Prints rows/s and the peak resident memory of the import, for sizes that grow 10x,
so "memory does not grow with the file" is something you can see. Each size runs in
its own process, so one run's peak does not hide the next one's.

    .venv/bin/python bench/import_speed.py                  # 10k, 100k, 1M rows (~2 min)
    .venv/bin/python bench/import_speed.py --rows 10000     # one size
"""

from __future__ import annotations

import argparse
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BRANDS = ["AcmeTelco", "BoltBank", "CloudAir", "DeltaPower", "EchoMobile"]
TEXTS = ["on hold for {n} minutes and still no answer", "my bill doubled again this month",
         "the app logs me out every time I pay", "switching provider after this",
         "had to explain my problem {n} times to different agents", "thanks, sorted now"]


def write_twcs(path: Path, rows: int, seed: int = 0) -> None:
    """Threads of one customer tweet and a brand reply (and a follow-up every third thread)."""
    rng = random.Random(seed)
    with path.open("w", encoding="utf-8") as fh:
        fh.write("tweet_id,author_id,inbound,created_at,text,response_tweet_id,"
                 "in_response_to_tweet_id\n")
        tweet_id = 0
        while tweet_id < rows:
            brand = rng.choice(BRANDS)
            customer = str(100000 + rng.randrange(rows))
            stamp = f"Tue Oct 31 {rng.randrange(24):02d}:{rng.randrange(60):02d}:00 +0000 2017"
            first, reply = tweet_id + 1, tweet_id + 2
            text = rng.choice(TEXTS).format(n=rng.randrange(2, 90))
            fh.write(f'{first},{customer},True,{stamp},"@{brand} {text}",{reply},\n')
            fh.write(f'{reply},{brand},False,{stamp},"@{customer} sorry, DM us",,{first}\n')
            tweet_id += 2
            if tweet_id % 3 == 0 and tweet_id < rows:
                tweet_id += 1
                fh.write(f'{tweet_id},{customer},True,{stamp},"@{brand} done, still broken",,'
                         f'{reply}\n')


def run_one(rows: int) -> None:
    from radar.collect.files import import_file
    from radar.store import open_store

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "twcs.csv"
        write_twcs(path, rows)
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        started = time.perf_counter()
        with open_store(Path(tmp) / "radar.db") as store:
            result = import_file(path, store, fmt="twcs")
        seconds = time.perf_counter() - started
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        size_mb = path.stat().st_size / 1e6
        print(f"{rows:>10,} rows  {size_mb:8.1f} MB  {seconds:7.1f} s  "
              f"{result.rows_in / seconds:9,.0f} rows/s  peak RSS {peak / 1024:7.1f} MiB "
              f"(before import {before / 1024:.1f})  stored {result.posts_new:,} + skipped "
              f"{result.skipped:,} + rejected {result.rejected:,}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="*", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        run_one(args.one)
        return
    for rows in args.rows:
        subprocess.run([sys.executable, __file__, "--one", str(rows)], check=True)


if __name__ == "__main__":
    main()
