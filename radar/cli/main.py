"""The root ``radar`` command: it mounts every area's commands, and holds the product's own
(``demo``, ``score``, ``report``, ``serve``): thin commands that parse, build a config and
call one function.

It is the composition root: the one module that starts ``serve.py``'s app (in ``radar
serve``, lazily). Commands import what they run when they run, so ``radar --help`` loads
no model stack.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich import box
from rich.table import Column, Table
from rich.text import Text

from nlp.console import (
    ConfigOption,
    DelimiterOption,
    TimeFormatOption,
    TrackingOption,
    console,
    err_console,
    fail,
    labelled,
    make_table,
    quiet_third_party,
)
from nlp.errors import NotInstalled
from nlp.glossary import DRIVERS, HEADLINE, HEADLINE_SHORT, TOP_REASONS
from nlp.trend import TREND_ARROWS, trend_label

if TYPE_CHECKING:
    from nlp.report import Report

app = typer.Typer(help="complaint-radar: who is on their way out, per brand, and why.",
                  no_args_is_help=True, pretty_exceptions_show_locals=False)

DEMO_CONFIG = Path("training/configs/demo.yaml")


def _mount_areas() -> None:
    """Every area's commands: training, collection and the store, monitoring."""
    from radar.collect import cli as collect_cli
    from radar.monitor import cli as monitor_cli
    from training import cli as training_cli

    training_cli.register(app)
    collect_cli.register(app)
    monitor_cli.register(app)


_mount_areas()


@app.callback()
def root(verbose: Annotated[bool, typer.Option(
        "--verbose", "-v", help="Also show the progress bars, logging and warnings of MLflow "
                                "and the Hugging Face libraries.")] = False) -> None:
    """Options of every command, applied before it runs."""
    quiet_third_party(verbose)


@app.command()
def demo(
    config: ConfigOption = DEMO_CONFIG, tracking_uri: TrackingOption = None,
    out_dir: Annotated[Path, typer.Option(help="Where the demo's dump and scored file go.")
                       ] = Path("data/processed/demo"),
) -> None:
    """Verify data, use the fine-tuned champion (training one on first run), score the airline
    tweets, report risk per brand."""
    from radar.demo import run_demo
    from training.config import ConfigError, load_config
    from training.datasets import DatasetError
    from training.train_transformer import TrainError

    try:
        result = run_demo(load_config(config), tracking_uri, err_console, demo_dir=out_dir)
    except (ConfigError, DatasetError, TrainError, NotInstalled) as exc:
        raise fail(str(exc)) from exc
    batch, versions = result.batch, ", ".join(result.report.model_versions)
    console.print(_brand_table(batch.summaries, f"airline-sentiment-2015: posts per brand, all "
                                                f"{batch.rows_scored:,} tweets (model "
                                                f"{versions})"))
    console.print(_risk_table(result.report, f"airline-sentiment-2015: {HEADLINE}, per "
                                             f"brand (model {versions})"))
    _print_report_notes(result.report)
    console.print(f"scored tweets: {result.scored_path}; explore them with `radar report "
                  f"{result.scored_path} --window {result.report.window} --brand United`",
                  soft_wrap=True)
    if result.store_path is not None:
        console.print(f"dashboard: start it with `.venv/bin/radar serve --db {result.store_path}`"
                      ", then open http://127.0.0.1:8000/ (risk per brand in the table's "
                      "windows, the posts behind it, alerts)", soft_wrap=True)


def _brand_table(summaries, title: str) -> Table:
    table = make_table("brand", "posts", "negative", "complaints", "top reasons",
                       numbers=("posts", "negative", "complaints"), title=title,
                       caption="negative: share of posts the model reads as negative; "
                               "complaints: share with p(complaint) at or above the model's "
                               f"threshold; top reasons: {TOP_REASONS}",
                       caption_justify="left")
    for s in summaries:
        reasons = ", ".join(f"{key} {share:.0%}" for key, share in s.top_reasons) or "-"
        table.add_row(s.brand, f"{s.posts:,}", f"{s.negative_share:.1%}",
                      f"{s.complaint_share:.1%}", reasons)
    return table


ColOption = "Column of the dump holding the post's {} (default: {})."
DbOption = Annotated[str | None, typer.Option(
    "--db", help="A post store (a SQLite file such as data/radar.db, or a postgresql:// URL): "
                 "its posts instead of a file.")]
