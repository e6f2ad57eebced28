"""The posts side of the store: posts with their raw JSON, predictions, collection
checkpoints and runs (:class:`PostStore`, opened with :func:`open_store`).

All SQL on these tables is here; the database layer (connection, migrations, stored
times) is :mod:`radar.store.database`, the risk history's SQL :mod:`radar.store.history`.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, fields, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy.exc import DBAPIError

from nlp.text import to_json
from nlp.types import Post, Prediction
from radar.store.database import (
    KEY_CHUNK,
    MIGRATIONS,
    SCHEMA_VERSION,
    Database,
    StoreError,
    connect,
    db_reason,
    describe_target,
    format_time,
    now_text,
    parse_stored_time,
    resolve_db_path,
    store_exists,
)


@dataclass(frozen=True)
class CheckpointRow:
    """Where a query's collection stands: the next page's checkpoint, or done."""

    state: Mapping[str, Any] | None
    done: bool
    since: datetime | None
    high_water: datetime | None


@dataclass(frozen=True)
class SaveCounts:
    """Posts of one write: ``new`` were not in the store, ``seen`` were and got updated."""

    new: int
    seen: int


@dataclass(frozen=True)
class RunRow:
    """One collection or import run: what it read, what it kept, how it ended."""

    run_id: str
    kind: str  # "collect" or "import"
    source: str
    target: str  # the query key, or the imported file's path
    brand: str | None
    started_at: datetime
    finished_at: datetime | None
    status: str
    pages: int
    requests: int
    rows_in: int
    posts_new: int
    posts_seen: int
    rejected: int
    message: str | None


_RUN_COLUMNS = tuple(f.name for f in fields(RunRow))
_POST_COLUMNS = ("source", "post_id", "brand", "author_id", "created_at", "text", "url",
                 "parent_id", "lang", "raw", "first_run", "collected_at", "updated_at")
_UPSERT_POST = (
    f"INSERT INTO posts ({', '.join(_POST_COLUMNS)}) "
    f"VALUES ({', '.join('?' * len(_POST_COLUMNS))}) "
    "ON CONFLICT (source, post_id) DO UPDATE SET "
    "brand = COALESCE(posts.brand, excluded.brand), "
    "author_id = COALESCE(excluded.author_id, posts.author_id), "
    "created_at = COALESCE(excluded.created_at, posts.created_at), "
    "text = excluded.text, url = COALESCE(excluded.url, posts.url), "
    "parent_id = COALESCE(excluded.parent_id, posts.parent_id), "
    "lang = COALESCE(excluded.lang, posts.lang), raw = COALESCE(excluded.raw, posts.raw), "
    "updated_at = excluded.updated_at"
)


_UNSCORED = ("NOT EXISTS (SELECT 1 FROM predictions r WHERE r.source = posts.source AND "
             "r.post_id = posts.post_id AND r.model_version = ?)")
_HAS_BRAND = ("EXISTS (SELECT 1 FROM post_brands b WHERE b.source = posts.source AND "
              "b.post_id = posts.post_id AND b.brand = ?)")


ANALYZE_EVERY = 20_000  # rows: below this PostgreSQL's own statistics are close enough


def _storable(post: Post) -> Post:
    """The post as both backends store it: PostgreSQL text cannot hold NUL, so NUL becomes
    U+FFFD in every text field, on SQLite too, so that keys and the edited-text check
    compare what is stored."""
    changed = {f.name: value.replace("\x00", "\ufffd") for f in fields(post)
               if isinstance(value := getattr(post, f.name), str) and "\x00" in value}
    return replace(post, **changed) if changed else post


class PostStore:
    """Everything collection, import and scoring keep: open one with :func:`open_store`."""

    def __init__(self, db: Database, location: str):
        self.db = db
        self.location = location
        self._written = 0  # rows written since the planner's statistics were refreshed
        self._analyzed_rows = 0
        try:
            self._migrate()
            if db.is_postgres:
                self._analyzed_rows = int(db.execute(
                    "SELECT GREATEST(reltuples, 0) FROM pg_class WHERE oid = 'posts'::regclass"
                ).fetchone()[0])
        except BaseException:
            db.close()
            raise

    # --- schema ---------------------------------------------------------------------------
    def schema_version(self) -> int:
        if "schema_version" not in self.db.table_names():
            return 0
        row = self.db.execute("SELECT version FROM schema_version").fetchone()
        return int(row[0]) if row else 0

    def _migrate(self) -> None:
        current = self.schema_version()
        if current > SCHEMA_VERSION:
            raise StoreError(
                f"{self.location} has schema version {current}, newer than this complaint-radar "
                f"(version {SCHEMA_VERSION}); upgrade complaint-radar to use it")
        for version, statements in MIGRATIONS:
            if version <= current:
                continue
            with self.db.transaction():
                self.db.lock_schema()
                if self.schema_version() >= version:  # another process migrated meanwhile
                    continue
                if version == 1:
                    self.db.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
                    self.db.execute("INSERT INTO schema_version (version) VALUES (0)")
                try:
                    for statement in statements:
                        self.db.execute(self.db.ddl(statement))
                except DBAPIError as exc:  # rolled back: the store stays at its old version
                    raise StoreError(f"{self.location}: migrating to schema version {version} "
                                     f"failed, nothing changed ({db_reason(exc)})") from exc
                self.db.execute("UPDATE schema_version SET version = ?", (version,))

    def _note_written(self, rows: int) -> None:
        """PostgreSQL plans from table statistics that autovacuum refreshes only about a
        minute after large writes; a bulk import into a store that was small then gets
        plans made for a small table (a key lookup scanning the whole table, so an import
        slows as it grows). Refresh them, after the transaction, whenever the rows written
        since the last refresh reach the store's size then (and at least ANALYZE_EVERY)."""
        if not self.db.is_postgres:
            return
        self._written += rows
        if self.db.in_transaction or self._written < max(ANALYZE_EVERY, self._analyzed_rows):
            return
        self.db.execute("ANALYZE posts, post_brands, predictions")
        self._analyzed_rows += self._written
        self._written = 0

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> PostStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        with self.db.transaction():
            yield

    # --- posts ----------------------------------------------------------------------------
    def _existing_keys(self, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], str]:
        """The stored text of each key that is already stored."""
        found: dict[tuple[str, str], str] = {}
        by_source: dict[str, list[str]] = {}
        for source, post_id in keys:
            by_source.setdefault(source, []).append(post_id)
        for source, ids in by_source.items():
            for start in range(0, len(ids), KEY_CHUNK):
                chunk = ids[start:start + KEY_CHUNK]
                marks = ", ".join("?" * len(chunk))
                rows = self.db.execute(
                    f"SELECT post_id, text FROM posts WHERE source = ? AND post_id IN "
                    f"({marks})", (source, *chunk)).fetchall()
                found.update(((source, row[0]), row[1]) for row in rows)
        return found

    def save_posts(self, posts: Sequence[Post], run_id: str | None = None) -> SaveCounts:
        """Insert new posts and update stored ones (idempotent), in one transaction.

        A post seen again gets the new text and fills fields it lacked; if its text
        changed, its predictions are dropped so it is scored again. A brand it is seen
        under is added to its brands (``post_brands``), never swapped for another.
        """
        unique: dict[tuple[str, str], Post] = {}
        brands: set[tuple[str, str, str]] = set()
        for post in map(_storable, posts):
            unique[post.key] = post  # the last copy of a post within one write wins
            if post.brand is not None:
                brands.add((post.source, post.post_id, post.brand))
        now = now_text()
        with self.db.transaction():
            existing = self._existing_keys(list(unique))
            # An edited post is scored again: its predictions were made on the old text.
            self.db.executemany(
                "DELETE FROM predictions WHERE source = ? AND post_id = ?",
                [key for key, text in existing.items() if unique[key].text != text])
            self.db.executemany(_UPSERT_POST, (
                (p.source, p.post_id, p.brand, p.author_id, format_time(p.created_at), p.text,
                 p.url, p.parent_id, p.lang,
                 to_json(p.raw) if p.raw is not None
                 else None, run_id, now, now)
                # key order: two PostgreSQL writers of overlapping posts lock rows in the
                # same order, so they wait for each other instead of deadlocking
                for p in sorted(unique.values(), key=lambda p: p.key)))
            self.db.executemany(
                "INSERT INTO post_brands (source, post_id, brand, created_at) "
                "VALUES (?, ?, ?, ?) ON CONFLICT (source, post_id, brand) DO NOTHING",
                [(source, post_id, brand, format_time(unique[source, post_id].created_at))
                 for source, post_id, brand in sorted(brands)])
            # Brand rows take the date the post now has: a post stored before keeps its
            # date when this copy has none (the upsert's COALESCE), and on PostgreSQL a post
            # another writer was inserting meanwhile looked new here but was not.
            self.db.executemany(
                "UPDATE post_brands SET created_at = (SELECT p.created_at FROM posts p WHERE "
                "p.source = post_brands.source AND p.post_id = post_brands.post_id) "
                "WHERE source = ? AND post_id = ?", sorted(unique))
        seen = len(existing)
        self._note_written(len(unique) - seen)
        return SaveCounts(new=len(unique) - seen, seen=seen + len(posts) - len(unique))

    def count_posts(self, source: str | None = None, brand: str | None = None) -> int:
        where, params = self._where(source=source, brand=brand)
        return int(self.db.execute(f"SELECT COUNT(*) FROM posts{where}", params).fetchone()[0])

    @staticmethod
    def _where(source: str | None = None, brand: str | None = None,
               since: datetime | None = None, until: datetime | None = None,
               table: str = "posts") -> tuple[str, list[Any]]:
        clauses, params = [], []
        if source is not None:
            clauses.append("posts.source = ?")
            params.append(source)
        if brand is not None:
            clauses.append(_HAS_BRAND)
            params.append(brand)
        if since is not None:
            clauses.append(f"{table}.created_at >= ?")
            params.append(format_time(since))
        if until is not None:
            clauses.append(f"{table}.created_at < ?")
            params.append(format_time(until))
        return (" WHERE " + " AND ".join(clauses) if clauses else ""), params

    def iter_posts(self, source: str | None = None, brand: str | None = None,
                   since: datetime | None = None, until: datetime | None = None,
                   with_raw: bool = False, batch_size: int = 1000) -> Iterator[Post]:
        """Stream stored posts (oldest first, undated last), filtered; memory stays flat."""
        where, params = self._where(source, brand, since, until)
        rows = self.db.stream(
            "SELECT source, post_id, brand, author_id, created_at, text, url, parent_id, lang, "
            f"{'raw' if with_raw else 'NULL'} FROM posts{where} "
            "ORDER BY created_at IS NULL, created_at, source, post_id", params, batch_size)
        for row in rows:
            # Asked for one brand: the post is that brand's, whichever brand came first.
            yield Post(source=row[0], post_id=row[1], brand=brand or row[2],
                       author_id=row[3],
                       created_at=parse_stored_time(row[4]), text=row[5], url=row[6],
                       parent_id=row[7], lang=row[8],
                       raw=json.loads(row[9]) if row[9] is not None else None)

    # --- predictions ----------------------------------------------------------------------
    def save_predictions(self, predictions: Sequence[Prediction]) -> int:
        """Store predictions (one per post and model version; a rescore replaces)."""
        now = now_text()
        with self.db.transaction():
            self.db.executemany(
                "INSERT INTO predictions (source, post_id, model_version, sentiment, "
                "sentiment_probs, complaint, themes, churn_intent, scored_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (source, post_id, model_version) DO UPDATE SET "
                "sentiment = excluded.sentiment, sentiment_probs = excluded.sentiment_probs, "
                "complaint = excluded.complaint, themes = excluded.themes, "
                "churn_intent = excluded.churn_intent, scored_at = excluded.scored_at",
                ((p.source, p.post_id, p.model_version, p.sentiment,
                  json.dumps(dict(p.sentiment_probs)), p.complaint, json.dumps(dict(p.themes)),
                  p.churn_intent, now) for p in predictions))
        self._note_written(len(predictions))
        return len(predictions)

    def iter_predictions(self, model_version: str, batch_size: int = 1000
                         ) -> Iterator[Prediction]:
        rows = self.db.stream(
            "SELECT source, post_id, model_version, sentiment, sentiment_probs, complaint, "
            "themes, churn_intent FROM predictions WHERE model_version = ? "
            "ORDER BY source, post_id", (model_version,), batch_size)
        for row in rows:
            yield Prediction(source=row[0], post_id=row[1], model_version=row[2],
                             sentiment=row[3], sentiment_probs=json.loads(row[4]),
                             complaint=row[5], themes=json.loads(row[6]),
                             churn_intent=row[7])

    def model_versions(self) -> list[tuple[str, int]]:
        """Each model version with predictions and how many posts it scored, the most
        recently scoring first."""
        rows = self.db.execute(
            "SELECT model_version, COUNT(*) FROM predictions GROUP BY model_version "
            "ORDER BY MAX(scored_at) DESC, model_version DESC").fetchall()
        return [(row[0], int(row[1])) for row in rows]

    def scored_posts(self, model_version: str, brand: str | None = None,
                     since: datetime | None = None, until: datetime | None = None,
                     by_key: bool = False, batch_size: int = 2000
                     ) -> Iterator[tuple[Post, Prediction]]:
        """Posts with their prediction from ``model_version`` (posts it has not scored are
        left out), streamed oldest first (undated last) or, ``by_key``, in key order.

        With ``brand``, the posts counting for it, each under that brand; without, every
        scored post once, under the brand it was first stored with (``None`` if none).
        ``since`` and ``until`` bound ``created_at`` (undated posts fall outside).
        """
        join = "posts.source = r.source AND posts.post_id = r.post_id AND r.model_version = ?"
        # A brand's posts in a time range come from its post_brands rows (one index on
        # brand and date), not by testing every scored post of every brand.
        brand_join, brand_param = ("", ()) if brand is None else (
            " JOIN post_brands b ON b.source = posts.source AND b.post_id = posts.post_id "
            "AND b.brand = ?", (brand,))
        dated = "posts" if brand is None else "b"
        where, params = self._where(since=since, until=until, table=dated)
        order = ("posts.source, posts.post_id" if by_key else
                 f"{dated}.created_at IS NULL, {dated}.created_at, posts.source, "
                 "posts.post_id")
        rows = self.db.stream(
            "SELECT posts.source, posts.post_id, posts.brand, posts.author_id, "
            "posts.created_at, posts.text, posts.url, r.sentiment, r.sentiment_probs, "
            f"r.complaint, r.themes, r.churn_intent FROM posts{brand_join} JOIN predictions r "
            f"ON {join}{where} ORDER BY {order}", (*brand_param, model_version, *params),
            batch_size)
        for row in rows:
            post = Post(source=row[0], post_id=row[1], brand=brand or row[2],
                        author_id=row[3], created_at=parse_stored_time(row[4]),
                        text=row[5], url=row[6])
            yield post, Prediction(source=row[0], post_id=row[1], sentiment=row[7],
                                   sentiment_probs=json.loads(row[8]), complaint=row[9],
                                   themes=json.loads(row[10]), churn_intent=row[11],
                                   model_version=model_version)

    def count_unscored(self, model_version: str, brand: str | None = None) -> int:
        """How many posts (of ``brand``) have no prediction from ``model_version``."""
        where, params = self._where(brand=brand)
        where = f"{where} AND {_UNSCORED}" if where else f" WHERE {_UNSCORED}"
        return int(self.db.execute(f"SELECT COUNT(*) FROM posts{where}",
                                   (*params, model_version)).fetchone()[0])

    def iter_unscored(self, model_version: str, brand: str | None = None,
                      batch_size: int = 1000) -> Iterator[Post]:
        """Posts without a prediction from ``model_version``, in key order."""
        after = None
        while batch := self.unscored_batch(model_version, batch_size, after, brand):
            yield from batch
            after = batch[-1].key

    def unscored_batch(self, model_version: str, limit: int,
                       after: tuple[str, str] | None = None, brand: str | None = None
                       ) -> list[Post]:
        """Up to ``limit`` posts without a prediction from ``model_version`` whose key comes
        after ``after``: each batch seeks on the primary key, so scoring a large store
        reads it once instead of once per batch."""
        clauses, params = [], []
        if brand is not None:
            clauses.append(_HAS_BRAND)
            params.append(brand)
        if after is not None:
            clauses.append("(posts.source, posts.post_id) > (?, ?)")
            params.extend(after)
        clauses.append(_UNSCORED)
        rows = self.db.execute(
            "SELECT posts.source, posts.post_id, posts.brand, posts.author_id, "
            "posts.created_at, posts.text, posts.url, posts.parent_id, posts.lang FROM posts "
            f"WHERE {' AND '.join(clauses)} ORDER BY posts.source, posts.post_id LIMIT ?",
            (*params, model_version, limit)).fetchall()
        return [Post(source=row[0], post_id=row[1], brand=row[2], author_id=row[3],
                     created_at=parse_stored_time(row[4]), text=row[5], url=row[6],
                     parent_id=row[7], lang=row[8]) for row in rows]

    # --- checkpoints ----------------------------------------------------------------------
    def get_checkpoint(self, source: str, query_key: str) -> CheckpointRow | None:
        row = self.db.execute(
            "SELECT state, done, since, high_water FROM checkpoints "
            "WHERE source = ? AND query_key = ?", (source, query_key)).fetchone()
        if row is None:
            return None
        return CheckpointRow(state=json.loads(row[0]) if row[0] is not None else None,
                             done=bool(row[1]), since=parse_stored_time(row[2]),
                             high_water=parse_stored_time(row[3]))

    def set_checkpoint(self, source: str, query_key: str, state: Mapping[str, Any] | None,
                       done: bool, since: datetime | None, high_water: datetime | None) -> None:
        self.db.execute(
            "INSERT INTO checkpoints (source, query_key, state, done, since, high_water, "
            "updated_at) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (source, query_key) DO UPDATE "
            "SET state = excluded.state, done = excluded.done, since = excluded.since, "
            "high_water = excluded.high_water, updated_at = excluded.updated_at",
            (source, query_key, json.dumps(state) if state is not None else None, int(done),
             format_time(since), format_time(high_water), now_text()))

    def delete_checkpoint(self, source: str, query_key: str) -> None:
        self.db.execute("DELETE FROM checkpoints WHERE source = ? AND query_key = ?",
                        (source, query_key))

    def save_page(self, source: str, query_key: str, run_id: str, posts: Sequence[Post],
                  state: Mapping[str, Any] | None, done: bool, since: datetime | None,
                  high_water: datetime | None, requests: int,
                  rejected: Sequence[tuple[str, Any]] = ()) -> SaveCounts:
        """A page's posts, its rejected items (reason, raw), the checkpoint they lead to and
        the run's counters: all or nothing."""
        with self.db.transaction():
            counts = self.save_posts(posts, run_id)  # counted for the planner after commit
            if rejected:
                # Numbered within the run: a collection run has no file lines.
                before = int(self.db.execute("SELECT rejected FROM runs WHERE run_id = ?",
                                             (run_id,)).fetchone()[0])
                self.db.executemany(
                    "INSERT INTO rejected_rows (run_id, line, reason, raw) VALUES (?, ?, ?, ?)",
                    ((run_id, before + i, reason,
                      to_json(raw))
                     for i, (reason, raw) in enumerate(rejected, start=1)))
            self.set_checkpoint(source, query_key, state, done, since, high_water)
            self.db.execute(
                "UPDATE runs SET pages = pages + 1, requests = ?, rows_in = rows_in + ?, "
                "posts_new = posts_new + ?, posts_seen = posts_seen + ?, "
                "rejected = rejected + ? WHERE run_id = ?",
                (requests, len(posts) + len(rejected), counts.new, counts.seen, len(rejected),
                 run_id))
        self._note_written(0)
        return counts

    # --- runs -----------------------------------------------------------------------------
    def start_run(self, kind: str, source: str, target: str, brand: str | None = None) -> str:
        """Record a run; earlier runs of the same target left 'running' become 'interrupted'."""
        run_id = uuid.uuid4().hex
        with self.db.transaction():
            self.db.execute(
                "UPDATE runs SET status = 'interrupted', message = 'the process stopped "
                "without finishing (killed or crashed)' WHERE status = 'running' AND kind = ? "
                "AND source = ? AND target = ?", (kind, source, target))
            self.db.execute(
                "INSERT INTO runs (run_id, kind, source, target, brand, started_at, status, "
                "pages, requests, rows_in, posts_new, posts_seen, rejected) "
                "VALUES (?, ?, ?, ?, ?, ?, 'running', 0, 0, 0, 0, 0, 0)",
                (run_id, kind, source, target, brand, now_text()))
        return run_id

    def finish_run(self, run_id: str, status: str, message: str | None = None,
                   requests: int | None = None) -> None:
        self.db.execute(
            "UPDATE runs SET status = ?, message = ?, finished_at = ?, "
            "requests = COALESCE(?, requests) WHERE run_id = ?",
            (status, message, now_text(), requests, run_id))

    def add_rows(self, run_id: str, posts: Sequence[Post],
                 rejects: Sequence[tuple[int, str, Any]]) -> SaveCounts:
        """An import chunk: its posts and its rejected rows (line, reason, raw), all or nothing."""
        with self.db.transaction():
            counts = self.save_posts(posts, run_id)  # counted for the planner after commit
            self.db.executemany(
                "INSERT INTO rejected_rows (run_id, line, reason, raw) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (run_id, line) DO NOTHING",
                ((run_id, line, reason, to_json(raw))
                 for line, reason, raw in rejects))
            self.db.execute(
                "UPDATE runs SET rows_in = rows_in + ?, posts_new = posts_new + ?, "
                "posts_seen = posts_seen + ?, rejected = rejected + ? WHERE run_id = ?",
                (len(posts) + len(rejects), counts.new, counts.seen, len(rejects), run_id))
        self._note_written(0)
        return counts

    def run(self, run_id: str) -> RunRow:
        """The run ``run_id`` as it stands.

        Raises:
            StoreError: no run has that id.
        """
        row = self.db.execute(f"SELECT {', '.join(_RUN_COLUMNS)} FROM runs WHERE run_id = ?",
                              (run_id,)).fetchone()
        if row is None:
            raise StoreError(f"no run {run_id!r} in {self.location}")
        values = dict(zip(_RUN_COLUMNS, row, strict=True))
        for name in ("started_at", "finished_at"):
            values[name] = parse_stored_time(values[name])
        return RunRow(**values)

    def rejected_rows(self, run_id: str) -> list[tuple[int, str, Any]]:
        rows = self.db.execute("SELECT line, reason, raw FROM rejected_rows WHERE run_id = ? "
                               "ORDER BY line", (run_id,)).fetchall()
        return [(line, reason, json.loads(raw) if raw is not None else None)
                for line, reason, raw in rows]

    # --- stats ----------------------------------------------------------------------------
    def stats(self, recent_runs: int = 10) -> dict[str, Any]:
        """Counts per source and brand, date range, predictions, checkpoints, recent runs."""
        by_source_brand = self.db.execute(
            "SELECT p.source, b.brand, COUNT(*), MIN(p.created_at), MAX(p.created_at) "
            "FROM posts p LEFT JOIN post_brands b ON b.source = p.source AND "
            "b.post_id = p.post_id GROUP BY p.source, b.brand "
            "ORDER BY p.source, b.brand IS NULL, b.brand"
        ).fetchall()
        predictions = self.db.execute(
            "SELECT model_version, COUNT(*) FROM predictions GROUP BY model_version "
            "ORDER BY model_version").fetchall()
        checkpoints = self.db.execute(
            "SELECT source, query_key, done, high_water, updated_at FROM checkpoints "
            "ORDER BY updated_at DESC").fetchall()
        runs = self.db.execute(
            "SELECT kind, source, target, started_at, status, pages, requests, rows_in, "
            "posts_new, rejected, message FROM runs ORDER BY started_at DESC LIMIT ?",
            (recent_runs,)).fetchall()
        return {
            "location": self.location,
            "schema_version": self.schema_version(),
            "posts": self.count_posts(),
            "by_source_brand": [
                {"source": s, "brand": b, "posts": n, "first": lo, "last": hi}
                for s, b, n, lo, hi in by_source_brand],
            "predictions": [{"model_version": m, "posts": n} for m, n in predictions],
            "checkpoints": [{"source": s, "query": q, "done": bool(d), "high_water": h,
                             "updated_at": u} for s, q, d, h, u in checkpoints],
            "runs": [dict(zip(("kind", "source", "target", "started_at", "status", "pages",
                               "requests", "rows_in", "posts_new", "rejected", "message"),
                              row, strict=True)) for row in runs],
        }


class StoreMissing(StoreError):
    """No store at the place named: nothing was created there."""


def open_existing_store(db_path: Path | str | None = None, hint: str = "") -> PostStore:
    """Open the store at ``db_path`` only if one is there: a report, a listing or a copy
    never creates an empty store.

    Raises:
        StoreMissing: no file there, or a database without tables; the message names the
            store (password hidden) and ends with ``hint``.
    """
    target = resolve_db_path(db_path)
    if not store_exists(target):
        raise StoreMissing(f"no post store at {describe_target(target)}{hint}")
    return open_store(target)


def open_store(db_path: Path | str | None = None) -> PostStore:
    """Open the store at ``db_path`` (or ``$RADAR_DB``, or ``data/radar.db``), migrating it:
    a SQLite file, created if missing, or a ``postgresql://`` URL of an existing database."""
    target = resolve_db_path(db_path)
    return PostStore(connect(target), describe_target(target))
