"""Copy a whole store into another (``radar store migrate --to``): a team moving its SQLite
file onto a shared PostgreSQL server, or back.

Both stores are brought to this version's schema first; the target must hold no data.
Every table is copied row for row in one transaction on the target, so a failed copy
leaves the target as empty as it was, then counted again on both sides.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from radar.store.database import StoreError
from radar.store.posts import PostStore

# Every table of the schema, parents before children. A new table must be added here:
# tests/radar/store/test_copy.py compares this list with the migrated schema.
TABLES = ("posts", "post_brands", "predictions", "checkpoints", "runs", "rejected_rows",
          "risk_history", "risk_customers", "alerts", "alert_deliveries", "imported_files")
COPY_BATCH = 5000


@dataclass(frozen=True)
class CopyCounts:
    """Rows per table: what the source holds and what the target holds after the copy."""

    source: dict[str, int]
    target: dict[str, int]


def _count(store: PostStore, table: str) -> int:
    return int(store.db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])


def _columns(store: PostStore, table: str) -> list[str]:
    from sqlalchemy import inspect

    return [c["name"] for c in inspect(store.db.connection).get_columns(table)]


def copy_store(source: PostStore, target: PostStore,
               progress: Callable[[str, int, int], None] | None = None) -> CopyCounts:
    """Copy every row of ``source`` into the empty ``target``, all or nothing.

    Args:
        progress: called as ``progress(table, rows_copied, rows_in_table)`` per batch.

    Raises:
        StoreError: the target already holds rows (nothing is copied), or the two stores'
            tables differ, or the counts differ after the copy (it is rolled back).
    """
    held = {t: n for t in TABLES if (n := _count(target, t))}
    if held:
        listed = ", ".join(f"{t} {n:,}" for t, n in held.items())
        raise StoreError(f"{target.location} already holds rows ({listed}); copy into a new, "
                         "empty store")
    counts = {t: _count(source, t) for t in TABLES}
    copied: dict[str, int] = {}
    with target.transaction():
        for table in TABLES:
            columns = _columns(source, table)
            if columns != _columns(target, table):
                raise StoreError(f"table {table} differs between {source.location} and "
                                 f"{target.location}: {columns} vs {_columns(target, table)}")
            insert = (f"INSERT INTO {table} ({', '.join(columns)}) "
                      f"VALUES ({', '.join('?' * len(columns))})")
            rows = source.db.stream(f"SELECT {', '.join(columns)} FROM {table}", (),
                                    COPY_BATCH)
            done, batch = 0, []
            for row in rows:
                batch.append(tuple(row))
                if len(batch) == COPY_BATCH:
                    target.db.executemany(insert, batch)
                    done += len(batch)
                    batch = []
                    if progress:
                        progress(table, done, counts[table])
            target.db.executemany(insert, batch)
            done += len(batch)
            if progress:
                progress(table, done, counts[table])
            copied[table] = _count(target, table)
            if copied[table] != counts[table]:
                raise StoreError(f"table {table}: {counts[table]:,} rows in the source but "
                                 f"{copied[table]:,} in the target after the copy; nothing "
                                 "was kept")
    if target.db.is_postgres:  # plans for the tables as they now are (see _note_written)
        target.db.execute("ANALYZE")
    return CopyCounts(source=counts, target=copied)
