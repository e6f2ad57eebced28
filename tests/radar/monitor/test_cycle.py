"""Monitoring cycles: two --once cycles over fixture sources and an added dump."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import threading
import time
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from nlp.risk import SCORE_VERSION
from nlp.taxonomy import SENTIMENTS, THEME_KEYS
from nlp.types import Prediction
from radar.monitor.config import MonitorConfigError, load_monitor_config
from radar.monitor.cycle import run_monitor
from radar.store import open_store
from radar.store.history import brand_history

NOW = datetime.now(UTC).replace(microsecond=0)


class FakeClassifier:
    """Keyword rules standing in for the model (the model is not the point here)."""

    model_version = "fake-1"

    def __init__(self):
        self.seen: list[str] = []

    def predict(self, texts, keys=None):
        self.seen.extend(texts)
        out = []
        for text, (source, post_id) in zip(texts, keys, strict=True):
            low = text.lower()
            complaint = 0.9 if any(w in low for w in ("hold", "bill", "never", "switch")) \
                else 0.1
            themes = dict.fromkeys(THEME_KEYS, 0.02)
            if "hold" in low:
                themes["waiting"] = 0.9
            if "bill" in low:
                themes["billing"] = 0.9
            probs = dict(zip(SENTIMENTS, (0.8, 0.15, 0.05) if complaint > 0.5
                             else (0.1, 0.3, 0.6), strict=True))
            out.append(Prediction(source=source, post_id=post_id,
                                  sentiment=max(probs, key=probs.get), sentiment_probs=probs,
                                  complaint=complaint, themes=themes,
                                  churn_intent=0.8 if "switch" in low else 0.05,
                                  model_version=self.model_version))
        return out


def _hits(start: int, count: int, base: datetime) -> list[dict]:
    return [{"objectID": str(i), "created_at_i": int((base - timedelta(hours=i)).timestamp()),
             "author": f"hn_user{i % 7}", "comment_text": f"Acme put me on hold again #{i}",
             "_tags": ["comment"], "parent_id": 1} for i in range(start, start + count)]


class Algolia:
    """A tiny HN search server: answers every search with the hits it holds now."""

    def __init__(self):
        self.hits: list[dict] = []
        self.requests = 0
        handler = self._handler()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                         daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def _handler(self):
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                outer.requests += 1
                body = json.dumps({"hits": sorted(outer.hits, key=lambda h: -h["created_at_i"]),
                                   "nbHits": len(outer.hits)}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        return Handler

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def algolia():
    server = Algolia()
    yield server
    server.close()


def _store_yaml(store: Path | str) -> str:
    """A ``store:`` value for a monitor YAML: a file name (relative to the config's folder),
    an absolute path or a ``postgresql://`` URL, quoted so YAML reads it as text."""
    return json.dumps(str(store))


def _write_config(tmp_path: Path, algolia_url: str, store: Path | str = "radar.db") -> Path:
    (tmp_path / "dumps").mkdir()
    config = tmp_path / "monitor.yaml"
    config.write_text(textwrap.dedent(f"""\
        store: {_store_yaml(store)}
        window: 7d
        anchor: 2024-01-01
        brands:
          Acme:
            collect:
              - {{source: hackernews, query: acme, base_url: "{algolia_url}", max_retries: 0}}
            imports:
              - {{path: dumps, format: csv, source: acme-reviews}}
        """), encoding="utf-8")
    return config


def imports_only_config(tmp_path: Path, score_batch: int, store: Path | str = "radar.db"):
    """The fixture config without its collector (imports from ``dumps/`` only), scoring in
    batches of ``score_batch``, storing into ``store`` (a file in ``tmp_path`` by default,
    or the ``store_db`` fixture's file or URL)."""
    config_path = _write_config(tmp_path, "http://127.0.0.1:9", store)
    config_path.write_text(config_path.read_text().replace(
        "window: 7d", f"window: 7d\nscore_batch: {score_batch}"))
    config = load_monitor_config(config_path)
    return type(config)(**{**config.__dict__, "collect": ()})


def _dump(path: Path, start: int, count: int) -> None:
    rows = ["id,text,author_id,created_at"]
    for i in range(start, start + count):
        when = (NOW - timedelta(days=i % 20)).isoformat()
        text = "my bill doubled, I will switch" if i % 3 == 0 else "thanks for the help"
        rows.append(f'r{i},"{text}",reviewer{i % 11},{when}')
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")


def test_two_once_cycles_score_only_new_posts_and_keep_one_point_per_window(tmp_path, algolia,
                                                                            store_db):
    algolia.hits = _hits(0, 30, NOW)
    config = load_monitor_config(_write_config(tmp_path, algolia.url, store_db))
    assert str(config.store) == store_db
    _dump(tmp_path / "dumps" / "week1.csv", 0, 40)
    model = FakeClassifier()

    (first,) = run_monitor(config, config.store, True, lambda: model, log=lambda m: None)
    assert first.errors == []
    assert first.collected == {"hackernews acme": 30}
    assert list(first.imported.values()) == [40]
    assert first.scored == 70 and len(model.seen) == 70
    with open_store(config.store) as store:
        history = brand_history(store, "Acme", SCORE_VERSION)
        windows_first = [(p.window_start, p.window_end) for p in history]
    assert len(windows_first) >= 3 and len(set(windows_first)) == len(windows_first)
    assert all(p.model_version == "fake-1" for p in history)

    # Between cycles: 5 newer HN posts and a second dump (one row repeats the first dump).
    algolia.hits = _hits(-5, 35, NOW)
    _dump(tmp_path / "dumps" / "week2.csv", 39, 11)
    model.seen.clear()
    (second,) = run_monitor(config, config.store, True, lambda: model, log=lambda m: None)
    assert second.collected == {"hackernews acme": 5}
    assert list(second.imported.values()) == [10]  # r39 was already stored
    assert second.scored == 15 and len(model.seen) == 15  # only the new posts
    with open_store(config.store) as store:
        history = brand_history(store, "Acme", SCORE_VERSION)
        keys = [(p.window_start, p.window_end) for p in history]
        rows = store.db.execute("SELECT COUNT(*) FROM risk_history").fetchone()[0]
        assert store.count_posts() == 85
        assert store.db.execute("SELECT COUNT(*) FROM predictions").fetchone()[0] == 85
    assert len(keys) == len(set(keys)) == rows  # one point per brand and window
    assert set(windows_first) <= set(keys)
    # every window is a 7-day window on the anchor's grid
    anchor = datetime(2024, 1, 1, tzinfo=UTC)
    assert all((start - anchor) % timedelta(days=7) == timedelta(0)
               and end - start == timedelta(days=7) for start, end in keys)


def test_a_failing_source_is_reported_and_the_rest_of_the_cycle_runs(tmp_path, store_db):
    # nothing listens there
    config_path = _write_config(tmp_path, "http://127.0.0.1:9", store_db)
    _dump(tmp_path / "dumps" / "a.csv", 0, 12)
    config = load_monitor_config(config_path)
    (result,) = run_monitor(config, config.store, True, FakeClassifier, log=lambda m: None)
    assert any(e.startswith("collect hackernews 'acme'") for e in result.errors)
    assert list(result.imported.values()) == [12] and result.scored == 12
    assert result.points >= 1


@pytest.mark.parametrize("text, message", [
    ("brands: {}\n", "'brands' must map each brand"),
    ("brands: {A: {collect: [{source: myspace, query: x}]}}\n", "source 'myspace' is not"),
    ("brands: {A: {imports: [{path: d, format: xml}]}}\n", "format 'xml' is not one of"),
    ("window: 7x\nbrands: {A: {}}\n", "window: window '7x'"),
    ("colour: red\nbrands: {A: {}}\n", "unknown keys ['colour']"),
])
def test_config_errors_name_the_entry(tmp_path, text, message):
    path = tmp_path / "m.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(MonitorConfigError, match=message.replace("[", r"\[").replace(
            "]", r"\]").replace("(", r"\(")):
        load_monitor_config(path)


SIGTERM_SCRIPT = """
import sys, time
sys.path.insert(0, {repo!r})
from radar.monitor.cycle import run_monitor
from radar.monitor.config import load_monitor_config
from tests.radar.monitor.test_cycle import FakeClassifier
config = load_monitor_config({config!r})
results = run_monitor(config, config.store, False, FakeClassifier,
                      log=lambda m: print(m, flush=True))
print("EXITED", len(results), flush=True)
"""


def test_sigterm_ends_the_loop_cleanly_between_cycles(tmp_path, store_db):
    config_path = _write_config(tmp_path, "http://127.0.0.1:9", store_db)
    config_path.write_text(config_path.read_text().replace("window: 7d", "window: 7d\n"
                                                            "interval: 1h"))
    _dump(tmp_path / "dumps" / "a.csv", 0, 12)
    repo = str(Path(__file__).resolve().parents[3])
    script = SIGTERM_SCRIPT.format(repo=repo, config=str(config_path))
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True,
                            cwd=repo)
    deadline = time.time() + 60
    lines = []
    while time.time() < deadline:
        line = proc.stdout.readline()
        lines.append(line)
        if "next cycle in" in line:
            break
    proc.terminate()  # SIGTERM while waiting for the next cycle
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "EXITED 1" in out
    with open_store(store_db) as store:
        assert store.count_posts() == 12
        assert store.db.execute("SELECT COUNT(*) FROM predictions").fetchone()[0] == 12


