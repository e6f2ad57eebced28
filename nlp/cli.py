"""The ``radar`` command line: thin commands that parse, build a config and call one function.

The CLI is the composition root: it is the one module of ``nlp`` that reaches into
``training`` (lazily, inside the commands that need it), so the library modules of
``nlp`` stay free of training code and import nothing heavy at start-up.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

app = typer.Typer(help="complaint-radar: who is on their way out, per brand, and why.",
                  no_args_is_help=True, pretty_exceptions_show_locals=False)
datasets_app = typer.Typer(help="The public datasets we train and evaluate on.",
                           no_args_is_help=True)
app.add_typer(datasets_app, name="datasets")



def _console(stderr: bool = False) -> Console:
    """A console as wide as the terminal, or 120 columns when output is piped (CI, files)."""
    probe = Console(stderr=stderr)
    return probe if probe.is_terminal else Console(stderr=stderr, width=120)


console = _console()
err_console = _console(stderr=True)

DEFAULT_CONFIG = Path("training/configs/baseline.yaml")
ConfigOption = Annotated[Path, typer.Option("--config", "-c", help="Training config YAML.")]
TrackingOption = Annotated[str | None, typer.Option(
    "--tracking-uri", help="MLflow tracking URI (default: $MLFLOW_TRACKING_URI, "
                           "else sqlite:///mlflow.db in the working directory).")]


def _fail(message: str) -> typer.Exit:
    err_console.print(f"[bold red]error:[/bold red] {message}")
    return typer.Exit(code=1)


@datasets_app.command("list")
def datasets_list() -> None:
    """List the registered datasets with their source, license and where they resolve."""
    from training import datasets as registry

    table = Table(title="registered datasets")
    for column in ("name", "file", "rows", "license", "homepage", "found"):
        table.add_column(column)
    for name, spec in sorted(registry.REGISTRY.items()):
        try:
            where, _ = registry.resolve_path(spec, download=False)
        except registry.DatasetError as exc:
            where = "[red]missing[/red]" if not isinstance(exc, registry.ChecksumError) \
                else "[red]checksum mismatch[/red]"
        table.add_row(name, spec.relpath, f"{spec.raw_rows:,}", spec.license, spec.homepage, where)
    console.print(table)


@datasets_app.command("verify")
def datasets_verify(
    download: Annotated[bool, typer.Option(help="Download missing files into the cache.")] = False,
) -> None:
    """Check every registered dataset file against its sha256 and load it."""
    from training import datasets as registry

    failures = 0
    for name, spec in sorted(registry.REGISTRY.items()):
        try:
            where, path = registry.resolve_path(spec, download=download)
            rows = len(spec.loader(path))
        except registry.DatasetError as exc:
            failures += 1
            err_console.print(f"[red]FAIL[/red] {exc}", soft_wrap=True)
            continue
        console.print(f"[green]ok[/green]   {name}: {path} ({where}); sha256 matches; "
                      f"{spec.raw_rows:,} rows in the file, {rows:,} after de-duplication",
                      soft_wrap=True)
    if failures:
        raise _fail(f"{failures} dataset(s) failed verification")


@app.command()
def train(config: ConfigOption = DEFAULT_CONFIG, tracking_uri: TrackingOption = None) -> None:
    """Train and evaluate a model from a config; the run is tracked in MLflow."""
    from training.config import ConfigError, load_config
    from training.datasets import DatasetError
    from training.evaluate import format_yardsticks
    from training.train import train_baseline

    try:
        result = train_baseline(load_config(config), tracking_uri, err_console)
    except (ConfigError, DatasetError) as exc:
        raise _fail(str(exc)) from exc
    table = Table(title=f"{config} -> {result.model_dir} (MLflow run {result.run_id})")
    for column in ("measure", "ours", "published"):
        table.add_column(column)
    for row in format_yardsticks(result.metrics):
        table.add_row(*row)
    console.print(table)


@app.command()
def demo(config: ConfigOption = DEFAULT_CONFIG, tracking_uri: TrackingOption = None) -> None:
    """Verify data, train the baseline (or reuse it), score the airline tweets, report per brand."""
    from training.config import ConfigError, load_config
    from training.datasets import DatasetError
    from training.demo import run_demo

    try:
        result = run_demo(load_config(config), tracking_uri, err_console)
    except (ConfigError, DatasetError) as exc:
        raise _fail(str(exc)) from exc
    model_version = result.summaries[0].model_version if result.summaries else "-"
    title = f"airline-sentiment-2015: {result.posts:,} tweets, model {model_version}"
    console.print(_brand_table(result.summaries, title))


def _brand_table(summaries, title: str) -> Table:
    table = Table(title=title, caption="complaint: p >= 0.5; reasons: share of the brand's "
                                       "complaints naming the theme (themes the model predicts)")
    for column, justify in (("brand", "left"), ("posts", "right"), ("negative", "right"),
                            ("complaints", "right"), ("top reasons", "left")):
        table.add_column(column, justify=justify)
    for s in summaries:
        reasons = ", ".join(f"{key} {share:.0%}" for key, share in s.top_reasons) or "-"
        table.add_row(s.brand, f"{s.posts:,}", f"{s.negative_share:.1%}",
                      f"{s.complaint_share:.1%}", reasons)
    return table


ColOption = "Column of the dump holding the post's {} (default: {})."


@app.command()
def score(
    dump: Annotated[Path, typer.Argument(help="Review dump: .csv (with a header), .jsonl or "
                                              ".parquet.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output file: .parquet, .csv or "
                                                          ".jsonl (by extension).")],
    model: Annotated[Path, typer.Option(help="Model folder.")] = Path("models/baseline"),
    text_col: Annotated[str | None, typer.Option(help=ColOption.format("text", "text"))] = None,
    id_col: Annotated[str | None, typer.Option(
        help=ColOption.format("id", "id or post_id; else row-N"))] = None,
    brand_col: Annotated[str | None, typer.Option(help=ColOption.format("brand", "brand"))] = None,
    author_col: Annotated[str | None, typer.Option(
        help=ColOption.format("author", "author_id or author"))] = None,
    time_col: Annotated[str | None, typer.Option(
        help=ColOption.format("time, ISO 8601 or epoch seconds", "created_at, time or date"))
    ] = None,
    time_format: Annotated[str | None, typer.Option(
        help="strptime format of the time column, e.g. '%d-%m-%Y %H:%M' (naive times are "
             "taken as UTC); default ISO 8601.")] = None,
    chunk_size: Annotated[int, typer.Option(help="Rows per chunk (memory and resume "
                                                 "granularity).")] = 2048,
    resume: Annotated[bool, typer.Option(help="Continue an interrupted run into the same "
                                              "--out.")] = False,
) -> None:
    """Score a review dump: every row scored or quarantined with a reason, resumable."""
    from rich.progress import (
        BarColumn,
        Progress,
        TaskProgressColumn,
        TextColumn,
        TimeRemainingColumn,
    )

    from nlp.batch import BatchError, score_dump
    from nlp.classifier import ModelLoadError, load_classifier
    from nlp.dumps import ColumnMap, DumpError

    try:
        classifier = load_classifier(model)
    except (ModelLoadError, ValueError) as exc:
        raise _fail(str(exc)) from exc
    columns = ColumnMap(text=text_col, id=id_col, brand=brand_col, author=author_col,
                        time=time_col, time_format=time_format)
    bar = Progress(TextColumn(f"scoring {dump.name}"), BarColumn(), TaskProgressColumn(),
                   TextColumn("{task.fields[rows]:,} rows, {task.fields[rate]:,.0f} rows/s"),
                   TimeRemainingColumn(), console=err_console)
    started = time.perf_counter()
    with bar:
        task = bar.add_task("score", total=None, rows=0, rate=0.0)

        def on_progress(position: int, size: int, rows: int) -> None:
            rate = rows / max(time.perf_counter() - started, 1e-9)
            bar.update(task, completed=position, total=size, rows=rows, rate=rate)

        try:
            result = score_dump(dump, out, classifier, columns, chunk_size, resume,
                                progress=on_progress)
        except (BatchError, DumpError) as exc:
            raise _fail(str(exc)) from exc
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
        err_console.print("[bold yellow]warning:[/bold yellow] every row was quarantined; "
                          "check the column options against the quarantine file's reasons")
    if result.quarantine_path:
        console.print(f"quarantine: {result.quarantine_path} (one JSON object per row: row, "
                      "reason, raw)", soft_wrap=True)
    console.print(_brand_table(result.summaries, f"{dump.name}: per-brand summary, model "
                                                 f"{classifier.model_version}"))


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Interface to bind (default: $RADAR_HOST or "
                                                  "127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default: $RADAR_PORT or 8000).")] = None,
    model: Annotated[Path | None, typer.Option(help="Model folder (default: $RADAR_MODEL_DIR "
                                                    "or models/baseline).")] = None,
) -> None:
    """Start the REST endpoint (needs the serve extra). Other settings: RADAR_* variables."""
    import dataclasses

    try:
        import uvicorn

        from serve import ServeSettings, create_app
    except ImportError as exc:
        raise _fail(f"{exc}. Install the serve extra: pip install -e '.[serve]'") from exc
    try:
        settings = ServeSettings.from_env()
        overrides = {k: v for k, v in (("host", host), ("port", port), ("model_dir", model))
                     if v is not None}
        settings = dataclasses.replace(settings, **overrides)
    except ValueError as exc:
        raise _fail(str(exc)) from exc
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port)


if __name__ == "__main__":
    app()
