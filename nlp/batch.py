"""Batch scoring of review dumps: streaming, resumable, with exact row accounting.

How a run works (``score_dump``):

- The input is read in chunks of ``chunk_size`` rows; only one chunk is in memory.
- Each chunk becomes a *part* in ``<out>.parts/``: its scored rows (JSONL), its
  quarantined rows with reasons, and last a manifest with its counts and brand tally.
  Every file is written under a temporary name and renamed, so a part either exists
  whole or not at all.
- ``resume=True`` keeps the complete parts of an interrupted run (after checking
  that input, columns, model and chunk size are the same), skips the input rows they
  cover, and carries on.
- At the end the parts are assembled into the output (CSV, JSONL or Parquet, by its
  extension) under a temporary name and renamed over ``out``: a half-written output
  never stands in its place. Quarantined rows go to ``<out>.quarantine.jsonl``.
- A CSV output is safe to open in a spreadsheet: a text cell (id, brand, author, text...)
  starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return gets a leading
  ``'`` (:func:`nlp.spreadsheet.spreadsheet_safe`); the probabilities stay numbers.
  JSONL and Parquet keep every text exactly.
- rows in = rows scored + rows quarantined, checked before the output is published.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nlp.classifier import Classifier
from nlp.classifier.contract import (
    BATCH_COLUMNS,
    THEME_SEPARATOR,
    Thresholds,
    score_record,
    thresholds_for,
)
from nlp.dumps import (
    ColumnMap,
    DumpError,
    DumpReader,
    RawRow,
    RowError,
    dump_format,
    peek_columns,
    row_to_post,
)
from nlp.spreadsheet import spreadsheet_safe
from nlp.summary import BrandSummary, BrandTally
from nlp.text import to_json

RUN_FILE = "run.json"
Progress = Callable[[int, int, int], None]  # (position, size, rows_done)


class BatchError(RuntimeError):
    """A batch run cannot start or resume as asked; the message says what to do."""


@dataclass(frozen=True)
class BatchResult:
    """What a batch run did: counts that add up, where the files are, the per-brand summary."""

    rows_in: int
    rows_scored: int
    rows_quarantined: int
    out_path: Path
    quarantine_path: Path | None
    summaries: list[BrandSummary]
    resumed_rows: int
    seconds: float


def parts_dir_for(out_path: Path) -> Path:
    return out_path.with_name(out_path.name + ".parts")


def quarantine_path_for(out_path: Path) -> Path:
    return out_path.with_name(out_path.name + ".quarantine.jsonl")


def score_dump(dump_path: Path, out_path: Path, classifier: Classifier,
               columns: ColumnMap = ColumnMap(), chunk_size: int = 2048, resume: bool = False,
               thresholds: Thresholds | None = None, progress: Progress | None = None
               ) -> BatchResult:
    """Score every row of ``dump_path`` into ``out_path``; see the module docstring.

    ``thresholds`` defaults to the classifier's own
    (:func:`nlp.classifier.contract.thresholds_for`).
    """
    started = time.perf_counter()
    thresholds = thresholds or thresholds_for(classifier)
    dump_path, out_path = Path(dump_path), Path(out_path)
    if chunk_size < 1:
        raise BatchError(f"chunk size must be >= 1, got {chunk_size}")
    dump_format(out_path)  # fail on an unknown output extension before any work
    if not out_path.parent.is_dir():
        raise BatchError(f"--out {out_path}: folder {out_path.parent} does not exist")
    if out_path.resolve() == dump_path.resolve():
        raise BatchError(f"--out {out_path} is the input file; choose another path")
    resolved = columns.resolve(peek_columns(dump_path, delimiter=columns.delimiter), dump_path)
    parts_dir = parts_dir_for(out_path)
    run_info = _run_info(dump_path, resolved, classifier, chunk_size, thresholds)
    done = _prepare_parts(parts_dir, run_info, resume)

    reader = DumpReader(dump_path, delimiter=resolved.delimiter)
    rows = reader.rows()
    skipped = sum(m["rows_in"] for m in done)
    for _ in range(skipped):
        if next(rows, None) is None:
            raise BatchError(f"{parts_dir} covers more rows than {dump_path} has; delete it")
    part_number = len(done)
    while True:
        chunk = [row for _, row in zip(range(chunk_size), rows, strict=False)]
        if not chunk:
            break
        part_number += 1
        done.append(_score_part(parts_dir, part_number, chunk, resolved, classifier,
                                thresholds, dump_path.name))
        if progress is not None:
            progress(reader.position, reader.size, sum(m["rows_in"] for m in done))

    return _finish(parts_dir, out_path, done, skipped, started)


def _run_info(dump_path: Path, columns: ColumnMap, classifier: Classifier, chunk_size: int,
              thresholds: Thresholds) -> dict[str, Any]:
    stat = dump_path.stat()
    return {
        "input": str(dump_path.resolve()), "input_size": stat.st_size,
        "input_mtime_ns": stat.st_mtime_ns, "columns": columns.to_dict(),
        "model_version": classifier.model_version, "chunk_size": chunk_size,
        "thresholds": [thresholds.complaint, thresholds.theme, thresholds.churn_intent,
                       dict(sorted(thresholds.per_theme.items()))],
    }


def _prepare_parts(parts_dir: Path, run_info: dict[str, Any], resume: bool) -> list[dict]:
    """Start a parts folder, or reopen an interrupted run's; return its complete parts."""
    run_file = parts_dir / RUN_FILE
    if parts_dir.exists():
        if not resume:
            raise BatchError(f"an interrupted run left {parts_dir}; pass --resume to continue "
                             "it, or delete that folder to start over")
        previous = json.loads(run_file.read_text()) if run_file.exists() else None
        if previous != run_info:
            changed = sorted(k for k in run_info if (previous or {}).get(k) != run_info[k])
            raise BatchError(f"cannot resume from {parts_dir}: {', '.join(changed)} changed "
                             "since it was started; delete that folder to start over")
        manifests = sorted(parts_dir.glob("part-*.json"))
        return [json.loads(m.read_text()) for m in manifests]
    parts_dir.mkdir(parents=True)
    _write_atomically(run_file, json.dumps(run_info, sort_keys=True))
    return []


