"""The ``radar`` command line: thin commands that parse, build a config and call one function.

The CLI is the composition root: it is the one module of ``nlp`` that reaches into
``training`` (lazily, inside the commands that need it), so the library modules of
``nlp`` stay free of training code and import nothing heavy at start-up.
"""

from __future__ import annotations

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
    table = Table(title=f"airline-sentiment-2015: {result.posts:,} tweets, model {model_version}",
                  caption="complaint: p >= 0.5; reasons: share of the brand's complaints "
                          "naming the theme (themes the baseline can predict)")
    for column, justify in (("brand", "left"), ("posts", "right"), ("negative", "right"),
                            ("complaints", "right"), ("top reasons", "left")):
        table.add_column(column, justify=justify)
    for s in result.summaries:
        reasons = ", ".join(f"{key} {share:.0%}" for key, share in s.top_reasons) or "-"
        table.add_row(s.brand, f"{s.posts:,}", f"{s.negative_share:.1%}",
                      f"{s.complaint_share:.1%}", reasons)
    console.print(table)


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
