"""snscrape: archive records as posts (no snscrape needed) and the live Telegram source.

Record shapes follow snscrape 0.7.0.20230622's dataclasses and JSON writer
(https://github.com/JustAnotherArchivist/snscrape/tree/master/snscrape/modules:
twitter.py ``Tweet``/``User``/``UserRef``, reddit.py ``Submission``/``Comment``,
mastodon.py ``Toot``/``Boost``/``User``, telegram.py ``TelegramPost``; base.py
``_json_dataclass_to_dict`` adds ``_type``, ``_snscrape`` and ``<field>.str`` for big
ints). ``archive.jsonl`` lines 1, 3-8 were written by those classes' own ``.json()``;
line 2 is the pre-0.6 tweet shape (``content``, no ``rawContent``). The HTML pages are
t.me/s/<channel> web previews in the markup ``TelegramChannelScraper`` parses
(``tgme_widget_message[data-post]``, ``tgme_widget_message_date`` with ``<time
datetime>``, ``tgme_widget_message_text``, ``a.tme_messages_more[data-before]``).
"""

from __future__ import annotations

import builtins
import json
import random
import socket
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from nlp.errors import NotInstalled, RowError
from radar.collect import snscrape as sns
from radar.collect.base import CollectError, ConfigError, Query, RateLimited, TransientError
from radar.collect.runner import RunnerConfig, collect_posts
from radar.store import open_store

FIXTURES = Path(__file__).parent / "fixtures" / "snscrape"
REPO = Path(__file__).resolve().parents[3]
CHANNEL = "flycomplaints"
ALL_LIVE_IDS = {f"{CHANNEL}/{n}" for n in range(403, 413)}  # 413 is a photo without caption


def _archive() -> list[dict]:
    return [json.loads(line) for line in
            (FIXTURES / "archive.jsonl").read_text(encoding="utf-8").splitlines()]


def _import_archive() -> tuple[dict[int, object], dict[int, str]]:
    """What the importer does: a post, or the quarantine reason, per line number."""
    posts, rejected = {}, {}
    for number, record in enumerate(_archive(), start=1):
        try:
            posts[number] = sns.post_from_snscrape(record)
        except RowError as exc:
            rejected[number] = str(exc)
    return posts, rejected


# --- archives ------------------------------------------------------------------------------

def test_every_supported_type_in_the_archive_becomes_the_right_post():
    posts, _ = _import_archive()
    records = _archive()
    assert {records[n - 1]["_type"] for n in posts} == set(sns.SNSCRAPE_TYPES)

    tweet = posts[1]
    assert (tweet.source, tweet.post_id, tweet.author_id) == ("x", "1671234567890123456",
                                                               "1380021745")
    assert tweet.text.startswith("@NorthwindAir 3 hours on hold & the IVR")  # &amp; unescaped
    assert tweet.created_at == datetime(2023, 6, 20, 14, 5, 11, tzinfo=UTC)
    assert tweet.parent_id == "1671230000000000000" and tweet.lang == "en"
    assert tweet.url == "https://twitter.com/maria_travels/status/1671234567890123456"
    assert tweet.raw == records[0]

    older = posts[2]  # content instead of rawContent
    assert (older.post_id, older.author_id, older.parent_id) == ("1420011122233344455",
                                                                 "731245001", None)
    assert older.text.startswith("Been waiting 40 min for @ContosoMobile chat support")

    ref = posts[3]  # user is a UserRef, big ids also as "id.str", lang "und"
    assert (ref.post_id, ref.author_id, ref.lang) == ("1671299999999999999", "2233445566", None)

    submission, comment = posts[4], posts[5]
    assert (submission.source, submission.post_id) == ("reddit", "t3_11f0abc")
    assert submission.text == ('Double billed again, cancelling\n\nThey charged me twice for '
                               'March & support keeps saying "wait 5-7 days". Third call, '
                               'same script.')
    assert submission.author_id == "throwaway_billing" and submission.parent_id is None
    assert (comment.post_id, comment.parent_id, comment.author_id) == (
        "t1_jaj9x2k", "t3_11f0abc", "pat_in_ohio")
    assert comment.created_at == datetime(2023, 3, 1, 10, 2, 45, tzinfo=UTC)

    toot = posts[6]
    assert (toot.source, toot.post_id, toot.author_id) == (
        "mastodon", "https://mastodon.social/@lena/110512345678901234", "lena@mastodon.social")
    assert toot.text == ("Fabrikam Bank rant\n\nLocked out of online banking for a week, and "
                         "the chatbot just loops. Moving my savings elsewhere.")

    boost = posts[7]  # the boosted toot, by its own author; the whole Boost kept as raw
    assert (boost.post_id, boost.author_id) == ("https://hachyderm.io/@kim/110600000000000001",
                                                "kim@hachyderm.io")
    assert boost.raw["_type"] == sns.BOOST and boost.raw["user"]["account"] == "@sam@fosstodon.org"

    telegram = posts[8]
    assert (telegram.source, telegram.post_id, telegram.author_id) == (
        "telegram", f"{CHANNEL}/412", CHANNEL)
    assert telegram.url == f"https://t.me/{CHANNEL}/412"
    assert telegram.created_at == datetime(2023, 5, 2, 16, 20, 5, tzinfo=UTC)
    assert telegram.created_at.utcoffset().total_seconds() == 0