EXACTLY_ONE = "give either {} or --db PATH (a post store such as data/radar.db), not {}"


def _one_input(path: Path | None, db: str | None, what: str) -> None:
    """Exactly one of a file argument and ``--db``; the message says which were given."""
    if (path is None) == (db is None):
        raise fail(EXACTLY_ONE.format(what, "both" if path else "neither"))


def _only_with(given: dict[str, object], where: str) -> None:
    """Fail naming the options in ``given`` that were set but do not apply (``where``)."""
    named = [name for name, value in given.items() if value not in (None, False)]
    if named:
        raise fail(f"{', '.join(named)} {'applies' if len(named) == 1 else 'apply'} {where}")


@app.command()
def score(
    dump: Annotated[Path | None, typer.Argument(
        help="Review dump: .csv (with a header), .jsonl or .parquet (or --db instead).",
        show_default=False)] = None,
    out: Annotated[Path | None, typer.Option(
        "--out", "-o", help="Output file of a DUMP: .parquet, .csv or .jsonl (by extension).")
    ] = None,
    db: DbOption = None,
    brand: Annotated[str | None, typer.Option(help="With --db: only this brand's posts.")
                     ] = None,
    model: Annotated[str, typer.Option(help="Model: a folder, models:/complaint-radar@champion, "
                                            "models:/complaint-radar/N or runs:/<run_id>/model.")
                     ] = "models:/complaint-radar@champion",
    backend: Annotated[str, typer.Option(help="torch, or onnx (fine-tuned models: ONNX Runtime "
                                              "with int8 weights, faster on CPU).")] = "torch",
    text_col: Annotated[str | None, typer.Option(help=ColOption.format("text", "text"))] = None,
    id_col: Annotated[str | None, typer.Option(
        help=ColOption.format("id", "id, post_id or tweet_id; else row-N"))] = None,
    brand_col: Annotated[str | None, typer.Option(help=ColOption.format("brand", "brand"))] = None,
    author_col: Annotated[str | None, typer.Option(
        help=ColOption.format("author", "author_id or author"))] = None,
    time_col: Annotated[str | None, typer.Option(
        help=ColOption.format("time", "created_at, time or date"))] = None,
    time_format: TimeFormatOption = None,
    delimiter: DelimiterOption = None,
    chunk_size: Annotated[int, typer.Option(min=1, help="Rows per chunk (memory and resume "
                                                        "granularity); with --db, posts per "
                                                        "stored batch.")] = 2048,
    resume: Annotated[bool, typer.Option(help="Continue an interrupted run into the same "
                                              "--out.")] = False,
    engine: Annotated[str, typer.Option(
        help="local (this process) or spark (a Parquet DUMP on Apache Spark; --out becomes a "
             "folder of Parquet part files; spark extra and Java 17).")] = "local",
    master: Annotated[str | None, typer.Option(
        help="With --engine spark: the Spark master (local[2], spark://host:7077, yarn; "
             "default: local[2]).")] = None,
    partitions: Annotated[int | None, typer.Option(
        min=1, help="With --engine spark: spread the rows over this many partitions "
                    "(default: Spark's split of the file).")] = None,
    tracking_uri: TrackingOption = None,
) -> None:
    """Score a review dump (every row scored or quarantined with a reason, resumable), or
    the stored posts this model version has not scored yet (--db)."""
    from nlp.batch import BatchError, score_dump
    from nlp.classifier import ModelLoadError, load_classifier
    from nlp.dumps import ColumnMap, DumpError

    _one_input(dump, db, "a DUMP file")
    file_only = {"--out": out, "--text-col": text_col, "--id-col": id_col,
                 "--brand-col": brand_col, "--author-col": author_col, "--time-col": time_col,
                 "--time-format": time_format, "--delimiter": delimiter, "--resume": resume}
    if engine not in ("local", "spark"):
        raise fail(f"--engine {engine!r}: expected local or spark")
    if engine != "spark":
        _only_with({"--master": master, "--partitions": partitions}, "to --engine spark")
    elif db is not None or resume:
        raise fail("--engine spark scores a Parquet DUMP into --out; "
                   + ("--db is scored by this process (--engine local)" if db is not None
                      else "a killed Spark run is simply run again (--resume is for local)"))
    if db is not None:
        _only_with(file_only, "to a DUMP; --db scores the stored posts as they were imported")
    else:
        _only_with({"--brand": brand}, "to --db; a DUMP's brands are its brand column "
                                       "(--brand-col)")
        if out is None:
            raise fail("--out is required with a DUMP: the scored file to write (.parquet, "
                       ".csv or .jsonl)")
    try:
        columns = ColumnMap(text=text_col, id=id_col, brand=brand_col, author=author_col,
                            time=time_col, time_format=time_format, delimiter=delimiter)
    except DumpError as exc:
        raise fail(str(exc)) from exc

    def load():
        try:
            loaded = load_classifier(model, tracking_uri, backend=backend)
        except (ModelLoadError, NotInstalled, ValueError) as exc:
            raise fail(str(exc)) from exc
        err_console.print(f"model {loaded.model_version} ({model}, {backend})", soft_wrap=True)
        return loaded

    if db is not None:
        _score_store(db, load, brand, chunk_size)
        return
    if engine == "spark":
        _score_on_spark(dump, out, model, columns, master, partitions, backend, tracking_uri)
        return
    classifier = load()
    bar = _progress(f"scoring {dump.name}", "rows")
    started = time.perf_counter()
    with bar:
        task = bar.add_task("score", total=None, done=0, rate=0.0)

        def on_progress(position: int, size: int, rows: int) -> None:
            rate = rows / max(time.perf_counter() - started, 1e-9)
            bar.update(task, completed=position, total=size, done=rows, rate=rate)

        try:
            result = score_dump(dump, out, classifier, columns, chunk_size, resume,
                                progress=on_progress)
        except (BatchError, DumpError) as exc:
            raise fail(str(exc)) from exc
        except KeyboardInterrupt:
            err_console.print(f"interrupted; finished chunks are kept in {out}.parts. Run the "
                              "same command with --resume to continue.", soft_wrap=True)
            raise typer.Exit(code=130) from None
    resumed = (f" ({result.resumed_rows:,} from the interrupted run)"
               if result.resumed_rows else "")
    console.print(
        f"rows in {result.rows_in:,}{resumed} = scored {result.rows_scored:,} + quarantined "
        f"{result.rows_quarantined:,}; {result.rows_in / max(result.seconds, 1e-9):,.0f} rows/s",
        soft_wrap=True)
    console.print(f"output: {result.out_path}", soft_wrap=True)
    if result.rows_in and not result.rows_scored:
        err_console.print(labelled("warning:", "bold yellow", "every row was quarantined; "
                                   "check the column options against the quarantine file's "
                                   "reasons"))
    if result.quarantine_path:
        console.print(f"quarantine: {result.quarantine_path} (one JSON object per row: row, "
                      "reason, raw)", soft_wrap=True)
    console.print(_brand_table(result.summaries, f"{dump.name}: per-brand summary, model "
                                                 f"{classifier.model_version}"))


