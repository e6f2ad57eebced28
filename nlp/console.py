"""Terminal output shared by every area's commands (``radar`` and the training commands).

A console as wide as the terminal, or 120 columns when output is piped; errors on stderr
as ``error: ...`` with exit code 1; the ``--config`` and ``--tracking-uri`` options of the
commands that train or load models.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

ConfigOption = Annotated[Path, typer.Option("--config", "-c", help="Training config YAML.")]
TrackingOption = Annotated[str | None, typer.Option(
    "--tracking-uri", help="MLflow tracking URI (default: $MLFLOW_TRACKING_URI, "
                           "else sqlite:///mlflow.db in the working directory).")]


def make_console(stderr: bool = False) -> Console:
    """A console as wide as the terminal, or 120 columns when output is piped (CI, files)."""
    probe = Console(stderr=stderr)
    return probe if probe.is_terminal else Console(stderr=stderr, width=120)


console = make_console()
err_console = make_console(stderr=True)


def fail(message: str) -> typer.Exit:
    """Print ``error: message`` on stderr; raise the returned exit (code 1) from the cause."""
    err_console.print(f"[bold red]error:[/bold red] {message}")
    return typer.Exit(code=1)