def score_rows(rows: list[RawRow], columns: ColumnMap, classifier: Classifier,
               thresholds: Thresholds, source: str
               ) -> tuple[list[dict[str, Any]], list[dict[str, Any]], BrandTally]:
    """Score a chunk of rows: the scored records (the contract's columns plus ``text``, in
    row order), the quarantined rows (``row``, ``line``, ``reason``, ``raw``) and the
    chunk's brand tally. The one implementation behind both engines (this module's parts
    and :mod:`nlp.spark_batch`'s executors), so both score and quarantine alike."""
    posts, numbers, quarantined = [], [], []
    for row in rows:
        try:
            posts.append(row_to_post(row, columns, source))
            numbers.append(row.number)
        except (RowError, ValueError, TypeError) as exc:
            quarantined.append({"row": row.number, "line": row.line, "reason": str(exc),
                                "raw": _jsonable(row.values if row.values is not None
                                                 else row.raw)})
    predictions = classifier.predict([p.text for p in posts], keys=[p.key for p in posts]) \
        if posts else []
    tally = BrandTally(thresholds.complaint, thresholds.theme, thresholds.per_theme)
    records = []
    for post, prediction in zip(posts, predictions, strict=True):
        tally.add(post.brand, prediction)
        record = score_record(prediction, post.post_id, post.brand, post.author_id,
                              post.created_at, thresholds)
        record["themes"] = THEME_SEPARATOR.join(record["themes"])
        record["text"] = post.text
        records.append(record)
    return records, quarantined, tally


def _score_part(parts_dir: Path, number: int, chunk: list[RawRow], columns: ColumnMap,
                classifier: Classifier, thresholds: Thresholds, source: str) -> dict:
    records, quarantined, tally = score_rows(chunk, columns, classifier, thresholds, source)
    stem = parts_dir / f"part-{number:06d}"
    _write_atomically(stem.with_suffix(".scored.jsonl"),
                      "".join(to_json(r) + "\n" for r in records))
    _write_atomically(stem.with_suffix(".quarantine.jsonl"),
                      "".join(to_json(q) + "\n" for q in quarantined))
    manifest = {"part": number, "rows_in": len(chunk), "rows_scored": len(records),
                "rows_quarantined": len(quarantined), "tally": tally.to_dict()}
    _write_atomically(stem.with_suffix(".json"), json.dumps(manifest))  # last: part complete
    return manifest


