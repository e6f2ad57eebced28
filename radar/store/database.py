"""The store's database layer: the connection, the schema and its migrations, stored times.

SQLite by default (one file, ``data/radar.db``); PostgreSQL for a store several people,
monitors and dashboards share (``--db postgresql://user@host/db``). ``--db`` or
``$RADAR_DB`` choose. Connections go through SQLAlchemy (psycopg 3 for PostgreSQL).
Callers use the store's functions and :class:`~radar.store.posts.PostStore` methods
only; all SQL lives in this package and is plain SQL both backends run
(``INSERT ... ON CONFLICT``, no ``AUTOINCREMENT``, no ``INSERT OR REPLACE``, times as
ISO 8601 text). :class:`Database` is the one small layer that knows the backend: it
converts the ``?`` placeholders to the driver's style, adapts migrations' types and
owns transactions.

The schema carries a version; :data:`MIGRATIONS` brings an older file up to date on
open, and a file from a newer complaint-radar is refused rather than misread.
"""

from __future__ import annotations

import os
import re
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
    # Scale (issue [I]): a brand's posts in a time range come from one index on
    # (brand, created_at), so a monitor cycle reads the windows it recomputes, not every
    # post the brand ever had. post_brands.created_at mirrors posts.created_at.
    (4, (
        "ALTER TABLE post_brands ADD COLUMN created_at TEXT",
        "UPDATE post_brands SET created_at = (SELECT p.created_at FROM posts p WHERE "
        "p.source = post_brands.source AND p.post_id = post_brands.post_id)",
        "CREATE INDEX post_brands_brand_created ON post_brands (brand, created_at)",
        "DROP INDEX post_brands_brand",
        # the dates the store covers (MIN/MAX), read by every cycle and dashboard page
        "CREATE INDEX posts_created ON posts (created_at)",
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
    # fromisoformat reads the fixed-width TIME_FORMAT ("Z" included) ~10x faster than strptime
    return datetime.fromisoformat(text)


def now_text() -> str:
    return format_time(datetime.now(UTC))


# A database URL ("postgresql://..."): as a Path its "//" collapses to "/", so match one.
_URL_RE = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:/")
POSTGRES_DRIVER = "postgresql+psycopg"
PG_INSTALL = "pip install 'complaint-radar[postgres]'"

StoreTarget = Path | str
"""Where a store lives: a SQLite file (``Path``) or a PostgreSQL URL (``str``)."""


def is_database_url(value: StoreTarget) -> bool:
    return isinstance(value, str) and bool(_URL_RE.match(value))


def resolve_db_path(db_path: Path | str | None = None) -> StoreTarget:
    """``--db`` if given, else ``$RADAR_DB``, else ``data/radar.db``: a SQLite file path, or
    a ``postgresql://user[:password]@host[:port]/database`` URL for a shared store.

    Raises:
        StoreError: a URL of another database (MySQL, ``sqlite:///``, ...), or a malformed
            one. Such a value would otherwise become a file named like it, and a team that
            believes it shares a server would each write their own file.
    """
    given = str(db_path) if db_path is not None and str(db_path) else os.environ.get(DB_ENV)
    if not given:
        return DEFAULT_DB_PATH
    if _URL_RE.match(given):
        return _check_url(given)
    if "://" in given or ":/" in given.split("/", 1)[0]:
        # "postgres ql://...": a URL with a typo, which as a path would become a file
        # named after it (password included)
        raise StoreError(f"{_masked(given)} looks like a database URL with a malformed "
                         "scheme; use postgresql://user@host:5432/database or a SQLite "
                         "file path")
    return Path(given)


def _masked(text: str) -> str:
    """``text`` with anything that may be a password hidden: ``user:secret@`` and
    ``password=secret``."""
    text = re.sub(r"(:/*[^:/@\s]*:)[^@\s]*@", r"\1***@", text)
    return re.sub(r"(?i)(password=)[^&\s]*", r"\1***", text)


def _check_url(given: str) -> str:
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        url = make_url(given)
        url.port  # noqa: B018 - a port that is no number raises here, not at connect
    except (ArgumentError, ValueError) as exc:
        raise StoreError(f"{_masked(given)} is not a database URL we can read; use "
                         "postgresql://user@host:5432/database or a SQLite file path") from exc
    if url.drivername not in ("postgresql", "postgres", POSTGRES_DRIVER):
        raise StoreError(
            f"{describe_target(given)} is a database URL complaint-radar cannot store into: "
            "the store is a SQLite file path (such as data/radar.db) or a PostgreSQL URL "
            "(postgresql://user@host:5432/database)")
    if not url.database:
        raise StoreError(f"{describe_target(given)} names no database: add it after the host, "
                         "as in postgresql://user@host:5432/radar")
    return given


def describe_target(target: StoreTarget) -> str:
    """The store's location for messages and listings: a URL's password is hidden."""
    if not is_database_url(target):
        return str(target)
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        url = make_url(str(target))
        if url.drivername in ("postgres", POSTGRES_DRIVER):
            url = url.set(drivername="postgresql")
        return _masked(url.render_as_string(hide_password=True))
    except (ArgumentError, ValueError):
        return _masked(str(target))


def store_label(target: StoreTarget) -> str:
    """A short name for titles: the file's name, or the database's name and host."""
    if not is_database_url(target):
        return Path(target).name
    from sqlalchemy.engine import make_url

    url = make_url(str(target))
    return f"{url.database} on {url.host or 'localhost'}"


class Database:
    """One store connection through SQLAlchemy: ``?`` placeholders, explicit transactions.

    The connection runs in autocommit mode; :meth:`transaction` issues ``BEGIN`` /
    ``COMMIT`` itself, so a statement outside one commits at once and a reader never holds
    a snapshot (or SQLite's lock) open between statements. Statements are plain SQL that
    both SQLite and PostgreSQL run; this class converts placeholders to the driver's style
    and, for PostgreSQL, the types migrations create (:meth:`ddl`).
    """

    def __init__(self, engine: Any, location: str):
        self.engine = engine
        self.dialect = engine.dialect.name  # "sqlite" or "postgresql"
        self.location = location
        self.connection = engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        self._depth = 0

    @property
    def in_transaction(self) -> bool:
        return self._depth > 0

    @property
    def is_postgres(self) -> bool:
        return self.dialect == "postgresql"

    def _sql(self, sql: str) -> str:
        return sql.replace("?", "%s") if self.is_postgres else sql

    def _row(self, params: Sequence[Any]) -> tuple:
        if not self.is_postgres:
            return tuple(params)
        # PostgreSQL text cannot hold NUL; SQLite can. U+FFFD keeps the rest of the post.
        return tuple(p.replace("\x00", "\ufffd") if isinstance(p, str) and "\x00" in p else p
                     for p in params)

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return self.connection.exec_driver_sql(self._sql(sql), self._row(params))

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        batch = [self._row(r) for r in rows]
        if batch:  # an empty list would run the statement once without parameters
            self.connection.exec_driver_sql(self._sql(sql), batch)

    def stream(self, sql: str, params: Sequence[Any] = (), batch_size: int = 1000
               ) -> Iterator[Any]:
        """Rows of a large query, ``batch_size`` at a time, memory flat on either backend.

        PostgreSQL outside a transaction reads through a server-side cursor on a second
        connection (a client-side cursor would fetch every row at once); SQLite's cursor
        is lazy already.
        """
        if not (self.is_postgres and not self._depth):
            cursor = self.execute(sql, params)
            while rows := cursor.fetchmany(batch_size):
                yield from rows
            return
        with self.engine.connect() as reader:
            result = reader.execution_options(stream_results=True, yield_per=batch_size) \
                .exec_driver_sql(self._sql(sql), self._row(params))
            yield from result

    def ddl(self, statement: str) -> str:
        """A migration's statement for this backend. PostgreSQL's ``REAL`` is 4 bytes, so
        scores become ``DOUBLE PRECISION`` (SQLite's REAL is 8); text compares byte-wise
        (``COLLATE "C"``), as SQLite's does, so orderings and key seeks agree."""
        if not self.is_postgres:
            return statement
        statement = re.sub(r"\bREAL\b", "DOUBLE PRECISION", statement)
        return re.sub(r"\bTEXT\b", 'TEXT COLLATE "C"', statement)

    def table_names(self) -> set[str]:
        from sqlalchemy import inspect

        return set(inspect(self.connection).get_table_names())

    def lock_schema(self) -> None:
        """Within a transaction: one process at a time changes the schema. SQLite's
        ``BEGIN IMMEDIATE`` already is that lock; PostgreSQL takes an advisory lock."""
        if self.is_postgres:
            self.execute("SELECT pg_advisory_xact_lock(?)", (SCHEMA_LOCK_ID,))

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
        self.execute("BEGIN" if self.is_postgres else "BEGIN IMMEDIATE")
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
        self.engine.dispose()


SCHEMA_LOCK_ID = 7_230_419  # the advisory lock key complaint-radar's migrations hold


def connect(target: StoreTarget) -> Database:
    """Open the store at ``target`` (a SQLite file, created if needed, or a PostgreSQL URL).

    Raises:
        StoreError: the file is not a store, the server cannot be reached, or the database
            holds another application's tables.
    """
    db = connect_postgres(str(target)) if is_database_url(target) else connect_sqlite(
        Path(target))
    try:
        tables = db.table_names()
    except Exception as exc:
        db.close()
        raise StoreError(f"{db.location}: not a complaint-radar store ({db_reason(exc)})") from exc
    if tables and "schema_version" not in tables:
        db.close()
        raise StoreError(f"{db.location} holds another application's tables "
                         f"({sorted(tables)[:5]}); give --db a new file or database, or a "
                         "complaint-radar store")
    return db


def store_exists(target: StoreTarget) -> bool:
    """Whether a store is already there (a file, or a database with tables), without
    creating one.

    Raises:
        StoreError: the PostgreSQL server cannot be reached.
    """
    if not is_database_url(target):
        return Path(target).exists()
    db = connect_postgres(str(target))
    try:
        # Another application's tables count as "there": opening it then refuses, as it
        # refuses another application's SQLite file, instead of calling it empty.
        return bool(db.table_names())
    finally:
        db.close()


def db_reason(exc: BaseException) -> str:
    """The driver's own message, without SQLAlchemy's statement dump and link."""
    original = getattr(exc, "orig", None)
    text = str(original if original is not None else exc).strip().splitlines()[0]
    # libpq names the server's address and port; the caller names the store already.
    return re.sub(r'(connection failed: )?connection to server at "[^"]*"( \([^)]*\))?, '
                  r"port \d+ failed: ", "", text)


def connect_postgres(url: str) -> Database:
    """Connect to a PostgreSQL store through SQLAlchemy and psycopg 3."""
    try:
        import psycopg  # noqa: F401
        from sqlalchemy import create_engine
        from sqlalchemy.engine import make_url
    except ImportError as exc:
        raise StoreError(f"a PostgreSQL store needs psycopg: {PG_INSTALL}") from exc
    location = describe_target(url)
    engine = create_engine(make_url(url).set(drivername=POSTGRES_DRIVER),
                           connect_args={"connect_timeout": 10})
    try:
        return Database(engine, location)
    except Exception as exc:
        engine.dispose()
        raise StoreError(f"cannot connect to {location}: {db_reason(exc)}") from exc


def connect_sqlite(path: Path) -> Database:
    """Open (creating if needed) a SQLite store file, with WAL so readers do not block writers."""
    from sqlalchemy import create_engine, event
    from sqlalchemy.engine import URL

    if path.exists() and path.is_dir():
        raise StoreError(f"{path} is a folder; --db needs a file path such as data/radar.db")
    path.parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(URL.create("sqlite", database=str(path)),
                           connect_args={"timeout": 30.0})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.execute("PRAGMA journal_mode=WAL")
        dbapi_connection.execute("PRAGMA synchronous=NORMAL")

    try:
        return Database(engine, str(path))
    except Exception as exc:
        engine.dispose()
        raise StoreError(f"{path}: not a complaint-radar store ({db_reason(exc)})") from exc
