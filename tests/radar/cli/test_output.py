"""What the commands print: numbers kept whole in piped and narrow output, and the model
stack's progress bars, logging and warnings shown only with ``radar -v``."""

import csv
import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
from rich.console import Console

from nlp.classifier.contract import BATCH_COLUMNS
from nlp.console import QUIET_ENV, make_console
from nlp.report import build_report
from nlp.summary import BrandSummary
from radar.cli.main import _brand_table, _risk_table

LONG_BRAND = "United Airlines Holdings Incorporated, Chicago, Illinois, with its regional partners"
NOISE = ("Downloading artifacts", "Loading weights")


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    """40 customers of a brand with a long name in one week, complaining more or less."""
    scored = tmp_path_factory.mktemp("output") / "scored.csv"
    with scored.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=BATCH_COLUMNS, restval="")
        writer.writeheader()
        for i in range(40):
            writer.writerow({"id": f"p{i}", "brand": LONG_BRAND, "author_id": f"author{i}",
                             "created_at": f"2015-03-0{2 + i % 5}T12:00:00Z",
                             "p_complaint": 0.9 if i % 3 else 0.2, "p_positive": 0.1,
                             "p_churn_intent": (i * 37 % 100) / 100, "text": f"post {i}",
                             "model_version": "fake-1"})
    return build_report(scored, window="7d")


def _numbers(report) -> list[str]:
    """The risk table's numbers for the brand, as the table writes them."""
    r = report.latest()[0].risk
    interval = f"{r.ci_low:.1%}–{r.ci_high:.1%}".replace("%–", "–")
    return [f"{r.customers:,}", f"{r.at_risk_share:.1%}", interval, f"{r.expected_at_risk:,.0f}"]


def test_piped_tables_print_at_their_natural_width(report):
    out = io.StringIO()
    console = make_console(file=out)  # a StringIO is no terminal: output piped to a file
    console.print(_risk_table(report, "risk"))
    console.print(_brand_table([BrandSummary(LONG_BRAND, 12_345, 0.554, 0.581,
                                             (("waiting", 0.5),), "fake-1")], "brands"))
    text = out.getvalue()
    assert "…" not in text and "\x1b[" not in text
    risk_row, brand_row = (line.split() for line in text.splitlines()
                           if LONG_BRAND in line and "%" in line)
    for number in _numbers(report):
        assert number in risk_row, (number, risk_row)
    for number in ("12,345", "55.4%", "58.1%", "50%"):
        assert number in brand_row, (number, brand_row)


def test_a_narrow_terminal_wraps_the_text_and_keeps_the_numbers_whole(report):
    out = io.StringIO()
    console = Console(file=out, width=72, force_terminal=True, color_system=None)
    console.print(_risk_table(report, "risk"))
    text = out.getvalue()
    assert "…" not in text
    for number in _numbers(report):
        assert number in text.split(), (number, text)
    assert max(len(line) for line in text.splitlines()) <= 72
    assert "Illinois," in text.split()  # the brand wraps rather than being cut


def _score(tiny: dict, tmp_path: Path, *flags: str) -> subprocess.CompletedProcess:
    dump = tmp_path / "dump.csv"
    dump.write_text("id,text,brand\n1,@united lost my bag again,United\n2,great crew,Delta\n",
                    encoding="utf-8")
    # The test process may have quietened itself already (an in-process `radar` command).
    env = {k: v for k, v in os.environ.items() if k not in QUIET_ENV}
    args = [*flags, "score", str(dump), "--out", str(tmp_path / f"out{len(flags)}.csv"),
            "--model", "models:/complaint-radar@champion",
            "--tracking-uri", tiny["tracking_uri"]]
    proc = subprocess.run([sys.executable, "-m", "radar.cli", *args], capture_output=True,
                          text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "rows in 2 = scored 2" in proc.stdout
    return proc


def test_loading_a_registered_model_is_quiet_unless_verbose(tiny_transformer, tmp_path):
    quiet = _score(tiny_transformer, tmp_path)
    for noise in (*NOISE, "\x1b["):
        assert noise not in quiet.stdout + quiet.stderr, noise
    verbose = _score(tiny_transformer, tmp_path, "-v")
    for noise in NOISE:
        assert noise in verbose.stderr, noise


WARN_AND_LOG = """
import logging, sys
import mlflow.pyfunc  # imported first, as in a test or a notebook
from nlp.console import quiet_third_party

quiet_third_party(sys.argv[1] == "verbose")
logging.getLogger("mlflow.store").info("Creating initial MLflow database tables")


class Untyped(mlflow.pyfunc.PythonModel):  # MLflow warns, in yellow, that it wants type hints
    def predict(self, context, model_input):
        return model_input
"""


@pytest.mark.parametrize("mode", ["quiet", "verbose"])
def test_mlflow_warnings_and_info_logging_only_when_verbose(mode):
    env = {k: v for k, v in os.environ.items() if k not in QUIET_ENV}
    proc = subprocess.run([sys.executable, "-c", WARN_AND_LOG, mode], capture_output=True,
                          text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    shown = [text in proc.stderr for text in ("\x1b[33m", "type hints",
                                               "Creating initial MLflow database tables")]
    assert shown == [mode == "verbose"] * 3, proc.stderr