def _score_on_spark(dump: Path, out: Path, model: str, columns, master: str | None,
                    partitions: int | None, backend: str, tracking_uri: str | None) -> None:
    """``radar score DUMP --engine spark``: the same contract and counts, on Spark."""
    from nlp.batch import BatchError
    from nlp.classifier import ModelLoadError
    from nlp.classifier.loading import local_model_dir
    from nlp.dumps import DumpError
    from nlp.spark_batch import DEFAULT_MASTER, check_job, score_parquet

    master = master or DEFAULT_MASTER
    try:
        check_job(dump, out)  # before the model is fetched or a JVM started
    except (BatchError, DumpError) as exc:
        raise fail(str(exc)) from exc
    err_console.print(f"scoring {dump.name} on Spark ({master}) with {model}; progress is "
                      "Spark's (its UI, or the log)", soft_wrap=True)
    try:
        with local_model_dir(model, tracking_uri) as model_dir:
            result = score_parquet(dump, out, model_dir, columns, master=master,
                                   partitions=partitions, backend=backend)
    except (BatchError, DumpError, ModelLoadError, NotInstalled, ValueError) as exc:
        raise fail(str(exc)) from exc
    except Exception as exc:
        if not type(exc).__module__.startswith(("pyspark", "py4j")):
            raise
        # Spark's own errors (a bad --master, a lost executor): its first line, not the
        # JVM's stack
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise fail(f"Spark failed: {reason}") from exc
    console.print(
        f"rows in {result.rows_in:,} = scored {result.rows_scored:,} + quarantined "
        f"{result.rows_quarantined:,}; {result.rows_in / max(result.seconds, 1e-9):,.0f} "
        f"rows/s over {result.partitions} partitions", soft_wrap=True)
    console.print(f"output: {result.out_path}/ (Parquet part files, input order)",
                  soft_wrap=True)
    if result.quarantine_path:
        console.print(f"quarantine: {result.quarantine_path}/ (JSON lines: row, line, reason, "
                      "raw)", soft_wrap=True)
    versions = ", ".join(sorted({s.model_version for s in result.summaries})) or model
    console.print(_brand_table(result.summaries, f"{dump.name}: per-brand summary, model "
                                                 f"{versions}"))