def test_a_stop_during_scoring_keeps_whole_batches_and_the_next_cycle_scores_the_rest(
        tmp_path, store_db):
    from radar.monitor.cycle import Stop, run_cycle

    config = imports_only_config(tmp_path, score_batch=5, store=store_db)
    _dump(tmp_path / "dumps" / "a.csv", 0, 23)
    stop = Stop()

    class StopsAfterTwoBatches(FakeClassifier):
        def predict(self, texts, keys=None):
            if len(self.seen) >= 10:
                stop.set()  # SIGTERM arrives while this batch is being scored
            return super().predict(texts, keys)

    model = StopsAfterTwoBatches()
    with open_store(config.store) as store:
        first = run_cycle(config, store, lambda: model, stop, log=lambda m: None)
        assert first.stopped and first.scored == 15 and first.points == 0
        assert store.db.execute("SELECT COUNT(*) FROM predictions").fetchone()[0] == 15
        second = run_cycle(config, store, FakeClassifier, Stop(), log=lambda m: None)
        assert second.scored == 8 and second.points >= 1
        assert store.db.execute("SELECT COUNT(*) FROM predictions").fetchone()[0] == 23


def test_a_scored_dump_is_stored_without_scoring_again(tmp_path, store_db):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from nlp.classifier.contract import score_record
    from radar.monitor.cycle import store_scored_dump

    model = FakeClassifier()
    texts = ["on hold for an hour", "my bill doubled, I will switch", "thanks!"]
    keys = [("demo", f"t{i}") for i in range(3)]
    predictions = model.predict(texts, keys)
    records = [{**score_record(p, p.post_id, "Acme", f"a{i}", NOW - timedelta(days=i)),
                "text": t} for i, (p, t) in enumerate(zip(predictions, texts, strict=True))]
    path = tmp_path / "scored.parquet"
    pq.write_table(pa.Table.from_pylist(records), path)
    with open_store(store_db) as store:
        rows, version = store_scored_dump(store, path, "demo")
        assert (rows, version) == (3, "fake-1")
        stored = sorted(store.iter_predictions("fake-1"), key=lambda p: p.post_id)
        assert stored == sorted(predictions, key=lambda p: p.post_id)
        assert [p.brand for p in store.iter_posts(brand="Acme")] == ["Acme"] * 3


