"""The monitor's config is checked for type and range, key by key; its exit status tells
cron when a step or an alert delivery failed (issue 18)."""

from __future__ import annotations

import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from radar.cli import app
from radar.monitor.config import MonitorConfigError, load_monitor_config
from tests.radar.monitor.test_cycle import FakeClassifier, Receiver, _weeks_dump

runner = CliRunner()

HN = "{source: hackernews, query: acme"  # a collect entry, closed by each case
BAD = [
    # the top level: integers are integers, booleans are not integers
    ("history_windows: 3.9", "history_windows must be a whole number >= 2, got 3.9"),
    ("history_windows: true", "history_windows must be a whole number >= 2, got True"),
    ("history_windows: '12'", "history_windows must be a whole number >= 2, got '12'"),
    ("history_windows: 1", "history_windows must be a whole number >= 2, got 1"),
    ("history_windows: 100000", "history_windows must be a whole number <= 10000, got 100000"),
    ("history_windows: 9000\nwindow: 520w", "history_windows 9000 of window 3640 days reach "
                                            "back 32,763,640 days; keep it within 36,600"),
    ("score_batch: 0", "score_batch must be a whole number >= 1, got 0"),
    ("score_batch: 2.5", "score_batch must be a whole number >= 1, got 2.5"),
    ("score_batch: false", "score_batch must be a whole number >= 1, got False"),
    ("model: 123", "model must be text (a model folder or an MLflow URI such as "
                   "models:/complaint-radar@champion), got 123"),
    ("model: ''", "model must be text (a model folder or an MLflow URI"),
    ("model: [a, b]", "got ['a', 'b']"),
    ("backend: 1", "backend must be torch or onnx, got 1"),
    ("backend: tensorflow", "backend must be torch or onnx, got 'tensorflow'"),
    ("store: 5", "store must be a path (text), got 5"),
    ("store: [a.db]", "store must be a path (text), got ['a.db']"),
    ("brand_book: true", "brand_book must be a path (text), got True"),
    ("window: 7", "window must be a length such as 7d, 36h or 2w (text), got 7"),
    ("window: all", "window: 'all' is not a length here"),
    ("interval: 60", "interval must be a length such as 1h, 12h or 1d (text), got 60"),
    ("interval: 0h", "interval: window '0h': expected a positive length"),
    ("anchor: 5", "anchor must be an ISO 8601 date or time such as 2024-01-01, got 5"),
    ("anchor: true", "anchor must be an ISO 8601 date or time such as 2024-01-01, got True"),
    ("alerts: {rules: [1]}", "alerts: rules must be a mapping"),
    ("alerts: {channels: [webhook]}", "alerts: channels must be a mapping"),
    ("alerts: [rules]", "alerts must be a mapping (rules, channels), got ['rules']"),
]
BAD_BRANDS = [
    # brand names and their entries
    ("brands: {null: {}}", "brands: a brand name must be text, got None"),
    ("brands: {~: {}}", "brands: a brand name must be text, got None"),
    ("brands: {123: {}}", "brands: a brand name must be text, got 123; quote it"),
    ("brands: {yes: {}}", "brands: a brand name must be text, got True; quote it"),
    ("brands: {'': {}}", "brands: a brand name must be text, got ''"),
    ("brands: {' ': {}}", "brands: a brand name must be text, got ' '"),
    ("brands: [Acme]", "'brands' must map each brand name"),
    ("brands: {A: [x]}", "brands.A: expected a mapping with collect and/or imports"),
    ("brands: {A: {collect: " + HN + "}}}",
     "brands.A: collect must be a list of entries, got {'source': 'hackernews'"),
    ("brands: {A: {imports: dumps}}", "brands.A: imports must be a list of entries, got 'dumps'"),
    # collect entries
    ("brands: {A: {collect: [" + HN + ", max_requests: -1}]}}",
     "brands.A.collect[0]: max_requests must be a whole number >= 1, got -1"),
    ("brands: {A: {collect: [" + HN + ", max_requests: lots}]}}",
     "brands.A.collect[0]: max_requests must be a whole number >= 1, got 'lots'"),
    ("brands: {A: {collect: [" + HN + ", max_requests: 2.5}]}}",
     "max_requests must be a whole number >= 1, got 2.5"),
    ("brands: {A: {collect: [" + HN + ", max_retries: -1}]}}",
     "brands.A.collect[0]: max_retries must be a whole number >= 0, got -1"),
    ("brands: {A: {collect: [" + HN + ", max_retries: true}]}}",
     "max_retries must be a whole number >= 0, got True"),
    ("brands: {A: {collect: [" + HN + ", max_pages: true}]}}",
     "max_pages must be a whole number >= 1, got True"),
    ("brands: {A: {collect: [" + HN + ", max_pages: 0}]}}",
     "max_pages must be a whole number >= 1, got 0"),
    ("brands: {A: {collect: [{source: hackernews, query: null}]}}",
     "brands.A.collect[0]: query must be text (search terms, an account or an app id), got "
     "None"),
    ("brands: {A: {collect: [{source: hackernews, query: true}]}}",
     "query must be text (search terms, an account or an app id), got True"),
    ("brands: {A: {collect: [{source: hackernews, query: [a]}]}}",
     "query must be text (search terms, an account or an app id), got ['a']"),
    ("brands: {A: {collect: [{source: 5, query: x}]}}", "source 5 is not one of"),
    ("brands: {A: {collect: [" + HN + ", options: {tags: [a]}}]}}",
     "brands.A.collect[0]: options.tags must be text or a number, got ['a']"),
    ("brands: {A: {collect: [" + HN + ", options: {tags: null}}]}}",
     "options.tags must be text or a number, got None"),
    ("brands: {A: {collect: [" + HN + ", options: {colour: red}}]}}",
     "brands.A.collect[0]: hackernews has no option ['colour']; its options are"),
    ("brands: {A: {collect: [" + HN + ", base_url: 5}]}}",
     "brands.A.collect[0]: base_url must be an http(s) URL, got 5"),
    ("brands: {A: {collect: [" + HN + ", base_url: 'ftp://x'}]}}",
     "base_url must be an http(s) URL, got 'ftp://x'"),
    ("brands: {A: {collect: [" + HN + ", since: true}]}}",
     "brands.A.collect[0]: since must be an ISO 8601 date or time, or an age such as 30d, "
     "got True"),
    # import entries
    ("brands: {A: {imports: [{path: null}]}}",
     "brands.A.imports[0]: path must be a file or folder (text), got None"),
    ("brands: {A: {imports: [{path: 5}]}}", "path must be a file or folder (text), got 5"),
    ("brands: {A: {imports: [{path: d, pattern: 5}]}}",
     "brands.A.imports[0]: pattern must be a file name pattern such as *.csv (text), got 5"),
    ("brands: {A: {imports: [{path: d, pattern: ''}]}}",
     "pattern must be a file name pattern such as *.csv (text), got ''"),
    ("brands: {A: {imports: [{path: d, source: true}]}}",
     "brands.A.imports[0]: source must be text, got True"),
]


