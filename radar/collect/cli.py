"""``radar collect``, ``radar import``, ``radar sources`` and ``radar store stats``/``rejects``.

:func:`register` adds the commands to the ``radar`` app. Credentials come from environment
variables only and are never printed.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Column
from rich.text import Text

from nlp.console import (
    DelimiterOption,
    TimeFormatOption,
    console,
    err_console,
    fail,
    labelled,
    make_table,
)
from radar.collect import load_source_module, parse_since

DbOption = Annotated[str | None, typer.Option(
    "--db", help="Post store: a SQLite file or a postgresql:// URL; default $RADAR_DB, else "
                 "data/radar.db.")]


def parse_options(pairs: list[str] | None) -> dict[str, str]:
    options: dict[str, str] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--option {pair!r}: expected KEY=VALUE, e.g. --option mode=search")
        options[key.strip()] = value.strip()
    return options


def register(app: typer.Typer) -> None:
    """Add ``collect``, ``import``, ``sources`` and ``store stats`` to ``app``."""
    from radar.store.cli import register as register_store_commands

    store_app = typer.Typer(help="The post store (a SQLite file or a PostgreSQL database): "
                                 "what has been collected, and moving it.",
                            no_args_is_help=True)
    app.add_typer(store_app, name="store")
    register_store_commands(store_app)

    @app.command("sources")
    def sources() -> None:
        """The built-in sources: credentials (environment variables), options, rate limits."""
        from radar.collect import SOURCES

        # Sentences: kept to a readable width, also where output is piped at full width.
        prose = (Column(header, max_width=60, overflow="fold")
                 for header in ("options", "rate limit", "terms"))
        table = make_table("source", "credentials (env)", *prose, title="collection sources")
        for name in SOURCES:
            module = load_source_module(name)
            table.add_row(name, ", ".join(module.CREDENTIALS) or "none",
                          "\n".join(f"{k}: {v}" for k, v in module.OPTIONS.items()) or "-",
                          module.RATE_LIMIT, module.TERMS)
        console.print(table)

    @app.command("collect")
    def collect(
        source: Annotated[str, typer.Argument(help="Source name (see `radar sources`).")],
        query: Annotated[str, typer.Option("--query", "-q", help="Search terms, hashtag, "
                                           "subreddit query, app id or channel.")],
        brand: Annotated[str | None, typer.Option(help="Brand the posts are about (given "
                                                       "to posts that name none).")] = None,
        since: Annotated[str | None, typer.Option(help="Only posts from then on: ISO 8601 "
                                                       "(UTC when no offset) or 7d / 24h. A "
                                                       "finished query's next run starts at "
                                                       "its newest post less an hour; use "
                                                       "--restart to backfill.")] = None,
        max_pages: Annotated[int | None, typer.Option(min=1, help="Stop after N pages "
                                                      "(the next run continues).")] = None,
        max_requests: Annotated[int, typer.Option(min=1, help="Budget of page requests of "
                                                  "this run, retries included (a login or "
                                                  "token refresh is extra).")] = 500,
        max_retries: Annotated[int, typer.Option(min=0, help="Retries of a failed request "
                                                 "before giving up.")] = 5,
        option: Annotated[list[str] | None, typer.Option(
            "--option", "-o", help="Source option KEY=VALUE (repeatable; see `radar "
                                   "sources`).")] = None,
        base_url: Annotated[str | None, typer.Option(help="API base URL (another server, a "
                                                          "proxy, a test server).")] = None,
        restart: Annotated[bool, typer.Option(help="Forget this query's checkpoint and start "
                                                   "from the newest posts.")] = False,
        db: DbOption = None,
    ) -> None:
        """Collect posts from a source into the store, page by page; safe to stop and rerun."""
        from rich.status import Status

        from nlp.errors import NotInstalled
        from radar.collect.base import AuthError, CollectError, Query
        from radar.collect.runner import CollectProgress, RunnerConfig, collect_posts
        from radar.store import StoreError, open_store

        try:
            module = load_source_module(source)
            run_query = Query(terms=query, brand=brand, since=parse_since(since),
                              options=parse_options(option))
            config = RunnerConfig(max_pages=max_pages, max_requests=max_requests,
                                  max_retries=max_retries)
            unknown = sorted(set(run_query.options) - set(module.OPTIONS))
            if unknown:
                raise CollectError(f"{source} has no option {unknown}; its options are "
                                   f"{sorted(module.OPTIONS) or 'none'}")
            built = module.make_source(base_url=base_url)
            store = open_store(db)
        except (KeyError, ValueError, CollectError, StoreError, NotInstalled) as exc:
            raise fail(str(exc).strip("'\"")) from exc
        # A Text: a string status is read as markup, and the query is the user's.
        status = Status(Text(f"collecting {source} {query!r}"), console=err_console)

        def on_progress(p: CollectProgress) -> None:
            line = (f"collecting {source} {query!r}: {p.pages} pages, {p.posts_new:,} new, "
                    f"{p.posts_seen:,} already stored, {p.requests} requests")
            if p.waiting_s:
                line += f"; waiting {p.waiting_s:.0f} s ({p.note[:80]})"
            status.update(Text(line))

        try:
            with status:
                result = collect_posts(built, run_query, store, config, restart=restart,
                                       progress=on_progress)
        except AuthError as exc:
            raise fail(f"{exc}. Credentials for {source}: "
                       f"{', '.join(module.CREDENTIALS) or 'none needed'}") from exc
        except CollectError as exc:
            raise fail(str(exc)) from exc
        except KeyboardInterrupt:
            err_console.print("interrupted; every stored page is kept. Run the same command "
                              "to resume.")
            raise typer.Exit(code=130) from None
        finally:
            store.close()
        resumed = " (resumed from the checkpoint)" if result.resumed else ""
        if result.since is not None:
            resumed += f", posts since {result.since:%Y-%m-%d %H:%M} UTC"
        console.print(f"{source} {query!r}{resumed}: {result.pages} pages, {result.requests} "
                      f"requests, {result.posts_new:,} new posts, {result.posts_seen:,} already "
                      f"stored, {result.posts_too_old:,} older than --since", soft_wrap=True)
        if result.rejected:
            err_console.print(f"{result.rejected:,} items could not be read as posts; they are "
                              f"kept with the reasons: radar store rejects {result.run_id}",
                              soft_wrap=True)
        console.print(f"{result.status}: {result.reason}", soft_wrap=True)
        if result.status == "failed":
            raise typer.Exit(code=1)

    @app.command("import")
    def import_(
        file: Annotated[Path, typer.Argument(help="Review dump or export to import.")],
        fmt: Annotated[str | None, typer.Option(
            "--format", help="csv, jsonl, parquet, twcs, airline-2015, complaints-2019 or "
                             "snscrape (default: from the extension and the contents; twcs, "
                             "airline-2015 and snscrape are recognised).")] = None,
        brand: Annotated[str | None, typer.Option(help="Brand for rows that name none.")
                         ] = None,
        source: Annotated[str | None, typer.Option(help="Source name of a generic dump's "
                                                        "posts (default file:<name>).")] = None,
        encoding: Annotated[str, typer.Option(help="Text encoding of CSV/JSONL files.")
                            ] = "utf-8",
        text_col: Annotated[str | None, typer.Option(help="Text column (generic dumps; "
                                                          "default text).")] = None,
        id_col: Annotated[str | None, typer.Option(help="Id column (default id, post_id or "
                                                        "tweet_id; else row-N).")] = None,
        brand_col: Annotated[str | None, typer.Option(help="Brand column (default brand).")
                             ] = None,
        author_col: Annotated[str | None, typer.Option(help="Author column (default "
                                                            "author_id or author).")] = None,
        time_col: Annotated[str | None, typer.Option(help="Time column (default created_at, "
                                                          "time or date).")] = None,
        time_format: TimeFormatOption = None,
        delimiter: DelimiterOption = None,
        db: DbOption = None,
    ) -> None:
        """Import a review dump or export into the store; bad rows are kept with reasons."""
        from rich.progress import (
            BarColumn,
            Progress,
            RenderableColumn,
            TaskProgressColumn,
            TextColumn,
        )

        from nlp.dumps import ColumnMap, DumpError
        from radar.collect.files import IMPORT_FORMATS, import_file
        from radar.store import StoreError, open_store

        if fmt is not None and fmt not in IMPORT_FORMATS:
            raise fail(f"--format {fmt!r}: use one of {', '.join(IMPORT_FORMATS)}")
        try:
            columns = ColumnMap(text=text_col, id=id_col, brand=brand_col, author=author_col,
                                time=time_col, time_format=time_format, delimiter=delimiter)
        except DumpError as exc:
            raise fail(str(exc)) from exc
        # a delimiter applies to every CSV, built-in formats included
        mapped = replace(columns, delimiter=None) != ColumnMap() or source is not None
        if mapped and fmt not in (None, "csv", "jsonl", "parquet"):
            raise fail(f"--format {fmt} has a built-in mapping; --source and the column options "
                       "apply to csv, jsonl and parquet dumps only")
        try:
            store = open_store(db)
        except StoreError as exc:
            raise fail(str(exc)) from exc
        # The file name as text: a TextColumn reads its format as markup and {fields}.
        bar = Progress(RenderableColumn(Text(f"importing {file.name}")), BarColumn(),
                       TaskProgressColumn(),
                       TextColumn("{task.fields[rows]:,} rows"), console=err_console)
        try:
            with bar:
                task = bar.add_task("import", total=None, rows=0)
                result = import_file(
                    file, store, fmt, columns, brand, source, encoding,
                    progress=lambda pos, size, rows: bar.update(task, completed=pos,
                                                                total=size, rows=rows))
        except (DumpError, StoreError) as exc:
            raise fail(str(exc)) from exc
        except KeyboardInterrupt:
            err_console.print("interrupted; the rows stored so far are kept, and importing "
                              "again is safe (posts are upserted).")
            raise typer.Exit(code=130) from None
        finally:
            store.close()
        skipped = (f" + skipped {result.skipped:,} ({result.skipped_reason})"
                   if result.skipped else "")
        console.print(f"{file.name} ({result.format}): rows in {result.rows_in:,} = new "
                      f"{result.posts_new:,} + already stored {result.posts_seen:,} + rejected "
                      f"{result.rejected:,}{skipped}; "
                      f"{result.rows_in / max(result.seconds, 1e-9):,.0f} rows/s",
                      soft_wrap=True)
        if result.hint:
            err_console.print(labelled("warning:", "bold yellow", result.hint), soft_wrap=True)
        if result.no_brand:
            console.print(f"{result.no_brand:,} posts have no brand (give --brand, or the "
                          "report resolves @mentions through data/brands.yaml)",
                          soft_wrap=True)
        for where, reason in result.first_rejects:
            err_console.print(f"rejected {where}: {reason}", soft_wrap=True)
        if result.rejected > len(result.first_rejects):
            err_console.print(f"... and {result.rejected - len(result.first_rejects):,} more; "
                              f"all are in the store (`radar store rejects {result.run_id}`)",
                              soft_wrap=True)

    @store_app.command("stats")
    def store_stats(
        db: DbOption = None,
        as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    ) -> None:
        """Posts per source and brand, predictions, checkpoints and the latest runs."""
        from radar.store import StoreError, open_existing_store

        try:
            with open_existing_store(db, "; collect or import first (`radar import FILE`)"
                                     ) as store:
                stats = store.stats()
        except StoreError as exc:
            raise fail(str(exc)) from exc
        if as_json:
            console.print_json(json.dumps(stats))
            return
        console.print(f"{stats['location']}: {stats['posts']:,} posts "
                      f"(schema v{stats['schema_version']})", soft_wrap=True)
        table = make_table("source", "brand", "posts", "first", "last",
                           numbers=("posts", "first", "last"), title="posts by source and brand")
        for row in stats["by_source_brand"]:
            table.add_row(row["source"], row["brand"] or "-", f"{row['posts']:,}",
                          (row["first"] or "-")[:16], (row["last"] or "-")[:16])
        console.print(table)
        if stats["predictions"]:
            console.print("predictions: " + ", ".join(
                f"{p['model_version']} {p['posts']:,}" for p in stats["predictions"]))
        if stats["checkpoints"]:
            table = make_table("source", "query", "state", "newest post", "updated",
                               numbers=("newest post", "updated"), title="collection checkpoints")
            for c in stats["checkpoints"]:
                table.add_row(c["source"], c["query"], "done" if c["done"] else "resumable",
                              (c["high_water"] or "-")[:16], c["updated_at"][:16])
            console.print(table)
        if stats["runs"]:
            counts = ("pages", "requests", "rows", "new", "rejected")
            table = make_table("kind", "source", "started", "status", *counts, "message",
                               numbers=("started", *counts), title="latest runs")
            for r in stats["runs"]:
                table.add_row(r["kind"], r["source"], r["started_at"][:16], r["status"],
                              str(r["pages"]), str(r["requests"]), f"{r['rows_in']:,}",
                              f"{r['posts_new']:,}", f"{r['rejected']:,}", r["message"] or "")
            console.print(table)

    @store_app.command("rejects")
    def store_rejects(
        run_id: Annotated[str, typer.Argument(help="Run id (printed by `radar import` and "
                                                   "`radar collect`).")],
        db: DbOption = None,
        limit: Annotated[int, typer.Option(min=1, help="Rows to show.")] = 50,
    ) -> None:
        """What a run rejected: an import's rows (by line) or a collection's items."""
        from radar.store import StoreError, open_existing_store

        try:
            with open_existing_store(db) as store:
                run = store.run(run_id)
                rows = store.rejected_rows(run_id)
        except StoreError as exc:
            raise fail(str(exc)) from exc
        console.print(f"{run.kind} {run.target}: {run.rejected:,} rejected rows",
                      soft_wrap=True)
        for line, reason, raw in rows[:limit]:
            console.print(f"{line}\t{reason}\t{json.dumps(raw, ensure_ascii=False)[:200]}",
                          soft_wrap=True)
