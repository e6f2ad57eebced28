"""Text that looks like Rich markup (brands, authors, paths, file names, error messages) is
printed as the text it is: never parsed as tags, never a crash (issue 18)."""

from __future__ import annotations

import io
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from nlp.console import fail, make_console, make_table
from radar.cli import app
from tests.radar.monitor.test_cycle import FakeClassifier

runner = CliRunner()
NOW = datetime.now(UTC).replace(microsecond=0)

# A closing tag with nothing open (a MarkupError when parsed), a style that would eat the
# text, a link; an emoji code that Rich would replace.
HOSTILE = ["[/b]", "[bold red]x", "[link=http://e]y[/link]", ":fire:"]


def _folder(tmp_path: Path) -> Path:
    """A folder whose path holds ``[/b]`` (the slash makes it two folders)."""
    folder = tmp_path / "d[" / "b]"
    folder.mkdir(parents=True)
    assert "[/b]" in str(folder)
    return folder


def _dump(path: Path, brands: list[str] | None = None, authors: list[str] | None = None,
          prefix: str = "r") -> None:
    """30 dated posts; a brand column when ``brands`` are given (else the config's brand)."""
    rows = ["id,text,author_id,created_at" + (",brand" if brands else "")]
    for i in range(30):
        author = (authors[i % len(authors)] if authors else f"cust{i}").replace('"', '""')
        when = (NOW - timedelta(days=i % 10)).isoformat()
        text = "on hold again, my bill doubled, I will switch" if i % 2 else "all good"
        brand = ',"' + brands[i % len(brands)].replace('"', '""') + '"' if brands else ""
        rows.append(f'{prefix}{i},"{text}","{author}",{when}{brand}')
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")


def _printed(output: str) -> str:
    return " ".join(output.split())


def test_fail_prints_its_message_as_text(capsys):
    for message in HOSTILE:
        exit_ = fail(f"{message}: no such file")
        assert exit_.exit_code == 1
        assert f"error: {message}: no such file" in capsys.readouterr().err


def test_a_table_prints_its_cells_title_and_caption_as_text():
    for text in HOSTILE:
        table = make_table("brand", "posts", numbers=("posts",), title=f"title {text}",
                           caption=f"caption {text}")
        table.add_row(text, "1")
        # Whatever console prints it: ours, or a plain Rich console that reads markup.
        for console in (make_console(file=io.StringIO()),
                        Console(file=io.StringIO(), width=200)):
            console.print(table)
            out = console.file.getvalue()
            assert f"title {text}" in out and f"caption {text}" in out
            assert f"│ {text}" in out


def test_the_shared_consoles_print_data_as_text():
    out = io.StringIO()
    console = make_console(file=out)
    for text in HOSTILE:
        console.print(f"brand {text}")
    assert out.getvalue().splitlines() == [f"brand {text}" for text in HOSTILE]


def test_import_and_store_stats_of_hostile_brands_paths_and_file_names(tmp_path):
    folder = _folder(tmp_path)
    dump = folder / "[bold red]x.csv"
    _dump(dump, HOSTILE, authors=HOSTILE)
    db = folder / "radar.db"
    imported = runner.invoke(app, ["import", str(dump), "--db", str(db), "--source",
                                   "[link=http://e]y[/link]"])
    assert imported.exception is None or isinstance(imported.exception, SystemExit), \
        repr(imported.exception)
    assert imported.exit_code == 0, imported.output
    assert "[bold red]x.csv (csv): rows in 30 = new 30" in _printed(imported.output)

    stats = runner.invoke(app, ["store", "stats", "--db", str(db)])
    assert stats.exception is None or isinstance(stats.exception, SystemExit), \
        repr(stats.exception)
    assert stats.exit_code == 0, stats.output
    assert f"{db}: 30 posts" in stats.output
    lines = stats.output.splitlines()
    for brand in HOSTILE:
        assert any(line.startswith("│ [link=http://e]y[/link]") and f"│ {brand} " in line
                   for line in lines), (brand, stats.output)