def test_broken_records_are_rejected_with_their_reason():
    _, rejected = _import_archive()
    assert sorted(rejected) == [9, 10, 11, 12, 13, 14]
    assert "unsupported snscrape record type 'snscrape.modules.twitter.User'" in rejected[9]
    assert rejected[10] == "tweet has no 'id'"
    assert rejected[11].startswith(f"telegram post {CHANNEL}/413 has no text")
    assert "photo" in rejected[11]
    assert rejected[12] == "reddit comment t1_jaj9zzz was deleted before it was archived " \
                           "(body '[deleted]')"
    assert rejected[13].startswith("mastodon toot https://mastodon.social/@lena/"
                                   "110512345678909999 has empty text")
    assert rejected[14].startswith("no '_type' field")


@pytest.mark.parametrize(("record", "reason"), [
    ([1, 2], "expected a JSON object"),
    ({"_type": sns.TWEET, "id": "12ab", "rawContent": "x"}, "not a numeric id"),
    ({"_type": sns.TWEET, "id": 5, "rawContent": "late again", "date": "yesterday"},
     "unparseable time 'yesterday'"),
    ({"_type": sns.TWEET, "id": 5, "rawContent": 42}, "'rawContent' holds a int"),
    ({"_type": sns.COMMENT, "id": "t3_abc", "body": "hi"}, "is not a t1_ fullname"),
    ({"_type": sns.TELEGRAM_POST, "url": "https://t.me/s/flycomplaints", "content": "x"},
     "is not https://t.me/s/<channel>/<number>"),
    ({"_type": sns.BOOST, "user": {"account": "@a@b.c"}}, "Boost has no 'toot'"),
])
def test_malformed_records_say_what_is_wrong(record, reason):
    with pytest.raises(RowError) as caught:
        sns.post_from_snscrape(record)
    assert reason in str(caught.value)


def test_ids_are_normalised_to_what_the_live_sources_use():
    bare = sns.post_from_snscrape({"_type": sns.SUBMISSION, "id": "11f0abc", "title": "Refund?"})
    assert bare.post_id == "t3_11f0abc"
    plain = sns.post_from_snscrape({"_type": sns.TELEGRAM_POST, "content": "Lost bag",
                                    "url": "https://t.me/flycomplaints/412"})
    assert plain.post_id == f"{CHANNEL}/412"  # with or without snscrape's /s/
    with_uri = sns.post_from_snscrape({
        "_type": sns.TOOT, "text": "Bank app down", "url": "https://a.example/@x/1",
        "uri": "https://a.example/users/x/statuses/1", "user": {"account": "@x@a.example"}})
    assert with_uri.post_id == "https://a.example/users/x/statuses/1"
    removed = sns.post_from_snscrape({"_type": sns.SUBMISSION, "id": "t3_q", "title": "Scam",
                                      "selftext": "[removed]", "author": "[deleted]"})
    assert (removed.text, removed.author_id) == ("Scam", None)


