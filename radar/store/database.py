"""The store's database layer: the connection, the schema and its migrations, stored times.

SQLite by default (one file, ``data/radar.db``; ``--db`` or ``$RADAR_DB`` to move it).
Callers use the store's functions and :class:`~radar.store.posts.PostStore` methods
only; all SQL lives in this package and is plain SQL that PostgreSQL also runs
(``INSERT ... ON CONFLICT``, no ``AUTOINCREMENT``, no ``INSERT OR REPLACE``, times as
ISO 8601 text). :class:`Database` is the one small layer that knows the driver: it
converts the ``?`` placeholders to the driver's style and owns transactions.

The schema carries a version; :data:`MIGRATIONS` brings an older file up to date on
open, and a file from a newer complaint-radar is refused rather than misread.
"""

from __future__ import annotations

import os
import re
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

DEFAULT_DB_PATH = Path("data/radar.db")
DB_ENV = "RADAR_DB"
TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"  # fixed width, so text order is time order
KEY_CHUNK = 500  # keys per IN (...) lookup

# Each entry brings the schema from version - 1 to version. Append, never edit.
MIGRATIONS: list[tuple[int, tuple[str, ...]]] = [
    (1, (
        """CREATE TABLE posts (
            source TEXT NOT NULL,
            post_id TEXT NOT NULL,
            brand TEXT,
            author_id TEXT,
            created_at TEXT,
            text TEXT NOT NULL,
            url TEXT,
            parent_id TEXT,
            lang TEXT,
            raw TEXT,
            first_run TEXT,
            collected_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            PRIMARY KEY (source, post_id)
        )""",
        "CREATE INDEX posts_brand_created ON posts (brand, created_at)",
        """CREATE TABLE predictions (
            source TEXT NOT NULL,
            post_id TEXT NOT NULL,
            model_version TEXT NOT NULL,
            sentiment TEXT NOT NULL,
            sentiment_probs TEXT NOT NULL,
            complaint REAL NOT NULL,
            themes TEXT NOT NULL,
            churn_intent REAL,
            scored_at TEXT NOT NULL,
            PRIMARY KEY (source, post_id, model_version)
        )""",
        """CREATE TABLE checkpoints (
            source TEXT NOT NULL,
            query_key TEXT NOT NULL,
            state TEXT,
            done INTEGER NOT NULL,
            since TEXT,
            high_water TEXT,
            updated_at TEXT NOT NULL,
            PRIMARY KEY (source, query_key)
        )""",
        """CREATE TABLE runs (
            run_id TEXT PRIMARY KEY,
            kind TEXT NOT NULL,
            source TEXT NOT NULL,
            target TEXT NOT NULL,
            brand TEXT,
            started_at TEXT NOT NULL,
            finished_at TEXT,
            status TEXT NOT NULL,
            pages INTEGER NOT NULL,
            requests INTEGER NOT NULL,
            rows_in INTEGER NOT NULL,
            posts_new INTEGER NOT NULL,
            posts_seen INTEGER NOT NULL,
            rejected INTEGER NOT NULL,
            message TEXT
        )""",
        """CREATE TABLE rejected_rows (
            run_id TEXT NOT NULL,
            line INTEGER NOT NULL,
            reason TEXT NOT NULL,
            raw TEXT,
            PRIMARY KEY (run_id, line)
        )""",
    )),
    # A post can be about several brands (collected under two brands' queries): the
    # brands live in their own table; posts.brand keeps the first one.
    (2, (
        """CREATE TABLE post_brands (
            source TEXT NOT NULL,
            post_id TEXT NOT NULL,
            brand TEXT NOT NULL,
            PRIMARY KEY (source, post_id, brand)
        )""",
        "CREATE INDEX post_brands_brand ON post_brands (brand)",
        "INSERT INTO post_brands (source, post_id, brand) "
        "SELECT source, post_id, brand FROM posts WHERE brand IS NOT NULL",
    )),
    # Monitoring (issue [G]): the risk history per brand and window, the customers behind
    # each point, alerts and their deliveries, and the dump files already imported.
    (3, (
        """CREATE TABLE risk_history (
            brand TEXT NOT NULL,
            window_start TEXT NOT NULL,
            window_end TEXT NOT NULL,
            score_version TEXT NOT NULL,
            model_version TEXT NOT NULL,
            customers INTEGER NOT NULL,
            posts INTEGER NOT NULL,
            at_risk_share REAL NOT NULL,
            ci_low REAL NOT NULL,
            ci_high REAL NOT NULL,
            ci_method TEXT NOT NULL,
            expected_at_risk REAL NOT NULL,
            previous_share REAL,
            trend REAL,
            trend_low REAL,
            trend_high REAL,
            trend_significant INTEGER,
            drivers TEXT NOT NULL,
            computed_at TEXT NOT NULL,
            PRIMARY KEY (brand, window_start, window_end, score_version)
        )""",
        """CREATE TABLE risk_customers (
            brand TEXT NOT NULL,
            window_start TEXT NOT NULL,
            window_end TEXT NOT NULL,
            score_version TEXT NOT NULL,
            customer TEXT NOT NULL,
            risk REAL NOT NULL,
            drivers TEXT NOT NULL,
            post_keys TEXT NOT NULL,
            PRIMARY KEY (brand, window_start, window_end, score_version, customer)
        )""",
        """CREATE TABLE alerts (
            alert_key TEXT PRIMARY KEY,
            brand TEXT NOT NULL,
            window_end TEXT NOT NULL,
            kind TEXT NOT NULL,
            payload TEXT NOT NULL,
            created_at TEXT NOT NULL
        )""",
        """CREATE TABLE alert_deliveries (
            alert_key TEXT NOT NULL,
            channel TEXT NOT NULL,
            attempts INTEGER NOT NULL,
            status TEXT NOT NULL,
            last_error TEXT,
            updated_at TEXT NOT NULL,
            PRIMARY KEY (alert_key, channel)
        )""",
        """CREATE TABLE imported_files (
            sha256 TEXT PRIMARY KEY,
            path TEXT NOT NULL,
            run_id TEXT NOT NULL,
            imported_at TEXT NOT NULL
        )""",
    )),
]
SCHEMA_VERSION = MIGRATIONS[-1][0]


