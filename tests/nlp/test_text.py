import pytest

from nlp.text import dedup_key, normalize_for_tfidf, normalize_text


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("@united where is my bag?", "@user where is my bag?"),
        ("thanks @Delta_Assist!", "thanks @user!"),
        ("see https://t.co/abc123 now", "see http now"),
        ("www.example.com/x?y=1 is down", "http is down"),
        ("fish &amp; chips &lt;3", "fish & chips <3"),
        ("  too\n\tmany   spaces ", "too many spaces"),
        ("love it 😍🔥", "love it 😍🔥"),
        ("mail me at bob@example.com", "mail me at bob@example.com"),
        ("@alice@mastodon.social hi", "@user hi"),
        ("&#64;united hidden handle", "@user hidden handle"),
    ],
)
def test_normalize_text(raw, expected):
    assert normalize_text(raw) == expected


def test_normalize_text_keeps_case_and_is_idempotent():
    text = "WHY @AmericanAir?? http://x.co"
    once = normalize_text(text)
    assert once == "WHY @user?? http"
    assert normalize_text(once) == once


def test_normalize_text_rejects_non_strings():
    with pytest.raises(TypeError, match="expects str, got NoneType"):
        normalize_text(None)


def test_tfidf_preprocessor_and_dedup_key_lowercase():
    assert normalize_for_tfidf("LATE again @united") == "late again @user"
    assert dedup_key("@a  Delayed!  http://t.co/1") == dedup_key("@b delayed! https://t.co/2")
