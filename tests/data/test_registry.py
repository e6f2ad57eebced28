"""Dataset registry: resolution order, checksums, clear errors, loader quirks."""

from __future__ import annotations

import dataclasses
import hashlib
from collections import Counter
from pathlib import Path

import pytest

from training import datasets as registry
from training.datasets import ChecksumError, DatasetError, resolve_path

COMPLAINTS_CSV = (
    '1,"@brand my order never came, again",1,retail\n'
    "2,@brand thanks for the help!,0,retail\n"
    '3,"He said ""hi"" http://t.co/x",0,random_tweet\n'
)


def _spec_for(tmp_path: Path, content: str, **overrides) -> registry.DatasetSpec:
    """The complaints-2019 spec, re-pointed at a small file of our own."""
    base = registry.get_spec("complaints-2019")
    return dataclasses.replace(
        base, sha256=hashlib.sha256(content.encode()).hexdigest(), **overrides)


def _write(root: Path, relpath: str, content: str) -> Path:
    path = root / relpath
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content, encoding="utf-8")
    return path


def test_mirror_is_preferred_over_cache(tmp_path, monkeypatch):
    spec = _spec_for(tmp_path, COMPLAINTS_CSV)
    mirror = _write(tmp_path / "mirror", spec.relpath, COMPLAINTS_CSV)
    _write(tmp_path / "cache", spec.relpath, COMPLAINTS_CSV)
    monkeypatch.setenv("RADAR_DATA_MIRROR", str(tmp_path / "mirror"))
    monkeypatch.setenv("RADAR_CACHE_DIR", str(tmp_path / "cache"))
    assert resolve_path(spec) == ("mirror", mirror)


def test_cache_is_used_when_the_mirror_lacks_the_file(tmp_path, monkeypatch):
    spec = _spec_for(tmp_path, COMPLAINTS_CSV)
    cached = _write(tmp_path / "cache", spec.relpath, COMPLAINTS_CSV)
    monkeypatch.setenv("RADAR_DATA_MIRROR", str(tmp_path / "empty-mirror"))
    monkeypatch.setenv("RADAR_CACHE_DIR", str(tmp_path / "cache"))
    assert resolve_path(spec) == ("cache", cached)


def test_download_lands_in_cache_only_when_verified(tmp_path, monkeypatch):
    source = _write(tmp_path / "remote", "complaints-data.csv", COMPLAINTS_CSV)
    spec = _spec_for(tmp_path, COMPLAINTS_CSV, download_url=source.as_uri())
    monkeypatch.delenv("RADAR_DATA_MIRROR", raising=False)
    monkeypatch.setenv("RADAR_CACHE_DIR", str(tmp_path / "cache"))
    where, path = resolve_path(spec)
    assert where == "download" and path == tmp_path / "cache" / spec.relpath
    assert path.read_text(encoding="utf-8") == COMPLAINTS_CSV

    bad = dataclasses.replace(spec, sha256="0" * 64)
    monkeypatch.setenv("RADAR_CACHE_DIR", str(tmp_path / "cache2"))
    with pytest.raises(ChecksumError):
        resolve_path(bad)
    assert not (tmp_path / "cache2" / spec.relpath).exists()
    assert list((tmp_path / "cache2" / "complaints-2019").iterdir()) == []


def test_checksum_mismatch_names_the_file_and_both_hashes(tmp_path, monkeypatch):
    spec = _spec_for(tmp_path, COMPLAINTS_CSV)
    path = _write(tmp_path / "mirror", spec.relpath, COMPLAINTS_CSV + "4,tampered,1,x\n")
    monkeypatch.setenv("RADAR_DATA_MIRROR", str(tmp_path / "mirror"))
    with pytest.raises(ChecksumError) as info:
        resolve_path(spec)
    message = str(info.value)
    assert str(path) in message and spec.sha256 in message
    assert hashlib.sha256(path.read_bytes()).hexdigest() in message


def test_missing_file_without_network_says_where_to_put_it(tmp_path, monkeypatch):
    spec = _spec_for(tmp_path, COMPLAINTS_CSV, download_url="http://127.0.0.1:9/nothing.csv")
    monkeypatch.setenv("RADAR_DATA_MIRROR", str(tmp_path / "mirror"))
    monkeypatch.setenv("RADAR_CACHE_DIR", str(tmp_path / "cache"))
    with pytest.raises(DatasetError, match="download .* failed") as info:
        resolve_path(spec)
    assert "RADAR_DATA_MIRROR" in str(info.value)
    assert str(tmp_path / "cache" / spec.relpath) in str(info.value)


def test_missing_file_with_no_direct_download_points_to_the_homepage(tmp_path, monkeypatch):
    spec = registry.get_spec("airline-sentiment-2015")
    monkeypatch.setenv("RADAR_DATA_MIRROR", str(tmp_path / "mirror"))
    monkeypatch.setenv("RADAR_CACHE_DIR", str(tmp_path / "cache"))
    with pytest.raises(DatasetError, match="no direct download") as info:
        resolve_path(spec)
    assert spec.homepage in str(info.value)
    with pytest.raises(DatasetError, match="not found"):
        resolve_path(spec, download=False)


