"""File importers: generic dumps, the built-in formats, and broken files with exact counts."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from nlp.dumps import ColumnMap, DumpError
from nlp.times import parse_airline_time
from radar.collect.files import guess_format, import_file
from radar.store import open_store


@pytest.fixture
def store(tmp_path):
    with open_store(tmp_path / "radar.db") as opened:
        yield opened


def _write(path, text: str | bytes):
    path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    return path


BROKEN_CSV = (
    b"id,brand,created_at,text\n"
    b"r1,Acme,2026-11-02T10:00:00Z,on hold for two hours again\n"
    b"r2,Acme,2026-11-02T11:00:00Z,caf\xe9 card declined twice\n"        # line 3: Latin-1 byte
    b"r3,Acme,2026-11-02T12:00:00Z,ragged,extra,fields\n"                # line 4: 6 fields
    b"r4,Acme,2026-11-02T13:00:00Z,   \n"                                # line 5: empty text
    b'r5,Acme,2026-11-02T14:00:00Z,"a quoted\nmulti-line review"\n'      # lines 6-7
    b"r6,Acme,yesterday,the app logs me out\n"                           # line 8: bad time
    b"r7,Acme\n"                                                         # line 9: short row
    b"r8,,2026-11-03T09:00:00Z,cancelling my contract\n"                 # line 10: no brand
)


def test_broken_file_reports_each_bad_row_with_its_line_and_counts_add_up(tmp_path, store):
    path = _write(tmp_path / "broken.csv", BROKEN_CSV)
    result = import_file(path, store, brand="Acme")
    assert (result.rows_in, result.posts_new, result.posts_seen, result.rejected) == (8, 3, 0, 5)
    assert result.rows_in == result.posts_new + result.posts_seen + result.rejected
    reasons = dict(result.first_rejects)
    assert "line 3 is not valid utf-8 (byte 0xe9" in reasons["row 2 (line 3)"]
    assert reasons["row 3 (line 4)"] == "expected 4 fields, found 6"
    assert reasons["row 4 (line 5)"] == "empty text in column 'text'"
    assert "unparseable time 'yesterday'" in reasons["row 6 (line 8)"]
    assert reasons["row 7 (line 9)"] == "expected 4 fields, found 2"
    stored = {p.post_id: p for p in store.iter_posts(with_raw=True)}
    assert sorted(stored) == ["r1", "r5", "r8"]
    assert stored["r5"].text == "a quoted\nmulti-line review"
    assert stored["r8"].brand == "Acme"  # --brand fills the empty cell
    assert stored["r1"].raw == {"id": "r1", "brand": "Acme", "created_at": "2026-11-02T10:00:00Z",
                                "text": "on hold for two hours again"}
    # Every rejected row is in the store with its line, reason and raw values.
    rejected = store.rejected_rows(result.run_id)
    assert [line for line, _, _ in rejected] == [3, 4, 5, 8, 9]
    assert rejected[1][2] == ["r3", "Acme", "2026-11-02T12:00:00Z", "ragged", "extra", "fields"]
    run = store.run(result.run_id)
    assert (run.status, run.rows_in, run.posts_new, run.rejected) == ("done", 8, 3, 5)


def test_a_latin1_file_imports_cleanly_with_its_encoding(tmp_path, store):
    path = _write(tmp_path / "latin.csv", "id,text\n1,caf\xe9 was cold\n".encode("latin-1"))
    result = import_file(path, store, encoding="latin-1")
    assert (result.posts_new, result.rejected) == (1, 0)
    assert next(store.iter_posts()).text == "café was cold"


def test_missing_columns_stop_the_import_before_anything_is_stored(tmp_path, store):
    path = _write(tmp_path / "reviews.csv", "id,body\n1,late again\n")
    with pytest.raises(DumpError, match=r"no text column; name it with --text-col .*'body'"):
        import_file(path, store)
    with pytest.raises(DumpError, match=r"no column 'review' \(--text-col\)"):
        import_file(path, store, columns=ColumnMap(text="review"))
    assert store.count_posts() == 0


def test_unreadable_header_and_empty_file_are_whole_file_errors(tmp_path, store):
    with pytest.raises(DumpError, match="header row is unreadable"):
        import_file(_write(tmp_path / "h.csv", b"id,t\xe9xt\n1,x\n"), store)
    with pytest.raises(DumpError, match="empty file"):
        import_file(_write(tmp_path / "e.csv", b""), store)
    with pytest.raises(DumpError, match="no such file"):
        import_file(tmp_path / "absent.csv", store)
    with pytest.raises(DumpError, match="unknown format '.txt'"):
        import_file(_write(tmp_path / "x.txt", "a"), store)


def test_reimport_is_idempotent_and_updates_changed_text(tmp_path, store):
    path = _write(tmp_path / "r.jsonl", '{"id": "a", "text": "slow refund"}\n'
                                        '{"id": "b", "text": "rude agent"}\n')
    first = import_file(path, store)
    _write(path, '{"id": "a", "text": "slow refund, still waiting"}\n'
                 '{"id": "b", "text": "rude agent"}\n{"id": "c", "text": "new one"}\n')
    second = import_file(path, store)
    assert (first.posts_new, second.posts_new, second.posts_seen) == (2, 1, 2)
    assert store.count_posts() == 3
    assert {p.post_id: p.text for p in store.iter_posts()}["a"] == "slow refund, still waiting"
    assert {p.source for p in store.iter_posts()} == {f"file:{path.resolve()}"}


def test_jsonl_bad_lines_are_rejected_with_physical_line_numbers(tmp_path, store):
    path = _write(tmp_path / "r.jsonl", b'{"text": "ok one"}\n\n{"text": \n[1, 2]\n'
                                        b'{"text": "caf\xe9"}\n{"text": "ok two"}\n')
    result = import_file(path, store)
    assert (result.rows_in, result.posts_new, result.rejected) == (5, 2, 3)
    where = [w for w, _ in result.first_rejects]
    assert where == ["row 2 (line 3)", "row 3 (line 4)", "row 4 (line 5)"]
    assert "invalid JSON" in result.first_rejects[0][1]
    assert result.first_rejects[1][1] == "expected a JSON object, found list"


def test_parquet_dump_with_a_column_mapping(tmp_path, store):
    path = tmp_path / "reviews.parquet"
    pq.write_table(pa.table({"review_id": ["p1", "p2", "p3"],
                             "body": ["billing error again", None, "great support"],
                             "when": [datetime(2026, 11, 1, 9, tzinfo=UTC)] * 3,
                             "company": ["Acme", "Acme", "Bolt"]}), path)
    result = import_file(path, store, columns=ColumnMap(text="body", id="review_id",
                                                        time="when", brand="company"))
    assert (result.rows_in, result.posts_new, result.rejected) == (3, 2, 1)
    assert result.first_rejects == (("row 2", "no value in text column 'body'"),)
    posts = {p.post_id: p for p in store.iter_posts()}
    assert posts["p3"].brand == "Bolt"
    assert posts["p1"].created_at == datetime(2026, 11, 1, 9, tzinfo=UTC)


TWCS = """\
tweet_id,author_id,inbound,created_at,text,response_tweet_id,in_response_to_tweet_id
1,sprintcare,False,Tue Oct 31 22:10:47 +0000 2017,@115712 I understand. Please DM us.,,3
2,115712,True,Tue Oct 31 22:11:45 +0000 2017,@sprintcare and how do you propose we do that,,1
3,115712,True,Tue Oct 31 22:08:27 +0000 2017,@sprintcare no one answers my DMs as usual,1,
4,AppleSupport,False,Tue Oct 31 21:45:10 +0000 2017,@115713 We're here for you. Which iOS?,,5
5,115713,True,Tue Oct 31 21:40:00 +0000 2017,my phone keeps restarting since the update,4,
6,115714,True,Tue Oct 31 21:50:00 +0000 2017,@applesupport the battery drains overnight,,
7,115715,True,Tue Oct 31 21:55:00 +0000 2017,nobody answers at this company,,
8,115716,maybe,Tue Oct 31 21:56:00 +0000 2017,what is this,,
9,115717,True,31/10/2017,bad date row,,
"""


def test_twcs_keeps_customers_and_finds_each_brand_from_the_thread(tmp_path, store):
    path = _write(tmp_path / "twcs.csv", TWCS)
    assert guess_format(path) == "twcs"
    result = import_file(path, store)
    assert result.format == "twcs"
    assert (result.rows_in, result.posts_new, result.rejected, result.skipped) == (9, 5, 2, 2)
    assert result.rows_in == result.posts_new + result.posts_seen + result.rejected \
        + result.skipped
    posts = {p.post_id: p for p in store.iter_posts()}
    assert {k: p.brand for k, p in posts.items()} == {
        "3": "sprintcare",     # answered by the brand (its reply names this tweet)
        "2": "sprintcare",     # a follow-up answering the brand's tweet
        "5": "AppleSupport",
        "6": "AppleSupport",   # no thread: the @-mention of a known brand account
        "7": None,             # nothing to go on: stored without a brand
    }
    assert posts["3"].created_at == datetime(2017, 10, 31, 22, 8, 27, tzinfo=UTC)
    assert posts["2"].parent_id == "1" and posts["2"].source == "twcs"
    assert {p.author_id for p in posts.values()} == {"115712", "115713", "115714", "115715"}
    reasons = dict(result.first_rejects)
    assert "inbound is 'maybe'" in reasons["row 8 (line 9)"]
    assert ("time '31/10/2017' in column 'created_at' puts the day or the month first"
            in reasons["row 9 (line 10)"])


def test_twcs_without_its_columns_is_refused(tmp_path, store):
    path = _write(tmp_path / "t.csv", "tweet_id,text\n1,x\n")
    with pytest.raises(DumpError, match="not a twcs export: no columns"):
        import_file(path, store, fmt="twcs")


def test_airline_time_is_us_pacific():
    assert parse_airline_time("24-02-2015 11:35") == datetime(2015, 2, 24, 19, 35, tzinfo=UTC)


def test_complaints_2019_has_no_header_row(tmp_path, store):
    path = _write(tmp_path / "c.csv", '1,"@FC_Help where is my order",1,apparel\n'
                                      "2,thanks for the quick reply,0,apparel\n3,bad,row\n")
    result = import_file(path, store, fmt="complaints-2019")
    assert (result.rows_in, result.posts_new, result.rejected) == (3, 2, 1)
    post = next(store.iter_posts(with_raw=True))
    assert post.source == "complaints-2019" and post.raw["domain"] == "apparel"


def test_mirrored_datasets_import_with_exact_counts(mirror_dir, store):
    airline = import_file(mirror_dir / "airline-sentiment-2015" / "Tweets.csv", store)
    # 14,640 rows; 155 tweet ids appear twice in the release, so they are stored once.
    assert (airline.format, airline.rows_in, airline.posts_new, airline.posts_seen,
            airline.rejected) == ("airline-2015", 14640, 14485, 155, 0)
    complaints = import_file(mirror_dir / "complaints-2019" / "complaints-data.csv", store,
                             fmt="complaints-2019")
    assert (complaints.rows_in, complaints.posts_new, complaints.rejected) == (3449, 3449, 0)
    assert store.count_posts(source="airline-sentiment-2015", brand="United") == 3822
    # the release's "Delta" rows are JetBlue's but for two tweets to @DeltaAssist
    assert store.count_posts(source="airline-sentiment-2015", brand="JetBlue") == 2220
    assert store.count_posts(source="airline-sentiment-2015", brand="Delta") == 2
    again = import_file(mirror_dir / "airline-sentiment-2015" / "Tweets.csv", store)
    assert (again.posts_new, again.posts_seen) == (0, 14640)
    assert store.count_posts() == 14485 + 3449


def test_import_of_an_interrupted_file_keeps_whole_chunks(tmp_path, store):
    lines = "".join(json.dumps({"id": str(i), "text": f"post {i}"}) + "\n" for i in range(50))
    path = _write(tmp_path / "r.jsonl", lines)
    calls = []

    def stop_after_two_chunks(position, size, rows):
        calls.append(rows)
        if len(calls) == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        import_file(path, store, chunk_size=10, progress=stop_after_two_chunks)
    assert store.count_posts() == 20
    interrupted = store.stats()["runs"][0]
    assert interrupted["status"] == "interrupted"
    result = import_file(path, store, chunk_size=10)
    assert (result.posts_new, result.posts_seen) == (30, 20)
    assert store.count_posts() == 50


def test_twcs_follows_a_thread_up_to_the_brand(tmp_path, store):
    rows = TWCS.splitlines()[0] + "\n" + "\n".join([
        "20,500,True,Tue Oct 31 10:00:00 +0000 2017,my router died,21,",
        "21,AcmeHelp,False,Tue Oct 31 10:05:00 +0000 2017,@500 sorry! DM us,22,20",
        "22,500,True,Tue Oct 31 10:10:00 +0000 2017,done,23,21",
        "23,500,True,Tue Oct 31 10:20:00 +0000 2017,still waiting an hour later,,22",
    ]) + "\n"
    import_file(_write(tmp_path / "thread.csv", rows), store, fmt="twcs")
    brands = {p.post_id: p.brand for p in store.iter_posts()}
    # 23 answers the customer's own 22, which answers the brand: the thread's brand
    assert brands == {"20": "AcmeHelp", "22": "AcmeHelp", "23": "AcmeHelp"}


def test_airline_original_kaggle_times_with_offset():
    assert parse_airline_time("2015-02-24 11:35:52 -0800") == datetime(2015, 2, 24, 19, 35, 52,
                                                                       tzinfo=UTC)


def test_two_dumps_with_the_same_name_in_different_folders_do_not_collide(tmp_path, store):
    for folder, brand in (("acme", "Acme"), ("globex", "Globex")):
        (tmp_path / folder).mkdir()
        _write(tmp_path / folder / "reviews.csv", f"text,brand\nslow delivery,{brand}\n")
        assert import_file(tmp_path / folder / "reviews.csv", store).posts_new == 1
    assert store.count_posts() == 2
    assert store.count_posts(brand="Acme") == store.count_posts(brand="Globex") == 1


def test_blank_lines_in_a_csv_are_not_rows(tmp_path, store):
    result = import_file(_write(tmp_path / "b.csv", "id,text\n1,late\n\n2,rude\n\n"), store)
    assert (result.rows_in, result.posts_new, result.rejected) == (2, 2, 0)
