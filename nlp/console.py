"""Terminal output shared by every area's commands (``radar`` and the training commands).

A console as wide as the terminal, or as wide as its lines when output is piped (CI logs,
files); tables that never cut a number; third-party progress bars, logging and warnings
kept quiet unless ``radar -v``; errors on stderr as ``error: ...`` with exit code 1; the
``--config`` and ``--tracking-uri`` options of the commands that train or load models.

What these consoles and tables print is text, never Rich markup: brands, authors, paths,
queries and error messages come from outside, and ``[/b]`` in a brand must print as
``[/b]``, not crash the command (``MarkupError``) or restyle the line. Colour is given with
:class:`rich.text.Text` (``Text("ok", style="green")``, :func:`labelled`), never with
``[green]`` tags, which print as they are.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import sys
import warnings
from collections.abc import Collection
from pathlib import Path
from typing import IO, Annotated, Any

import typer
from rich.console import Console, RenderableType
from rich.table import Column, Table
from rich.text import Text

ConfigOption = Annotated[Path, typer.Option("--config", "-c", help="Training config YAML.")]
# The dump-reading options `radar score` and `radar import` share (nlp.dumps.ColumnMap).
DelimiterOption = Annotated[str | None, typer.Option(
    help="CSV delimiter, e.g. ';' or '\\t' (tab); default: sniffed among , ; tab |.")]
TimeFormatOption = Annotated[str | None, typer.Option(
    help="strptime format of the time column, e.g. '%d-%m-%Y %H:%M' (naive times are taken "
         "as UTC); default: guessed (ISO 8601, Twitter's 'Tue Oct 31 22:10:47 +0000 2017', "
         "RFC 2822, epoch seconds or milliseconds).")]
TrackingOption = Annotated[str | None, typer.Option(
    "--tracking-uri", help="MLflow tracking URI (default: $MLFLOW_TRACKING_URI, "
                           "else sqlite:///mlflow.db in the working directory).")]

# Wide enough that rich never narrows a table or wraps a line: a log or a file gets each
# row whole on one line, and the reader's viewer wraps it if it must.
PIPED_WIDTH = 10_000

# The libraries whose progress bars, logging and warnings `radar` hides unless -v. Each
# reads its variable when imported (MLflow's bar switch at every download), and commands
# import them after the root callback has run; a variable the user set is kept.
NOISY_LIBRARIES = ("mlflow", "transformers", "huggingface_hub", "datasets", "torch", "onnxruntime")
QUIET_ENV = {
    "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
    "MLFLOW_LOGGING_LEVEL": "WARNING",
    "TRANSFORMERS_VERBOSITY": "error",
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",  # transformers' bars ("Loading weights") follow it
    "DATASETS_VERBOSITY": "error",
    "HF_DATASETS_DISABLE_PROGRESS_BARS": "1",
}


def make_console(stderr: bool = False, file: IO[str] | None = None) -> Console:
    """A console as wide as the terminal; when output is piped (CI, files), one wide enough
    that tables print at their natural width and lines are not wrapped.

    It prints strings as text: no markup (``[bold]`` prints as it is) and no emoji codes
    (``:fire:`` too), so data printed in a line can never be read as a tag.
    """
    options: dict[str, Any] = {"stderr": stderr, "file": file, "markup": False, "emoji": False}
    probe = Console(**options)
    return probe if probe.is_terminal else Console(**options, width=PIPED_WIDTH)


console = make_console()
err_console = make_console(stderr=True)


class TextTable(Table):
    """A table whose string cells, title and caption are text, never markup: a brand or a
    file name holding ``[/b]`` prints as it is on any console. Style a cell with a
    :class:`rich.text.Text`."""

    def __init__(self, *columns: str | Column, title: Text | str | None = None,
                 caption: Text | str | None = None, **options: Any) -> None:
        # Rich styles a string title or caption itself, a Text not: give it the same style.
        super().__init__(
            *columns, **options,
            title=_text(title, options.get("title_style") or "table.title"),
            caption=_text(caption, options.get("caption_style") or "table.caption"))

    def add_row(self, *renderables: RenderableType | None, style: Any = None,
                end_section: bool = False) -> None:
        super().add_row(*(_text(cell) for cell in renderables), style=style,
                        end_section=end_section)


def _text(value: Any, style: Any = "") -> Any:
    return Text(value, style=style) if isinstance(value, str) else value


def make_table(*columns: str | Column, numbers: Collection[str] = (), **options: Any
               ) -> TextTable:
    """A table that never cuts a number, whatever the terminal's width; its string cells,
    title and caption print as text, never as markup (:class:`TextTable`).

    Args:
        *columns: the column headers, left to right; a :class:`rich.table.Column` is taken
            as it is (for a column that needs more, such as a ``max_width``).
        numbers: the headers of the columns holding numbers (counts, shares, intervals,
            dates): right-aligned and never wrapped, so on a narrow terminal the text
            columns wrap instead.
        **options: passed to :class:`rich.table.Table` (``title``, ``caption``, ``box``...).

    Every column folds a word longer than itself onto the next line instead of cutting it
    with an ellipsis: the last resort of a terminal too narrow for the numbers alone.
    """
    return TextTable(*(column if isinstance(column, Column) else
                       Column(column, justify="right" if column in numbers else "left",
                              no_wrap=column in numbers, overflow="fold")
                       for column in columns), **options)


def quiet_third_party(verbose: bool) -> None:
    """Hide MLflow's and the Hugging Face libraries' progress bars, info logging and Python
    warnings, unless ``verbose``: our own output says what happened.

    Called by the root command when a command starts; it changes this process's settings
    for the rest of its life. MLflow still logs its warnings, the Hugging Face libraries
    their errors.
    """
    if verbose:
        return
    for name, value in QUIET_ENV.items():
        os.environ.setdefault(name, value)
    _hide_warnings_from(NOISY_LIBRARIES)
    _quiet_imported_libraries()


def _hide_warnings_from(libraries: tuple[str, ...]) -> None:
    """Drop the Python warnings raised in these libraries' files (such as MLflow's, coloured
    with raw ANSI codes). A hook where warnings are shown, not a filter: MLflow puts its own
    filters in front of ours around some calls."""
    folders = tuple(os.path.join(folder, "") for library in libraries
                    if (spec := importlib.util.find_spec(library)) is not None
                    for folder in spec.submodule_search_locations or ())
    show = warnings.showwarning

    def show_ours(message, category, filename, lineno, file=None, line=None):
        if not filename.startswith(folders):
            show(message, category, filename, lineno, file, line)

    warnings.showwarning = show_ours


def _quiet_imported_libraries() -> None:
    """The same settings for a library imported before the command started (a test, a
    notebook): it read its environment variables already."""
    if "mlflow" in sys.modules:
        logging.getLogger("mlflow").setLevel(logging.WARNING)
    if "huggingface_hub" in sys.modules:
        from huggingface_hub.utils import disable_progress_bars

        disable_progress_bars()
    if "transformers" in sys.modules:
        from transformers.utils import logging as transformers_logging

        transformers_logging.set_verbosity_error()
        transformers_logging.disable_progress_bar()
    if "datasets" in sys.modules:
        import datasets

        datasets.logging.set_verbosity_error()
        datasets.disable_progress_bars()


def labelled(label: str, style: str, message: str) -> Text:
    """``label message`` with the label styled and the message as text, whatever it holds
    (``labelled("warning:", "bold yellow", str(exc))``)."""
    return Text.assemble((label, style), " ", message)


def fail(message: str) -> typer.Exit:
    """Print ``error: message`` on stderr; raise the returned exit (code 1) from the cause.

    The message is printed as text: give it as it is (a path, ``str(exc)``), not escaped.
    """
    err_console.print(labelled("error:", "bold red", str(message)))
    return typer.Exit(code=1)
