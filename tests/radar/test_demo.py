"""``radar demo`` with a fine-tune config: train and register on the first run, reuse the
registered champion on the next.

Both runs go against one temporary SQLite MLflow store, with a copy of
``training/configs/tiny.yaml`` whose model and corpus folders are in tmp. Slow: building
the corpus, the tiny fine-tune and scoring the 14,485 airline tweets twice take about
3 minutes on 2 busy CPU cores.
"""

import re
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from radar.cli import app

REPO = Path(__file__).resolve().parents[2]
CHAMPION = "models:/complaint-radar@champion"
BRANDS = ("United", "US Airways", "American", "Southwest", "JetBlue", "Virgin America",
          "Delta")
runner = CliRunner()
pytestmark = pytest.mark.slow


def _flat(output: str) -> str:
    """Output with line wrapping undone, so assertions do not depend on terminal width."""
    return " ".join(output.split())


def risk_rows(output: str) -> dict[str, tuple[str, str]]:
    """{brand: (customers, at risk)} from the demo's risk table."""
    table = output[output.index("expected share of customers at risk, per brand"):]
    rows = {}
    for line in table.splitlines():
        for brand in BRANDS:
            match = re.match(rf"\s*{re.escape(brand)}\s+([\d,]+)\s+([\d.]+%)", line)
            if match:
                rows[brand] = match.groups()
    return rows


@pytest.fixture(scope="module")
def demo_runs(mirror_dir, tmp_path_factory):
    """The demo run twice on one store: {"first": result, "second": result, ...}."""
    root = tmp_path_factory.mktemp("demo-ft")
    text = (REPO / "training/configs/tiny.yaml").read_text(encoding="utf-8")
    assert "model_dir: models/tiny\n" in text
    config = root / "tiny.yaml"
    config.write_text(text.replace("model_dir: models/tiny\n",
                                   f"model_dir: {root / 'model'}\n"
                                   f"corpus_dir: {root / 'corpus'}\n"), encoding="utf-8")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    runs = {"root": root, "tracking_uri": uri}
    with pytest.MonkeyPatch.context() as mp:  # module scope: conftest's autouse env is not up
        mp.setenv("RADAR_DATA_MIRROR", str(mirror_dir))
        mp.setenv("RADAR_CACHE_DIR", str(root / "cache"))
        mp.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{root / 'other.db'}")  # not this one
        for name in ("first", "second"):
            runs[name] = runner.invoke(app, ["demo", "--config", str(config),
                                             "--tracking-uri", uri,
                                             "--out-dir", str(root / name)])
    return runs


def test_the_first_run_trains_registers_and_reports(demo_runs):
    result = demo_runs["first"]
    assert result.exit_code == 0, result.output
    out = _flat(result.output)
    assert "no champion registered yet; training tiny" in out
    assert "registered complaint-radar v1" in out and "is the new champion" in out
    model_line = out[out.index("model: "):]
    assert model_line.startswith("model: fine-tuned tiny-")
    assert "registered v1, champion)" in model_line
    assert str(demo_runs["root"] / "model") in model_line
    risk_table = out[out.index("expected share of customers at risk, per brand"):]
    for brand in BRANDS:
        assert brand in risk_table
    assert "risk.v1" in risk_table and "rows 14,485 = counted" in risk_table
    assert (demo_runs["root"] / "model" / "meta.json").is_file()
    assert (demo_runs["root"] / "first" / "airline-2015.scored.parquet").is_file()


def test_the_second_run_uses_the_champion_without_training(demo_runs):
    result = demo_runs["second"]
    assert result.exit_code == 0, result.output
    out = _flat(result.output)
    assert "model: fine-tuned champion tiny-" in out
    assert f"({CHAMPION}, run " in out
    assert "training" not in out and "trained in" not in out and "registered" not in out
    assert "expected share of customers at risk, per brand" in out


def test_both_runs_use_the_same_model_and_give_the_same_risk(demo_runs):
    first, second = (pd.read_parquet(demo_runs["root"] / name / "airline-2015.scored.parquet")
                     for name in ("first", "second"))
    assert first["model_version"].nunique() == 1
    assert set(second["model_version"]) == set(first["model_version"])
    assert first["model_version"].iloc[0].startswith("tiny-")
    pd.testing.assert_series_equal(first["p_complaint"], second["p_complaint"])
    rows = {name: risk_rows(demo_runs[name].output) for name in ("first", "second")}
    assert set(rows["first"]) == set(BRANDS)
    assert all(int(customers.replace(",", "")) > 0 for customers, _ in rows["first"].values())
    assert rows["second"] == rows["first"]


def test_the_champion_is_the_one_version_in_the_store(demo_runs):
    import mlflow

    client = mlflow.MlflowClient(tracking_uri=demo_runs["tracking_uri"])
    versions = client.search_model_versions("name='complaint-radar'")
    assert [str(v.version) for v in versions] == ["1"]
    assert str(client.get_model_version_by_alias("complaint-radar", "champion").version) == "1"


def terminal_rows(output: str) -> dict[str, tuple[int, str, str]]:
    """{brand: (customers, at risk, interval)} from the demo's risk table."""
    table = output[output.index("expected share of customers at risk, per brand"):]
    rows = {}
    for line in table.splitlines():
        for brand in BRANDS:
            match = re.match(rf"\s*{re.escape(brand)}\s+([\d,]+)\s+([\d.]+%)\s+"
                             r"([\d.]+–[\d.]+%)", line)
            if match:
                rows[brand] = (int(match[1].replace(",", "")), match[2], match[3])
    return rows


def test_the_terminal_table_and_the_dashboard_show_the_same_figures(demo_runs):
    """Issue [J]: the demo's risk table and its dashboard's overview, for the same windows."""
    from nlp.risk import SCORE_VERSION
    from radar.dashboard.views import overview_rows, percent
    from radar.store import open_store
    from radar.store.history import latest_points

    terminal = terminal_rows(demo_runs["first"].output)
    assert set(terminal) == set(BRANDS)
    with open_store(demo_runs["root"] / "first" / "radar.db") as store:
        dashboard = {row.brand: row for row in overview_rows(latest_points(store,
                                                                          SCORE_VERSION))}
    assert set(dashboard) == set(terminal)
    ends = {row.window_end for row in dashboard.values()}
    assert len(ends) == 1  # one window for every brand, as in the terminal table
    for brand, (customers, share, interval) in terminal.items():
        row = dashboard[brand]
        assert row.customers == customers, brand
        assert percent(row.at_risk_share) == share, brand
        low, high = interval.rstrip("%").split("–")
        assert (f"{row.ci_low:.1%}".rstrip("%"), f"{row.ci_high:.1%}") == (low, f"{high}%"), brand
    assert not dashboard["Delta"].ranked and dashboard["United"].ranked  # 2 posts: apart