def _progress(label: str, unit: str):
    """A rich progress bar on stderr: the bar, the share, items done, items/s and ETA."""
    from rich.progress import (
        BarColumn,
        Progress,
        RenderableColumn,
        TaskProgressColumn,
        TextColumn,
        TimeRemainingColumn,
    )

    # The label (a file name) as text: a TextColumn reads its format as markup and {fields}.
    return Progress(RenderableColumn(Text(label)), BarColumn(), TaskProgressColumn(),
                    TextColumn(f"{{task.fields[done]:,}} {unit}, {{task.fields[rate]:,.0f}} "
                               f"{unit}/s"), TimeRemainingColumn(), console=err_console)


def _open_existing_store(db: str):
    """The post store at ``db``; a missing file or one that is no store fails, saying what
    to do (a report or a scoring run never creates an empty store)."""
    from nlp.dumps import FORMATS
    from radar.store import (
        StoreError,
        StoreMissing,
        describe_target,
        is_database_url,
        open_existing_store,
        resolve_db_path,
    )

    try:
        return open_existing_store(db)
    except StoreMissing as exc:
        shown = describe_target(resolve_db_path(db))
        raise fail(f"{exc}; put posts in one first, e.g. `radar import FILE --db {shown}` or "
                   f"`radar collect ... --db {shown}`") from exc
    except StoreError as exc:
        name = Path(db)
        hint = (f"; {name.name} looks like a dump: score it with `radar score {db} --out "
                f"FILE`, or import it with `radar import {db} --db STORE`"
                if not is_database_url(db) and name.suffix.lower() in FORMATS else "")
        raise fail(f"{exc}{hint}") from exc


def _stored_posts(store, brand: str | None) -> int:
    """How many posts the store holds (of ``brand``); none fails, saying what is there."""
    from radar.store.history import stored_brands

    posts = store.count_posts(brand=brand)
    if posts:
        return posts
    if brand is None or not store.count_posts():
        raise fail(f"{store.location}: the store holds no posts yet; put some in it first, "
                   f"e.g. `radar import FILE --db {store.location}`")
    known = stored_brands(store)
    listed = ", ".join(known[:20]) + (f" and {len(known) - 20} more" if len(known) > 20 else "")
    raise fail(f"{store.location}: no posts of brand {brand!r}; its brands: {listed or 'none'} (as "
               "stored: same spelling and case)")


def _score_store(db: str, load, brand: str | None, batch_size: int) -> None:
    """Score the stored posts (of ``brand``) the model ``load()`` gives has not scored (the
    monitor's scoring step), then summarise every post it has scored, per brand."""
    from nlp.classifier.contract import thresholds_for
    from nlp.summary import BrandTally
    from radar.monitor.cycle import Stop, score_step
    from radar.store import StoreError, store_label

    with _open_existing_store(db) as store:
        posts = _stored_posts(store, brand)  # an empty store fails before the model loads
        classifier = load()
        version = classifier.model_version
        todo = store.count_unscored(version, brand)
        bar = _progress(f"scoring {store_label(db)}", "posts")
        started = time.perf_counter()
        with bar:
            task = bar.add_task("score", total=todo, done=0, rate=0.0)

            def on_progress(done: int) -> None:
                rate = done / max(time.perf_counter() - started, 1e-9)
                bar.update(task, completed=done, done=done, rate=rate)

            try:
                scored = score_step(store, classifier, batch_size, Stop(), lambda _: None,
                                    brand, on_progress)
            except StoreError as exc:
                raise fail(str(exc)) from exc
            except KeyboardInterrupt:
                err_console.print("interrupted; the posts scored so far are stored. Run the "
                                  "same command to score the rest.", soft_wrap=True)
                raise typer.Exit(code=130) from None
        console.print(f"posts scored {scored:,} (already scored {posts - todo:,})",
                      soft_wrap=True)
        thresholds = thresholds_for(classifier)
        tally = BrandTally(thresholds.complaint, thresholds.theme, thresholds.per_theme)
        for post, prediction in store.scored_posts(version, brand, by_key=True):
            tally.add(post.brand, prediction)
    summaries = tally.summaries()
    console.print(_brand_table(summaries, f"{store_label(db)}: per-brand summary of the "
                                          f"{sum(s.posts for s in summaries):,} posts scored "
                                          f"by model {version}"))


