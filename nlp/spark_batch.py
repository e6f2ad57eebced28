"""Batch scoring on Apache Spark: a review dump too big for one process, scored by the
executors of a cluster (or ``local[N]``) with the same classifier, rows and contract as
:func:`nlp.batch.score_dump`.

Two entry points:

- :func:`score_dataframe` for people who already hold a Spark DataFrame (a notebook, a
  Databricks job): it returns a DataFrame with one row per input row, the contract's
  columns for a scored row, ``_reason`` and ``_quarantined`` (the quarantine record as
  JSON: row, line, reason, raw) for a quarantined one::

      from nlp.spark_batch import score_dataframe, ROW_COLUMN
      scored = score_dataframe(spark_df, "models/minilm-...", text_col="text",
                               id_col="tweet_id", brand_col="brand")
      scored.filter("_reason IS NULL").drop("_reason", "_quarantined").write.parquet(...)

- :func:`score_parquet` behind ``radar score DUMP --out OUT --engine spark``: Parquet in,
  a folder of Parquet part files out (input order), quarantined rows in
  ``OUT.quarantine/`` (part files of the same JSON lines as ``OUT.quarantine.jsonl`` of the
  single-process engine), and rows in = scored + quarantined checked.

How the work is spread: the model folder is shipped to every executor once
(``SparkContext.addFile``); each Python worker loads the classifier the first time one of
its tasks runs and keeps it for the next (a per-process cache), so a model load and a
tokenizer are paid per executor process, not per partition or row. Rows travel as Arrow
batches (``mapInArrow``) and each batch goes through :func:`nlp.batch.score_rows`, the
single-process engine's own function, so both engines score and quarantine alike.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
import tempfile
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nlp.batch import BatchError, BatchResult, output_schema, score_rows
from nlp.classifier.contract import BATCH_COLUMNS, THEME_SEPARATOR, Thresholds, thresholds_for
from nlp.dumps import ColumnMap, DumpError
from nlp.summary import NO_BRAND, BrandSummary, BrandTally
from nlp.text import to_json

SPARK_INSTALL = "pip install 'complaint-radar[spark]' (and Java 17: apt-get install " \
                "openjdk-17-jre-headless)"
ROW_COLUMN = "_row"  # the input row's 1-based number (its position in the Parquet file)
REASON_COLUMN = "_reason"  # why a row was quarantined; null for a scored row
QUARANTINE_COLUMN = "_quarantined"  # a quarantined row's record (row, line, reason, raw)
DEFAULT_MASTER = "local[2]"

_CLASSIFIERS: dict[tuple[str, str], Any] = {}  # per Python worker: (model, backend) -> model


class SparkUnavailable(BatchError):
    """pyspark or Java is missing; the message gives the install command."""


@dataclass(frozen=True)
class SparkResult(BatchResult):
    """A Spark run's :class:`~nlp.batch.BatchResult` (never resumed: a killed job is run
    again), with the partitions the rows were spread over."""

    partitions: int = 1


def spark_session(master: str | None = DEFAULT_MASTER,
                  app_name: str = "complaint-radar score"):
    """A Spark session on ``master`` (``local[2]``, ``spark://host:7077``, ``yarn``...);
    ``None`` leaves it to ``spark-submit --master``.

    A session already running in this process (a notebook's) is reused as it is.
    """
    try:
        from pyspark.sql import SparkSession
    except ImportError as exc:
        raise SparkUnavailable(f"--engine spark needs pyspark: {SPARK_INSTALL}") from exc
    if not os.environ.get("JAVA_HOME") and shutil.which("java") is None:
        raise SparkUnavailable(f"--engine spark needs Java 17 (no java on PATH, no "
                               f"JAVA_HOME): {SPARK_INSTALL}")
    if master is not None and master.startswith("local"):
        # Workers on this machine run this interpreter (with the project installed), not
        # the system's; on a cluster the executors' own Python is used.
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    # pyspark 4.x warns about pandas 3 on every import; this engine passes Arrow, not pandas.
    warnings.filterwarnings("ignore", message="PySpark does not yet fully support pandas")
    os.environ.setdefault("PYTHONWARNINGS", "ignore::FutureWarning")  # the workers' copy
    if master is not None and master.startswith("local"):
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")  # one machine: stay on loopback
    builder = SparkSession.builder if master is None else SparkSession.builder.master(master)
    spark = (builder.appName(app_name)
             .config("spark.ui.showConsoleProgress", "false")
             .config("spark.sql.execution.arrow.maxRecordsPerBatch", "1024")
             .getOrCreate())
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def _output_spark_schema():
    import pyarrow as pa
    from pyspark.sql.types import (
        BooleanType,
        DoubleType,
        LongType,
        StringType,
        StructField,
        StructType,
    )

    fields = [StructField(f.name, BooleanType() if f.type == pa.bool_() else
                          DoubleType() if f.type == pa.float64() else StringType())
              for f in output_schema()]
    return StructType([StructField(ROW_COLUMN, LongType()), *fields,
                       StructField(REASON_COLUMN, StringType()),
                       StructField(QUARANTINE_COLUMN, StringType())])


def _worker_classifier(model_name: str, backend: str):
    """This worker's classifier, loaded from the shipped model folder on first use."""
    key = (model_name, backend)
    if key not in _CLASSIFIERS:
        from pyspark import SparkFiles, TaskContext

        from nlp.classifier import load_classifier

        context = TaskContext.get()
        cpus = context.cpus() if context is not None else 1
        try:
            import torch

            torch.set_num_threads(max(1, cpus))  # one task, its own cores: no oversubscription
        except ImportError:
            pass
        _CLASSIFIERS[key] = load_classifier(Path(SparkFiles.get(model_name)), backend=backend)
    return _CLASSIFIERS[key]


def _model_digest(model_dir: Path) -> str:
    """A name for this model's content: its files' paths, sizes and times, and meta.json."""
    digest = hashlib.sha256()
    for path in sorted(p for p in model_dir.rglob("*") if p.is_file()):
        stat = path.stat()
        digest.update(f"{path.relative_to(model_dir)}|{stat.st_size}|{stat.st_mtime_ns}\n"
                      .encode())
    meta = model_dir / "meta.json"
    if meta.is_file():
        digest.update(meta.read_bytes())
    return digest.hexdigest()[:16]


_SHIPPED: dict[str, str] = {}  # driver: model folder name + digest -> the copy shipped


def _ship_model(spark, model_dir: Path) -> str:
    """Send the model folder to every executor once, under a name of its content.

    Two folders of one name, or a model retrained in place, get different names, so a
    worker never keeps scoring with a model other than the one the driver read (Spark
    refuses to ship two different folders of one name in a session).
    """
    name = f"{model_dir.name}-{_model_digest(model_dir)}"
    if name not in _SHIPPED:
        staging = Path(tempfile.mkdtemp(prefix="radar-spark-model-")) / name
        shutil.copytree(model_dir, staging)
        spark.sparkContext.addFile(str(staging), recursive=True)
        _SHIPPED[name] = str(staging)
    return name


def _score_batches(batches: Iterator[Any], model_name: str, backend: str,
                   columns: ColumnMap, thresholds: Thresholds, source: str,
                   value_columns: list[str]) -> Iterator[Any]:
    """mapInArrow's function: Arrow batches of input rows in, scored or quarantined out."""
    import pyarrow as pa

    from nlp.dumps import parquet_rows

    classifier = None
    schema = pa.schema([(ROW_COLUMN, pa.int64()), *output_schema(),
                        (REASON_COLUMN, pa.string()), (QUARANTINE_COLUMN, pa.string())])
    for batch in batches:
        if batch.num_rows == 0:
            continue
        if classifier is None:
            classifier = _worker_classifier(model_name, backend)
        numbers = batch.column(ROW_COLUMN).to_pylist()
        values = batch.select(value_columns)
        rows = parquet_rows(values, numbers)
        records, quarantined, _ = score_rows(rows, columns, classifier, thresholds, source)
        dropped = {q["row"] for q in quarantined}
        scored_numbers = [n for n in numbers if n not in dropped]  # records keep row order
        out = [{ROW_COLUMN: n, **r, REASON_COLUMN: None, QUARANTINE_COLUMN: None}
               for n, r in zip(scored_numbers, records, strict=True)]
        out += [{ROW_COLUMN: q["row"], **dict.fromkeys(BATCH_COLUMNS),
                 REASON_COLUMN: q["reason"], QUARANTINE_COLUMN: to_json(q)}
                for q in quarantined]
        yield pa.RecordBatch.from_pylist(out, schema=schema)


def score_dataframe(df, model_dir: str | Path, columns: ColumnMap | None = None,
                    source: str = "spark", backend: str = "torch",
                    thresholds: Thresholds | None = None, **named_columns: str):
    """Score a Spark DataFrame with the model folder ``model_dir``.

    Args:
        df: the posts; a ``_row`` column (long), if present, numbers the rows (a row
            without an id is called ``row-<_row>``); without one, rows are numbered by
            ``monotonically_increasing_id() + 1`` (unique, not positions).
        model_dir: a model folder readable on the driver; it is shipped to the executors.
        columns: which columns hold text, id, brand, author, time (the defaults of
            ``radar score``), or give them as ``text_col=``, ``id_col=``... keywords.
        thresholds: default: the model's own.

    Returns:
        A DataFrame: ``_row``, the contract's columns and ``text`` for scored rows,
        ``_reason`` (null when scored) and ``_quarantined`` (JSON) for quarantined rows.
    """
    from pyspark.sql import functions as F

    from nlp.classifier import load_classifier

    columns = columns or ColumnMap(**{k.removesuffix("_col"): v
                                      for k, v in named_columns.items()})
    value_columns = [c for c in df.columns if c != ROW_COLUMN]
    resolved = columns.resolve(value_columns, Path("the DataFrame"))
    model_dir = Path(model_dir).resolve()
    if thresholds is None:
        thresholds = thresholds_for(load_classifier(model_dir, backend=backend))
    if ROW_COLUMN not in df.columns:
        df = df.withColumn(ROW_COLUMN, F.monotonically_increasing_id() + 1)
    name = _ship_model(df.sparkSession, model_dir)

    def score(batches):
        return _score_batches(batches, name, backend, resolved, thresholds, source,
                              value_columns)

    return df.mapInArrow(score, _output_spark_schema())


def _spark_written(folder: Path) -> bool:
    """A folder only Spark's writer could have left: part files and its markers."""
    return folder.is_dir() and all(
        p.name.startswith(("part-", "_SUCCESS", "._SUCCESS", "_temporary", ".part-"))
        for p in folder.iterdir())


def check_job(dump_path: Path, out_path: Path) -> None:
    """Refuse a Spark scoring job before any work (no JVM, no model): the dump must be one
    Parquet file, and ``--out`` and the folders beside it that the job writes
    (``OUT.quarantine``, ``OUT.spark-stage``) new or earlier Spark outputs, never a
    folder of other files, and never the folder holding the dump.

    Raises:
        DumpError: the dump is not one Parquet file.
        BatchError: an output path is taken.
    """
    dump_path, out_path = Path(dump_path), Path(out_path)
    if dump_path.suffix.lower() != ".parquet" or not dump_path.is_file():
        raise DumpError(f"{dump_path}: --engine spark reads one Parquet file; convert a CSV "
                        "or JSONL dump to Parquet first, or score it with --engine local")
    if out_path.resolve() == dump_path.resolve():
        raise BatchError(f"--out {out_path} is the input file; choose another path")
    if out_path.resolve() in dump_path.resolve().parents:
        raise BatchError(f"--out {out_path} holds the input file; choose another path")
    if not out_path.parent.is_dir():
        raise BatchError(f"--out {out_path}: folder {out_path.parent} does not exist")
    for path in (out_path, *_siblings(out_path)):
        if path.exists() and not _spark_written(path):
            raise BatchError(f"{path} exists and is not an earlier Spark output (a folder "
                             "of part-* files); choose another --out")


def _siblings(out_path: Path) -> tuple[Path, Path]:
    """The quarantine and staging folders a job writes beside ``out_path``."""
    return (out_path.with_name(out_path.name + ".quarantine"),
            out_path.with_name(out_path.name + ".spark-stage"))


def score_parquet(dump_path: Path, out_path: Path, model_dir: Path,
                  columns: ColumnMap = ColumnMap(), master: str | None = DEFAULT_MASTER,
                  partitions: int | None = None, backend: str = "torch",
                  spark=None) -> SparkResult:
    """Score a Parquet dump on Spark into the folder ``out_path`` (see the module docstring).

    A run killed part way leaves no half output in its place (Spark commits a folder at its
    end); running the same command again writes the same output.
    """
    started = time.perf_counter()
    dump_path, out_path = Path(dump_path), Path(out_path)
    check_job(dump_path, out_path)
    spark = spark or spark_session(master)  # first: a missing pyspark says how to install it
    from pyspark.sql import functions as F

    # file: URIs: on a cluster whose default filesystem is HDFS a bare path means HDFS,
    # while these paths were checked here, on a filesystem the executors share.
    source_uri = dump_path.resolve().as_uri()
    df = spark.read.parquet(source_uri)
    # The row's position in the file, as the single-process reader numbers it.
    df = df.select(*[F.col(f"`{c}`") for c in df.columns],
                   (F.col("_metadata.row_index") + 1).alias(ROW_COLUMN))
    if partitions:
        df = df.repartition(partitions)
    scored = score_dataframe(df, model_dir, columns, source=dump_path.name, backend=backend)
    quarantine_path, stage = _siblings(out_path)
    scored.write.mode("overwrite").parquet(stage.resolve().as_uri())  # the model runs here
    staged = spark.read.parquet(stage.resolve().as_uri())
    ok = staged.filter(F.col(REASON_COLUMN).isNull())
    bad = staged.filter(F.col(REASON_COLUMN).isNotNull())
    ok.orderBy(ROW_COLUMN).select(*BATCH_COLUMNS).write.mode("overwrite") \
        .parquet(out_path.resolve().as_uri())
    rows_in, rows_scored = staged.count(), ok.count()
    rows_quarantined = rows_in - rows_scored
    if rows_quarantined:
        # the same JSON lines as the single-process engine's quarantine file
        bad.orderBy(ROW_COLUMN).select(QUARANTINE_COLUMN).write.mode("overwrite") \
            .text(quarantine_path.resolve().as_uri())
    else:
        shutil.rmtree(quarantine_path, ignore_errors=True)
    expected = spark.read.parquet(source_uri).count()
    if rows_in != expected:  # pragma: no cover - an invariant, not input
        raise BatchError(f"row accounting broken: {expected} rows in the file, {rows_in} "
                         f"scored or quarantined; {stage} kept for inspection")
    summaries = _brand_summaries(ok)
    shutil.rmtree(stage, ignore_errors=True)
    return SparkResult(rows_in, rows_scored, rows_quarantined, out_path,
                       quarantine_path if rows_quarantined else None, summaries,
                       resumed_rows=0, seconds=time.perf_counter() - started,
                       partitions=df.rdd.getNumPartitions())


def _brand_summaries(scored) -> list[BrandSummary]:
    """The per-brand summary of ``radar score``, counted by Spark from the output's flags
    (a complaint is ``complaint``, a theme is in ``themes``) instead of on the driver."""
    from pyspark.sql import functions as F

    from nlp.taxonomy import THEME_KEYS

    brand = F.coalesce(F.col("brand"), F.lit(NO_BRAND)).alias("brand")
    themes = F.split(F.coalesce(F.col("themes"), F.lit("")), f"\\{THEME_SEPARATOR}")
    complaint = F.col("complaint")
    aggregates = [F.count(F.lit(1)).alias("posts"),
                  F.sum((F.col("sentiment") == "negative").cast("int")).alias("negative"),
                  F.sum(complaint.cast("int")).alias("complaints"),
                  F.max("model_version").alias("model_version")]
    aggregates += [F.sum((complaint & F.array_contains(themes, key)).cast("int")).alias(key)
                   for key in THEME_KEYS]
    tally = BrandTally()
    for row in scored.groupBy(brand).agg(*aggregates).collect():
        tally.counts[row["brand"]] = {
            "posts": row["posts"], "negative": row["negative"],
            "complaints": row["complaints"], "model_version": row["model_version"] or "",
            "themes": {k: row[k] for k in THEME_KEYS if row[k]}}
    return tally.summaries()


__all__ = ["DEFAULT_MASTER", "ROW_COLUMN", "SparkResult", "SparkUnavailable", "check_job",
           "score_dataframe", "score_parquet", "spark_session"]


def main(argv: list[str] | None = None) -> int:
    """``spark-submit .../nlp/spark_batch.py DUMP.parquet OUT --model DIR [--text-col C]``:
    the master, executors and memory come from spark-submit's own options."""
    import argparse

    parser = argparse.ArgumentParser(prog="spark_batch.py", description=main.__doc__)
    parser.add_argument("dump", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--model", type=Path, required=True, help="a model folder")
    parser.add_argument("--partitions", type=int)
    parser.add_argument("--backend", default="torch")
    for field in ("text", "id", "brand", "author", "time"):
        parser.add_argument(f"--{field}-col")
    parser.add_argument("--time-format")
    args = parser.parse_args(argv)
    columns = ColumnMap(text=args.text_col, id=args.id_col, brand=args.brand_col,
                        author=args.author_col, time=args.time_col,
                        time_format=args.time_format)
    result = score_parquet(args.dump, args.out, args.model, columns, master=None,
                           partitions=args.partitions, backend=args.backend)
    print(f"rows in {result.rows_in:,} = scored {result.rows_scored:,} + quarantined "
          f"{result.rows_quarantined:,}; output {result.out_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
