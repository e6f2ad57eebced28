"""Batch scoring with a fast fake classifier: formats, accounting, quarantine, resume."""

import csv
import json

import pyarrow.parquet as pq
import pytest

from nlp.batch import BatchError, parts_dir_for, quarantine_path_for, score_dump
from nlp.classifier.contract import BATCH_COLUMNS as COLUMNS
from nlp.dumps import ColumnMap, DumpError
from nlp.types import Prediction


class FakeClassifier:
    """Deterministic stand-in: 'bad' means negative complaint, 'wait' names waiting."""

    model_version = "fake-1"
    meta = {"model_version": "fake-1"}

    def __init__(self, fail_after_calls=None):
        self.calls = 0
        self.fail_after_calls = fail_after_calls

    def predict(self, texts, keys=None):
        self.calls += 1
        if self.fail_after_calls is not None and self.calls > self.fail_after_calls:
            raise KeyboardInterrupt  # what Ctrl-C looks like mid-run
        out = []
        for text, (source, post_id) in zip(texts, keys, strict=True):
            bad = "bad" in text
            probs = {"negative": 0.8 if bad else 0.1, "neutral": 0.1,
                     "positive": 0.1 if bad else 0.8}
            out.append(Prediction(source, post_id, "negative" if bad else "positive", probs,
                                  0.9 if bad else 0.1, {"waiting": 0.9 if "wait" in text else 0.1},
                                  None, self.model_version))
        return out


def _dump(path, n=50):
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["id", "text", "brand", "author_id", "created_at"])
        for i in range(n):
            if i % 10 == 3:
                writer.writerow([i, "   ", "A", f"u{i}", "2015-02-24T10:00:00Z"])  # empty text
            elif i % 10 == 7:
                writer.writerow([i, "bad wait", "B", f"u{i}", "not a time"])
            else:
                writer.writerow([i, "bad wait" if i % 2 else "great", "AB"[i % 2], f"u{i}",
                                 "2015-02-24T10:00:00-08:00"])
    return path


@pytest.mark.parametrize("ext", ["csv", "jsonl", "parquet"])
def test_every_row_is_scored_or_quarantined_in_every_format(tmp_path, ext):
    out = tmp_path / f"out.{ext}"
    result = score_dump(_dump(tmp_path / "in.csv"), out, FakeClassifier(), chunk_size=8)
    assert (result.rows_in, result.rows_scored, result.rows_quarantined) == (50, 40, 10)
    if ext == "parquet":
        table = pq.read_table(out)
        assert table.column_names == list(COLUMNS)
        rows = table.to_pylist()
    elif ext == "csv":
        with out.open(newline="") as fh:
            reader = csv.DictReader(fh)
            assert reader.fieldnames == list(COLUMNS)
            rows = list(reader)
    else:
        rows = [json.loads(line) for line in out.read_text().splitlines()]
        assert list(rows[0]) == list(COLUMNS)
    assert len(rows) == 40
    first_bad = next(r for r in rows if r["id"] == "1")
    assert first_bad["themes"] == "waiting" and first_bad["created_at"] == "2015-02-24T18:00:00Z"
    assert str(first_bad["complaint"]).lower() == "true"
    quarantine = [json.loads(x) for x in quarantine_path_for(out).read_text().splitlines()]
    reasons = {q["row"]: q["reason"] for q in quarantine}
    assert len(reasons) == 10
    assert reasons[4] == "empty text in column 'text'"
    assert reasons[8].startswith("unparseable time 'not a time'")
    assert not parts_dir_for(out).exists()
    summary = {s.brand: s for s in result.summaries}
    assert summary["B"].complaint_share == 1.0 and summary["A"].complaint_share == 0.0


def test_interrupted_run_resumes_to_the_same_output_and_never_touches_out(tmp_path):
    dump = _dump(tmp_path / "in.csv", n=100)
    reference = tmp_path / "ref.jsonl"
    score_dump(dump, reference, FakeClassifier(), chunk_size=7)

    out = tmp_path / "out.jsonl"
    out.write_text("previous output\n")
    with pytest.raises(KeyboardInterrupt):
        score_dump(dump, out, FakeClassifier(fail_after_calls=5), chunk_size=7)
    assert out.read_text() == "previous output\n"  # never half-written in place
    assert len(list(parts_dir_for(out).glob("part-*.json"))) == 5

    with pytest.raises(BatchError, match="pass --resume"):
        score_dump(dump, out, FakeClassifier(), chunk_size=7)
    result = score_dump(dump, out, FakeClassifier(), chunk_size=7, resume=True)
    assert result.resumed_rows == 35
    assert out.read_bytes() == reference.read_bytes()
    assert quarantine_path_for(out).read_bytes() == quarantine_path_for(reference).read_bytes()
    assert result.rows_in == 100 == result.rows_scored + result.rows_quarantined


def test_resume_refuses_a_changed_input_or_chunk_size(tmp_path):
    dump = _dump(tmp_path / "in.csv")
    out = tmp_path / "out.csv"
    with pytest.raises(KeyboardInterrupt):
        score_dump(dump, out, FakeClassifier(fail_after_calls=1), chunk_size=5)
    with pytest.raises(BatchError, match="chunk_size changed"):
        score_dump(dump, out, FakeClassifier(), chunk_size=6, resume=True)
    _dump(dump, n=60)
    with pytest.raises(BatchError, match="input_size.*changed"):
        score_dump(dump, out, FakeClassifier(), chunk_size=5, resume=True)


def test_bad_options_fail_before_any_work(tmp_path):
    dump = _dump(tmp_path / "in.csv")
    with pytest.raises(DumpError, match="unknown format '.xlsx'"):
        score_dump(dump, tmp_path / "out.xlsx", FakeClassifier())
    with pytest.raises(BatchError, match="is the input file"):
        score_dump(dump, dump, FakeClassifier())
    with pytest.raises(BatchError, match="does not exist"):
        score_dump(dump, tmp_path / "no" / "out.csv", FakeClassifier())
    with pytest.raises(DumpError, match="no column 'body'"):
        score_dump(dump, tmp_path / "out.csv", FakeClassifier(), ColumnMap(text="body"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.csv"]


def test_a_clean_run_removes_a_stale_quarantine_file(tmp_path):
    dump = tmp_path / "in.jsonl"
    dump.write_text('{"text": "great"}\n')
    out = tmp_path / "out.jsonl"
    quarantine_path_for(out).write_text("old\n")
    result = score_dump(dump, out, FakeClassifier())
    assert result.quarantine_path is None and not quarantine_path_for(out).exists()


@pytest.mark.parametrize("delimiter", [";", "\t"])
def test_a_pandas_export_with_another_delimiter_and_epoch_times_scores_without_options(
        tmp_path, delimiter):
    import pandas as pd

    dump = tmp_path / "in.csv"
    pd.DataFrame({"tweet_id": [11, 12, 13], "text": ["bad, wait", "great", "bad; really"],
                  "brand": ["A", "B", "A"],
                  "created_at": [1424806500000, 1424806500, "Tue Feb 24 19:35:00 +0000 2015"]},
                 index=[40, 2, 17]).to_csv(dump, sep=delimiter)
    out = tmp_path / "out.jsonl"
    result = score_dump(dump, out, FakeClassifier())
    assert (result.rows_in, result.rows_scored, result.rows_quarantined) == (3, 3, 0)
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(r["id"], r["brand"], r["created_at"]) for r in rows] == [
        (i, b, "2015-02-24T19:35:00Z") for i, b in (("11", "A"), ("12", "B"), ("13", "A"))]