BRANDS_DEFAULT = Path("data/brands.yaml")
TREND_COLOURS = {"up": "red", "down": "green"}  # a rise in risk is bad news


def _trend_arrow(label: str) -> Text:
    """The shared trend arrow (:data:`nlp.trend.TREND_ARROWS`), coloured for the terminal."""
    return Text(TREND_ARROWS[label], style=TREND_COLOURS.get(label, ""))


def _risk_table(report: Report, title: str) -> Table:
    """The latest window's brands: share, interval, expected, trend and top drivers; the
    brands with too few customers to rank listed apart, after the ranked ones."""
    from nlp.risk import RiskConfig

    config = RiskConfig()
    latest = report.latest()
    start = latest[0].risk.window_start if latest else None
    end = latest[0].risk.window_end if latest else None
    window = (f"{start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M} UTC ({report.window})" if start
              else f"undated posts, one window ({report.window})")
    if latest and latest[0].partial:
        window += ", partial: the posts cover it only in part"
    version = latest[0].risk.score_version if latest else ""
    minimum = report.min_customers_ranked
    caption = "\n".join((
        f"window {window}; ranked by share from {minimum} customers, fewer "
        f"are listed apart",
        f"{HEADLINE_SHORT}: the {HEADLINE}, i.e. the mean of each customer's risk of leaving "
        f"({version}, docs/risk.md); customers: distinct authors",
        f"{config.confidence:.0%} CI: bootstrap over customers (Wilson below "
        f"{config.min_bootstrap_customers}); expected: customers at risk = share × customers",
        "trend vs the previous window: ▲/▼ beyond the noise, ≈ within it, partial: the data "
        "covers this or the previous window only in part (not compared), gap: no customers "
        f"in the previous window; * fewer than {config.min_bootstrap_customers} customers "
        "before",
        f"top drivers: {DRIVERS}"))
    numbers = ("customers", HEADLINE_SHORT.replace(" ", "\n", 1), f"{config.confidence:.0%} CI",
               "expected", "trend")
    table = make_table("brand", *numbers, "top drivers (share of risk)", numbers=numbers,
                       title=title, caption=caption, caption_justify="left", box=box.SIMPLE_HEAD,
                       pad_edge=False,
                       collapse_padding=True)
    for i, w in enumerate(latest):
        if not w.ranked and (i == 0 or latest[i - 1].ranked):
            table.add_section()
            table.add_row(Text(f"too few customers to rank (< {minimum}):", style="dim"))
        table.add_row(*_risk_cells(w, config.min_bootstrap_customers))
    return table


def _risk_cells(w, min_before: int) -> list[str | Text]:
    """One brand-window as the risk table's cells."""
    r = w.risk
    label = trend_label(r.trend, w.trend_significant, w.partial or w.previous_partial,
                        w.earlier)
    trend = _trend_arrow(label) + (f" {r.trend:+.1%}" if r.trend is not None
                                   and label in ("up", "down", "flat") else "")
    if (label in ("up", "down", "flat") and w.previous_customers is not None
            and w.previous_customers < min_before):
        trend += "*"
    drivers = ", ".join(f"{k} {v:.0%}" for k, v in list(r.drivers.items())[:3]) or "-"
    interval = f"{r.ci_low:.1%}–{r.ci_high:.1%}".replace("%–", "–")
    return [r.brand, f"{r.customers:,}", f"{r.at_risk_share:.1%}", interval,
            f"{r.expected_at_risk:,.0f}", trend, drivers]


def _accounting(report: Report) -> str:
    e = report.exclusions
    counted = sum(w.posts for w in report.windows)
    return (f"rows {report.rows_in:,} = counted {counted:,} + brand accounts {e.brand_account:,} "
            f"+ news/bots {e.bot_or_news:,} + duplicates {e.duplicate:,} + outside the windows "
            f"(undated) {e.outside_windows:,} + no brand {report.without_brand:,} + unreadable "
            f"{report.unreadable:,}")