class Receiver:
    """A webhook receiver on 127.0.0.1 that keeps every JSON body it gets and answers
    ``status`` (a 4xx makes every delivery to it fail)."""

    def __init__(self, status: int = 200):
        self.bodies: list[dict] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                outer.bodies.append(json.loads(self.rfile.read(length)))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                         daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"


def _weeks_dump(path: Path, week_start: datetime, customers: int, complaining: float,
                prefix: str) -> None:
    rows = ["id,text,author_id,created_at"]
    for i in range(customers):
        text = "on hold for two hours again" if i < customers * complaining else "all good"
        # Spread over the whole week: a week the posts cover only in part is not compared.
        when = (week_start + timedelta(hours=i * 167 // customers)).isoformat()
        rows.append(f'{prefix}{i},"{text}",cust{i},{when}')
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")


def test_a_rise_in_the_latest_week_alerts_once_through_the_webhook(tmp_path, monkeypatch,
                                                                    store_db):
    receiver = Receiver()
    monkeypatch.setenv("RADAR_TEST_WEBHOOK", receiver.url)
    (tmp_path / "dumps").mkdir()
    config_path = tmp_path / "monitor.yaml"
    config_path.write_text(textwrap.dedent(f"""\
        store: {_store_yaml(store_db)}
        brands:
          Acme:
            imports: [{{path: dumps, format: csv, source: acme-reviews}}]
        alerts:
          rules: {{min_customers: 20}}
          channels: {{webhook: {{url_env: RADAR_TEST_WEBHOOK}}}}
        """), encoding="utf-8")
    monday = datetime(2026, 11, 16, tzinfo=UTC)
    _weeks_dump(tmp_path / "dumps" / "w1.csv", monday, 60, 0.1, "a")
    _weeks_dump(tmp_path / "dumps" / "w2.csv", monday + timedelta(days=7), 60, 0.8, "b")
    config = load_monitor_config(config_path)
    (first,) = run_monitor(config, config.store, True, FakeClassifier, log=lambda m: None)
    assert first.errors == [], first.errors
    kinds = sorted((b["radar"]["kind"], b["radar"].get("theme")) for b in receiver.bodies)
    # the share rises beyond the noise, and waiting (the complaints' theme) takes over
    assert kinds == [("risk_rise", None), ("theme_jump", "waiting")]
    assert first.delivered == first.alerts == len(receiver.bodies)
    (body,) = [b for b in receiver.bodies if b["radar"]["kind"] == "risk_rise"]
    assert body["radar"]["brand"] == "Acme"
    assert body["radar"]["change_low"] > 0 and "Acme" in body["text"]
    assert len(body["radar"]["examples"]) == 3
    # the next cycle finds the same alert for the same week and does not send it again
    (second,) = run_monitor(config, config.store, True, FakeClassifier, log=lambda m: None)
    assert second.errors == [] and second.delivered == 0
    assert len(receiver.bodies) == first.alerts
    receiver.server.shutdown()


@pytest.mark.parametrize("text, message", [
    ("brands: {A: {collect: [{source: hackernews, query: x, max_requests: lots}]}}\n",
     "brands.A.collect[0]: max_requests must be a whole number >= 1, got 'lots'"),
    ("brands: {A: {collect: [{source: hackernews, query: x, since: someday}]}}\n",
     "brands.A.collect[0]: --since 'someday'"),
    ("anchor: 2024-13-01\nbrands: {A: {}}\n", "not valid YAML"),
    ("brands: {A: {}}\nalerts: {rules: {min_customer: 5}}\n", "alerts.rules: "),
    ("brands: {A: {}}\nalerts: {channels: {webhook: {url_env: RADAR_UNSET_HOOK}}}\n",
     "alerts.channels: .*RADAR_UNSET_HOOK"),
])
def test_config_mistakes_are_caught_at_start(tmp_path, text, message, monkeypatch):
    monkeypatch.delenv("RADAR_UNSET_HOOK", raising=False)
    path = tmp_path / "m.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(MonitorConfigError, match=message.replace("[", r"\[").replace(
            "]", r"\]")):
        load_monitor_config(path)


def test_undated_posts_and_future_dates_do_not_break_the_history(tmp_path, store_db):
    from radar.monitor.cycle import run_cycle

    (tmp_path / "dumps").mkdir()
    config_path = tmp_path / "monitor.yaml"
    config_path.write_text(textwrap.dedent(f"""\
        store: {_store_yaml(store_db)}
        brands:
          Undated: {{imports: [{{path: dumps/undated.csv, format: csv}}]}}
          Acme: {{imports: [{{path: dumps/acme.csv, format: csv}}]}}
        """), encoding="utf-8")
    (tmp_path / "dumps" / "undated.csv").write_text("id,text\n1,on hold again\n2,all good\n")
    future = (NOW + timedelta(days=3650)).isoformat()
    _dump(tmp_path / "dumps" / "acme.csv", 0, 20)
    with (tmp_path / "dumps" / "acme.csv").open("a") as fh:
        fh.write(f'f1,"on hold in the future",timetraveller,{future}\n')
    config = load_monitor_config(config_path)
    with open_store(config.store) as store:
        result = run_cycle(config, store, FakeClassifier, log=lambda m: None)
        assert result.errors == [] and result.scored == 23
        points = brand_history(store, "Acme", SCORE_VERSION)
        assert points and max(p.window_end for p in points) <= NOW + timedelta(days=7)
        assert brand_history(store, "Undated", SCORE_VERSION) == []


def test_a_theme_filter_keeps_customers_it_drives_not_everyone_it_touches(tmp_path):
    from radar.store.history import has_theme

    # a model gives every theme a little: 0.05 is "touches", 0.40 is "drives"
    drivers = {"billing": 0.40, "waiting": 0.05, "churn_intent": 0.55}
    assert has_theme(drivers, "billing") and not has_theme(drivers, "waiting")


def test_a_failed_delivery_is_sent_by_a_later_cycle_after_its_window_has_passed(
        monkeypatch, store_db):
    from radar.monitor.alerts import Alert
    from radar.monitor.config import MonitorConfig
    from radar.monitor.cycle import alert_step
    from radar.store.history import delivery_status, record_alert, record_delivery

    receiver = Receiver()
    monkeypatch.setenv("RADAR_TEST_WEBHOOK", receiver.url)
    config = MonitorConfig(channels={"webhook": {"url_env": "RADAR_TEST_WEBHOOK"}})
    alert = Alert(key="Acme|2026-11-23T00:00:00Z|risk_rise|", kind="risk_rise", brand="Acme",
                  window_start=datetime(2026, 11, 16, tzinfo=UTC),
                  window_end=datetime(2026, 11, 23, tzinfo=UTC),
                  previous_window_end=datetime(2026, 11, 16, tzinfo=UTC), share=0.5,
                  previous_share=0.3, change=0.2, change_low=0.1, change_high=0.3, theme=None,
                  top_driver=("waiting", 0.6), customers=60,
                  examples=({"text": "on hold", "url": None, "created_at": None,
                             "source": "x"},), model_version="fake-1", score_version="risk.v1")
    with open_store(store_db) as store:
        record_alert(store, alert.key, alert.brand, alert.window_end, alert.kind,
                     alert.to_payload(), NOW - timedelta(days=2))
        record_delivery(store, alert.key, "webhook", 4, "failed", "HTTP 503", NOW)
        # A cycle whose latest windows fire nothing still sends the earlier, failed alert.
        found, sent = alert_step(store, config, [], NOW, lambda m: None)
        assert (found, sent) == (0, 1)
        assert delivery_status(store, alert.key, "webhook") == "sent"
        (body,) = receiver.bodies
        assert body["radar"]["key"] == alert.key and body["radar"]["change_low"] == 0.1
        assert alert_step(store, config, [], NOW, lambda m: None) == (0, 0)  # not again
    assert len(receiver.bodies) == 1
    receiver.server.shutdown()


def test_an_alert_round_trips_through_its_payload():
    from radar.monitor.alerts import Alert

    alert = Alert(key="k", kind="theme_jump", brand="Acme",
                  window_start=datetime(2026, 11, 16, tzinfo=UTC),
                  window_end=datetime(2026, 11, 23, tzinfo=UTC),
                  previous_window_end=datetime(2026, 11, 16, tzinfo=UTC), share=0.4,
                  previous_share=0.2, change=0.2, change_low=None, change_high=None,
                  theme="billing", top_driver=("billing", 0.4), customers=30,
                  examples=(), model_version="m", score_version="risk.v1",
                  previous_customers=25)
    assert Alert.from_payload(json.loads(json.dumps(alert.to_payload()))) == alert


def test_the_example_config_loads_and_names_its_missing_secret(monkeypatch):
    example = Path(__file__).resolve().parents[3] / "monitor.example.yaml"
    monkeypatch.delenv("RADAR_WEBHOOK_URL", raising=False)
    with pytest.raises(MonitorConfigError, match="RADAR_WEBHOOK_URL"):
        load_monitor_config(example)
    monkeypatch.setenv("RADAR_WEBHOOK_URL", "https://hooks.example.com/services/T0/B0/x")
    config = load_monitor_config(example)
    assert config.brands == ("AcmeTelco",)
    assert [c.source for c in config.collect] == ["mastodon", "hackernews"]
    assert config.imports[0].source == "acme-reviews"


def test_the_history_leaves_out_the_brand_books_accounts(tmp_path, store_db):
    """The monitor counts customers as `radar report` does: a brand's own replies are not."""
    from nlp.taxonomy import THEME_KEYS
    from nlp.types import Post, Prediction
    from radar.monitor.config import MonitorConfig
    from radar.monitor.cycle import risk_step
    from radar.store import open_store

    book = tmp_path / "brands.yaml"
    book.write_text("brands:\n  Acme:\n    handles: [AcmeCares]\n", encoding="utf-8")
    when = datetime(2024, 1, 3, 12, tzinfo=UTC)
    authors = ["ann", "bob", "AcmeCares", "acmecares"]  # handles match in any case
    posts = [Post(source="s", post_id=f"p{i}", text="my bill doubled", brand="Acme",
                  author_id=a, created_at=when) for i, a in enumerate(authors)]
    predictions = [Prediction(source="s", post_id=p.post_id, sentiment="negative",
                              sentiment_probs={"negative": 1.0, "neutral": 0.0,
                                               "positive": 0.0},
                              complaint=0.9, themes=dict.fromkeys(THEME_KEYS, 0.0),
                              churn_intent=0.5, model_version="m1") for p in posts]
    with open_store(store_db) as store:
        store.save_posts(posts)
        store.save_predictions(predictions)
        now = datetime(2024, 1, 20, tzinfo=UTC)
        with_book = risk_step(store, MonitorConfig(brands=("Acme",), brand_book=book), "m1",
                              now)
        missing = tmp_path / "none.yaml"
        without = risk_step(store, MonitorConfig(brands=("Acme",), brand_book=None), "m1",
                            now)
    window = next(w for w in with_book if w.risk.customers)
    assert window.risk.customers == 2  # ann and bob; the brand's account twice left out
    # the default book (data/brands.yaml) knows no AcmeCares: the account is one more customer
    assert max(w.risk.customers for w in without) == 3
    with pytest.raises(MonitorConfigError, match="brand_book"):
        MonitorConfig(brands=("Acme",), brand_book=missing).excluded_authors()


def test_a_store_out_of_reach_between_cycles_fails_that_cycle_and_the_monitor_goes_on(
        tmp_path, store_db, monkeypatch):
    """A shared database restarting (here: its second open fails) must not end a running
    monitor: that cycle reports the store error, the next one runs. A store out of reach at
    the very first cycle stays a set-up error."""
    import dataclasses
    import os
    import signal

    import radar.store
    from radar.monitor.cycle import run_monitor
    from radar.store import StoreError

    config = dataclasses.replace(imports_only_config(tmp_path, score_batch=50, store=store_db),
                                 interval=timedelta(milliseconds=10))
    _dump(tmp_path / "dumps" / "a.csv", 0, 12)
    real_open, opens = radar.store.open_store, []

    def flaky_open(target):
        opens.append(target)
        if len(opens) == 2:
            raise StoreError(f"cannot connect to {target}: Connection refused")
        return real_open(target)

    monkeypatch.setattr(radar.store, "open_store", flaky_open)
    seen = []

    def on_cycle(result):
        seen.append(result)
        if len(seen) == 3:
            os.kill(os.getpid(), signal.SIGTERM)  # stops the loop between cycles

    results = run_monitor(config, config.store, False, FakeClassifier, log=lambda m: None,
                          on_cycle=on_cycle)
    assert len(results) == 3
    assert results[0].errors == [] and results[0].scored == 12
    assert results[1].errors == [f"store: cannot connect to {store_db}: Connection refused"]
    assert results[2].errors == [] and results[2].scored == 0  # nothing new, nothing lost
    opens.clear()
    monkeypatch.setattr(radar.store, "open_store", lambda target: (_ for _ in ()).throw(
        StoreError("cannot connect")))
    with pytest.raises(StoreError):
        run_monitor(config, config.store, True, FakeClassifier, log=lambda m: None)
