"""``radar store migrate``: bring a store to this version's schema, or copy it into another
store (a SQLite file onto a shared PostgreSQL server). Mounted on ``radar store`` by
:func:`radar.collect.cli.register`, beside ``stats`` and ``rejects``."""

from __future__ import annotations

from typing import Annotated

import typer

from nlp.console import console, err_console, fail


def register(store_app: typer.Typer) -> None:
    """Add ``migrate`` to the ``radar store`` app."""

    @store_app.command("migrate")
    def migrate(
        db: Annotated[str | None, typer.Option(
            "--db", help="The store to migrate or copy from: a SQLite file or a postgresql:// "
                         "URL; default $RADAR_DB, else data/radar.db.")] = None,
        to: Annotated[str | None, typer.Option(
            "--to", help="Copy every row into this new, empty store (e.g. "
                         "postgresql://radar@db-host/radar); the source keeps its rows (it "
                         "is brought to this version's schema first, as any open does).")
        ] = None,
    ) -> None:
        """Upgrade a store to this version's schema (stores also upgrade when opened), or
        copy it whole into a new store with --to, all or nothing, counted on both sides."""
        from radar.store import (
            SCHEMA_VERSION,
            StoreError,
            connect,
            describe_target,
            open_existing_store,
            open_store,
            resolve_db_path,
            store_exists,
        )
        from radar.store.copy import copy_store

        try:
            source_target = resolve_db_path(db)
            shown = describe_target(source_target)
            before = _version_before(source_target, connect) if store_exists(
                source_target) else 0
            with open_existing_store(source_target, "; give --db the store to migrate"
                                     ) as source:
                after = source.schema_version()
                console.print(f"{shown}: schema v{before} -> v{after}"
                              + (" (already current)" if before == after else ""),
                              soft_wrap=True)
                if to is None:
                    return
                target_target = resolve_db_path(to)
                if describe_target(target_target) == shown:
                    raise fail("--to names the store being copied; give a new, empty store")
                with open_store(target_target) as target:
                    counts = copy_store(source, target, progress=_progress_printer())
        except StoreError as exc:
            raise fail(str(exc)) from exc
        total = sum(counts.target.values())
        console.print(f"copied {total:,} rows into {target.location} (schema "
                      f"v{SCHEMA_VERSION}); rows per table, source = target:", soft_wrap=True)
        for table, rows in counts.target.items():
            console.print(f"  {table}: {counts.source[table]:,} = {rows:,}", soft_wrap=True)
        console.print(f"use it with --db and the URL given to --to (or RADAR_DB); {shown} "
                      f"keeps its rows, at schema v{after}", soft_wrap=True)


def _version_before(target, connect) -> int:
    """The schema version a store has before this command opens (and upgrades) it."""
    db = connect(target)
    try:
        if "schema_version" not in db.table_names():
            return 0
        row = db.execute("SELECT version FROM schema_version").fetchone()
        return int(row[0]) if row else 0
    finally:
        db.close()


def _progress_printer():
    """Print each table's progress on stderr at most every 100,000 rows and at its end."""
    shown: dict[str, int] = {}

    def report(table: str, done: int, total: int) -> None:
        if done == total or done - shown.get(table, 0) >= 100_000:
            shown[table] = done
            err_console.print(f"{table}: {done:,} / {total:,} rows", soft_wrap=True)

    return report