# How a brand was found (nlp.brands.Resolution.how), as the report says it.
FOUND = {"unknown": "from the data (not in the brand book)",
         "column": "from the data, named in the brand book",
         "mention": "from mentions of a brand-book handle or alias"}
LISTED = 10  # brands named per group; the rest are counted


def _brand_sources(report: Report) -> str:
    """``brands: A 30, B 20 from the data (not in the brand book); C 12 from ...; no brand:
    ...``: how each brand was found, with its posts (before exclusions)."""
    groups: dict[str, list[str]] = {}
    for brand, hows in report.brand_sources.items():
        for how, posts in hows.items():
            groups.setdefault(how, []).append(f"{brand} {posts:,}")
    found = {**FOUND, "column": FOUND["column"] if report.has_book else "from the data"}
    parts = [f"{', '.join(named[:LISTED])}"
             f"{f' and {len(named) - LISTED} more brands' if len(named) > LISTED else ''} "
             f"{found.get(how, how)}" for how, named in groups.items()]
    missing = {"ambiguous": "mention two brands or more",
               "none": "have no brand value and mention no brand the book knows"
               if report.has_book else "have no brand value (no brand book for mentions)"}
    without = [f"{report.brands_found[how]:,} {text}" for how, text in missing.items()
               if report.brands_found.get(how)]
    if without:
        parts.append(f"no brand: {', '.join(without)}")
    return "brands: " + "; ".join(parts)


def _print_report_notes(report: Report) -> None:
    console.print(_accounting(report), soft_wrap=True)
    console.print(_brand_sources(report), soft_wrap=True)
    for example in report.unreadable_examples:
        err_console.print(labelled("unreadable", "yellow", str(example)), soft_wrap=True)
    latest_brands = {w.risk.brand for w in report.latest()}
    quiet = sorted({w.risk.brand for w in report.windows} - latest_brands)
    if quiet:
        console.print(f"no customers in the latest window: {', '.join(quiet)}", soft_wrap=True)


def _moment(option: str, value: str | None):
    """``--since``/``--until``: an ISO 8601 date or time (UTC when no offset), or an age."""
    from radar.collect import parse_since

    try:
        return parse_since(value)
    except ValueError as exc:
        raise fail(str(exc).replace("--since", option, 1)) from exc