def _finish(parts_dir: Path, out_path: Path, parts: list[dict], resumed_rows: int,
            started: float) -> BatchResult:
    rows_in = sum(p["rows_in"] for p in parts)
    scored = sum(p["rows_scored"] for p in parts)
    quarantined = sum(p["rows_quarantined"] for p in parts)
    if rows_in != scored + quarantined:  # pragma: no cover - an invariant, not input
        raise BatchError(f"row accounting broken: {rows_in} in, {scored} scored, "
                         f"{quarantined} quarantined; {parts_dir} kept for inspection")
    tally = BrandTally()
    for part in parts:
        tally.merge(BrandTally.from_dict(part["tally"]))
    stems = [parts_dir / f"part-{p['part']:06d}" for p in parts]
    _assemble(out_path, [s.with_suffix(".scored.jsonl") for s in stems])
    quarantine_path = quarantine_path_for(out_path)
    if quarantined:
        _concat_atomically(quarantine_path, [s.with_suffix(".quarantine.jsonl") for s in stems])
    else:
        quarantine_path.unlink(missing_ok=True)  # a stale file from an earlier run would mislead
    shutil.rmtree(parts_dir)
    return BatchResult(rows_in, scored, quarantined, out_path,
                       quarantine_path if quarantined else None, tally.summaries(),
                       resumed_rows, time.perf_counter() - started)


def _assemble(out_path: Path, part_files: list[Path]) -> None:
    """The parts' scored rows as the output file: JSONL and Parquet exact, CSV with its text
    cells made spreadsheet-safe (:func:`_csv_value`)."""
    fmt = dump_format(out_path)
    tmp = out_path.with_name(f".{out_path.name}.tmp")
    if fmt == "jsonl":
        _concat(tmp, part_files)
    elif fmt == "csv":
        with tmp.open("w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, fieldnames=BATCH_COLUMNS)
            writer.writeheader()
            for record in _records(part_files):
                writer.writerow({k: _csv_value(v) for k, v in record.items()})
    else:
        _write_parquet(tmp, part_files)
    os.replace(tmp, out_path)


def _write_parquet(tmp: Path, part_files: list[Path], rows_per_group: int = 8192) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = output_schema()
    with pq.ParquetWriter(tmp, schema) as writer:
        buffer: list[dict] = []
        for record in _records(part_files):
            buffer.append(record)
            if len(buffer) >= rows_per_group:
                writer.write_table(pa.Table.from_pylist(buffer, schema=schema))
                buffer = []
        if buffer:
            writer.write_table(pa.Table.from_pylist(buffer, schema=schema))


def output_schema():
    """The scored output's Arrow schema: flags as booleans, probabilities as float64, the
    rest text (Parquet outputs of both engines)."""
    import pyarrow as pa

    return pa.schema([
        (name, pa.bool_() if name in ("complaint", "churn_intent")
         else pa.float64() if name.startswith("p_") else pa.string())
        for name in BATCH_COLUMNS
    ])


def _records(part_files: list[Path]):
    for path in part_files:
        with path.open(encoding="utf-8") as fh:
            for line in fh:
                yield json.loads(line)


def _csv_value(value: Any) -> Any:
    """A CSV cell: None empty, booleans ``true``/``false``, numbers as they are, and text
    that a spreadsheet would run as a formula with a leading ``'``
    (:func:`nlp.spreadsheet.spreadsheet_safe`)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return spreadsheet_safe(value)


def _concat(target: Path, part_files: list[Path]) -> None:
    with target.open("wb") as out:
        for path in part_files:
            with path.open("rb") as fh:
                shutil.copyfileobj(fh, out)


def _concat_atomically(target: Path, part_files: list[Path]) -> None:
    tmp = target.with_name(f".{target.name}.tmp")
    _concat(tmp, part_files)
    os.replace(tmp, target)


def _write_atomically(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def _jsonable(value: Any) -> Any:
    try:
        json.dumps(value)
        return value
    except (TypeError, ValueError):
        return repr(value)


__all__ = ["BatchError", "BatchResult", "DumpError", "output_schema", "score_dump", "score_rows"]