def test_unknown_dataset_lists_the_known_ones():
    with pytest.raises(DatasetError, match="airline-sentiment-2015, banking77, .*complaints-2019"):
        registry.get_spec("imdb")


def test_complaints_loader_reads_quoted_commas_and_rejects_malformed_rows(tmp_path):
    path = _write(tmp_path, "c.csv", COMPLAINTS_CSV)
    ds = registry.load_complaints_2019(path)
    assert ds["text"][0] == "@brand my order never came, again"
    assert ds["complaint"] == [1, 0, 0]
    assert ds["domain"] == ["retail", "retail", "random_tweet"]
    bad = _write(tmp_path, "bad.csv", COMPLAINTS_CSV + "4,no label here\n")
    with pytest.raises(DatasetError, match="line 4 is malformed"):
        registry.load_complaints_2019(bad)


AIRLINE_HEADER = ("tweet_id,airline_sentiment,airline_sentiment_confidence,negativereason,"
                  "negativereason_confidence,airline,airline_sentiment_gold,name,"
                  "negativereason_gold,retweet_count,text,tweet_coord,tweet_created,"
                  "tweet_location,user_timezone\n")


def _airline_row(tweet_id, sentiment, confidence, reason, text, created="24-02-2015 11:35"):
    return (f"{tweet_id},{sentiment},{confidence},{reason},,United,,ann,,0,"
            f'"{text}",,{created},,\n')


def test_airline_loader_keeps_the_most_confident_copy_of_a_repeated_id(tmp_path):
    content = AIRLINE_HEADER + "".join([
        _airline_row(1, "positive", "0.66", "", "@united ok"),
        _airline_row(2, "negative", "1", "longlines", "@united the line!", "16-02-2015 23.36"),
        _airline_row(1, "negative", "0.90", "Cancelled Flight", "@united ok"),
        _airline_row(3, "neutral", "1", "", "@united hi"),
        _airline_row(3, "negative", "1", "Bad Flight", "@united hi"),
    ])
    ds = registry.load_airline_sentiment_2015(_write(tmp_path, "t.csv", content))
    rows = {r["post_id"]: r for r in ds}
    assert len(ds) == 3
    assert rows["1"]["sentiment"] == "negative" and rows["1"]["themes"] == ["product_failure"]
    assert rows["3"]["sentiment"] == "neutral"  # tie: the first copy in the file
    assert rows["2"]["themes"] == ["waiting"]
    assert rows["2"]["created_at"] == "2015-02-17T07:36:00Z"  # UTC-8 -> UTC, "HH.MM" form
    assert rows["1"]["created_at"] == "2015-02-24T19:35:00Z"  # "HH:MM" form
    assert rows["3"]["reason"] is None and rows["3"]["complaint"] is None


@pytest.mark.parametrize(
    ("row", "message"),
    [
        (_airline_row(1, "angry", "1", "", "x"), "not negative/neutral/positive"),
        (_airline_row(1, "negative", "1", "Rude Pilot", "x"), "Rude Pilot"),
        (_airline_row(1, "negative", "1", "", "x", created="2015/02/24"), "line 2 is malformed"),
    ],
)
def test_airline_loader_rejects_bad_rows_with_the_line(tmp_path, row, message):
    with pytest.raises(DatasetError, match=message):
        registry.load_airline_sentiment_2015(_write(tmp_path, "t.csv", AIRLINE_HEADER + row))


def test_airline_loader_rejects_a_file_without_the_expected_columns(tmp_path):
    with pytest.raises(DatasetError, match="lacks columns"):
        registry.load_airline_sentiment_2015(_write(tmp_path, "t.csv", "id,text\n1,hi\n"))


# --- the real mirrored files --------------------------------------------------------


def test_real_files_match_their_registered_checksums(mirror_dir, monkeypatch):
    monkeypatch.setenv("RADAR_DATA_MIRROR", str(mirror_dir))
    for spec in registry.REGISTRY.values():
        assert resolve_path(spec, download=False) == ("mirror", mirror_dir / spec.relpath)


def test_real_loader_row_counts_and_duplicate_handling(real_datasets):
    complaints = real_datasets["complaints-2019"]
    airline = real_datasets["airline-sentiment-2015"]
    assert len(complaints) == 3449
    assert sum(complaints["complaint"]) == 1232
    # 14,640 rows, 155 tweet ids twice: one row per id survives.
    assert len(airline) == 14640 - 155
    assert len(set(airline["post_id"])) == len(airline)
    # the release's "Delta" rows are JetBlue's, but for two tweets to @DeltaAssist
    brands = Counter(airline["brand"])
    assert brands == {"United": 3822, "US Airways": 2913, "American": 2604, "Southwest": 2420,
                      "JetBlue": 2220, "Virgin America": 504, "Delta": 2}
    assert all(t.endswith("Z") for t in airline["created_at"])
    assert min(airline["created_at"]) >= "2015-02-17" and max(airline["created_at"]) < "2015-02-25"


