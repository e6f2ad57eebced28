"""Batch scoring of one large Parquet dump: the single-process engine against Spark
``local[N]`` on the same rows, in the same run. Prints rows/s, the ratio, and peak memory
(this process for the single-process engine; the Spark JVM and each Python worker, which
is where the model lives, for Spark).

    .venv/bin/python bench/spark_score.py --model models/baseline              # 1,000,000 rows
    .venv/bin/python bench/spark_score.py --model models/minilm --rows 20000   # the transformer

``--model`` is a model folder (train the TF-IDF baseline in about a minute with
``radar train --config training/configs/baseline.yaml``). The dump repeats the airline
tweets of the shared mirror (``../shared/datasets``) with a brand, an author, a date, a
unique id and 1 row in 200 malformed (no text), so both engines quarantine too.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

REPO = Path(__file__).resolve().parents[1]


def make_dump(path: Path, rows: int) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from training import datasets as registry

    os.environ.setdefault("RADAR_DATA_MIRROR", str(REPO.parent / "shared" / "datasets"))
    texts = [r["text"] for r in registry.load("airline-sentiment-2015", download=False)]
    brands = ["Acme", "Bolt", "Cora", "Dune", "Echo"]
    writer = None
    for start in range(0, rows, 100_000):
        n = min(100_000, rows - start)
        ids = range(start, start + n)
        table = pa.table({
            "id": [f"t{i}" for i in ids],
            "text": [None if i % 200 == 7 else texts[i % len(texts)] for i in ids],
            "brand": [brands[i % len(brands)] for i in ids],
            "author_id": [f"a{i % 50_000}" for i in ids],
            "created_at": [f"2015-02-{1 + i % 28:02d}T10:{i % 60:02d}:00Z" for i in ids]})
        if writer is None:
            writer = pq.ParquetWriter(path, table.schema)
        writer.write_table(table, row_group_size=50_000)
    writer.close()


class PeakMemory:
    """Samples the resident memory of this process's children (Spark's JVM and its Python
    workers) every 0.2 s; the peak of the JVM and of the largest Python worker."""

    def __init__(self) -> None:
        import psutil

        self.me = psutil.Process()
        self.jvm = 0
        self.worker = 0
        self.workers_seen: set[int] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        import psutil

        while not self._stop.wait(0.2):
            for child in self.me.children(recursive=True):
                try:
                    rss, name = child.memory_info().rss, " ".join(child.cmdline()[:3])
                except psutil.Error:
                    continue
                if "java" in name:
                    self.jvm = max(self.jvm, rss)
                elif "python" in name:
                    self.worker = max(self.worker, rss)
                    self.workers_seen.add(child.pid)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, help="a model folder")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--partitions", type=int, default=None)
    parser.add_argument("--engines", default="local,spark")
    args = parser.parse_args()

    from nlp.batch import score_dump
    from nlp.classifier import load_classifier
    from nlp.spark_batch import score_parquet, spark_session

    with tempfile.TemporaryDirectory(prefix="radar-spark-bench-") as folder:
        tmp = Path(folder)
        dump = tmp / "dump.parquet"
        started = time.perf_counter()
        make_dump(dump, args.rows)
        print(f"dump: {args.rows:,} rows, {dump.stat().st_size / 1e6:,.0f} MB Parquet "
              f"({time.perf_counter() - started:.0f} s to write)", flush=True)
        results = {}
        if "local" in args.engines:
            classifier = load_classifier(args.model)
            result = score_dump(dump, tmp / "local.parquet", classifier)
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            results["local"] = result.rows_in / result.seconds
            print(f"single process: {result.rows_in:,} rows in {result.seconds:.0f} s = "
                  f"{results['local']:,.0f} rows/s (scored {result.rows_scored:,}, "
                  f"quarantined {result.rows_quarantined:,}); peak memory {peak:,.0f} MB",
                  flush=True)
        if "spark" in args.engines:
            spark = spark_session(args.master)
            with PeakMemory() as memory:
                result = score_parquet(dump, tmp / "spark.parquet", Path(args.model),
                                       master=args.master, partitions=args.partitions,
                                       spark=spark)
            results["spark"] = result.rows_in / result.seconds
            print(f"spark {args.master}: {result.rows_in:,} rows in {result.seconds:.0f} s = "
                  f"{results['spark']:,.0f} rows/s over {result.partitions} partitions "
                  f"(scored {result.rows_scored:,}, quarantined {result.rows_quarantined:,});"
                  f" peak memory: JVM {memory.jvm / 2**20:,.0f} MB, largest Python worker "
                  f"{memory.worker / 2**20:,.0f} MB ({len(memory.workers_seen)} workers seen)",
                  flush=True)
            spark.stop()
        if len(results) == 2:
            print(f"spark / single process: {results['spark'] / results['local']:.2f}x")


if __name__ == "__main__":
    main()