class StoreError(RuntimeError):
    """The store cannot be opened or used as asked; the message says what to do."""


def format_time(moment: datetime | None) -> str | None:
    """UTC datetime -> fixed-width ISO 8601 text (sortable as text)."""
    if moment is None:
        return None
    return moment.astimezone(UTC).strftime(TIME_FORMAT)


def parse_stored_time(text: str | None) -> datetime | None:
    if text is None:
        return None
    return datetime.strptime(text, TIME_FORMAT).replace(tzinfo=UTC)


def now_text() -> str:
    return format_time(datetime.now(UTC))


# A database URL ("postgresql://..."): as a Path its "//" collapses to "/", so match one.
_URL_RE = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:/")


def resolve_db_path(db_path: Path | str | None = None) -> Path:
    """``--db`` if given, else ``$RADAR_DB``, else ``data/radar.db``.

    Raises:
        StoreError: the value is a database URL. Stores are SQLite files for now; a URL
            would otherwise become a file named like it, and a team that believes it
            shares a server would each write their own file.
    """
    given = str(db_path) if db_path is not None and str(db_path) else os.environ.get(DB_ENV)
    if not given:
        return DEFAULT_DB_PATH
    if _URL_RE.match(given):
        raise StoreError(f"{given!r} is a database URL; the store is a SQLite file for now "
                         "(a PostgreSQL store is not supported yet): give a file path such as "
                         "data/radar.db")
    return Path(given)


class Database:
    """A DB-API connection, ``?`` placeholders, and explicit transactions.

    ``paramstyle`` is the driver's: ``qmark`` (sqlite3) or ``format`` (psycopg).
    The connection must be in autocommit mode; transactions are ``BEGIN``/``COMMIT``.
    """

    def __init__(self, connection: Any, paramstyle: str = "qmark"):
        if paramstyle not in ("qmark", "format"):
            raise StoreError(f"unsupported paramstyle {paramstyle!r} (qmark or format)")
        self.connection = connection
        self.paramstyle = paramstyle
        self._depth = 0

    def _sql(self, sql: str) -> str:
        return sql.replace("?", "%s") if self.paramstyle == "format" else sql

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        cursor = self.connection.cursor()
        cursor.execute(self._sql(sql), tuple(params))
        return cursor

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        cursor = self.connection.cursor()
        cursor.executemany(self._sql(sql), [tuple(r) for r in rows])

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """All or nothing; nested calls join the outer transaction."""
        if self._depth:
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
            return
        # SQLite: take the write lock when the transaction starts, so a second writer waits
        # (up to the connection's timeout) instead of failing with "database is locked"
        # when a deferred transaction cannot upgrade from reading to writing.
        self.execute("BEGIN IMMEDIATE" if self.paramstyle == "qmark" else "BEGIN")
        self._depth = 1
        try:
            yield
        except BaseException:
            self._depth = 0
            self.execute("ROLLBACK")
            raise
        self._depth = 0
        self.execute("COMMIT")

    def close(self) -> None:
        self.connection.close()


def connect_sqlite(path: Path) -> Database:
    """Open (creating if needed) a SQLite store file, with WAL so readers do not block writers."""
    if path.exists() and path.is_dir():
        raise StoreError(f"{path} is a folder; --db needs a file path such as data/radar.db")
    path.parent.mkdir(parents=True, exist_ok=True)
    connection = sqlite3.connect(path, isolation_level=None, timeout=30.0)
    try:
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=NORMAL")
        tables = {row[0] for row in connection.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'")}
    except sqlite3.DatabaseError as exc:
        connection.close()
        raise StoreError(f"{path}: not a complaint-radar store ({exc})") from exc
    if tables and "schema_version" not in tables:
        connection.close()
        raise StoreError(f"{path} is another application's SQLite database (tables "
                         f"{sorted(tables)[:5]}); give --db a new file or a complaint-radar store")
    return Database(connection, "qmark")
