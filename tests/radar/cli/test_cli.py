"""The radar command line, end to end on small inputs."""

import shutil
from pathlib import Path

from typer.testing import CliRunner

from radar.cli import app

runner = CliRunner()


def _flat(output: str) -> str:
    """Output with line wrapping undone, so assertions do not depend on terminal width."""
    return " ".join(output.split())
REPO = Path(__file__).resolve().parents[3]


def test_datasets_list_and_verify(mirror_dir, monkeypatch):
    monkeypatch.setenv("RADAR_DATA_MIRROR", str(mirror_dir))
    listed = runner.invoke(app, ["datasets", "list"], env={"COLUMNS": "250"})
    assert listed.exit_code == 0, listed.output
    assert "complaints-2019" in listed.output and "CC BY-NC-SA 4.0" in listed.output
    verified = runner.invoke(app, ["datasets", "verify"])
    assert verified.exit_code == 0, verified.output
    assert "14,640 rows in the file, 14,485 loaded" in _flat(verified.output)


def test_verify_fails_loudly_on_a_corrupt_mirror(mirror_dir, tmp_path, monkeypatch):
    shutil.copytree(mirror_dir / "complaints-2019", tmp_path / "complaints-2019")
    with (tmp_path / "complaints-2019" / "complaints-data.csv").open("a") as fh:
        fh.write("1,extra,0,x\n")
    monkeypatch.setenv("RADAR_DATA_MIRROR", str(tmp_path))
    result = runner.invoke(app, ["datasets", "verify"])
    assert result.exit_code == 1
    assert "checksum mismatch" in _flat(result.output)
    # the other five datasets are not in this mirror
    assert "6 dataset(s) failed verification" in _flat(result.output)


def test_train_with_a_bad_config_says_what_is_wrong(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("cv_folds: 1\n")
    result = runner.invoke(app, ["train", "--config", str(bad)])
    assert result.exit_code == 1
    assert "cv_folds must be an integer >= 2, got 1" in _flat(result.output)
    assert "Traceback" not in result.output


def test_demo_ends_with_the_risk_table(mirror_dir, tmp_path, monkeypatch):
    config = tmp_path / "tiny.yaml"
    text = (REPO / "training/configs/tiny-baseline.yaml").read_text()
    config.write_text(text.replace("model_dir: models/tiny-baseline",
                                   f"model_dir: {tmp_path / 'model'}"))
    monkeypatch.setenv("RADAR_DATA_MIRROR", str(mirror_dir))
    result = runner.invoke(app, ["demo", "--config", str(config),
                                 "--tracking-uri", f"sqlite:///{tmp_path / 'mlflow.db'}",
                                 "--out-dir", str(tmp_path / "demo")],
                           env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    out = _flat(result.output)
    risk_table = out[out.index("expected share of customers at risk, per brand"):]
    for brand in ("United", "US Airways", "American", "Southwest", "Delta", "Virgin America"):
        assert brand in risk_table
    assert "risk.v1" in risk_table and "rows 14,485 = counted" in risk_table
    assert (tmp_path / "demo" / "airline-2015.scored.parquet").is_file()


def test_serve_without_the_serve_extra_prints_the_install_command(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "uvicorn", None)  # import fails as if not installed
    result = runner.invoke(app, ["serve"], env={"COLUMNS": "300"})
    assert result.exit_code == 1
    # One error line, with the extra's brackets intact (not eaten as console markup).
    assert "error: `radar serve` needs uvicorn, from the 'serve' extra: pip install -e " \
           "'.[serve]'" in _flat(result.output)
