"""``radar score --engine spark`` on a real local[2] Spark with the tiny trained model: the
same predictions, quarantine and counts as the single-process engine; a killed job run
again gives the same output; the DataFrame entry point; clear refusals."""

from __future__ import annotations

import glob
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from radar.cli import app
from tests.conftest import REPO

pytestmark = pytest.mark.spark

ROWS = 600


def _spark_or_skip() -> None:
    reason = None
    try:
        import pyspark  # noqa: F401
    except ImportError:
        reason = "pyspark is not installed (the spark extra)"
    if reason is None and not os.environ.get("JAVA_HOME") and shutil.which("java") is None:
        reason = "no Java 17 (apt-get install openjdk-17-jre-headless)"
    if reason:
        if os.environ.get("RADAR_REQUIRE_SPARK") == "1":
            pytest.fail(f"Spark tests required but {reason}")
        pytest.skip(reason)


@pytest.fixture(scope="module")
def spark():
    _spark_or_skip()
    from nlp.spark_batch import spark_session

    session = spark_session("local[2]")
    yield session
    session.stop()


@pytest.fixture(scope="module")
def model_dir(tiny_trained) -> Path:
    return Path(tiny_trained["result"].model_dir)


def _dump(path: Path, rows: int = ROWS) -> Path:
    """Good rows and every kind of bad one, in one Parquet file of several row groups."""
    texts, ids, brands, times = [], [], [], []
    for i in range(rows):
        kind = i % 10
        texts.append({3: "   ", 5: None}.get(kind, f"flight {i} delayed again, "
                                                    "on hold for hours" if i % 2 else
                                                    f"great crew on flight {i}"))
        ids.append(None if kind == 1 else f"t{i}")  # no id: called row-N by its position
        brands.append("AB"[i % 2] if kind != 4 else None)
        times.append("not a time" if kind == 7 else f"2015-02-{1 + i % 28:02d}T10:00:00Z")
    pq.write_table(pa.table({"tweet_id": ids, "text": texts, "brand": brands,
                             "created_at": times}), path, row_group_size=100)
    return path


def _quarantine_lines(pattern: str) -> list[dict]:
    return [json.loads(line) for name in sorted(glob.glob(pattern))
            for line in Path(name).read_text(encoding="utf-8").splitlines()]


def test_spark_scores_and_quarantines_exactly_as_the_single_process_engine(
        spark, model_dir, tmp_path):
    dump = _dump(tmp_path / "dump.parquet")
    local, on_spark = tmp_path / "local.parquet", tmp_path / "spark.parquet"
    runner = CliRunner()
    first = runner.invoke(app, ["score", str(dump), "--out", str(local), "--model",
                                str(model_dir)])
    assert first.exit_code == 0, first.output
    second = runner.invoke(app, ["score", str(dump), "--out", str(on_spark), "--model",
                                 str(model_dir), "--engine", "spark", "--partitions", "3"])
    assert second.exit_code == 0, second.output
    counts = "rows in 600 = scored 420 + quarantined 180"
    assert counts in first.output and counts in " ".join(second.output.split())
    expected, got = pd.read_parquet(local), pd.read_parquet(on_spark)
    assert len(got) == 420 and got.columns.tolist() == expected.columns.tolist()
    pd.testing.assert_frame_equal(got.reset_index(drop=True), expected, check_exact=True)
    assert "row-2" in set(got["id"])  # a row without an id is named by its file position
    assert _quarantine_lines(f"{on_spark}.quarantine/part-*") == _quarantine_lines(
        f"{local}.quarantine.jsonl")
    # the per-brand table of both engines
    table = [line for line in first.output.splitlines() if line.startswith("│ ")]
    assert table and table == [line for line in second.output.splitlines()
                               if line.startswith("│ ")]


def test_a_killed_spark_job_run_again_writes_the_same_output(spark, model_dir, tmp_path):
    dump = _dump(tmp_path / "dump.parquet", rows=3000)
    out = tmp_path / "scored.parquet"
    env = {**os.environ, "PYTHONPATH": str(REPO), "COLUMNS": "200"}
    command = [sys.executable, "-m", "radar.cli", "score", str(dump), "--out", str(out),
               "--model", str(model_dir), "--engine", "spark", "--partitions", "6"]
    job = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True, start_new_session=True)
    stage = out.with_name(out.name + ".spark-stage")
    deadline = time.monotonic() + 180
    while not stage.exists() and job.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert job.poll() is None, "the job ended before it could be killed"
    os.killpg(job.pid, signal.SIGKILL)  # the driver and its JVM and Python workers
    job.wait(timeout=30)
    assert not (out / "_SUCCESS").exists()  # no output was published

    again = CliRunner().invoke(app, command[3:])
    assert again.exit_code == 0, again.output
    assert "rows in 3,000 = scored 2,100 + quarantined 900" in " ".join(again.output.split())
    reference = tmp_path / "reference.parquet"
    CliRunner().invoke(app, ["score", str(dump), "--out", str(reference), "--model",
                             str(model_dir)])
    pd.testing.assert_frame_equal(pd.read_parquet(out).reset_index(drop=True),
                                  pd.read_parquet(reference), check_exact=True)
    assert not stage.exists()