@app.command()
def report(
    scored: Annotated[Path | None, typer.Argument(
        help="Output of `radar score` (.parquet, .csv or .jsonl), or --db instead.",
        show_default=False)] = None,
    db: DbOption = None,
    window: Annotated[str, typer.Option(help="Window length: 7d, 36h, 2w, or 'all'.")] = "7d",
    json_out: Annotated[Path | None, typer.Option(
        "--json", help="Write every brand-window here as JSON, with what each field means.")
    ] = None,
    csv_out: Annotated[Path | None, typer.Option("--csv", help="Write the same as CSV.")] = None,
    brands: Annotated[Path | None, typer.Option(help="Brand book YAML (default: "
                                                     "data/brands.yaml when it exists).")] = None,
    brand: Annotated[str | None, typer.Option(help="List this brand's at-risk customers and the "
                                                   "posts behind each; with --db, read only "
                                                   "its posts.")] = None,
    show_authors: Annotated[bool, typer.Option(help="With --brand: real author ids instead of "
                                                    "pseudonyms.")] = False,
    min_risk: Annotated[float, typer.Option(help="With --brand: lowest risk listed.")] = 0.5,
    top: Annotated[int, typer.Option(help="With --brand: most customers listed.")] = 20,
    brand_from: Annotated[str, typer.Option(help="Where a post's brand comes from: 'column' "
                                                 "(its brand value, else mentions) or "
                                                 "'mention' (mentions only).")] = "column",
    since: Annotated[str | None, typer.Option(
        help="With --db: posts from then on: ISO 8601 (UTC when no offset) or an age, 30d / "
             "24h.")] = None,
    until: Annotated[str | None, typer.Option(help="With --db: posts before then (the same "
                                                   "forms).")] = None,
    model_version: Annotated[str | None, typer.Option(
        help="With --db: the predictions of this model version (default: the one that "
             "scored posts most recently).")] = None,
) -> None:
    """Ex-customers at risk per brand, with intervals, trend and drivers (score risk.v1), from
    a scored file or from the scored posts of a store (--db)."""
    from nlp.brands import BrandBook, BrandBookError
    from nlp.report import (
        ReportError,
        build_report,
        report_document,
        report_records,
        write_csv,
        write_json,
    )

    _one_input(scored, db, "a SCORED file")
    if scored is not None:
        _only_with({"--since": since, "--until": until, "--model-version": model_version},
                   "to --db (a scored file is reported as it is)")
    if brand_from not in ("column", "mention"):
        raise fail(f"--brand-from must be 'column' or 'mention', got {brand_from!r}")
    if not 0.0 <= min_risk <= 1.0 or top < 1:
        raise fail(f"--min-risk must be in [0, 1] and --top >= 1, got {min_risk}, {top}")
    for out in (json_out, csv_out):
        if out is not None and out.is_dir():
            raise fail(f"{out} is a folder; give a file name, e.g. {out / 'risk.json'}")
        if out is not None and not out.parent.is_dir():
            raise fail(f"{out}: folder {out.parent} does not exist")
    try:
        book_path = brands or (BRANDS_DEFAULT if BRANDS_DEFAULT.is_file() else None)
        book = BrandBook.from_yaml(book_path) if book_path else None
        if db is not None:
            result = _store_report(db, book, window, brand_from == "mention", brand,
                                   _moment("--since", since), _moment("--until", until),
                                   model_version)
        else:
            result = build_report(scored, book, window=window,
                                  mentions_only=brand_from == "mention")
    except (BrandBookError, ReportError, ValueError) as exc:
        raise fail(str(exc)) from exc
    versions = ", ".join(result.model_versions) or "unknown"
    from radar.store import store_label

    name = scored.name if scored is not None else store_label(db)
    console.print(_risk_table(result, f"{name}: {HEADLINE}, per brand (model {versions})"))
    _print_report_notes(result)
    if scored is not None and result.without_brand:
        console.print("posts without a brand: give the file a brand column, or import the "
                      "dump into a store (`radar import DUMP --db DB` gives a twcs export's "
                      "posts their thread's brand) and use `radar score --db DB` and `radar "
                      "report --db DB`", soft_wrap=True)
    records = report_records(result)
    if json_out:
        write_json(report_document(result, records), json_out)
        console.print(f"json: {json_out} ({len(records)} brand-windows)", soft_wrap=True)
    if csv_out:
        write_csv(records, csv_out)
        console.print(f"csv: {csv_out} ({len(records)} brand-windows)", soft_wrap=True)
    if brand:
        _print_customers(result, (book.canonical(brand) if book else None) or brand,
                         min_risk, top, show_authors)


def _store_report(db: str, book, window: str, mentions_only: bool, brand: str | None,
                  since, until, model_version: str | None) -> Report:
    """The report on the store's posts scored by ``model_version`` (default: the version
    that scored posts most recently), of ``brand`` and in ``[since, until)`` when given."""
    from nlp.report import report_from_posts

    with _open_existing_store(db) as store:
        posts = _stored_posts(store, brand)
        versions = store.model_versions()
        if not versions:
            raise fail(f"{store.location}: none of its {posts:,} posts is scored yet; score "
                       f"them first: `radar score --db {store.location} --model MODEL`")
        if model_version is not None and model_version not in dict(versions):
            listed = ", ".join(f"{v} ({n:,} posts)" for v, n in versions)
            raise fail(f"{store.location}: no predictions of model version "
                       f"{model_version!r}; it holds {listed}")
        version = model_version or versions[0][0]
        scope = ", ".join([f"model {version}", *([f"brand {brand}"] if brand else []),
                           *([f"from {since:%Y-%m-%d %H:%M} UTC"] if since else []),
                           *([f"until {until:%Y-%m-%d %H:%M} UTC"] if until else [])])
        result = report_from_posts(store.scored_posts(version, brand, since, until), book,
                                   window=window, mentions_only=mentions_only,
                                   name=f"{store.location} ({scope})")
        unscored = store.count_unscored(version, brand)
        shown = store.location
    which = (f" (the one that scored posts most recently, of {len(versions)}; --model-version "
             "picks another)" if model_version is None and len(versions) > 1 else "")
    console.print(f"store {shown}: posts scored by model {version}{which}", soft_wrap=True)
    if unscored:
        console.print(f"{unscored:,} stored posts{f' of {brand}' if brand else ''} have no "
                      f"prediction from {version} and are left out; `radar score --db {shown}` "
                      "with that model scores them", soft_wrap=True)
    return result