def _escaped(message: str) -> str:
    return "".join("\\" + c if c in "[]().*?+{}|^$\\" else c for c in message)


@pytest.mark.parametrize("line, message", BAD + BAD_BRANDS)
def test_a_wrong_value_is_an_error_naming_the_entry_the_value_and_what_is_expected(
        tmp_path, line, message):
    path = tmp_path / "m.yaml"
    text = line + "\n" if line.startswith("brands:") else f"{line}\nbrands: {{A: {{}}}}\n"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(MonitorConfigError, match=_escaped(message)) as caught:
        load_monitor_config(path)
    assert str(caught.value).startswith(f"{path}: ")


def test_right_values_of_each_type_are_kept(tmp_path):
    path = tmp_path / "m.yaml"
    path.write_text(textwrap.dedent("""\
        store: radar.db
        model: models/champion
        backend: onnx
        window: 2w
        interval: 30h
        anchor: 2024-01-01
        history_windows: 3
        score_batch: 64
        brand_book: brands.yaml
        brands:
          "123":
            collect:
              - {source: appstore, query: 389801252, since: 2024-06-01, max_pages: 2,
                 max_requests: 10, max_retries: 0}
              - {source: hackernews, query: acme, options: {tags: comment}}
            imports:
              - {path: dumps, format: csv, pattern: "*.csv", source: acme-reviews}
        """), encoding="utf-8")
    config = load_monitor_config(path)
    assert config.brands == ("123",) and config.history_windows == 3
    assert config.window == timedelta(weeks=2) and config.interval == timedelta(hours=30)
    assert config.anchor == datetime(2024, 1, 1, tzinfo=UTC)
    assert config.store == tmp_path / "radar.db" and config.brand_book == tmp_path / "brands.yaml"
    app_store, hn = config.collect
    assert app_store.query == "389801252" and app_store.since == "2024-06-01"
    assert (app_store.max_pages, app_store.max_requests, app_store.max_retries) == (2, 10, 0)
    assert hn.options == {"tags": "comment"}
    (dumps,) = config.imports
    assert dumps.path == tmp_path / "dumps" and dumps.pattern == "*.csv"