# --- the support datasets of issue [H] ---------------------------------------------------


def test_a_multi_file_release_is_verified_file_by_file(tmp_path, monkeypatch):
    import hashlib as h

    ontology, fold = '{"intents": {}}', '[{"text": "close my account", "intents": ["x"]}]'
    listing = (f"{h.sha256(ontology.encode()).hexdigest()}  data/ontology.json\n"
               f"{h.sha256(fold.encode()).hexdigest()}  data/banking/fold0.json\n")
    root = tmp_path / "mirror"
    _write(root, "nlu/SHA256SUMS", listing)
    _write(root, "nlu/data/ontology.json", ontology)
    spec = dataclasses.replace(
        registry.get_spec("nlu-plus-plus"), relpath="nlu/SHA256SUMS",
        sha256=h.sha256(listing.encode()).hexdigest(),
        extra_files=(("data/ontology.json", "@SHA256SUMS"),
                     ("data/banking/fold0.json", "@SHA256SUMS")))
    monkeypatch.setenv("RADAR_DATA_MIRROR", str(root))
    monkeypatch.setenv("RADAR_CACHE_DIR", str(tmp_path / "cache"))
    with pytest.raises(DatasetError, match="fold0.json is missing"):
        resolve_path(spec, download=False)
    _write(root, "nlu/data/banking/fold0.json", fold + " ")  # tampered
    with pytest.raises(ChecksumError, match="fold0.json"):
        resolve_path(spec, download=False)
    _write(root, "nlu/data/banking/fold0.json", fold)
    assert resolve_path(spec, download=False) == ("mirror", root / "nlu/SHA256SUMS")
    unlisted = dataclasses.replace(spec, extra_files=(("data/hotels/fold0.json", "@SHA256SUMS"),))
    with pytest.raises(DatasetError, match="not listed"):
        resolve_path(unlisted, download=False)


@pytest.mark.parametrize(("loader", "name", "content", "message"), [
    (registry.load_bitext, "b.csv", "instruction,intent\nhi,x\n", "lacks columns"),
    (registry.load_bitext, "b.csv", "instruction,intent,category\n ,x,Y\n",
     "data row 1 lacks instruction"),
    (registry.load_cfpb, "c.csv", "Product,Issue\nx,y\n", "lacks columns"),
    (registry.load_cfpb, "c.csv",
     "Date received,Product,Issue,Sub-issue,Consumer complaint narrative,Company,Complaint ID\n"
     "03-18-2020,Mortgage,Fees,,They charged me twice,Acme,1\n", "is not YYYY/M/D"),
])
def test_support_loaders_reject_bad_files_with_the_row(tmp_path, loader, name, content,
                                                       message):
    with pytest.raises(DatasetError, match=message):
        loader(_write(tmp_path, name, content))


def test_banking77_needs_both_files_and_nlu_folds_must_be_json(tmp_path):
    _write(tmp_path, "train.csv", "text,category\nwhere is my card,card_arrival\n")
    _write(tmp_path, "test.csv", "text,category\n,card_arrival\n")
    with pytest.raises(DatasetError, match="test.csv data row 1 lacks text"):
        registry.load_banking77(tmp_path / "train.csv")
    _write(tmp_path, "nlu/data/banking/fold0.json", "[{not json")
    with pytest.raises(DatasetError, match="fold0.json is not JSON"):
        registry.load_nlu_plus_plus(tmp_path / "nlu" / "SHA256SUMS")


def test_cfpb_keeps_narratives_only_and_cuts_letters_at_a_word(tmp_path):
    header = ("Date received,Product,Issue,Sub-issue,Consumer complaint narrative,Company,"
              "Complaint ID\n")
    letter = "word " * 300
    rows = registry.load_cfpb(_write(tmp_path, "c.csv", header
                                     + "2020/3/18,Debt collection,Communication tactics,,,A,1\n"
                                     + f'2019/9/4,Mortgage,Fees,,"{letter}",B,2\n'))
    assert rows["post_id"] == ["2"] and rows["domain"] == ["lending"]
    assert rows["created_at"] == ["2019-09-04T00:00:00Z"]
    assert len(rows["text"][0]) <= registry.CFPB_MAX_CHARS + 2
    assert rows["text"][0].endswith("word …")


def test_real_support_datasets_load_with_their_row_counts(real_datasets):
    assert len(real_datasets["banking77"]) == 13083
    assert len(real_datasets["nlu-plus-plus"]) == 3080
    assert len(real_datasets["bitext-customer-support"]) == 4514
    assert len(real_datasets["cfpb-complaints-sample"]) == 1532
    for name in ("banking77", "nlu-plus-plus", "bitext-customer-support",
                 "cfpb-complaints-sample"):
        assert len(set(real_datasets[name]["post_id"])) == len(real_datasets[name]), name
