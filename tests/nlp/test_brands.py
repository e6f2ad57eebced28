"""The brand book (brands.yaml) and how a post gets its brand: column, mention, or nothing."""

from pathlib import Path

import pytest

from nlp.brands import Brand, BrandBook, BrandBookError, BrandCounter, Resolution

REPO = Path(__file__).resolve().parents[2]

BOOK_YAML = """\
brands:
  United:
    handles: [united, UnitedAirlines]
    aliases: [United Airlines]
  US Airways:
    handles: [USAirways]
    aliases: [US Airways, USAir]
  Delta:
    handles: ["@Delta", DeltaAssist]
  Virgin America:
"""


def _write(tmp_path: Path, text: str, name: str = "brands.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def book(tmp_path) -> BrandBook:
    return BrandBook.from_yaml(_write(tmp_path, BOOK_YAML))


# --- reading the book -----------------------------------------------------------------------


def test_from_yaml_reads_names_handles_and_aliases(book):
    assert [b.name for b in book.brands] == ["United", "US Airways", "Delta", "Virgin America"]
    assert book.brands[0] == Brand("United", ("united", "UnitedAirlines"), ("United Airlines",))
    assert book.brands[3] == Brand("Virgin America")  # an empty entry: no handles, no aliases
    assert book.handles == {"united", "unitedairlines", "usairways", "delta", "deltaassist"}


def test_missing_file_names_it_and_the_option(tmp_path):
    path = tmp_path / "nope.yaml"
    with pytest.raises(BrandBookError, match="no such brand book") as info:
        BrandBook.from_yaml(path)
    assert str(path) in str(info.value) and "--brands" in str(info.value)


def test_invalid_yaml_is_a_brand_book_error(tmp_path):
    path = _write(tmp_path, "brands:\n  United: [unclosed\n")
    with pytest.raises(BrandBookError, match="not valid YAML") as info:
        BrandBook.from_yaml(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize("text", ["", "- United\n- Delta\n", "airlines:\n  United: {}\n",
                                  "brands: [United, Delta]\n", "brands: {}\n"])
def test_without_a_brands_mapping_the_error_shows_the_expected_shape(tmp_path, text):
    path = _write(tmp_path, text)
    with pytest.raises(BrandBookError, match="expected a mapping 'brands:'") as info:
        BrandBook.from_yaml(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize("entry, message", [
    ("United:\n    handles: united", "brand 'United': handles must be a list"),
    ("United:\n    aliases: {a: b}", "brand 'United': aliases must be a list"),
    ("United:\n    handles: [united, '  ']", "brand 'United': handles must be a list"),
    ("United:\n    handle: [united]", "brand 'United' must have only 'handles' and 'aliases'"),
    ("United: [united]", "brand 'United' must have only 'handles' and 'aliases'"),
])
def test_a_malformed_entry_names_the_file_and_the_brand(tmp_path, entry, message):
    path = _write(tmp_path, f"brands:\n  {entry}\n")
    with pytest.raises(BrandBookError, match=message) as info:
        BrandBook.from_yaml(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize("second", ["Delta:\n    aliases: [united airlines]",
                                    "Delta:\n    handles: ['@UNITED']",
                                    "UNITED AIRLINES: {}"])
def test_a_key_shared_by_two_brands_names_both(tmp_path, second):
    path = _write(tmp_path, "brands:\n  United:\n    handles: [united]\n"
                            f"    aliases: [United Airlines]\n  {second}\n")
    with pytest.raises(BrandBookError, match="belongs to both 'United' and ") as info:
        BrandBook.from_yaml(path)
    assert second.split(":")[0] in str(info.value)


def test_a_key_shared_by_two_brands_names_the_file(tmp_path):
    path = _write(tmp_path, "brands:\n  United:\n    handles: [united]\n"
                            "  Delta:\n    handles: [united]\n")
    with pytest.raises(BrandBookError) as info:
        BrandBook.from_yaml(path)
    assert str(path) in str(info.value)


def test_a_handle_that_is_another_brands_name_is_rejected(tmp_path):
    path = _write(tmp_path, "brands:\n  American: {}\n  AA:\n    handles: [American]\n")
    try:
        book = BrandBook.from_yaml(path)
    except BrandBookError as exc:
        assert "belongs to both 'American' and 'AA'" in str(exc)
        return
    assert book.canonical("@American") == book.resolve(None, "@American hi").brand


def test_a_folder_instead_of_a_file_is_a_brand_book_error(tmp_path):
    with pytest.raises(BrandBookError):
        BrandBook.from_yaml(tmp_path)


def test_the_shipped_brand_book_maps_the_airline_dataset_names_to_themselves():
    shipped = BrandBook.from_yaml(REPO / "data" / "brands.yaml")
    for name in ("United", "US Airways", "American", "Southwest", "Delta", "Virgin America"):
        assert shipped.canonical(name) == name
    assert shipped.canonical("@AmericanAir") == "American"


# --- canonical names ------------------------------------------------------------------------


@pytest.mark.parametrize("value, brand", [
    ("United", "United"), ("united", "United"), ("UNITED", "United"),
    ("United Airlines", "United"), ("  united   AIRLINES ", "United"),
    ("@UnitedAirlines", "United"), ("unitedairlines", "United"),
    ("USAir", "US Airways"), ("@usairways", "US Airways"), ("us airways", "US Airways"),
    ("DeltaAssist", "Delta"), ("virgin america", "Virgin America"),
    ("JetBlue", None), ("Unite", None), ("", None),
])
def test_canonical_by_name_alias_or_handle_in_any_case(book, value, brand):
    assert book.canonical(value) == brand


# --- resolving a post's brand -----------------------------------------------------------------


def test_a_known_column_value_is_canonicalised(book):
    assert book.resolve("@usairways", "@united what a day") == Resolution("US Airways", "column")


def test_an_unknown_column_value_is_kept_as_written_not_guessed(book):
    assert book.resolve(" Ryanair ", "@united hi") == Resolution("Ryanair", "unknown")


@pytest.mark.parametrize("column", [None, "", "   "])
def test_without_a_column_a_single_mention_decides(book, column):
    assert book.resolve(column, "thanks @DeltaAssist!") == Resolution("Delta", "mention")


def test_two_brands_mentioned_is_ambiguous(book):
    assert book.resolve(None, "@united is worse than @Delta") == Resolution(None, "ambiguous")
    assert book.resolve(None, "United Airlines or US Airways?") == Resolution(None, "ambiguous")


@pytest.mark.parametrize("text", [None, "", "what a lovely flight", "mail me at x@united.com",
                                  "@JetBlue rocks"])
def test_nothing_known_mentioned_is_none(book, text):
    assert book.resolve(None, text) == Resolution(None, "none")


def test_the_same_brand_mentioned_twice_is_one_brand(book):
    assert book.resolve(None, "@united @UnitedAirlines and United Airlines") == \
        Resolution("United", "mention")


@pytest.mark.parametrize("text, brand", [
    ("flew US Airways today", "US Airways"),
    ("flew us  airways today", "US Airways"),
    ("(USAir) lost my bag", "US Airways"),
    ("flew USAirways today", None),          # alias USAir inside a word
    ("BUS AIRWAYS are a thing", None),       # alias US Airways inside a word
    ("US Airwaysx is not it", None),
    ("the United Airlines2 app", None),
])
def test_aliases_match_whole_words_only(book, text, brand):
    assert book.resolve(None, text).brand == brand


def test_a_handle_takes_precedence_over_an_alias(book):
    assert book.resolve(None, "@united beats US Airways") == Resolution("United", "mention")
    assert book.mentioned("@united beats US Airways") == {"United"}


def test_a_book_without_aliases_resolves_by_handle_only():
    plain = BrandBook((Brand("Delta", handles=("Delta",)),))
    assert plain.resolve(None, "@delta hi") == Resolution("Delta", "mention")
    assert plain.resolve(None, "Delta hi") == Resolution(None, "none")


def test_brand_counter_counts_how_and_the_unknown_values(book):
    counter = BrandCounter()
    for column, text in [("United", None), ("delta", None), ("Ryanair", None),
                         ("Ryanair", None), ("Lufthansa", None), (None, "@united"),
                         (None, "@united @delta"), (None, "hello")]:
        counter.add(book.resolve(column, text))
    assert counter.how == {"column": 2, "unknown": 3, "mention": 1, "ambiguous": 1, "none": 1}
    assert counter.unknown == {"Ryanair": 2, "Lufthansa": 1}


def test_the_airline_release_delta_rows_are_jetblue_unless_addressed_to_delta_only():
    from nlp.brands import airline_2015_brand

    assert airline_2015_brand("Delta", "@JetBlue where is my bag") == "JetBlue"
    assert airline_2015_brand("Delta", "@NinaDavuluri enjoy your flight!") == "JetBlue"  # a reply
    assert airline_2015_brand("Delta", "@Jetblue sorry I cheated on you with @Delta") == "JetBlue"
    assert airline_2015_brand("Delta", "@DeltaAssist 57 minutes on hold") == "Delta"
    assert airline_2015_brand("United", "@united late again") == "United"
    assert airline_2015_brand(None, "@JetBlue hi") is None