# --- exit status --------------------------------------------------------------------------


@pytest.fixture
def fake_model(monkeypatch):
    import nlp.classifier

    monkeypatch.setattr(nlp.classifier, "load_classifier",
                        lambda *args, **kwargs: FakeClassifier())


def _rising_config(tmp_path: Path, extra_import: str = "") -> Path:
    """Two weeks of posts whose share at risk rises: the cycle finds alerts."""
    (tmp_path / "dumps").mkdir()
    monday = datetime(2026, 11, 16, tzinfo=UTC)
    _weeks_dump(tmp_path / "dumps" / "w1.csv", monday, 60, 0.1, "a")
    _weeks_dump(tmp_path / "dumps" / "w2.csv", monday + timedelta(days=7), 60, 0.8, "b")
    config = tmp_path / "monitor.yaml"
    config.write_text(textwrap.dedent(f"""\
        store: radar.db
        brands:
          Acme:
            imports: [{{path: dumps, format: csv, source: acme-reviews}}{extra_import}]
        alerts:
          rules: {{min_customers: 20}}
          channels: {{webhook: {{url_env: RADAR_TEST_WEBHOOK}}}}
        """), encoding="utf-8")
    return config


def _monitor(config: Path):
    result = runner.invoke(app, ["monitor", "--once", "--config", str(config)])
    assert isinstance(result.exception, SystemExit | type(None)), repr(result.exception)
    return result


def test_every_step_and_delivery_done_exits_0(tmp_path, monkeypatch, fake_model):
    receiver = Receiver()
    monkeypatch.setenv("RADAR_TEST_WEBHOOK", receiver.url)
    result = _monitor(_rising_config(tmp_path))
    receiver.server.shutdown()
    assert result.exit_code == 0, result.output
    assert len(receiver.bodies) == 2 and "2 alerts (2 deliveries)" in result.output


def test_every_delivery_failing_exits_4_and_says_why(tmp_path, monkeypatch, fake_model):
    refusing = Receiver(status=400)
    monkeypatch.setenv("RADAR_TEST_WEBHOOK", refusing.url)
    result = _monitor(_rising_config(tmp_path))
    refusing.server.shutdown()
    assert result.exit_code == 4, result.output
    assert "2 alerts (0 deliveries, 2 failed)" in result.output
    assert "not delivered: webhook" in result.output and "HTTP 400" in result.output


def test_a_failed_step_exits_3(tmp_path, monkeypatch, fake_model):
    receiver = Receiver()
    monkeypatch.setenv("RADAR_TEST_WEBHOOK", receiver.url)
    result = _monitor(_rising_config(tmp_path, ", {path: missing.csv}"))
    receiver.server.shutdown()
    assert result.exit_code == 3, result.output
    assert "failed: import" in result.output and "missing.csv" in result.output


def test_a_failed_step_and_failed_deliveries_exit_5(tmp_path, monkeypatch, fake_model):
    refusing = Receiver(status=400)
    monkeypatch.setenv("RADAR_TEST_WEBHOOK", refusing.url)
    result = _monitor(_rising_config(tmp_path, ", {path: missing.csv}"))
    refusing.server.shutdown()
    assert result.exit_code == 5, result.output


def test_a_model_that_does_not_load_is_a_failed_step(tmp_path, monkeypatch):
    import nlp.classifier

    def broken(*args, **kwargs):
        raise ValueError("no model at models/none")

    monkeypatch.setattr(nlp.classifier, "load_classifier", broken)
    monkeypatch.setenv("RADAR_TEST_WEBHOOK", "http://127.0.0.1:9/hook")
    result = _monitor(_rising_config(tmp_path))
    assert result.exit_code == 3, result.output
    assert "failed: model: no model at models/none" in result.output


def test_a_config_error_exits_1_before_any_cycle(tmp_path):
    config = tmp_path / "m.yaml"
    config.write_text("history_windows: 3.9\nbrands: {A: {}}\n", encoding="utf-8")
    result = _monitor(config)
    assert result.exit_code == 1
    assert "history_windows must be a whole number >= 2, got 3.9" in result.output
    assert not (tmp_path / "radar.db").exists()


def test_the_help_documents_the_exit_codes():
    result = runner.invoke(app, ["monitor", "--help"], env={"COLUMNS": "200"})
    text = " ".join(result.output.replace("│", " ").split())
    for code in ("0:", "1:", "2:", "3:", "4:", "5:"):
        assert code in text, text
    assert "every step ran and every alert delivery it tried was sent" in text
    assert "an alert delivery failed" in text