def test_the_dataframe_entry_point_scores_a_notebooks_dataframe(spark, model_dir):
    from nlp.spark_batch import REASON_COLUMN, score_dataframe

    df = spark.createDataFrame([("1", "on hold 2 hours, cancelling my contract", "Acme"),
                                ("2", "", "Acme"), ("3", "love the new app", None)],
                               "post_id string, body string, brand string")
    rows = score_dataframe(df, model_dir, text_col="body", id_col="post_id").collect()
    assert len(rows) == 3 and len({r["_row"] for r in rows}) == 3  # numbered, each once
    scored = [r for r in rows if r[REASON_COLUMN] is None]
    assert sorted(r["id"] for r in scored) == ["1", "3"]
    assert {r["brand"] for r in scored} == {"Acme", None}
    assert all(r["sentiment"] in ("negative", "neutral", "positive") for r in scored)
    quarantined = [r for r in rows if r[REASON_COLUMN] is not None]
    assert [r[REASON_COLUMN] for r in quarantined] == ["empty text in column 'body'"]
    assert json.loads(quarantined[0]["_quarantined"])["raw"]["post_id"] == "2"


def test_spark_refuses_what_it_cannot_do_before_any_work(spark, model_dir, tmp_path):
    csv_dump = tmp_path / "d.csv"
    csv_dump.write_text("text\nhello\n", encoding="utf-8")
    runner = CliRunner()
    # refused before the model is fetched: an unknown registered model is never asked for
    result = runner.invoke(app, ["score", str(csv_dump), "--out", str(tmp_path / "o"),
                                 "--model", "models:/no-such-model/1", "--engine", "spark"])
    assert result.exit_code == 1
    assert "reads one Parquet file" in " ".join(result.output.split())
    # the folders written beside --out are checked like --out itself
    parquet = _dump(tmp_path / "small.parquet", 20)
    beside = tmp_path / "scored.quarantine"
    beside.mkdir()
    (beside / "notes.txt").write_text("mine")
    result = runner.invoke(app, ["score", str(parquet), "--out", str(tmp_path / "scored"),
                                 "--model", str(model_dir), "--engine", "spark"])
    assert result.exit_code == 1
    assert "scored.quarantine exists and is not an earlier Spark output" in " ".join(
        result.output.split())
    assert (beside / "notes.txt").read_text() == "mine"
    precious = tmp_path / "home"
    precious.mkdir()
    (precious / "thesis.docx").write_text("years of work")
    result = runner.invoke(app, ["score", str(_dump(tmp_path / "d.parquet", 20)), "--out",
                                 str(precious), "--model", str(model_dir), "--engine", "spark"])
    assert result.exit_code == 1
    assert "is not an earlier Spark output" in " ".join(result.output.split())
    assert (precious / "thesis.docx").read_text() == "years of work"
    for args in ([str(csv_dump), "--out", str(tmp_path / "o"), "--resume"],
                 ["--db", str(tmp_path / "x.db")]):
        result = runner.invoke(app, ["score", *args, "--engine", "spark"])
        assert result.exit_code == 1 and "--engine spark" in result.output, result.output
    result = runner.invoke(app, ["score", str(csv_dump), "--out", str(tmp_path / "o"),
                                 "--master", "local[4]"])
    assert result.exit_code == 1 and "applies to --engine spark" in result.output


def test_two_model_folders_of_one_name_each_score_with_their_own_model(spark, model_dir,
                                                                      tmp_path):
    """Models are shipped under a name of their content: a second folder called like the
    first (or a model retrained in place) is not confused with it."""
    from nlp.spark_batch import score_dataframe

    twin = tmp_path / "other" / model_dir.name
    shutil.copytree(model_dir, twin)
    meta = json.loads((twin / "meta.json").read_text())
    meta["model_version"] = "twin-model-1"
    (twin / "meta.json").write_text(json.dumps(meta))
    df = spark.createDataFrame([("1", "my bill doubled again")], "id string, text string")
    versions = [score_dataframe(df, folder).collect()[0]["model_version"]
                for folder in (model_dir, twin)]
    assert versions == [meta_version(model_dir), "twin-model-1"]


def meta_version(folder: Path) -> str:
    return json.loads((folder / "meta.json").read_text())["model_version"]