def _print_customers(result: Report, brand: str, min_risk: float, top: int, reveal: bool) -> None:
    from nlp.report import ReportError, customer_rows

    try:
        window, rows = customer_rows(result, brand, min_risk, top, reveal)
    except ReportError as exc:
        raise fail(str(exc)) from exc
    r = window.risk
    span = (f"{r.window_start:%Y-%m-%d} to {r.window_end:%Y-%m-%d}" if r.window_start
            else "undated posts")
    table = make_table(Column("customer", no_wrap=True, overflow="fold"), "risk",
                       Column("drivers", max_width=24, overflow="fold"), "posts that drove it",
                       numbers=("risk",),
                       title=f"{r.brand}: customers at risk >= {min_risk:.0%}, {span} "
                             f"({len(rows)} shown of {r.customers:,} customers)",
                       caption=None if reveal else "authors pseudonymised; @handles, links, "
                                                   "e-mail addresses, phone and card numbers "
                                                   "masked; post ids hidden; --show-authors "
                                                   "shows them",
                       show_lines=True)
    for row in rows:
        drivers = "\n".join(f"{k} {v:.0%}" for k, v in list(row["drivers"].items())[:3])
        posts = "\n".join(f"{(p['created_at'] or '-')[:16].replace('T', ' ')} "
                          f"{p['id'] or ''}\n  {(p['text'] or '')[:200]}" for p in row["posts"])
        table.add_row(row["customer"], f"{row['risk']:.2f}", drivers, posts)
    console.print(table)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Interface to bind (default: $RADAR_HOST or "
                                                  "127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default: $RADAR_PORT or 8000).")] = None,
    model: Annotated[Path | None, typer.Option(
        help="Model folder or MLflow URI, e.g. models:/complaint-radar/3 (default: "
             "$RADAR_MODEL_DIR, else the champion registered in $MLFLOW_TRACKING_URI or "
             "sqlite:///mlflow.db, else the newest model folder in models/).")] = None,
    backend: Annotated[str | None, typer.Option(
        help="torch, or onnx (fine-tuned models: ONNX Runtime with int8 weights, faster on "
             "CPU; onnx extra) (default: $RADAR_BACKEND or torch).")] = None,
    db: Annotated[str | None, typer.Option(
        "--db", help="Post store the dashboard reads: a SQLite file or a postgresql:// URL "
                     "(default: $RADAR_DB or data/radar.db).")] = None,
    request_timeout: Annotated[float | None, typer.Option(
        help="Seconds a request may wait for and run on the model; past it 503 or 504 "
             "(default: $RADAR_REQUEST_TIMEOUT_S or 30).")] = None,
    allowed_host: Annotated[list[str] | None, typer.Option(
        help="Host name clients may use besides localhost, 127.0.0.1, ::1 and --host; "
             "repeatable, '*' for any (default: $RADAR_ALLOWED_HOSTS, comma-separated).")
    ] = None,
) -> None:
    """Start the REST endpoint and the dashboard (serve extra). Other settings: RADAR_*."""
    import dataclasses

    from nlp.classifier import ModelLoadError
    from nlp.errors import require
    from radar.store import StoreError, resolve_db_path

    try:
        uvicorn = require("uvicorn", "serve", "`radar serve`")
        from serve import ServeSettings, create_app  # NotInstalled without fastapi
    except NotInstalled as exc:
        raise fail(str(exc)) from exc  # printed as text: the install command holds [serve]
    try:
        settings = ServeSettings.from_env()
        overrides = {k: v for k, v in (("host", host), ("port", port), ("model_dir", model),
                                       ("backend", backend),
                                       ("db_path", resolve_db_path(db) if db else None),
                                       ("request_timeout_s", request_timeout),
                                       ("allowed_hosts", tuple(allowed_host or ()) or None))
                     if v is not None}
        settings, reason = dataclasses.replace(settings, **overrides).with_model()
    except (ValueError, ModelLoadError, NotInstalled, StoreError) as exc:
        raise fail(str(exc)) from exc
    err_console.print(f"model: {settings.model_dir} ({reason}), "
                      f"backend {settings.backend}", soft_wrap=True)
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port)


if __name__ == "__main__":
    app()