def test_the_importer_works_without_snscrape_and_importing_the_module_does_not_import_it():
    code = (
        "import sys\n"
        "import radar.collect.snscrape as m\n"
        "assert not any(k == 'snscrape' or k.startswith('snscrape.') for k in sys.modules), "
        "'importing the module imported snscrape'\n"
        "sys.modules['snscrape'] = None\n"
        "post = m.post_from_snscrape({'_type': m.TOOT, 'url': 'https://a.example/@x/1',"
        " 'text': 'no refund', 'user': {'account': '@x@a.example'}})\n"
        "print(post.post_id)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "https://a.example/@x/1"


# --- not installed -------------------------------------------------------------------------

def test_missing_snscrape_says_how_to_install_it(monkeypatch):
    for name in ("snscrape", "snscrape.base", "snscrape.modules", "snscrape.modules.telegram"):
        monkeypatch.setitem(sys.modules, name, None)
    with pytest.raises(NotInstalled) as caught:
        sns.make_source()
    message = str(caught.value)
    assert message.startswith("the Telegram source needs snscrape, from the 'snscrape' extra: "
                              "pip install -e '.[snscrape]' (")
    assert "Python < 3.12" in message
    assert caught.value.extra == "snscrape" and isinstance(caught.value, ImportError)


def test_snscrape_that_cannot_import_on_this_python_is_reported(monkeypatch):
    real_import = builtins.__import__

    def failing_import(name, *args, **kwargs):
        if name.startswith("snscrape"):
            # What snscrape 0.7's module loader raises on Python 3.12.
            raise AttributeError("'FileFinder' object has no attribute 'find_module'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", failing_import)
    with pytest.raises(NotInstalled) as caught:
        sns.TelegramSource()
    message = str(caught.value)
    assert "pip install -e '.[snscrape]'" in message
    assert "does not import on Python" in message and "needs Python < 3.12" in message


# --- live Telegram through the real snscrape scraper ---------------------------------------

def _html(name: str) -> str:
    return (FIXTURES / name).read_text(encoding="utf-8")


def _channel_pages(request):
    """t.me/s/<channel> as recorded: the newest page and the two older ones."""
    if request.path != f"/s/{CHANNEL}":
        return 404, {"Content-Type": "text/html"}, "<html>not found</html>"
    before = request.query.get("before", [None])[0]
    name = {None: "flycomplaints.html", "410": "flycomplaints_before_410.html",
            "406": "flycomplaints_before_406.html"}.get(before)
    if name is None:
        return 404, {"Content-Type": "text/html"}, "<html>no such page</html>"
    return 200, {"Content-Type": "text/html; charset=utf-8"}, _html(name)


def _then_pages(*first):
    """Answer with ``first`` responses in turn, then the recorded channel."""
    queue = list(first)

    def handler(request):
        return queue.pop(0) if queue else _channel_pages(request)

    return handler


def _queries(server) -> list[str | None]:
    return [r.query.get("before", [None])[0] for r in server.requests]


@pytest.fixture
def telegram():
    pytest.importorskip("snscrape")
    return sns.make_source


def test_a_channel_page_parses_into_posts(telegram, local_server):
    server = local_server(_channel_pages)
    source = telegram(base_url=server.url)
    page = source.fetch_page(Query(CHANNEL, options={"page_size": "4"}), None)

    assert [r.path for r in server.requests] == [f"/s/{CHANNEL}"]
    assert server.requests[0].query == {}
    # 413 is a photo without a caption: it counts toward the page but gives no post.
    assert [p.post_id for p in page.posts] == [f"{CHANNEL}/{n}" for n in (412, 411, 410)]
    assert page.next_checkpoint == {"before": 410}
    first = page.posts[0]
    assert first.text == ("Northwind Air lost my bag in Lisbon, 9 days and no answer from "
                          "baggage services.")
    assert first.created_at == datetime(2023, 5, 2, 16, 20, 5, tzinfo=UTC)
    assert first.url == f"https://t.me/{CHANNEL}/412"
    assert (first.source, first.author_id, first.parent_id, first.lang) == (
        "telegram", CHANNEL, None, None)
    assert first.raw["_type"] == sns.TELEGRAM_POST
    assert first.raw["linkPreview"]["title"] == "Baggage claims"
    assert page.posts[2].text.startswith("Contoso Air & Northwind Air both refuse")
    # The live post and the archived one are the same post.
    archived = sns.post_from_snscrape(_archive()[7])
    assert archived.key == first.key and archived.text == first.text


def test_paging_starts_at_the_checkpoint_and_follows_the_scrapers_own_links(telegram,
                                                                            local_server):
    server = local_server(_channel_pages)
    source = telegram(base_url=server.url)
    resumed = source.fetch_page(Query(CHANNEL, options={"page_size": "4"}), {"before": 406})
    assert _queries(server) == ["406"]
    assert [p.post_id for p in resumed.posts] == [f"{CHANNEL}/{n}" for n in (405, 404, 403)]
    assert resumed.next_checkpoint is None  # fewer than page_size: the channel's start

    # More than one t.me page: snscrape follows the page's "more" link by itself.
    large = source.fetch_page(Query(CHANNEL, options={"page_size": "6"}), None)
    assert _queries(server) == ["406", None, "410"]
    assert [p.post_id for p in large.posts] == [f"{CHANNEL}/{n}" for n in range(412, 407, -1)]
    assert large.next_checkpoint == {"before": 408}


def test_collect_pages_resume_and_store_each_post_once(telegram, local_server, tmp_path):
    server = local_server(_channel_pages)
    source = telegram(base_url=server.url)
    query = Query(f"@{CHANNEL}", brand="Northwind Air", options={"page_size": "4"})
    store = open_store(tmp_path / "radar.db")
    store.save_posts([sns.post_from_snscrape(_archive()[7])])  # 412 came from an archive

    first = collect_posts(source, query, store, RunnerConfig(max_pages=1), sleep=pytest.fail)
    assert (first.status, first.pages, first.posts_new, first.posts_seen) == ("paused", 1, 2, 1)
    assert store.get_checkpoint("telegram", query.key).state == {"before": 410}

    second = collect_posts(source, query, store, sleep=pytest.fail)
    assert second.resumed and second.status == "done" and second.pages == 2
    assert _queries(server) == [None, "410", "406"]  # continued, not started over
    assert store.get_checkpoint("telegram", query.key).done

    stored = list(store.iter_posts(source="telegram", with_raw=True))
    assert len(stored) == store.count_posts() == 10
    assert {p.post_id for p in stored} == ALL_LIVE_IDS
    assert all(p.brand == "Northwind Air" for p in stored if p.post_id != f"{CHANNEL}/412")
    assert all(p.raw["_type"] == sns.TELEGRAM_POST for p in stored)

    again = collect_posts(source, query, store, sleep=pytest.fail)
    assert again.status == "done" and again.posts_new == 0
    assert _queries(server)[3:] == [None]  # a new pass stops at posts already stored
    assert store.count_posts() == 10


def test_rate_limit_waits_as_told_then_succeeds(telegram, local_server, tmp_path):
    server = local_server(_then_pages((429, {"Retry-After": "7", "Content-Type": "text/html"},
                                       "<html>Too Many Requests</html>")))
    waits: list[float] = []
    result = collect_posts(telegram(base_url=server.url), Query(CHANNEL), open_store(
        tmp_path / "radar.db"), sleep=waits.append)
    assert waits == [7.0]
    assert result.status == "done" and result.posts_new == 10
    assert _queries(server)[:2] == [None, None]  # the same page asked again


def test_server_error_backs_off_then_succeeds(telegram, local_server, tmp_path):
    server = local_server(_then_pages((502, {"Content-Type": "text/html"}, "<html>502</html>")))
    waits: list[float] = []
    store = open_store(tmp_path / "radar.db")
    result = collect_posts(telegram(base_url=server.url), Query(CHANNEL), store,
                           sleep=waits.append, rng=random.Random(0))
    assert len(waits) == 1 and 0.5 <= waits[0] <= 1.0  # first backoff of base 1 s
    assert result.status == "done" and store.count_posts() == 10


def test_errors_are_classified(telegram, local_server):
    source = telegram(base_url=local_server(_then_pages(
        (429, {"Retry-After": "3"}, ""), (503, {}, ""), (404, {}, ""))).url)
    query = Query(CHANNEL)
    with pytest.raises(RateLimited) as limited:
        source.fetch_page(query, None)
    assert limited.value.retry_after == 3.0
    with pytest.raises(TransientError, match="HTTP 503"):
        source.fetch_page(query, None)
    with pytest.raises(CollectError, match="HTTP 404") as refused:
        source.fetch_page(query, None)
    assert not isinstance(refused.value, TransientError)


def test_a_network_failure_is_transient_and_fails_the_run_cleanly(telegram, tmp_path):
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    source = telegram(base_url=f"http://127.0.0.1:{port}")
    with pytest.raises(TransientError, match="network error"):
        source.fetch_page(Query(CHANNEL), None)
    store = open_store(tmp_path / "radar.db")
    result = collect_posts(source, Query(CHANNEL), store, RunnerConfig(max_retries=1),
                           sleep=lambda s: None, rng=random.Random(0))
    assert result.status == "failed" and "network error" in result.reason
    assert result.requests == 2 and store.count_posts() == 0


def test_a_page_the_scraper_cannot_read_is_a_malformed_response(telegram, local_server,
                                                                tmp_path):
    broken = (200, {"Content-Type": "text/html"}, _html("flycomplaints_no_footer.html"))
    server = local_server(lambda request: broken)
    source = telegram(base_url=server.url)
    with pytest.raises(TransientError, match="lacks the structure snscrape"):
        source.fetch_page(Query(CHANNEL), None)
    store = open_store(tmp_path / "radar.db")
    result = collect_posts(source, Query(CHANNEL), store, RunnerConfig(max_retries=1),
                           sleep=lambda s: None, rng=random.Random(0))
    assert result.status == "failed" and "lacks the structure" in result.reason
    assert store.count_posts() == 0
    assert store.get_checkpoint("telegram", Query(CHANNEL).key) is None


PRIVATE_LINK = "https://t.me/c/1876543210/{}"  # the private-channel form: no channel name


def _with_private_link(name: str, number: int) -> str:
    """A recorded page whose message ``number`` dates itself with a private-form link."""
    html = _html(name)
    public = f'class="tgme_widget_message_date" href="https://t.me/{CHANNEL}/{number}"'
    assert html.count(public) == 1
    return html.replace(public, f'class="tgme_widget_message_date" '
                                f'href="{PRIVATE_LINK.format(number)}"')


def _serving(pages: dict[str | None, str]):
    """The recorded channel, with the pages in ``pages`` (by ``before``) replaced."""
    def handler(request):
        before = request.query.get("before", [None])[0]
        if request.path == f"/s/{CHANNEL}" and before in pages:
            return 200, {"Content-Type": "text/html; charset=utf-8"}, pages[before]
        return _channel_pages(request)

    return handler


def test_a_message_that_cannot_be_a_post_is_rejected_and_the_page_goes_on(telegram,
                                                                        local_server):
    server = local_server(_serving({None: _with_private_link("flycomplaints.html", 411)}))
    source = telegram(base_url=server.url)
    page = source.fetch_page(Query(CHANNEL, options={"page_size": "4"}), None)

    assert [p.post_id for p in page.posts] == [f"{CHANNEL}/412", f"{CHANNEL}/410"]
    (rejected,) = page.rejected
    assert rejected.item_id is None  # its number is in the url that cannot be read
    assert "is not https://t.me/s/<channel>/<number>" in rejected.reason
    assert rejected.raw["_type"] == sns.TELEGRAM_POST
    assert rejected.raw["url"] == "https://t.me/s/c/1876543210/411"
    assert rejected.raw["content"].strip()
    assert page.next_checkpoint == {"before": 410}


def test_a_rejected_last_message_leaves_the_checkpoint_at_the_last_readable_one(
        telegram, local_server):
    server = local_server(_serving({None: _with_private_link("flycomplaints.html", 411)}))
    page = telegram(base_url=server.url).fetch_page(
        Query(CHANNEL, options={"page_size": "3"}), None)
    assert [p.post_id for p in page.posts] == [f"{CHANNEL}/412"]
    assert len(page.rejected) == 1
    # 411 has no readable number: the next page starts before 412 and meets it again.
    assert page.next_checkpoint == {"before": 412}


def test_a_captionless_message_with_an_unreadable_url_is_skipped_not_rejected(
        telegram, local_server):
    server = local_server(_serving({None: _with_private_link("flycomplaints.html", 413)}))
    page = telegram(base_url=server.url).fetch_page(
        Query(CHANNEL, options={"page_size": "4"}), None)
    assert [p.post_id for p in page.posts] == [f"{CHANNEL}/{n}" for n in (412, 411, 410)]
    assert page.rejected == ()  # a photo without a caption would give no post anyway
    assert page.next_checkpoint == {"before": 410}


def test_a_full_page_without_a_readable_message_number_is_malformed(telegram, local_server):
    server = local_server(_serving({None: _with_private_link("flycomplaints.html", 413)}))
    with pytest.raises(TransientError, match="none of the 1 messages has a post url"):
        telegram(base_url=server.url).fetch_page(
            Query(CHANNEL, options={"page_size": "1"}), None)


def test_a_rejected_message_is_stored_with_the_run_and_collection_goes_on(telegram,
                                                                        local_server,
                                                                        tmp_path):
    server = local_server(_serving(
        {"410": _with_private_link("flycomplaints_before_410.html", 407)}))
    query = Query(CHANNEL, brand="Northwind Air", options={"page_size": "4"})
    store = open_store(tmp_path / "radar.db")
    result = collect_posts(telegram(base_url=server.url), query, store, sleep=pytest.fail)

    assert (result.status, result.done, result.pages) == ("done", True, 3)
    assert (result.rejected, result.posts_new) == (1, 9)
    assert _queries(server) == [None, "410", "406"]
    assert {p.post_id for p in store.iter_posts()} == ALL_LIVE_IDS - {f"{CHANNEL}/407"}
    (row,) = store.rejected_rows(result.run_id)
    _, reason, raw = row
    assert not reason.startswith("?") and "https://t.me/s/c/1876543210/407" in reason
    assert raw["url"] == "https://t.me/s/c/1876543210/407"
    assert store.get_checkpoint("telegram", query.key).done


def test_a_channel_without_a_public_preview_is_a_config_error(telegram, local_server):
    def redirect(request):
        if request.path == f"/s/{CHANNEL}":
            return 302, {"Location": f"/{CHANNEL}", "Content-Type": "text/html"}, ""
        return 200, {"Content-Type": "text/html"}, "<html><div class='tgme_page'></div></html>"

    server = local_server(redirect)
    with pytest.raises(ConfigError, match="no public web preview"):
        telegram(base_url=server.url).fetch_page(Query(CHANNEL), None)


@pytest.mark.parametrize(("terms", "options", "checkpoint", "message"), [
    ("flight complaints", {}, None, "not a public Telegram channel name"),
    ("t.me/+AbCdEf", {}, None, "not a public Telegram channel name"),
    (CHANNEL, {"page_size": "0"}, None, "page_size must be a whole number from 1 to 100"),
    (CHANNEL, {"page_size": "lots"}, None, "page_size"),
    (CHANNEL, {}, {"cursor": "abc"}, "not one the Telegram source writes"),
    (CHANNEL, {}, {"before": "410"}, "--restart"),
])
def test_bad_queries_and_checkpoints_are_config_errors(telegram, terms, options, checkpoint,
                                                       message):
    source = telegram(base_url="http://127.0.0.1:9")  # never reached
    with pytest.raises(ConfigError) as caught:
        source.fetch_page(Query(terms, options=options), checkpoint)
    assert message in str(caught.value)


def test_channel_names_are_read_from_links_and_handles():
    assert sns.channel_name("@flycomplaints") == CHANNEL
    assert sns.channel_name("https://t.me/s/flycomplaints") == CHANNEL
    assert sns.channel_name("t.me/flycomplaints") == CHANNEL


def test_module_contract(telegram):
    assert sns.CREDENTIALS == ()
    assert set(sns.OPTIONS) == {"page_size"}
    assert sns.DEFAULT_BASE_URL == "https://t.me"
    source = telegram(env={})
    assert (source.name, source.newest_first) == ("telegram", True)
    assert source.page_url(CHANNEL, 410) == "https://t.me/s/flycomplaints?before=410"
    with pytest.raises(ConfigError, match="httpx transport"):
        telegram(transport=object())