@pytest.mark.parametrize("command", [
    ["import", "{folder}/missing.csv", "--db", "{folder}/radar.db"],
    ["store", "stats", "--db", "{folder}/none.db"],
    ["store", "rejects", "run-1", "--db", "{folder}/none.db"],
    ["report", "--db", "{folder}/none.db"],
    ["score", "--db", "{folder}/none.db"],
    ["train", "--config", "{folder}/none.yaml"],
    ["monitor", "--once", "--config", "{folder}/none.yaml"],
])
def test_an_error_naming_a_hostile_path_prints_the_path(tmp_path, command):
    folder = _folder(tmp_path)
    result = runner.invoke(app, [part.format(folder=folder) for part in command])
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.exit_code == 1, result.output
    assert "error:" in result.output and str(folder) in result.output.replace("\n", "")
    assert "\\[" not in result.output  # not escaped twice


def test_monitor_once_prints_hostile_brands_models_and_paths_as_text(tmp_path, monkeypatch):
    import nlp.classifier

    folder = _folder(tmp_path)
    dumps = folder / "dumps"
    dumps.mkdir()
    _dump(dumps / "[bold red]x.csv")
    _dump(folder / "[link=e]y.csv", prefix="y")
    config = folder / "monitor.yaml"
    config.write_text(textwrap.dedent("""\
        store: radar.db
        model: "models/[/b]/[bold red]m"
        window: 7d
        brands:
          "[/b]":
            imports: [{path: dumps, format: csv, source: "[link=http://e]y[/link]"}]
          "[bold red]x":
            imports: [{path: "[link=e]y.csv", format: csv}]
          ":fire:":
            imports: [{path: "missing[/b].csv"}]
        """), encoding="utf-8")
    monkeypatch.setattr(nlp.classifier, "load_classifier",
                        lambda *args, **kwargs: FakeClassifier())
    result = runner.invoke(app, ["monitor", "--once", "--config", str(config)])
    assert result.exception is None or isinstance(result.exception, SystemExit), \
        repr(result.exception)
    out = result.output
    assert "model fake-1 (models/[/b]/[bold red]m)" in out
    assert f"import {folder / 'missing[/b].csv'}" in out.replace("\n", "")  # a step failed
    rows = [line for line in out.splitlines() if line.startswith("│ ")]
    assert any(line.startswith("│ [/b] ") for line in rows), out
    assert any(line.startswith("│ [bold red]x ") for line in rows), out
    assert "(imports of :fire:)" in out  # not an emoji
    assert "\\[" not in out
    assert result.exit_code == 3, out  # the failed import: a step failed


def test_collect_prints_a_hostile_query_and_brand_as_text(tmp_path):
    folder = _folder(tmp_path)
    result = runner.invoke(app, ["collect", "hackernews", "-q", "[/b] [bold red]x", "--brand",
                                 "[link=http://e]y[/link]", "--base-url", "http://127.0.0.1:9",
                                 "--max-retries", "0", "--db", str(folder / "radar.db")])
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.exit_code == 1, result.output  # nothing listens there: the run failed
    assert "hackernews '[/b] [bold red]x': 0 pages" in _printed(result.output)


def test_score_and_report_print_hostile_file_names_and_brands(tmp_path, monkeypatch):
    import nlp.classifier

    monkeypatch.setattr(nlp.classifier, "load_classifier",
                        lambda *args, **kwargs: FakeClassifier())
    folder = _folder(tmp_path)
    dump = folder / "{x} [bold red]x.csv"  # braces too: a progress column formats its text
    _dump(dump, HOSTILE, authors=HOSTILE)
    out = folder / "{0} scored.parquet"
    scored = runner.invoke(app, ["score", str(dump), "--out", str(out)])
    assert scored.exception is None, repr(scored.exception)
    assert f"output: {out}" in scored.output
    assert "{x} [bold red]x.csv: per-brand summary, model fake-1" in scored.output
    report = runner.invoke(app, ["report", str(out), "--brand", "[/b]"])
    assert report.exception is None, repr(report.exception)
    lines = [line.strip() for line in report.output.splitlines()]
    assert any(line.startswith("{0} scored.parquet: expected share") for line in lines)
    for brand in HOSTILE:
        assert any(line.startswith(f"{brand} ") for line in lines), (brand, report.output)
    assert any(line.startswith("[/b]: customers at risk >= 50%") for line in lines)
